//! Readiness probes: is the service behind a target ready, not just listening?
//!
//! [`probe`] connects (happy eyeballs, bounded by the time left) and then speaks just enough of
//! the target's protocol: `tcp` checks that the peer does not close at once (a port proxy with
//! nothing behind it accepts and drops), `http`/`https` check the status (and optionally a header
//! or the body), `tls` completes a handshake, `postgres` sends a startup packet as `pg_isready`
//! does, `redis` sends `PING`, `mysql` reads the server greeting. Every read is bounded in size
//! and time, so a hostile server cannot make a probe hang or eat memory.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use refused::probe::{ProbeOptions, probe};
//! let report = probe(&"postgres://db:5432/app".parse()?, &ProbeOptions::new(), Duration::from_secs(2)).await;
//! // "ready: accepting connections", or "not ready: the database system is starting up (57P03)"
//! println!("{}", report.readiness);
//! # Ok(())
//! # }
//! ```

mod bounded;
mod first_bytes;
mod http;
pub(crate) mod mysql;
mod postgres;
mod redis;
mod tcp;
mod tls;

pub(crate) use http::{NO_BACKEND, RATE_LIMITED, SPEAKS_HTTP2, SPEAKS_TLS};
pub(crate) use tcp::Acceptor;
#[cfg(test)]
pub(crate) use tls::rejection;
pub(crate) use tls::{PLAIN_NOT_TLS, certificate_problem, is_tls_answer};

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};
// tokio's clock, as every protocol module's: `wait` runs its probes under a paused clock in tests.
use tokio::time::Instant;

use crate::cause::Cause;
use crate::connect::{Attempt, ConnectError, Dialer, RetryPolicy, as_millis};
use crate::outcome::Outcome;
use crate::target::{Endpoint, Scheme, Target};

pub use http::{HttpCheck, HttpResponse, REDIRECTS, StatusSet, StatusSetError};
pub use tls::{CaFileError, check_ca_file};

/// How probes check readiness beyond the connect.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// How long a TCP connection must stay open after the connect to count as ready (from the
    /// program's `accept()` for a listener of this host); ended early by data from the server,
    /// or by [`ProbeOptions::owner_check`].
    pub settle: Duration,
    /// What an HTTP response must look like.
    pub http: HttpCheck,
    /// Skip TLS certificate verification.
    pub insecure: bool,
    /// A PEM file of extra trusted certificate authorities.
    pub ca_file: Option<PathBuf>,
    /// For a TCP connection to a listener of this host: look up in `/proc` the program that
    /// accepted it, and end the settle at once if it is no port forwarder (see
    /// [`ProbeOptions::settle`]). A walk of `/proc` per probe: worth it for a one-off check
    /// (it saves most of the settle), not for an exporter probing thousands of times a second.
    pub owner_check: bool,
}

impl Default for ProbeOptions {
    /// A 5 ms settle with the owner check, HTTP status 200-399, verified TLS.
    fn default() -> Self {
        Self {
            settle: tcp::DEFAULT_SETTLE,
            http: HttpCheck::default(),
            insecure: false,
            ca_file: None,
            owner_check: true,
        }
    }
}

impl ProbeOptions {
    /// The defaults (as [`ProbeOptions::default`]).
    pub fn new() -> Self {
        Self::default()
    }
}

/// What a probe found.
#[derive(Debug, Clone)]
pub enum Readiness {
    /// The service is ready; what it said, if anything.
    Ready(String),
    /// The service answered but is not ready: its own reason (`HTTP 503`, `57P03`).
    NotReady(String),
    /// The service answered, but its configuration turns this client away (Redis's protected
    /// mode): its own reason. Unlike [`Readiness::NotReady`], no wait ends it, only a change of
    /// the server's configuration (or of where the client connects from).
    Denied(String),
    /// The probe failed: the connect (see the attempts), or the protocol exchange.
    Failed(ProbeFailure),
}

/// Why a probe failed.
#[derive(Debug, Clone)]
pub enum ProbeFailure {
    /// The connect failed.
    Connect(ConnectError),
    /// Connected, but the exchange failed.
    Protocol(ProtocolError),
}

