//! `refused why` and `check` against real HTTP front ends from Debian's packages, whose own
//! answers are not a service that is starting (audit h19): HAProxy's 503 with every backend
//! down, nginx's deliberate close (`return 444`), a listener that expects the PROXY protocol, a
//! rate limit's 429, and a TLS passthrough (`ssl_preread`) whose backend is dead. Each server
//! runs in the lab's server namespace from a scratch folder of its own (configuration, pid file,
//! logs), in the foreground, killed with the namespace.

use refused_lab::{Lab, NGINX_STREAM_MODULE, SERVER_V4, Scratch, Tool};
use serde_json::Value;

use crate::why_lab::{REFUSED, cause, diagnosis, why_alone};

/// The lab's server address, port `port` (this helper's range, 48400-48499).
fn server(port: u16) -> String {
    format!("{SERVER_V4}:{port}")
}

/// Waits (`refused wait`, from the client) until `addr` accepts connections.
fn wait_listening(lab: &Lab, addr: &str) {
    crate::why_lab::wait_ready(&lab.client, &format!("tcp://{addr}"));
}

/// `refused why --json` on the server's own host: the listener's process is seen.
fn why_on_server(lab: &Lab, target: &str) -> Value {
    diagnosis(lab.server.command(REFUSED), &["--timeout", "10s", target])
}

/// `refused check --json TARGET` from the client: its one line.
fn check(lab: &Lab, target: &str) -> Value {
    let output = lab
        .client
        .command_alone(REFUSED)
        .args(["check", "--json", "--timeout", "10s", target])
        .output()
        .unwrap();
    let line: Value = serde_json::from_slice(&output.stdout).unwrap();
    crate::schema::assert_valid(crate::schema::Schema::Check, &line);
    line
}

fn fixes(report: &Value) -> String {
    report["suggestions"].to_string()
}

/// HAProxy with its one server down by its health check (`option httpchk`, nothing listens
/// there): its 503, "No server is available to handle this request.", is a load balancer
/// without a healthy backend: check the backends; wait only if one is starting.
#[test]
fn haproxy_without_a_healthy_backend_sends_to_its_backends() {
    let test = "haproxy_without_a_healthy_backend_sends_to_its_backends";
    let Some(lab) = Lab::or_skip_needing(test, &[Tool::Haproxy]) else {
        return;
    };
    let dir = Scratch::new("haproxy");
    let config = dir.file(
        "haproxy.cfg",
        &format!(
            "global\n  pidfile {pid}\n  stats socket {admin} mode 600 level admin\n\
             defaults\n  mode http\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n\
             frontend web\n  bind {front}\n  default_backend app\n\
             backend app\n  option httpchk GET /health\n  server app1 {back} check inter 200ms fall 1\n",
            pid = dir.join("haproxy.pid").display(),
            admin = dir.join("admin.sock").display(),
            front = server(48410),
            back = server(48411),
        ),
    );
    let config = config.to_str().unwrap();
    lab.server.spawn("haproxy", &["-db", "-f", config]).unwrap();
    wait_listening(&lab, &server(48410));

    let target = format!("http://{}/", server(48410));
    let report = why_alone(&lab, &[&target]);
    assert_eq!(cause(&report), "not-ready", "{report}");
    assert!(
        report["summary"].as_str().unwrap().ends_with(
            "HTTP 503 Service Unavailable: the load balancer has no backend server available"
        ),
        "{report}"
    );
    let said = fixes(&report);
    assert!(
        said.contains("show servers state")
            && said.contains("if a backend is starting, waiting helps")
            && !said.contains("the service is up but not ready"),
        "{report}"
    );
    let line = check(&lab, &target);
    assert_eq!(line["reason"], "not-ready", "{line}");
    assert!(
        line["summary"]
            .as_str()
            .unwrap()
            .contains("the load balancer has no backend server available"),
        "{line}"
    );
}

