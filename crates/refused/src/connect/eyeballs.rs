//! Happy eyeballs (RFC 8305): race the addresses of one try, keeping a record of each attempt.
//!
//! Addresses are interleaved by family, starting with the family the resolver put first; the next
//! attempt starts when the previous one fails or after the connection attempt delay (250 ms),
//! whichever comes first; the first connection wins and the others are dropped, which closes their
//! sockets. Unlike hyper-util's connector (RFC 6555 style) or the `happy-eyeballs` crate, every
//! finished attempt is recorded, because the diagnosis needs all of them.

use std::io;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::error::{Address, Attempt};
use super::icmp::{self, IcmpError, IcmpErrors};
use crate::outcome::Outcome;

/// RFC 8305 §8: the recommended connection attempt delay.
pub const ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// The timing of one race.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Race {
    /// When the whole connect started; attempts record their start relative to it.
    pub start: Instant,
    /// No attempt goes on past this.
    pub deadline: Option<Instant>,
    /// Each attempt's own time limit.
    pub attempt_timeout: Duration,
    /// The wait before starting the next address while the previous is still pending.
    pub attempt_delay: Duration,
    /// The retry policy's try this race belongs to, for the record.
    pub try_number: u32,
    /// How a lone address is waited for. With `Thread` the socket comes back in blocking mode.
    pub waiting: Waiting,
    /// Whether a failed attempt reads the ICMP error behind it (the diagnosis's probes only).
    pub icmp: IcmpErrors,
}

/// A failed attempt: its error, and the ICMP error behind it when the race reads those.
#[derive(Debug)]
struct Failure {
    err: io::Error,
    icmp: Option<IcmpError>,
    /// Our end's port, read with the ICMP error.
    local_port: Option<u16>,
}

impl From<io::Error> for Failure {
    fn from(err: io::Error) -> Self {
        Self {
            err,
            icmp: None,
            local_port: None,
        }
    }
}

impl Failure {
    /// `err` ended the attempt on `socket`: with the ICMP error queued on it, read now, before
    /// the socket is dropped and its queue with it.
    fn of(err: io::Error, socket: &Socket, icmp: IcmpErrors) -> Self {
        let (icmp, local_port) = match icmp {
            IcmpErrors::Read => (
                icmp::read(socket),
                socket
                    .local_addr()
                    .ok()
                    .and_then(|a| a.as_socket())
                    .map(|a| a.port()),
            ),
            IcmpErrors::Ignore => (None, None),
        };
        Self {
            err,
            icmp,
            local_port,
        }
    }
}

/// How a connect waits for the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Waiting {
    /// On the tokio reactor: the only choice for async callers.
    Reactor,
    /// In the calling thread, for the blocking facade, which owns it: a lone address needs no
    /// reactor (`poll()` waits for a handshake that takes a round trip), and every socket comes
    /// back in blocking mode.
    Thread,
}

/// Orders addresses as RFC 8305 §4 asks: alternate families, first family first.
pub fn interleave(addrs: &[SocketAddr]) -> Vec<SocketAddr> {
    let Some(first) = addrs.first() else {
        return Vec::new();
    };
    let (mut preferred, mut other): (Vec<SocketAddr>, Vec<SocketAddr>) =
        addrs.iter().partition(|a| a.is_ipv4() == first.is_ipv4());
    preferred.reverse();
    other.reverse();
    let mut ordered = Vec::with_capacity(addrs.len());
    loop {
        match (preferred.pop(), other.pop()) {
            (None, None) => return ordered,
            (a, b) => ordered.extend(a.into_iter().chain(b)),
        }
    }
}

impl Race {
    /// Races `addrs`; on failure returns the most telling outcome among the attempts.
    pub async fn run(
        &self,
        addrs: &[SocketAddr],
        attempts: &mut Vec<Attempt>,
    ) -> Result<Socket, Outcome> {
        if let [only] = addrs {
            // One address: no race, no task set, no ordering, so the common case costs no more
            // than a connect.
            return match self.waiting {
                Waiting::Reactor => {
                    let (started, result) = self.attempt(*only).await;
                    self.record(attempts, *only, started, result)
                }
                Waiting::Thread => self.run_in_thread(*only, Instant::now(), attempts),
            };
        }
        let order = interleave(addrs);
        let mut pending = FuturesUnordered::new();
        let mut next = order.iter();
        let mut next_start = Instant::now();
        let mut worst: Option<Outcome> = None;
        loop {
            let now = Instant::now();
            if now >= next_start || pending.is_empty() {
                if let Some(addr) = next.next() {
                    let addr = *addr;
                    pending.push(async move { (addr, self.attempt(addr).await) });
                    next_start = now + self.attempt_delay;
                    continue;
                }
                if pending.is_empty() {
                    return Err(worst.unwrap_or(Outcome::Timeout));
                }
            }
            let more_to_start = next.len() > 0;
            tokio::select! {
                Some((addr, (started, result))) = pending.next() => {
                    match self.record(attempts, addr, started, result) {
                        Ok(stream) => return Ok(stream),
                        Err(outcome) => {
                            if worst.is_none_or(|w| outcome.rank() > w.rank()) {
                                worst = Some(outcome);
                            }
                            // A failure starts the next attempt at once (RFC 8305 §5).
                            next_start = Instant::now();
                        }
                    }
                }
                () = tokio::time::sleep_until(next_start), if more_to_start => {}
            }
        }
    }

