//! Arguments as people type them: nmap's `-p -1024`, booleans from the environment, timeouts
//! past any sane bound, URLs with commas, bad `--cacert` files, mistyped subcommands, `-q` and
//! `--color` everywhere.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};

use refused_lab::{RefusedPort, Scratch};
use serde_json::Value;

use crate::common::{assert_exit, refused};

/// An HTTP server on loopback answering 200 to everything, and the path of each request.
fn http_ok() -> (SocketAddr, std::sync::mpsc::Receiver<String>) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 2048];
            let n = stream.read(&mut buf).unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]).into_owned();
            if let Some(path) = request.split_whitespace().nth(1) {
                let _ = tx.send(path.to_owned());
            }
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
        }
    });
    (addr, rx)
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn scan_takes_nmaps_dash_range_as_the_readme_shows() {
    for ports in [["-p", "-1024"], ["--ports", "-1024"]] {
        let output = refused()
            .args(["scan", "127.0.0.1", "--json"])
            .args(ports)
            .output()
            .unwrap();
        assert_exit(&output, 0);
        let report: Value = serde_json::from_slice(&output.stdout).unwrap();
        let counts = &report["hosts"][0]["counts"];
        let total: u64 = ["open", "closed", "filtered"]
            .iter()
            .map(|state| counts[state].as_u64().unwrap())
            .sum();
        assert_eq!(total, 1024, "{report}");
    }
}

#[test]
fn booleans_from_the_environment_take_1_0_yes_no_true_false() {
    let refusing = RefusedPort::v4().unwrap();
    let target = refusing.addr().to_string();
    for yes in ["1", "yes", "true", "on"] {
        // REFUSED_QUIET: nothing on stdout, the status says it.
        let output = refused()
            .args(["check", &target])
            .env("REFUSED_QUIET", yes)
            .output()
            .unwrap();
        assert_exit(&output, 1);
        assert!(output.stdout.is_empty(), "REFUSED_QUIET={yes}");
        // REFUSED_DOWN: the port already refuses, so the wait is over at once.
        let output = refused()
            .args(["wait", &target, "--timeout", "10s"])
            .env("REFUSED_DOWN", yes)
            .output()
            .unwrap();
        assert_exit(&output, 0);
        // REFUSED_INSECURE is accepted (a plain TCP target does not use it).
        let output = refused()
            .args(["check", &target])
            .env("REFUSED_INSECURE", yes)
            .output()
            .unwrap();
        assert_exit(&output, 1);
    }
    let open = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let output = refused()
        .args(["wait", "--timeout", "10s"])
        .arg(open.local_addr().unwrap().to_string())
        .arg(&target)
        .env("REFUSED_ANY", "1")
        .output()
        .unwrap();
    assert_exit(&output, 0);
    for no in ["0", "no", "false", "off"] {
        let output = refused()
            .args(["check", &target])
            .env("REFUSED_QUIET", no)
            .output()
            .unwrap();
        assert_exit(&output, 1);
        assert!(!output.stdout.is_empty(), "REFUSED_QUIET={no}");
    }
    let output = refused()
        .args(["check", &target])
        .env("REFUSED_QUIET", "maybe")
        .output()
        .unwrap();
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("maybe"), "{}", stderr(&output));
}

#[test]
fn a_timeout_past_the_bound_is_a_usage_error_naming_it() {
    for command in [
        vec!["check", "127.0.0.1:1"],
        vec!["why", "127.0.0.1:1"],
        vec!["wait", "127.0.0.1:1"],
        vec!["scan", "127.0.0.1", "-p", "1"],
    ] {
        let output = refused()
            .args(&command)
            .args(["--timeout", "5000000000000000h"])
            .output()
            .unwrap();
        assert_exit(&output, 2);
        let stderr = stderr(&output);
        assert!(stderr.contains("at most 7d"), "{command:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let output = refused()
        .args(["wait", "127.0.0.1:1", "--interval", "8d"])
        .output()
        .unwrap();
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("at most 7d"));
}

#[test]
fn a_zero_timeout_means_no_limit_in_every_command() {
    let open = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let target = open.local_addr().unwrap().to_string();
    // `check` and `why` succeed: `0` is not "fail at once".
    for command in ["check", "why"] {
        let output = refused()
            .args([command, &target, "--timeout", "0"])
            .output()
            .unwrap();
        assert_exit(&output, 0);
    }
    let output = refused()
        .args(["scan", "127.0.0.1", "--timeout", "0", "--json", "-p"])
        .arg(open.local_addr().unwrap().port().to_string())
        .output()
        .unwrap();
    assert_exit(&output, 0);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["hosts"][0]["counts"]["open"], 1, "{report}");
    // `wait` waits for a late listener, however long it takes.
    let late = RefusedPort::v4().unwrap();
    let late_target = late.addr().to_string();
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        late.socket().listen(16).unwrap();
        std::thread::sleep(std::time::Duration::from_secs(10));
    });
    let output = refused()
        .args(["wait", &late_target, "--timeout", "0"])
        .output()
        .unwrap();
    assert_exit(&output, 0);
}

