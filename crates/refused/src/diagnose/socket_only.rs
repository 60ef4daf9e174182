//! The rule for a server that runs but listens on its unix socket alone (PostgreSQL with
//! `listen_addresses = ''`, Redis with `port 0`, MySQL with `skip-networking`): nothing listens
//! on the port, so the cause stays `no-listener`, but the fix is to connect through the socket
//! or to turn TCP on, not to start the service.

use std::net::IpAddr;
use std::path::Path;

use crate::sys::services::{self, Service};
use crate::target::Scheme;

use super::cause::Cause;
use super::evidence::Evidence;
use super::facts::Facts;
use super::rules::Finding;

/// The service a target means: its scheme's (`postgres://` on any port is PostgreSQL), else the
/// one usually found on its port.
pub(super) fn service(scheme: Scheme, port: u16) -> Option<&'static Service> {
    scheme
        .default_port()
        .and_then(|default| services::by_port(default.get()))
        .or_else(|| services::by_port(port))
}

/// `no-listener` on `ip`:`port`, said with the service's server that listens on unix sockets
/// instead; `None` when no such server was seen.
pub(super) fn socket_only(facts: &Facts, ip: IpAddr, port: u16) -> Option<Finding> {
    let first = facts.unix_listeners.first()?;
    let service = service(facts.target.scheme(), port)?;
    let paths: Vec<String> = facts
        .unix_listeners
        .iter()
        .map(|l| l.path.display().to_string())
        .collect();
    let sockets = if paths.len() == 1 {
        format!("its unix socket {}", paths[0])
    } else {
        format!("its unix sockets {}", paths.join(", "))
    };
    // A TCP listener of the same process elsewhere (another port, an address `ip` does not
    // reach) is not for this rule to hide.
    let also_tcp = facts
        .listeners
        .iter()
        .flatten()
        .any(|l| l.pid == Some(first.pid));
    let only = if also_tcp { "" } else { " only" };
    let finding = Finding::new(
        Cause::NoListener,
        format!(
            "nothing listens on port {port} on this host ({ip} is local), but {} runs: {} listens{only} on {sockets}",
            service.name,
            first.owner(),
        ),
    )
    .evidence([Evidence::LocalAddress { address: ip }])
    .evidence(
        facts
            .unix_listeners
            .iter()
            .map(|l| Evidence::UnixListener(l.clone())),
    );
    let path = &first.path;
    let check = format!(
        "`{} check unix://{}` checks it",
        facts.program,
        path.display()
    );
    let (through_socket, over_tcp) = match service.name {
        "PostgreSQL" => (
            format!(
                "connect through the socket: libpq takes its directory as the host, `psql \"{}\"`; {check}",
                libpq_uri(facts, path, port)
            ),
            format!(
                "or make PostgreSQL listen on TCP: `listen_addresses = 'localhost'` (or `'*'`){} in postgresql.conf, then restart it",
                socket_port(path)
                    .filter(|p| *p != port)
                    .map_or_else(String::new, |_| format!(" and `port = {port}`"))
            ),
        ),
        "Redis" => (
            format!(
                "connect through the socket: `redis-cli -s {}`; {check}",
                path.display()
            ),
            format!(
                "or make Redis listen on TCP: `port {port}` in redis.conf (`port 0` turns TCP off), with `bind 127.0.0.1 -::1`, then restart it"
            ),
        ),
        "MySQL" => (
            format!(
                "connect through the socket: `mysql --socket={}`; {check}",
                path.display()
            ),
            format!(
                "or make MySQL listen on TCP: turn `skip-networking` off (and set `port = {port}`, `bind-address = 127.0.0.1`) in its configuration, then restart it"
            ),
        ),
        name => (
            format!("connect through the socket {}; {check}", path.display()),
            format!("or configure {name} to listen on TCP port {port} too"),
        ),
    };
    Some(finding.suggest(through_socket).suggest(over_tcp))
}

/// The port a PostgreSQL socket is named for (`.s.PGSQL.5433`): libpq finds the socket by the
/// directory and the port.
fn socket_port(path: &Path) -> Option<u16> {
    path.file_name()?
        .to_str()?
        .strip_prefix(".s.PGSQL.")?
        .parse()
        .ok()
}

/// A libpq URI through the socket at `path`, for the target's user and database:
/// `postgresql://app@/shop?host=/run/postgresql`, with `&port=N` when the socket is not named
/// for the target's port.
fn libpq_uri(facts: &Facts, path: &Path, port: u16) -> String {
    let user = facts
        .target
        .user()
        .map_or_else(String::new, |user| format!("{user}@"));
    let database = facts
        .target
        .path()
        .trim_start_matches('/')
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .to_owned();
    let dir = path
        .parent()
        .map_or_else(String::new, |dir| dir.display().to_string());
    let other_port = socket_port(path)
        .filter(|p| *p != port)
        .map_or_else(String::new, |p| format!("&port={p}"));
    format!("postgresql://{user}/{database}?host={dir}{other_port}")
}
