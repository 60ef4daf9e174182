//! `refused wait` as wait-for-it and wait4x users type it: `-h HOST -p PORT`, `-s`, `-t 15`,
//! `-q`, `-i`, `--invert-check`, and wait4x's `--expect-*` names.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener};

use refused_lab::{RefusedPort, Scratch};

use crate::common::{assert_exit, refused};

#[test]
fn wait_for_its_host_and_port_flags_wait_and_run_the_command() {
    let open = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = open.local_addr().unwrap().port().to_string();
    // `wait -h db -p 5432` used to print the help and exit 0, whatever the service did.
    let output = refused()
        .args([
            "wait",
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-t",
            "15",
            "-s",
            "--",
        ])
        .args(["sh", "-c", "echo ran"])
        .output()
        .unwrap();
    assert_exit(&output, 0);
    assert_eq!(String::from_utf8_lossy(&output.stdout), "ran\n");

    let output = refused()
        .args([
            "wait",
            "--host=127.0.0.1",
            &format!("--port={port}"),
            "--strict",
            "-q",
        ])
        .output()
        .unwrap();
    assert_exit(&output, 0);
    assert!(output.stderr.is_empty());
}

#[test]
fn wait_for_its_host_port_first_form_and_a_timeout_in_seconds() {
    let refusing = RefusedPort::v4().unwrap();
    let scratch = Scratch::new("wait_for_its_host_port_first_form_and_a_timeout_in_seconds");
    let marker = scratch.join("ran");
    // `-t 0.3`: a bare number is seconds, as in wait-for-it; `-s`: the command runs only when
    // ready, which is what refused always does.
    let output = refused()
        .args([
            "wait",
            &refusing.addr().to_string(),
            "-t",
            "0.3",
            "-s",
            "--",
            "touch",
        ])
        .arg(&marker)
        .output()
        .unwrap();
    assert_exit(&output, 1);
    assert!(!marker.exists());
}

#[test]
fn an_ipv6_host_gets_its_brackets() {
    let open = TcpListener::bind("[::1]:0").unwrap();
    let port = open.local_addr().unwrap().port().to_string();
    let output = refused()
        .args(["wait", "--json", "-h", "::1", "-p", &port, "-t", "5"])
        .output()
        .unwrap();
    assert_exit(&output, 0);
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.contains(&format!("\"target\":\"[::1]:{port}\"")),
        "{stdout}"
    );
}

#[test]
fn a_host_without_a_port_is_a_usage_error() {
    let output = refused().args(["wait", "-h", "db"]).output().unwrap();
    assert_exit(&output, 2);
    assert!(String::from_utf8_lossy(&output.stderr).contains("--port"));
    let output = refused().args(["wait", "-p", "5432"]).output().unwrap();
    assert_exit(&output, 2);
    assert!(String::from_utf8_lossy(&output.stderr).contains("--host"));
}

#[test]
fn help_for_wait_is_the_long_flag_only() {
    let output = refused().args(["wait", "--help"]).output().unwrap();
    assert_exit(&output, 0);
    let help = String::from_utf8(output.stdout).unwrap();
    assert!(help.contains("-h, --host <HOST>"), "{help}");
    // `-h` with no host is a usage error, not help.
    let output = refused().args(["wait", "-h"]).output().unwrap();
    assert_exit(&output, 2);
}

#[test]
fn wait4x_interval_and_invert_check() {
    let refusing = RefusedPort::v4().unwrap();
    let output = refused()
        .args([
            "wait",
            &refusing.addr().to_string(),
            "-i",
            "10ms",
            "--invert-check",
            "-t",
            "5s",
        ])
        .output()
        .unwrap();
    assert_exit(&output, 0);
}

#[test]
fn wait4x_expect_names_are_accepted() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf);
            let _ = stream
                .write_all(b"HTTP/1.1 204 No Content\r\nx-ready: yes\r\ncontent-length: 0\r\n\r\n");
        }
    });
    let output = refused()
        .args(["wait", &format!("http://{addr}/"), "-t", "5s"])
        .args([
            "--expect-status-code",
            "204",
            "--expect-header",
            "x-ready: yes",
        ])
        .output()
        .unwrap();
    assert_exit(&output, 0);
    // The same with a status it does not answer: not ready, so the wait times out.
    let output = refused()
        .args(["wait", &format!("http://{addr}/"), "-t", "300ms"])
        .args(["--expect-status-code", "200"])
        .output()
        .unwrap();
    assert_exit(&output, 1);
}
