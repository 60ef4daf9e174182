//! The library's results as Python objects: read-only views over the Rust values, with
//! `to_dict()` giving the same document as the CLI's `--json` (`serde_json` of the same value).

use pyo3::prelude::*;
use pyo3::types::PyList;
use serde::Serialize;

use refused::diagnose;
use refused::probe::{self, Readiness};
use refused::scan;

/// A serialisable value as plain Python objects (dict, list, str, int, float, bool, None),
/// through the same `serde_json` the CLI prints with.
pub fn to_python<'py>(py: Python<'py>, value: &impl Serialize) -> PyResult<Bound<'py, PyAny>> {
    let text = serde_json::to_string(value)
        .map_err(|err| pyo3::exceptions::PyRuntimeError::new_err(err.to_string()))?;
    py.import("json")?.call_method1("loads", (text,))
}

/// One connect attempt to one address.
#[pyclass(module = "refused", frozen, name = "Attempt")]
#[derive(Debug, Clone)]
pub struct Attempt(refused::Attempt);

impl From<refused::Attempt> for Attempt {
    fn from(attempt: refused::Attempt) -> Self {
        Self(attempt)
    }
}

#[pymethods]
impl Attempt {
    /// Where it went: `"127.0.0.1:8080"`, `"[::1]:8080"` or a unix socket path.
    #[getter]
    fn address(&self) -> String {
        self.0.address.to_string()
    }

    /// What it ended in: `connected`, `refused`, `timeout`, `host-unreachable`, ...
    #[getter]
    fn outcome(&self) -> &'static str {
        self.0.outcome.as_label()
    }

    /// The OS error number, where there was one.
    #[getter]
    fn errno(&self) -> Option<i32> {
        self.0.errno
    }

    /// Seconds from the start of the whole connect to this attempt's start.
    #[getter]
    fn started(&self) -> f64 {
        self.0.started.as_secs_f64()
    }

    /// Seconds it took.
    #[getter]
    fn elapsed(&self) -> f64 {
        self.0.elapsed.as_secs_f64()
    }

    /// Which try (1-based) of the retry policy it belonged to.
    #[getter]
    fn try_number(&self) -> u32 {
        self.0.try_number
    }

    /// The ICMP error a router or the host sent back for it, read only by `why`'s own
    /// attempts; `None` elsewhere, or when none came.
    #[getter]
    fn icmp(&self) -> Option<Icmp> {
        self.0.icmp.map(Icmp)
    }

    /// The attempt as the CLI's JSON writes it.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &self.0)
    }

    fn __repr__(&self) -> String {
        format!(
            "<Attempt {} {} in {:.1} ms>",
            self.0.address,
            self.0.outcome,
            self.0.elapsed.as_secs_f64() * 1e3
        )
    }
}

/// The ICMP error a router or the host sent back for a connect's SYN.
#[pyclass(module = "refused", frozen, name = "Icmp")]
#[derive(Debug, Clone)]
pub struct Icmp(refused::IcmpError);

#[pymethods]
impl Icmp {
    /// The ICMP type: 3 (destination unreachable) for ICMP, 1 for ICMPv6.
    #[getter(r#type)]
    fn icmp_type(&self) -> u8 {
        self.0.icmp_type
    }

    /// The code: for destination unreachable 0 net, 1 host, 3 port, 9, 10 and 13 prohibited
    /// (ICMPv6: 0 no route, 1 prohibited, 3 address unreachable, 4 port).
    #[getter]
    fn code(&self) -> u8 {
        self.0.code
    }

    /// Who sent it (a router on the path, or the target itself), where the kernel says;
    /// `from_` since `from` is a keyword (`to_dict()` names it `from`).
    #[getter]
    fn from_(&self) -> Option<String> {
        self.0.from.map(|ip| ip.to_string())
    }

    /// Whether it came as ICMPv6 rather than ICMP.
    #[getter]
    fn v6(&self) -> bool {
        matches!(self.0.version, refused::IcmpVersion::V6)
    }

    /// `{"type", "code", "from"}`, as the attempt's `icmp` in `refused why --json`.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &self.0)
    }

    fn __eq__(&self, other: &Self) -> bool {
        self.0 == other.0
    }

    fn __hash__(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.0.hash(&mut hasher);
        hasher.finish()
    }

    fn __repr__(&self) -> String {
        let from = self
            .0
            .from
            .map_or_else(String::new, |ip| format!(" from {ip}"));
        let name = if self.v6() { "ICMPv6" } else { "ICMP" };
        format!(
            "<Icmp {name} type {} code {}{from}>",
            self.0.icmp_type, self.0.code
        )
    }
}

fn attempts(py: Python<'_>, list: &[refused::Attempt]) -> PyResult<Py<PyList>> {
    let items: Vec<Attempt> = list.iter().cloned().map(Attempt).collect();
    Ok(PyList::new(py, items)?.unbind())
}

