//! `check`, `wait` and `why` against a real TLS server of OpenSSL's (`openssl s_server`) with the
//! self-signed certificates `openssl req -x509` makes: what curl and Python's requests accept
//! with `--cacert` / `verify=` is up here too, and what they reject is said in words.

use refused_lab::servers::{SelfSigned, openssl_server};
use refused_lab::{Tool, require};
use serde_json::Value;

use crate::common::refused;

/// OpenSSL's default self-signed certificate is a CA (`CA:TRUE`): with `--cacert` it is the
/// server's, as curl and requests take it; `wait` ended only at its timeout, `check` said
/// `Other(OtherError(CaUsedAsEndEntity))`.
#[test]
fn check_wait_and_why_trust_openssls_default_certificate_with_cacert() {
    if !require(
        "check_wait_and_why_trust_openssls_default_certificate_with_cacert",
        &[Tool::Openssl],
    ) {
        return;
    }
    let server = openssl_server(SelfSigned::Ca).unwrap();
    let cert = server.dir().join("cert.pem");
    let target = format!("https://localhost:{}/", server.addr.port());

    let check = refused()
        .args(["check", "--json", "--cacert"])
        .arg(&cert)
        .arg(&target)
        .output()
        .unwrap();
    let line: Value = serde_json::from_slice(&check.stdout).unwrap();
    assert_eq!(check.status.code(), Some(0), "{line}");
    assert_eq!(line["reason"], "reachable", "{line}");

    let wait = refused()
        .args(["wait", "--timeout", "10s", "--cacert"])
        .arg(&cert)
        .args([&target, "--", "true"])
        .output()
        .unwrap();
    assert_eq!(
        wait.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&wait.stderr)
    );

    let why = refused()
        .args(["why", "--json", "--cacert"])
        .arg(&cert)
        .arg(&target)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&why.stdout).unwrap();
    assert_eq!(report["cause"], "reachable", "{report}");

    // Without it: the same words in `check` and `why`, and `why`'s fix is the certificate's.
    let check = refused().args(["check", &target]).output().unwrap();
    assert_eq!(check.status.code(), Some(1));
    let said = String::from_utf8_lossy(&check.stdout);
    assert!(
        said.contains("the server's certificate is a CA certificate (`CA:TRUE`")
            && !said.contains("Other("),
        "{said}"
    );
    let why = refused().args(["why", "--json", &target]).output().unwrap();
    let report: Value = serde_json::from_slice(&why.stdout).unwrap();
    assert_eq!(report["cause"], "not-ready", "{report}");
    let fix = report["suggestions"].to_string();
    assert!(
        fix.contains("waiting does not change the server's certificate: `--cacert FILE` with that very certificate")
            && !fix.contains("wait for it"),
        "{report}"
    );
}

/// A self-signed `CA:FALSE` certificate for `localhost` is not trusted, in those words (it was
/// `BadSignature`: Debian's snakeoil certificate, also `CN=localhost`, is in /etc/ssl/certs).
#[test]
fn a_self_signed_certificate_is_not_trusted_in_check_and_why() {
    if !require(
        "a_self_signed_certificate_is_not_trusted_in_check_and_why",
        &[Tool::Openssl],
    ) {
        return;
    }
    let server = openssl_server(SelfSigned::Leaf).unwrap();
    let target = format!("https://localhost:{}/", server.addr.port());
    let check = refused()
        .args(["check", "--json", &target])
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(1));
    let line: Value = serde_json::from_slice(&check.stdout).unwrap();
    // The reason is the contract's, unchanged; the summary says why.
    assert_eq!(line["reason"], "not-ready", "{line}");
    let summary = line["summary"].as_str().unwrap();
    assert!(
        summary
            .starts_with("the server's certificate is not signed by an authority this host trusts"),
        "{line}"
    );
    let why = refused().args(["why", "--json", &target]).output().unwrap();
    let report: Value = serde_json::from_slice(&why.stdout).unwrap();
    assert!(
        report["summary"]
            .as_str()
            .unwrap()
            .ends_with("is not signed by an authority this host trusts (it is self-signed, or signed by a CA of its own)"),
        "{report}"
    );
    let with_cacert = refused()
        .args(["check", "--cacert"])
        .arg(server.dir().join("cert.pem"))
        .arg(&target)
        .output()
        .unwrap();
    assert_eq!(with_cacert.status.code(), Some(0));
}

