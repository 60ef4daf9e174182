//! `mysql://` against a real MariaDB from Debian's packages: the probe logs in (so the server
//! never blocks the prober's host for aborted connections), and the server's refusals of a host
//! and its full connection table get their own fixes, never "wait for it".

use std::io::Read as _;
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use refused_lab::servers::{Server, mariadb};
use refused_lab::{Lab, SERVER_V4, Tool};

use crate::why_lab::{REFUSED, cause, why};

/// Starts MariaDB in `netns` on `addr` with `args`, and waits (from the client namespace) until
/// it greets.
fn started(lab: &Lab, netns: &refused_lab::Netns, addr: SocketAddr, args: &[&str]) -> Server {
    let server = mariadb(Some(netns), addr, args).unwrap();
    let (ready, said) = refused(
        lab,
        &["wait", "--timeout", "30s", &format!("mysql://{addr}")],
    );
    let log = std::fs::read_to_string(server.dir().join("error.log")).unwrap_or_default();
    assert!(ready, "MariaDB on {addr} did not get ready: {said}\n{log}");
    server
}

/// An `--init-file` for the server that runs `sql` at its start (the folder kept while the
/// server runs).
fn init_file(sql: &str) -> (refused_lab::Scratch, String) {
    let dir = refused_lab::Scratch::new("mariadb-init");
    let file = dir.path().join("init.sql");
    std::fs::write(&file, sql).unwrap();
    // Readable by the server's own user.
    let _ = Command::new("chmod").arg("755").arg(dir.path()).status();
    let arg = format!("--init-file={}", file.display());
    (dir, arg)
}

