//! The classified connect: resolve, race the addresses (happy eyeballs), retry with backoff, and
//! keep every attempt so a failure can say exactly what happened.

mod backoff;
pub mod blocking;
mod error;
pub(crate) mod eyeballs;
mod icmp;

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use socket2::Socket;
use tokio::net::{TcpStream, UnixStream};
use tokio::time::Instant;

pub use backoff::{Backoff, Delays, Jitter, RetryPolicy};
pub use error::{Address, Attempt, ConnectError, ConnectErrorKind, HumanDuration, as_millis};
use eyeballs::Waiting;
pub use eyeballs::{ATTEMPT_DELAY, interleave};
pub use icmp::{IcmpError, IcmpVersion};
pub(crate) use icmp::{IcmpErrors, IcmpMeaning};

use crate::outcome::Outcome;
use crate::resolve::{ResolveError, ResolveErrorKind, resolve};
use crate::sys::unix_path::{self, FileType, Lookup};
use crate::target::{Endpoint, Target};

/// A connection made, with the attempts it took.
#[derive(Debug)]
pub struct Connected<S> {
    /// The connected stream.
    pub stream: S,
    /// Every attempt that finished, the successful one last.
    pub attempts: Vec<Attempt>,
    /// From the start to the connection.
    pub elapsed: Duration,
}

impl<S> Connected<S> {
    /// Converts the stream, keeping the record; a failed conversion becomes a `ConnectError`
    /// of the last attempt's address, its outcome the conversion's errno (as a connect's
    /// would be). Bindings that hand the stream on as another type (tokio's as the standard
    /// library's, in blocking mode) keep the attempts and a typed error this way.
    pub fn try_map<T>(
        self,
        convert: impl FnOnce(S) -> std::io::Result<T>,
    ) -> Result<Connected<T>, ConnectError> {
        let Self {
            stream,
            attempts,
            elapsed,
        } = self;
        match convert(stream) {
            Ok(stream) => Ok(Connected {
                stream,
                attempts,
                elapsed,
            }),
            Err(err) => Err(ConnectError::new(
                attempts
                    .last()
                    .map(|a| a.address.to_string())
                    .unwrap_or_default(),
                ConnectErrorKind::Failed(Outcome::from_io_error(&err)),
                attempts,
                elapsed,
            )),
        }
    }

    /// The address that answered.
    pub fn address(&self) -> Option<&Address> {
        self.attempts.last().map(|a| &a.address)
    }
}

/// What a failed connect names: the target as written, or the first of the addresses given.
/// An address is written out only for an error: formatting it on every connect would cost more
/// than a system call.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Label<'a> {
    Text(&'a str),
    Address(Option<SocketAddr>),
}

impl fmt::Display for Label<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Text(text) => f.write_str(text),
            Self::Address(Some(addr)) => addr.fmt(f),
            Self::Address(None) => Ok(()),
        }
    }
}

/// A first try made before [`Dialer::dial_with`] (in the calling thread), and how it failed.
#[derive(Debug)]
pub(crate) struct Tried {
    /// When the connect started.
    start: Instant,
    /// The first try's attempts.
    attempts: Vec<Attempt>,
    /// What the try ended in.
    outcome: Outcome,
}

/// Connects to targets with happy eyeballs, timeouts and a retry policy.
///
/// ```no_run
/// # async fn demo() -> Result<(), refused::ConnectError> {
/// use std::time::Duration;
/// let dialer = refused::Dialer::new().attempt_timeout(Duration::from_secs(1));
/// let target = "localhost:5432".parse().expect("valid target");
/// let connected = dialer.dial(&target).await?;
/// println!("connected to {:?}", connected.address());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Dialer {
    attempt_timeout: Duration,
    deadline: Option<Duration>,
    attempt_delay: Duration,
    retry: RetryPolicy,
    /// Crate-private: only the diagnosis reads the ICMP error behind a failure (see
    /// [`IcmpErrors`]).
    icmp: IcmpErrors,
}

impl Default for Dialer {
    fn default() -> Self {
        Self::new()
    }
}

