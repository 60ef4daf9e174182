//! What an HTTP front end's own answer means, where waiting is not the fix, or not the only
//! one: a load balancer with no healthy backend (HAProxy's 503), a rate limit (429), a close
//! without an answer (nginx's `return 444`, a listener that expects the PROXY protocol, a TLS
//! port asked over plain HTTP), and a
//! close during the TLS handshake by a proxy that passes TLS through to a backend that failed.
//! The cause stays `not-ready`; the summary and the fixes say which.

use std::net::SocketAddr;

use super::cause::Cause;
use super::evidence::HeldListener;
use super::facts::Facts;
use super::rules::Finding;
use crate::probe::{ProbeFailure, ProtocolErrorKind, Readiness};
use crate::target::Scheme;

/// Programs that pass connections on to a backend: a close of theirs during the TLS handshake
/// is most likely their backend's failure (a TLS server of their own would answer with TLS).
const PROXIES: [&str; 8] = [
    "nginx", "haproxy", "envoy", "traefik", "caddy", "sslh", "stunnel", "stunnel4",
];

/// How the HTTP probe begins the detail of an exchange that got no response.
const NO_RESPONSE: &str = "no valid HTTP response";

/// How the TLS probe ends the detail of a handshake that failed without a TLS answer.
const NO_TLS_ANSWER: &str = "(is it a TLS port?)";

/// The finding for a front end's own answer, when `readiness` is one; `summary` is the one the
/// caller would give.
pub(super) fn explain(
    facts: &Facts,
    addr: SocketAddr,
    summary: &str,
    readiness: &Readiness,
    holder: Option<&HeldListener>,
) -> Option<Finding> {
    let scheme = facts.target.scheme();
    if !matches!(scheme, Scheme::Http | Scheme::Https | Scheme::Tls) {
        return None;
    }
    let (program, target) = (&facts.program, &facts.target);
    match readiness {
        Readiness::NotReady(text) if text.contains(crate::probe::NO_BACKEND) => Some(
            Finding::new(Cause::NotReady, summary)
                .suggest(format!(
                    "the load balancer answers that no server of its backend is available: its health checks mark them down, or none is configured; check the backends: HAProxy's `echo \"show servers state\" | sudo socat stdio /run/haproxy/admin.sock` (its `stats socket`), its log (`Server BACKEND/SERVER is DOWN, reason: ...`) or its stats page name them, and `{program} why HOST:PORT` on a backend says why it fails"
                ))
                .suggest(format!(
                    "if a backend is starting, waiting helps: `{program} wait {target}`"
                )),
        ),
        Readiness::NotReady(text) if text.contains(crate::probe::RATE_LIMITED) => {
            let asked = text
                .split_once("(Retry-After: ")
                .and_then(|(_, rest)| rest.strip_suffix(')'))
                .map_or_else(String::new, |after| {
                    format!(" (its Retry-After asks to wait {} before the next request)", seconds(after))
                });
            Some(Finding::new(Cause::NotReady, summary).suggest(format!(
                "the server rate-limits this client{asked}: send fewer requests, or raise the limit on the server (nginx: `limit_req`'s `rate` and `burst`); polling it (`{program} wait`) is the wrong fix: every poll counts against the limit"
            )))
        }
        Readiness::Failed(ProbeFailure::Protocol(err))
            if matches!(err.kind, ProtocolErrorKind::Closed | ProtocolErrorKind::Io) =>
        {
            let closed = if err.kind == ProtocolErrorKind::Closed {
                "closed"
            } else {
                "reset"
            };
            if scheme != Scheme::Tls && err.detail.starts_with(NO_RESPONSE) {
                Some(unanswered(facts, addr, closed, holder))
            } else if scheme != Scheme::Http && err.detail.ends_with(NO_TLS_ANSWER) {
                Some(handshake_closed(facts, addr, summary, closed, holder))
            } else {
                None
            }
        }
        _ => None,
    }
}

/// Whether an `http://` probe ended as [`unanswered`] reads it: the server closed or reset the
/// request without a byte of answer (where a TLS port's would be asked a handshake).
pub(super) fn is_unanswered(scheme: Scheme, readiness: Option<&Readiness>) -> bool {
    scheme == Scheme::Http
        && matches!(readiness, Some(Readiness::Failed(ProbeFailure::Protocol(err)))
            if matches!(err.kind, ProtocolErrorKind::Closed | ProtocolErrorKind::Io)
                && err.detail.starts_with(NO_RESPONSE))
}

/// `60 s` for a number of seconds, else the date as sent.
fn seconds(after: &str) -> String {
    if after.bytes().all(|b| b.is_ascii_digit()) {
        format!("{after} s")
    } else {
        format!("until {after}")
    }
}

