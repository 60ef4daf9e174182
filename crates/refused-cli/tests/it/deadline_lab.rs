//! `--timeout` bounds the whole command: `why`, `check` and `wait`, run in the lab's client
//! namespace against a resolver that never answers, a port whose packets are dropped and a full
//! accept queue, end soon after it; and SIGTERM or Ctrl-C end `why` and `check` (as PID 1 too)
//! while they wait.
//!
//! The contract is a time bound, so these tests time: docs/contract.md allows 100 ms past `--timeout`,
//! the bugs they guard against cost seconds (a blocking getaddrinfo waited for at exit: 10 s; a
//! diagnosis after `wait` with a second of its own), and this shared machine is noisy, so the
//! bound asserted is [`MARGIN`] past `--timeout`. The precise overshoot is measured by
//! `scripts/bench-deadline.sh`.

use std::net::SocketAddr;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use refused_lab::{FullQueue, Lab, SERVER_V4};
use rustix::process::{Pid, Signal};
use serde_json::Value;

const REFUSED: &str = env!("CARGO_BIN_EXE_refused");

/// What the tests allow past `--timeout`: between the contract's 100 ms and the bugs' seconds.
const MARGIN: Duration = Duration::from_millis(600);

/// The `--timeout` of the bounded runs.
const TIMEOUT: Duration = Duration::from_secs(1);

/// Ports of this module (42000-42999 is its range: `why` looks at every namespace of the host).
const DROPPED_PORT: u16 = 42_001;
const FULL_PORT: u16 = 42_002;
const SIGNAL_PORT: u16 = 42_003;

/// Runs `refused COMMAND --timeout 1s --json TARGET` in the client namespace; checks that it
/// ended within the margin past the timeout, with status 1.
fn bounded(lab: &Lab, command: &str, target: &str) -> Output {
    let started = Instant::now();
    let output = lab
        .client
        .command(REFUSED)
        .args([command, "--json", "--timeout", "1s", target])
        .output()
        .unwrap();
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        took < TIMEOUT + MARGIN,
        "`{command} --timeout 1s {target}` took {took:?}: {stderr}"
    );
    assert_eq!(
        output.status.code(),
        Some(1),
        "{command} {target}: {stderr}"
    );
    output
}

/// The JSON lines a command printed.
fn lines(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line}")))
        .collect()
}

/// `why`, `check` and `wait` on one target: each bounded, each with the expected answer.
fn all_three_bounded(lab: &Lab, target: &str, cause: &str, reason: &str) {
    use crate::schema::{Schema, assert_valid};
    let why = lines(&bounded(lab, "why", target));
    assert_valid(Schema::Why, &why[0]);
    assert_eq!(why[0]["cause"], cause, "{why:?}");

    let check = lines(&bounded(lab, "check", target));
    assert_valid(Schema::Check, &check[0]);
    assert_eq!(check[0]["reason"], reason, "{check:?}");

    let wait = lines(&bounded(lab, "wait", target));
    for event in &wait {
        assert_valid(Schema::Wait, event);
    }
    let timeout = wait
        .iter()
        .find(|event| event["kind"] == "timeout")
        .unwrap_or_else(|| panic!("no timeout event: {wait:?}"));
    assert_eq!(timeout["cause"], cause, "{wait:?}");
}

#[test]
fn a_silent_resolver_does_not_outlast_the_timeout() {
    let Some(lab) = Lab::or_skip("a_silent_resolver_does_not_outlast_the_timeout") else {
        return;
    };
    lab.silent_dns().unwrap();
    // glibc's own limits (5 s, twice over) instead of the lab's short ones: getaddrinfo blocks
    // for 10 s, as it does on a host whose resolver is gone.
    lab.client
        .write_etc("resolv.conf", &format!("nameserver {SERVER_V4}\n"))
        .unwrap();
    all_three_bounded(&lab, "web.lab.test:80", "dns-failure", "dns-failure");
}

