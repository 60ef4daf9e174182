//! `refused why` on this host: usage errors, and the plain `refused TARGET` form.

use refused_lab::Scratch;

use crate::common::{answering, refused};

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
fn targets_no_connect_can_take_are_usage_errors_not_failures() {
    // A link-local address without its interface (the connect's EINVAL was exit 3, "cannot
    // diagnose"), and an abstract unix socket (read as a host and a port).
    for (target, said) in [
        ("[fe80::1]:8005", "`[fe80::1%eth0]:PORT`"),
        ("unix:@app", "`@app` is an abstract unix socket"),
    ] {
        for json in [false, true] {
            let mut command = refused();
            command.args(["why", target]);
            if json {
                command.arg("--json");
            }
            let output = command.output().unwrap();
            assert_eq!(output.status.code(), Some(2), "{target}");
            let stderr = String::from_utf8(output.stderr).unwrap();
            assert!(stderr.contains(said), "{stderr}");
        }
    }
}

#[test]
fn an_attempt_that_ended_in_another_error_says_which_in_words() {
    let scratch = Scratch::new("why-other-errno");
    let path = scratch.path().join("none.sock");
    // gunicorn's and nginx's way of writing a unix socket.
    let output = refused()
        .args(["why", &format!("unix:{}", path.display())])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.starts_with("socket-missing"), "{stdout}");
    assert!(
        stdout.contains("other (No such file or directory, errno 2) in"),
        "{stdout}"
    );
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
    let addr = answering(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n");
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

/// The wrong scheme for the port is named, not "wait for it": `http://` to a TLS port (Go's
/// `net/http` TLS server answers a plain request with this 400, in these words; a fake server,
/// since no Go server is at hand), and `https://` to a plain HTTP server (it answers the
/// `ClientHello` with an HTTP error, as any plain server does).
#[test]
fn the_wrong_scheme_for_the_port_is_named() {
    let tls_port = answering(
        b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n",
    );
    let output = refused()
        .args(["why", "--json", &format!("http://{tls_port}/healthz")])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["cause"], "not-ready", "{report}");
    let fixes = report["suggestions"].to_string();
    assert!(
        fixes.contains(&format!("use `https://{tls_port}/healthz`")),
        "{report}"
    );
    assert!(!fixes.contains("wait for it"), "{report}");

    let plain = answering(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
    let output = refused()
        .args(["why", "--json", &format!("https://{plain}/")])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["cause"], "not-ready", "{report}");
    let fixes = report["suggestions"].to_string();
    assert!(
        fixes.contains(&format!("use `http://{plain}/`")),
        "{report}"
    );
}

/// An HTTPS server on loopback whose certificate (for 127.0.0.1) is signed by a CA of its own;
/// returns its address and that CA as PEM.
fn https_with_own_ca() -> (std::net::SocketAddr, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    use std::io::{Read, Write};
    use std::sync::Arc;

    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::from_params(&ca, &ca_key);
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![leaf.der().clone()],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
    .unwrap();
    let config = Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let config = Arc::clone(&config);
            std::thread::spawn(move || {
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, stream);
                let mut buf = [0u8; 1024];
                if tls.read(&mut buf).is_ok() {
                    let _ = tls.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
                    let _ = tls.flush();
                }
            });
        }
    });
    (addr, ca_cert.pem())
}

#[test]
fn why_takes_the_cacert_and_insecure_it_suggests() {
    let (addr, ca) = https_with_own_ca();
    let target = format!("https://{addr}/");
    let output = refused().args(["why", "--json", &target]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["cause"], "not-ready", "{report}");
    // The certificate's fix is the finding's, never "wait for it".
    let fixes = report["suggestions"].to_string();
    assert!(
        fixes.contains("--cacert") && !fixes.contains("wait for it"),
        "{report}"
    );

    let scratch = Scratch::new("why_takes_the_cacert_and_insecure_it_suggests");
    let ca_file = scratch.file("ca.pem", &ca);
    let output = refused()
        .args(["why", "--json", &target, "--cacert"])
        .arg(&ca_file)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["cause"], "reachable");

    for insecure in ["-k", "--insecure"] {
        let output = refused().args(["why", insecure, &target]).output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{insecure}");
    }
}

