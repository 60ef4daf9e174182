//! A connect that succeeds to a program that never takes the connection: the kernel completes
//! the handshake by itself while the accept queue has room, one past the `listen()` backlog, so
//! a hung server looks reachable until its queue is over the limit. What the probe saw after
//! the connect (a timeout, no answer) is then the queue, not a proxy without a backend.

use std::net::SocketAddr;

use crate::outcome::Outcome;
use crate::probe::{ProbeFailure, ProtocolErrorKind, Readiness};
use crate::target::Scheme;

use super::cause::Cause;
use super::evidence::HeldListener;
use super::rules::{Finding, listed};

/// `listen-queue-full` for a target that connected but was not served in time, when a listener
/// of this host that takes it has more connections waiting than its backlog: the kernel admits
/// a connection only while the queue is at most the backlog, so one over it means nothing has
/// been accepted for a while and new connects are being dropped (which is how the probe's own
/// timed out). `None` when the probe ended otherwise or no such listener is seen.
pub(super) fn not_accepting(
    addr: SocketAddr,
    scheme: Scheme,
    readiness: &Readiness,
    holders: &[&HeldListener],
) -> Option<Finding> {
    if !is_unserved(scheme, readiness) {
        return None;
    }
    let full = holders.iter().copied().find(|h| is_over_backlog(h))?;
    let (queue, backlog) = (full.listener.queue, full.listener.backlog?);
    let owner = full.owner();
    let dump = full.pid.map_or_else(
        || "a stack dump of the process".to_owned(),
        |pid| format!("a stack dump of pid {pid} (`gdb -p {pid}`, `py-spy dump --pid {pid}`, `jstack {pid}`)"),
    );
    Some(
        Finding::new(
            Cause::ListenQueueFull,
            format!(
                "{owner} listens on {}, but its accept queue is full: {queue} waiting, backlog {backlog}: the program is not accepting (hung, or too slow); the kernel completed the handshake to {addr} by itself, so the connect succeeded and then nothing served it",
                full.endpoint()
            ),
        )
        .evidence(listed(&[full]))
        .suggest(format!(
            "{owner} does not call accept(): find what blocks it in its logs, or in {dump}; restarting it empties the queue"
        ))
        .suggest("if it is only too slow for its load: more workers, or a larger listen() backlog (and `sudo sysctl -w net.core.somaxconn=4096`) to ride out bursts"),
    )
}

/// Whether the probe ran out of time after the connect, as a queued connection does: the
/// reconnect timed out (its SYN dropped at a full queue), a protocol got no answer, or, for
/// plain TCP, the settle did not end well (its other ends, a close or a reset right after the
/// accept, also mean a program that is not serving while the queue is over its limit). A
/// protocol's own answer (an HTTP 503) says more than the queue and is kept.
pub(super) fn is_unserved(scheme: Scheme, readiness: &Readiness) -> bool {
    match readiness {
        // The service's own configuration turned this client away: it answered.
        Readiness::Ready(_) | Readiness::Denied(_) => false,
        Readiness::NotReady(_) => scheme == Scheme::Tcp,
        Readiness::Failed(ProbeFailure::Connect(err)) => err.outcome() == Some(Outcome::Timeout),
        Readiness::Failed(ProbeFailure::Protocol(err)) => err.kind == ProtocolErrorKind::NoAnswer,
    }
}

/// More connections waiting than the backlog allows in: the queue took its last one already.
fn is_over_backlog(holder: &HeldListener) -> bool {
    holder
        .listener
        .backlog
        .is_some_and(|backlog| holder.listener.queue > backlog)
}