    /// One address, connected in the calling thread (`Waiting::Thread`): no reactor, no task.
    /// `started`: now, or the connect's start when nothing came before this attempt (one clock
    /// read fewer).
    pub fn run_in_thread(
        &self,
        addr: SocketAddr,
        started: Instant,
        attempts: &mut Vec<Attempt>,
    ) -> Result<Socket, Outcome> {
        let result = self.attempt_blocking(addr, started);
        self.record(attempts, addr, started, result)
    }

    /// [`Race::run_in_thread`] for a caller that keeps no record of a success (it returns the
    /// stream alone): the attempt is recorded, in a vector made then, only when it fails.
    pub fn stream_in_thread(
        &self,
        addr: SocketAddr,
        started: Instant,
    ) -> Result<Socket, (Vec<Attempt>, Outcome)> {
        self.attempt_blocking(addr, started).map_err(|failure| {
            let outcome = Outcome::from_io_error(&failure.err);
            let attempt = self.attempt_of(addr, started, outcome, &failure);
            (vec![attempt], outcome)
        })
    }

    fn limit(&self, started: Instant) -> Instant {
        let limit = started + self.attempt_timeout;
        self.deadline.map_or(limit, |deadline| limit.min(deadline))
    }

    async fn attempt(&self, addr: SocketAddr) -> (Instant, Result<Socket, Failure>) {
        let started = Instant::now();
        // The timer is made only for a connect that did not finish in the call.
        let icmp = self.icmp.toward(addr);
        let result = match connect_one(addr, icmp) {
            Ok(Connecting::Done(socket)) => Ok(socket),
            Ok(Connecting::InProgress(socket)) => {
                handshake(socket, addr, self.limit(started), icmp).await
            }
            Err(failure) => Err(failure),
        };
        let result = match self.waiting {
            Waiting::Reactor => result,
            // The race's sockets are non-blocking; a blocking caller gets its stream blocking.
            Waiting::Thread => result.and_then(|socket| Ok(into_blocking(socket)?)),
        };
        (started, result)
    }

    /// [`Race::attempt`] without the reactor, for a caller that owns the thread: a handshake
    /// that takes a round trip is waited for with `poll()`, bounded by the attempt's limit.
    fn attempt_blocking(&self, addr: SocketAddr, started: Instant) -> Result<Socket, Failure> {
        let icmp = self.icmp.toward(addr);
        let socket = match connect_one(addr, icmp)? {
            Connecting::Done(socket) => socket,
            Connecting::InProgress(socket) => {
                match wait_in_thread(&socket, addr, self.limit(started)) {
                    Ok(()) => made(socket, addr, icmp)?,
                    Err(err) => return Err(Failure::of(err, &socket, icmp)),
                }
            }
        };
        Ok(into_blocking(socket)?)
    }

    fn record(
        &self,
        attempts: &mut Vec<Attempt>,
        addr: SocketAddr,
        started: Instant,
        result: Result<Socket, Failure>,
    ) -> Result<Socket, Outcome> {
        match result {
            Ok(socket) => {
                attempts.push(self.attempt_of(addr, started, Outcome::Connected, None));
                Ok(socket)
            }
            Err(failure) => {
                let outcome = Outcome::from_io_error(&failure.err);
                attempts.push(self.attempt_of(addr, started, outcome, &failure));
                Err(outcome)
            }
        }
    }

    /// The record of an attempt at `addr` that started at `started` and just ended so
    /// (`failure`: how, when it failed).
    fn attempt_of<'a>(
        &self,
        addr: SocketAddr,
        started: Instant,
        outcome: Outcome,
        failure: impl Into<Option<&'a Failure>>,
    ) -> Attempt {
        let failure = failure.into();
        Attempt {
            address: Address::Inet(addr),
            outcome,
            errno: failure.and_then(|f| f.err.raw_os_error()),
            started: started.duration_since(self.start),
            elapsed: started.elapsed(),
            try_number: self.try_number,
            icmp: failure.and_then(|f| f.icmp),
            local_port: failure.and_then(|f| f.local_port),
        }
    }
}

/// A connect started: finished in the call, or still going.
enum Connecting {
    Done(Socket),
    InProgress(Socket),
}

