//! The rule for a port that a program has bound and does not listen on: a server stopped
//! between `bind()` and `listen()` (stuck in its start-up, or waiting for something), or a
//! socket shut down with `shutdown(SHUT_RD)`, which stops its listening. Connects are refused
//! as if the port were free, and `ss -ltn` lists nothing, but starting the server is not the
//! fix: one that binds the port without `SO_REUSEADDR` fails with `Address already in use`.

use std::net::IpAddr;

use super::cause::Cause;
use super::evidence::{Evidence, HeldListener};
use super::facts::Facts;
use super::rules::Finding;

/// The sockets of `facts` bound to `port` and taking `ip` (bound to it, or to every address of
/// its family).
fn bound_to(facts: &Facts, ip: IpAddr, port: u16) -> Vec<&HeldListener> {
    facts
        .bound_only
        .iter()
        .filter(|b| b.listener.port == port && b.listener.accepts(ip))
        .collect()
}

/// Beside a `wrong-port` finding (a listener that looks meant on another port): the program
/// that has the target's port bound, which a server started there would meet.
pub(super) fn bound_warning(facts: &Facts, ip: IpAddr, port: u16) -> Vec<String> {
    bound_to(facts, ip, port)
        .first()
        .map(|first| {
            format!(
                "{} has {} bound without listening on it: a server started on port {port} may fail with `Address already in use` while it holds it",
                first.owner(),
                first.endpoint()
            )
        })
        .into_iter()
        .collect()
}

/// `no-listener` on `ip`:`port`, said with the program that has the port bound; `None` when no
/// such socket takes `ip`.
pub(super) fn bound_only(facts: &Facts, ip: IpAddr, port: u16) -> Option<Finding> {
    let bound = bound_to(facts, ip, port);
    let first = bound.first()?;
    let owner = first.owner();
    let pid = first
        .pid
        .map_or_else(|| "PID".to_owned(), |pid| pid.to_string());
    Some(
        Finding::new(
            Cause::NoListener,
            format!(
                "nothing listens on port {port} on this host ({ip} is local), but {owner} has {} bound without listening on it: a program stopped between bind() and listen(), or one that holds the port",
                first.endpoint()
            ),
        )
        .evidence(bound.iter().map(|b| Evidence::BoundSocket((*b).clone())))
        .evidence([Evidence::LocalAddress { address: ip }])
        .suggest(format!(
            "if {owner} is the server, find what holds it before listen(): its log, or a stack dump (`gdb -p {pid}`, `py-spy dump --pid {pid}`, `jstack {pid}`)"
        ))
        .suggest(format!(
            "if it is not, a server started on port {port} may fail with `Address already in use` while {owner} holds it: stop it, or give the server another port; `ss -tanpB` lists such sockets (iproute2 6.8 and later), `ss -ltnp` does not"
        )),
    )
}
