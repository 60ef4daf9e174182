//! The exporter in-process, on port 0: probes of real loopback listeners and refused ports, the
//! allowlist (no packet to a refused target, checked on the listener's queue), the bounds, and the
//! drain at shutdown.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use refused::serve::{AllowRule, Cidr, Config, run};
use refused_lab::socket::{FullQueue, RefusedPort};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Every network step of these tests ends within this (a hang fails, not blocks). Generous: in
/// the 10,000-request flood on a loaded machine, a connect whose SYN found the queue full waits
/// for the kernel's retransmissions (1, 3, 7, 15 s...).
const LIMIT: Duration = Duration::from_secs(120);

struct Exporter {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), refused::serve::ServeError>>,
}

impl Exporter {
    fn start(config: Config) -> Self {
        // The deepest accept queue the kernel allows (somaxconn), for the flood.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind((Ipv4Addr::LOCALHOST, 0).into()).unwrap();
        let listener = socket.listen(65_535).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(run(listener, config, async {
            let _ = stopped.await;
        }));
        Self {
            addr,
            stop: Some(stop),
            task,
        }
    }

    async fn get(&self, path: &str) -> (u16, String) {
        get(self.addr, path, &[]).await
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(LIMIT, self.task)
            .await
            .expect("the exporter stops")
            .unwrap()
            .unwrap();
    }
}

/// One HTTP/1.1 GET with `Connection: close`: the status and the body.
async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        let mut request = format!("GET {path} HTTP/1.1\r\nHost: exporter\r\nConnection: close\r\n");
        for (name, value) in headers {
            request += &[name, ": ", value, "\r\n"].concat();
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&answer).into_owned())
    };
    let answer = tokio::time::timeout(LIMIT, exchange)
        .await
        .expect("answered in time")
        .expect("answered");
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// The value of the one series of `name` whose line contains every `part`.
fn value(body: &str, name: &str, parts: &[&str]) -> Option<f64> {
    body.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.split(['{', ' ']).next() == Some(name) && parts.iter().all(|p| line.contains(p))
        })
        .find_map(|line| line.rsplit(' ').next()?.parse().ok())
}