/// A failed exchange after the connect: what kind, and in words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct ProtocolError {
    /// What went wrong.
    pub kind: ProtocolErrorKind,
    /// One sentence, with the server's own words where it sent any.
    pub detail: String,
}

/// What went wrong in an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolErrorKind {
    /// The server accepted but sent nothing in time.
    NoAnswer,
    /// The server closed the connection instead of answering.
    Closed,
    /// Reading or writing failed (a reset, a broken pipe).
    Io,
    /// The answer is not the protocol asked for, or too large.
    NotTheProtocol,
    /// The TLS handshake failed (the certificate, the versions).
    Tls,
    /// The probe could not be set up on this side (a CA file, a server name, a URL).
    Setup,
}

impl Readiness {
    /// Whether the probe met silence: the connect timed out, or it connected and then nothing
    /// came (no accept, no answer, no close) before the time ran out. A close or a reset is
    /// an answer, not silence.
    pub fn is_silence(&self) -> bool {
        match self {
            Self::Failed(ProbeFailure::Connect(err)) => err.outcome() == Some(Outcome::Timeout),
            Self::Failed(ProbeFailure::Protocol(err)) => err.kind == ProtocolErrorKind::NoAnswer,
            Self::NotReady(text) => text.starts_with(tcp::TIME_RAN_OUT),
            Self::Ready(_) | Self::Denied(_) => false,
        }
    }

    /// `ready`, `not-ready` (also for a client the service denies) or `failed`.
    pub const fn as_label(&self) -> &'static str {
        match self {
            Self::Ready(_) => "ready",
            Self::NotReady(_) | Self::Denied(_) => "not-ready",
            Self::Failed(_) => "failed",
        }
    }

    /// The ICMP error of a firewall's reject that failed its connect (see
    /// [`ConnectError::firewall_reject`]).
    pub fn firewall_reject(&self) -> Option<&crate::connect::IcmpError> {
        match self {
            Self::Failed(ProbeFailure::Connect(err)) => err.firewall_reject(),
            _ => None,
        }
    }

    /// Whether the service is ready.
    pub const fn is_ready(&self) -> bool {
        matches!(self, Self::Ready(_))
    }

    /// Whether the connect itself failed (the name, the route, nothing listening...), as
    /// opposed to a service that accepted and then said no or failed the exchange: what
    /// `wait --down` waits for, and what a diagnosis can explain.
    pub const fn is_connect_failure(&self) -> bool {
        matches!(self, Self::Failed(ProbeFailure::Connect(_)))
    }

    /// `up` when ready, else `down`.
    pub const fn state(&self) -> State {
        match self {
            Self::Ready(_) => State::Up,
            Self::NotReady(_) | Self::Denied(_) | Self::Failed(_) => State::Down,
        }
    }

    /// Why the probe ended so, in the words of `refused why` where the probe alone proves the
    /// cause, else the connect's outcome (see [`Reason`]).
    pub fn reason(&self) -> Reason {
        match self {
            Self::Ready(_) => Reason::Cause(Cause::Reachable),
            // `why` names these the same: it connects, and the service is not usable.
            Self::NotReady(_) | Self::Denied(_) | Self::Failed(ProbeFailure::Protocol(_)) => {
                Reason::Cause(Cause::NotReady)
            }
            Self::Failed(ProbeFailure::Connect(err)) => match (err.cause(), err.outcome()) {
                (Some(cause), _) => Reason::Cause(cause),
                (None, Some(outcome)) => Reason::Outcome(outcome),
                // Not reached by a probe (its target is parsed, and unix is dialled as unix).
                (None, None) => Reason::Outcome(Outcome::Other(None)),
            },
        }
    }
}

/// A probe's verdict, as `check` and `wait` print it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Ready: connected, and the protocol (if any) says yes.
    Up,
    /// Not ready, or not reachable.
    Down,
}

