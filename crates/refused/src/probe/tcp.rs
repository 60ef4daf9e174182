//! `tcp://`: the connection is accepted and stays open for a moment.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::Instant;

use super::Readiness;

/// How long a fresh connection must stay open: a port proxy (docker-proxy, kube-proxy userspace)
/// whose backend is down accepts and closes within a millisecond or two.
pub const DEFAULT_SETTLE: Duration = Duration::from_millis(5);

/// Waits `settle` (cut to the deadline) for the peer to close or reset; silence or data is ready.
pub async fn settle<S: AsyncRead + Unpin>(
    mut stream: S,
    settle: Duration,
    deadline: Instant,
) -> Readiness {
    if settle.is_zero() {
        return Readiness::Ready(String::new());
    }
    let until = (Instant::now() + settle).min(deadline);
    let mut byte = [0u8; 1];
    match tokio::time::timeout_at(until, stream.read(&mut byte)).await {
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
