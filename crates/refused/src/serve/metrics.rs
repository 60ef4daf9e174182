//! The exporter's own metrics, served on `/metrics`: probes run, in flight, turned away, and how
//! long they took.

use std::sync::atomic::AtomicI64;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use super::{Format, encode};

/// Probes run, by module and result (`refused_serve_probes_total`).
pub const PROBES: &str = "refused_serve_probes";
/// Probes running now.
pub const PROBES_IN_FLIGHT: &str = "refused_serve_probes_in_flight";
/// Requests answered without a probe, by reason (`refused_serve_requests_rejected_total`).
pub const REJECTED: &str = "refused_serve_requests_rejected";
/// How long probes took, by module (`refused_serve_probe_duration_seconds`).
pub const PROBE_DURATION: &str = "refused_serve_probe_duration";

type Labels = Vec<(&'static str, String)>;

/// Why a request got no probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// The target is outside the allowlist (403).
    Forbidden,
    /// Too many probes in flight, or too many connections (503).
    Busy,
    /// A bad target, module, timeout header or query (400).
    BadRequest,
}

impl Rejection {
    const fn as_label(self) -> &'static str {
        match self {
            Self::Forbidden => "forbidden",
            Self::Busy => "busy",
            Self::BadRequest => "bad-request",
        }
    }
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    probes: Family<Labels, Counter>,
    in_flight: Gauge<i64, AtomicI64>,
    rejected: Family<Labels, Counter>,
    durations: Family<Labels, Histogram>,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let probes = Family::<Labels, Counter>::default();
        registry.register(PROBES, "Probes run, by module and result", probes.clone());
        let in_flight = Gauge::<i64, AtomicI64>::default();
        registry.register(PROBES_IN_FLIGHT, "Probes running now", in_flight.clone());
        let rejected = Family::<Labels, Counter>::default();
        registry.register(
            REJECTED,
            "Requests answered without a probe, by reason",
            rejected.clone(),
        );
        let durations = Family::<Labels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ])
        });
        registry.register_with_unit(
            PROBE_DURATION,
            "How long probes took, by module",
            Unit::Seconds,
            durations.clone(),
        );
        // Every reason from the start, so a rate() over them works before the first one.
        for reason in [Rejection::Forbidden, Rejection::Busy, Rejection::BadRequest] {
            let _ = rejected.get_or_create(&vec![("reason", reason.as_label().to_owned())]);
        }
        Self {
            registry,
            probes,
            in_flight,
            rejected,
            durations,
        }
    }

    pub fn rejected(&self, why: Rejection) {
        self.rejected
            .get_or_create(&vec![("reason", why.as_label().to_owned())])
            .inc();
    }

    /// Counts a probe in flight until the guard drops.
    pub fn start(&self) -> InFlight<'_> {
        self.in_flight.inc();
        InFlight(&self.in_flight)
    }

    pub fn finished(&self, module: &str, success: bool, took: Duration) {
        let result = if success { "success" } else { "failure" };
        self.probes
            .get_or_create(&vec![
                ("module", module.to_owned()),
                ("result", result.to_owned()),
            ])
            .inc();
        self.durations
            .get_or_create(&vec![("module", module.to_owned())])
            .observe(took.as_secs_f64());
    }

    pub fn render(&self, format: Format) -> String {
        encode(&self.registry, format)
    }
}

/// A probe in flight; counted down when dropped (also when the request is cancelled).
#[derive(Debug)]
pub struct InFlight<'a>(&'a Gauge<i64, AtomicI64>);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}