/// Why a target does (not) connect: the cause, the evidence and the fix.
///
/// `cause` is one of the labels of the cause table (`no-listener`, `wrong-port`, `filtered`,
/// ...); `to_dict()` is the document `refused why --json` prints.
#[pyclass(module = "refused", frozen, name = "Diagnosis")]
#[derive(Debug)]
pub struct Diagnosis(pub diagnose::Diagnosis);

#[pymethods]
impl Diagnosis {
    /// The target as given.
    #[getter]
    fn target(&self) -> &str {
        &self.0.target
    }

    /// The cause label: `reachable`, `no-listener`, `wrong-port`, `filtered`, ...
    #[getter]
    fn cause(&self) -> &'static str {
        self.0.cause.as_label()
    }

    /// Whether the target connects (the cause is `reachable`).
    #[getter]
    fn reachable(&self) -> bool {
        self.0.cause.is_reachable()
    }

    /// One sentence.
    #[getter]
    fn summary(&self) -> &str {
        &self.0.summary
    }

    /// One attempt per resolved address.
    #[getter]
    fn attempts(&self, py: Python<'_>) -> PyResult<Py<PyList>> {
        attempts(py, &self.0.attempts)
    }

    /// The facts the cause rests on, each a dict with a `kind`.
    #[getter]
    fn evidence<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &self.0.evidence)
    }

    /// What to do: commands to run, settings to change.
    #[getter]
    fn suggestions(&self) -> Vec<String> {
        self.0.suggestions.clone()
    }

    /// What works now but may fail for other clients.
    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.0.warnings.clone()
    }

    /// What could not be seen (often: firewall rules without root), and how to see it.
    #[getter]
    fn unseen<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &self.0.unseen)
    }

    /// Seconds the diagnosis took.
    #[getter]
    fn elapsed(&self) -> f64 {
        self.0.elapsed.as_secs_f64()
    }

    /// The document `refused why --json` prints, as a dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &self.0)
    }

    /// The document `refused why --json` prints.
    fn to_json(&self) -> PyResult<String> {
        serde_json::to_string(&self.0)
            .map_err(|err| pyo3::exceptions::PyRuntimeError::new_err(err.to_string()))
    }

    /// The cause, the summary and the fix, in a few lines.
    fn __str__(&self) -> String {
        let d = &self.0;
        let mut lines = vec![format!("{}: {}", d.cause, d.summary)];
        lines.extend(d.warnings.iter().map(|w| format!("warning: {w}")));
        lines.extend(d.suggestions.iter().map(|s| format!("fix: {s}")));
        lines.join("\n")
    }

    fn __repr__(&self) -> String {
        format!("<Diagnosis {} {}>", self.0.cause, self.0.target)
    }
}

/// One probe of one target: connected and ready, or why not. True when ready.
#[pyclass(module = "refused", frozen, name = "ProbeReport")]
#[derive(Debug)]
pub struct ProbeReport {
    target: String,
    report: probe::ProbeReport,
}

impl ProbeReport {
    pub fn new(target: String, report: probe::ProbeReport) -> Self {
        Self { target, report }
    }
}

#[pymethods]
impl ProbeReport {
    /// The target as given.
    #[getter]
    fn target(&self) -> &str {
        &self.target
    }

    /// Whether the service is ready.
    #[getter]
    fn ready(&self) -> bool {
        self.report.readiness.is_ready()
    }

    /// `up` or `down`, as `refused check` says.
    #[getter]
    fn state(&self) -> &'static str {
        self.report.readiness.state().as_label()
    }

    /// As `refused check` says: the cause where the probe proves it (`reachable`, `not-ready`,
    /// `dns-not-found`, `socket-missing`, ...), else the failed connect's outcome (`refused`,
    /// `timeout`, ...).
    #[getter]
    fn reason(&self) -> &'static str {
        self.report.readiness.reason().as_label()
    }

    /// One sentence: what the service said, or why the connect failed.
    #[getter]
    fn summary(&self) -> String {
        self.report.readiness.to_string()
    }

    /// What the probe found: `ready`, `not-ready` (also for a client the service denies: see
    /// `denied`) or `failed` (the connect or the exchange).
    #[getter]
    fn readiness(&self) -> &'static str {
        self.report.readiness.as_label()
    }

    /// Whether the service answered but its configuration turns this client away (Redis in
    /// protected mode answering `DENIED`): no wait ends it, only a change of its configuration
    /// or of where the client connects from.
    #[getter]
    fn denied(&self) -> bool {
        matches!(self.report.readiness, Readiness::Denied(_))
    }

    /// The connect attempts.
    #[getter]
    fn attempts(&self, py: Python<'_>) -> PyResult<Py<PyList>> {
        attempts(py, &self.report.attempts)
    }

    /// Seconds the probe took.
    #[getter]
    fn elapsed(&self) -> f64 {
        self.report.elapsed.as_secs_f64()
    }

    /// `target`, `state`, `reason`, `summary` and `elapsed_ms`, as the library serialises them.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let dict = to_python(py, &self.report)?;
        dict.set_item("target", &self.target)?;
        Ok(dict)
    }

    fn __bool__(&self) -> bool {
        self.ready()
    }

    fn __repr__(&self) -> String {
        let summary = match &self.report.readiness {
            Readiness::Ready(_) | Readiness::NotReady(_) | Readiness::Denied(_) => {
                self.report.readiness.to_string()
            }
            Readiness::Failed(_) => self.report.readiness.reason().as_label().to_owned(),
        };
        format!("<ProbeReport {} {}>", self.target, summary)
    }
}

