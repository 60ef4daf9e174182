//! `why` for an `http://` target while `http_proxy` is set: curl, wget and Python's requests
//! connect to the proxy, so the "connection refused" they report is the proxy's. Against a real
//! proxy (Debian's tinyproxy) on loopback, and a proxy port where nothing listens.

use std::net::SocketAddr;
use std::process::{Child, Command};

use refused_lab::{RefusedPort, Scratch, Tool, require};
use serde_json::Value;

use crate::common::{answering, free_port, refused, started_on};
use crate::schema::{Schema, assert_valid};

/// tinyproxy in the foreground on a loopback port, for loopback clients only.
struct Tinyproxy {
    child: Child,
    addr: SocketAddr,
    _scratch: Scratch,
}

impl Tinyproxy {
    fn start() -> Self {
        let scratch = Scratch::new("tinyproxy");
        let addr = free_port();
        let config = scratch.path().join("tinyproxy.conf");
        std::fs::write(
            &config,
            format!(
                "Port {}\nListen 127.0.0.1\nAllow 127.0.0.1\nTimeout 5\nMaxClients 20\nLogLevel Critical\n",
                addr.port()
            ),
        )
        .unwrap();
        let child = started_on(
            Command::new("tinyproxy").arg("-d").arg("-c").arg(&config),
            addr,
        );
        Self {
            child,
            addr,
            _scratch: scratch,
        }
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn why(target: &str, env: &[(&str, String)], extra: &[&str]) -> (Option<i32>, Value) {
    let mut command = refused();
    command.args(["why", "--json", target]).args(extra);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    let report = serde_json::from_slice(&output.stdout).unwrap();
    assert_valid(Schema::Why, &report);
    (output.status.code(), report)
}

#[test]
fn a_proxy_that_refuses_is_the_refusal_http_clients_meet() {
    let server = answering(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    let target = format!("http://{server}/health");
    // The proxy's port next to the server's: the server is no proxy meant.
    let down = RefusedPort::at(SocketAddr::new(
        server.ip(),
        server.port().checked_add(1).unwrap_or(server.port() - 1),
    ))
    .or_else(|_| RefusedPort::v4())
    .unwrap();
    let env = [("http_proxy", format!("http://user:secret@{}/", down.addr()))];
    let (code, report) = why(&target, &env, &[]);
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(report["cause"], "no-listener", "{report}");
    assert_eq!(report["target"], target, "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(
        summary.starts_with(&format!(
            "`http_proxy` is set (http://{}/): curl, wget, Python's requests and Go's net/http send this request through that proxy, {}, and it fails: nothing listens on port {}",
            down.addr(),
            down.addr(),
            down.addr().port()
        )),
        "{summary}"
    );
    // The proxy's credentials are never shown.
    assert!(!report.to_string().contains("secret"), "{report}");
    assert_eq!(report["proxy"]["diagnosed"], "proxy", "{report}");
    assert_eq!(
        report["proxy"]["address"],
        down.addr().to_string(),
        "{report}"
    );
    assert_eq!(report["attempts"][0]["address"], down.addr().to_string());
    // What the direct connection does, and how to go without the proxy.
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains(&format!("without the proxy, {target}: reachable")),
        "{report}"
    );
    assert!(
        report["suggestions"].to_string().contains("`no_proxy`"),
        "{report}"
    );

    // `no_proxy` and `--no-proxy`: the direct connection alone, as before.
    let bypassed = [
        env[0].clone(),
        ("no_proxy", "localhost,127.0.0.1".to_owned()),
    ];
    for (env, extra) in [(&bypassed[..], &[][..]), (&env[..], &["--no-proxy"][..])] {
        let (code, report) = why(&target, env, extra);
        assert_eq!(code, Some(0), "{report}");
        assert_eq!(report["cause"], "reachable", "{report}");
        assert!(report.get("proxy").is_none(), "{report}");
    }
    // Not HTTP: no proxy is read.
    let (_, report) = why(&server.to_string(), &env, &[]);
    assert_eq!(report["cause"], "reachable", "{report}");
    assert!(report.get("proxy").is_none(), "{report}");
}

#[test]
fn a_proxy_that_takes_the_connection_leaves_the_direct_answer_with_a_warning() {
    if !require(
        "a_proxy_that_takes_the_connection_leaves_the_direct_answer_with_a_warning",
        &[Tool::Tinyproxy],
    ) {
        return;
    }
    let proxy = Tinyproxy::start();
    let down = RefusedPort::v4().unwrap();
    let target = format!("http://{}/", down.addr());
    // Capitals: read by Python's requests and Go, not by curl; said so.
    let env = [("HTTP_PROXY", format!("http://{}", proxy.addr))];
    let (code, report) = why(&target, &env, &[]);
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(report["cause"], "no-listener", "{report}");
    assert_eq!(report["proxy"]["diagnosed"], "direct", "{report}");
    assert_eq!(report["proxy"]["variable"], "HTTP_PROXY", "{report}");
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains(&format!(
            "`HTTP_PROXY` is set (http://{0}): Python's requests and Go's net/http (curl reads only `http_proxy`) send this request through that proxy, and {0} accepts connections",
            proxy.addr
        )),
        "{report}"
    );
}

/// `all_proxy=socks5h://...` at a port that accepts but speaks no SOCKS: the direct answer
/// (this host's failed lookup) stands, with a warning that the proxy would look the name up
/// itself; `socks5://` looks it up here, and its warning speaks of a SOCKS reply. (A real
/// SOCKS5 proxy, `ssh -D`, is `why_ssh_tunnel_lab`'s.)
#[test]
fn a_socks5h_proxy_that_speaks_no_socks_leaves_the_lookup() {
    let test = "a_socks5h_proxy_that_speaks_no_socks_leaves_the_lookup";
    let Some(lab) = refused_lab::Lab::or_skip_needing(test, &[Tool::Dnsmasq]) else {
        return;
    };
    let _names = lab.half_working_names().unwrap();
    let proxy: SocketAddr = "127.0.0.1:7041".parse().unwrap();
    let _listener = lab
        .client
        .run(|| refused_lab::ListenSpec::new(proxy).listen())
        .unwrap()
        .unwrap();
    let remote = crate::why_ssh_tunnel_lab::why_through(&lab, &format!("socks5h://{proxy}"));
    assert_eq!(remote["cause"], "dns-not-found", "{remote}");
    assert!(
        remote["warnings"][0]
            .as_str()
            .unwrap()
            .contains("it looks names up itself (socks5h)"),
        "{remote}"
    );
    let local = crate::why_ssh_tunnel_lab::why_through(&lab, &format!("socks5://{proxy}"));
    assert_eq!(local["cause"], "dns-not-found", "{local}");
    assert!(
        local["warnings"][0]
            .as_str()
            .unwrap()
            .contains("a SOCKS failure reply"),
        "{local}"
    );
}

/// `check` and `wait` connect directly: with a proxy in the environment, they say so, since the
/// answer an HTTP client gets is the proxy's (here, nothing listens there: curl would fail
/// where `check` says up). Not for a target the proxy is not used for.
#[test]
fn check_and_wait_say_that_they_go_around_a_proxy() {
    let server = answering(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    let target = format!("http://{server}/health");
    let down = RefusedPort::v4().unwrap();
    let proxy = format!("http://{}", down.addr());
    let note = format!(
        "note: `http_proxy` is set ({proxy}): curl, wget, Python's requests and Go's net/http send this request through that proxy; `COMMAND` connects to {target} directly (`refused why {target}` asks both)"
    );
    for args in [&["check"][..], &["wait", "--timeout", "5s"][..]] {
        let output = refused()
            .args(args)
            .arg(&target)
            .env("http_proxy", &proxy)
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{said}");
        assert!(said.contains(&note.replace("COMMAND", args[0])), "{said}");
        // Not through the proxy: no note.
        let output = refused()
            .args(args)
            .arg(&target)
            .env("http_proxy", &proxy)
            .env("no_proxy", server.ip().to_string())
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&output.stderr);
        assert!(!said.contains("note:"), "{said}");
    }
}
