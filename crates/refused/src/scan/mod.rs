//! A TCP connect scan: every port's state, as nmap names them, near the kernel's own connect rate.
//!
//! [`scan`] spreads (address, port) probes over one worker per core (`engine`). A worker keeps
//! up to its share of the concurrency in flight, checks each connect once before waiting (on
//! loopback the answer is there when `connect()` returns, so no epoll work is done at all), and
//! waits on epoll (mio) only for answers that take a round trip. Timeouts follow the round trip
//! measured on the answers so far (RFC 6298's estimator, between a floor and the `timeout`
//! ceiling), and a probe without an answer is sent once more before its port is `filtered`.
//!
//! ```no_run
//! use refused::scan::{PortState, ScanOptions, scan};
//! let report = scan(&["127.0.0.1".parse()?], &"1-65535".parse()?, &ScanOptions::default())?;
//! for port in report.hosts[0].in_state(PortState::Open) {
//!     println!("{} open", port.port);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod echo;
mod engine;
mod limits;
mod owners;
pub mod ports;
pub mod targets;
mod timing;

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

use crate::connect::as_millis;
pub use limits::{OpenFileLimit, raise_open_file_limit};
pub use owners::{PortOwners, Process};
pub use ports::{PortSet, PortSetError};
pub use targets::{Family, HostSpec, HostSpecError, MAX_ADDRESSES};

/// The most probes (addresses × ports) a scan takes: every port of a /24. Each probe's state is
/// kept until the end (a few bytes each, and its report).
pub const MAX_PROBES: usize = 1 << 24;

/// A port's state, as nmap names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PortState {
    /// Something accepted the connection.
    Open,
    /// The host answered with a reset.
    Closed,
    /// No answer, or an ICMP error: something in the way.
    Filtered,
}

/// Why a port has its state, with nmap's `--reason` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// The handshake completed.
    SynAck,
    /// A reset answered the SYN.
    ConnRefused,
    /// Nothing came back, twice.
    NoResponse,
    /// An ICMP host unreachable (or host-prohibited), or neighbour discovery failed.
    HostUnreach,
    /// An ICMP network unreachable, or no route.
    NetUnreach,
    /// An ICMP administratively prohibited (`EACCES`/`EPERM`).
    AdminProhibited,
}

impl Reason {
    /// The state this reason gives a port.
    pub const fn state(self) -> PortState {
        match self {
            Self::SynAck => PortState::Open,
            Self::ConnRefused => PortState::Closed,
            Self::NoResponse | Self::HostUnreach | Self::NetUnreach | Self::AdminProhibited => {
                PortState::Filtered
            }
        }
    }
}

/// One port of one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PortReport {
    /// The port.
    pub port: u16,
    /// Its state.
    pub state: PortState,
    /// Why.
    pub reason: Reason,
}

/// Every port of one address, ascending.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct HostReport {
    /// The address.
    pub address: IpAddr,
    /// Its ports.
    pub ports: Vec<PortReport>,
}

impl HostReport {
    /// The ports in a state.
    pub fn in_state(&self, state: PortState) -> impl Iterator<Item = &PortReport> {
        self.ports.iter().filter(move |p| p.state == state)
    }
}

/// What a scan found.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ScanReport {
    /// One per address, in the order given.
    pub hosts: Vec<HostReport>,
    /// How long it took.
    #[serde(rename = "elapsed_ms", serialize_with = "as_millis")]
    pub elapsed: Duration,
    /// How many connects were made (retries included).
    pub connects: u64,
    /// Connects the kernel made to the scanning socket itself (local port = target port on this
    /// host), which say nothing of the port: retried, never reported as open.
    pub self_connects: u64,
    /// At most this many probes were waiting for an answer at once (the sum of each worker's
    /// most; probes answered inside `connect()`, as on loopback, never wait).
    pub max_in_flight: usize,
    /// The scan was cancelled ([`Progress::cancel`]): each host's `ports` holds only the ports
    /// whose state was known by then.
    pub interrupted: bool,
}

/// How a scan runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanOptions {
    /// The most connects in flight at once, across workers. `None`: as many as the open-file limit
    /// allows, with a margin.
    pub concurrency: Option<usize>,
    /// The most connects started per second, across workers.
    pub rate: Option<u32>,
    /// The longest a probe waits for an answer (the ceiling of the adaptive timeout).
    pub timeout: Duration,
    /// The shortest a probe waits once round trips are known.
    pub min_timeout: Duration,
    /// How many more times a probe without an answer is sent before its port is `filtered`.
    pub retries: u8,
    /// Worker threads; `None`: one per core.
    pub workers: Option<usize>,
    /// Whether remote hosts are pinged as the scan starts, to learn their round trip.
    pub echo: Echo,
}

