//! The rule for a server that runs but listens on its unix socket alone (PostgreSQL with
//! `listen_addresses = ''`, Redis with `port 0`, MySQL with `skip-networking`): nothing listens
//! on the port, so the cause stays `no-listener`, but the fix is to connect through the socket
//! or to turn TCP on, not to start the service.

use std::net::IpAddr;
use std::path::Path;

use crate::sys::services::{self, Service};
use crate::target::Scheme;

use super::cause::Cause;
use super::evidence::{Evidence, HeldBy};
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
    let runs = match first.held_by {
        HeldBy::Descriptors => format!("{} listens{only} on {sockets}", first.owner()),
        // Its descriptors were not read: which sockets it holds, TCP ones too, is not known.
        HeldBy::FileOwner => format!(
            "{} runs, and {sockets}, {} of its user, {} connections",
            first.owner(),
            if paths.len() == 1 { "a file" } else { "files" },
            if paths.len() == 1 { "takes" } else { "take" }
        ),
    };
    let finding = Finding::new(
        Cause::NoListener,
        format!(
            "nothing listens on port {port} on this host ({ip} is local), but {} runs: {runs}",
            service.name,
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

/// Whether a unix socket at `path` bears a name the service's server gives its socket:
/// PostgreSQL's `.s.PGSQL.PORT`, else one that names the program in its file or folder name
/// (`redis-server.sock`, `/run/mysqld/mysqld.sock`: a command's name less `-server` or a
/// daemon's trailing `d`). Without root this name, with the file's owner, is what ties a
/// socket to a server whose descriptors cannot be read.
pub(super) fn named_for(service: &Service, path: &Path) -> bool {
    let file = path.file_name().and_then(|name| name.to_str());
    if service.name == "PostgreSQL" {
        return file.is_some_and(|name| name.starts_with(".s.PGSQL."));
    }
    let folder = path
        .parent()
        .and_then(Path::file_name)
        .and_then(|name| name.to_str());
    let names: Vec<String> = [file, folder]
        .into_iter()
        .flatten()
        .map(str::to_ascii_lowercase)
        .collect();
    service.commands.iter().any(|command| {
        let stem = command.strip_suffix("-server").unwrap_or(command);
        let stem = stem
            .strip_suffix('d')
            .filter(|rest| rest.len() > 2)
            .unwrap_or(stem);
        names.iter().any(|name| name.contains(stem))
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_is_the_services_by_its_name() {
        let postgres = services::by_port(5432).unwrap();
        let redis = services::by_port(6379).unwrap();
        let mysql = services::by_port(3306).unwrap();
        assert!(named_for(
            postgres,
            Path::new("/var/run/postgresql/.s.PGSQL.5432")
        ));
        assert!(!named_for(
            postgres,
            Path::new("/var/run/postgresql/other.sock")
        ));
        assert!(named_for(redis, Path::new("/run/redis/redis-server.sock")));
        assert!(named_for(redis, Path::new("/tmp/x/redis.sock")));
        assert!(named_for(redis, Path::new("/run/valkey/valkey.sock")));
        assert!(!named_for(redis, Path::new("/run/app/app.sock")));
        assert!(named_for(mysql, Path::new("/run/mysqld/mysqld.sock")));
        assert!(named_for(mysql, Path::new("/run/mysqld/server.sock")));
        assert!(!named_for(mysql, Path::new("/run/redis/redis.sock")));
    }
}