/// Who holds the listener, when it is known.
fn process(holder: Option<&HeldListener>) -> Option<&str> {
    holder.and_then(|h| h.process.as_deref())
}

/// An HTTP request the server closed (or reset) the connection on without a byte of answer.
fn unanswered(
    facts: &Facts,
    addr: SocketAddr,
    closed: &str,
    holder: Option<&HeldListener>,
) -> Finding {
    let who = holder
        .filter(|h| h.process.is_some())
        .map_or_else(|| "the server".to_owned(), HeldListener::owner);
    // A TLS port closes or resets a plain request it cannot read as a handshake (OpenSSL's,
    // Python's), where Go's answers a 400 that the probe names: a handshake asked says so.
    if facts.speaks_tls == Some(true) {
        let https = super::rules::other_scheme(&facts.target, "http://", "https://");
        return Finding::new(
            Cause::NotReady,
            format!(
                "{addr} speaks TLS: {who} {closed} the connection on the plain HTTP request, and answered a TLS handshake"
            ),
        )
        .suggest(format!(
            "ask it over TLS: `{https}` (`{} why {https}` checks it)",
            facts.program
        ));
    }
    let on_purpose = match process(holder) {
        Some("haproxy") => "HAProxy does this on purpose for an `http-request reject` or `silent-drop` rule: its configuration and log say which".to_owned(),
        Some("nginx") => "nginx does this on purpose for `return 444` (a server block for unknown Host names, a blocked path or client): its access log shows the request with status 444; for unknown Host names, send the name the server expects".to_owned(),
        // Who listens is not known (another host): nginx's is the likeliest such close.
        None => "a server may do this on purpose: nginx for `return 444` (a server block for unknown Host names, a blocked path or client; its access log shows the request with status 444), HAProxy for a `silent-drop` rule; for unknown Host names, send the name the server expects".to_owned(),
        Some(other) => format!("{other} may do this on purpose (a rule against unknown Host names, a blocked path or client): its log says why"),
    };
    let finding = Finding::new(
        Cause::NotReady,
        format!(
            "{addr} accepts connections, but {who} {closed} the connection without answering the {} request",
            facts.target.scheme().as_str().to_uppercase()
        ),
    )
    .suggest(on_purpose)
    .suggest("a listener that expects the PROXY protocol from a load balancer in front closes a plain request the same way (nginx's `listen ... proxy_protocol`, which logs `broken header`; HAProxy's `accept-proxy`): connect through that load balancer, or take the PROXY protocol off the listener")
    .suggest(format!(
        "a proxy whose backend is down may close so too: its error log names the backend; waiting helps only if that is starting (`{} wait {}`)",
        facts.program, facts.target
    ));
    // A TLS server closes or resets a plain request it cannot read as a handshake (OpenSSL's,
    // Python's), where Go's answers a 400 that the probe names.
    // Asked, and it does not: no such guess.
    if facts.target.scheme() != Scheme::Http || facts.speaks_tls == Some(false) {
        return finding;
    }
    let https = super::rules::other_scheme(&facts.target, "http://", "https://");
    finding.suggest(format!(
        "a port that speaks TLS closes or resets a plain HTTP request so too: if it is one, ask it over TLS (`{} why {https}`)",
        facts.program
    ))
}

/// A TLS handshake the server closed (or reset) without a TLS answer: a proxy that passes TLS
/// through closes so when its connect to the backend fails; a port that does not speak TLS may
/// too.
fn handshake_closed(
    facts: &Facts,
    addr: SocketAddr,
    summary: &str,
    closed: &str,
    holder: Option<&HeldListener>,
) -> Finding {
    let program = &facts.program;
    let proxy = process(holder).filter(|p| PROXIES.contains(p));
    let (Some(proxy), Some(holder)) = (proxy, holder) else {
        return Finding::new(Cause::NotReady, summary).suggest(format!(
            "the server {closed} the connection during the TLS handshake, without a TLS answer: a port that does not speak TLS may, and so does a proxy that passes TLS through (nginx's `ssl_preread`, HAProxy's `mode tcp`) when its backend fails: its error log says; waiting helps only if the service or that backend is starting (`{program} wait {}`)",
            facts.target
        ));
    };
    Finding::new(
        Cause::NotReady,
        format!(
            "{addr} accepts connections, but {}, a proxy, {closed} the connection during the TLS handshake: it passes TLS through to a backend, which most likely failed",
            holder.owner()
        ),
    )
    .suggest(format!(
        "{proxy} closes the handshake when its own connect to the backend fails (nginx's `stream` with `ssl_preread` and `proxy_pass`, HAProxy's `mode tcp`): its error log names the backend (nginx: `connect() failed (111: Connection refused) while connecting to upstream, ... upstream: \"HOST:PORT\"`), and `{program} why HOST:PORT` says why it fails; waiting helps only if the backend is starting"
    ))
}
