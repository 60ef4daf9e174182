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
use tokio::net::{TcpSocket, TcpStream};
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
    ) -> Result<TcpStream, Outcome> {
        let order = interleave(addrs);
        if let [only] = order.as_slice() {
            // One address: no race, no task set, so the common case costs no more than a connect.
            let (started, result) = self.attempt(*only).await;
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

    async fn attempt(&self, addr: SocketAddr) -> (Instant, io::Result<TcpStream>) {
        let started = Instant::now();
        let mut limit = started + self.attempt_timeout;
        if let Some(deadline) = self.deadline {
            limit = limit.min(deadline);
        }
        let result = match tokio::time::timeout_at(limit, connect_one(addr)).await {
            Ok(result) => result,
            Err(_) => Err(io::ErrorKind::TimedOut.into()),
        };
        (started, result)
    }

    fn record(
        &self,
        attempts: &mut Vec<Attempt>,
        addr: SocketAddr,
        started: Instant,
        result: io::Result<TcpStream>,
    ) -> Result<TcpStream, Outcome> {
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

async fn connect_one(addr: SocketAddr) -> io::Result<TcpStream> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.connect(addr).await
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
