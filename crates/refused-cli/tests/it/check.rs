//! `refused check` against real loopback sockets.

use std::net::{Ipv4Addr, TcpListener};

use refused_lab::{RefusedPort, Scratch};

use crate::common::refused;
use crate::snapshot;

#[test]
fn open_port_is_up() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let output = refused()
        .args(["check", &format!("127.0.0.1:{port}")])
        .output()
        .unwrap();
    snapshot!("check_open", &output, &[port]);
}

#[test]
fn refused_port_is_down() {
    let refusing = RefusedPort::v4().unwrap();
    let output = refused()
        .args(["check", &refusing.addr().to_string()])
        .output()
        .unwrap();
    snapshot!("check_refused", &output, &[refusing.port()]);
}

#[test]
fn one_down_target_fails_the_whole_check() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let open = listener.local_addr().unwrap().port();
    let refusing = RefusedPort::v4().unwrap();
    let output = refused()
        .args([
            "check",
            &format!("localhost:{open}"),
            &refusing.addr().to_string(),
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn json_is_one_object_per_target() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let open = listener.local_addr().unwrap().port();
    let refusing = RefusedPort::v4().unwrap();
    let output = refused()
        .args([
            "check",
            "--json",
            &format!("127.0.0.1:{open}"),
            &refusing.addr().to_string(),
        ])
        .output()
        .unwrap();
    snapshot!("check_json", &output, &[open, refusing.port()]);
    let lines: Vec<serde_json::Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["reason"], "reachable");
    assert_eq!(lines[1]["reason"], "refused");
    assert_eq!(lines[1]["attempts"][0]["errno"], 111);
}

#[test]
fn missing_unix_socket() {
    let scratch = Scratch::new("missing_unix_socket");
    let path = scratch.join("app.sock");
    let output = refused()
        .args(["check", &format!("unix://{}", path.display())])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("the path does not exist"), "{stdout}");
}

#[test]
fn bad_target_is_a_usage_error_naming_the_part() {
    let output = refused()
        .args(["check", "localhost:99999"])
        .output()
        .unwrap();
    snapshot!("check_bad_port", &output, &[]);
    let output = refused().args(["check", "http://[::1"]).output().unwrap();
    snapshot!("check_unclosed_bracket", &output, &[]);
}

#[test]
fn bad_timeout_is_a_usage_error() {
    let output = refused()
        .args(["check", "--timeout", "3x", "localhost:1"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown unit `x`"));
}

#[test]
fn no_target_is_a_usage_error() {
    let output = refused().arg("check").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn thousands_of_targets_under_a_low_open_file_limit_are_all_really_tried() {
    // A listener that never accepts: each connect completes in the kernel's accept queue and stays
    // open (so the settle check passes), until the queue's 4096 places are used.
    let port = RefusedPort::v4().unwrap();
    port.socket().listen(4096).unwrap();
    let target = port.addr().to_string();
    let targets = vec![target.as_str(); 2000];
    // `ulimit -n 256` lowers both limits in dash: 256 descriptors, however many targets.
    let output = std::process::Command::new("sh")
        .args(["-c", r#"ulimit -n 256 && exec "$0" check --json "$@""#])
        .arg(env!("CARGO_BIN_EXE_refused"))
        .args(&targets)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2000);
    let down: Vec<&serde_json::Value> = lines.iter().filter(|l| l["state"] != "up").collect();
    assert!(down.is_empty(), "{} down, first: {}", down.len(), down[0]);
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn an_ipv6_zone_is_part_of_the_target() {
    let listener = TcpListener::bind("[::1]:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let output = refused()
        .args(["check", &format!("[::1%lo]:{port}")])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output = refused()
        .args(["check", &format!("[fe80::1%no-such-if0]:{port}")])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no network interface"));
}

/// The hint on stderr is only a hint: a stderr whose reader is gone (`2>&1 | head -1` once head
/// has exited) must not turn a down target's exit status 1 into the broken pipe's 0.
#[test]
fn a_closed_stderr_keeps_a_down_checks_status() {
    let refusing = RefusedPort::v4().unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let status = std::process::Command::new(assert_cmd::cargo::cargo_bin("refused"))
        .env("NO_COLOR", "1")
        .args(["check", &refusing.addr().to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(writer)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1));
}

/// The hint runs `why` with the time the check was given: a connect that timed out at 10 s may
/// not at `why`'s default.
#[test]
fn the_hint_to_why_keeps_the_checks_timeout() {
    let refusing = RefusedPort::v4().unwrap();
    let addr = refusing.addr().to_string();
    for (given, hint) in [
        (None, format!("`refused why {addr}`")),
        (Some("3s"), format!("`refused why {addr}`")),
        (Some("10s"), format!("`refused why --timeout 10s {addr}`")),
        (
            Some("1.5s"),
            format!("`refused why --timeout 1500ms {addr}`"),
        ),
        (
            Some("1001ms"),
            format!("`refused why --timeout 1001ms {addr}`"),
        ),
        (
            Some("2.5ms"),
            format!("`refused why --timeout 2.5ms {addr}`"),
        ),
        (Some("0"), format!("`refused why --timeout 0 {addr}`")),
    ] {
        let mut command = refused();
        command.arg("check");
        if let Some(timeout) = given {
            command.args(["--timeout", timeout]);
        }
        let output = command.arg(&addr).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(&hint), "{given:?}: {stderr}");
    }
}