impl Dialer {
    /// Three-second attempts, no overall deadline, 250 ms between address attempts, and the
    /// default retry policy (three tries, refused and timeout retried).
    pub fn new() -> Self {
        Self {
            attempt_timeout: Duration::from_secs(3),
            deadline: None,
            attempt_delay: ATTEMPT_DELAY,
            retry: RetryPolicy::default(),
            icmp: IcmpErrors::Ignore,
        }
    }

    /// The default dialer, made once: `connect(&str)` would otherwise build and drop one (and
    /// its retry policy's list) on every call.
    pub(crate) fn shared() -> &'static Self {
        static SHARED: std::sync::LazyLock<Dialer> = std::sync::LazyLock::new(Dialer::new);
        &SHARED
    }

    /// Each attempt to one address gives up after this long.
    #[must_use]
    pub const fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout;
        self
    }

    /// The whole connect (resolution, every attempt, every backoff) gives up after this long.
    #[must_use]
    pub const fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// The wait before racing the next address (RFC 8305 allows 100 ms to 2 s; at least 10 ms).
    #[must_use]
    pub fn attempt_delay(mut self, delay: Duration) -> Self {
        self.attempt_delay = delay.clamp(Duration::from_millis(10), Duration::from_secs(2));
        self
    }

    /// When and how to try again.
    #[must_use]
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Reads the ICMP error behind each failed attempt into [`Attempt::icmp`]: for the
    /// diagnosis's own probes, whose sockets are dropped after the attempt (on a stream handed
    /// to a user, `IP_RECVERR` would make a later stray ICMP error fatal).
    #[must_use]
    pub(crate) const fn reading_icmp_errors(mut self) -> Self {
        self.icmp = IcmpErrors::Read;
        self
    }

    /// Connects to a TCP target (any scheme but `unix`).
    pub async fn dial(&self, target: &Target) -> Result<Connected<TcpStream>, ConnectError> {
        self.dial_socket(target, Waiting::Reactor)
            .await
            .and_then(register)
    }

    /// Connects to one of the given addresses, as if a resolver had returned them in this order.
    pub async fn dial_addrs(
        &self,
        addrs: &[SocketAddr],
    ) -> Result<Connected<TcpStream>, ConnectError> {
        self.dial_addrs_socket(addrs, Waiting::Reactor)
            .await
            .and_then(register)
    }

    /// [`Dialer::dial_addrs`] for either facade: the socket, left as `waiting` wants it.
    pub(crate) async fn dial_addrs_socket(
        &self,
        addrs: &[SocketAddr],
        waiting: Waiting,
    ) -> Result<Connected<Socket>, ConnectError> {
        let label = Label::Address(addrs.first().copied());
        self.dial_given(label, addrs, waiting, None).await
    }

    pub(crate) async fn dial_socket(
        &self,
        target: &Target,
        waiting: Waiting,
    ) -> Result<Connected<Socket>, ConnectError> {
        let Endpoint::Tcp { host, port } = target.endpoint() else {
            return Err(ConnectError::new(
                target.to_string(),
                ConnectErrorKind::NotTcp,
                Vec::new(),
                Duration::ZERO,
            ));
        };
        let label = Label::Text(target.as_str());
        if let Some(addrs) = target.pinned() {
            return self.dial_given(label, addrs, waiting, None).await;
        }
        if let Some(addr) = host.socket_addr(*port) {
            // A literal: the resolver would answer it at once, but with a vector to allocate.
            return self.dial_given(label, &[addr], waiting, None).await;
        }
        self.dial_with(label, waiting, || resolve(host, *port), None)
            .await
    }

    /// [`Dialer::dial_with`] for addresses known beforehand (given, pinned, or a literal's):
    /// every such connect shares this one copy of the loop, so a program that connects in
    /// several of these ways keeps less of it in its caches.
    pub(crate) async fn dial_given(
        &self,
        label: Label<'_>,
        addrs: &[SocketAddr],
        waiting: Waiting,
        tried: Option<Tried>,
    ) -> Result<Connected<Socket>, ConnectError> {
        self.dial_with(label, waiting, || async { Ok(addrs) }, tried)
            .await
    }

    /// The first try at one address, connected in the calling thread, with no runtime entered:
    /// the blocking facade's common case (an address literal, or one address given). A failure
    /// comes back as what [`Dialer::dial_with`] goes on from, so the retries and their record
    /// are the same as if the whole connect had run there.
    pub(crate) fn first_try_in_thread(&self, addr: SocketAddr) -> Result<Connected<Socket>, Tried> {
        let start = Instant::now();
        let mut attempts = Vec::with_capacity(1);
        match self
            .race(start, 1, Waiting::Thread)
            .run_in_thread(addr, start, &mut attempts)
        {
            Ok(stream) => Ok(Connected {
                stream,
                elapsed: connected_after(&attempts),
                attempts,
            }),
            Err(outcome) => Err(Tried {
                start,
                attempts,
                outcome,
            }),
        }
    }

    /// [`Dialer::first_try_in_thread`] for a caller that wants the stream alone: a success
    /// allocates nothing (no record of its attempt).
    pub(crate) fn first_stream_in_thread(&self, addr: SocketAddr) -> Result<Socket, Tried> {
        let start = Instant::now();
        self.race(start, 1, Waiting::Thread)
            .stream_in_thread(addr, start)
            .map_err(|(attempts, outcome)| Tried {
                start,
                attempts,
                outcome,
            })
    }

    fn race(&self, start: Instant, try_number: u32, waiting: Waiting) -> eyeballs::Race {
        eyeballs::Race {
            start,
            deadline: self.deadline.map(|d| start + d),
            attempt_timeout: self.attempt_timeout,
            attempt_delay: self.attempt_delay,
            try_number,
            waiting,
            icmp: self.icmp,
        }
    }

    /// Resolve, race, retry. `lookup` answers the addresses of each try (a resolver's, or ones
    /// given, borrowed); `tried`: the first try was made already (and failed).
    pub(crate) async fn dial_with<F, Fut, A>(
        &self,
        label: Label<'_>,
        waiting: Waiting,
        mut lookup: F,
        tried: Option<Tried>,
    ) -> Result<Connected<Socket>, ConnectError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<A, ResolveError>>,
        A: AsRef<[SocketAddr]>,
    {
        let (start, mut attempts, mut failed_first) = match tried {
            Some(Tried {
                start,
                attempts,
                outcome,
            }) => (start, attempts, Some(outcome)),
            // Room for the one attempt most connects make: a small allocation, where the
            // vector's first growth would make room for four.
            None => (Instant::now(), Vec::with_capacity(1), None),
        };
        let deadline = self.deadline.map(|d| start + d);
        // Drawn on the first retry only: seeding a generator is wasted on the common success.
        let mut delays = None;
        let mut try_number = 1;
        let fail =
            |kind, attempts| ConnectError::new(label.to_string(), kind, attempts, start.elapsed());
        loop {
            if let Some(outcome) = failed_first.take() {
                let (kind, retry) = (
                    ConnectErrorKind::Failed(outcome),
                    self.retry.retries(outcome),
                );
                if !self.again(&mut delays, retry, try_number, deadline).await {
                    return Err(fail(kind, attempts));
                }
                try_number += 1;
                continue;
            }
            let resolved = match deadline {
                // The deadline ran out while resolving: the resolver did not answer in time.
                Some(at) => tokio::time::timeout_at(at, lookup())
                    .await
                    .unwrap_or_else(|_| {
                        Err(ResolveError {
                            name: label.to_string(),
                            kind: ResolveErrorKind::Timeout,
                        })
                    }),
                None => lookup().await,
            };
            let (kind, retry) = match resolved {
                Err(err) => {
                    let retry = self.retry.retries_dns(err.kind);
                    (ConnectErrorKind::Resolve(err), retry)
                }
                Ok(addrs) => {
                    let race = self.race(start, try_number, waiting);
                    match race.run(addrs.as_ref(), &mut attempts).await {
                        Ok(stream) => {
                            return Ok(Connected {
                                stream,
                                elapsed: connected_after(&attempts),
                                attempts,
                            });
                        }
                        Err(outcome) => (
                            ConnectErrorKind::Failed(outcome),
                            self.retry.retries(outcome),
                        ),
                    }
                }
            };
            if !self.again(&mut delays, retry, try_number, deadline).await {
                return Err(fail(kind, attempts));
            }
            try_number += 1;
        }
    }

    /// After a failed try: whether to try again, having slept the backoff if so.
    async fn again(
        &self,
        delays: &mut Option<Delays<rand::rngs::StdRng>>,
        retry: bool,
        try_number: u32,
        deadline: Option<Instant>,
    ) -> bool {
        let delay = delays
            .get_or_insert_with(|| self.retry.backoff.delays())
            .next()
            .unwrap_or_default();
        let out_of_time = deadline.is_some_and(|at| Instant::now() + delay >= at);
        if !retry || try_number >= self.retry.max_tries.max(1) || out_of_time {
            return false;
        }
        tokio::time::sleep(delay).await;
        true
    }

    /// Connects to a unix stream socket, once (a missing or stale socket does not heal by itself
    /// within a connect's time frame; waiting for it is `wait`'s job).
    pub async fn dial_unix(&self, path: &Path) -> Result<Connected<UnixStream>, ConnectError> {
        let start = Instant::now();
        let limit = self
            .deadline
            .map_or(self.attempt_timeout, |d| d.min(self.attempt_timeout));
        let result = match tokio::time::timeout(limit, UnixStream::connect(path)).await {
            Ok(result) => result,
            Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
        };
        let (outcome, errno) = match &result {
            Ok(_) => (Outcome::Connected, None),
            Err(err) => (Outcome::from_io_error(err), err.raw_os_error()),
        };
        let attempts = vec![Attempt {
            address: Address::Unix(path.to_owned()),
            outcome,
            errno,
            started: Duration::ZERO,
            elapsed: start.elapsed(),
            try_number: 1,
            icmp: None,
            local_port: None,
        }];
        match result {
            Ok(stream) => Ok(Connected {
                stream,
                attempts,
                elapsed: start.elapsed(),
            }),
            Err(_) => Err(ConnectError::new(
                path.display().to_string(),
                unix_failure(path, outcome),
                attempts,
                start.elapsed(),
            )),
        }
    }
}

