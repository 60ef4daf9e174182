//! The `asyncio` twins: the same calls as awaitables, run on the shared tokio runtime, so the
//! event loop never blocks; cancelling the asyncio task drops the Rust future, which cancels its
//! connects.
//!
//! The runtime's threads never take the GIL. A call returns a [`Pending`]: its task leaves the
//! Rust result in a slot and writes to an eventfd the event loop watches (`loop.add_reader`, in
//! `refused/aio.py`), and the loop's own thread turns the result into Python objects. Handing the
//! result over with `call_soon_threadsafe` from a runtime thread (pyo3-async-runtimes'
//! `future_into_py`) crashed about one `asyncio.run(aio.why(...))` in twelve at exit: the loop's
//! thread could finish and finalize the interpreter while the runtime thread was still inside that
//! call, waiting to take the GIL back after writing to the loop's self-pipe.

use std::os::fd::{AsRawFd, OwnedFd};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::FutureExt;

use pyo3::BoundObject;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use rustix::event::{EventfdFlags, eventfd};

use refused::{ConnectError, Connected};

use crate::types::{Diagnosis, ProbeReport, ScanReport, WaitResult};
use crate::{
    PortsArg, ProxyArg, diagnose_with, dialer, duration, errors, into_socket, parse, parse_all,
    probe_all, proxy_for, runtime, scan_args, target_text, wait_options, why_options,
};

/// What turns a finished task's result into Python's, in the event loop's thread.
type Finish = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

/// An awaitable's work on the runtime: `fileno()` turns readable when it is done, `take()` gives
/// its result (or raises its error), `cancel()` drops it. Dropped, it cancels the work too.
#[pyclass(module = "refused._refused")]
pub struct Pending {
    ready: Arc<OwnedFd>,
    slot: Arc<Mutex<Option<Finish>>>,
    task: tokio::task::AbortHandle,
}

#[pymethods]
impl Pending {
    /// The eventfd that turns readable once the result is in.
    fn fileno(&self) -> i32 {
        self.ready.as_raw_fd()
    }

    /// The result, as Python objects; a `RuntimeError` if the work has not finished.
    fn take(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let finish = self
            .slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match finish {
            Some(finish) => finish(py),
            None => Err(pyo3::exceptions::PyRuntimeError::new_err(
                "the result is not ready, or was taken",
            )),
        }
    }

