//! Rule tests of an HTTP front end's own answers (`front_end`): what the probe saw of HAProxy
//! and nginx, and the fixes that are not a wait (audit h19).

use super::*;
use crate::probe::ProtocolErrorKind as Kind;

/// The finding for `readiness` at `http(s)://10.0.0.5:8080/`, with the listener held by
/// `process` when one is given (the server's own host).
fn front(target: &str, readiness: Readiness, process: Option<&str>) -> Finding {
    let f = Facts {
        probe: Some(readiness),
        listeners: process.map(|p| vec![listening("10.0.0.5:8080", p)]),
        ..one(target, tried("10.0.0.5:8080", Outcome::Connected, 0))
    };
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::NotReady);
    finding
}

#[test]
fn a_load_balancer_without_a_backend_is_sent_to_its_backends_and_to_wait_only_if_one_starts() {
    let finding = front(
        "http://10.0.0.5:8080/",
        Readiness::NotReady(format!(
            "HTTP 503 Service Unavailable: {}",
            crate::probe::NO_BACKEND
        )),
        None,
    );
    assert!(
        finding.summary.ends_with("not ready: HTTP 503 Service Unavailable: the load balancer has no backend server available"),
        "{}",
        finding.summary
    );
    assert!(
        finding.suggestions[0].contains("show servers state")
            && finding.suggestions[0].contains("refused why HOST:PORT"),
        "{:?}",
        finding.suggestions
    );
    assert!(
        finding.suggestions[1].starts_with(
            "if a backend is starting, waiting helps: `refused wait http://10.0.0.5:8080/`"
        ),
        "{:?}",
        finding.suggestions
    );
    // A bare 503 is still a wait.
    let finding = front(
        "http://10.0.0.5:8080/",
        Readiness::NotReady("HTTP 503 Service Unavailable".to_owned()),
        None,
    );
    assert!(
        finding.suggestions[0].starts_with("the service is up but not ready: wait for it"),
        "{:?}",
        finding.suggestions
    );
}

#[test]
fn a_rate_limit_is_not_a_wait() {
    let finding = front(
        "http://10.0.0.5:8080/",
        Readiness::NotReady(format!(
            "HTTP 429 Too Many Requests: {} (Retry-After: 60)",
            crate::probe::RATE_LIMITED
        )),
        Some("nginx"),
    );
    assert_eq!(finding.suggestions.len(), 1, "{:?}", finding.suggestions);
    let fix = &finding.suggestions[0];
    assert!(
        fix.starts_with("the server rate-limits this client (its Retry-After asks to wait 60 s before the next request): send fewer requests")
            && fix.contains("is the wrong fix"),
        "{fix}"
    );
}

#[test]
fn a_close_without_an_answer_is_said_with_what_does_it_on_purpose() {
    let closed = || {
        exchange_failed(
            Kind::Closed,
            "no valid HTTP response: connection closed before message completed",
        )
    };
    for process in [None, Some("nginx")] {
        let finding = front("http://10.0.0.5:8080/", closed(), process);
        let who = process.map_or("the server", |_| "nginx (pid 4242)");
        assert_eq!(
            finding.summary,
            format!(
                "10.0.0.5:8080 accepts connections, but {who} closed the connection without answering the HTTP request"
            )
        );
        let fixes = finding.suggestions.join("\n");
        assert!(
            fixes.contains("`return 444`")
                && fixes.contains("`listen ... proxy_protocol`, which logs `broken header`")
                && !fixes.contains("the service is up but not ready"),
            "{fixes}"
        );
    }
    // The same close behind TLS (`return 444` in a `listen 443 ssl` server).
    let finding = front("https://10.0.0.5:8080/", closed(), Some("nginx"));
    assert!(
        finding
            .summary
            .ends_with("closed the connection without answering the HTTPS request"),
        "{}",
        finding.summary
    );
    let finding = front("http://10.0.0.5:8080/", closed(), Some("haproxy"));
    assert!(
        finding.suggestions[0].contains("`http-request reject`"),
        "{:?}",
        finding.suggestions
    );
    // A plain request to a TLS port is closed or reset so too (OpenSSL's `s_server`, Python's
    // `ssl`): said, with the https URL to ask (review h22); not of an https:// target.
    for kind in [Kind::Closed, Kind::Io] {
        let finding = front(
            "http://10.0.0.5:8080/",
            exchange_failed(kind, "no valid HTTP response: connection error"),
            Some("openssl"),
        );
        assert!(
            finding
                .suggestions
                .iter()
                .any(|s| s.contains("speaks TLS") && s.contains("why https://10.0.0.5:8080/`")),
            "{:?}",
            finding.suggestions
        );
    }
    // Without a port: the TLS request goes to the port that closed the plain one, 80, not 443.
    let finding = front(
        "http://10.0.0.5/",
        exchange_failed(Kind::Closed, "no valid HTTP response: connection error"),
        Some("openssl"),
    );
    assert!(
        finding
            .suggestions
            .iter()
            .any(|s| s.contains("why https://10.0.0.5:80/`")),
        "{:?}",
        finding.suggestions
    );
    let finding = front("https://10.0.0.5:8080/", closed(), Some("nginx"));
    assert!(
        !finding.suggestions.iter().any(|s| s.contains("speaks TLS")),
        "{:?}",
        finding.suggestions
    );
}

#[test]
fn a_proxy_that_closes_the_tls_handshake_lost_its_backend() {
    let eof = || {
        exchange_failed(
            Kind::Closed,
            "the TLS handshake failed: tls handshake eof (is it a TLS port?)",
        )
    };
    let finding = front("https://10.0.0.5:8080/", eof(), Some("nginx"));
    assert_eq!(
        finding.summary,
        "10.0.0.5:8080 accepts connections, but nginx (pid 4242), a proxy, closed the connection during the TLS handshake: it passes TLS through to a backend, which most likely failed"
    );
    assert!(
        finding.suggestions[0].contains("`ssl_preread`")
            && finding.suggestions[0].contains("while connecting to upstream"),
        "{:?}",
        finding.suggestions
    );
    // Whose listener it is unknown (another host): both readings, and a wait only if one starts.
    let finding = front("https://10.0.0.5:8080/", eof(), None);
    assert!(
        finding.summary.ends_with("(is it a TLS port?)"),
        "{}",
        finding.summary
    );
    assert!(
        finding.suggestions[0].contains("a port that does not speak TLS may")
            && finding.suggestions[0].contains("waiting helps only if"),
        "{:?}",
        finding.suggestions
    );
    // A program that is no proxy: the same two readings.
    let finding = front("https://10.0.0.5:8080/", eof(), Some("python3"));
    assert!(
        finding.suggestions[0].contains("a port that does not speak TLS may"),
        "{:?}",
        finding.suggestions
    );
}
