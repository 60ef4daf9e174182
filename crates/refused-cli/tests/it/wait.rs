//! `refused wait` against real loopback sockets: a listener that appears late, `--down`,
//! `--any`, the timeout's explanation, signals, the environment, and the command's exec.

use std::net::{Ipv4Addr, TcpListener};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use refused_lab::{RefusedPort, Scratch};

use crate::common::{assert_exit, refused};

/// Starts listening on the refused port's socket after `delay`, and holds it for `hold`.
fn listen_later(port: RefusedPort, delay: Duration, hold: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        port.socket().listen(128).unwrap();
        std::thread::sleep(hold);
        drop(port);
    });
}

#[test]
fn a_late_listener_is_noticed_and_the_command_replaces_refused() {
    let port = RefusedPort::v4().unwrap();
    let target = port.addr().to_string();
    listen_later(port, Duration::from_millis(300), Duration::from_secs(5));
    let started = Instant::now();
    let output = refused()
        .args([
            "wait",
            &target,
            "--timeout",
            "10s",
            "--",
            "sh",
            "-c",
            "echo ran; exit 7",
        ])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(7),
        "the command's status is ours"
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), "ran\n");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn ipv6_literals_and_several_targets_wait_for_all() {
    let v6 = TcpListener::bind("[::1]:0").unwrap();
    let v4 = RefusedPort::v4().unwrap();
    let late = v4.addr().to_string();
    listen_later(v4, Duration::from_millis(200), Duration::from_secs(5));
    let output = refused()
        .args([
            "wait",
            &format!("[::1]:{}", v6.local_addr().unwrap().port()),
            &late,
            "--timeout",
            "10s",
        ])
        .output()
        .unwrap();
    assert_exit(&output, 0);
}

#[test]
fn any_is_done_with_the_first_ready_target() {
    let open = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let never = RefusedPort::v4().unwrap();
    let output = refused()
        .args([
            "wait",
            "--any",
            "--timeout",
            "5s",
            &open.local_addr().unwrap().to_string(),
            &never.addr().to_string(),
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn down_waits_until_it_no_longer_accepts() {
    let port = RefusedPort::v4().unwrap();
    let target = port.addr().to_string();
    port.socket().listen(128).unwrap();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        drop(port);
    });
    let output = refused()
        .args(["wait", "--down", "--timeout", "10s", &target])
        .output()
        .unwrap();
    assert_exit(&output, 0);
}

#[test]
fn a_timeout_exits_1_with_the_cause_and_runs_nothing() {
    let never = RefusedPort::v4().unwrap();
    let scratch = Scratch::new("a_timeout_exits_1_with_the_cause_and_runs_nothing");
    let marker = scratch.join("ran");
    let output = refused()
        .args([
            "wait",
            "--timeout",
            "300ms",
            &never.addr().to_string(),
            "--",
            "touch",
        ])
        .arg(&marker)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("timeout"), "{stderr}");
    assert!(stderr.contains("no-listener"), "{stderr}");
    assert!(!marker.exists(), "the command ran after a timeout");
}

