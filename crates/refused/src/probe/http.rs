//! `http://` and `https://`: the status (200-399 by default, or a set), and optionally a header
//! and the body. A 503 is not ready, not reachable; a load balancer's 503 without a backend and
//! a rate limit's 429 are said as such.

use std::str::FromStr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper::header::{CONTENT_LENGTH, HOST, LAST_MODIFIED, LOCATION, RETRY_AFTER, USER_AGENT};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use super::ProtocolErrorKind as Kind;
use super::Readiness;
use super::bounded::{protocol, too_slow};
use super::first_bytes::{Other, Recorded};
use crate::target::Target;

/// The most bytes of response head a probe reads.
const MAX_HEAD: usize = 64 * 1024;
/// The most bytes of body a probe reads to look for its text.
const MAX_BODY: usize = 256 * 1024;
/// How long a probe reads a 400's or 503's body that no check asked for, to see who answered:
/// the pages that say (HAProxy's, nginx's, Go's) come with the head, in the same flight. A
/// body that never comes costs every probe this long (`wait` pays it at each poll).
const WHY_BODY_TIME: Duration = Duration::from_millis(50);

/// What an HTTP response must look like to be ready.
#[derive(Debug, Clone, Default)]
pub struct HttpCheck {
    /// Statuses that are ready (default 200-399).
    pub statuses: StatusSet,
    /// Text the body must contain.
    pub body: Option<String>,
    /// A pattern the body must match.
    pub body_regex: Option<regex::Regex>,
    /// A header that must be present (name), with a value if given (`name: value`).
    pub header: Option<(String, Option<String>)>,
    /// Read the whole body (keeping its first 256 KiB) even with nothing to look for in it, as
    /// blackbox exporter does, for its length and transfer time. Within the probe's deadline: a
    /// body that never ends fails the probe as too slow.
    pub read_body: bool,
}

/// HTTP statuses, as ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet(Vec<(u16, u16)>);

impl Default for StatusSet {
    fn default() -> Self {
        Self(vec![(200, 399)])
    }
}

impl StatusSet {
    /// Whether `status` is in the set.
    pub fn contains(&self, status: u16) -> bool {
        self.0.iter().any(|(lo, hi)| (*lo..=*hi).contains(&status))
    }
}

/// A status list that did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid status list `{input}`: `{part}` is not a status (100-599) or a range of them")]
pub struct StatusSetError {
    input: String,
    part: String,
}

impl FromStr for StatusSet {
    type Err = StatusSetError;

    /// `200`, `200,204`, `200-299`, or a mix.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let mut ranges = Vec::new();
        for part in input.split(',') {
            let status = |t: &str| {
                t.trim()
                    .parse::<u16>()
                    .ok()
                    .filter(|s| (100..=599).contains(s))
            };
            let range = match part.split_once('-') {
                Some((lo, hi)) => status(lo).zip(status(hi)).filter(|(lo, hi)| lo <= hi),
                None => status(part).map(|s| (s, s)),
            };
            ranges.push(range.ok_or_else(|| StatusSetError {
                input: input.to_owned(),
                part: part.trim().to_owned(),
            })?);
        }
        Ok(Self(ranges))
    }
}

/// The statuses a client follows to their `Location` (as browsers and Go's client do; 300 and 304
/// are not).
pub const REDIRECTS: [u16; 5] = [301, 302, 303, 307, 308];

/// What an HTTP response showed besides the readiness, and how long it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status.
    pub status: u16,
    /// The protocol version, as (major, minor): `(1, 1)`.
    pub version: (u8, u8),
    /// The `Content-Length` the server sent, if it sent one.
    pub content_length: Option<u64>,
    /// The `Location` of a redirect (a status of [`REDIRECTS`]), as sent (often relative). A
    /// probe does not follow it.
    pub location: Option<String>,
    /// From sending the request to the response's head (blackbox's `processing` phase).
    pub processing: Duration,
    /// Reading the body (blackbox's `transfer`), when it was read: a body check, or
    /// [`HttpCheck::read_body`].
    pub transfer: Option<Duration>,
    /// The bytes of body read: all of them with [`HttpCheck::read_body`], else at most the
    /// first 256 KiB a body check reads.
    pub body_length: Option<u64>,
    /// The `Last-Modified` time the server sent, if it parsed (the three forms of RFC 9110).
    pub last_modified: Option<std::time::SystemTime>,
    /// How long the server asked clients to wait before asking again (`Retry-After`, in
    /// seconds or as a date, of a 429 or a 503), if it did.
    pub retry_after: Option<Duration>,
}