/// Starts a connect. On loopback the handshake has usually completed by the time `connect()`
/// returns `EINPROGRESS`, so the socket is asked once before anything is registered with the
/// reactor or a timer is armed: the common case then costs one call more than a blocking
/// connect, which keeps `connect()` close to `std::net::TcpStream::connect`.
fn connect_one(addr: SocketAddr, icmp: IcmpErrors) -> Result<Connecting, Failure> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking(),
        Some(Protocol::TCP),
    )?;
    if icmp == IcmpErrors::Read {
        icmp::ask(&socket, addr)?;
    }
    // rustix's `connect` is the system call alone: libc's wraps it as a cancellation point.
    // An error here is this host's own (no route, no port): nothing was sent, nothing answered.
    match rustix::net::connect(&socket, &addr) {
        Ok(()) => return Ok(Connecting::Done(made(socket, addr, icmp)?)),
        Err(Errno::INPROGRESS) => {}
        Err(err) => return Err(io::Error::from(err).into()),
    }
    match connected_now(&socket, addr) {
        Some(Ok(())) => Ok(Connecting::Done(made(socket, addr, icmp)?)),
        Some(Err(err)) => Err(Failure::of(err, &socket, icmp)),
        None => Ok(Connecting::InProgress(socket)),
    }
}

/// A socket whose connect succeeded: it no longer queues ICMP errors, if it did (see
/// [`icmp::stop`]). Unless the kernel connected it to itself: refused, as nothing listens there.
fn made(socket: Socket, addr: SocketAddr, icmp: IcmpErrors) -> Result<Socket, Failure> {
    if may_connect_to_itself(addr.port())
        && is_connected_to_itself(&socket2::SockRef::from(&socket), addr.port())
    {
        // Closed with a reset: a TIME_WAIT would hold the port, and the next connect would find
        // no local port free where the range is that one port.
        let _ = socket.set_linger(Some(Duration::ZERO));
        return Err(Failure::from(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            ConnectedToItself,
        )));
    }
    if icmp == IcmpErrors::Read {
        icmp::stop(&socket, addr);
    }
    Ok(socket)
}

/// Why a connect that the kernel completed is taken for a refusal: the socket was given the
/// port it connected to as its own (the port is in the ephemeral range and nothing listens
/// there), and TCP's simultaneous open joined it to itself. Every byte written comes back; a
/// client that took it for a server would wait for an answer that never comes, and `wait`
/// would call a port ready that no program serves.
#[derive(Debug, thiserror::Error)]
#[error("the kernel connected the socket to itself: nothing listens on the port")]
pub(crate) struct ConnectedToItself;

/// Whether a connect to `port` can be given `port` as its own local port: the port is in the
/// ephemeral range. The range is read once a process (the first connect's namespace's), so that
/// a connect to any other port, which is nearly every server's, costs no `getsockname` (3-5% of
/// a loopback connect); widened to the kernel's default (`32768-60999`), which every namespace
/// starts with, so that a connect from a thread in another namespace is checked too unless that
/// namespace set a range of its own. Where it cannot be read, every port is checked.
fn may_connect_to_itself(port: u16) -> bool {
    static RANGE: OnceLock<Option<(u16, u16)>> = OnceLock::new();
    RANGE
        .get_or_init(|| {
            let (default_low, default_high) = crate::sys::host::DEFAULT_EPHEMERAL_PORTS;
            crate::sys::host::ephemeral_ports()
                .map(|(low, high)| (low.min(default_low), high.max(default_high)))
        })
        .is_none_or(|(low, high)| (low..=high).contains(&port))
}

/// Whether a connected socket is connected to itself (TCP simultaneous open: its local address
/// is its peer's), `port` being the port it connected to. One `getsockname` when it is not.
pub(crate) fn is_connected_to_itself(socket: &socket2::SockRef<'_>, port: u16) -> bool {
    let Some(local) = socket.local_addr().ok().and_then(|a| a.as_socket()) else {
        return false;
    };
    // The peer is asked only then: the address connected to may not be the kernel's (a
    // connect to `0.0.0.0` reaches 127.0.0.1).
    local.port() == port
        && socket
            .peer_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .is_some_and(|peer| peer.ip() == local.ip())
}

/// Waits on the reactor, until `limit`, for a handshake that takes a real round trip. The
/// socket goes back to a plain one afterwards, registration being the caller's choice
/// (blocking callers have none); a failure's ICMP error is read before the socket is dropped.
async fn handshake(
    socket: Socket,
    addr: SocketAddr,
    limit: Instant,
    icmp: IcmpErrors,
) -> Result<Socket, Failure> {
    let stream = TcpStream::from_std(std::net::TcpStream::from(socket))?;
    let err = match tokio::time::timeout_at(limit, connected(&stream, addr)).await {
        Ok(Ok(())) => return made(stream.into_std().map(Socket::from)?, addr, icmp),
        Ok(Err(err)) => err,
        Err(_) => io::ErrorKind::TimedOut.into(),
    };
    Err(Failure::of(err, &socket2::SockRef::from(&stream), icmp))
}

