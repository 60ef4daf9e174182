//! The record of a connect: every attempt, and the error a failed connect returns.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::icmp::IcmpError;
use crate::cause::Cause;
use crate::outcome::Outcome;
use crate::resolve::ResolveError;
use crate::sys::unix_path::FileType;
use crate::target::TargetError;

/// Where an attempt went: a socket address or a unix socket path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Address {
    /// An IP socket address.
    Inet(SocketAddr),
    /// A unix socket path.
    Unix(PathBuf),
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Inet(addr) => addr.fmt(f),
            Self::Unix(path) => path.display().fmt(f),
        }
    }
}

impl Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// One connect attempt to one address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Attempt {
    /// Where it went.
    pub address: Address,
    /// What it ended in.
    pub outcome: Outcome,
    /// The OS error number, where there was one.
    pub errno: Option<i32>,
    /// When it started, from the start of the whole connect.
    #[serde(rename = "started_ms", serialize_with = "as_millis")]
    pub started: Duration,
    /// How long it took.
    #[serde(rename = "elapsed_ms", serialize_with = "as_millis")]
    pub elapsed: Duration,
    /// Which try (1-based) of the retry policy it belonged to.
    pub try_number: u32,
    /// The ICMP error a router or the host sent back for it, read only by the diagnosis's own
    /// attempts (`refused why`); `None` elsewhere, or when none came.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp: Option<IcmpError>,
    /// Our end's port of the failed attempt (the ephemeral port the replies were sent to),
    /// read only by the diagnosis's own attempts, as [`Attempt::icmp`]: its rules judge the
    /// replies' port.
    #[serde(skip)]
    pub local_port: Option<u16>,
}

/// Serializes a duration as fractional milliseconds.
pub fn as_millis<S: serde::Serializer>(d: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64((d.as_secs_f64() * 1e6).round() / 1e3)
}

/// Why a connect failed, without the record of attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectErrorKind {
    /// The target text did not parse.
    InvalidTarget(TargetError),
    /// The name did not resolve.
    Resolve(ResolveError),
    /// Every attempt failed; this is the most telling of their outcomes.
    Failed(Outcome),
    /// A unix socket target was given where a TCP connection was asked for.
    NotTcp,
    /// A unix socket path names a file that is not a socket (a directory, a regular file, a
    /// FIFO): the kernel refused the connect (`ECONNREFUSED`), or denied it to a user who may
    /// not write the file (`EACCES`); the attempt's outcome says which. No server will ever
    /// listen on that file.
    NotASocket(FileType),
}

/// A failed connect: why, every attempt made, and how long it all took.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectError {
    target: String,
    kind: ConnectErrorKind,
    attempts: Vec<Attempt>,
    elapsed: Duration,
}

impl ConnectError {
    pub(crate) fn new(
        target: String,
        kind: ConnectErrorKind,
        attempts: Vec<Attempt>,
        elapsed: Duration,
    ) -> Self {
        Self {
            target,
            kind,
            attempts,
            elapsed,
        }
    }

    /// Why it failed.
    pub const fn kind(&self) -> &ConnectErrorKind {
        &self.kind
    }

    /// Every attempt, in the order they started.
    pub fn attempts(&self) -> &[Attempt] {
        &self.attempts
    }

    /// From the start to the failure, retries and backoff included.
    pub const fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// The target as given.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The outcome that stands for the whole failure, if attempts were made.
    pub fn outcome(&self) -> Option<Outcome> {
        match self.kind {
            ConnectErrorKind::Failed(outcome) => Some(outcome),
            ConnectErrorKind::NotASocket(_) => Some(self.not_a_socket_outcome()),
            ConnectErrorKind::InvalidTarget(_)
            | ConnectErrorKind::Resolve(_)
            | ConnectErrorKind::NotTcp => None,
        }
    }