impl HttpResponse {
    fn of<B>(response: &hyper::Response<B>, processing: Duration) -> Self {
        let status = response.status().as_u16();
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|value: &hyper::header::HeaderValue| value.to_str().ok())
                .map(str::trim)
        };
        let location = header(LOCATION)
            .filter(|value| REDIRECTS.contains(&status) && !value.is_empty())
            .map(str::to_owned);
        let version = match response.version() {
            hyper::Version::HTTP_09 => (0, 9),
            hyper::Version::HTTP_10 => (1, 0),
            hyper::Version::HTTP_2 => (2, 0),
            hyper::Version::HTTP_3 => (3, 0),
            _ => (1, 1),
        };
        Self {
            status,
            version,
            content_length: header(CONTENT_LENGTH).and_then(|value| value.parse().ok()),
            location,
            processing,
            transfer: None,
            body_length: None,
            last_modified: header(LAST_MODIFIED)
                .and_then(|value| httpdate::parse_http_date(value).ok()),
            retry_after: header(RETRY_AFTER)
                .filter(|_| matches!(status, 429 | 503))
                .and_then(|value| match value.parse::<u64>() {
                    Ok(seconds) => Some(Duration::from_secs(seconds)),
                    Err(_) => httpdate::parse_http_date(value)
                        .ok()?
                        .duration_since(std::time::SystemTime::now())
                        .ok(),
                }),
        }
    }
}

/// Sends one `GET`; the readiness and the response, if its head came.
pub(super) async fn probe<S>(
    target: &Target,
    stream: S,
    check: &HttpCheck,
    deadline: Instant,
) -> (Readiness, Option<HttpResponse>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let seen = std::sync::Mutex::new(None);
    // Boxed: hyper's connection and the body's reading stay out of the future of every probe
    // (and of a diagnosis that awaits one), which they took past 16 KiB.
    let exchange = Box::pin(exchange(target, stream, check, &seen));
    let readiness = match tokio::time::timeout_at(deadline, exchange).await {
        Ok(readiness) => readiness,
        Err(_) => too_slow("HTTP response"),
    };
    let response = seen
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    (readiness, response)
}

/// The request's `Host`: the target's host, with its port unless it is the scheme's. Over a
/// unix socket (`http+unix://`) there is no host: `localhost`, as curl's `--unix-socket`
/// sends (nginx answers 400 to an empty `Host`).
fn authority(target: &Target) -> String {
    let host = target
        .host()
        .map_or_else(|| "localhost".to_owned(), ToString::to_string);
    match (target.port(), target.scheme().default_port()) {
        (Some(port), Some(default)) if port != default => format!("{host}:{port}"),
        _ => host,
    }
}