#[test]
fn a_url_with_commas_is_one_target() {
    let (addr, paths) = http_ok();
    let url = format!("http://{addr}/x?a=1,2");
    let output = refused()
        .args(["wait", "--json", "--timeout", "10s", &url])
        .output()
        .unwrap();
    assert_exit(&output, 0);
    let events: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        events.iter().all(|e| e["target"] == url.as_str()),
        "{events:?}"
    );
    assert_eq!(paths.recv().unwrap(), "/x?a=1,2");
}

#[test]
fn targets_from_the_environment_are_separated_by_spaces() {
    let open = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let (addr, _paths) = http_ok();
    let output = refused()
        .args(["wait", "--json", "--timeout", "10s"])
        .env(
            "REFUSED_TARGETS",
            format!("{}\n  http://{addr}/?a=1,2 ", open.local_addr().unwrap()),
        )
        .output()
        .unwrap();
    assert_exit(&output, 0);
    let stdout = String::from_utf8(output.stdout).unwrap();
    let ready: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["kind"] == "ready")
        .collect();
    assert_eq!(ready.len(), 2, "{stdout}");
}

#[test]
fn a_bad_cacert_is_a_usage_error_at_start() {
    let scratch = Scratch::new("a_bad_cacert_is_a_usage_error_at_start");
    let not_pem = scratch.file("not.pem", "this is not a certificate\n");
    let not_pem = not_pem.to_str().unwrap();
    for (file, needle) in [
        (
            "/nonexistent/ca.pem",
            "cannot read CA file `/nonexistent/ca.pem`",
        ),
        (not_pem, "holds no PEM certificate"),
    ] {
        for command in ["check", "wait", "why"] {
            let output = refused()
                .args([command, "https://127.0.0.1:1", "--cacert", file])
                .output()
                .unwrap();
            assert_exit(&output, 2);
            let stderr = stderr(&output);
            assert!(stderr.contains(needle), "{command} {file}: {stderr}");
        }
    }
    let _ = std::fs::remove_file(not_pem);
}

#[test]
fn a_mistyped_subcommand_gets_did_you_mean() {
    for (typed, meant) in [("chek", "check"), ("wiat", "wait"), ("scna", "scan")] {
        let output = refused().args([typed, "localhost:8000"]).output().unwrap();
        assert_exit(&output, 2);
        let stderr = stderr(&output);
        assert!(
            stderr.contains(&format!("unrecognized subcommand `{typed}`")),
            "{stderr}"
        );
        assert!(
            stderr.contains(&format!("did you mean `{meant}`?")),
            "{stderr}"
        );
    }
    // A word that looks like nothing is still taken as a target (and said to lack a port).
    let output = refused().arg("database").output().unwrap();
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("no port given for `database`"));
}

#[test]
fn quiet_silences_every_command_but_keeps_the_status() {
    let refusing = RefusedPort::v4().unwrap();
    let target = refusing.addr().to_string();
    for args in [
        vec!["-q", "check", &target],
        vec!["check", "-q", &target],
        vec!["why", "--quiet", &target],
        vec!["-q", &target],
        vec!["wait", "-q", "--timeout", "200ms", &target],
    ] {
        let output = refused().args(&args).output().unwrap();
        assert_exit(&output, 1);
        assert!(output.stdout.is_empty(), "{args:?}");
        assert!(output.stderr.is_empty(), "{args:?}: {}", stderr(&output));
    }
    let output = refused()
        .args([
            "scan",
            "-q",
            "127.0.0.1",
            "-p",
            &refusing.port().to_string(),
        ])
        .output()
        .unwrap();
    assert_exit(&output, 0);
    assert!(output.stdout.is_empty() && output.stderr.is_empty());
}

