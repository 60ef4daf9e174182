//! `refused why` against real servers from Debian's packages whose configuration, not their
//! state, keeps a client out: Redis in protected mode, and PostgreSQL and Redis listening on
//! their unix socket alone. Waiting or starting them is never the fix.

use refused_lab::servers::{PostgresListen, postgres_with};
use refused_lab::{CLIENT_V4, Lab, Scratch, Tool};

use std::process::Command;

use serde_json::Value;

use crate::why_lab::{REFUSED, cause, diagnosis, evidence, why};

/// `refused why --json ARGS` in the client namespace as `nobody`: another user's server's
/// descriptors are closed to it.
fn why_as_nobody(lab: &Lab, args: &[&str]) -> Value {
    let mut as_nobody: Command = lab.client.command("setpriv");
    as_nobody.args(["--reuid=65534", "--regid=65534", "--clear-groups", REFUSED]);
    diagnosis(as_nobody, &[&["--timeout", "10s"], args].concat())
}

/// Waits (`refused wait`, inside the client namespace) until `target` is ready.
fn wait_ready(lab: &Lab, target: &str) {
    let ready = lab
        .client
        .command(REFUSED)
        .args(["wait", "--quiet", "--timeout", "10s", target])
        .status()
        .unwrap();
    assert!(ready.success(), "{target} did not get ready");
}

/// Redis with protected mode on and no password, bound to every address: a client off
/// loopback gets `-DENIED` and a paragraph of advice. `not-ready` in one sentence, with the
/// configuration to change; loopback still works, and is suggested on the server's own host.
#[test]
fn redis_in_protected_mode_is_configuration_not_a_wait() {
    let test = "redis_in_protected_mode_is_configuration_not_a_wait";
    let Some(lab) = Lab::or_skip_needing(test, &[Tool::RedisServer]) else {
        return;
    };
    let dir = Scratch::new("redis-protected");
    let dir_arg = dir.path().to_str().unwrap();
    #[rustfmt::skip]
    let args = [
        "--port", "6390", "--bind", "* -::*", "--protected-mode", "yes",
        "--save", "", "--appendonly", "no", "--dir", dir_arg,
    ];
    lab.client.spawn("redis-server", &args).unwrap();
    // Protected mode lets loopback in: the server is up.
    wait_ready(&lab, "redis://127.0.0.1:6390");

    let target = format!("redis://{CLIENT_V4}:6390");
    let report = why(&lab, &[&target]);
    assert_eq!(cause(&report), "not-ready", "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(
        summary.ends_with(
            "refuses this client by its configuration: DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user"
        ),
        "{report}"
    );
    assert_eq!(evidence(&report, "listener")[0]["process"], "redis-server");
    let fixes = report["suggestions"].to_string();
    assert!(
        fixes.contains("requirepass")
            && fixes.contains("protected-mode no")
            && fixes.contains("check redis://127.0.0.1:6390")
            && !fixes.contains("wait"),
        "{report}"
    );

    // From another host: the same cause and fixes, but no loopback of ours to go to.
    let report = diagnosis(
        lab.server.command_alone(REFUSED),
        &["--timeout", "10s", &target],
    );
    assert_eq!(cause(&report), "not-ready", "{report}");
    let fixes = report["suggestions"].to_string();
    assert!(
        fixes.contains("from Redis's own host over loopback") && !fixes.contains("wait"),
        "{report}"
    );
}

/// PostgreSQL with `listen_addresses = ''`: nothing on its port, so `no-listener`, but it runs,
/// and the report names it and its socket instead of telling to start it.
#[test]
fn postgres_on_its_unix_socket_alone_is_named_not_started() {
    let test = "postgres_on_its_unix_socket_alone_is_named_not_started";
    let Some(lab) = Lab::or_skip_needing(test, &[Tool::Postgres]) else {
        return;
    };
    let pg = postgres_with(Some(&lab.client), PostgresListen::SocketOnly).unwrap();
    let port = pg.addr.port();
    let socket = pg.dir().join(format!(".s.PGSQL.{port}"));
    wait_ready(&lab, &format!("unix://{}", socket.display()));

    let report = why(&lab, &[&format!("postgres://127.0.0.1:{port}/app")]);
    assert_eq!(cause(&report), "no-listener", "{report}");
    let held = evidence(&report, "unix-listener");
    assert_eq!(held.len(), 1, "{report}");
    assert_eq!(held[0]["path"], socket.to_str().unwrap(), "{report}");
    assert_eq!(held[0]["process"], "postgres", "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(
        summary.contains(&format!(
            "PostgreSQL runs: postgres (pid {}) listens only on its unix socket {}",
            held[0]["pid"],
            socket.display()
        )),
        "{report}"
    );
    let fixes = report["suggestions"].to_string();
    assert!(
        fixes.contains(&format!("postgresql:///app?host={}", pg.dir().display()))
            && fixes.contains("listen_addresses = 'localhost'")
            && !fixes.contains("start PostgreSQL"),
        "{report}"
    );

    // Without root the server's descriptors are closed, but its socket file, its user's and
    // taking connections, is seen all the same: the same fixes, not "start PostgreSQL".
    let report = why_as_nobody(&lab, &[&format!("postgres://127.0.0.1:{port}/app")]);
    assert_eq!(cause(&report), "no-listener", "{report}");
    let held = evidence(&report, "unix-listener");
    assert_eq!(held.len(), 1, "{report}");
    assert_eq!(held[0]["path"], socket.to_str().unwrap(), "{report}");
    assert_eq!(held[0]["process"], "postgres", "{report}");
    assert_eq!(held[0]["held_by"], "file-owner", "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(
        summary.contains(&format!(
            ", and its unix socket {}, a file of its user, takes connections",
            socket.display()
        )),
        "{report}"
    );
    let fixes = report["suggestions"].to_string();
    assert!(
        fixes.contains(&format!("postgresql:///app?host={}", pg.dir().display()))
            && fixes.contains("listen_addresses = 'localhost'")
            && !fixes.contains("start PostgreSQL"),
        "{report}"
    );
}