/// nginx in the server namespace, from a scratch folder of its own (returned: its logs are
/// there), in the foreground and one process: 48420 `return 444`, 48421 a `proxy_protocol`
/// listener, 48422 one request a minute (`limit_req_status 429`), 48423 TLS passed through
/// (`ssl_preread`) to 48424, where nothing listens.
fn start_nginx(lab: &Lab) -> Scratch {
    let dir = Scratch::new("nginx");
    let root = dir.join("www");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("index.html"), "ok\n").unwrap();
    let d = dir.path().display();
    let config = dir.file(
        "nginx.conf",
        &format!(
            "load_module {NGINX_STREAM_MODULE};\n\
             daemon off; master_process off; pid {d}/nginx.pid; error_log {d}/error.log info;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n\
               access_log {d}/access.log;\n\
               client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d};\n\
               uwsgi_temp_path {d}; scgi_temp_path {d};\n\
               limit_req_zone $binary_remote_addr zone=one:1m rate=1r/m;\n\
               server {{ listen {closes}; return 444; }}\n\
               server {{ listen {proxied} proxy_protocol; return 200; }}\n\
               server {{ listen {limited}; location / {{ limit_req zone=one nodelay; limit_req_status 429; root {root}; }} }}\n\
             }}\n\
             stream {{ server {{ listen {tls}; ssl_preread on; proxy_pass {dead}; }} }}\n",
            closes = server(48420),
            proxied = server(48421),
            limited = server(48422),
            root = root.display(),
            tls = server(48423),
            dead = server(48424),
        ),
    );
    let prefix = dir.path().to_str().unwrap();
    let config = config.to_str().unwrap();
    lab.server
        .spawn("nginx", &["-p", prefix, "-c", config])
        .unwrap();
    wait_listening(lab, &server(48423));
    dir
}

/// nginx's own refusals: `return 444` and a `proxy_protocol` listener close a plain request
/// without a byte; `limit_req` answers 429 with `limit_req_status 429`; a `stream` server with
/// `ssl_preread` closes the TLS handshake when its backend is dead. None is a wait.
#[test]
fn nginx_closes_and_limits_on_purpose_and_its_tls_passthrough_lost_its_backend() {
    let test = "nginx_closes_and_limits_on_purpose_and_its_tls_passthrough_lost_its_backend";
    let Some(lab) = Lab::or_skip_needing(test, &[Tool::Nginx]) else {
        return;
    };
    let dir = start_nginx(&lab);

    // `return 444` and a PROXY protocol listener: closed without an answer, from anywhere.
    for port in [48420, 48421] {
        let target = format!("http://{}/", server(port));
        let report = why_alone(&lab, &[&target]);
        assert_eq!(cause(&report), "not-ready", "{report}");
        assert!(
            report["summary"].as_str().unwrap().ends_with(
                "but the server closed the connection without answering the HTTP request"
            ),
            "{report}"
        );
        let said = fixes(&report);
        assert!(
            said.contains("`return 444`")
                && said.contains("`broken header`")
                && !said.contains("the service is up but not ready"),
            "{report}"
        );
    }
    // On its own host, nginx is named.
    let report = why_on_server(&lab, &format!("http://{}/", server(48420)));
    assert!(
        report["summary"]
            .as_str()
            .unwrap()
            .contains("but nginx (pid "),
        "{report}"
    );
    // Lossy: `why` also asked the port a TLS handshake, whose bytes nginx logs as they came.
    let errors =
        String::from_utf8_lossy(&std::fs::read(dir.join("error.log")).unwrap()).into_owned();
    assert!(errors.contains("broken header"), "{errors}");

    // The rate: one request a minute, so the second is over it.
    let target = format!("http://{}/", server(48422));
    let first = check(&lab, &target);
    assert_eq!(first["reason"], "reachable", "{first}");
    let report = why_alone(&lab, &[&target]);
    assert_eq!(cause(&report), "not-ready", "{report}");
    assert!(
        report["summary"].as_str().unwrap().ends_with(
            "HTTP 429 Too Many Requests: rate limited: the server asks for fewer requests"
        ),
        "{report}"
    );
    assert!(
        fixes(&report).contains("the server rate-limits this client")
            && fixes(&report).contains("the wrong fix"),
        "{report}"
    );

    // TLS passed through to a dead backend: nginx, a proxy, closed the handshake.
    let target = format!("https://{}/", server(48423));
    let report = why_on_server(&lab, &target);
    assert_eq!(cause(&report), "not-ready", "{report}");
    assert!(
        report["summary"].as_str().unwrap().contains(
            ", a proxy, closed the connection during the TLS handshake: it passes TLS through to a backend, which most likely failed"
        ),
        "{report}"
    );
    assert!(
        fixes(&report).contains("`ssl_preread`")
            && !fixes(&report).contains("the service is up but not ready"),
        "{report}"
    );
    // From another host, whose listener is not seen: both readings, no bare wait.
    let report = why_alone(&lab, &[&target]);
    assert_eq!(cause(&report), "not-ready", "{report}");
    assert!(
        fixes(&report).contains("a proxy that passes TLS through")
            && !fixes(&report).contains("the service is up but not ready"),
        "{report}"
    );
    let errors =
        String::from_utf8_lossy(&std::fs::read(dir.join("error.log")).unwrap()).into_owned();
    assert!(errors.contains("while connecting to upstream"), "{errors}");
}