    /// A short kebab-case label: the outcome's, or the cause where the outcome says less than
    /// the cause's word: the DNS cause for a resolution failure, `socket-missing` for a unix path
    /// that does not exist (its outcome is `other`, `ENOENT`).
    pub fn as_label(&self) -> &'static str {
        match &self.kind {
            ConnectErrorKind::InvalidTarget(_) | ConnectErrorKind::NotTcp => "invalid-target",
            ConnectErrorKind::Resolve(err) => err.kind.as_label(),
            ConnectErrorKind::Failed(Outcome::Other(Some(libc::ENOENT))) if self.is_unix() => {
                "socket-missing"
            }
            ConnectErrorKind::Failed(outcome) => outcome.as_label(),
            ConnectErrorKind::NotASocket(_) => self.not_a_socket_outcome().as_label(),
        }
    }

    /// The cause this error alone proves, as `refused why` names it, without looking at the
    /// host: a name that did not resolve (`dns-*`), or what a unix socket path is
    /// (`socket-missing`, `socket-stale`, `socket-permission-denied`, `listen-queue-full`). A
    /// failed TCP connect proves none: a refusal may be `no-listener`, `wrong-port`, `closed` or
    /// `blocked-locally`, which only a diagnosis tells apart.
    pub fn cause(&self) -> Option<Cause> {
        match &self.kind {
            ConnectErrorKind::Resolve(err) => Some(err.kind.cause()),
            ConnectErrorKind::NotASocket(_) => Some(Cause::SocketMissing),
            ConnectErrorKind::Failed(outcome) if self.is_unix() => unix_cause(*outcome),
            ConnectErrorKind::Failed(_)
            | ConnectErrorKind::InvalidTarget(_)
            | ConnectErrorKind::NotTcp => None,
        }
    }

    /// What the kernel answered a connect to a file that is not a socket: refused, or denied.
    fn not_a_socket_outcome(&self) -> Outcome {
        self.attempts
            .last()
            .map_or(Outcome::Refused, |attempt| attempt.outcome)
    }

    /// Whether the attempts went to a unix socket path.
    fn is_unix(&self) -> bool {
        !self.attempts.is_empty()
            && self
                .attempts
                .iter()
                .all(|a| matches!(a.address, Address::Unix(_)))
    }

    /// The ICMP error of a firewall's reject (port unreachable, which a Linux host never sends
    /// for TCP by itself, or administratively prohibited) when every failed attempt that was
    /// read for one brought one: the connect was refused or unreachable on purpose. Only the
    /// probes' and the diagnosis's connects read them.
    pub fn firewall_reject(&self) -> Option<&IcmpError> {
        let ConnectErrorKind::Failed(outcome) = self.kind else {
            return None;
        };
        let mut failed = self.attempts.iter().filter(|a| a.outcome == outcome);
        let first = failed
            .next()?
            .icmp
            .as_ref()
            .filter(|icmp| icmp.is_reject())?;
        failed
            .all(|a| a.icmp.as_ref().is_some_and(IcmpError::is_reject))
            .then_some(first)
    }

    /// The addresses whose attempts ended in `outcome`, each once.
    fn addresses_with(&self, outcome: Outcome) -> Vec<&Address> {
        let mut seen: Vec<&Address> = Vec::new();
        for attempt in self.attempts.iter().filter(|a| a.outcome == outcome) {
            if !seen.contains(&&attempt.address) {
                seen.push(&attempt.address);
            }
        }
        seen
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ConnectErrorKind::InvalidTarget(err) => return err.fmt(f),
            ConnectErrorKind::NotTcp => {
                return write!(f, "`{}` is a unix socket, not a TCP target", self.target);
            }
            ConnectErrorKind::Resolve(err) => write!(f, "{err}")?,
            ConnectErrorKind::NotASocket(file_type) => {
                let path = self.attempts.first().map(|a| &a.address);
                match path {
                    Some(path) => write!(f, "{path} is a {file_type}, not a socket")?,
                    None => write!(f, "{} is a {file_type}, not a socket", self.target)?,
                }
                let answer = match self.not_a_socket_outcome() {
                    Outcome::PermissionDenied => "denied",
                    _ => "refused",
                };
                write!(
                    f,
                    " (the connect was {answer}: check the socket path the service uses)"
                )?;
            }
            ConnectErrorKind::Failed(outcome) => {
                let addresses = self.addresses_with(*outcome);
                let shown: Vec<String> =
                    addresses.iter().take(3).map(ToString::to_string).collect();
                let mut list = shown.join(", ");
                if addresses.len() > 3 {
                    list.push_str(", ...");
                }
                let phrase = match outcome {
                    Outcome::Refused => "connection refused by",
                    Outcome::Timeout => "connection timed out to",
                    Outcome::HostUnreachable => "host unreachable:",
                    Outcome::NetworkUnreachable => "network unreachable:",
                    Outcome::PermissionDenied => "connection not permitted to",
                    Outcome::AddressUnavailable => "no local address available to reach",
                    Outcome::Reset => "connection reset by",
                    Outcome::TooManyOpenFiles => "too many open files to connect to",
                    Outcome::Connected | Outcome::Other(_) => "connection failed to",
                };
                let unix = addresses.iter().all(|a| matches!(a, Address::Unix(_)));
                let (phrase, explanation) = match (unix, outcome) {
                    (true, Outcome::Other(Some(libc::ENOENT))) => {
                        ("no socket at", "the path does not exist")
                    }
                    (true, Outcome::Refused) => (
                        phrase,
                        "the socket file exists but no process listens on it",
                    ),
                    (true, Outcome::PermissionDenied) => {
                        (phrase, "this user may not open the socket")
                    }
                    // A unix listener's full queue fails a connect at once (`EAGAIN`), or holds
                    // a blocking one: no packet is lost on the way.
                    (true, Outcome::Other(Some(libc::EAGAIN))) => (
                        "connection not accepted by",
                        "its listen queue is full: the server does not accept connections fast enough",
                    ),
                    (true, Outcome::Timeout) => (
                        phrase,
                        "its listen queue is full: the server does not accept connections",
                    ),
                    _ => (phrase, outcome.explanation()),
                };
                // A refusal that an ICMP error brought is a firewall's reject, not a host
                // with nothing on the port (which answers with a reset).
                if let Some(icmp) = self.firewall_reject() {
                    let from = icmp
                        .from
                        .map(|ip| format!(" from {ip}"))
                        .unwrap_or_default();
                    write!(f, "{phrase} {list} (a firewall rejected it: {icmp}{from}")?;
                    f.write_str(")")?;
                } else {
                    write!(f, "{phrase} {list} ({explanation}")?;

                    if let (false, Outcome::Other(Some(errno))) = (unix, outcome) {
                        write!(f, ": {}", io::Error::from_raw_os_error(*errno))?;
                    }
                    f.write_str(")")?;
                }
            }
        }
        let count = self.attempts.len();
        if count > 0 {
            let noun = if count == 1 { "attempt" } else { "attempts" };
            write!(f, ", {count} {noun} over {}", HumanDuration(self.elapsed))?;
        }
        Ok(())
    }
}

