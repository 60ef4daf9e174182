//! `refused._refused`, the extension module of the Python package `refused`: the library's
//! connect, diagnosis, probes, wait and scan, with Python's types and exceptions.
//!
//! Thin on purpose: arguments in, the library's call with the GIL released while it waits on
//! the network, its values out as Python objects (`types`) or exceptions (`errors`). What only
//! Python can do (explaining other libraries' exceptions, `install()`, the pytest plugin) is in
//! the package's Python files beside this crate.

mod aio;
mod errors;
mod types;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::IntoRawFd;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyTuple;

use refused::connect::Address;
use refused::diagnose::{self, Options};
use refused::proxy::Proxy;
use refused::scan::{Family, HostSpec, HostSpecError, PortSet, ScanOptions};
use refused::wait::{Goal, Until, WaitOptions};
use refused::{Backoff, Connected, Dialer, RetryPolicy, Target};

use types::{Diagnosis, ProbeReport, ScanReport, WaitResult};

/// How often a long blocking call looks for a pending signal (Ctrl-C), with the GIL taken back.
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

/// Connects to a TCP target and returns the connected ``socket.socket`` (blocking mode).
///
/// ``target`` is ``"host:port"``, ``"[::1]:5432"`` or a URL (``"postgres://db:5432"``,
/// ``"redis://cache"``: a scheme brings its default port); or a host, with ``port`` given.
/// Every address of the name is tried with happy eyeballs (IPv6 and IPv4 interleaved, 250 ms
/// apart); ``timeout`` bounds each attempt; ``retries`` more tries follow a failure that may
/// heal (refused, timeout), with full-jitter exponential backoff from ``backoff`` seconds up to
/// ``backoff_max``.
///
/// A failure raises a subclass of the built-in exception an ``except`` clause expects:
/// ``ConnectionRefused`` (a ``ConnectionRefusedError``), ``Timeout`` (``TimeoutError``),
/// ``Unreachable`` (``OSError``), ``NameNotFound`` (``socket.gaierror``)..., each with
/// ``.errno``, ``.address``, ``.attempts``, ``.cause`` and a ``.diagnosis`` computed on first
/// access.
#[pyfunction]
#[pyo3(signature = (target, port = None, *, timeout = 3.0, retries = 0, backoff = 0.1, backoff_max = 5.0))]
fn connect<'py>(
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
    // On the shared runtime, as `why` is: a Ctrl-C drops the dial (closing its sockets) within
    // SIGNAL_CHECK, where a blocking dial would hold the call for every attempt and backoff.
    let mut dial = Box::pin(async {
        // Out of the runtime's reactor, here where it was registered; blocking, as documented.
        dialer.dial(&target).await?.try_map(|stream| {
            let stream = stream.into_std()?;
            stream.set_nonblocking(false)?;
            Ok(stream)
        })
    });
    // A connect this host answers at once (a listener on loopback) is done at the first poll,
    // made here in the runtime's context: no hand-off to the runtime's threads, which would
    // cost a third more than `socket.create_connection` on that path.
    let runtime = runtime()?;
    let first = py.detach(|| {
        let _context = runtime.enter();
        dial.as_mut()
            .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    });
    let result = match first {
        std::task::Poll::Ready(result) => result,
        std::task::Poll::Pending => block_on(py, dial)?,
    };
    match result {
        Ok(connected) => into_socket(py, connected),
        Err(err) => Err(errors::connect_error(py, &err)),
    }
}

/// Diagnoses ``target``: why it does not connect (or what may fail for other clients when it
/// does), with the evidence and the fix.
///
/// Returns a ``Diagnosis`` whose ``to_dict()`` is the document ``refused why --json`` prints.
/// ``timeout`` bounds each connect attempt and the resolver.
///
/// For an ``http://`` or ``https://`` target, ``proxy`` says which proxy the client goes
/// through, whose failure is the one it meets: ``None`` (or ``True``) the environment's
/// (``http_proxy``, ``https_proxy``, ``all_proxy``, ``no_proxy``, as requests reads them),
/// ``False`` none, or the proxy's URL.
#[pyfunction]
#[pyo3(signature = (target, *, timeout = 3.0, proxy = None))]
fn why(py: Python<'_>, target: &str, timeout: f64, proxy: Option<ProxyArg>) -> PyResult<Diagnosis> {
    let target = parse(py, target)?;
    let options = why_options(timeout)?;
    let proxy = proxy_for(py, &target, proxy)?;
    let diagnosis = block_on(py, diagnose_with(target, proxy, options))?;
    diagnosis
        .map(Diagnosis)
        .map_err(|err| errors::unexplained(&err))
}