/// Whether a scan pings its remote hosts as it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Echo {
    /// One ICMP echo to each host not on this host (through a ping socket, or a raw one as root);
    /// a reply's round trip seeds the host's timeout, so a host whose every port is dropped is
    /// not waited on for the full `timeout`. No reply, or no ICMP socket: nothing is learnt.
    #[default]
    Seed,
    /// No ICMP at all: the timeout learns from the ports' answers only (nmap's `-Pn`).
    Off,
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self {
            concurrency: None,
            rate: None,
            timeout: Duration::from_secs(1),
            min_timeout: Duration::from_millis(100),
            retries: 1,
            workers: None,
            echo: Echo::Seed,
        }
    }
}

/// Why a scan could not run. The message says it all: no `source()`, so an error chain
/// (`anyhow`'s `{:#}`) does not repeat the OS error.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// A worker could not set up its event loop.
    #[error("the scan could not start: {0}")]
    Setup(std::io::Error),
    /// Nothing to scan.
    #[error("nothing to scan: no addresses or no ports")]
    Empty,
    /// More probes than [`MAX_PROBES`].
    #[error(
        "{addresses} addresses of {ports} ports is more than the {MAX_PROBES} probes a scan takes: \
         scan fewer ports or fewer addresses at a time"
    )]
    TooLarge {
        /// How many addresses were given.
        addresses: usize,
        /// How many ports each.
        ports: usize,
    },
}

impl From<std::io::Error> for ScanError {
    fn from(err: std::io::Error) -> Self {
        Self::Setup(err)
    }
}

/// How far a running scan is, for a progress bar: read from another thread.
#[derive(Debug, Default)]
pub struct Progress {
    done: AtomicU64,
    total: AtomicU64,
    cancelled: AtomicBool,
}

impl Progress {
    /// Probes finished (a port counts once a pass, when that pass knows its state).
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    /// Probes in all: every port once, and every port of a second pass (when packet loss was
    /// seen, the silent ports are asked again) from the moment that pass starts.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Asks the scan to stop soon (Ctrl-C, a closed output): probes in flight are dropped, and
    /// the report holds only the ports whose state was known (`ScanReport::interrupted`).
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// Whether [`Progress::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }
}

/// Scans `ports` on every address in `hosts`. Blocks until done (it runs its own threads).
pub fn scan(
    hosts: &[IpAddr],
    ports: &PortSet,
    options: &ScanOptions,
) -> Result<ScanReport, ScanError> {
    scan_with(hosts, ports, options, &Progress::default(), &|_, _| {})
}

/// [`scan`], telling `progress` how far it is and `on_port` each port's state as soon as it is
/// known (called from the worker threads, in no particular order).
pub fn scan_with(
    hosts: &[IpAddr],
    ports: &PortSet,
    options: &ScanOptions,
    progress: &Progress,
    on_port: &(dyn Fn(IpAddr, PortReport) + Sync),
) -> Result<ScanReport, ScanError> {
    if hosts.is_empty() || ports.is_empty() {
        return Err(ScanError::Empty);
    }
    check_size(hosts.len(), ports.len())?;
    engine::run(hosts, ports, options, progress, on_port)
}

/// Whether a scan of `addresses` × `ports` is one [`scan`] takes ([`MAX_PROBES`] at most), to
/// say so before resolving names or starting anything.
pub fn check_size(addresses: usize, ports: usize) -> Result<(), ScanError> {
    if addresses.saturating_mul(ports) > MAX_PROBES {
        return Err(ScanError::TooLarge { addresses, ports });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_port_of_a_slash_24_is_the_largest_scan() {
        assert!(check_size(256, 65_535).is_ok());
        let err = check_size(257, 65_535).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("257 addresses of 65535 ports is more than"),
            "{err}"
        );
        let err = scan(
            &vec![IpAddr::from([127, 0, 0, 1]); 300],
            &PortSet::all(),
            &ScanOptions::default(),
        )
        .unwrap_err();
        assert!(
            matches!(err, ScanError::TooLarge { addresses: 300, .. }),
            "{err}"
        );
    }

    #[test]
    fn a_setup_error_says_the_os_error_once() {
        let err = ScanError::from(std::io::Error::from_raw_os_error(libc::EMFILE));
        assert_eq!(
            err.to_string(),
            "the scan could not start: Too many open files (os error 24)"
        );
        assert!(std::error::Error::source(&err).is_none());
    }
}