#[test]
fn the_timeout_bounds_the_whole_wait_even_against_a_silent_host() {
    // A full accept queue drops SYNs: each attempt would hang, but is cut to the time left.
    let full = refused_lab::FullQueue::v4().unwrap();
    let started = Instant::now();
    let output = refused()
        .args([
            "wait",
            "--timeout",
            "700ms",
            &full.addr().unwrap().to_string(),
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    // 0.7 s of waiting, the explanation after it within the same limit (`deadline_lab.rs` holds
    // that to a tight margin; this test runs without root too).
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn sigterm_and_ctrl_c_end_the_wait_at_once() {
    let never = RefusedPort::v4().unwrap();
    for (signal, code) in [
        (rustix::process::Signal::TERM, 143),
        (rustix::process::Signal::INT, 130),
    ] {
        let child = Command::new(env!("CARGO_BIN_EXE_refused"))
            .args(["wait", "--timeout", "30s", &never.addr().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap();
        rustix::process::kill_process(pid, signal).unwrap();
        let started = Instant::now();
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(code));
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}

#[test]
fn settings_come_from_the_environment_too() {
    let open = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let never = RefusedPort::v4().unwrap();
    let output = refused()
        .arg("wait")
        .env(
            "REFUSED_TARGETS",
            format!("{} {}", open.local_addr().unwrap(), never.addr()),
        )
        .env("REFUSED_TIMEOUT", "200ms")
        .env("REFUSED_ANY", "true")
        .output()
        .unwrap();
    assert_exit(&output, 0);
}

#[test]
fn a_command_that_cannot_run_is_126_or_127() {
    let open = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let output = refused()
        .args([
            "wait",
            &open.local_addr().unwrap().to_string(),
            "--",
            "/nonexistent/program",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/program"));
}

#[test]
fn json_events_say_each_change_and_the_end() {
    let port = RefusedPort::v4().unwrap();
    let target = port.addr().to_string();
    listen_later(port, Duration::from_millis(200), Duration::from_secs(5));
    let output = refused()
        .args(["wait", "--json", "--timeout", "10s", &target])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let events: Vec<serde_json::Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<(&str, &str)> = events
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap(),
                e["state"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(kinds, [("probe", "down"), ("probe", "up"), ("ready", "")]);
    assert_eq!(events[0]["reason"], "refused");
    assert_eq!(events[1]["reason"], "reachable");
    assert!(
        events.iter().all(|e| e["schema_version"] == 1),
        "{events:?}"
    );
}

#[test]
fn successes_asks_for_several_ready_probes_in_a_row() {
    let open = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let output = refused()
        .args(["wait", "--json", "--successes", "3", "--timeout", "5s"])
        .arg(open.local_addr().unwrap().to_string())
        .output()
        .unwrap();
    assert_exit(&output, 0);
    // One `probe` event (the state never changed), then `ready` after the third ready probe.
    let stdout = String::from_utf8(output.stdout).unwrap();
    let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["kind"], "ready");
    assert!(
        last["at_ms"].as_f64().unwrap() >= 2.0,
        "three probes, 2 ms apart at least: {stdout}"
    );
}

/// A unix socket created later, in a directory that does not exist yet when the wait starts:
/// the wait sleeps on the nearest directory that exists, then on the socket's own (inotify),
/// and the socket is noticed when it is bound.
#[test]
fn a_unix_socket_created_later_is_noticed() {
    let dir = Scratch::new("wait-unix");
    let path = dir.join("run/app.sock");
    let late = path.clone();
    let server = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        std::fs::create_dir(late.parent().unwrap()).unwrap();
        std::os::unix::net::UnixListener::bind(&late).unwrap()
    });
    let output = refused()
        .args([
            "wait",
            "--timeout",
            "10s",
            &format!("unix://{}", path.display()),
        ])
        .output()
        .unwrap();
    assert_exit(&output, 0);
    drop(server.join().unwrap());
}

/// Signals the shell started `refused` with ignored (`trap '' INT TERM`, a background job of
/// `sh -c`) stay ignored, for `refused` and for the command it `exec`s, as they would be for the
/// command run alone: catching them would hand the command their default action.
#[test]
fn signals_started_ignored_stay_ignored_through_the_exec() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    let refused = assert_cmd::cargo::cargo_bin("refused");
    // The ignored signals of `grep`, run by `sh -c SCRIPT` (directly, or through `refused`),
    // but for glibc's own two, 32 and 33 (`SIGCANCEL`, `SIGSETXID`): glibc's `sigaction` refuses
    // them, so no program sets them ignored through it (some test runners start us so), and
    // glibc installs its handler of 33 at the first thread a process starts, as any program
    // that polls in a thread of its own does.
    let ignored = |script: &str| {
        let output = Command::new("sh").args(["-c", script]).output().unwrap();
        assert!(output.status.success(), "{script}: {output:?}");
        let line = String::from_utf8(output.stdout).unwrap();
        let mask = u64::from_str_radix(line.trim().trim_start_matches("SigIgn:").trim(), 16);
        mask.unwrap() & !(0b11 << 31)
    };
    let through = format!(
        "exec {} wait -q {addr} -- grep SigIgn /proc/self/status",
        refused.display()
    );
    for trap in ["", "trap '' INT TERM; "] {
        let alone = ignored(&format!("{trap}exec grep SigIgn /proc/self/status"));
        assert_eq!(ignored(&format!("{trap}{through}")), alone, "{trap}");
    }
    // SIGINT (2) and SIGTERM (15), bits 1 and 14, were ignored in the second.
    assert_eq!(
        ignored(&format!("trap '' INT TERM; {through}")) & 0x4002,
        0x4002
    );

    // A listener that comes late: the wait polls in a thread of the blocking pool first (told
    // by the kernel as root), and looks up the listener's owner for the settle.
    for trap in ["", "trap '' INT TERM; "] {
        let late = std::sync::Arc::new(RefusedPort::v4().unwrap());
        let listens = std::sync::Arc::clone(&late);
        let listener = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            listens.socket().listen(16).unwrap();
        });
        let through = format!(
            "exec {} wait -q {} -- grep SigIgn /proc/self/status",
            refused.display(),
            late.addr()
        );
        let alone = ignored(&format!("{trap}exec grep SigIgn /proc/self/status"));
        assert_eq!(ignored(&format!("{trap}{through}")), alone, "late, {trap}");
        listener.join().unwrap();
    }
}

/// A server that answers its first `limited` requests with 429 (with `Retry-After: 1` when
/// `retry_after`), then 200; how many requests it got, counted as they come.
fn rate_limited(
    limited: usize,
    retry_after: bool,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let count = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = std::sync::Arc::clone(&count);
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 2048];
            if stream.read(&mut buf).unwrap_or(0) == 0 {
                continue;
            }
            let seen = counted.fetch_add(1, Ordering::SeqCst);
            let answer: &[u8] = match (seen < limited, retry_after) {
                (true, true) => {
                    b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 1\r\ncontent-length: 0\r\n\r\n"
                }
                (true, false) => b"HTTP/1.1 429 Too Many Requests\r\ncontent-length: 0\r\n\r\n",
                (false, _) => b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
            };
            let _ = stream.write_all(answer);
        }
    });
    (addr, count)
}