/// How a wait ended. True when its condition was met.
#[pyclass(module = "refused", frozen, name = "WaitResult")]
#[derive(Debug)]
pub struct WaitResult {
    /// Whether the condition (all or any ready, or down) was met.
    #[pyo3(get)]
    satisfied: bool,
    /// Per target, whether it is done.
    #[pyo3(get)]
    done: Vec<bool>,
    /// Per target, its last probe (`None` when none finished in time).
    #[pyo3(get)]
    reports: Vec<Option<Py<ProbeReport>>>,
    /// Seconds the wait took.
    #[pyo3(get)]
    elapsed: f64,
}

impl WaitResult {
    pub fn new(
        py: Python<'_>,
        targets: &[String],
        result: refused::wait::WaitResult,
    ) -> PyResult<Self> {
        let mut done = Vec::new();
        let mut reports = Vec::new();
        for (target, state) in targets.iter().zip(result.targets) {
            done.push(state.done);
            reports.push(match state.last {
                Some(report) => Some(Py::new(py, ProbeReport::new(target.clone(), report))?),
                None => None,
            });
        }
        Ok(Self {
            satisfied: result.satisfied,
            done,
            reports,
            elapsed: result.elapsed.as_secs_f64(),
        })
    }
}

#[pymethods]
impl WaitResult {
    fn __bool__(&self) -> bool {
        self.satisfied
    }

    fn __repr__(&self) -> String {
        let state = if self.satisfied {
            "satisfied"
        } else {
            "timed out"
        };
        format!("<WaitResult {state} after {:.3} s>", self.elapsed)
    }
}

/// One port of one address: `open`, `closed` or `filtered`, and nmap's reason.
#[pyclass(module = "refused", frozen, name = "PortResult")]
#[derive(Debug, Clone)]
pub struct PortResult {
    /// The address scanned.
    #[pyo3(get)]
    address: String,
    /// The port.
    #[pyo3(get)]
    port: u16,
    /// `open`, `closed` or `filtered`.
    #[pyo3(get)]
    state: String,
    /// `syn-ack`, `conn-refused`, `no-response`, `host-unreach`, `net-unreach`,
    /// `admin-prohibited`.
    #[pyo3(get)]
    reason: String,
}

#[pymethods]
impl PortResult {
    fn __repr__(&self) -> String {
        format!(
            "<PortResult {}:{} {} ({})>",
            self.address, self.port, self.state, self.reason
        )
    }
}

/// What a scan found.
#[pyclass(module = "refused", frozen, name = "ScanReport")]
#[derive(Debug)]
pub struct ScanReport(pub scan::ScanReport);

fn label(value: &impl Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[pymethods]
impl ScanReport {
    /// Every port of every address, addresses in the order given, ports ascending.
    #[getter]
    fn ports(&self) -> Vec<PortResult> {
        self.0
            .hosts
            .iter()
            .flat_map(|host| {
                host.ports.iter().map(|p| PortResult {
                    address: host.address.to_string(),
                    port: p.port,
                    state: label(&p.state),
                    reason: label(&p.reason),
                })
            })
            .collect()
    }

    /// The open ports only.
    #[getter]
    fn open(&self) -> Vec<PortResult> {
        self.ports()
            .into_iter()
            .filter(|p| p.state == "open")
            .collect()
    }

    /// Seconds the scan took.
    #[getter]
    fn elapsed(&self) -> f64 {
        self.0.elapsed.as_secs_f64()
    }

    /// The whole report as the library serialises it.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &self.0)
    }

    fn __repr__(&self) -> String {
        let open = self
            .0
            .hosts
            .iter()
            .map(|h| h.in_state(scan::PortState::Open).count())
            .sum::<usize>();
        format!(
            "<ScanReport {open} open in {:.3} s>",
            self.0.elapsed.as_secs_f64()
        )
    }
}
