//! Probes against real servers (PostgreSQL, Redis from Debian's packages), small fake servers for
//! the states a real one cannot show on demand, hostile servers, and TLS with rcgen certificates.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use refused::Target;
use refused::probe::{ProbeOptions, Readiness, probe};
use refused::wait::{WaitOptions, wait};
use refused_lab::servers;
use refused_lab::{Tool, require};

/// A server whose every connection is handled by `handle` on its own thread.
fn fake(handle: impl Fn(TcpStream) + Send + Sync + 'static) -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = Arc::new(handle);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let handle = Arc::clone(&handle);
            std::thread::spawn(move || handle(stream));
        }
    });
    addr
}

/// Reads what the client sent (one read), then writes `reply`.
fn replying(reply: &'static [u8]) -> impl Fn(TcpStream) + Send + Sync {
    move |mut stream| {
        let mut buf = [0u8; 1024];
        let _ = stream.read(&mut buf);
        let _ = stream.write_all(reply);
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A 503 whose promised body never comes, its connection kept open: a read of the body for who
/// answered must not turn it into a probe that was too slow.
#[tokio::test]
async fn a_503_whose_body_never_comes_is_still_a_503() {
    let stalled = fake(|mut stream: TcpStream| {
        let mut buf = [0u8; 1024];
        let _ = stream.read(&mut buf);
        let _ =
            stream.write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 100\r\n\r\n");
        std::thread::sleep(Duration::from_secs(3));
    });
    let started = std::time::Instant::now();
    let said = probe_text(&format!("http://{stalled}/"), &ProbeOptions::new()).await;
    assert_eq!(said.to_string(), "not ready: HTTP 503 Service Unavailable");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    // HAProxy's own 503, as it sends it (`errorfile` default): the load balancer is named.
    let haproxy = fake(replying(
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 107\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n",
    ));
    let said = probe_text(&format!("http://{haproxy}/"), &ProbeOptions::new()).await;
    assert_eq!(
        said.to_string(),
        "not ready: HTTP 503 Service Unavailable: the load balancer has no backend server available"
    );
}

/// A MySQL server's first packet: it speaks first.
fn greeting(payload: &'static [u8]) -> impl Fn(TcpStream) + Send + Sync {
    move |mut stream| {
        let length = u32::try_from(payload.len()).unwrap().to_le_bytes();
        let _ = stream.write_all(&[length[0], length[1], length[2], 0]);
        let _ = stream.write_all(payload);
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A PostgreSQL `ErrorResponse`, as a server starting up sends it.
fn postgres_error(code: &str, message: &str) -> &'static [u8] {
    let body = format!("SFATAL\0C{code}\0M{message}\0\0");
    let mut packet = vec![b'E'];
    packet.extend_from_slice(&u32::try_from(body.len() + 4).unwrap().to_be_bytes());
    packet.extend_from_slice(body.as_bytes());
    Box::leak(packet.into_boxed_slice())
}

async fn probe_text(target: &str, options: &ProbeOptions) -> Readiness {
    let target: Target = target.parse().unwrap();
    probe(&target, options, Duration::from_secs(2))
        .await
        .readiness
}

/// Waits (with the library's own `wait`) for a freshly started server.
pub async fn ready(target: &str) -> Readiness {
    let target: Target = target.parse().unwrap();
    let options = WaitOptions {
        timeout: Some(Duration::from_secs(30)),
        ..WaitOptions::default()
    };
    let result = wait(std::slice::from_ref(&target), &options, |_| {}).await;
    let last = result.targets[0].last.clone().unwrap();
    assert!(result.satisfied, "{target}: {}", last.readiness);
    last.readiness
}

#[tokio::test]
async fn a_real_redis_answers_ping_and_one_with_a_password_is_still_up() {
    if !require("a_real_redis_answers_ping", &[Tool::RedisServer]) {
        return;
    }
    let redis = servers::redis(&[]).unwrap();
    let readiness = ready(&format!("redis://{}", redis.addr)).await;
    assert_eq!(readiness.to_string(), "ready: PING answered PONG");

    let locked = servers::redis(&["--requirepass", "secret"]).unwrap();
    let readiness = ready(&format!("redis://{}", locked.addr)).await;
    assert!(readiness.to_string().contains("NOAUTH"), "{readiness}");
}

/// Redis's unix socket, named as redis-py and Celery name it (`redis+unix://`,
/// `redis+socket://`), gets Redis's `PING`, not only a connect: a Redis still loading its data
/// accepts connections there and answers `-LOADING`.
#[tokio::test]
async fn a_real_redis_answers_ping_on_its_unix_socket() {
    if !require(
        "a_real_redis_answers_ping_on_its_unix_socket",
        &[Tool::RedisServer],
    ) {
        return;
    }
    // Relative to its `--dir`, its scratch folder.
    let redis = servers::redis(&["--unixsocket", "redis.sock"]).unwrap();
    let socket = redis.dir().join("redis.sock");
    for scheme in ["redis+unix", "redis+socket"] {
        let readiness = ready(&format!("{scheme}://{}?db=0", socket.display())).await;
        assert_eq!(readiness.to_string(), "ready: PING answered PONG");
    }
}

#[tokio::test]
async fn a_real_postgres_accepts_connections() {
    if !require("a_real_postgres_accepts_connections", &[Tool::Postgres]) {
        return;
    }
    let pg = servers::postgres().unwrap();
    let readiness = ready(&format!("postgres://postgres@{}/postgres", pg.addr)).await;
    assert_eq!(readiness.to_string(), "ready: accepting connections");
    // A role that does not exist still proves a server that accepts connections.
    let readiness = probe_text(
        &format!("postgres://nobody@{}/x", pg.addr),
        &ProbeOptions::new(),
    )
    .await;
    assert!(readiness.is_ready(), "{readiness}");
}

/// PostgreSQL's unix socket (`.s.PGSQL.PORT`) gets PostgreSQL's startup, not only a connect:
/// the real server says it accepts connections there, and one starting up (a fake of one
/// socket: a real server cannot be held in that state) says it is not ready.
#[tokio::test]
async fn postgres_s_unix_socket_is_asked_as_postgres() {
    if !require(
        "postgres_s_unix_socket_is_asked_as_postgres",
        &[Tool::Postgres],
    ) {
        return;
    }
    let pg = servers::postgres().unwrap();
    let socket = pg.dir().join(format!(".s.PGSQL.{}", pg.addr.port()));
    let readiness = ready(&format!("unix://{}", socket.display())).await;
    assert_eq!(readiness.to_string(), "ready: accepting connections");

    let scratch = refused_lab::Scratch::new("pg-starting");
    let starting = scratch.path().join(".s.PGSQL.5432");
    let listener = std::os::unix::net::UnixListener::bind(&starting).unwrap();
    let reply = postgres_error("57P03", "the database system is starting up");
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(reply);
        }
    });
    let readiness = probe_text(
        &format!("unix://{}", starting.display()),
        &ProbeOptions::new(),
    )
    .await;
    assert_eq!(
        readiness.to_string(),
        "not ready: the database system is starting up (57P03)"
    );
    // Any other socket is asked for a connect alone.
    let other = scratch.path().join("app.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&other).unwrap();
    let readiness = probe_text(&format!("unix://{}", other.display()), &ProbeOptions::new()).await;
    assert!(!readiness.to_string().contains("PostgreSQL"), "{readiness}");
}

#[tokio::test]
async fn servers_that_are_up_but_not_ready_say_so() {
    let options = ProbeOptions::new();
    let http = fake(replying(
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n",
    ));
    let starting = fake(replying(postgres_error(
        "57P03",
        "the database system is starting up",
    )));
    let loading = fake(replying(
        b"-LOADING Redis is loading the dataset in memory\r\n",
    ));
    let busy_mysql = fake(greeting(b"\xff\x10\x04#08004Too many connections"));
    let mysql = fake(greeting(b"\x0a8.0.36\0rest-of-greeting"));
    for (target, expected) in [
        (
            format!("http://{http}/"),
            "not ready: HTTP 503 Service Unavailable",
        ),
        (
            format!("postgres://{starting}/db"),
            "not ready: the database system is starting up (57P03)",
        ),
        (
            format!("redis://{loading}"),
            "not ready: LOADING Redis is loading the dataset in memory",
        ),
        (
            format!("mysql://{busy_mysql}"),
            "not ready: Too many connections (1040)",
        ),
        (format!("mysql://{mysql}"), "ready: server 8.0.36"),
    ] {
        assert_eq!(
            probe_text(&target, &options).await.to_string(),
            expected,
            "{target}"
        );
    }
}

#[tokio::test]
async fn http_checks_status_header_and_body() {
    let ok = fake(replying(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 15\r\n\r\n{\"status\":\"up\"}",
    ));
    let target = format!("http://{ok}/healthz");
    let mut options = ProbeOptions::new();
    assert_eq!(
        probe_text(&target, &options).await.to_string(),
        "ready: HTTP 200 OK"
    );
    options.http.statuses = "204".parse().unwrap();
    assert_eq!(
        probe_text(&target, &options).await.to_string(),
        "not ready: HTTP 200 OK"
    );
    options.http.statuses = "200-299".parse().unwrap();
    options.http.body = Some("\"up\"".into());
    options.http.header = Some(("content-type".into(), Some("application/json".into())));
    assert!(probe_text(&target, &options).await.is_ready());
    options.http.body_regex = Some(regex::Regex::new(r#""status":\s*"down""#).unwrap());
    let readiness = probe_text(&target, &options).await;
    assert!(
        readiness.to_string().contains("does not match"),
        "{readiness}"
    );
    options.http.body_regex = None;
    options.http.header = Some(("x-ready".into(), None));
    let readiness = probe_text(&target, &options).await;
    assert!(
        readiness
            .to_string()
            .contains("without the header `x-ready`"),
        "{readiness}"
    );
}

#[tokio::test]
async fn a_proxy_that_accepts_and_drops_is_not_ready() {
    let dropping = fake(drop);
    let holding = fake(|stream| {
        std::thread::sleep(Duration::from_millis(300));
        drop(stream);
    });
    // The fake servers run in this test's process, which is no port forwarder by name: without
    // the owner check, the settle alone must tell them apart.
    let options = ProbeOptions {
        owner_check: false,
        ..ProbeOptions::new()
    };
    let readiness = probe_text(&dropping.to_string(), &options).await;
    assert_eq!(readiness.as_label(), "not-ready", "{readiness}");
    assert!(probe_text(&holding.to_string(), &options).await.is_ready());
}

#[tokio::test]
async fn an_http_server_that_closes_before_answering_closed_the_connection() {
    use refused::probe::{ProbeFailure, ProtocolErrorKind};
    // A forwarder whose backend is down reads the request and closes: no answer of another
    // protocol, which a server that sends garbage gives.
    let closing = fake(|mut stream| {
        let _ = stream.read(&mut [0u8; 1024]);
    });
    let garbage = fake(replying(b"SSH-2.0-OpenSSH_9.2\r\n"));
    let kind = |readiness: Readiness| match readiness {
        Readiness::Failed(ProbeFailure::Protocol(err)) => err.kind,
        other => panic!("{other}"),
    };
    let options = ProbeOptions::new();
    assert_eq!(
        kind(probe_text(&format!("http://{closing}/"), &options).await),
        ProtocolErrorKind::Closed
    );
    assert_eq!(
        kind(probe_text(&format!("http://{garbage}/"), &options).await),
        ProtocolErrorKind::NotTheProtocol
    );
    // Closed at once, before the request was read: hyper's error depends on the moment (an
    // incomplete message, a canceled request, a reset), never another protocol's answer.
    let dropping = fake(drop);
    for _ in 0..20 {
        let kind = kind(probe_text(&format!("http://{dropping}/"), &options).await);
        assert!(
            matches!(kind, ProtocolErrorKind::Closed | ProtocolErrorKind::Io),
            "{kind:?}"
        );
    }
    // The same before a TLS handshake: no failure of TLS's own (a certificate, a version).
    let kind = kind(probe_text(&format!("https://{closing}/"), &options).await);
    assert!(
        matches!(kind, ProtocolErrorKind::Closed | ProtocolErrorKind::Io),
        "{kind:?}"
    );
}

#[tokio::test]
async fn a_local_program_that_is_no_forwarder_needs_no_settle() {
    // It holds the connection (as a server waiting for a request does); the settle is long
    // enough that only the owner check can end the probe with this reason: the program found in
    // `/proc` is this test's own process.
    let holding = fake(|stream| {
        std::thread::sleep(Duration::from_secs(3));
        drop(stream);
    });
    let options = ProbeOptions {
        settle: Duration::from_secs(20),
        ..ProbeOptions::new()
    };
    let target: Target = holding.to_string().parse().unwrap();
    let report = probe(&target, &options, Duration::from_secs(30)).await;
    let Readiness::Ready(detail) = &report.readiness else {
        panic!("{}", report.readiness);
    };
    let pid = std::process::id();
    assert!(
        detail.starts_with("accepted by ") && detail.contains(&format!("(pid {pid})")),
        "{detail}"
    );
}

#[tokio::test]
async fn hostile_servers_cannot_hang_a_probe_or_fill_its_memory() {
    let endless = fake(|mut stream| {
        let chunk = [b'A'; 4096];
        while stream.write_all(&chunk).is_ok() {}
    });
    let silent = fake(|mut stream| {
        let mut buf = [0u8; 1024];
        while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
    });
    let garbage = fake(replying(b"\x00\xff\x13garbage\r\n\x00\x00\x00\x00\x00"));
    let options = ProbeOptions::new();
    for server in [endless, silent, garbage] {
        for scheme in ["http", "postgres", "redis", "mysql", "tls"] {
            let target: Target = format!("{scheme}://{server}").parse().unwrap();
            let started = Instant::now();
            let report = probe(&target, &options, Duration::from_millis(800)).await;
            assert!(
                started.elapsed() < Duration::from_secs(3),
                "{target} took {:?}",
                started.elapsed()
            );
            assert!(
                !report.readiness.is_ready(),
                "{target}: {}",
                report.readiness
            );
            assert!(!report.readiness.to_string().is_empty());
        }
    }
}

pub mod tls {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

    pub struct Pki {
        pub ca_pem: String,
        chain: Vec<CertificateDer<'static>>,
        key: Vec<u8>,
    }

    /// A CA and a server certificate for `localhost` and 127.0.0.1, valid from `from` to `to`.
    pub fn pki(from: (i32, u8, u8), to: (i32, u8, u8)) -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::from_params(&ca, &ca_key);
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params.not_before = rcgen::date_time_ymd(from.0, from.1, from.2);
        params.not_after = rcgen::date_time_ymd(to.0, to.1, to.2);
        let cert = params.signed_by(&key, &issuer).unwrap();
        Pki {
            ca_pem: ca_cert.pem(),
            chain: vec![cert.der().clone()],
            key: key.serialize_der(),
        }
    }

    /// A TLS server (rustls) that completes handshakes and answers HTTP 200.
    pub async fn serve(pki: &Pki) -> SocketAddr {
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            pki.chain.clone(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.key.clone())),
        )
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    if let Ok(mut tls) = acceptor.accept(stream).await {
                        let mut buf = [0u8; 1024];
                        let _ = tls.read(&mut buf).await;
                        let _ = tls
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                            .await;
                        let _ = tls.shutdown().await;
                    }
                });
            }
        });
        addr
    }

    fn with_ca(pki: &Pki) -> (ProbeOptions, tempfile_path::Guard) {
        let guard = tempfile_path::write(&pki.ca_pem);
        let options = ProbeOptions {
            ca_file: Some(guard.path.clone()),
            ..ProbeOptions::new()
        };
        (options, guard)
    }

    #[tokio::test]
    async fn a_trusted_certificate_completes_the_handshake() {
        let pki = pki((2020, 1, 1), (2099, 1, 1));
        let addr = serve(&pki).await;
        let (options, _guard) = with_ca(&pki);
        let port = addr.port();
        assert!(
            probe_text(&format!("tls://localhost:{port}"), &options)
                .await
                .is_ready()
        );
        let readiness = probe_text(&format!("https://127.0.0.1:{port}/"), &options).await;
        assert_eq!(readiness.to_string(), "ready: HTTP 200 OK");
    }

    #[tokio::test]
    async fn expired_unknown_and_insecure() {
        let expired = pki((2001, 1, 1), (2002, 1, 1));
        let addr = serve(&expired).await;
        let target = format!("tls://localhost:{}", addr.port());
        let (options, _guard) = with_ca(&expired);
        let readiness = probe_text(&target, &options).await;
        assert!(readiness.to_string().contains("expired"), "{readiness}");

        let valid = pki((2020, 1, 1), (2099, 1, 1));
        let addr = serve(&valid).await;
        let target = format!("tls://localhost:{}", addr.port());
        let readiness = probe_text(&target, &ProbeOptions::new()).await;
        assert!(
            readiness
                .to_string()
                .contains("not signed by an authority this host trusts"),
            "{readiness}"
        );

        let insecure = ProbeOptions {
            insecure: true,
            ..ProbeOptions::new()
        };
        assert!(probe_text(&target, &insecure).await.is_ready());
    }

    /// `--cacert` with the server's own certificate.
    fn trusting(cert: std::path::PathBuf) -> ProbeOptions {
        ProbeOptions {
            ca_file: Some(cert),
            ..ProbeOptions::new()
        }
    }

    /// What `openssl req -x509` makes by default is a CA (`CA:TRUE`): given with `--cacert`, it
    /// is trusted as the server's certificate, as curl and requests (OpenSSL) trust it; webpki
    /// alone refused it as a CA used as an end entity, so `wait --cacert` never ended.
    #[tokio::test]
    async fn openssls_default_self_signed_certificate_is_trusted_with_cacert() {
        if !require(
            "openssls_default_self_signed_certificate_is_trusted_with_cacert",
            &[Tool::Openssl],
        ) {
            return;
        }
        let server = servers::openssl_server(servers::SelfSigned::Ca).unwrap();
        let port = server.addr.port();
        let options = trusting(server.dir().join("cert.pem"));
        for target in [
            format!("https://localhost:{port}/"),
            format!("tls://localhost:{port}"),
        ] {
            let readiness = probe_text(&target, &options).await;
            assert!(readiness.is_ready(), "{target}: {readiness}");
        }
        // Trusted as it is, but still only for its names.
        let readiness = probe_text(&format!("https://127.0.0.1:{port}/"), &options).await;
        assert_eq!(
            readiness.to_string(),
            format!(
                "the server's certificate is not valid for `127.0.0.1`: it is valid for `localhost`; fix: connect by a name it is valid for, or give the server a certificate whose subject alternative names hold `127.0.0.1`; `--insecure` skips the check"
            )
        );
        // Without `--cacert`: a CA certificate, in words, not rustls's debug text.
        let readiness =
            probe_text(&format!("https://localhost:{port}/"), &ProbeOptions::new()).await;
        let text = readiness.to_string();
        assert!(
            text.starts_with("the server's certificate is a CA certificate (`CA:TRUE`"),
            "{text}"
        );
        assert!(
            text.contains("`--cacert FILE` with that very certificate"),
            "{text}"
        );
        assert!(!text.contains("Other"), "{text}");
    }

    /// A self-signed `CA:FALSE` certificate for `localhost`, not trusted: said so, whatever a
    /// trusted certificate of the same name (Debian's snakeoil, `CN=localhost`, in
    /// `/etc/ssl/certs`) makes of the chain (webpki tried it and said `BadSignature`).
    #[tokio::test]
    async fn a_self_signed_server_certificate_is_not_trusted_in_words() {
        if !require(
            "a_self_signed_server_certificate_is_not_trusted_in_words",
            &[Tool::Openssl],
        ) {
            return;
        }
        let server = servers::openssl_server(servers::SelfSigned::Leaf).unwrap();
        let target = format!("https://localhost:{}/", server.addr.port());
        let readiness = probe_text(&target, &ProbeOptions::new()).await;
        assert_eq!(
            readiness.to_string(),
            "the server's certificate is not signed by an authority this host trusts (it is self-signed, or signed by a CA of its own); fix: `--cacert FILE` with that certificate, or the CA that signed it, trusts it (as curl's `--cacert` and requests' `verify=` do); `--insecure` skips the check"
        );
        let trusted = trusting(server.dir().join("cert.pem"));
        let readiness = probe_text(&target, &trusted).await;
        assert!(readiness.is_ready(), "{readiness}");
    }

    /// A CA certificate given with `--cacert` as the server's is trusted only in its validity
    /// period: an expired one is expired (webpki checks the dates before the CA bit, which the
    /// exception for `--cacert` relies on).
    #[tokio::test]
    async fn an_expired_ca_certificate_given_with_cacert_is_expired() {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.not_before = rcgen::date_time_ymd(2001, 1, 1);
        params.not_after = rcgen::date_time_ymd(2002, 1, 1);
        let cert = params.self_signed(&key).unwrap();
        let pki = Pki {
            ca_pem: cert.pem(),
            chain: vec![cert.der().clone()],
            key: key.serialize_der(),
        };
        let addr = serve(&pki).await;
        let (options, _guard) = with_ca(&pki);
        let readiness = probe_text(&format!("tls://localhost:{}", addr.port()), &options).await;
        assert!(
            readiness.to_string().starts_with(
                "the server's certificate expired on Tue, 01 Jan 2002 00:00:00 GMT; fix: renew it"
            ),
            "{readiness}"
        );
    }

    /// A CA file for one test, removed afterwards.
    pub mod tempfile_path {
        use std::path::PathBuf;
        use std::sync::atomic::{AtomicU32, Ordering};

        pub struct Guard {
            pub path: PathBuf,
        }

        impl Drop for Guard {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.path);
            }
        }

        pub fn write(contents: &str) -> Guard {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let path = std::env::temp_dir().join(format!(
                "refused-ca-{}-{}.pem",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::write(&path, contents).unwrap();
            Guard { path }
        }
    }
}