/// Probes each target once, all at the same time: the connect, then the scheme's readiness
/// check (HTTP status, a Postgres startup, a Redis ``PING``...).
///
/// Returns one ``ProbeReport`` per target, in order; a report is true when its target is ready.
#[pyfunction]
#[pyo3(signature = (*targets, timeout = 3.0))]
fn check(py: Python<'_>, targets: &Bound<'_, PyTuple>, timeout: f64) -> PyResult<Vec<ProbeReport>> {
    let (texts, parsed) = parse_all(py, targets)?;
    let timeout = duration("timeout", timeout)?;
    let reports = block_on(py, probe_all(parsed, timeout))?;
    Ok(texts
        .into_iter()
        .zip(reports)
        .map(|(t, r)| ProbeReport::new(t, r))
        .collect())
}

/// Waits until every target is ready (``any=True``: one of them), or with ``down=True`` until
/// they no longer accept connections; ``timeout=None`` waits for ever.
///
/// Polls fast at first and backs off to ``interval``, so a service is noticed within
/// milliseconds of coming up. As root, a wait for a port of this host is told by the kernel
/// when a socket starts to listen (a small eBPF program, which runs at every TCP state change
/// of the host while the wait lasts) instead of polling; ``bpf=False`` polls. Returns a
/// ``WaitResult``, true when the condition was met.
#[pyfunction]
#[pyo3(signature = (*targets, timeout = Some(30.0), any = false, down = false, interval = 0.025, bpf = true))]
fn wait(
    py: Python<'_>,
    targets: &Bound<'_, PyTuple>,
    timeout: Option<f64>,
    any: bool,
    down: bool,
    interval: f64,
    bpf: bool,
) -> PyResult<WaitResult> {
    let (texts, parsed) = parse_all(py, targets)?;
    let options = wait_options(timeout, any, down, interval, bpf)?;
    let result = block_on(py, async move {
        refused::wait::wait(&parsed, &options, |_| {}).await
    })?;
    WaitResult::new(py, &texts, result)
}

/// Scans ``ports`` of ``host`` (an address, a CIDR block or a name): each port ``open``,
/// ``closed`` or ``filtered``, with nmap's reason.
///
/// ``ports`` is a string (``"1-1024,8080"``), one port or a list of ports.
#[pyfunction]
#[pyo3(signature = (host, ports = PortsArg::Text("1-1024".to_owned()), *, timeout = 1.0, concurrency = None))]
fn scan(
    py: Python<'_>,
    host: &str,
    ports: PortsArg,
    timeout: f64,
    concurrency: Option<usize>,
) -> PyResult<ScanReport> {
    let (hosts, ports, options) = scan_args(py, host, ports, timeout, concurrency)?;
    py.detach(|| refused::scan::scan(&hosts, &ports, &options))
        .map(ScanReport)
        .map_err(|err| errors::bad_argument("host", &err.to_string()))
}

/// Ports to scan, as Python may give them.
#[derive(Debug, FromPyObject)]
enum PortsArg {
    Text(String),
    One(u16),
    Many(Vec<u16>),
}

