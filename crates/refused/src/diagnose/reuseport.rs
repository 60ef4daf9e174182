//! An `SO_REUSEPORT` group with a stuck member: several sockets listen on one address and
//! port, and the kernel hands each new connection to one of them by a hash of its addresses and
//! ports. One that never accepts fills its queue, and then the connections hashed to it time
//! out while the others are served: about one in N fails, and which one a single try meets is
//! chance. The answer must not be: the stuck member is named whichever member ours met.

use std::net::SocketAddr;

use crate::sys::tables::Listener;

use super::cause::Cause;
use super::evidence::HeldListener;
use super::rules::{Finding, listed};

/// Whether a member of a group among `listeners` (this namespace's, on one port) has a full
/// queue: read then with their owners, even when the target connected.
pub(super) fn has_stuck_member(listeners: &[Listener]) -> bool {
    listeners
        .iter()
        .filter(|l| is_stuck(l))
        .any(|stuck| listeners.iter().filter(|l| is_member(l, stuck)).count() > 1)
}

/// `listen-queue-full` for the stuck member of the group among `exact` (the listeners that take
/// `addr`), whatever our own attempt met: one that timed out was hashed to it, one that
/// connected to another member, and the next may be either.
pub(super) fn stuck_member(exact: &[&HeldListener], addr: SocketAddr) -> Option<Finding> {
    let stuck = exact.iter().copied().find(|h| is_stuck(&h.listener))?;
    let group: Vec<&HeldListener> = exact
        .iter()
        .copied()
        .filter(|h| is_member(&h.listener, &stuck.listener))
        .collect();
    let members = group.len();
    if members < 2 {
        return None;
    }
    let (queue, backlog) = (stuck.listener.queue, stuck.listener.backlog?);
    let owner = stuck.owner();
    let others: Vec<String> = group
        .iter()
        .filter(|h| h.listener.inode != stuck.listener.inode)
        .map(|h| {
            format!(
                "{} ({} waiting, backlog {})",
                h.owner(),
                h.listener.queue,
                h.listener.backlog.unwrap_or_default()
            )
        })
        .collect();
    let dump = stuck.pid.map_or_else(
        || "a stack dump of the process".to_owned(),
        |pid| format!("a stack dump of pid {pid} (`gdb -p {pid}`, `py-spy dump --pid {pid}`, `jstack {pid}`)"),
    );
    // The stuck member first: it is the finding; the others show the group.
    let mut evidence = vec![stuck];
    evidence.extend(
        group
            .iter()
            .filter(|h| h.listener.inode != stuck.listener.inode),
    );
    Some(
        Finding::new(
            Cause::ListenQueueFull,
            format!(
                "{owner} listens on {} in an SO_REUSEPORT group of {members} sockets, but its accept queue is full: {queue} waiting, backlog {backlog}: it is not accepting (hung, or too slow); the kernel spreads new connections over the group by a hash of their addresses and ports, so about 1 in {members} connections to {addr} is handed to it and times out, while the others are served by {}",
                stuck.endpoint(),
                others.join(", ")
            ),
        )
        .evidence(listed(&evidence))
        .suggest(format!(
            "{owner} does not call accept() on its socket: find what blocks it in its logs, or in {dump}; restarting it (or closing that socket) takes it out of the group, and the others get every connection"
        ))
        .suggest("a member that cannot keep up should not join the group: every member must accept, or the kernel's hash sends it its share all the same"),
    )
}

/// A queue at its limit that holds connections: new ones hashed to it are dropped.
fn is_stuck(listener: &Listener) -> bool {
    listener.queue > 0 && listener.is_queue_full()
}

/// Whether `listener` is in `stuck`'s group: the same address, port and device (two sockets can
/// share all three only with `SO_REUSEPORT`).
fn is_member(listener: &Listener, stuck: &Listener) -> bool {
    listener.address == stuck.address
        && listener.port == stuck.port
        && listener.device == stuck.device
}