#[tokio::test]
async fn a_proxy_that_closed_once_is_watched_longer_by_wait() {
    // A proxy that forks per connection closes at a moment that varies: at once the first time
    // (here in the accepting thread itself, so no scheduling delay can hold it), 40 ms after
    // the accept the next (past a 10 ms settle, well within the 100 ms a target that closed
    // once gets). Once a close was seen, `wait` must not take a later lucky probe for ready.
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let proxy = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut first = true;
        for stream in listener.incoming().flatten() {
            if std::mem::take(&mut first) {
                drop(stream);
            } else {
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(40));
                    drop(stream);
                });
            }
        }
    });
    let target: Target = format!("tcp://{proxy}").parse().unwrap();
    let options = WaitOptions {
        timeout: Some(Duration::from_millis(600)),
        probe: ProbeOptions {
            settle: Duration::from_millis(10),
            ..ProbeOptions::default()
        },
        ..WaitOptions::default()
    };
    let result = wait(std::slice::from_ref(&target), &options, |_| {}).await;
    assert!(
        !result.satisfied,
        "{:?}",
        result.targets[0]
            .last
            .as_ref()
            .map(|r| r.readiness.to_string())
    );
}

/// A listener whose program never calls `accept()` (the kernel queues the connection): after
/// the accept grace it is up, slow as it is; but a deadline that comes before the grace's end
/// proves nothing, and the probe is not ready (a `wait` ending there must not say ready).
#[tokio::test]
async fn a_deadline_inside_the_accept_grace_is_not_ready() {
    let listener = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).unwrap();
    let target: Target = listener.local_addr().unwrap().to_string().parse().unwrap();
    let options = ProbeOptions::new();
    let cut = probe(&target, &options, Duration::from_millis(20)).await;
    assert_eq!(cut.readiness.as_label(), "not-ready", "{}", cut.readiness);
    assert!(
        cut.readiness.to_string().contains("the time ran out"),
        "{}",
        cut.readiness
    );
    let whole = probe(&target, &options, Duration::from_secs(5)).await;
    assert!(whole.readiness.is_ready(), "{}", whole.readiness);
    drop(listener);
}