/// The address of a target written as a socket address literal (`127.0.0.1:8080`,
/// `[::1]:6379`), read as std reads it: about 20 ns, where parsing a [`Target`] takes 90 to 150,
/// a measurable part of a loopback connect. The address is the one the [`Target`] would give.
/// Anything else (a name, a URL, a zone, port 0, which the [`Target`] parser rejects with its
/// reason) is `None`, left to that parser.
pub(crate) fn socket_addr_literal(text: &str) -> Option<SocketAddr> {
    let addr: SocketAddr = text.parse().ok()?;
    (addr.port() != 0 && !text.contains('%')).then_some(addr)
}

/// How long a connect took, read off its record (the winning attempt's end, counted from the
/// connect's start) rather than from the clock once more.
fn connected_after(attempts: &[Attempt]) -> Duration {
    attempts
        .last()
        .map_or(Duration::ZERO, |won| won.started + won.elapsed)
}

/// Parses a target given as text, as a `ConnectError` when it does not parse.
pub(crate) fn parse_target(text: &str) -> Result<Target, ConnectError> {
    text.parse().map_err(|err| {
        ConnectError::new(
            text.to_owned(),
            ConnectErrorKind::InvalidTarget(err),
            Vec::new(),
            Duration::ZERO,
        )
    })
}

