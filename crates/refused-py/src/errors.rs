//! The library's errors as Python exceptions: subclasses of the built-in ones (defined in
//! `refused/_errors.py`), so an existing `except ConnectionRefusedError:` still catches them.
//!
//! The classes live in Python rather than in `create_exception!` because they need a lazy
//! `diagnosis` property and multiple bases (`socket.gaierror` is not a pyo3 built-in); the
//! `#[pyclass(extends = PyConnectionRefusedError)]` route compiles but crashes `CPython` 3.11.

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyList;

use refused::connect::Address;
use refused::{
    ConnectError, ConnectErrorKind, Host, Outcome, ResolveError, ResolveErrorKind, TargetError,
};

use crate::types::Attempt;

/// The Python module that defines the exception classes.
const ERRORS_MODULE: &str = "refused._errors";

/// A failed connect as the exception class its outcome promises, with `.errno`, `.address`,
/// `.attempts`, `.cause`, `.target` and `.elapsed` set.
pub fn connect_error(py: Python<'_>, err: &ConnectError) -> PyErr {
    match build(py, err) {
        Ok(exc) => exc,
        Err(failed) => failed,
    }
}

fn build(py: Python<'_>, err: &ConnectError) -> PyResult<PyErr> {
    let (class, errno) = match err.kind() {
        ConnectErrorKind::InvalidTarget(target) => return Ok(invalid_target(py, target)),
        ConnectErrorKind::NotTcp => ("InvalidTarget", None),
        ConnectErrorKind::Resolve(resolve) => {
            (resolve_class(resolve.kind), Some(eai_code(resolve.kind)))
        }
        ConnectErrorKind::Failed(outcome) => (class_of(*outcome), outcome.errno()),
        // A unix path that is not a socket: refused, or denied to this user, as the kernel says.
        ConnectErrorKind::NotASocket(_) => {
            let outcome = err.outcome().unwrap_or(Outcome::Refused);
            (class_of(outcome), outcome.errno())
        }
    };
    let cls = py.import(ERRORS_MODULE)?.getattr(class)?;
    let message = err.to_string();
    let exc = cls.call1((message.as_str(),))?;
    if class != "InvalidTarget" {
        exc.setattr("errno", errno)?;
        exc.setattr("strerror", message.as_str())?;
    }
    exc.setattr("address", address(py, err)?)?;
    let attempts: Vec<Attempt> = err.attempts().iter().cloned().map(Attempt::from).collect();
    exc.setattr("attempts", PyList::new(py, attempts)?)?;
    exc.setattr("cause", err.as_label())?;
    exc.setattr("target", err.target())?;
    exc.setattr("elapsed", err.elapsed().as_secs_f64())?;
    Ok(PyErr::from_value(exc))
}

/// The class a failed attempt's outcome raises, named in `_errors.py`.
fn class_of(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Refused => "ConnectionRefused",
        Outcome::Timeout => "Timeout",
        Outcome::HostUnreachable | Outcome::NetworkUnreachable => "Unreachable",
        Outcome::PermissionDenied => "PermissionDenied",
        Outcome::Reset => "ConnectionReset",
        Outcome::Connected
        | Outcome::AddressUnavailable
        | Outcome::TooManyOpenFiles
        | Outcome::Other(_) => "ConnectError",
    }
}

/// The class a resolver failure raises: both are `socket.gaierror`s.
fn resolve_class(kind: ResolveErrorKind) -> &'static str {
    match kind {
        ResolveErrorKind::NotFound | ResolveErrorKind::NoAddress => "NameNotFound",
        ResolveErrorKind::Timeout
        | ResolveErrorKind::ServerFailure
        | ResolveErrorKind::Other(_) => "ResolverFailure",
    }
}

/// `socket.gaierror` carries getaddrinfo's code as its errno; the library keeps the kind.
fn eai_code(kind: ResolveErrorKind) -> i32 {
    match kind {
        ResolveErrorKind::NotFound => libc::EAI_NONAME,
        ResolveErrorKind::NoAddress => libc::EAI_NODATA,
        ResolveErrorKind::Timeout => libc::EAI_AGAIN,
        ResolveErrorKind::ServerFailure => libc::EAI_FAIL,
        ResolveErrorKind::Other(code) => code,
    }
}

/// The address `CPython`'s `ConnectionRefusedError` leaves out: `(host, port)` of the first
/// attempt that ended in the failure's outcome, the socket path for a unix socket, or the name
/// and port asked for when the name did not resolve.
fn address<'py>(py: Python<'py>, err: &ConnectError) -> PyResult<Bound<'py, PyAny>> {
    let failed = err
        .attempts()
        .iter()
        .find(|a| Some(a.outcome) == err.outcome())
        .or_else(|| err.attempts().last());
    match failed.map(|a| &a.address) {
        Some(Address::Inet(addr)) => pair(py, addr.ip().to_string(), addr.port()),
        Some(Address::Unix(path)) => Ok(path.display().to_string().into_pyobject(py)?.into_any()),
        None => match err.target().parse::<refused::Target>() {
            Ok(target) => match (target.host(), target.port()) {
                (Some(Host::Name(name)), Some(port)) => pair(py, name.clone(), port.get()),
                (Some(Host::Ip(ip)), Some(port)) => pair(py, ip.to_string(), port.get()),
                _ => Ok(py.None().into_bound(py)),
            },
            Err(_) => Ok(py.None().into_bound(py)),
        },
    }
}

/// `(host, port)`, as `socket` writes an address.
fn pair(py: Python<'_>, host: String, port: u16) -> PyResult<Bound<'_, PyAny>> {
    Ok((host, port).into_pyobject(py)?.into_any())
}

/// A host name that did not resolve (for `scan`): `NameNotFound` or `ResolverFailure`.
pub fn resolve_error(py: Python<'_>, err: &ResolveError) -> PyErr {
    let class = resolve_class(err.kind);
    let build = || -> PyResult<PyErr> {
        let message = err.to_string();
        let exc = py
            .import(ERRORS_MODULE)?
            .getattr(class)?
            .call1((message.as_str(),))?;
        exc.setattr("errno", eai_code(err.kind))?;
        exc.setattr("strerror", message.as_str())?;
        exc.setattr("cause", err.kind.as_label())?;
        exc.setattr("target", err.name.as_str())?;
        Ok(PyErr::from_value(exc))
    };
    build().unwrap_or_else(|failed| failed)
}

/// A target that does not parse: `refused.InvalidTarget`, a `ValueError` naming the bad part.
pub fn invalid_target(py: Python<'_>, err: &TargetError) -> PyErr {
    let message = err.to_string();
    match py
        .import(ERRORS_MODULE)
        .and_then(|m| m.getattr("InvalidTarget"))
        .and_then(|cls| cls.call1((message.as_str(),)))
    {
        Ok(exc) => PyErr::from_value(exc),
        Err(_) => PyValueError::new_err(message),
    }
}

/// A diagnosis that no rule explains (out of file descriptors, an unknown errno).
pub fn unexplained(err: &impl std::fmt::Display) -> PyErr {
    PyRuntimeError::new_err(err.to_string())
}

/// A bad argument, naming it.
pub fn bad_argument(name: &str, why: &str) -> PyErr {
    PyValueError::new_err(format!("`{name}`: {why}"))
}
