//! `refused serve` as a process, with the real components: Debian's Prometheus scrapes it through
//! the standard relabelling and is asked for the series; `promtool check metrics` reads its output;
//! Debian's `blackbox_exporter` runs beside it on the same targets with the same blackbox.yml
//! (Debian's, plus a module that does not follow redirects), and the metrics both have must agree. Also the CLI's own behaviour: config errors with their line,
//! SIGTERM drains.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use refused_lab::servers::free_port;
use refused_lab::{RefusedPort, Scratch};

use crate::common::refused;

/// Every wait here ends within this (a hang fails, not blocks).
const LIMIT: Duration = Duration::from_secs(60);

/// Debian's own blackbox.yml (`/etc/prometheus/blackbox.yml` of prometheus-blackbox-exporter),
/// used unchanged by both exporters.
const BLACKBOX_YML: &str = include_str!("../../../refused/src/serve/testdata/blackbox-debian.yml");

/// A module added to Debian's file for the comparison: blackbox's deprecated spelling.
const NO_FOLLOW: &str = "
  http_2xx_no_follow:
    prober: http
    http:
      no_follow_redirects: true
";

/// The README, whose alert rule recipe Prometheus evaluates here.
const README: &str = include_str!("../../../../README.md");

/// The README's alert rule file: the YAML block that starts with `groups:`.
fn readme_rules() -> &'static str {
    let start = README
        .find("groups:\n")
        .expect("the README has an alert rule");
    let end = start + README[start..].find("```").unwrap();
    &README[start..end]
}

/// A process killed (SIGTERM, then waited for) on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        terminate(&self.0);
        let _ = self.0.wait();
    }
}

fn terminate(child: &Child) {
    if let Some(pid) = i32::try_from(child.id())
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
}

/// The program's path, or a skip outside CI (`.ci/run` installs the packages).
fn tool_or_skip(test: &str, program: &str, package: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: needs `{program}` in CI (apt-get install {package})"
        );
        let _ = writeln!(
            std::io::stderr(),
            "skipping {test}: `{program}` is not installed (apt-get install {package})"
        );
    }
    found
}

/// `refused serve` on a port of its own choosing: the process and its address, read from the
/// line it prints.
fn start_refused(args: &[&str]) -> (Running, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_refused"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let running = Running(child);
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    loop {
        let line = received.recv_timeout(LIMIT).expect("refused serve starts");
        if let Some(rest) = line.split("listening on http://").nth(1) {
            let addr = rest.split(' ').next().unwrap().parse().unwrap();
            return (running, addr);
        }
    }
}

/// One GET (HTTP/1.0, so the connection closes after the answer): the status and the body.
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect_timeout(&addr, LIMIT).unwrap();
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    // HTTP/1.0: the answer is the body as it is, never chunked (Go's server chunks a long one).
    write!(stream, "GET {path} HTTP/1.0\r\nHost: test\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Polls `check` until it gives a value, within [`LIMIT`].
fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(start.elapsed() < LIMIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn answers(addr: SocketAddr, path: &str) -> bool {
    TcpStream::connect(addr).is_ok() && get(addr, path).0 == 200
}

/// What `web_server` says its pages were last modified: an RFC 850 date, the form of HTTP's
/// three that a parser is most likely to miss.
const LAST_MODIFIED: &str = "Wednesday, 21-Oct-15 07:28:00 GMT";

/// A tiny HTTP server: 200 on every path but `/missing` (404), `/redirect/N` (302 to
/// `/redirect/N-1`, `/redirect/0` is 200) and `/away` (301 to this server's `/missing`, as an
/// absolute URL).
fn web_server() -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let n = stream.read(&mut buf).unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]);
                let path = head.split(' ').nth(1).unwrap_or("/");
                let hops = path
                    .strip_prefix("/redirect/")
                    .and_then(|n| n.parse::<u32>().ok());
                let (status, location) = match (path, hops) {
                    ("/missing", _) => ("404 Not Found", None),
                    ("/away", _) => (
                        "301 Moved Permanently",
                        Some(format!("http://{addr}/missing")),
                    ),
                    (_, Some(hops)) if hops > 0 => {
                        ("302 Found", Some(format!("/redirect/{}", hops - 1)))
                    }
                    _ => ("200 OK", None),
                };
                let location = location
                    .map(|to| format!("location: {to}\r\n"))
                    .unwrap_or_default();
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\n{location}last-modified: {LAST_MODIFIED}\r\n\
                     content-length: 2\r\nconnection: close\r\n\r\nok"
                );
            });
        }
    });
    addr
}

