//! `refused why` on this host: usage errors, and the plain `refused TARGET` form.

use crate::common::refused;

#[test]
fn a_bad_target_is_a_usage_error_naming_the_bad_part() {
    let output = refused().args(["why", "localhost:99999"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("99999"), "{stderr}");
    assert!(output.stdout.is_empty());
}

#[test]
fn every_command_names_a_bad_target_the_same_way_and_exits_2() {
    let said = "error: invalid target `localhost:99999`: port `99999` is out of range (1-65535)\n";
    for args in [
        vec!["localhost:99999"],
        vec!["why", "localhost:99999"],
        vec!["check", "127.0.0.1:1", "localhost:99999"],
        vec!["wait", "127.0.0.1:1", "localhost:99999"],
    ] {
        let output = refused().args(&args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&output.stderr), said, "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
    let output = refused().args(["scan", "not a host"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.starts_with("error: invalid host `not a host`"),
        "{stderr}"
    );
    let output = refused()
        .arg("wait")
        .env("REFUSED_TARGETS", " ")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.starts_with("error: no targets"), "{stderr}");
}

#[test]
fn no_target_is_a_usage_error() {
    let output = refused().arg("why").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let output = refused().output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8(output.stderr).unwrap().contains("Usage"));
}

#[test]
fn plain_refused_target_is_why() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target = listener.local_addr().unwrap().to_string();
    let output = refused().args([&target, "--json"]).output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["cause"], "reachable");
    assert_eq!(report["target"], target);
}

#[test]
fn a_service_that_connects_but_answers_503_is_not_ready() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf);
            let _ =
                stream.write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n");
        }
    });
    let output = refused()
        .args(["why", "--json", &format!("http://{addr}/healthz")])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["cause"], "not-ready");
    assert!(
        report["summary"].as_str().unwrap().contains("HTTP 503"),
        "{report}"
    );
}