impl State {
    /// `up` or `down`.
    pub const fn as_label(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Down => "down",
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad`: a column of states (`{:<4}`) lines up.
        f.pad(self.as_label())
    }
}

/// Why a probe ended as it did: one label, from the contract's two vocabularies.
///
/// A [`Cause`] where the probe alone proves it, so that `check` and `wait` say what `refused
/// why` would: `reachable`; `not-ready` (the service answered no, closed at once, or failed
/// the exchange: TLS, not the protocol); `dns-not-found`, `dns-no-address`, `dns-failure`; and
/// for a unix socket path `socket-missing`, `socket-stale`, `socket-permission-denied`,
/// `listen-queue-full`. Otherwise the [`Outcome`] of the failed TCP connect (`refused`,
/// `timeout`, `host-unreachable`...): which cause is behind it takes a diagnosis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// A cause the probe proves.
    Cause(Cause),
    /// The outcome of a failed connect.
    Outcome(Outcome),
}

impl Reason {
    /// The label: the cause's or the outcome's.
    pub const fn as_label(self) -> &'static str {
        match self {
            Self::Cause(cause) => cause.as_label(),
            Self::Outcome(outcome) => outcome.as_label(),
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_label())
    }
}

impl Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_label())
    }
}

impl std::fmt::Display for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ready(detail) if detail.is_empty() => f.write_str("ready"),
            Self::Ready(detail) => write!(f, "ready: {detail}"),
            Self::NotReady(reason) => write!(f, "not ready: {reason}"),
            Self::Denied(reason) => write!(f, "refuses this client by its configuration: {reason}"),
            Self::Failed(ProbeFailure::Connect(err)) => err.fmt(f),
            Self::Failed(ProbeFailure::Protocol(err)) => err.fmt(f),
        }
    }
}

/// One probe of one target.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProbeReport {
    /// What it found.
    pub readiness: Readiness,
    /// The connect attempts.
    pub attempts: Vec<Attempt>,
    /// How long it took.
    pub elapsed: Duration,
    /// How long the connect took (the whole race, every address tried), when it succeeded.
    pub connect: Option<Duration>,
    /// The HTTP response, for `http`/`https` targets that got one (at least its head).
    pub http: Option<HttpResponse>,
    /// What the TLS handshake showed, for `tls`/`https` targets that completed one.
    pub tls: Option<TlsSession>,
    /// For a `tcp` connection that stayed open and silent for the whole settle, who accepted
    /// it (as far as the settle's owner check found out): a forwarder holds it so whether its
    /// backend answers or not.
    pub(crate) held_open: Option<tcp::Acceptor>,
    /// For a `tcp` connection that a slow forwarder (rootlessport) closed after a settle made
    /// longer for it: that settle, which a `wait`'s later probes keep.
    pub(crate) closed_late: Option<Duration>,
}

/// What a completed TLS handshake showed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TlsSession {
    /// The protocol version: `TLS 1.2`, `TLS 1.3`.
    pub version: String,
    /// The certificates the server sent (DER), its own first.
    pub certificates: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// How long the handshake took.
    pub handshake: Duration,
}

/// What an exchange found besides the readiness.
#[derive(Debug, Default)]
struct Extras {
    http: Option<HttpResponse>,
    tls: Option<TlsSession>,
    held_open: Option<tcp::Acceptor>,
    closed_late: Option<Duration>,
}

/// `{"state", "reason", "summary", "elapsed_ms", "attempts"}`: the fields `check` and `wait`
/// print for a probe.
impl Serialize for ProbeReport {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Json<'a> {
            state: State,
            reason: Reason,
            summary: String,
            #[serde(rename = "elapsed_ms", serialize_with = "as_millis")]
            elapsed: Duration,
            attempts: &'a [Attempt],
        }
        Json {
            state: self.readiness.state(),
            reason: self.readiness.reason(),
            summary: self.readiness.to_string(),
            elapsed: self.elapsed,
            attempts: &self.attempts,
        }
        .serialize(serializer)
    }
}

