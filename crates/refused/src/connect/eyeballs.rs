//! Happy eyeballs (RFC 8305): race the addresses of one try, keeping a record of each attempt.
//!
//! Addresses are interleaved by family, starting with the family the resolver put first; the next
//! attempt starts when the previous one fails or after the connection attempt delay (250 ms),
//! whichever comes first; the first connection wins and the others are dropped, which closes their
//! sockets. Unlike hyper-util's connector (RFC 6555 style) or the `happy-eyeballs` crate, every
//! finished attempt is recorded, because the diagnosis needs all of them.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::error::{Address, Attempt};
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
}

/// How a connect waits for the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Waiting {
    /// On the tokio reactor: the only choice for async callers.
    Reactor,
    /// In the `connect()` call itself, for the blocking facade: a blocking connect costs measurably
    /// less than a non-blocking one plus a readiness check, and the thread is ours to block.
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
        let order = interleave(addrs);
        if let [only] = order.as_slice() {
            // One address: no race, no task set, so the common case costs no more than a connect.
            let (started, result) = match self.waiting {
                Waiting::Reactor => self.attempt(*only).await,
                Waiting::Thread => self.attempt_blocking(*only),
            };
            return self.record(attempts, *only, started, result);
        }
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

    fn limit(&self, started: Instant) -> Instant {
        let limit = started + self.attempt_timeout;
        self.deadline.map_or(limit, |deadline| limit.min(deadline))
    }

    async fn attempt(&self, addr: SocketAddr) -> (Instant, io::Result<Socket>) {
        let started = Instant::now();
        let limit = self.limit(started);
        let result = match tokio::time::timeout_at(limit, connect_one(addr)).await {
            Ok(result) => result,
            Err(_) => Err(io::ErrorKind::TimedOut.into()),
        };
        (started, result)
    }

    /// A blocking connect bounded by `SO_SNDTIMEO` (Linux applies it to `connect()`, failing with
    /// `EINPROGRESS` when it runs out). Only for callers that own the thread: the blocking facade.
    fn attempt_blocking(&self, addr: SocketAddr) -> (Instant, io::Result<Socket>) {
        let started = Instant::now();
        let budget = self.limit(started).saturating_duration_since(started);
        let result = (|| {
            let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
            socket.set_write_timeout(Some(budget.max(Duration::from_millis(1))))?;
            match socket.connect(&addr.into()) {
                Ok(()) => {
                    // The timeout was the connect's: left on, the caller's writes would fail
                    // with `EAGAIN` after it.
                    socket.set_write_timeout(None)?;
                    Ok(socket)
                }
                Err(err) if err.raw_os_error() == Some(libc::EINPROGRESS) => {
                    Err(io::ErrorKind::TimedOut.into())
                }
                Err(err) => Err(err),
            }
        })();
        (started, result)
    }

    fn record(
        &self,
        attempts: &mut Vec<Attempt>,
        addr: SocketAddr,
        started: Instant,
        result: io::Result<Socket>,
    ) -> Result<Socket, Outcome> {
        let (outcome, errno) = match &result {
            Ok(_) => (Outcome::Connected, None),
            Err(err) => (Outcome::from_io_error(err), err.raw_os_error()),
        };
        attempts.push(Attempt {
            address: Address::Inet(addr),
            outcome,
            errno,
            started: started.duration_since(self.start),
            elapsed: started.elapsed(),
            try_number: self.try_number,
        });
        result.map_err(|_| outcome)
    }
}

/// Connects one socket. On loopback the handshake has usually completed by the time `connect()`
/// returns `EINPROGRESS`, so the socket is checked once before it is registered with the reactor:
/// the common case then costs what a blocking connect costs, which keeps `connect()` within a few
/// percent of `std::net::TcpStream::connect`.
async fn connect_one(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking(),
        Some(Protocol::TCP),
    )?;
    match socket.connect(&addr.into()) {
        Ok(()) => return Ok(socket),
        Err(err) if err.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(err) => return Err(err),
    }
    if let Some(done) = finished(&socket2::SockRef::from(&socket)) {
        return done.map(|()| socket);
    }
    // Still in progress (a real round trip): wait on the reactor. The socket goes back to a
    // plain one afterwards, registration being the caller's choice (blocking callers have none).
    let stream = TcpStream::from_std(std::net::TcpStream::from(socket))?;
    loop {
        stream.writable().await?;
        let socket = socket2::SockRef::from(&stream);
        if let Some(done) = finished(&socket) {
            return done.and_then(|()| stream.into_std()).map(Socket::from);
        }
    }
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
