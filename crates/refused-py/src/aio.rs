//! The `asyncio` twins: the same calls as awaitables, run on the shared tokio runtime
//! (pyo3-async-runtimes), so the event loop never blocks; cancelling the asyncio task drops the
//! Rust future, which cancels its connects.

use pyo3::prelude::*;
use pyo3::types::PyTuple;

use refused::Connected;
use refused::diagnose;

use crate::types::{Diagnosis, ProbeReport, ScanReport, WaitResult};
use crate::{
    PortsArg, dialer, duration, errors, into_socket, parse, parse_all, probe_all, scan_args,
    target_text, wait_options, why_options,
};

use pyo3_async_runtimes::tokio::future_into_py;

/// Awaitable ``connect``: the connected ``socket.socket`` (non-blocking, ready for
/// ``asyncio.open_connection(sock=...)``).
#[pyfunction]
#[pyo3(signature = (target, port = None, *, timeout = 3.0, retries = 0, backoff = 0.1, backoff_max = 5.0))]
fn aio_connect<'py>(
    py: Python<'py>,
    target: &str,
    port: Option<u16>,
    timeout: f64,
    retries: u32,
    backoff: f64,
    backoff_max: f64,
) -> PyResult<Bound<'py, PyAny>> {
    let target = parse(py, &target_text(target, port))?;
    let dialer = dialer(timeout, retries, backoff, backoff_max)?;
    future_into_py(py, async move {
        let result = dialer.dial(&target).await;
        Python::attach(|py| match result {
            Ok(connected) => {
                let Connected {
                    stream,
                    attempts,
                    elapsed,
                } = connected;
                let stream = stream
                    .into_std()
                    .map_err(pyo3::exceptions::PyOSError::new_err)?;
                let connected = Connected {
                    stream,
                    attempts,
                    elapsed,
                };
                into_socket(py, connected).map(Bound::unbind)
            }
            Err(err) => Err(errors::connect_error(py, &err)),
        })
    })
}

/// Awaitable ``why``.
#[pyfunction]
#[pyo3(signature = (target, *, timeout = 3.0))]
fn aio_why<'py>(py: Python<'py>, target: &str, timeout: f64) -> PyResult<Bound<'py, PyAny>> {
    let target = parse(py, target)?;
    let options = why_options(timeout)?;
    future_into_py(py, async move {
        diagnose::diagnose(&target, &options)
            .await
            .map(Diagnosis)
            .map_err(|err| errors::unexplained(&err))
    })
}

/// Awaitable ``check``.
#[pyfunction]
#[pyo3(signature = (*targets, timeout = 3.0))]
fn aio_check<'py>(
    py: Python<'py>,
    targets: &Bound<'py, PyTuple>,
    timeout: f64,
) -> PyResult<Bound<'py, PyAny>> {
    let (texts, parsed) = parse_all(py, targets)?;
    let timeout = duration("timeout", timeout)?;
    future_into_py(py, async move {
        let reports = probe_all(parsed, timeout).await;
        Ok(texts
            .into_iter()
            .zip(reports)
            .map(|(t, r)| ProbeReport::new(t, r))
            .collect::<Vec<_>>())
    })
}

/// Awaitable ``wait``.
#[pyfunction]
#[pyo3(signature = (*targets, timeout = Some(30.0), any = false, down = false, interval = 0.025))]
fn aio_wait<'py>(
    py: Python<'py>,
    targets: &Bound<'py, PyTuple>,
    timeout: Option<f64>,
    any: bool,
    down: bool,
    interval: f64,
) -> PyResult<Bound<'py, PyAny>> {
    let (texts, parsed) = parse_all(py, targets)?;
    let options = wait_options(timeout, any, down, interval)?;
    future_into_py(py, async move {
        let result = refused::wait::wait(&parsed, &options, |_| {}).await;
        Python::attach(|py| WaitResult::new(py, &texts, result))
    })
}

/// Awaitable ``scan`` (the scan runs on its own threads; the event loop only waits).
#[pyfunction]
#[pyo3(signature = (host, ports = PortsArg::Text("1-1024".to_owned()), *, timeout = 1.0, concurrency = None))]
fn aio_scan<'py>(
    py: Python<'py>,
    host: &str,
    ports: PortsArg,
    timeout: f64,
    concurrency: Option<usize>,
) -> PyResult<Bound<'py, PyAny>> {
    let (hosts, ports, options) = scan_args(py, host, ports, timeout, concurrency)?;
    future_into_py(py, async move {
        let joined =
            tokio::task::spawn_blocking(move || refused::scan::scan(&hosts, &ports, &options))
                .await;
        match joined {
            Ok(Ok(report)) => Ok(ScanReport(report)),
            Ok(Err(err)) => Err(errors::bad_argument("host", &err.to_string())),
            Err(err) => Err(errors::unexplained(&err)),
        }
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(aio_connect, m)?)?;
    m.add_function(wrap_pyfunction!(aio_why, m)?)?;
    m.add_function(wrap_pyfunction!(aio_check, m)?)?;
    m.add_function(wrap_pyfunction!(aio_wait, m)?)?;
    m.add_function(wrap_pyfunction!(aio_scan, m)?)?;
    Ok(())
}