    /// Drops the work if it is still running (its connects are closed).
    fn cancel(&self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let done = self
            .slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some();
        f.debug_struct("Pending")
            .field("ready", &self.ready)
            .field("done", &done)
            .finish_non_exhaustive()
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Runs `work` on the runtime; `finish` makes its output Python's once the loop takes it.
fn pending<T, W, F>(work: W, finish: F) -> PyResult<Pending>
where
    T: Send + 'static,
    W: Future<Output = T> + Send + 'static,
    F: FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>> + Send + 'static,
{
    let flags = EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK;
    let ready = eventfd(0, flags)
        .map_err(|errno| pyo3::exceptions::PyOSError::new_err(std::io::Error::from(errno)))?;
    let ready = Arc::new(ready);
    let slot: Arc<Mutex<Option<Finish>>> = Arc::new(Mutex::new(None));
    let filled = Arc::clone(&slot);
    // Written when the task ends whichever way (done, panicked, aborted): the loop never waits
    // for a task that is gone.
    let signal = Signal(Arc::clone(&ready));
    let task = runtime()?.spawn(async move {
        let _signal = signal;
        let finish: Finish = match AssertUnwindSafe(work).catch_unwind().await {
            Ok(output) => Box::new(move |py| finish(py, output)),
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(ToString::to_string)
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                Box::new(move |_| {
                    Err(pyo3::exceptions::PyRuntimeError::new_err(format!(
                        "refused failed inside (a bug, please report it): {what}"
                    )))
                })
            }
        };
        *filled.lock().unwrap_or_else(PoisonError::into_inner) = Some(finish);
    });
    Ok(Pending {
        ready,
        slot,
        task: task.abort_handle(),
    })
}

/// Wakes the event loop when dropped: one write to the eventfd it watches.
struct Signal(Arc<OwnedFd>);

impl Drop for Signal {
    fn drop(&mut self) {
        // An eventfd's counter: one write cannot overflow it, so this cannot fail.
        let _ = rustix::io::write(&*self.0, &1u64.to_ne_bytes());
    }
}

/// Cancels a scan when dropped (a no-op once it has ended).
struct StopOnDrop(Arc<refused::scan::Progress>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// A Python object of any pyclass or collection of them.
fn object<'py, T: IntoPyObject<'py>>(py: Python<'py>, value: T) -> PyResult<Py<PyAny>>
where
    PyErr: From<T::Error>,
{
    Ok(value.into_pyobject(py)?.into_any().unbind())
}

/// Awaitable ``connect``: the connected ``socket.socket`` (non-blocking, ready for
/// ``asyncio.open_connection(sock=...)``).
#[pyfunction]
#[pyo3(signature = (target, port = None, *, timeout = 3.0, retries = 0, backoff = 0.1, backoff_max = 5.0))]
fn aio_connect(
    py: Python<'_>,
    target: &str,
    port: Option<u16>,
    timeout: f64,
    retries: u32,
    backoff: f64,
    backoff_max: f64,
) -> PyResult<Pending> {
    let target = parse(py, &target_text(target, port))?;
    let dialer = dialer(timeout, retries, backoff, backoff_max)?;
    pending(
        // Out of the runtime's reactor, here where it was registered.
        async move {
            dialer
                .dial(&target)
                .await?
                .try_map(tokio::net::TcpStream::into_std)
        },
        |py, result: Result<Connected<std::net::TcpStream>, ConnectError>| match result {
            Ok(connected) => into_socket(py, connected).map(Bound::unbind),
            Err(err) => Err(errors::connect_error(py, &err)),
        },
    )
}

/// Awaitable ``why``.
#[pyfunction]
#[pyo3(signature = (target, *, timeout = 3.0, proxy = None))]
fn aio_why(
    py: Python<'_>,
    target: &str,
    timeout: f64,
    proxy: Option<ProxyArg>,
) -> PyResult<Pending> {
    let target = parse(py, target)?;
    let options = why_options(timeout)?;
    let proxy = proxy_for(py, &target, proxy)?;
    pending(
        diagnose_with(target, proxy, options),
        |py, found| match found {
            Ok(diagnosis) => object(py, Diagnosis(diagnosis)),
            Err(err) => Err(errors::unexplained(&err)),
        },
    )
}

/// Awaitable ``check``.
#[pyfunction]
#[pyo3(signature = (*targets, timeout = 3.0))]
fn aio_check<'py>(
    py: Python<'py>,
    targets: &Bound<'py, PyTuple>,
    timeout: f64,
) -> PyResult<Pending> {
    let (texts, parsed) = parse_all(py, targets)?;
    let timeout = duration("timeout", timeout)?;
    pending(probe_all(parsed, timeout), move |py, reports| {
        let reports: Vec<ProbeReport> = texts
            .into_iter()
            .zip(reports)
            .map(|(t, r)| ProbeReport::new(t, r))
            .collect();
        object(py, reports)
    })
}

/// Awaitable ``wait``.
#[pyfunction]
#[pyo3(signature = (*targets, timeout = Some(30.0), any = false, down = false, interval = 0.025, bpf = true))]
fn aio_wait<'py>(
    py: Python<'py>,
    targets: &Bound<'py, PyTuple>,
    timeout: Option<f64>,
    any: bool,
    down: bool,
    interval: f64,
    bpf: bool,
) -> PyResult<Pending> {
    let (texts, parsed) = parse_all(py, targets)?;
    let options = wait_options(timeout, any, down, interval, bpf)?;
    pending(
        async move { refused::wait::wait(&parsed, &options, |_| {}).await },
        move |py, result| object(py, WaitResult::new(py, &texts, result)?),
    )
}

/// Awaitable ``scan`` (the scan runs on its own threads; the event loop only waits).
#[pyfunction]
#[pyo3(signature = (host, ports = PortsArg::Text("1-1024".to_owned()), *, timeout = 1.0, concurrency = None))]
fn aio_scan(
    py: Python<'_>,
    host: &str,
    ports: PortsArg,
    timeout: f64,
    concurrency: Option<usize>,
) -> PyResult<Pending> {
    let (hosts, ports, options) = scan_args(py, host, ports, timeout, concurrency)?;
    let progress = Arc::new(refused::scan::Progress::default());
    pending(
        async move {
            // The scan runs on threads an abort does not reach: dropping the task (a cancelled
            // asyncio task) tells them to stop.
            let _stop = StopOnDrop(Arc::clone(&progress));
            tokio::task::spawn_blocking(move || {
                refused::scan::scan_with(&hosts, &ports, &options, &progress, &|_, _| {})
            })
            .await
        },
        |py, joined| match joined {
            Ok(Ok(report)) => object(py, ScanReport(report)),
            Ok(Err(err)) => Err(errors::bad_argument("host", &err.to_string())),
            Err(err) => Err(errors::unexplained(&err)),
        },
    )
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(aio_connect, m)?)?;
    m.add_function(wrap_pyfunction!(aio_why, m)?)?;
    m.add_function(wrap_pyfunction!(aio_check, m)?)?;
    m.add_function(wrap_pyfunction!(aio_wait, m)?)?;
    m.add_function(wrap_pyfunction!(aio_scan, m)?)?;
    m.add_class::<Pending>()?;
    Ok(())
}
