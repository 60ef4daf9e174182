//! `refused serve`: a Prometheus probe exporter, compatible with blackbox exporter's `/probe`,
//! that says why a target is down (`probe_failure_info{cause="...",outcome="..."}`).
//!
//! [`run`] takes an already-bound listener and a shutdown future (mini-redis's shape), so tests
//! start it on port 0; on shutdown it stops accepting, lets the probes in flight finish and
//! returns. Safe by default: the targets must pass the [`Allowlist`] (loopback only without
//! configuration), checked on the resolved addresses, which the probe then uses (no second
//! lookup); the probes in flight are bounded, and a request past the bound gets 503 at once.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use refused::serve::{Config, run};
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9115").await?;
//! run(listener, Config::default(), async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(())
//! # }
//! ```

mod allow;
mod config;
mod exporter;
mod http;
mod metrics;
mod render;

use std::future::Future;
use std::sync::Arc;

use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

pub use allow::{AllowRule, Allowlist, Cidr, CidrError};
pub use config::{
    Config, ConfigError, DEFAULT_MODULE_TIMEOUT, FamilyChoice, IpFamily, Module, ProbeModule,
    Prober, Tls, builtin_modules, parse_go_duration,
};
pub use exporter::{MAX_SUMMARY, Refusal};

/// The most bytes of a request's head (request line and headers).
pub const MAX_REQUEST_HEAD: usize = 16 * 1024;
/// The longest query string `/probe` accepts.
pub const MAX_QUERY: usize = 4096;

/// The exporter could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Accepting connections failed for good.
    #[error("accepting connections failed: {0}")]
    Accept(#[source] std::io::Error),
}

/// Which text format an answer is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The Prometheus text format 0.0.4 (what blackbox exporter answers, `promtool` reads).
    Prometheus,
    /// `OpenMetrics` 1.0, when the scraper asks for it.
    OpenMetrics,
}

impl Format {
    /// The `Content-Type` of an answer.
    pub const fn content_type(self) -> &'static str {
        match self {
            Self::Prometheus => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

fn encode(registry: &Registry, format: Format) -> String {
    let mut text = String::new();
    // Writing to a String cannot fail.
    let _ = match format {
        Format::Prometheus => {
            prometheus_client::encoding::prometheus_text::encode(&mut text, registry)
        }
        Format::OpenMetrics => prometheus_client::encoding::text::encode(&mut text, registry),
    };
    text
}

/// What every connection shares.
#[derive(Debug)]
struct Shared {
    config: Config,
    probes: Arc<Semaphore>,
    /// Diagnoses running, including those past their request's deadline.
    diagnoses: Arc<Semaphore>,
    connections: Arc<Semaphore>,
    metrics: metrics::Metrics,
}

/// Serves `/probe`, `/metrics` and `/-/healthy` on `listener` until `shutdown` completes, then
/// waits for the requests in flight (every probe is bounded by its module's timeout).
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let shared = Arc::new(Shared {
        probes: Arc::new(Semaphore::new(config.max_concurrent_probes)),
        diagnoses: Arc::new(Semaphore::new(config.max_concurrent_probes)),
        // Connections beyond this are answered 503 and closed without being read: each costs
        // a descriptor, and a flood must not take the ones probes need.
        connections: Arc::new(Semaphore::new(config.max_connections)),
        metrics: metrics::Metrics::new(),
        config,
    });
    let (stop, stopping) = watch::channel(false);
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    let result = loop {
        tokio::select! {
            () = &mut shutdown => break Ok(()),
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let shared = Arc::clone(&shared);
                    let stopping = stopping.clone();
                    tasks.spawn(http::connection(stream, shared, stopping));
                }
                // A connection that failed before we took it, or out of descriptors for a
                // moment: keep serving.
                Err(err) if is_transient(&err) => {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
                Err(err) => break Err(ServeError::Accept(err)),
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    };
    drop(listener);
    let _ = stop.send(true);
    while tasks.join_next().await.is_some() {}
    result
}

fn is_transient(err: &std::io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::ECONNABORTED | libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    ) || err.kind() == std::io::ErrorKind::ConnectionAborted
}