#[test]
fn a_dropped_port_does_not_outlast_the_timeout() {
    let Some(lab) = Lab::or_skip("a_dropped_port_does_not_outlast_the_timeout") else {
        return;
    };
    lab.server
        .filter("input", &[&format!("tcp dport {DROPPED_PORT} drop")])
        .unwrap();
    let target = SocketAddr::from((SERVER_V4, DROPPED_PORT)).to_string();
    all_three_bounded(&lab, &target, "filtered", "timeout");
}

#[test]
fn a_full_accept_queue_does_not_outlast_the_timeout() {
    let Some(lab) = Lab::or_skip("a_full_accept_queue_does_not_outlast_the_timeout") else {
        return;
    };
    // In the client's namespace, so that its listener is this host's evidence.
    let addr = SocketAddr::from(([127, 0, 0, 1], FULL_PORT));
    let _full = lab.client.run(|| FullQueue::on(addr)).unwrap().unwrap();
    all_three_bounded(&lab, &addr.to_string(), "listen-queue-full", "timeout");
}

/// Whether a process has handlers for SIGINT and SIGTERM (the `SigCgt` mask of its status).
fn catches_signals(pid: u32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    let caught = status
        .lines()
        .find_map(|line| line.strip_prefix("SigCgt:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .unwrap_or(0);
    let wanted = (1 << (libc_signal(Signal::INT) - 1)) | (1 << (libc_signal(Signal::TERM) - 1));
    caught & wanted == wanted
}

fn libc_signal(signal: Signal) -> u32 {
    u32::try_from(signal.as_raw()).unwrap()
}

/// The pid of `refused` itself: the child, or with `unshare --fork` the child's own child.
fn refused_pid(child: &Child, as_init: bool) -> Option<u32> {
    if !as_init {
        return Some(child.id());
    }
    let children =
        std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", child.id())).ok()?;
    children.split_whitespace().next()?.parse().ok()
}

/// Waits up to `limit` for the child to end; kills it if it does not.
fn ended_within(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[test]
fn signals_end_why_and_check_while_they_wait() {
    let Some(lab) = Lab::or_skip("signals_end_why_and_check_while_they_wait") else {
        return;
    };
    lab.server
        .filter("input", &[&format!("tcp dport {SIGNAL_PORT} drop")])
        .unwrap();
    let target = SocketAddr::from((SERVER_V4, SIGNAL_PORT)).to_string();
    for as_init in [false, true] {
        for command in ["why", "check", "wait"] {
            for (signal, code) in [(Signal::TERM, 143), (Signal::INT, 130)] {
                // As PID 1 of a pid namespace (an init container), a signal without a handler
                // is ignored: only the handlers make it end.
                let mut run = if as_init {
                    let mut run = lab.client.command("unshare");
                    run.args(["--pid", "--fork", REFUSED]);
                    run
                } else {
                    lab.client.command(REFUSED)
                };
                let mut child = run
                    .args([command, "--timeout", "30s", &target])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap();
                let context = format!("{command} as_init={as_init} {signal:?}");
                let started = Instant::now();
                let pid = loop {
                    let ready = refused_pid(&child, as_init).filter(|pid| catches_signals(*pid));
                    if let Some(pid) = ready {
                        break pid;
                    }
                    assert!(
                        started.elapsed() < Duration::from_secs(10),
                        "{context}: no handlers after 10 s"
                    );
                    std::thread::sleep(Duration::from_millis(5));
                };
                // Now in the connect, which would wait 30 s.
                std::thread::sleep(Duration::from_millis(200));
                let pid = Pid::from_raw(i32::try_from(pid).unwrap()).unwrap();
                rustix::process::kill_process(pid, signal).unwrap();
                let status = ended_within(&mut child, Duration::from_secs(5));
                assert_eq!(status.and_then(|s| s.code()), Some(code), "{context}");
            }
        }
    }
}