/// A server run as Debian's python3 through a link named `name` (so that `/proc/PID/comm` says
/// `name`), running `script`, which prints the port it listens on; `None` (skipped with a printed
/// reason, or failed under CI) without `/usr/bin/python3`.
fn named_server(
    test: &str,
    name: &str,
    script: &str,
) -> Option<(std::process::Child, u16, refused_lab::Scratch)> {
    let python = std::path::Path::new("/usr/bin/python3");
    if !python.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: required in CI: /usr/bin/python3 not installed (apt-get install python3)"
        );
        let _ = writeln!(
            std::io::stderr(),
            "skipping {test}: /usr/bin/python3 not installed (apt-get install python3)"
        );
        return None;
    }
    let scratch = refused_lab::Scratch::new(name);
    let link = scratch.path().join(name);
    std::os::unix::fs::symlink(python, &link).unwrap();
    let mut server = std::process::Command::new(&link)
        .args(["-c", script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut port = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.take().unwrap()),
        &mut port,
    )
    .unwrap();
    Some((server, port.trim().parse().unwrap(), scratch))
}

/// Rootless Podman's `rootlessport` accepts a published port's connections and hands each to
/// its child in the container's namespace, which connects to the container's port; when that
/// fails (nothing listens there, `-p 8080:80` for a program on 3000), it closes ours about
/// 190 ms later (podman 4.3.1). A server named `rootlessport` that does so is not ready: the
/// settle is longer for it, as for an ssh tunnel's end, and a plain TCP `check` or `wait` does
/// not take the container's broken port for up, nor do `wait`'s later probes.
#[tokio::test]
async fn rootlessports_late_close_is_not_ready() {
    let Some((mut server, port, _scratch)) = named_server(
        "rootlessports_late_close_is_not_ready",
        "rootlessport",
        "import socket, time\n\
         s = socket.socket()\n\
         s.bind(('127.0.0.1', 0))\n\
         s.listen(16)\n\
         print(s.getsockname()[1], flush=True)\n\
         while True:\n\
         \x20   c, _ = s.accept()\n\
         \x20   time.sleep(0.19)\n\
         \x20   c.close()\n",
    ) else {
        return;
    };
    let target: Target = format!("tcp://127.0.0.1:{port}").parse().unwrap();
    let readiness = probe_text(&target.to_string(), &ProbeOptions::new()).await;
    // `wait`'s probes after the first close keep the longer settle (no owner check then).
    let options = WaitOptions {
        timeout: Some(Duration::from_millis(1500)),
        ..WaitOptions::default()
    };
    let waited = wait(std::slice::from_ref(&target), &options, |_| {}).await;
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(readiness.as_label(), "not-ready", "{readiness}");
    assert!(
        !waited.satisfied,
        "{:?}",
        waited.targets[0]
            .last
            .as_ref()
            .map(|r| r.readiness.to_string())
    );
}

