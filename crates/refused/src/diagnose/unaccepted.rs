//! A connect that succeeds to a program that never takes the connection: the kernel completes
//! the handshake by itself while the accept queue has room, one past the `listen()` backlog, so
//! a hung server looks reachable until its queue is over the limit. What the probe saw after
//! the connect (a timeout, no answer) is then the queue, not a proxy without a backend.

use std::net::SocketAddr;

use crate::outcome::Outcome;
use crate::probe::{ProbeFailure, ProtocolErrorKind, Readiness};
use crate::target::Scheme;

use super::cause::Cause;
use super::evidence::{HeldListener, Stopped};
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
    if let Some((why, resume)) = stopped(full) {
        return Some(
            Finding::new(
                Cause::ListenQueueFull,
                format!(
                    "{owner} listens on {}, but {why}: its accept queue is full ({queue} waiting, backlog {backlog}); the kernel completed the handshake to {addr} by itself, so the connect succeeded and then nothing served it",
                    full.endpoint()
                ),
            )
            .evidence(listed(&[full]))
            .suggest(resume),
        );
    }
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

/// `not-ready` for a target that connected but was not served in time, when the program that
/// listens is stopped while its queue still has room: the kernel queues each connection for it
/// and nothing answers (an HTTP request waits for ever); once the queue is over its backlog,
/// connects time out (`not_accepting`). Waiting does not help: it must be let run.
pub(super) fn stopped_listener(
    addr: SocketAddr,
    scheme: Scheme,
    readiness: &Readiness,
    holders: &[&HeldListener],
) -> Option<Finding> {
    if !is_unserved(scheme, readiness) {
        return None;
    }
    let holder = holders.iter().copied().find(|h| h.stopped.is_some())?;
    let (why, resume) = stopped(holder)?;
    let queue = match holder.listener.backlog {
        Some(backlog) => format!("{} waiting, backlog {backlog}", holder.listener.queue),
        None => format!("{} waiting", holder.listener.queue),
    };
    Some(
        Finding::new(
            Cause::NotReady,
            format!(
                "{addr} accepts connections, but {}, which listens there, {why}: the kernel queues connections for it ({queue}) and nothing answers them; once its queue is full, connects time out",
                holder.owner(),
            ),
        )
        .evidence(listed(&[holder]))
        .suggest(resume),
    )
}

/// What to say of a listener's stopped program, and how to let it run: `None` for one that runs.
pub(super) fn stopped(holder: &HeldListener) -> Option<(String, String)> {
    let pid = holder
        .pid
        .map_or_else(|| "PID".to_owned(), |pid| pid.to_string());
    Some(match holder.stopped? {
        Stopped::Signal => (
            "is stopped (state `T`: SIGSTOP, or Ctrl-Z in its terminal) and runs none of its code"
                .to_owned(),
            format!(
                "resume it: `kill -CONT {pid}` (or `fg` in the shell where Ctrl-Z suspended it); waiting or a larger backlog changes nothing"
            ),
        ),
        Stopped::Traced => (
            "is held stopped by a debugger or tracer (state `t`) and runs none of its code"
                .to_owned(),
            format!(
                "continue or detach the debugger that holds it (`grep TracerPid /proc/{pid}/status` names it); waiting or a larger backlog changes nothing"
            ),
        ),
    })
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