fn scan_args(
    py: Python<'_>,
    host: &str,
    ports: PortsArg,
    timeout: f64,
    concurrency: Option<usize>,
) -> PyResult<(Vec<IpAddr>, PortSet, ScanOptions)> {
    let spec: HostSpec = host
        .parse()
        .map_err(|err: HostSpecError| errors::bad_argument("host", &err.to_string()))?;
    let hosts = match py.detach(|| spec.addresses(Family::Any, false)) {
        Ok(hosts) => hosts,
        Err(HostSpecError::Resolve(err)) => return Err(errors::resolve_error(py, &err)),
        Err(err) => return Err(errors::bad_argument("host", &err.to_string())),
    };
    let ports = match ports {
        PortsArg::Text(text) => text.parse().map_err(|err: refused::scan::PortSetError| {
            errors::bad_argument("ports", &err.to_string())
        })?,
        PortsArg::One(port) => std::iter::once(port).collect(),
        PortsArg::Many(list) => list.into_iter().collect(),
    };
    let options = ScanOptions {
        timeout: duration("timeout", timeout)?,
        concurrency,
        ..ScanOptions::default()
    };
    Ok((hosts, ports, options))
}

/// `host:port`, bracketing an IPv6 literal; the target as is when no port is given.
fn target_text(target: &str, port: Option<u16>) -> String {
    match port {
        Some(port) if target.contains(':') && !target.starts_with('[') => {
            format!("[{target}]:{port}")
        }
        Some(port) => format!("{target}:{port}"),
        None => target.to_owned(),
    }
}

fn parse(py: Python<'_>, text: &str) -> PyResult<Target> {
    text.parse().map_err(|err| errors::invalid_target(py, &err))
}

/// The targets of a `*targets` call, as given and parsed; every one is checked before any
/// probe starts.
fn parse_all(py: Python<'_>, targets: &Bound<'_, PyTuple>) -> PyResult<(Vec<String>, Vec<Target>)> {
    if targets.is_empty() {
        return Err(errors::bad_argument("targets", "give at least one target"));
    }
    let texts: Vec<String> = targets
        .iter()
        .map(|t| t.extract::<String>())
        .collect::<PyResult<_>>()?;
    let parsed = texts
        .iter()
        .map(|t| parse(py, t))
        .collect::<PyResult<_>>()?;
    Ok((texts, parsed))
}

/// Seconds as a `Duration`, or a `ValueError` naming the argument.
fn duration(name: &str, seconds: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(seconds).map_err(|_| {
        errors::bad_argument(name, &format!("{seconds} is not a number of seconds >= 0"))
    })
}

fn dialer(timeout: f64, retries: u32, backoff: f64, backoff_max: f64) -> PyResult<Dialer> {
    let retry = RetryPolicy {
        max_tries: retries.saturating_add(1),
        backoff: Backoff {
            initial: duration("backoff", backoff)?,
            max: duration("backoff_max", backoff_max)?,
            ..Backoff::default()
        },
        ..RetryPolicy::default()
    };
    Ok(Dialer::new()
        .attempt_timeout(duration("timeout", timeout)?)
        .retry(retry))
}

/// `why`'s `proxy`: a switch for the environment's, or a proxy's URL.
#[derive(FromPyObject)]
enum ProxyArg {
    Switch(bool),
    Url(String),
}

/// The proxy `why` asks through (see [`why`]).
fn proxy_for(py: Python<'_>, target: &Target, arg: Option<ProxyArg>) -> PyResult<Option<Proxy>> {
    Ok(match arg {
        Some(ProxyArg::Switch(false)) => None,
        Some(ProxyArg::Url(url)) => refused::proxy::given(&url),
        // Python's own view of the environment, which `os.environ` changes.
        None | Some(ProxyArg::Switch(true)) => {
            let environ = py.import("os")?.getattr("environ")?;
            refused::proxy::for_target(target, |name| {
                environ.get_item(name).ok()?.extract::<String>().ok()
            })
        }
    })
}

/// A diagnosis through `proxy`, or direct.
async fn diagnose_with(
    target: Target,
    proxy: Option<Proxy>,
    options: Options,
) -> Result<diagnose::Diagnosis, diagnose::Unexplained> {
    match proxy {
        Some(proxy) => Box::pin(diagnose::diagnose_through(&target, &proxy, &options)).await,
        None => diagnose::diagnose(&target, &options).await,
    }
}

fn why_options(timeout: f64) -> PyResult<Options> {
    Ok(Options {
        timeout: duration("timeout", timeout)?,
        ..Options::default()
    })
}