/// The `phase` labels of `probe_http_duration_seconds` in a text exposition, sorted.
fn phases(body: &str) -> Vec<String> {
    let mut phases: Vec<String> = body
        .lines()
        .filter_map(|l| l.strip_prefix("probe_http_duration_seconds{phase=\""))
        .filter_map(|rest| Some(rest.split_once('"')?.0.to_owned()))
        .collect();
    phases.sort();
    phases
}

/// `name`'s value in a text exposition, for the one series without labels or with `labels`.
fn sample(body: &str, name: &str) -> Option<f64> {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.split(['{', ' ']).next() == Some(name))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

fn promtool_accepts(promtool: &Path, text: &str) {
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool rejects:\n{}{}\n---\n{text}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Asks Prometheus' HTTP API for an instant vector: each series' labels and value.
fn query(prometheus: SocketAddr, promql: &str) -> Vec<(serde_json::Value, String)> {
    let encoded: String = promql
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let (status, body) = get(prometheus, &format!("/api/v1/query?query={encoded}"));
    assert_eq!(status, 200, "{body}");
    // The body may come chunked; the JSON document is between the first `{` and the last `}`.
    let json = &body[body.find('{').unwrap()..=body.rfind('}').unwrap()];
    let answer: serde_json::Value = serde_json::from_str(json).unwrap();
    answer["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|series| {
            let value = series["value"][1].as_str().unwrap().to_owned();
            (series["metric"].clone(), value)
        })
        .collect()
}

fn scrape_job(job: &str, module: &str, exporter: SocketAddr, targets: &[String]) -> String {
    format!(
        "  - job_name: {job}
    metrics_path: /probe
    params:
      module: [{module}]
    static_configs:
      - targets: [{targets}]
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - target_label: __address__
        replacement: {exporter}
",
        targets = targets.join(", ")
    )
}

/// The components of the real-pipeline test, started.
struct Pipeline {
    scratch: Scratch,
    promtool: PathBuf,
    prometheus: PathBuf,
    /// `refused serve` and where it listens.
    serve: (Running, SocketAddr),
    /// `blackbox_exporter` and where it listens.
    blackbox: (Running, SocketAddr),
    blackbox_yml: PathBuf,
}