#[test]
fn color_always_colours_a_pipe_and_never_wins_over_a_forced_terminal() {
    let refusing = RefusedPort::v4().unwrap();
    let target = refusing.addr().to_string();
    let output = refused()
        .env_remove("NO_COLOR")
        .args(["check", "--color", "always", &target])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stdout).contains("\x1b["));
    let output = refused()
        .env_remove("NO_COLOR")
        .env("CLICOLOR_FORCE", "1")
        .args(["--color", "never", "check", &target])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&output.stdout).contains('\x1b'));
    let output = refused()
        .env_remove("NO_COLOR")
        .args(["check", &target])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&output.stdout).contains('\x1b'),
        "auto: a pipe gets no colours"
    );
}

#[test]
fn the_top_level_help_lists_the_exit_codes() {
    let output = refused().arg("--help").output().unwrap();
    assert_exit(&output, 0);
    let help = String::from_utf8(output.stdout).unwrap();
    assert!(help.contains("Exit status:"), "{help}");
    for line in [
        "0  reachable",
        "1  not reachable",
        "2  usage error",
        "130/143",
    ] {
        assert!(help.contains(line), "{line}: {help}");
    }
}

/// What people paste from other tools' errors: each is a usage error whose message says what
/// to type, never a diagnosis of something else (Java's `/127.0.0.1:8080` was a unix socket's
/// path, Node's `::1:3000` said to write `[::1:3000]:PORT`).
#[test]
fn pasted_forms_say_what_to_type() {
    for (pasted, meant) in [
        ("::1:3000", "`[::1]:3000`"),
        ("localhost/127.0.0.1:8080", "`127.0.0.1:8080`"),
        ("/127.0.0.1:8080", "`127.0.0.1:8080`"),
        ("127.0.0.1:8080:", "`127.0.0.1:8080`"),
        (
            "dial tcp 127.0.0.1:8080: connect: connection refused",
            "`127.0.0.1:8080`",
        ),
        (
            r#"connection to server at "localhost" (::1), port 5432 failed"#,
            "`[::1]:5432`",
        ),
        ("rediss://127.0.0.1:6380", "`tls://127.0.0.1:6380`"),
    ] {
        for command in ["why", "check"] {
            let output = refused().args([command, pasted]).output().unwrap();
            assert_exit(&output, 2);
            let stderr = stderr(&output);
            assert!(stderr.contains(meant), "{command} {pasted}: {stderr}");
            assert!(!stderr.contains("]:PORT"), "{command} {pasted}: {stderr}");
        }
    }
}

/// A URL's password is in no report: `wait postgres://app:secret@db/app -- ...` runs in CI,
/// whose logs keep every line.
#[test]
fn a_password_in_the_target_is_not_printed() {
    let refusing = RefusedPort::v4().unwrap();
    let target = format!("postgres://app:s3cret@{}/app", refusing.addr());
    for args in [
        vec!["why", &target],
        vec!["why", "--json", &target],
        vec!["check", &target],
        vec!["check", "--json", &target],
        vec!["wait", "--timeout", "200ms", &target],
    ] {
        let output = refused().args(&args).output().unwrap();
        assert_exit(&output, 1);
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            stderr(&output)
        );
        assert!(!all.contains("s3cret"), "{args:?}: {all}");
        assert!(all.contains("app:***@"), "{args:?}: {all}");
    }
}

/// `nc -z localhost 8080`'s habit, a host and its port as two arguments, and a port alone: said
/// as such, with the one argument to write. `why` said "unexpected argument '8080' found",
/// `check` and `wait` "no port given for `localhost`", and `8080` "write `8080:PORT`".
#[test]
fn a_host_and_port_apart_or_a_port_alone_say_what_to_type() {
    for args in [
        vec!["why", "localhost", "8080"],
        vec!["localhost", "8080"],
        vec!["check", "localhost", "8080"],
        vec!["wait", "--timeout", "1s", "localhost", "8080"],
    ] {
        let output = refused().args(&args).output().unwrap();
        assert_exit(&output, 2);
        assert!(
            stderr(&output).contains("two arguments (as `nc` takes them): write `localhost:8080`"),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    let output = refused().args(["why", "8080"]).output().unwrap();
    assert_exit(&output, 2);
    assert!(
        stderr(&output).contains("`8080` is a port alone: write `HOST:8080`"),
        "{}",
        stderr(&output)
    );
    let output = refused()
        .args(["why", "127.0.0.1:1", "more"])
        .output()
        .unwrap();
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("unexpected argument `more`"));
}