/// Rootful Podman's `conmon` holds each port a container publishes and never accepts (netavark's
/// DNAT rules send the connections on first); one no rule sends on (a container on an
/// `--internal` network) waits in its queue for ever. A listener named `conmon` that never
/// accepts is not ready, for `check` and for every probe of a `wait`, where a program that is
/// merely slow to accept is still up after the accept grace.
#[tokio::test]
async fn conmons_reserved_port_is_not_ready() {
    let Some((mut server, port, _scratch)) = named_server(
        "conmons_reserved_port_is_not_ready",
        "conmon",
        "import socket, time\n\
         s = socket.socket()\n\
         s.bind(('127.0.0.1', 0))\n\
         s.listen(16)\n\
         print(s.getsockname()[1], flush=True)\n\
         time.sleep(60)\n",
    ) else {
        return;
    };
    let target: Target = format!("tcp://127.0.0.1:{port}").parse().unwrap();
    let readiness = probe_text(&target.to_string(), &ProbeOptions::new()).await;
    let options = WaitOptions {
        timeout: Some(Duration::from_millis(800)),
        ..WaitOptions::default()
    };
    let waited = wait(std::slice::from_ref(&target), &options, |_| {}).await;
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(readiness.as_label(), "not-ready", "{readiness}");
    assert!(
        readiness.to_string().contains("never accepts"),
        "{readiness}"
    );
    assert!(
        !waited.satisfied,
        "{:?}",
        waited.targets[0]
            .last
            .as_ref()
            .map(|r| r.readiness.to_string())
    );
}