/// A link-local address whose zone names an interface with no link-local network: `lo` never
/// has one, so the connect fails in this host (no packet is sent) with `ENETUNREACH`. The
/// route was looked up without the zone, found `fe80::/64` of another interface and said
/// `rejected`, "a router or the host answered network unreachable (ICMP), though this host has
/// a route to `fe80::1`".
#[test]
fn a_link_local_address_on_an_interface_without_its_network_has_no_route_there() {
    if !std::path::Path::new("/proc/sys/net/ipv6").exists() {
        eprintln!("skipped: this kernel has no IPv6");
        return;
    }
    let output = refused()
        .args(["why", "--json", "[fe80::1%lo]:80"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["cause"], "network-unreachable", "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("this host has no route to fe80::1 by `lo`"),
        "{summary}"
    );
    assert!(
        report["suggestions"]
            .to_string()
            .contains("ip route get fe80::1 oif lo"),
        "{report}"
    );
}

/// A port a program receives on over UDP alone, asked with TCP (statsd's 8125, syslog's 514):
/// `no-listener`, which said "start the program that should listen on port N" of a program
/// that runs; it names the UDP socket and its program, and says to use UDP.
#[test]
fn a_port_taken_for_udp_only_is_named_with_its_program() {
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = udp.local_addr().unwrap().port();
    let output = refused()
        .args(["why", "--json", &format!("127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["cause"], "no-listener", "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(summary.contains("receives UDP on 127.0.0.1:"), "{summary}");
    let socket = report["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "udp-socket")
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(socket["pid"], std::process::id(), "{report}");
    assert_eq!(socket["port"], port, "{report}");
    let fixes = report["suggestions"].to_string();
    assert!(
        fixes.contains(&format!("`nc -u 127.0.0.1 {port}`")),
        "{report}"
    );
    assert!(!fixes.contains("start the program"), "{report}");
}

/// A port a program has bound and does not listen on (stopped between `bind()` and `listen()`,
/// as the lab's `RefusedPort` is on purpose): `no-listener`, which said "start the program that
/// should listen on port N"; from Linux 6.8, whose `sock_diag` lists such sockets, it names the
/// program that holds the port (a server started there fails with `Address already in use`).
#[test]
fn a_port_bound_without_listening_names_who_holds_it() {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut numbers = release
        .trim()
        .split(['.', '-'])
        .map(|n| n.parse::<u32>().unwrap_or(0));
    if (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0)) < (6, 8) {
        eprintln!("skipped: Linux before 6.8 does not list bound sockets ({release})");
        return;
    }
    let bound = refused_lab::RefusedPort::v4().unwrap();
    let output = refused()
        .args(["why", "--json", &bound.addr().to_string()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["cause"], "no-listener", "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(
        summary.contains("bound without listening on it"),
        "{summary}"
    );
    let socket = report["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "bound-socket")
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(socket["pid"], std::process::id(), "{report}");
    let fixes = report["suggestions"].to_string();
    assert!(fixes.contains("Address already in use"), "{report}");
    assert!(!fixes.contains("start the program"), "{report}");
}

/// A listener on a port below this host's ephemeral range, where servers listen (inside it, a
/// port is also the own port of this host's clients' connections), and past `after`.
fn server_port_listener(after: u16) -> std::net::TcpListener {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap();
    let low: u16 = range.split_whitespace().next().unwrap().parse().unwrap();
    let start = after.max(10_000 + u16::try_from(std::process::id() % 5_000).unwrap());
    (start..low)
        .find_map(|port| std::net::TcpListener::bind(("127.0.0.1", port)).ok())
        .expect("a free port below the ephemeral range")
}

/// A server that closed its listening socket and still serves what it accepted (shutting
/// down, draining), and one that stopped a moment ago (its ends of its connections closing,
/// held by no program): both were "start the program that should listen on port N" with
/// nothing else; each now says what happened to the server, from its connections left.
#[test]
fn connections_left_on_a_port_say_what_happened_to_its_server() {
    let why = |addr: std::net::SocketAddr| {
        let output = refused()
            .args(["why", "--json", &addr.to_string()])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1));
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(report["cause"], "no-listener", "{report}");
        let left = report["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == "connections-left")
            .unwrap_or_else(|| panic!("{report}"))
            .clone();
        (report, left)
    };

    let draining = server_port_listener(0);
    let addr = draining.local_addr().unwrap();
    let _client = std::net::TcpStream::connect(addr).unwrap();
    let (_kept, _) = draining.accept().unwrap();
    drop(draining);
    let (report, left) = why(addr);
    assert!(
        report["summary"]
            .as_str()
            .unwrap()
            .contains("still has connections open on it"),
        "{report}"
    );
    assert_eq!(left["open"], 1, "{report}");
    assert_eq!(left["pid"], std::process::id(), "{report}");
    assert!(
        report["suggestions"][0]
            .as_str()
            .unwrap()
            .contains(&format!("refused wait {addr}`")),
        "{report}"
    );

    let stopped = server_port_listener(addr.port() + 1);
    let addr = stopped.local_addr().unwrap();
    let client = std::net::TcpStream::connect(addr).unwrap();
    let (served, _) = stopped.accept().unwrap();
    // As a server's end is closed when it exits: first, then its client's.
    drop(stopped);
    drop(served);
    drop(client);
    let (report, left) = why(addr);
    assert!(
        report["summary"]
            .as_str()
            .unwrap()
            .contains("stopped or crashed"),
        "{report}"
    );
    assert_eq!(left["open"], 0, "{report}");
    assert!(left["closing"].as_u64().unwrap() >= 1, "{report}");
    assert!(left["pid"].is_null(), "{report}");

    // A client's own connection from a port it chose (an NFS mount's, from a reserved port, to
    // 2049) is no server's end: its peer's port is a service's, not a client's.
    // Four digits against five: not a port near the one asked for, which `why` would offer.
    let service = (7100..7900)
        .find_map(|port| std::net::TcpListener::bind(("127.0.0.1", port)).ok())
        .unwrap();
    let chosen = server_port_listener(addr.port() + 1);
    let from = chosen.local_addr().unwrap();
    drop(chosen);
    let client = rustix::net::socket(
        rustix::net::AddressFamily::INET,
        rustix::net::SocketType::STREAM,
        None,
    )
    .unwrap();
    rustix::net::sockopt::set_socket_reuseaddr(&client, true).unwrap();
    rustix::net::bind(&client, &from).unwrap();
    rustix::net::connect(&client, &service.local_addr().unwrap()).unwrap();
    let output = refused()
        .args(["why", "--json", &from.to_string()])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["cause"], "no-listener", "{report}");
    assert!(
        !report["evidence"].to_string().contains("connections-left"),
        "{report}"
    );
}

/// An HTTP/2-only server without TLS (h2c with prior knowledge, a gRPC server) sends its
/// SETTINGS at once and a GOAWAY for an HTTP/1.1 request: `why http://` said "closed the
/// connection without answering" (nginx's 444, the PROXY protocol...) or "invalid HTTP version
/// parsed: the service is up but not ready: wait for it"; it names HTTP/2, and no wait.
#[test]
fn an_http2_only_port_is_named_not_waited_for() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let _ = stream.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
            let mut request = [0u8; 512];
            let _ = stream.read(&mut request);
            let _ = stream.write_all(&[0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        }
    });
    let output = refused()
        .args(["why", "--json", &format!("http://127.0.0.1:{port}/health")])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["cause"], "not-ready", "{report}");
    assert!(
        report["summary"]
            .as_str()
            .unwrap()
            .contains("the server answered in HTTP/2 frames"),
        "{report}"
    );
    let fixes = report["suggestions"].to_string();
    assert!(
        fixes.contains("waiting does not help")
            && fixes.contains(&format!("check tcp://127.0.0.1:{port}`")),
        "{report}"
    );
}

/// Another service on the port (an SSH server's banner to `http://` or `redis://`): "the
/// service is up but not ready: wait for it", of a port that will never answer in that
/// protocol; it says whose greeting that is, and that the service is on another port.
#[test]
fn another_protocols_greeting_is_not_waited_for() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let _ = stream.write_all(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n");
            let mut request = [0u8; 512];
            let _ = stream.read(&mut request);
        }
    });
    for target in [
        format!("http://127.0.0.1:{port}/"),
        format!("redis://127.0.0.1:{port}"),
    ] {
        let output = refused().args(["why", "--json", &target]).output().unwrap();
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(report["cause"], "not-ready", "{report}");
        assert!(
            report["summary"]
                .as_str()
                .unwrap()
                .contains("`SSH-2.0-OpenSSH_"),
            "{report}"
        );
        let fixes = report["suggestions"].to_string();
        assert!(
            fixes.contains("waiting does not help")
                && fixes.contains("an SSH server")
                && !fixes.contains("wait for it"),
            "{report}"
        );
    }
}