/// What a failed connect to a unix socket path says by itself, as the diagnosis's rules read
/// the same outcomes (`diagnose::rules`, which also look at the file).
const fn unix_cause(outcome: Outcome) -> Option<Cause> {
    match outcome {
        // No such path, a path through a file, or a socket of another type (datagram).
        Outcome::Other(Some(libc::ENOENT | libc::ENOTDIR | libc::EPROTOTYPE)) => {
            Some(Cause::SocketMissing)
        }
        // A socket file nobody listens on (a file that is not a socket is `NotASocket`).
        Outcome::Refused => Some(Cause::SocketStale),
        Outcome::PermissionDenied => Some(Cause::SocketPermissionDenied),
        // A unix listener whose queue is full makes a connect fail at once (`EAGAIN`) or wait.
        Outcome::Other(Some(libc::EAGAIN)) | Outcome::Timeout => Some(Cause::ListenQueueFull),
        _ => None,
    }
}

/// No `source()`: the message already says what the target or resolver error says, and a chain
/// printer (`anyhow`'s `{:#}`) would say it twice. The typed inner error is [`ConnectError::kind`].
impl std::error::Error for ConnectError {}

impl From<ConnectError> for io::Error {
    /// Keeps the `ErrorKind` code written for `io::Error` expects (`ConnectionRefused`...), with
    /// the whole `ConnectError` inside, reachable through `get_ref()` and `downcast`.
    fn from(err: ConnectError) -> Self {
        let kind = match &err.kind {
            ConnectErrorKind::InvalidTarget(_) | ConnectErrorKind::NotTcp => {
                io::ErrorKind::InvalidInput
            }
            ConnectErrorKind::Resolve(_) => io::ErrorKind::NotFound,
            ConnectErrorKind::Failed(outcome) => outcome.io_error_kind(),
            ConnectErrorKind::NotASocket(_) => err.not_a_socket_outcome().io_error_kind(),
        };
        Self::new(kind, err)
    }
}