async fn exchange<S>(
    target: &Target,
    stream: S,
    check: &HttpCheck,
    seen: &std::sync::Mutex<Option<HttpResponse>>,
) -> Readiness
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // What the server sent first, for when hyper cannot read it as HTTP/1.
    let (stream, first) = Recorded::new(stream);
    let handshake = hyper::client::conn::http1::Builder::new()
        .max_buf_size(MAX_HEAD)
        .handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
        .await;
    let (mut sender, conn) = match handshake {
        Ok(parts) => parts,
        Err(err) => return protocol(Kind::NotTheProtocol, format!("HTTP failed: {err}")),
    };
    let authority = authority(target);
    let path = if target.path().is_empty() {
        "/"
    } else {
        target.path()
    };
    let request = Request::get(path)
        .header(HOST, authority)
        .header(USER_AGENT, concat!("refused/", env!("CARGO_PKG_VERSION")))
        .body(Empty::<Bytes>::new());
    let request = match request {
        Ok(request) => request,
        Err(err) => return protocol(Kind::Setup, format!("the URL's path cannot be sent: {err}")),
    };
    // Kept where `probe` finds it even if the deadline cuts the exchange short.
    let keep = |response: &HttpResponse| {
        *seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(response.clone());
    };
    let exchange = async {
        let sent = Instant::now();
        let response = match sender.send_request(request).await {
            Ok(response) => response,
            Err(err) => {
                // Bytes of another protocol, which hyper failed on or took for none.
                if let Some(readiness) = other_protocol(&first) {
                    return readiness;
                }
                // Closed before any byte of an answer (a forwarder whose backend is down) is
                // no other protocol's answer: hyper says so as an incomplete message, or, when
                // the close came before the request went out, as a canceled one.
                let kind = if err.is_incomplete_message() || err.is_canceled() || err.is_closed() {
                    Kind::Closed
                } else if std::error::Error::source(&err)
                    .is_some_and(<dyn std::error::Error>::is::<std::io::Error>)
                {
                    // A reset or a broken pipe, as the bounded reads of the other protocols say.
                    Kind::Io
                } else {
                    Kind::NotTheProtocol
                };
                return protocol(kind, format!("no valid HTTP response: {err}"));
            }
        };
        let status = response.status();
        let mut head = HttpResponse::of(&response, sent.elapsed());
        keep(&head);
        let (parts, body) = response.into_parts();
        let wants_text = check.body.is_some() || check.body_regex.is_some();
        let ok = check.statuses.contains(status.as_u16());
        let mut text = None;
        // A 400's body may say why (a plain request to a TLS port), and a 503's who answered
        // (a load balancer without a backend).
        let says_why = matches!(
            status,
            hyper::StatusCode::BAD_REQUEST | hyper::StatusCode::SERVICE_UNAVAILABLE
        );
        let asked = check.read_body || wants_text && ok;
        if asked || says_why {
            let reading = Instant::now();
            // A body read only for what it says of the server gets a moment: a slow one must
            // not turn the status into a probe that was too slow.
            let read = read_body(body, check.read_body);
            let read = if asked {
                read.await
            } else {
                match tokio::time::timeout(WHY_BODY_TIME, read).await {
                    Ok(read) => read,
                    Err(_) => return verdict(check, status, &parts.headers, None),
                }
            };
            match read {
                Ok((body, read)) => {
                    text = Some(String::from_utf8_lossy(&body).into_owned());
                    head.body_length = Some(read);
                }
                Err(err) if ok => {
                    return protocol(Kind::Io, format!("reading the body failed: {err}"));
                }
                Err(_) => {}
            }
            head.transfer = Some(reading.elapsed());
            keep(&head);
        }
        verdict(check, status, &parts.headers, text.as_deref())
    };
    // The connection is driven alongside the request, in this task.
    let driver = async {
        let _ = conn.await;
        std::future::pending::<()>().await;
    };
    tokio::select! {
        readiness = exchange => readiness,
        () = driver => unreachable!("the driver never ends by itself"),
    }
}

/// The readiness of a server whose first bytes were another protocol's (see [`Other`]).
fn other_protocol(first: &std::sync::Mutex<Vec<u8>>) -> Option<Readiness> {
    let first = first
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let said = match Other::of(&first) {
        Some(Other::Http2) => SPEAKS_HTTP2,
        Some(Other::Tls) => SPEAKS_TLS,
        // Another server's greeting (an SSH banner): its first words say whose.
        None if !first.is_empty() && !first.starts_with(b"HTTP/") => {
            let text: String = String::from_utf8_lossy(&first)
                .chars()
                .take_while(|c| !c.is_control())
                .collect();
            return Some(protocol(
                Kind::NotTheProtocol,
                format!("not an HTTP server: its answer starts with `{text}`"),
            ));
        }
        None => return None,
    };
    Some(protocol(
        Kind::NotTheProtocol,
        format!("no valid HTTP response: {said}"),
    ))
}

