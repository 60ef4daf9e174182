//! The rule for a service that answers but turns this client away by its configuration (Redis's
//! protected mode, MySQL's accounts for other hosts or its blocked hosts): `not-ready`, since the
//! client cannot use it, with the configuration to change instead of a wait that would never end.

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
        Scheme::Mysql => mysql_host(facts, winner, reason, finding),
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

/// MySQL's and MariaDB's refusals of a client's host, before any login: no account is for it
/// (1130), or it is blocked after too many connections that ended before a login (1129).
fn mysql_host(facts: &Facts, winner: &AddressFacts, reason: &str, finding: Finding) -> Finding {
    // `Host '10.0.0.5' is not allowed ...`: the address (or name) the server saw.
    let host = reason
        .split_once("Host '")
        .and_then(|(_, rest)| rest.split_once('\''))
        .map_or("THIS-HOST", |(host, _)| host);
    let port = winner.addr.port();
    if reason.ends_with(&format!("({})", crate::probe::mysql::HOST_BLOCKED)) {
        return finding
            .suggest(format!(
                "the server blocked {host} after `max_connect_errors` connections in a row that ended before logging in (a health check that connects and closes does that; `{} check mysql://...` logs in, a bare `HOST:{port}` check does not): `mariadb-admin flush-hosts` (MySQL: `mysqladmin flush-hosts`, or `TRUNCATE performance_schema.host_cache`) on the server unblocks it",
                facts.program
            ))
            .suggest(
                "then find what keeps connecting without logging in (the server's log names each aborted connection), or raise `max_connect_errors`",
            );
    }
    let finding = finding.suggest(format!(
        "no account on the server is for connections from {host} (`SELECT user, host FROM mysql.user` shows the hosts they are for): create one, `CREATE USER 'app'@'{host}' IDENTIFIED BY '...'` and `GRANT ... TO 'app'@'{host}'`, or `'app'@'%'` for every host"
    ));
    if winner.addr.ip().is_loopback() {
        return finding.suggest(
            "an account for 'localhost' is for the unix socket (and TCP from loopback only when the server resolves names, `skip-name-resolve` off): connect through the socket (`mysql --socket=/run/mysqld/mysqld.sock`, the path in its `socket` setting), or create the account for '127.0.0.1' / '::1'",
        );
    }
    finding
}

/// The warning for a PostgreSQL server that answered the probe's startup packet with a
/// `pg_hba.conf` rejection (28000: `no pg_hba.conf entry for host "10.0.0.5", user "app",
/// database "app", no encryption`, or a `reject` line's `pg_hba.conf rejects connection ...`).
/// The server is up (as `pg_isready` says too), so the cause stays `reachable`: the probe asks
/// without TLS, and a client that uses it (libpq's default `sslmode=prefer` does, where the
/// server has TLS) may match a `hostssl` line; but a client turned away as the probe was is
/// told which line to add. `None` for any other answer.
pub(super) fn pg_hba_rejected(facts: &Facts, answer: &str) -> Option<String> {
    if facts.target.scheme() != Scheme::Postgres || !answer.contains("pg_hba.conf") {
        return None;
    }
    // The server's own words, between `answered: ` and the code.
    let said = answer
        .split_once("answered: ")
        .map_or(answer, |(_, said)| said.strip_suffix(')').unwrap_or(said));
    let quoted = |key: &str| {
        said.split_once(&format!("{key} \""))
            .and_then(|(_, rest)| rest.split_once('"'))
            .map(|(value, _)| value.to_owned())
    };
    let host = quoted("host").unwrap_or_else(|| "CLIENT-ADDRESS".to_owned());
    let user = quoted("user").unwrap_or_else(|| "USER".to_owned());
    let database = quoted("database").unwrap_or_else(|| "DATABASE".to_owned());
    let prefix = if host.contains(':') { 128 } else { 32 };
    let fix = if said.contains("rejects connection") {
        "a `reject` line of pg_hba.conf matches it: narrow or remove that line, or put a line that lets it in above it".to_owned()
    } else {
        format!(
            "if clients connect as the check did, add a line for them to pg_hba.conf, `host {database} {user} {host}/{prefix} scram-sha-256` (`SHOW hba_file;` names the file), and reload it (`SELECT pg_reload_conf();`)"
        )
    };
    Some(format!(
        "PostgreSQL is up, but turned this check's login away by its pg_hba.conf: {said}; the check asks without TLS, so a client that uses TLS may still match a `hostssl` line; {fix}"
    ))
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