/// A loopback listener that accepts and holds connections.
async fn open_listener() -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_and_a_refused_target_get_success_and_the_cause() {
    let exporter = Exporter::start(Config::default());
    let open = open_listener().await;
    let refused = RefusedPort::v4().unwrap();

    let (status, body) = exporter
        // A repeated parameter's first value counts, as in blackbox (the second is refused).
        .get(&format!(
            "/probe?module=tcp_connect&target={open}&target=unix:///nowhere&module=nope"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(value(&body, "probe_success", &[]), Some(1.0), "{body}");
    assert_eq!(value(&body, "probe_ip_protocol", &[]), Some(4.0), "{body}");
    let address = format!("address=\"{open}\"");
    assert_eq!(
        value(&body, "probe_attempt_success", &[&address]),
        Some(1.0)
    );
    assert!(!body.contains("probe_failure_info"), "{body}");

    let target = refused.addr();
    let (status, body) = exporter
        .get(&format!("/probe?module=tcp_connect&target={target}"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(value(&body, "probe_success", &[]), Some(0.0), "{body}");
    let address = format!("address=\"{target}\"");
    assert_eq!(
        value(&body, "probe_attempt_success", &[&address]),
        Some(0.0)
    );
    // Nothing listens on the port: `no-listener`, or `wrong-port` when some other test's
    // listener happens to be on a near port; the connect itself was refused either way.
    let failure = body
        .lines()
        .find(|l| l.starts_with("probe_failure_info{"))
        .unwrap_or_else(|| panic!("{body}"));
    assert!(
        failure.contains(r#"cause="no-listener""#) || failure.contains(r#"cause="wrong-port""#),
        "{failure}"
    );
    assert!(failure.contains(r#"outcome="refused""#), "{failure}");
    assert_eq!(
        failure.rsplit(' ').next().and_then(|v| v.parse().ok()),
        Some(1.0),
        "{failure}"
    );

    // The exporter's own metrics count both.
    let (status, metrics) = exporter.get("/metrics").await;
    assert_eq!(status, 200);
    let probes = "refused_serve_probes_total";
    assert_eq!(
        value(&metrics, probes, &["tcp_connect", "success"]),
        Some(1.0)
    );
    assert_eq!(
        value(&metrics, probes, &["tcp_connect", "failure"]),
        Some(1.0)
    );
    assert_eq!(exporter.get("/-/healthy").await.0, 200);
    exporter.stop().await;
}

/// An HTTP server on `ip` that answers each request with `head(request)` (status line and
/// headers, without the empty line), no body, and closes.
async fn http_server(
    ip: Ipv4Addr,
    head: impl Fn(&str) -> String + Send + Sync + 'static,
) -> SocketAddr {
    let server = TcpListener::bind((ip, 0)).await.unwrap();
    let addr = server.local_addr().unwrap();
    let head = std::sync::Arc::new(head);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = server.accept().await {
            let head = std::sync::Arc::clone(&head);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = stream.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]).into_owned();
                let reply = format!(
                    "{}content-length: 0\r\nconnection: close\r\n\r\n",
                    head(&request)
                );
                let _ = stream.write_all(reply.as_bytes()).await;
            });
        }
    });
    addr
}

/// A plain HTTP server: 503 for `/down...`, else 204.
async fn web_server() -> SocketAddr {
    http_server(Ipv4Addr::LOCALHOST, |request| {
        if request.starts_with("GET /down") {
            "HTTP/1.1 503 Service Unavailable\r\n".to_owned()
        } else {
            "HTTP/1.1 204 No Content\r\n".to_owned()
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_modules_report_the_status_as_blackbox_does() {
    let web = web_server().await;
    let exporter = Exporter::start(Config::default());
    let (_, body) = exporter
        .get(&format!("/probe?module=http_2xx&target=http://{web}/up"))
        .await;
    assert_eq!(value(&body, "probe_success", &[]), Some(1.0), "{body}");
    assert_eq!(
        value(&body, "probe_http_status_code", &[]),
        Some(204.0),
        "{body}"
    );
    // `module=` missing is http_2xx, as in blackbox_exporter; a target without a scheme is http.
    let (_, body) = exporter.get(&format!("/probe?target={web}/down")).await;
    assert_eq!(value(&body, "probe_success", &[]), Some(0.0), "{body}");
    assert_eq!(
        value(&body, "probe_http_status_code", &[]),
        Some(503.0),
        "{body}"
    );
    assert!(body.contains(r#"cause="not-ready""#), "{body}");
    assert!(body.contains(r#"outcome="connected""#), "{body}");
    exporter.stop().await;
}

/// Whether anything connected to the listener (the kernel completes the handshake and queues the
/// connection even when nobody accepts).
fn connected_to(listener: &std::net::TcpListener) -> bool {
    listener.set_nonblocking(true).unwrap();
    listener.accept().is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_outside_the_allowlist_get_403_and_no_packet() {
    // Allowed: 127.0.0.2 only. The recording listeners are on 127.0.0.1, outside.
    let mut config = Config::default();
    config.allow_more(vec![AllowRule::cidr(
        "127.0.0.2/32".parse::<Cidr>().unwrap(),
    )]);
    let exporter = Exporter::start(config);
    let recorder = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = recorder.local_addr().unwrap().port();

    let (status, body) = exporter
        .get(&format!(
            "/probe?module=tcp_connect&target=127.0.0.1:{port}"
        ))
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("127.0.0.1") && body.contains("nothing was sent"),
        "{body}"
    );
    // A name is checked on what it resolves to: localhost is 127.0.0.1 (or ::1), outside too.
    let (status, body) = exporter
        .get(&format!("/probe?module=tcp&target=localhost:{port}"))
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("`localhost` resolved to it"), "{body}");
    assert!(
        !connected_to(&recorder),
        "a refused target got a connection"
    );

    // An allowed address is probed (and the listener there sees it).
    let allowed = std::net::TcpListener::bind((Ipv4Addr::new(127, 0, 0, 2), 0)).unwrap();
    let target = allowed.local_addr().unwrap();
    let (status, body) = exporter
        .get(&format!("/probe?module=tcp_connect&target={target}"))
        .await;
    assert_eq!(
        (status, value(&body, "probe_success", &[])),
        (200, Some(1.0)),
        "{body}"
    );
    assert!(connected_to(&allowed));
    let (_, metrics) = exporter.get("/metrics").await;
    assert_eq!(
        value(
            &metrics,
            "refused_serve_requests_rejected_total",
            &["forbidden"]
        ),
        Some(2.0)
    );
    exporter.stop().await;
}

/// `probe_success`, `probe_http_status_code` and `probe_http_redirects` of a probe's answer.
fn http_outcome(body: &str) -> [Option<f64>; 3] {
    [
        "probe_success",
        "probe_http_status_code",
        "probe_http_redirects",
    ]
    .map(|name| value(body, name, &[]))
}

/// An HTTP server on `ip` that answers every request with a 302 to `location`.
async fn redirector(ip: Ipv4Addr, location: String) -> SocketAddr {
    http_server(ip, move |_| {
        format!("HTTP/1.1 302 Found\r\nlocation: {location}\r\n")
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_followed_within_the_allowlist_only() {
    // Allowed: 127.0.0.2 only; the recording listener is on 127.0.0.1, outside.
    let mut config = Config::default();
    config.allow_more(vec![AllowRule::cidr(
        "127.0.0.2/32".parse::<Cidr>().unwrap(),
    )]);
    let exporter = Exporter::start(config);
    let recorder = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let outside = recorder.local_addr().unwrap();
    let up = tokio::net::TcpListener::bind((Ipv4Addr::new(127, 0, 0, 2), 0))
        .await
        .unwrap();
    let inside = up.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = up.accept().await {
            let _ = stream.read(&mut [0u8; 4096]).await;
            let _ = stream
                .write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
                .await;
        }
    });
    let to_inside = redirector(Ipv4Addr::new(127, 0, 0, 2), format!("http://{inside}/up")).await;
    let to_outside = redirector(Ipv4Addr::new(127, 0, 0, 2), format!("http://{outside}/")).await;

    // Within the allowlist: followed, to its answer.
    let (status, body) = exporter
        .get(&format!(
            "/probe?module=http_2xx&target=http://{to_inside}/"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        http_outcome(&body),
        [Some(1.0), Some(204.0), Some(1.0)],
        "{body}"
    );

    // Out of it: the probe ends at the redirect, failed, and nothing reaches the address.
    let (status, body) = exporter
        .get(&format!(
            "/probe?module=http_2xx&target=http://{to_outside}/"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        http_outcome(&body),
        [Some(0.0), Some(302.0), Some(1.0)],
        "{body}"
    );
    assert!(
        body.contains("not followed") && body.contains("not in the allowlist"),
        "{body}"
    );
    assert!(!connected_to(&recorder), "a redirect left the allowlist");

    // Our per-scheme `http` module does not follow: a redirect is an answer, as for `check`.
    let (_, body) = exporter
        .get(&format!("/probe?module=http&target=http://{to_outside}/"))
        .await;
    assert_eq!(value(&body, "probe_success", &[]), Some(1.0), "{body}");
    assert_eq!(
        value(&body, "probe_http_redirects", &[]),
        Some(1.0),
        "{body}"
    );
    assert!(!connected_to(&recorder), "a redirect left the allowlist");
    exporter.stop().await;
}

/// An HTTP server counting down: `/N` is a 302 to `/N-1`, `/0` a 204, anything else a 302 to
/// `ftp://web/`.
async fn countdown() -> SocketAddr {
    http_server(Ipv4Addr::LOCALHOST, |request| {
        let path = request.split(' ').nth(1).unwrap_or("/");
        match path.get(1..).unwrap_or_default().parse::<u32>() {
            Ok(0) => "HTTP/1.1 204 No Content\r\n".to_owned(),
            Ok(n) => format!("HTTP/1.1 302 Found\r\nlocation: /{}\r\n", n - 1),
            Err(_) => "HTTP/1.1 302 Found\r\nlocation: ftp://web/\r\n".to_owned(),
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_followed_ten_times_as_blackbox_does() {
    let web = countdown().await;
    let config = Config::from_yaml(
        "modules:\n  once:\n    prober: http\n    http:\n      no_follow_redirects: true\n",
    )
    .unwrap();
    let exporter = Exporter::start(config);
    // (module, path): success, the last status, the redirects counted.
    let cases = [
        ("http_2xx", "/1", 1.0, 204.0, 1.0),
        ("http_2xx", "/10", 1.0, 204.0, 10.0),
        // The 11th redirect is the answer, and a 302 is no 2xx.
        ("http_2xx", "/11", 0.0, 302.0, 11.0),
        ("once", "/1", 0.0, 302.0, 1.0),
        // A redirect to no HTTP URL: counted, and its request got no response.
        ("http_2xx", "/elsewhere", 0.0, 0.0, 1.0),
    ];
    for (module, path, success, status, redirects) in cases {
        let (code, body) = exporter
            .get(&format!("/probe?module={module}&target=http://{web}{path}"))
            .await;
        assert_eq!(code, 200, "{module} {path}: {body}");
        assert_eq!(
            http_outcome(&body),
            [Some(success), Some(status), Some(redirects)],
            "{module} {path}: {body}"
        );
    }
    let (_, body) = exporter
        .get(&format!(
            "/probe?module=http_2xx&target=http://{web}/elsewhere"
        ))
        .await;
    assert!(
        body.contains("a redirect was not followed: it leads to a `ftp:` URL, not HTTP"),
        "{body}"
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_400_and_the_exporter_keeps_serving() {
    let exporter = Exporter::start(Config::default());
    let cases = [
        (
            "/probe?module=nope&target=127.0.0.1:1",
            400,
            "unknown module `nope`",
        ),
        (
            "/probe?module=tcp_connect",
            400,
            "target parameter is missing",
        ),
        (
            "/probe?module=tcp_connect&target=127.0.0.1:99999",
            400,
            "invalid target",
        ),
        (
            "/probe?module=tcp_connect&target=unix:///run/x.sock",
            400,
            "unix sockets",
        ),
        (
            "/probe?module=tcp_connect&target=%zz",
            400,
            "percent-encoding",
        ),
        ("/nowhere", 404, "not found"),
    ];
    for (path, expected, text) in cases {
        let (status, body) = exporter.get(path).await;
        assert_eq!(status, expected, "{path}: {body}");
        assert!(body.contains(text), "{path}: {body}");
    }
    // A long query: ours (400) below hyper's head limit, hyper's own refusal above it.
    let long = format!(
        "/probe?module=tcp_connect&target=127.0.0.1:1&pad={}",
        "x".repeat(8 * 1024)
    );
    let (status, body) = exporter.get(&long).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("longer than"), "{body}");
    let huge = format!("/probe?target={}", "x".repeat(100 * 1024));
    let (status, _) = exporter.get(&huge).await;
    assert!([414, 431].contains(&status), "{status}");
    let (status, _) = get(
        exporter.addr,
        "/-/healthy",
        &[("X-Prometheus-Scrape-Timeout-Seconds", "soon")],
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = get(
        exporter.addr,
        "/probe?module=tcp_connect&target=127.0.0.1:1",
        &[("X-Prometheus-Scrape-Timeout-Seconds", "soon")],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(exporter.get("/-/healthy").await.0, 200);
    exporter.stop().await;
}

/// A probe that lasts its whole budget: the target's accept queue is full, so SYNs are dropped.
fn slow_probe(target: SocketAddr) -> String {
    format!("/probe?module=tcp_connect&target={target}")
}

async fn wait_for_in_flight(exporter: &Exporter, count: f64) {
    tokio::time::timeout(LIMIT, async {
        loop {
            let (_, metrics) = exporter.get("/metrics").await;
            if value(&metrics, "refused_serve_probes_in_flight", &[]) == Some(count) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the probes start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_bound_requests_get_503_at_once_and_every_one_is_answered() {
    let full = FullQueue::v4().unwrap();
    let target = full.addr().unwrap();
    let config = Config {
        max_concurrent_probes: 2,
        max_connections: 256,
        ..Config::default()
    };
    let exporter = Exporter::start(config);
    let timeout = [("X-Prometheus-Scrape-Timeout-Seconds", "3")];
    let addr = exporter.addr;
    let slow: Vec<_> = (0..2)
        .map(|_| tokio::spawn(async move { get(addr, &slow_probe(target), &timeout).await }))
        .collect();
    wait_for_in_flight(&exporter, 2.0).await;
    // Both slots are taken: the next is turned away, not queued.
    let (status, body) = get(addr, &slow_probe(target), &timeout).await;
    assert_eq!(status, 503, "{body}");
    // 10,000 at once: each gets an answer, 503 (probes or connections at their bound) or 200
    // when a slot was free again.
    let baseline = open_files();
    let limit = refused::scan::raise_open_file_limit();
    // Two descriptors a request in this one process (client and server side): keep room.
    let many = limit.budget().saturating_sub(4_000).clamp(100, 10_000);
    let flood: Vec<_> = (0..many)
        .map(|_| tokio::spawn(async move { get(addr, &slow_probe(target), &timeout).await.0 }))
        .collect();
    let mut answered = 0;
    for request in flood {
        let status = request.await.unwrap();
        assert!([200, 503].contains(&status), "{status}");
        answered += 1;
    }
    assert_eq!(answered, many);
    for request in slow {
        let (status, body) = request.await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(value(&body, "probe_success", &[]), Some(0.0), "{body}");
    }
    wait_for_in_flight(&exporter, 0.0).await;
    assert_eq!(exporter.get("/-/healthy").await.0, 200);
    // Nothing leaks: the descriptors come back to where they were (a few may still be a
    // diagnosis finishing, or the runtime's).
    tokio::time::timeout(LIMIT, async {
        while open_files() > baseline + 8 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{} descriptors open, {baseline} before", open_files()));
    exporter.stop().await;
}

/// How many descriptors this process has open.
fn open_files() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_the_probe_in_flight_answer() {
    let full = FullQueue::v4().unwrap();
    let target = full.addr().unwrap();
    let exporter = Exporter::start(Config::default());
    let addr = exporter.addr;
    let probe = tokio::spawn(async move {
        get(
            addr,
            &slow_probe(target),
            &[("X-Prometheus-Scrape-Timeout-Seconds", "2")],
        )
        .await
    });
    wait_for_in_flight(&exporter, 1.0).await;
    exporter.stop().await;
    let (status, body) = probe.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(value(&body, "probe_success", &[]), Some(0.0), "{body}");
    assert!(body.contains("probe_failure_info{"), "{body}");
    // And nothing listens any more.
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_module_speaks_to_a_real_redis() {
    let test = "the_redis_module_speaks_to_a_real_redis";
    if !refused_lab::require(test, &[refused_lab::Tool::RedisServer]) {
        return;
    }
    let redis = refused_lab::servers::redis(&[]).unwrap();
    crate::probe::ready(&format!("redis://{}", redis.addr)).await;
    let exporter = Exporter::start(Config::default());
    let (status, body) = exporter
        .get(&format!("/probe?module=redis&target={}", redis.addr))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(value(&body, "probe_success", &[]), Some(1.0), "{body}");
    // Postgres' startup packet to Redis: connected, but not the protocol.
    let path = format!("/probe?module=postgres&target={}", redis.addr);
    let (_, body) = get(
        exporter.addr,
        &path,
        &[("X-Prometheus-Scrape-Timeout-Seconds", "2")],
    )
    .await;
    assert_eq!(value(&body, "probe_success", &[]), Some(0.0), "{body}");
    assert!(body.contains(r#"outcome="connected""#), "{body}");
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blackbox_module_we_cannot_run_answers_400_with_the_reason() {
    let config =
        Config::from_yaml(include_str!("../../src/serve/testdata/blackbox-debian.yml")).unwrap();
    let exporter = Exporter::start(config);
    let (status, body) = exporter
        .get("/probe?module=ssh_banner&target=127.0.0.1:22")
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("`tcp.query_response` is not implemented"),
        "{body}"
    );
    let (status, body) = exporter.get("/probe?module=icmp&target=127.0.0.1").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("the `icmp` prober"), "{body}");
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_targets_report_the_earliest_certificate_expiry_and_the_version() {
    use crate::probe::tls::{pki, serve, tempfile_path};
    let pki = pki((2020, 1, 1), (2099, 1, 1));
    let web = serve(&pki).await;
    let ca = tempfile_path::write(&pki.ca_pem);
    let config = Config::from_yaml(&format!(
        "modules:
  https_2xx:
    prober: http
    http:
      fail_if_not_ssl: true
      tls_config:
        ca_file: {ca}
  tls_connect:
    prober: tcp
    tcp:
      tls: true
      tls_config:
        ca_file: {ca}
",
        ca = ca.path.display()
    ))
    .unwrap();
    let exporter = Exporter::start(config);
    // 2099-01-01T00:00:00Z, the certificate's notAfter.
    let expiry = Some(4_070_908_800.0);
    for path in [
        format!(
            "/probe?module=https_2xx&target=https://localhost:{}/",
            web.port()
        ),
        format!("/probe?module=tls_connect&target=localhost:{}", web.port()),
    ] {
        let (status, body) = exporter.get(&path).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            value(&body, "probe_success", &[]),
            Some(1.0),
            "{path}: {body}"
        );
        assert_eq!(
            value(&body, "probe_ssl_earliest_cert_expiry", &[]),
            expiry,
            "{body}"
        );
        assert_eq!(
            value(&body, "probe_tls_version_info", &[r#"version="TLS 1.3""#]),
            Some(1.0),
            "{body}"
        );
    }
    let (_, body) = exporter
        .get(&format!(
            "/probe?module=https_2xx&target=https://localhost:{}/",
            web.port()
        ))
        .await;
    assert_eq!(value(&body, "probe_http_ssl", &[]), Some(1.0), "{body}");
    // blackbox's phases: each step this request took has its time, the handshake included.
    for phase in ["resolve", "connect", "tls", "processing", "transfer"] {
        let took = value(
            &body,
            "probe_http_duration_seconds",
            &[&format!("phase=\"{phase}\"")],
        );
        assert!(took.is_some_and(|t| t > 0.0), "{phase}: {body}");
    }
    assert_eq!(value(&body, "probe_http_version", &[]), Some(1.1), "{body}");
    // `fail_if_not_ssl`: the same module over plain HTTP fails, though the server answers.
    let plain = web_server().await;
    let (_, body) = exporter
        .get(&format!("/probe?module=https_2xx&target=http://{plain}/"))
        .await;
    assert_eq!(
        value(&body, "probe_http_status_code", &[]),
        Some(204.0),
        "{body}"
    );
    assert_eq!(value(&body, "probe_success", &[]), Some(0.0), "{body}");
    assert!(body.contains("fail_if_not_ssl"), "{body}");
    exporter.stop().await;
}