/// Whether `target` is PostgreSQL's unix socket, whose name libpq builds from the port:
/// `DIRECTORY/.s.PGSQL.PORT`.
pub(crate) fn is_postgres_socket(target: &Target) -> bool {
    let Endpoint::Unix(path) = target.endpoint() else {
        return false;
    };
    path.file_name()
        .and_then(|name| name.to_str())
        .and_then(|name| name.strip_prefix(".s.PGSQL."))
        .is_some_and(|port| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
}

/// Probes `target` once; nothing (connect or exchange) goes on past `timeout`.
pub async fn probe(target: &Target, options: &ProbeOptions, timeout: Duration) -> ProbeReport {
    let start = Instant::now();
    let deadline = start + timeout;
    // The ICMP error behind a failed connect tells a firewall's reject from a port with
    // nothing on it (the probe's socket is its own: a stray ICMP error later ends only it).
    let dialer = Dialer::new()
        .attempt_timeout(timeout)
        .deadline(timeout)
        .retry(RetryPolicy::never())
        .reading_icmp_errors();
    let mut connect = None;
    let ((readiness, extras), attempts) = match target.endpoint() {
        Endpoint::Unix(path) => match dialer.dial_unix(path).await {
            Ok(connected) => {
                connect = Some(start.elapsed());
                (
                    exchange(target, connected.stream, options, deadline, None).await,
                    connected.attempts,
                )
            }
            Err(err) => failed(err),
        },
        Endpoint::Tcp { .. } => match dialer.dial(target).await {
            Ok(connected) => {
                connect = Some(start.elapsed());
                let _ = connected.stream.set_nodelay(true);
                let ends = connected
                    .stream
                    .local_addr()
                    .and_then(|client| {
                        let server = connected.stream.peer_addr()?;
                        Ok(tcp::Ends { client, server })
                    })
                    .ok();
                (
                    exchange(target, connected.stream, options, deadline, ends).await,
                    connected.attempts,
                )
            }
            Err(err) => failed(err),
        },
    };
    ProbeReport {
        readiness,
        attempts,
        elapsed: start.elapsed(),
        connect,
        http: extras.http,
        tls: extras.tls,
        held_open: extras.held_open,
        closed_late: extras.closed_late,
    }
}

fn failed(err: ConnectError) -> ((Readiness, Extras), Vec<Attempt>) {
    let attempts = err.attempts().to_vec();
    (
        (
            Readiness::Failed(ProbeFailure::Connect(err)),
            Extras::default(),
        ),
        attempts,
    )
}

async fn exchange<S>(
    target: &Target,
    stream: S,
    options: &ProbeOptions,
    deadline: Instant,
    ends: Option<tcp::Ends>,
) -> (Readiness, Extras)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut extras = Extras::default();
    let readiness = match target.scheme() {
        // PostgreSQL's own socket (`.s.PGSQL.5432`) answers its startup as its port does.
        Scheme::Unix if is_postgres_socket(target) => {
            postgres::probe(target, stream, deadline).await
        }
        Scheme::Tcp | Scheme::Unix => {
            let settled =
                tcp::settle(stream, options.settle, deadline, ends, options.owner_check).await;
            extras.held_open = settled.held_open;
            extras.closed_late = settled.closed_late;
            settled.readiness
        }
        Scheme::Http => {
            let (readiness, head) = http::probe(target, stream, &options.http, deadline).await;
            extras.http = head;
            readiness
        }
        Scheme::Https => match tls::handshake(target, stream, options, deadline).await {
            Ok((stream, took)) => {
                extras.tls = Some(tls::session(&stream, took));
                let (readiness, head) = http::probe(target, stream, &options.http, deadline).await;
                extras.http = head;
                readiness
            }
            Err(readiness) => readiness,
        },
        Scheme::Tls => match tls::handshake(target, stream, options, deadline).await {
            Ok((stream, took)) => {
                extras.tls = Some(tls::session(&stream, took));
                Readiness::Ready("TLS handshake completed".to_owned())
            }
            Err(readiness) => readiness,
        },
        Scheme::Postgres => postgres::probe(target, stream, deadline).await,
        Scheme::Redis => redis::probe(stream, deadline).await,
        Scheme::Mysql => mysql::probe(target, stream, deadline).await,
    };
    (readiness, extras)
}