/// `refused ARGS` in the client namespace: whether it succeeded, and its output.
fn refused(lab: &Lab, args: &[&str]) -> (bool, String) {
    let mut command: Command = lab.client.command(REFUSED);
    let output = command.args(args).output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

fn suggestions(report: &serde_json::Value) -> String {
    let all = report["suggestions"].as_array().unwrap();
    all.iter()
        .map(|s| s.as_str().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A connection closed before its login is a handshake error to MySQL and MariaDB, and
/// `max_connect_errors` of them in a row block the client's host. `check mysql://` logs in (as
/// `refused`, denied), so it may run any number of times; connections closed after the greeting
/// (a bare TCP health check's) are not, and the block they lead to is named with its fix.
#[test]
fn mysql_probes_log_in_so_the_server_never_blocks_their_host() {
    let test = "mysql_probes_log_in_so_the_server_never_blocks_their_host";
    let Some(lab) = Lab::or_skip_needing(test, &[Tool::Mariadb]) else {
        return;
    };
    let addr = SocketAddr::from((SERVER_V4, 3306));
    // An account for the client's network: its connections are let in to log in.
    let (_init, init) = init_file("CREATE USER app@'10.77.0.%';\n");
    // The server names a client's address (its blocked hosts are kept by name) from its
    // namespace's own hosts file; its resolver is a port of its own loopback where nothing
    // listens: no lookup leaves the lab.
    lab.server
        .write_etc("hosts", "127.0.0.1 localhost\n10.77.0.1 client.lab\n")
        .unwrap();
    lab.server
        .write_etc(
            "resolv.conf",
            "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
        )
        .unwrap();
    let server = started(&lab, &lab.server, addr, &["--max-connect-errors=2", &init]);
    let target = format!("mysql://{addr}");
    for n in 1..=5 {
        let (up, said) = refused(&lab, &["check", &target]);
        assert!(up, "check {n} of {target}: {said}");
    }
    // The URL's user, an account without a password: its login succeeds, and the server's log
    // says nothing of it (a denied one is a line fail2ban's `mysqld-auth` jail counts).
    let (up, said) = refused(&lab, &["check", &format!("mysql://app@{addr}")]);
    assert!(up, "{said}");
    let log = std::fs::read_to_string(server.dir().join("error.log")).unwrap();
    assert!(log.contains("Access denied for user 'refused'"), "{log}");
    assert!(!log.contains("Access denied for user 'app'"), "{log}");
    // Two connections closed after the greeting, as a bare TCP health check (and this probe,
    // before it logged in) does: the host is blocked.
    lab.client
        .run(|| {
            for _ in 0..2 {
                let mut greeted = TcpStream::connect(addr).unwrap();
                greeted
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                // All of it: a close with unread data is a reset, which the server does not
                // count.
                let mut header = [0u8; 4];
                greeted.read_exact(&mut header).unwrap();
                let length = u32::from_le_bytes([header[0], header[1], header[2], 0]);
                greeted.read_exact(&mut vec![0; length as usize]).unwrap();
            }
        })
        .unwrap();
    let report = why(&lab, &[&target]);
    assert_eq!(cause(&report), "not-ready", "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(
        summary.contains("refuses this client by its configuration: Host '10.77.0.1' is blocked because of many connection errors"),
        "{report}"
    );
    let fix = suggestions(&report);
    assert!(
        fix.contains("blocked 10.77.0.1 after `max_connect_errors`"),
        "{fix}"
    );
    assert!(fix.contains("flush-hosts"), "{fix}");
    assert!(!fix.contains("wait for it"), "{fix}");
}

/// `skip-name-resolve` and accounts for `localhost` alone (dropped `root@127.0.0.1` and
/// `root@::1`): TCP from 127.0.0.1 gets error 1130 in place of a greeting. Configuration, with
/// the account to create and the socket to use.
#[test]
fn a_host_without_an_account_is_configuration_not_a_wait() {
    let test = "a_host_without_an_account_is_configuration_not_a_wait";
    let Some(lab) = Lab::or_skip_needing(test, &[Tool::Mariadb]) else {
        return;
    };
    let (_init, init_file) =
        init_file("DROP USER IF EXISTS root@'127.0.0.1';\nDROP USER IF EXISTS root@'::1';\n");
    let addr: SocketAddr = "127.0.0.1:3306".parse().unwrap();
    let server = mariadb(
        Some(&lab.client),
        addr,
        &["--skip-name-resolve", &init_file],
    )
    .unwrap();
    let target = format!("mysql://{addr}");
    // Up, and refusing: `wait` does not end, `why` says why.
    let mut report = serde_json::Value::Null;
    for _ in 0..100 {
        report = why(&lab, &["--timeout", "3s", &target]);
        if report["summary"]
            .as_str()
            .unwrap_or_default()
            .contains("(1130)")
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(cause(&report), "not-ready", "{report}");
    assert!(
        report["summary"].as_str().unwrap().ends_with(
            "refuses this client by its configuration: Host '127.0.0.1' is not allowed to connect to this MariaDB server (1130)"
        ),
        "{report}"
    );
    let fix = suggestions(&report);
    assert!(fix.contains("CREATE USER 'app'@'127.0.0.1'"), "{fix}");
    assert!(fix.contains("--socket="), "{fix}");
    assert!(!fix.contains("wait for it"), "{fix}");
    drop(server);
}

/// Every connection taken (`max_connections` 10, and one more for an administrator): the
/// server answers `Too many connections` (1040) in place of a greeting. Waiting helps when the
/// holders let go; the fix names them and the setting.
#[test]
fn too_many_connections_names_the_holders_and_the_setting() {
    let test = "too_many_connections_names_the_holders_and_the_setting";
    let Some(lab) = Lab::or_skip_needing(test, &[Tool::Mariadb]) else {
        return;
    };
    let addr: SocketAddr = "127.0.0.1:3307".parse().unwrap();
    let _server = started(
        &lab,
        &lab.client,
        addr,
        &["--max-connections=10", "--skip-name-resolve"],
    );
    // Eleven connections, each greeted (so the server holds them), in the client namespace.
    let held = lab
        .client
        .run(|| {
            (0..11)
                .map(|_| {
                    let mut held = TcpStream::connect(addr).unwrap();
                    held.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                    let mut greeting = [0u8; 4];
                    held.read_exact(&mut greeting).unwrap();
                    held
                })
                .collect::<Vec<_>>()
        })
        .unwrap();
    let report = why(&lab, &[&format!("mysql://{addr}")]);
    assert_eq!(cause(&report), "not-ready", "{report}");
    assert!(
        report["summary"]
            .as_str()
            .unwrap()
            .ends_with("Too many connections (1040)"),
        "{report}"
    );
    let fix = suggestions(&report);
    assert!(
        fix.contains("connections are all taken (its `max_connections`)"),
        "{fix}"
    );
    assert!(fix.contains("`SHOW PROCESSLIST`"), "{fix}");
    drop(held);
}
