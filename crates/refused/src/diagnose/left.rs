//! The rule for a port of this host where nothing listens, but connections are left on it: a
//! server's own ends outlive its listening socket. Still open, a program serves what was
//! accepted before the listening socket closed: a server shutting down, draining, or
//! restarting (Go's `Shutdown`, gunicorn's graceful stop), or the sessions or workers a
//! stopped server forked, which outlive it (sshd's sessions): which one, the sockets do not
//! say, so both are told. Closing with no program left, the server stopped or crashed within
//! the last minute (the kernel finishes the connections it closed alone; `TIME_WAIT` lasts
//! 60 s). "Start the program" is right either way, but a person is told what happened to it:
//! the port was served a moment ago.

use std::net::{IpAddr, SocketAddr};

use super::cause::Cause;
use super::evidence::Evidence;
use super::facts::Facts;
use super::rules::Finding;
use crate::sys::host::DEFAULT_EPHEMERAL_PORTS;
use crate::sys::services;

/// `no-listener` on `ip`:`port`, said with the connections left on the port; `None` when none
/// are, or when the port is in the ephemeral range: there it is also the own port of this
/// host's clients' connections, to anywhere, which are no server's ends. The connections were
/// read on the target's port: a port a DNAT rule of this host sends it to has none read.
pub(super) fn connections_left(facts: &Facts, ip: IpAddr, port: u16) -> Option<Finding> {
    let left = facts
        .connections_left
        .as_ref()
        .filter(|left| left.port == port)?;
    let (low, high) = facts.ephemeral_ports.unwrap_or(DEFAULT_EPHEMERAL_PORTS);
    if (low..=high).contains(&port) {
        return None;
    }
    let finding = if left.open > 0 {
        let (holders, verb) = left
            .holders()
            .unwrap_or_else(|| ("a program".to_owned(), "has"));
        let holder = left.holder().unwrap_or_else(|| "it".to_owned());
        Finding::new(
            Cause::NoListener,
            format!(
                "nothing listens on port {port} on this host ({ip} is local), but {holders} still {verb} connections open on it, accepted before its listening socket closed: a server shutting down or restarting still serves them, and so do the sessions or workers a stopped server forked (sshd's outlive it)"
            ),
        )
        .suggest(format!(
            "if {holder} is shutting down or restarting, wait for it to listen again: `{} wait {}`",
            facts.program,
            SocketAddr::new(ip, port)
        ))
        .suggest(format!(
            "else start the program that should listen on port {port} (its log says why it stopped listening); `ss -tnp state established '( sport = :{port} )'` lists the connections and their processes"
        ))
    } else {
        let log = match services::by_port(port).and_then(services::Service::installed_unit) {
            Some(unit) => format!("`journalctl -u {unit} -e`"),
            None => "its log (`journalctl -e` where systemd runs it)".to_owned(),
        };
        Finding::new(
            Cause::NoListener,
            format!(
                "nothing listens on port {port} on this host ({ip} is local), but this host closed connections on it within the last minute: the program that served it stopped or crashed"
            ),
        )
        .suggest(format!(
            "find why it stopped: {log}, and `sudo dmesg | grep -i 'killed process'` for the out-of-memory killer; then start it again"
        ))
    };
    Some(
        finding
            .evidence([
                Evidence::ConnectionsLeft(left.clone()),
                Evidence::LocalAddress { address: ip },
            ])
            .suggest("`ss -ltnp` lists what listens on this host"),
    )
}