/// A plain `http://` request to OpenSSL's TLS port is closed without an answer. `why` listed
/// a TLS port among four guesses (nginx's `return 444`, the PROXY protocol, a proxy without its
/// backend; review h22), last; it now asks the port a TLS handshake, which OpenSSL answers, and
/// says that it speaks TLS, with the `https://` URL alone (audit h25).
#[test]
fn a_plain_request_to_a_tls_port_names_tls() {
    if !require("a_plain_request_to_a_tls_port_names_tls", &[Tool::Openssl]) {
        return;
    }
    let server = openssl_server(SelfSigned::Ca).unwrap();
    let target = format!("http://localhost:{}/", server.addr.port());
    let why = refused()
        .args(["why", "--json", "--timeout", "5s", &target])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&why.stdout).unwrap();
    assert_eq!(report["cause"], "not-ready", "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(
        summary.contains("speaks TLS") && summary.contains("answered a TLS handshake"),
        "{report}"
    );
    let fixes = report["suggestions"].as_array().unwrap();
    let https = format!(" why https://localhost:{}/`", server.addr.port());
    assert_eq!(fixes.len(), 1, "{report}");
    assert!(fixes[0].as_str().unwrap().contains(&https), "{report}");
}

/// `wait` for an `http://` target on a TLS port ran out of time saying only "no valid HTTP
/// response": the probe's own words. Its report now says what `why` says, diagnosed before the
/// deadline: the port speaks TLS, and the `https://` URL to ask. An HTTP 503, where `why` knows
/// nothing more than "wait for it", gets no such line.
#[test]
fn a_wait_that_times_out_on_a_tls_port_says_it_speaks_tls() {
    if !require(
        "a_wait_that_times_out_on_a_tls_port_says_it_speaks_tls",
        &[Tool::Openssl],
    ) {
        return;
    }
    let server = openssl_server(SelfSigned::Ca).unwrap();
    let target = format!("http://localhost:{}/", server.addr.port());
    let wait = refused()
        .args(["wait", "--timeout", "2s", &target])
        .output()
        .unwrap();
    assert_eq!(wait.status.code(), Some(1));
    let said = String::from_utf8_lossy(&wait.stderr);
    assert!(
        said.contains("not-ready: ") && said.contains("speaks TLS"),
        "{said}"
    );
    let https = format!("https://localhost:{}/", server.addr.port());
    assert!(
        said.contains(&format!("fix: ask it over TLS: `{https}`")),
        "{said}"
    );
    let json = refused()
        .args(["wait", "--json", "--timeout", "2s", &target])
        .output()
        .unwrap();
    let last = String::from_utf8_lossy(&json.stdout);
    let timeout: Value = serde_json::from_str(last.lines().last().unwrap()).unwrap();
    assert_eq!(timeout["cause"], "not-ready", "{timeout}");

    let unavailable = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = unavailable.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in unavailable.incoming().flatten() {
            let mut buf = [0u8; 1024];
            let _ = std::io::Read::read(&mut &stream, &mut buf);
            let _ = std::io::Write::write_all(
                &mut &stream,
                b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n",
            );
        }
    });
    let wait = refused()
        .args(["wait", "--timeout", "1s"])
        .arg(format!("http://127.0.0.1:{port}/"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&wait.stderr);
    assert!(said.contains("not ready after 1.0 s: HTTP 503"), "{said}");
    assert!(!said.contains("not-ready: "), "{said}");
}

/// A plain HTTP server that closes a request without an answer does not speak TLS either: the
/// handshake asked says so, and no TLS port is guessed.
#[test]
fn a_plain_port_that_closes_is_not_guessed_to_speak_tls() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            // Read the request (or the ClientHello), then close without a byte.
            let mut buf = [0u8; 1024];
            let _ = std::io::Read::read(&mut &stream, &mut buf);
            drop(stream);
        }
    });
    let why = refused()
        .args(["why", "--json", "--timeout", "5s"])
        .arg(format!("http://127.0.0.1:{port}/"))
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&why.stdout).unwrap();
    assert_eq!(report["cause"], "not-ready", "{report}");
    assert!(
        report["summary"]
            .as_str()
            .unwrap()
            .contains("closed the connection without answering"),
        "{report}"
    );
    assert!(
        !report["suggestions"].to_string().contains("TLS"),
        "{report}"
    );
}