/// Why a unix connect failed: a refusal by a file that is not a socket says more than the
/// refusal (the kernel refuses those too, and no server will ever listen there), and so does a
/// denial (`EACCES`: a user who may not write the file is denied before the kernel looks for a
/// socket). Looked at only after a failure, so the success path costs nothing.
fn unix_failure(path: &Path, outcome: Outcome) -> ConnectErrorKind {
    if matches!(outcome, Outcome::Refused | Outcome::PermissionDenied) {
        if let Lookup::Found(metadata) = unix_path::lookup(path) {
            let file_type = FileType::of(&metadata);
            if file_type != FileType::Socket {
                return ConnectErrorKind::NotASocket(file_type);
            }
        }
    }
    ConnectErrorKind::Failed(outcome)
}

/// Hands a connected socket to tokio's reactor: the one registration (`epoll_ctl`) an async
/// connect that succeeds at once makes.
fn register(connected: Connected<Socket>) -> Result<Connected<TcpStream>, ConnectError> {
    connected.try_map(|socket| TcpStream::from_std(std::net::TcpStream::from(socket)))
}

/// Connects to a TCP target given as text (`localhost:5432`, `[::1]:6379`, `http://web:8080`)
/// with the default [`Dialer`]: happy eyeballs, 3 s attempts, three tries.
pub async fn connect(target: &str) -> Result<TcpStream, ConnectError> {
    let dialer = Dialer::shared();
    if let Some(addr) = socket_addr_literal(target) {
        return dialer
            .dial_given(Label::Text(target), &[addr], Waiting::Reactor, None)
            .await
            .and_then(register)
            .map(|c| c.stream);
    }
    let parsed = parse_target(target)?;
    dialer.dial(&parsed).await.map(|c| c.stream)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[tokio::test(start_paused = true)]
    async fn nxdomain_is_not_retried_but_a_resolver_timeout_is() {
        for (kind, expected_calls) in [
            (ResolveErrorKind::NotFound, 1),
            (ResolveErrorKind::NoAddress, 1),
            (ResolveErrorKind::Timeout, 3),
        ] {
            let calls = Cell::new(0);
            let dialer = Dialer::new().retry(RetryPolicy::tries(3));
            let err = dialer
                .dial_with(
                    Label::Text("x.test:80"),
                    Waiting::Reactor,
                    || {
                        calls.set(calls.get() + 1);
                        async move {
                            Err::<Vec<SocketAddr>, _>(ResolveError {
                                name: "x.test".into(),
                                kind,
                            })
                        }
                    },
                    None,
                )
                .await
                .unwrap_err();
            assert_eq!(calls.get(), expected_calls, "{kind:?}");
            assert_eq!(err.as_label(), kind.as_label());
            assert!(err.attempts().is_empty());
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_resolver_slower_than_the_deadline_is_a_dns_failure() {
        let dialer = Dialer::new().deadline(Duration::from_secs(1));
        let err = dialer
            .dial_with(
                Label::Text("slow.test:80"),
                Waiting::Reactor,
                || async {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    Ok(Vec::<SocketAddr>::new())
                },
                None,
            )
            .await
            .unwrap_err();
        assert_eq!(err.as_label(), "dns-failure");
        assert_eq!(err.elapsed(), Duration::from_secs(1));
    }

    #[test]
    fn a_socket_address_literal_is_the_address_its_target_names() {
        for text in [
            "127.0.0.1:80",
            "10.0.0.1:065",
            "[::1]:6379",
            "[2001:db8::1]:443",
            "[::ffff:192.0.2.1]:8080",
        ] {
            let target = parse_target(text).unwrap();
            let Endpoint::Tcp { host, port } = target.endpoint() else {
                panic!("{text} is not TCP");
            };
            assert_eq!(socket_addr_literal(text), host.socket_addr(*port), "{text}");
            assert_eq!(target.as_str(), text);
        }
        // Left to the target parser: a name, a URL, a port it rejects, a zone (a name or an
        // index), space around the text.
        for text in [
            "localhost:80",
            "tcp://127.0.0.1:80",
            "127.0.0.1:0",
            "[fe80::1%1]:80",
            " 127.0.0.1:80",
            "127.0.0.1",
        ] {
            assert_eq!(socket_addr_literal(text), None, "{text}");
        }
    }
}