/// Redis with `port 0`: only its unix socket, on a port of the client's choosing (the scheme
/// names the service).
#[test]
fn redis_on_its_unix_socket_alone_is_named_not_started() {
    let test = "redis_on_its_unix_socket_alone_is_named_not_started";
    let Some(lab) = Lab::or_skip_needing(test, &[Tool::RedisServer]) else {
        return;
    };
    let dir = Scratch::new("redis-socket");
    let socket = dir.join("redis.sock");
    let socket_arg = socket.to_str().unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    #[rustfmt::skip]
    let args = [
        "--port", "0", "--unixsocket", socket_arg, "--save", "", "--appendonly", "no",
        "--dir", dir_arg,
    ];
    lab.client.spawn("redis-server", &args).unwrap();
    wait_ready(&lab, &format!("unix://{socket_arg}"));

    let report = why(&lab, &["redis://127.0.0.1:6391"]);
    assert_eq!(cause(&report), "no-listener", "{report}");
    let held = evidence(&report, "unix-listener");
    assert_eq!(held[0]["path"], socket_arg, "{report}");
    assert_eq!(held[0]["process"], "redis-server", "{report}");
    assert!(
        report["summary"]
            .as_str()
            .unwrap()
            .contains("Redis runs: redis-server (pid"),
        "{report}"
    );
    let fixes = report["suggestions"].to_string();
    assert!(
        fixes.contains(&format!("redis-cli -s {socket_arg}"))
            && fixes.contains("`port 6391`")
            && !fixes.contains("start Redis"),
        "{report}"
    );

    // Without root: the socket is root's, mode 0700 (Redis's `unixsocketperm` default), so
    // `nobody` may not connect; the kernel's unix table ties a listener to that very file.
    let report = why_as_nobody(&lab, &["redis://127.0.0.1:6391"]);
    assert_eq!(cause(&report), "no-listener", "{report}");
    let held = evidence(&report, "unix-listener");
    assert_eq!(held.len(), 1, "{report}");
    assert_eq!(held[0]["path"], socket_arg, "{report}");
    assert_eq!(held[0]["held_by"], "file-owner", "{report}");
    let fixes = report["suggestions"].to_string();
    assert!(
        fixes.contains(&format!("redis-cli -s {socket_arg}")) && !fixes.contains("start Redis"),
        "{report}"
    );
}

/// PostgreSQL whose `pg_hba.conf` has no line for TCP clients: it answers the startup packet
/// with `no pg_hba.conf entry for host "127.0.0.1", ...`. The server is up (`pg_isready` says
/// so too, and a client with TLS may match a `hostssl` line), so `reachable`, but the report
/// said only "accepts connections": it now warns with the server's words and the line to add.
#[test]
fn postgres_that_pg_hba_turns_away_is_up_with_the_line_to_add() {
    let test = "postgres_that_pg_hba_turns_away_is_up_with_the_line_to_add";
    let Some(lab) = Lab::or_skip_needing(test, &[Tool::Postgres]) else {
        return;
    };
    let pg = postgres_with(Some(&lab.client), PostgresListen::Loopback).unwrap();
    let target = format!("postgres://app@127.0.0.1:{}/appdb", pg.addr.port());
    wait_ready(&lab, &target);
    let data = pg.dir().join("data");
    std::fs::write(data.join("pg_hba.conf"), "local all all trust\n").unwrap();
    let postmaster = std::fs::read_to_string(data.join("postmaster.pid")).unwrap();
    let pid = postmaster.lines().next().unwrap();
    assert!(
        Command::new("kill")
            .args(["-HUP", pid])
            .status()
            .unwrap()
            .success()
    );
    // The reload is the postmaster's to make, soon after the signal.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let report = loop {
        let report = why(&lab, &[&target]);
        if report["warnings"].to_string().contains("pg_hba.conf") {
            break report;
        }
        assert!(std::time::Instant::now() < deadline, "{report}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(cause(&report), "reachable", "{report}");
    let warning = report["warnings"][0].as_str().unwrap();
    assert!(
        warning
            .contains(r#"no pg_hba.conf entry for host "127.0.0.1", user "app", database "appdb""#),
        "{warning}"
    );
    assert!(
        warning.contains("`host appdb app 127.0.0.1/32 scram-sha-256`"),
        "{warning}"
    );
}