impl Pipeline {
    fn or_skip(test: &str) -> Option<Self> {
        let (Some(prometheus), Some(promtool), Some(blackbox)) = (
            tool_or_skip(test, "prometheus", "prometheus"),
            tool_or_skip(test, "promtool", "prometheus"),
            tool_or_skip(
                test,
                "prometheus-blackbox-exporter",
                "prometheus-blackbox-exporter",
            ),
        ) else {
            return None;
        };
        let scratch = Scratch::new("prometheus");
        let blackbox_yml = scratch.file("blackbox.yml", &format!("{BLACKBOX_YML}\n{NO_FOLLOW}"));
        let serve = start_refused(&["--config", blackbox_yml.to_str().unwrap()]);
        let blackbox_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port().unwrap()));
        let running = Running(
            Command::new(&blackbox)
                .arg(format!("--config.file={}", blackbox_yml.display()))
                .arg(format!("--web.listen-address={blackbox_addr}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        eventually("blackbox_exporter", || {
            answers(blackbox_addr, "/-/healthy").then_some(())
        });
        Some(Self {
            scratch,
            promtool,
            prometheus,
            serve,
            blackbox: (running, blackbox_addr),
            blackbox_yml,
        })
    }

    /// The shared metrics, straight from both exporters: same targets, same modules, same file;
    /// and promtool reads ours.
    fn compare(&self, targets: &[(&str, &str)]) {
        let (ours_at, theirs_at) = (self.serve.1, self.blackbox.1);
        for (module, target) in targets {
            let path = format!("/probe?module={module}&target={target}");
            let (status, ours) = get(ours_at, &path);
            assert_eq!(status, 200, "{path}: {ours}");
            let (status, theirs) = get(theirs_at, &path);
            assert_eq!(status, 200, "{path}: {theirs}");
            for name in [
                "probe_success",
                "probe_ip_protocol",
                "probe_ip_addr_hash",
                "probe_http_status_code",
                "probe_http_redirects",
                "probe_http_version",
                "probe_http_content_length",
                "probe_http_uncompressed_body_length",
                "probe_http_last_modified_timestamp_seconds",
            ] {
                assert_eq!(
                    sample(&ours, name),
                    sample(&theirs, name),
                    "{name} for {module} {target}:\n--- refused serve\n{ours}\n--- blackbox_exporter\n{theirs}"
                );
            }
            assert!(sample(&ours, "probe_success").is_some(), "{ours}");
            assert!(sample(&ours, "probe_ip_protocol").is_some(), "{ours}");
            assert!(sample(&ours, "probe_ip_addr_hash").is_some(), "{ours}");
            if module.starts_with("http_2xx") {
                assert!(sample(&ours, "probe_http_status_code").is_some(), "{ours}");
                assert!(sample(&ours, "probe_http_redirects").is_some(), "{ours}");
                assert!(
                    sample(&ours, "probe_http_uncompressed_body_length").is_some(),
                    "{ours}"
                );
                // The same phases (their times differ: two probes, one after the other).
                assert_eq!(phases(&ours), phases(&theirs), "{ours}\n{theirs}");
            }
            promtool_accepts(&self.promtool, &ours);
        }
        promtool_accepts(&self.promtool, &get(ours_at, "/metrics").1);
    }

    /// Prometheus scraping both exporters for `targets` with `tcp_connect`, through the usual
    /// relabelling, every 5 s (the diagnosis reads every namespace of a busy host: its time must
    /// fit in the scrape timeout), with the README's alert rule.
    fn prometheus(&self, targets: &[String]) -> (Running, SocketAddr) {
        let quoted: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        let rules = self.scratch.file("rules.yml", readme_rules());
        let config = format!(
            "global:\n  scrape_interval: 5s\n  scrape_timeout: 5s\n  evaluation_interval: 1s\n\
             rule_files: ['{}']\nscrape_configs:\n{}{}",
            rules.display(),
            scrape_job("refused", "tcp_connect", self.serve.1, &quoted),
            scrape_job("blackbox", "tcp_connect", self.blackbox.1, &quoted),
        );
        let prometheus_yml = self.scratch.file("prometheus.yml", &config);
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port().unwrap()));
        let running = Running(
            Command::new(&self.prometheus)
                .arg(format!("--config.file={}", prometheus_yml.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    self.scratch.join("data").display()
                ))
                .arg(format!("--web.listen-address={addr}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        eventually("Prometheus", || answers(addr, "/-/ready").then_some(()));
        (running, addr)
    }
}

/// The value of the series whose `label` is `value`.
fn value_where(series: &[(serde_json::Value, String)], label: &str, value: &str) -> Option<String> {
    series
        .iter()
        .find(|(labels, _)| labels[label] == value)
        .map(|(_, v)| v.clone())
}

/// Polls Prometheus until `promql` gives `count` series.
fn series(prometheus: SocketAddr, promql: &str, count: usize) -> Vec<(serde_json::Value, String)> {
    eventually(promql, || {
        let series = query(prometheus, promql);
        (series.len() == count).then_some(series)
    })
}

#[test]
fn prometheus_scrapes_success_and_the_cause_and_blackbox_agrees() {
    let test = "prometheus_scrapes_success_and_the_cause_and_blackbox_agrees";
    let Some(pipeline) = Pipeline::or_skip(test) else {
        return;
    };
    assert!(pipeline.blackbox_yml.is_file());
    let web = web_server();
    let closed = RefusedPort::v4().unwrap();
    let (open, refused) = (web.to_string(), closed.addr().to_string());
    let missing = format!("{web}/missing");
    let redirects = |hops: u32| format!("{web}/redirect/{hops}");
    let (one_hop, ten, eleven, away) = (
        redirects(1),
        redirects(10),
        redirects(11),
        format!("{web}/away"),
    );
    pipeline.compare(&[
        ("tcp_connect", &open),
        ("tcp_connect", &refused),
        ("http_2xx", &open),
        ("http_2xx", &missing),
        ("http_2xx", &refused),
        // Followed to the end (10 at most: the 11th is the answer), or not at all.
        ("http_2xx", &one_hop),
        ("http_2xx", &ten),
        ("http_2xx", &eleven),
        ("http_2xx", &away),
        ("http_2xx_no_follow", &one_hop),
    ]);

    let (_prometheus, at) = pipeline.prometheus(&[open.clone(), refused.clone()]);
    let one = Some("1".to_owned());
    let zero = Some("0".to_owned());
    for job in ["refused", "blackbox"] {
        let success = series(at, &format!("probe_success{{job=\"{job}\"}}"), 2);
        assert_eq!(value_where(&success, "instance", &open), one, "{success:?}");
        assert_eq!(
            value_where(&success, "instance", &refused),
            zero,
            "{success:?}"
        );
        let up = series(at, &format!("up{{job=\"{job}\"}}"), 2);
        assert!(up.iter().all(|(_, v)| v == "1"), "{up:?}");
    }
    let failures = series(at, r#"probe_failure_info{job="refused"}"#, 1);
    let (labels, value) = &failures[0];
    assert_eq!(value, "1");
    assert_eq!(labels["instance"], refused.as_str());
    assert_eq!(labels["outcome"], "refused", "{labels}");
    // Nothing listens there: `no-listener`, or `wrong-port` if another test listens on a near
    // port at that moment.
    let cause = labels["cause"].as_str().unwrap_or_default();
    assert!(["no-listener", "wrong-port"].contains(&cause), "{labels}");
    let summary = labels["summary"].as_str().unwrap_or_default();
    assert!(summary.contains(&closed.port().to_string()), "{labels}");
    // One series per address tried.
    let attempts = series(at, r#"probe_attempt_success{job="refused"}"#, 2);
    assert_eq!(
        value_where(&attempts, "address", &open),
        one,
        "{attempts:?}"
    );
    assert_eq!(
        value_where(&attempts, "address", &refused),
        zero,
        "{attempts:?}"
    );

    // The README's alert rule: pending (its `for:` is minutes), its annotation already says why.
    let alert = eventually("the README's alert", || {
        let (_, body) = get(at, "/api/v1/alerts");
        let json = &body[body.find('{')?..=body.rfind('}')?];
        let answer: serde_json::Value = serde_json::from_str(json).ok()?;
        answer["data"]["alerts"].as_array()?.first().cloned()
    });
    assert_eq!(alert["labels"]["alertname"], "TargetDown", "{alert}");
    assert_eq!(alert["labels"]["instance"], refused.as_str(), "{alert}");
    let summary = alert["annotations"]["summary"].as_str().unwrap_or_default();
    assert_eq!(
        summary,
        format!("{refused} is down: {cause} (refused)"),
        "{alert}"
    );
}

#[test]
fn an_unknown_field_stops_the_start_with_its_line() {
    let scratch = Scratch::new("serve-config");
    let path = scratch.file(
        "blackbox.yml",
        "modules:\n  tcp_connect:\n    prober: tcp\n    tcp:\n      preferred_ip_protcol: ip4\n",
    );
    let output = refused()
        .args(["serve", "--config", path.to_str().unwrap()])
        .timeout(LIMIT)
        .output()
        .unwrap();
    crate::common::assert_exit(&output, 2);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unknown field `preferred_ip_protcol`"),
        "{stderr}"
    );
    assert!(stderr.contains("line 5"), "{stderr}");
}

#[test]
fn debians_blackbox_yml_is_checked_unchanged() {
    let scratch = Scratch::new("serve-check");
    let path = scratch.file("blackbox.yml", BLACKBOX_YML);
    let output = refused()
        .args([
            "serve",
            "--config-check",
            "--config",
            path.to_str().unwrap(),
        ])
        .timeout(LIMIT)
        .output()
        .unwrap();
    crate::common::assert_exit(&output, 0);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("tcp_connect: tcp"), "{stdout}");
    assert!(stdout.contains("http_2xx: http"), "{stdout}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("module `ssh_banner` cannot be used: `tcp.query_response`"),
        "{stderr}"
    );
}

#[test]
fn sigterm_lets_the_probe_in_flight_answer_then_exits_0() {
    let full = refused_lab::FullQueue::v4().unwrap();
    let target = full.addr().unwrap();
    let (mut serve, exporter) = start_refused(&[]);
    let probe = std::thread::spawn(move || {
        get(
            exporter,
            &format!("/probe?module=tcp_connect&target={target}"),
        )
    });
    eventually("the probe to start", || {
        let (_, metrics) = get(exporter, "/metrics");
        (sample(&metrics, "refused_serve_probes_in_flight") == Some(1.0)).then_some(())
    });
    terminate(&serve.0);
    let (status, body) = probe.join().unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(sample(&body, "probe_success"), Some(0.0), "{body}");
    let status = eventually("the exit", || serve.0.try_wait().unwrap());
    assert_eq!(status.code(), Some(0));
}

#[test]
fn a_bad_allow_or_listen_address_is_a_usage_error_naming_it() {
    let output = refused()
        .args(["serve", "--allow", "10.0.0.0/33"])
        .timeout(LIMIT)
        .output()
        .unwrap();
    crate::common::assert_exit(&output, 2);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("`10.0.0.0/33` is not a CIDR block"),
        "{stderr}"
    );
    // A port this test holds: the exporter cannot take it.
    let held = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = held.local_addr().unwrap().to_string();
    let output = refused()
        .args(["serve", "--listen", &addr])
        .timeout(LIMIT)
        .output()
        .unwrap();
    crate::common::assert_exit(&output, 2);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on `{addr}`")),
        "{stderr}"
    );
}
