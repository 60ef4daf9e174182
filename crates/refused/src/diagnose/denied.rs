//! The rule for a service that answers but turns this client away by its configuration (Redis's
//! protected mode): `not-ready`, since the client cannot use it, with the configuration to change
//! instead of a wait that would never end.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::target::Scheme;

use super::cause::Cause;
use super::evidence::HeldListener;
use super::facts::{AddressFacts, Facts};
use super::rules::{Finding, listed};

/// `winner` connected, and the service answered `reason` (its own words) to refuse this client.
pub(super) fn denied(facts: &Facts, winner: &AddressFacts, reason: &str) -> Finding {
    let addr = winner.addr;
    let scheme = facts.target.scheme();
    let (_, holders) = super::rules::on_port(facts.listeners.as_deref().unwrap_or_default(), addr);
    let finding = Finding::new(
        Cause::NotReady,
        format!(
            "{addr} accepts connections, but the {} service refuses this client by its configuration: {reason}",
            scheme.as_str()
        ),
    )
    .evidence(listed(&holders));
    match scheme {
        Scheme::Redis => protected_mode(facts, winner, &holders, finding),
        _ => finding.suggest(
            "waiting does not help: change which clients the service's configuration lets in (its log says why it refused)",
        ),
    }
}

/// Redis in protected mode (no password, and bound to more than loopback) answers every client
/// off loopback with `-DENIED`: a password, protected mode off, or a client on loopback.
fn protected_mode(
    facts: &Facts,
    winner: &AddressFacts,
    holders: &[&HeldListener],
    finding: Finding,
) -> Finding {
    let port = winner.addr.port();
    let finding = finding
        .suggest(format!(
            "Redis lets clients off loopback in once it has a password: set one (`requirepass` in redis.conf, or `redis-cli -p {port} CONFIG SET requirepass ...` on its host) and give it to the clients"
        ))
        .suggest(format!(
            "or, if only trusted networks reach port {port}, turn protected mode off: `protected-mode no` in redis.conf (or `redis-cli -p {port} CONFIG SET protected-mode no` on its host, then `CONFIG REWRITE`)"
        ));
    match loopback_reach(winner, holders) {
        Some(reach) => finding.suggest(format!(
            "or connect over loopback, which protected mode lets in: `{} check redis://{reach}`",
            facts.program
        )),
        None if winner.local => finding.suggest(format!(
            "or connect over loopback (127.0.0.1 or ::1, port {port}), which protected mode lets in, if Redis listens there"
        )),
        None => finding.suggest(
            "or connect from Redis's own host over loopback, which protected mode lets in",
        ),
    }
}

/// Where a client on the server's own host reaches the listener over loopback: only for an
/// address of this host, and a listener seen to take loopback.
fn loopback_reach(winner: &AddressFacts, holders: &[&HeldListener]) -> Option<SocketAddr> {
    if !winner.local {
        return None;
    }
    let port = winner.addr.port();
    [
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ]
    .into_iter()
    .find(|ip| holders.iter().any(|l| l.listener.accepts(*ip)))
    .map(|ip| SocketAddr::new(ip, port))
}