/// How an HTTP/2 server's frames in answer to an HTTP/1.1 request are told, in a readiness.
pub(crate) const SPEAKS_HTTP2: &str = "the server answered in HTTP/2 frames: it speaks HTTP/2 only, without TLS (h2c with prior knowledge, as gRPC servers do), and the request was HTTP/1.1";

/// How a refusal of a plain request by a TLS port is told, in a readiness.
pub(crate) const SPEAKS_TLS: &str = "the port speaks TLS, and the request was plain HTTP";

/// Whether a 400's body is a TLS server's answer to a plain HTTP request: Go's `net/http`,
/// nginx and Apache httpd say so in these words.
fn is_tls_port_answer(body: &str) -> bool {
    const SAID: [&str; 3] = [
        "Client sent an HTTP request to an HTTPS server",
        "The plain HTTP request was sent to HTTPS port",
        "speaking plain HTTP to an SSL-enabled server port",
    ];
    SAID.iter().any(|said| body.contains(said))
}

/// How a load balancer's 503 for want of a backend is told, in a readiness.
pub(crate) const NO_BACKEND: &str = "the load balancer has no backend server available";

/// How a 429 is told, in a readiness.
pub(crate) const RATE_LIMITED: &str = "rate limited: the server asks for fewer requests";

/// Whether a 503's body is a load balancer's own, for want of a healthy backend: HAProxy's
/// ("No server is available to handle this request.") and Envoy's ("no healthy upstream").
fn is_no_backend_answer(body: &str) -> bool {
    const SAID: [&str; 2] = [
        "No server is available to handle this request",
        "no healthy upstream",
    ];
    SAID.iter().any(|said| body.contains(said))
}

/// ` (Retry-After: 60)`, when the server said when to ask again.
fn retry_after(headers: &hyper::HeaderMap) -> String {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map_or_else(String::new, |v| format!(" (Retry-After: {v})"))
}

/// Whether a response is ready: its status, then the header asked for, then its body's text
/// (read when a check needs it).
fn verdict(
    check: &HttpCheck,
    status: hyper::StatusCode,
    headers: &hyper::HeaderMap,
    text: Option<&str>,
) -> Readiness {
    let line = format!(
        "HTTP {}{}",
        status.as_u16(),
        status
            .canonical_reason()
            .map(|r| format!(" {r}"))
            .unwrap_or_default()
    );
    if !check.statuses.contains(status.as_u16()) {
        if status == hyper::StatusCode::BAD_REQUEST && text.is_some_and(is_tls_port_answer) {
            return Readiness::NotReady(format!("{line}: {SPEAKS_TLS}"));
        }
        let again = retry_after(headers);
        if status == hyper::StatusCode::SERVICE_UNAVAILABLE
            && text.is_some_and(is_no_backend_answer)
        {
            return Readiness::NotReady(format!("{line}: {NO_BACKEND}{again}"));
        }
        if status == hyper::StatusCode::TOO_MANY_REQUESTS {
            return Readiness::NotReady(format!("{line}: {RATE_LIMITED}{again}"));
        }
        return Readiness::NotReady(format!("{line}{again}"));
    }
    if let Some((name, value)) = &check.header {
        let found = headers.get_all(name.as_str()).iter().any(|v| {
            value
                .as_ref()
                .is_none_or(|want| v.to_str().is_ok_and(|v| v.trim() == want))
        });
        if !found {
            let wanted = value
                .as_ref()
                .map_or_else(|| name.clone(), |v| format!("{name}: {v}"));
            return Readiness::NotReady(format!("{line}, without the header `{wanted}`"));
        }
    }
    let text = text.unwrap_or_default();
    if let Some(needle) = &check.body {
        if !text.contains(needle.as_str()) {
            return Readiness::NotReady(format!(
                "{line}, but the body does not contain `{needle}`"
            ));
        }
    }
    if let Some(pattern) = &check.body_regex {
        if !pattern.is_match(text) {
            return Readiness::NotReady(format!("{line}, but the body does not match `{pattern}`"));
        }
    }
    Readiness::Ready(line)
}

