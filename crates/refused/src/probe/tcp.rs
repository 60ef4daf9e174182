//! `tcp://`: the connection is accepted and stays open for a moment.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::Instant;

use super::Readiness;
use crate::sys::sock_diag;

/// How long a fresh connection must stay open: a port proxy (docker-proxy, kube-proxy userspace)
/// whose backend is down accepts and closes within a millisecond or two.
pub const DEFAULT_SETTLE: Duration = Duration::from_millis(5);

/// How long to wait for a listener of this host to take the connection off its accept queue
/// before settling: the settle counts from the program's `accept()`, not from the handshake
/// the kernel did alone, so a proxy that is slow to accept and then closes is still caught.
const ACCEPT_GRACE: Duration = Duration::from_millis(50);

/// The two ends of a TCP connection: ours and the server's.
#[derive(Debug, Clone, Copy)]
pub struct Ends {
    /// Our address.
    pub client: SocketAddr,
    /// The server's address.
    pub server: SocketAddr,
}

/// Waits `settle` (cut to the deadline) for the peer to close or reset; silence or data is ready.
/// With the ends of a TCP connection to a listener of this host, the settle starts when the
/// program accepted it.
pub async fn settle<S: AsyncRead + Unpin>(
    mut stream: S,
    settle: Duration,
    deadline: Instant,
    ends: Option<Ends>,
) -> Readiness {
    if settle.is_zero() {
        return Readiness::Ready(String::new());
    }
    if let Some(ends) = ends {
        if let Accept::NotYet = until_accepted(ends, deadline).await {
            return Readiness::Ready(format!(
                "the program has not accepted the connection within {} ms (the kernel holds it in the queue)",
                ACCEPT_GRACE.as_millis()
            ));
        }
    }
    let full = Instant::now() + settle;
    let until = full.min(deadline);
    let mut byte = [0u8; 1];
    match tokio::time::timeout_at(until, stream.read(&mut byte)).await {
        // The time ran out before the connection had stayed open for the settle: not proven.
        Err(_) if until < full => Readiness::NotReady(format!(
            "the time ran out before the connection had stayed open {} ms",
            settle.as_millis()
        )),
        Err(_) => Readiness::Ready(String::new()),
        Ok(Ok(0)) => Readiness::NotReady(
            "the connection was closed right after it was accepted (a port proxy with nothing behind it?)"
                .to_owned(),
        ),
        Ok(Ok(_)) => Readiness::Ready("it sent data at once".to_owned()),
        Ok(Err(err)) => Readiness::NotReady(format!(
            "the connection was reset right after it was accepted ({err})"
        )),
    }
}

enum Accept {
    /// Taken by the program, or not knowable (a server of another host): settle now.
    Now,
    /// Still on the listener's queue after the grace.
    NotYet,
}

async fn until_accepted(ends: Ends, deadline: Instant) -> Accept {
    let until = (Instant::now() + ACCEPT_GRACE).min(deadline);
    let mut pause = Duration::from_micros(250);
    loop {
        match sock_diag::is_accepted(ends.client, ends.server) {
            Ok(Some(false)) => {}
            Ok(Some(true) | None) | Err(_) => return Accept::Now,
        }
        if Instant::now() >= until {
            return Accept::NotYet;
        }
        tokio::time::sleep_until((Instant::now() + pause).min(until)).await;
        pause = (pause * 2).min(Duration::from_millis(4));
    }
}
