//! The HTTP side: one task per connection (hyper, HTTP/1.1), the routes, the bounds on what a
//! request may ask, and the graceful end of a connection at shutdown.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::config::Module;
use super::exporter::{self, Refusal};
use super::metrics::Rejection;
use super::{Format, MAX_QUERY, MAX_REQUEST_HEAD, Shared};

/// Prometheus' header with the scrape's timeout.
const SCRAPE_TIMEOUT: &str = "x-prometheus-scrape-timeout-seconds";
/// How long a client may take to send a request's head (slow clients hold a connection).
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// What is kept from the scrape timeout for the answer to travel back (blackbox's
/// `--timeout-offset`).
const TIMEOUT_OFFSET: f64 = 0.5;
/// blackbox exporter's module when `module=` is missing.
const DEFAULT_MODULE: &str = "http_2xx";

const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 29\r\nconnection: close\r\n\r\ntoo many connections at once\n";

type Answer = Response<Full<Bytes>>;

/// Serves one connection until the client closes it or the server stops.
pub async fn connection(
    mut stream: TcpStream,
    shared: Arc<Shared>,
    mut stopping: watch::Receiver<bool>,
) {
    let Ok(_permit) = Arc::clone(&shared.connections).try_acquire_owned() else {
        shared.metrics.rejected(Rejection::Busy);
        let _ = stream.write_all(BUSY).await;
        let _ = stream.shutdown().await;
        return;
    };
    let _ = stream.set_nodelay(true);
    let service = service_fn(|request| {
        let shared = Arc::clone(&shared);
        async move { Ok::<_, Infallible>(route(&shared, &request).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(MAX_REQUEST_HEAD);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        () = async { let _ = stopping.wait_for(|stop| *stop).await; } => {
            // Lets the request in flight finish and answer, then closes.
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

async fn route(shared: &Shared, request: &Request<hyper::body::Incoming>) -> Answer {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET\n");
    }
    let format = negotiate(request);
    match request.uri().path() {
        "/probe" => probe(shared, request, format).await,
        "/metrics" => metrics(format, shared.metrics.render(format)),
        "/-/healthy" => text(StatusCode::OK, "Healthy\n"),
        "/" => text(
            StatusCode::OK,
            "refused serve: /probe?target=HOST:PORT&module=NAME, /metrics, /-/healthy\n",
        ),
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

async fn probe(
    shared: &Shared,
    request: &Request<hyper::body::Incoming>,
    format: Format,
) -> Answer {
    let refuse = |why: Rejection, status, message: String| {
        shared.metrics.rejected(why);
        text(status, &format!("{message}\n"))
    };
    let query = request.uri().query().unwrap_or("");
    if query.len() > MAX_QUERY {
        return refuse(
            Rejection::BadRequest,
            StatusCode::BAD_REQUEST,
            format!("the query is longer than {MAX_QUERY} bytes"),
        );
    }
    let params = match parse_query(query) {
        Ok(params) => params,
        Err(why) => return refuse(Rejection::BadRequest, StatusCode::BAD_REQUEST, why),
    };
    // The first value of a repeated parameter, as Go's `url.Values.Get` (blackbox) takes it.
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let Some(target) = param("target").filter(|t| !t.is_empty()) else {
        return refuse(
            Rejection::BadRequest,
            StatusCode::BAD_REQUEST,
            "target parameter is missing".into(),
        );
    };
    let module_name = param("module")
        .filter(|m| !m.is_empty())
        .unwrap_or(DEFAULT_MODULE);
    let module = match shared.config.modules.get(module_name) {
        Some(Module::Probe(module)) => module,
        Some(Module::Unsupported(reason)) => {
            return refuse(
                Rejection::BadRequest,
                StatusCode::BAD_REQUEST,
                format!("module `{module_name}` cannot be used: {reason}"),
            );
        }
        None => {
            return refuse(
                Rejection::BadRequest,
                StatusCode::BAD_REQUEST,
                format!("unknown module `{module_name}`"),
            );
        }
    };
    let budget = match scrape_timeout(request) {
        Ok(Some(scrape)) => scrape.min(module.timeout),
        Ok(None) => module.timeout,
        Err(why) => return refuse(Rejection::BadRequest, StatusCode::BAD_REQUEST, why),
    };
    let target = match exporter::target_for(module, target) {
        Ok(target) => target,
        Err(Refusal::BadRequest(why) | Refusal::Forbidden(why)) => {
            return refuse(Rejection::BadRequest, StatusCode::BAD_REQUEST, why);
        }
    };
    // No queue: a scrape that waited here would time out anyway, and the wait would grow.
    let Ok(_permit) = Arc::clone(&shared.probes).try_acquire_owned() else {
        return refuse(
            Rejection::Busy,
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "{} probes are running, the most allowed at once",
                shared.config.max_concurrent_probes
            ),
        );
    };
    let _in_flight = shared.metrics.start();
    let start = Instant::now();
    let allow = &shared.config.allow;
    match exporter::run(module, target, allow, budget, &shared.diagnoses, format).await {
        Ok((body, success)) => {
            shared
                .metrics
                .finished(module_name, success, start.elapsed());
            metrics(format, body)
        }
        Err(Refusal::Forbidden(why)) => refuse(Rejection::Forbidden, StatusCode::FORBIDDEN, why),
        Err(Refusal::BadRequest(why)) => {
            refuse(Rejection::BadRequest, StatusCode::BAD_REQUEST, why)
        }
    }
}

/// The scrape's timeout less the offset, if Prometheus sent it.
fn scrape_timeout(request: &Request<hyper::body::Incoming>) -> Result<Option<Duration>, String> {
    let Some(value) = request.headers().get(SCRAPE_TIMEOUT) else {
        return Ok(None);
    };
    let bad = || format!("`{SCRAPE_TIMEOUT}` is not a number of seconds");
    let seconds: f64 = value
        .to_str()
        .map_err(|_| bad())?
        .trim()
        .parse()
        .map_err(|_| bad())?;
    if !seconds.is_finite() || seconds <= 0.0 {
        return Err(bad());
    }
    let usable = (seconds - TIMEOUT_OFFSET).max(seconds / 2.0);
    Ok(Duration::try_from_secs_f64(usable).ok())
}

/// `OpenMetrics` when the scraper lists it, else the Prometheus text format.
fn negotiate(request: &Request<hyper::body::Incoming>) -> Format {
    let accepts = request
        .headers()
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    if accepts {
        Format::OpenMetrics
    } else {
        Format::Prometheus
    }
}

fn metrics(format: Format, body: String) -> Answer {
    let mut answer = Response::new(Full::new(Bytes::from(body)));
    answer.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    answer
}

fn text(status: StatusCode, body: &str) -> Answer {
    let mut answer = Response::new(Full::new(Bytes::from(body.to_owned())));
    *answer.status_mut() = status;
    answer.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    answer
}

/// `application/x-www-form-urlencoded` pairs: `+` is a space, `%XX` a byte; the bytes must be
/// UTF-8.
pub fn parse_query(query: &str) -> Result<Vec<(String, String)>, String> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode(key)?, decode(value)?))
        })
        .collect()
}

fn decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("bad percent-encoding in `{text}`"))?;
                out.push(hex);
                i += 2;
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| format!("`{text}` is not UTF-8 once decoded"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_decode_as_forms() {
        let params =
            parse_query("target=http%3A%2F%2Fweb%3A80%2F&module=http_2xx&x=a+b&flag").unwrap();
        assert_eq!(
            params,
            [
                ("target".into(), "http://web:80/".into()),
                ("module".into(), "http_2xx".into()),
                ("x".into(), "a b".into()),
                ("flag".into(), String::new()),
            ]
        );
        assert!(parse_query("target=%zz").unwrap_err().contains("`%zz`"));
        assert!(parse_query("target=%ff").unwrap_err().contains("UTF-8"));
        assert!(parse_query("target=%4").is_err());
    }
}