/// The first [`MAX_BODY`] bytes of a body, and how many bytes were read: up to the end with
/// `to_end` (what is past the first ones counted, not kept), else those first ones.
async fn read_body(
    mut body: hyper::body::Incoming,
    to_end: bool,
) -> Result<(Vec<u8>, u64), hyper::Error> {
    let mut bytes = Vec::new();
    let mut read = 0u64;
    while to_end || bytes.len() < MAX_BODY {
        let Some(frame) = body.frame().await else {
            break;
        };
        if let Ok(data) = frame?.into_data() {
            read += data.len() as u64;
            let room = MAX_BODY - bytes.len();
            bytes.extend_from_slice(&data[..data.len().min(room)]);
        }
    }
    Ok((bytes, read))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Retry-After` in seconds or as a date, of a 429 or a 503 only.
    #[test]
    fn retry_after_is_read_in_both_forms() {
        let response = |status: u16, value: &str| {
            let response = hyper::Response::builder()
                .status(status)
                .header(RETRY_AFTER, value)
                .body(())
                .unwrap();
            HttpResponse::of(&response, Duration::ZERO).retry_after
        };
        assert_eq!(response(429, "7"), Some(Duration::from_secs(7)));
        assert_eq!(response(503, " 120 "), Some(Duration::from_secs(120)));
        assert_eq!(response(200, "7"), None);
        assert_eq!(response(429, "soon"), None);
        let later = std::time::SystemTime::now() + Duration::from_secs(3600);
        let date = response(503, &httpdate::fmt_http_date(later)).unwrap();
        assert!(
            date > Duration::from_secs(3500) && date <= Duration::from_secs(3600),
            "{date:?}"
        );
        // A date gone by: nothing to wait for.
        let past = std::time::SystemTime::now() - Duration::from_secs(60);
        assert_eq!(response(503, &httpdate::fmt_http_date(past)), None);
    }

    /// A load balancer's 503 without a backend and a rate limit's 429 are said as such, with
    /// the Retry-After the server sent; another 503 stays a bare status (audit h19).
    #[test]
    fn a_front_ends_own_answers_are_named() {
        let check = HttpCheck::default();
        let mut headers = hyper::HeaderMap::new();
        let said = |status: u16, headers: &hyper::HeaderMap, body: Option<&str>| {
            let status = hyper::StatusCode::from_u16(status).unwrap();
            match verdict(&check, status, headers, body) {
                Readiness::NotReady(text) => text,
                other => panic!("{other:?}"),
            }
        };
        let haproxy = "<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>";
        assert_eq!(
            said(503, &headers, Some(haproxy)),
            format!("HTTP 503 Service Unavailable: {NO_BACKEND}")
        );
        assert_eq!(
            said(503, &headers, Some("no healthy upstream")),
            format!("HTTP 503 Service Unavailable: {NO_BACKEND}")
        );
        assert_eq!(
            said(503, &headers, Some("starting")),
            "HTTP 503 Service Unavailable"
        );
        assert_eq!(
            said(429, &headers, None),
            format!("HTTP 429 Too Many Requests: {RATE_LIMITED}")
        );
        headers.insert(RETRY_AFTER, "60".parse().unwrap());
        assert_eq!(
            said(429, &headers, None),
            format!("HTTP 429 Too Many Requests: {RATE_LIMITED} (Retry-After: 60)")
        );
        assert_eq!(
            said(503, &headers, None),
            "HTTP 503 Service Unavailable (Retry-After: 60)"
        );
    }

    #[test]
    fn status_sets() {
        let default = StatusSet::default();
        assert!(default.contains(200) && default.contains(302) && !default.contains(503));
        let set: StatusSet = "200,204, 300-302".parse().unwrap();
        assert!(set.contains(204) && set.contains(301) && !set.contains(201));
        for bad in ["2OO", "600", "300-200", "", "200,"] {
            let err = bad.parse::<StatusSet>().unwrap_err();
            assert!(err.to_string().contains(&format!("`{bad}`")), "{err}");
        }
    }
}