/// A 429 asks for fewer requests: the wait asks again after the server's `Retry-After` (or a
/// second without one), and says so, not 40 times a second, which keeps a rate limit tripped.
#[test]
fn a_rate_limited_server_is_asked_as_it_asks() {
    for retry_after in [true, false] {
        let (addr, count) = rate_limited(2, retry_after);
        let output = refused()
            .args(["wait", "--timeout", "20s", &format!("http://{addr}/")])
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{said}");
        assert!(
            said.contains("trying again in 1 s, as the server asks"),
            "{said}"
        );
        // Two 429s, then the 200: three requests, each after the pause asked.
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 3, "{said}");
    }
}

/// An HTTP server that answers 503 after 300 ms: the wait's last probe, cut short by its own
/// deadline, met no answer in the time left, and the timeout line said "no HTTP response before
/// the timeout (the server accepted but did not answer)" of a server that answered every time.
/// It says the server's last answer.
#[test]
fn the_last_probe_cut_by_the_deadline_does_not_hide_the_answer_before_it() {
    use std::io::{Read, Write};
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut request = [0u8; 1024];
                let _ = (&stream).read(&mut request);
                std::thread::sleep(Duration::from_millis(300));
                let _ = (&stream)
                    .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n");
            });
        }
    });
    let output = refused()
        .args(["wait", "--timeout", "1s"])
        .arg(format!("http://127.0.0.1:{port}/"))
        .output()
        .unwrap();
    assert_exit(&output, 1);
    let said = String::from_utf8_lossy(&output.stderr);
    let timeout = said
        .lines()
        .find(|line| line.starts_with("timeout "))
        .unwrap_or_else(|| panic!("{said}"));
    assert!(
        timeout.ends_with("not ready after 1.0 s: HTTP 503 Service Unavailable"),
        "{said}"
    );
    assert!(!said.contains("no HTTP response"), "{said}");
}