/// Waits on the reactor until the handshake of `stream` ends.
async fn connected(stream: &TcpStream, addr: SocketAddr) -> io::Result<()> {
    loop {
        stream.writable().await?;
        // A wakeup that ends nothing clears the readiness, so the next await waits for the
        // next event instead of returning at once (a busy loop that starved the timers).
        match stream.try_io(tokio::io::Interest::WRITABLE, || {
            still_connecting(&socket2::SockRef::from(stream), addr)
        }) {
            Ok(done) => return done,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
            Err(err) => return Err(err),
        }
    }
}

/// After a wakeup: how the handshake ended, or `WouldBlock` while it goes on. An ICMP error
/// for the SYN (admin-prohibited from a router) can leave the socket's error pending while it
/// stays in `SYN_SENT` until a retransmission draws a second one (Linux 6.x): `connect()` then
/// says `EALREADY`, and the pending error, which is what woke the socket, is the answer.
fn still_connecting(socket: &Socket, addr: SocketAddr) -> io::Result<io::Result<()>> {
    match connected_now(socket, addr) {
        Some(done) => Ok(done),
        None => match socket.take_error()? {
            Some(err) => Ok(Err(err)),
            None => Err(io::ErrorKind::WouldBlock.into()),
        },
    }
}

/// Waits in this thread, with `poll()`, for a handshake that takes a real round trip; past
/// `limit` it is a timeout.
fn wait_in_thread(socket: &Socket, addr: SocketAddr, limit: Instant) -> io::Result<()> {
    loop {
        let left = limit.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        // A limit too far to express is no limit worth keeping.
        let timeout = Timespec::try_from(left).ok();
        let mut fds = [PollFd::new(socket, PollFlags::OUT)];
        match rustix::event::poll(&mut fds, timeout.as_ref()) {
            Ok(0) => return Err(io::ErrorKind::TimedOut.into()),
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(err) => return Err(err.into()),
        }
        match still_connecting(socket, addr) {
            Ok(done) => return done,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
            Err(err) => return Err(err),
        }
    }
}

/// Whether a non-blocking connect has finished, asked by connecting again: Linux answers `0`
/// (or `EISCONN`) once connected, `EALREADY` while the handshake goes on, and the error that
/// ended it otherwise. One call for every answer, where `poll()` or [`finished`] take a second
/// (the pending error, the peer's address) for some. Only after `EINPROGRESS`: on a socket whose
/// connect failed, a connect starts a new one.
fn connected_now(socket: &Socket, addr: SocketAddr) -> Option<io::Result<()>> {
    match rustix::net::connect(socket, &addr) {
        Ok(()) | Err(Errno::ISCONN) => Some(Ok(())),
        Err(Errno::ALREADY | Errno::INPROGRESS) => None,
        Err(err) => Some(Err(err.into())),
    }
}

/// A connected socket in blocking mode, as the blocking facade's callers expect it: one
/// `ioctl`, where clearing the flag through `fcntl` reads the flags first.
fn into_blocking(socket: Socket) -> io::Result<Socket> {
    rustix::io::ioctl_fionbio(&socket, false)?;
    Ok(socket)
}

/// Whether a non-blocking connect has finished: `Some(Ok)` connected, `Some(Err)` failed with the
/// socket's pending error, `None` still in progress.
pub(crate) fn finished(socket: &socket2::SockRef<'_>) -> Option<io::Result<()>> {
    match socket.take_error() {
        Ok(Some(err)) | Err(err) => return Some(Err(err)),
        Ok(None) => {}
    }
    match socket.peer_addr() {
        Ok(_) => Some(Ok(())),
        Err(err) if err.raw_os_error() == Some(libc::ENOTCONN) => None,
        Err(err) => Some(Err(err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    fn v4(last: u8) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, last)), 80)
    }

    fn v6(last: u16) -> SocketAddr {
        SocketAddr::new(
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, last)),
            80,
        )
    }

    #[test]
    fn interleaves_families_starting_with_the_first() {
        assert_eq!(
            interleave(&[v6(1), v6(2), v6(3), v4(1), v4(2)]),
            [v6(1), v4(1), v6(2), v4(2), v6(3)]
        );
        assert_eq!(interleave(&[v4(1), v4(2), v6(1)]), [v4(1), v6(1), v4(2)]);
        assert_eq!(interleave(&[v4(1)]), [v4(1)]);
        assert!(interleave(&[]).is_empty());
    }
}