fn wait_options(
    timeout: Option<f64>,
    any: bool,
    down: bool,
    interval: f64,
    bpf: bool,
) -> PyResult<WaitOptions> {
    Ok(WaitOptions {
        timeout: timeout.map(|t| duration("timeout", t)).transpose()?,
        until: if any { Until::Any } else { Until::All },
        goal: if down { Goal::Down } else { Goal::Ready },
        interval: duration("interval", interval)?,
        listen_events: bpf,
        ..WaitOptions::default()
    })
}

async fn probe_all(targets: Vec<Target>, timeout: Duration) -> Vec<refused::probe::ProbeReport> {
    let options = refused::probe::ProbeOptions::default();
    let probes = targets
        .iter()
        .map(|target| refused::probe::probe(target, &options, timeout));
    futures_util::future::join_all(probes).await
}

/// Hands a connected stream's descriptor to a `socket.socket`, which owns it from then on.
/// Family, type and protocol are given, so Python does not ask the kernel for them.
fn into_socket(
    py: Python<'_>,
    connected: Connected<std::net::TcpStream>,
) -> PyResult<Bound<'_, PyAny>> {
    static SOCKET: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let class = SOCKET.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        Ok(py.import("socket")?.getattr("socket")?.unbind())
    })?;
    let family = match connected.address() {
        Some(Address::Inet(SocketAddr::V6(_))) => libc::AF_INET6,
        _ => libc::AF_INET,
    };
    let fd = connected.stream.into_raw_fd();
    class
        .bind(py)
        .call1((family, libc::SOCK_STREAM, libc::IPPROTO_TCP, fd))
}

/// The runtime every call shares, started at the first (multi-threaded: the blocking calls run
/// their futures from Python's threads, the awaitables' tasks on its workers). A process forked
/// from one that had started it (`multiprocessing`'s default on Linux) has none of its threads:
/// it starts its own, and the inherited one is left alone (never dropped: its drop would wait
/// for threads that are not there).
fn runtime() -> PyResult<&'static tokio::runtime::Runtime> {
    static RUNTIME: std::sync::Mutex<Option<(u32, &'static tokio::runtime::Runtime)>> =
        std::sync::Mutex::new(None);
    let mut shared = RUNTIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let pid = std::process::id();
    if let Some((started_in, runtime)) = *shared {
        if started_in == pid {
            return Ok(runtime);
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("refused")
        .build()
        .map_err(|err| {
            pyo3::exceptions::PyOSError::new_err(format!("refused cannot start its runtime: {err}"))
        })?;
    let runtime: &'static tokio::runtime::Runtime = Box::leak(Box::new(runtime));
    *shared = Some((pid, runtime));
    Ok(runtime)
}

/// Runs a future on the shared runtime with the GIL released, taking it back every
/// [`SIGNAL_CHECK`] to let Ctrl-C through (the future is dropped, which cancels it).
fn block_on<F>(py: Python<'_>, future: F) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    let runtime = runtime()?;
    let mut future = Box::pin(future);
    loop {
        let step = py.detach(|| {
            runtime.block_on(async { tokio::time::timeout(SIGNAL_CHECK, &mut future).await })
        });
        match step {
            Ok(output) => return Ok(output),
            Err(_elapsed) => py.check_signals()?,
        }
    }
}

/// The extension module.
#[pymodule]
fn _refused(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(connect, m)?)?;
    m.add_function(wrap_pyfunction!(why, m)?)?;
    m.add_function(wrap_pyfunction!(check, m)?)?;
    m.add_function(wrap_pyfunction!(wait, m)?)?;
    m.add_function(wrap_pyfunction!(scan, m)?)?;
    aio::register(m)?;
    m.add_class::<types::Attempt>()?;
    m.add_class::<types::Icmp>()?;
    m.add_class::<Diagnosis>()?;
    m.add_class::<ProbeReport>()?;
    m.add_class::<WaitResult>()?;
    m.add_class::<types::PortResult>()?;
    m.add_class::<ScanReport>()?;
    Ok(())
}