/// A duration shown the way a person reads it: `0.4 ms`, `12 ms`, `1.2 s`.
#[derive(Debug, Clone, Copy)]
pub struct HumanDuration(pub Duration);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_secs_f64() * 1000.0;
        if ms < 10.0 {
            write!(f, "{ms:.1} ms")
        } else if ms < 1000.0 {
            write!(f, "{ms:.0} ms")
        } else {
            write!(f, "{:.1} s", ms / 1000.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn attempt(port: u16, outcome: Outcome) -> Attempt {
        Attempt {
            address: Address::Inet(SocketAddr::from((Ipv4Addr::LOCALHOST, port))),
            outcome,
            errno: outcome.errno(),
            started: Duration::ZERO,
            elapsed: Duration::from_millis(1),
            try_number: 1,
            icmp: None,
            local_port: None,
        }
    }

    #[test]
    fn displays_one_actionable_sentence() {
        let err = ConnectError::new(
            "127.0.0.1:8080".into(),
            ConnectErrorKind::Failed(Outcome::Refused),
            vec![attempt(8080, Outcome::Refused); 3],
            Duration::from_millis(1200),
        );
        assert_eq!(
            err.to_string(),
            "connection refused by 127.0.0.1:8080 (nothing accepted on that port), 3 attempts over 1.2 s"
        );
    }

    /// A refusal an ICMP port-unreachable brought is a firewall's, said so; one attempt of
    /// several without it (a reset) is not.
    #[test]
    fn a_refusal_by_icmp_is_a_firewalls() {
        let icmp = IcmpError {
            version: super::super::IcmpVersion::V4,
            icmp_type: 3,
            code: 3,
            from: Some(Ipv4Addr::new(10, 0, 0, 2).into()),
        };
        let rejected = Attempt {
            icmp: Some(icmp),
            ..attempt(22, Outcome::Refused)
        };
        let err = ConnectError::new(
            "10.0.0.2:22".into(),
            ConnectErrorKind::Failed(Outcome::Refused),
            vec![rejected.clone()],
            Duration::from_millis(1),
        );
        assert_eq!(err.firewall_reject(), Some(&icmp));
        assert_eq!(
            err.to_string(),
            "connection refused by 127.0.0.1:22 (a firewall rejected it: ICMP port-unreachable (type 3, code 3) from 10.0.0.2), 1 attempt over 1.0 ms"
        );
        let mixed = ConnectError::new(
            "10.0.0.2:22".into(),
            ConnectErrorKind::Failed(Outcome::Refused),
            vec![rejected, attempt(22, Outcome::Refused)],
            Duration::from_millis(1),
        );
        assert_eq!(mixed.firewall_reject(), None);
    }

    /// Every message of an error's chain, as `anyhow`'s `{:#}` prints them.
    fn chain(err: &dyn std::error::Error) -> String {
        std::iter::successors(Some(err), |e| e.source())
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(": ")
    }

    #[test]
    fn an_error_chain_says_each_thing_once() {
        let invalid = crate::connect::parse_target("localhost:99999").unwrap_err();
        let resolve = ConnectError::new(
            "db.invalid:5432".into(),
            ConnectErrorKind::Resolve(ResolveError {
                name: "db.invalid".into(),
                kind: crate::resolve::ResolveErrorKind::NotFound,
            }),
            Vec::new(),
            Duration::from_millis(3),
        );
        let refused = ConnectError::new(
            "127.0.0.1:8080".into(),
            ConnectErrorKind::Failed(Outcome::Refused),
            vec![attempt(8080, Outcome::Refused)],
            Duration::from_millis(1),
        );
        for (err, sentence) in [
            (invalid, "port `99999` is out of range"),
            (
                resolve,
                "`db.invalid` did not resolve: the name does not exist",
            ),
            (refused, "connection refused by 127.0.0.1:8080"),
        ] {
            let said = chain(&err);
            assert_eq!(said.matches(sentence).count(), 1, "{said}");
            // And through `std::io::Error`, which code written for std gets.
            let said = chain(&io::Error::from(err));
            assert_eq!(said.matches(sentence).count(), 1, "{said}");
        }
    }

    fn unix_attempt(outcome: Outcome) -> Attempt {
        Attempt {
            address: Address::Unix(PathBuf::from("/run/app.sock")),
            ..attempt(0, outcome)
        }
    }

    #[test]
    fn the_cause_an_error_proves_alone() {
        let failed = |attempt: Attempt| {
            ConnectError::new(
                "t".into(),
                ConnectErrorKind::Failed(attempt.outcome),
                vec![attempt],
                Duration::from_millis(1),
            )
        };
        let cases = [
            (
                unix_attempt(Outcome::Other(Some(libc::ENOENT))),
                Some(Cause::SocketMissing),
            ),
            (
                unix_attempt(Outcome::Other(Some(libc::EPROTOTYPE))),
                Some(Cause::SocketMissing),
            ),
            (unix_attempt(Outcome::Refused), Some(Cause::SocketStale)),
            (
                unix_attempt(Outcome::PermissionDenied),
                Some(Cause::SocketPermissionDenied),
            ),
            (
                unix_attempt(Outcome::Other(Some(libc::EAGAIN))),
                Some(Cause::ListenQueueFull),
            ),
            (unix_attempt(Outcome::Other(Some(libc::EIO))), None),
            // A TCP refusal may be any of several causes: only a diagnosis tells.
            (attempt(80, Outcome::Refused), None),
            (attempt(80, Outcome::Timeout), None),
        ];
        for (attempt, cause) in cases {
            let outcome = attempt.outcome;
            assert_eq!(failed(attempt).cause(), cause, "{outcome:?}");
        }
        let not_a_socket = ConnectError::new(
            "t".into(),
            ConnectErrorKind::NotASocket(FileType::Directory),
            vec![unix_attempt(Outcome::Refused)],
            Duration::from_millis(1),
        );
        assert_eq!(not_a_socket.cause(), Some(Cause::SocketMissing));
        let resolve = ConnectError::new(
            "db.invalid:5432".into(),
            ConnectErrorKind::Resolve(ResolveError {
                name: "db.invalid".into(),
                kind: crate::resolve::ResolveErrorKind::NoAddress,
            }),
            Vec::new(),
            Duration::from_millis(1),
        );
        assert_eq!(resolve.cause(), Some(Cause::DnsNoAddress));
    }

    #[test]
    fn converts_to_io_error_with_the_right_kind() {
        let err = ConnectError::new(
            "x".into(),
            ConnectErrorKind::Failed(Outcome::Refused),
            vec![attempt(1, Outcome::Refused)],
            Duration::from_millis(1),
        );
        let io_err: io::Error = err.into();
        assert_eq!(io_err.kind(), io::ErrorKind::ConnectionRefused);
        let inner = io_err
            .get_ref()
            .and_then(|e| e.downcast_ref::<ConnectError>());
        assert_eq!(inner.map(ConnectError::attempts).map(<[_]>::len), Some(1));
    }

    #[test]
    fn unix_failures_keep_the_kernels_outcome_and_say_the_cause() {
        let unix = |outcome: Outcome, errno: Option<i32>| Attempt {
            address: Address::Unix(PathBuf::from("/run/app.sock")),
            outcome,
            errno,
            ..attempt(1, outcome)
        };
        let denied = ConnectError::new(
            "unix:///run/app.sock".into(),
            ConnectErrorKind::NotASocket(FileType::Directory),
            vec![unix(Outcome::PermissionDenied, Some(libc::EACCES))],
            Duration::ZERO,
        );
        assert_eq!(denied.outcome(), Some(Outcome::PermissionDenied));
        assert_eq!(denied.as_label(), "permission-denied");
        assert!(
            denied
                .to_string()
                .starts_with("/run/app.sock is a directory, not a socket (the connect was denied"),
            "{denied}"
        );
        assert_eq!(
            io::Error::from(denied).kind(),
            io::ErrorKind::PermissionDenied
        );

        let enoent = Outcome::Other(Some(libc::ENOENT));
        let missing = ConnectError::new(
            "unix:///run/app.sock".into(),
            ConnectErrorKind::Failed(enoent),
            vec![unix(enoent, Some(libc::ENOENT))],
            Duration::ZERO,
        );
        assert_eq!(missing.outcome(), Some(enoent));
        assert_eq!(missing.as_label(), "socket-missing");
        // Over TCP, the same errno is only `other`.
        let tcp = ConnectError::new(
            "127.0.0.1:1".into(),
            ConnectErrorKind::Failed(enoent),
            vec![attempt(1, enoent)],
            Duration::ZERO,
        );
        assert_eq!(tcp.as_label(), "other");

        // A full listen queue is said as one, as `why` says it (audit h19: "an unexpected
        // error"); a unix connect that times out waited on that queue, not on a lost packet.
        let eagain = Outcome::Other(Some(libc::EAGAIN));
        for (outcome, said) in [
            (
                eagain,
                "connection not accepted by /run/app.sock (its listen queue is full: the server does not accept connections fast enough), 1 attempt over 0.0 ms",
            ),
            (
                Outcome::Timeout,
                "connection timed out to /run/app.sock (its listen queue is full: the server does not accept connections), 1 attempt over 0.0 ms",
            ),
        ] {
            let full = ConnectError::new(
                "unix:///run/app.sock".into(),
                ConnectErrorKind::Failed(outcome),
                vec![unix(outcome, outcome.errno())],
                Duration::ZERO,
            );
            assert_eq!(full.cause(), Some(Cause::ListenQueueFull));
            assert_eq!(full.to_string(), said);
        }
    }

    #[test]
    fn human_durations() {
        assert_eq!(
            HumanDuration(Duration::from_micros(420)).to_string(),
            "0.4 ms"
        );
        assert_eq!(
            HumanDuration(Duration::from_millis(12)).to_string(),
            "12 ms"
        );
        assert_eq!(
            HumanDuration(Duration::from_millis(1234)).to_string(),
            "1.2 s"
        );
    }
}
