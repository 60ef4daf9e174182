//! The classified connect against real sockets: happy eyeballs, retry, deadlines.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::time::Duration;

use refused::{Backoff, ConnectErrorKind, Dialer, Jitter, Outcome, RetryPolicy};
use refused_lab::{FullQueue, Lab, RefusedPort, SERVER_V4, Scratch, Tool};
use tokio::time::Instant;

fn no_jitter(tries: u32) -> RetryPolicy {
    RetryPolicy {
        max_tries: tries,
        backoff: Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            multiplier: 2.0,
            jitter: Jitter::None,
        },
        ..RetryPolicy::default()
    }
}

#[tokio::test]
async fn connects_to_a_listener_and_records_the_attempt() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    let connected = Dialer::new()
        .dial(&addr.to_string().parse().unwrap())
        .await
        .unwrap();
    assert_eq!(connected.attempts.len(), 1);
    assert_eq!(connected.attempts[0].outcome, Outcome::Connected);
    assert_eq!(connected.stream.peer_addr().unwrap(), addr);
}

#[tokio::test]
async fn falls_back_from_a_refusing_ipv6_address_to_ipv4() {
    // The system resolver's order for `localhost` varies between machines, so the address list
    // is given directly: [::1]:P refused (held bound, not listening), 127.0.0.1:P listening.
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let v4 = listener.local_addr().unwrap();
    let v6 = SocketAddr::from((Ipv6Addr::LOCALHOST, v4.port()));
    let _held = RefusedPort::at(v6).unwrap();
    let start = std::time::Instant::now();
    let connected = Dialer::new()
        .retry(RetryPolicy::never())
        .dial_addrs(&[v6, v4])
        .await
        .unwrap();
    // A refusal starts the next attempt at once, without waiting the 250 ms.
    assert!(
        start.elapsed() < Duration::from_millis(250),
        "{:?}",
        start.elapsed()
    );
    let record: Vec<_> = connected
        .attempts
        .iter()
        .map(|a| (a.address.to_string(), a.outcome))
        .collect();
    assert_eq!(
        record,
        [
            (v6.to_string(), Outcome::Refused),
            (v4.to_string(), Outcome::Connected)
        ]
    );
    assert_eq!(connected.stream.peer_addr().unwrap(), v4);
}

#[tokio::test(start_paused = true)]
async fn the_next_address_starts_250ms_after_a_silent_one() {
    let silent = FullQueue::v4().unwrap();
    let silent_addr = silent.addr().unwrap();
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let open = listener.local_addr().unwrap();
    let connected = Dialer::new()
        .retry(RetryPolicy::never())
        .dial_addrs(&[silent_addr, open])
        .await
        .unwrap();
    // Only the winner finished; the silent attempt was cancelled when it won.
    let winner = connected.attempts.last().unwrap();
    assert_eq!(winner.address.to_string(), open.to_string());
    assert_eq!(winner.started, Duration::from_millis(250));
}

#[tokio::test(start_paused = true)]
async fn retries_a_refusal_with_exponential_backoff() {
    let refusing = RefusedPort::v4().unwrap();
    let start = Instant::now();
    let err = Dialer::new()
        .retry(no_jitter(4))
        .dial_addrs(&[refusing.addr()])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ConnectErrorKind::Failed(Outcome::Refused));
    let starts: Vec<_> = err
        .attempts()
        .iter()
        .map(|a| a.started.as_millis())
        .collect();
    // Backoff 100, 200, 400 ms between tries (no jitter); a refusal itself takes no time.
    assert_eq!(starts, [0, 100, 300, 700]);
    let tries: Vec<_> = err.attempts().iter().map(|a| a.try_number).collect();
    assert_eq!(tries, [1, 2, 3, 4]);
    assert!(start.elapsed() >= Duration::from_millis(700));
    assert!(err.to_string().starts_with(&format!(
        "connection refused by {} (nothing accepted on that port), 4 attempts over",
        refusing.addr()
    )));
}

#[tokio::test(start_paused = true)]
async fn full_jitter_backoff_stays_under_its_ceiling() {
    let refusing = RefusedPort::v4().unwrap();
    let mut policy = no_jitter(6);
    policy.backoff.jitter = Jitter::Full;
    let err = Dialer::new()
        .retry(policy.clone())
        .dial_addrs(&[refusing.addr()])
        .await
        .unwrap_err();
    let starts: Vec<_> = err.attempts().iter().map(|a| a.started).collect();
    assert_eq!(starts.len(), 6);
    for (retry, pair) in starts.windows(2).enumerate() {
        let gap = pair[1].checked_sub(pair[0]).unwrap();
        assert!(
            gap <= policy.backoff.ceiling(retry as u32),
            "retry {retry}: {gap:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn outcomes_outside_the_policy_are_not_retried() {
    let refusing = RefusedPort::v4().unwrap();
    let policy = RetryPolicy {
        retry_on: vec![Outcome::Timeout],
        ..no_jitter(5)
    };
    let err = Dialer::new()
        .retry(policy)
        .dial_addrs(&[refusing.addr()])
        .await
        .unwrap_err();
    assert_eq!(err.attempts().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_deadline_bounds_attempts_and_backoff() {
    let silent = FullQueue::v4().unwrap();
    let start = Instant::now();
    let err = Dialer::new()
        .attempt_timeout(Duration::from_secs(10))
        .deadline(Duration::from_millis(1500))
        .retry(no_jitter(100))
        .dial_addrs(&[silent.addr().unwrap()])
        .await
        .unwrap_err();
    assert_eq!(err.outcome(), Some(Outcome::Timeout));
    assert_eq!(err.attempts().len(), 1);
    assert_eq!(err.attempts()[0].elapsed, Duration::from_millis(1500));
    assert!(start.elapsed() <= Duration::from_millis(1600));
}

#[tokio::test]
async fn an_attempt_timeout_is_a_timeout_outcome() {
    let silent = FullQueue::v4().unwrap();
    let err = Dialer::new()
        .attempt_timeout(Duration::from_millis(50))
        .retry(RetryPolicy::never())
        .dial_addrs(&[silent.addr().unwrap()])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ConnectErrorKind::Failed(Outcome::Timeout));
    let io_err: std::io::Error = err.into();
    assert_eq!(io_err.kind(), std::io::ErrorKind::TimedOut);
}

#[tokio::test]
async fn unix_socket_outcomes() {
    let scratch = Scratch::new("unix_socket_outcomes");
    let dir = scratch.path().to_path_buf();
    let path = scratch.join("app.sock");
    let dialer = Dialer::new();
    let missing = dialer.dial_unix(&path).await.unwrap_err();
    assert_eq!(missing.attempts()[0].errno, Some(libc_enoent()));
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    assert!(dialer.dial_unix(&path).await.is_ok());
    drop(listener); // the file stays: a stale socket
    let stale = dialer.dial_unix(&path).await.unwrap_err();
    assert_eq!(stale.outcome(), Some(Outcome::Refused));
    assert_eq!(stale.kind(), &ConnectErrorKind::Failed(Outcome::Refused));
    // A directory refuses too, and the error says what it is instead.
    let not_a_socket = dialer.dial_unix(&dir).await.unwrap_err();
    assert_eq!(
        not_a_socket.kind(),
        &ConnectErrorKind::NotASocket(refused::diagnose::FileType::Directory)
    );
    assert_eq!(not_a_socket.outcome(), Some(Outcome::Refused));
    assert_eq!(not_a_socket.as_label(), "refused");
    assert!(
        not_a_socket
            .to_string()
            .starts_with(&format!("{} is a directory, not a socket", dir.display())),
        "{not_a_socket}"
    );
}

fn libc_enoent() -> i32 {
    std::io::Error::from(std::io::ErrorKind::NotFound)
        .raw_os_error()
        .unwrap_or(2)
}

#[test]
fn blocking_facade_connects_and_fails_alike() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let stream = refused::blocking::connect(&listener.local_addr().unwrap().to_string()).unwrap();
    assert_eq!(stream.peer_addr().unwrap(), listener.local_addr().unwrap());
    let refusing = RefusedPort::v4().unwrap();
    let dialer = Dialer::new().retry(RetryPolicy::never());
    let err = refused::blocking::dial_addrs(&dialer, &[refusing.addr()]).unwrap_err();
    assert_eq!(err.outcome(), Some(Outcome::Refused));
    // `connect(&str)` keeps no record of a first try that succeeds; one that fails is
    // recorded with the retries that follow (the default policy: three tries, 0.3 s at most).
    let text = refusing.addr().to_string();
    let err = refused::blocking::connect(&text).unwrap_err();
    assert_eq!(err.kind(), &ConnectErrorKind::Failed(Outcome::Refused));
    assert_eq!(err.target(), text);
    let tries: Vec<_> = err.attempts().iter().map(|a| a.try_number).collect();
    assert_eq!(tries, [1, 2, 3]);
    assert_eq!(err.attempts()[0].errno, Some(libc::ECONNREFUSED));
}

#[test]
fn blocking_facade_times_out_by_itself() {
    let silent = FullQueue::v4().unwrap();
    let dialer = Dialer::new()
        .attempt_timeout(Duration::from_millis(100))
        .retry(RetryPolicy::never());
    let start = std::time::Instant::now();
    let err = refused::blocking::dial_addrs(&dialer, &[silent.addr().unwrap()]).unwrap_err();
    assert_eq!(err.outcome(), Some(Outcome::Timeout));
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn blocking_facade_retries_one_address_as_the_async_connect_does() {
    // The first try runs in the calling thread, the retries on the thread's runtime: one
    // record, one target, the try numbers in order.
    let refusing = RefusedPort::v4().unwrap();
    let quick = RetryPolicy {
        backoff: Backoff {
            initial: Duration::from_millis(1),
            max: Duration::from_millis(2),
            multiplier: 2.0,
            jitter: Jitter::None,
        },
        ..no_jitter(3)
    };
    let dialer = Dialer::new().retry(quick);
    let err = refused::blocking::dial_addrs(&dialer, &[refusing.addr()]).unwrap_err();
    assert_eq!(err.kind(), &ConnectErrorKind::Failed(Outcome::Refused));
    assert_eq!(err.target(), refusing.addr().to_string());
    let tries: Vec<_> = err.attempts().iter().map(|a| a.try_number).collect();
    assert_eq!(tries, [1, 2, 3]);
    assert!(
        err.attempts()
            .windows(2)
            .all(|w| w[0].started < w[1].started)
    );

    let text = refusing.addr().to_string();
    let err = refused::blocking::dial(&dialer, &text.parse().unwrap()).unwrap_err();
    assert_eq!(err.target(), text);
    assert_eq!(err.attempts().len(), 3);
}

#[test]
fn blocking_facade_stops_retrying_one_address_at_the_deadline() {
    // The backoff (100 ms) would end past the deadline: no second try, and no sleep.
    let refusing = RefusedPort::v4().unwrap();
    let dialer = Dialer::new()
        .retry(no_jitter(5))
        .deadline(Duration::from_millis(50));
    let err = refused::blocking::dial_addrs(&dialer, &[refusing.addr()]).unwrap_err();
    assert_eq!(err.outcome(), Some(Outcome::Refused));
    assert_eq!(err.attempts().len(), 1);
}

#[test]
fn blocking_facade_goes_to_a_pinned_address() {
    // `name.invalid` never resolves: only the pinned address can make this work.
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let open = listener.local_addr().unwrap();
    let target: refused::Target = format!("name.invalid:{}", open.port()).parse().unwrap();
    let connected = refused::blocking::dial(&Dialer::new(), &target.pin(vec![open])).unwrap();
    assert_eq!(connected.stream.peer_addr().unwrap(), open);
    assert_eq!(connected.attempts.len(), 1);
}

#[tokio::test]
async fn blocking_facade_works_inside_a_runtime_too() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    assert!(refused::blocking::connect(&addr).is_ok());
}

#[tokio::test]
async fn text_targets_report_parse_errors_as_values() {
    let err = refused::connect("localhost:99999").await.unwrap_err();
    assert!(matches!(err.kind(), ConnectErrorKind::InvalidTarget(_)));
    assert_eq!(
        err.to_string(),
        "invalid target `localhost:99999`: port `99999` is out of range (1-65535)"
    );
}

#[test]
fn blocking_facade_leaves_no_timeout_on_the_stream() {
    // The connect's timeout must not outlive the connect (as `SO_SNDTIMEO`, writes would fail
    // after it).
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let dialer = Dialer::new().attempt_timeout(Duration::from_millis(500));
    let connected =
        refused::blocking::dial_addrs(&dialer, &[listener.local_addr().unwrap()]).unwrap();
    assert_eq!(connected.stream.write_timeout().unwrap(), None);
    assert_eq!(connected.stream.read_timeout().unwrap(), None);
}

#[test]
fn blocking_facade_hands_back_blocking_streams() {
    // Its connects are non-blocking underneath, alone or racing: a std stream left so would
    // make the caller's reads fail with `WouldBlock`.
    let is_blocking = |stream: &std::net::TcpStream| {
        !rustix::fs::fcntl_getfl(stream)
            .unwrap()
            .contains(rustix::fs::OFlags::NONBLOCK)
    };
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let open = listener.local_addr().unwrap();
    let refusing = RefusedPort::v4().unwrap();
    let dialer = Dialer::new().retry(RetryPolicy::never());
    let lone = refused::blocking::dial_addrs(&dialer, &[open]).unwrap();
    assert!(is_blocking(&lone.stream));
    let raced = refused::blocking::dial_addrs(&dialer, &[refusing.addr(), open]).unwrap();
    assert_eq!(raced.attempts.len(), 2);
    assert!(is_blocking(&raced.stream));
}

#[test]
fn connect_futures_can_be_spawned_on_a_multi_threaded_runtime() {
    // The Python binding spawns them on a multi-threaded runtime, which needs `Send`.
    fn assert_send<T: Send>(_: &T) {}
    let dialer = Dialer::new();
    let target = "127.0.0.1:1".parse().unwrap();
    assert_send(&dialer.dial(&target));
    assert_send(&refused::connect("127.0.0.1:1"));
}

#[tokio::test]
async fn a_pinned_target_goes_to_its_addresses_only_for_connect_probe_and_diagnose() {
    // `name.invalid` never resolves: only the pinned addresses can make these work.
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let open = listener.local_addr().unwrap();
    let target: refused::Target = format!("name.invalid:{}", open.port()).parse().unwrap();
    let pinned = target.clone().pin(vec![open]);
    assert_eq!(pinned.pinned(), Some(&[open][..]));
    assert_eq!(pinned.to_string(), target.to_string());
    let connected = Dialer::new().dial(&pinned).await.unwrap();
    assert_eq!(connected.stream.peer_addr().unwrap(), open);
    let report = refused::probe::probe(
        &pinned,
        &refused::probe::ProbeOptions::default(),
        Duration::from_secs(5),
    )
    .await;
    assert!(report.readiness.is_ready(), "{}", report.readiness);

    let closed = RefusedPort::v4().unwrap();
    let target: refused::Target = format!("name.invalid:{}", closed.port()).parse().unwrap();
    let diagnosis = refused::diagnose::diagnose(
        &target.pin(vec![closed.addr()]),
        &refused::diagnose::Options::default(),
    )
    .await
    .unwrap();
    let tried: Vec<String> = diagnosis
        .attempts
        .iter()
        .map(|a| a.address.to_string())
        .collect();
    assert_eq!(tried, [closed.addr().to_string()]);
    assert!(
        !diagnosis.cause.as_label().starts_with("dns-"),
        "{}",
        diagnosis.cause.as_label()
    );
}

/// The server answers the first SYN with ICMP admin-prohibited and drops what follows (a
/// router's ICMP rate limit, or an answer lost): Linux 6.x keeps the socket in `SYN_SENT` with the
/// error pending, `connect()` says `EALREADY`, and the socket stays writable. The attempt ends
/// with that error, async and blocking alike, where the async one spun on the wakeup, starving
/// its own timeout and the process's signals, until the kernel gave up two minutes later.
#[test]
fn an_icmp_error_for_the_first_syn_ends_the_attempt() {
    let Some(lab) = Lab::or_skip_needing(
        "an_icmp_error_for_the_first_syn_ends_the_attempt",
        &[Tool::Nft],
    ) else {
        return;
    };
    let _listening = lab
        .server
        .run(|| TcpListener::bind((SERVER_V4, 7101)))
        .unwrap()
        .unwrap();
    let dialer = Dialer::new()
        .retry(RetryPolicy::never())
        .attempt_timeout(Duration::from_secs(20));
    let addr = SocketAddr::from((SERVER_V4, 7101));
    for blocking in [false, true] {
        // One ICMP for the first SYN each round, then silence.
        lab.server
            .nft(
                "table ip once\ndelete table ip once\ntable ip once {\n  chain input {\n    \
                 type filter hook input priority 0; policy accept;\n    \
                 tcp dport 7101 limit rate 1/hour burst 1 packets reject with icmp type \
                 admin-prohibited\n    tcp dport 7101 drop\n  }\n}\n",
            )
            .unwrap();
        let failed = lab
            .client
            .run(|| {
                if blocking {
                    return refused::blocking::dial_addrs(&dialer, &[addr]).map(drop);
                }
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(dialer.dial_addrs(&[addr])).map(drop)
            })
            .unwrap()
            .unwrap_err();
        assert_eq!(
            failed.attempts()[0].outcome,
            Outcome::HostUnreachable,
            "blocking: {blocking}: {failed:?}"
        );
    }
}

/// A port of the ephemeral range with nothing listening: the kernel can give the socket that
/// very port as its own, and TCP's simultaneous open connects it to itself. Such a connect is
/// refused (nothing listens there), by the blocking facade and the async dialer alike.
#[test]
fn a_socket_the_kernel_connects_to_itself_is_refused() {
    let Some(lab) = Lab::or_skip("a_socket_the_kernel_connects_to_itself_is_refused") else {
        return;
    };
    // One local port, the target's: every connect takes it for its own.
    lab.client
        .sysctl("net.ipv4.ip_local_port_range", "40000 40000")
        .unwrap();
    let target = SocketAddr::from((Ipv4Addr::LOCALHOST, 40000));
    let (plain, ours) = lab
        .client
        .run(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let (mut plain, mut ours) = (0, Vec::new());
            for _ in 0..5 {
                // What a plain client gets: a stream connected to itself (closed with a reset,
                // so that no TIME_WAIT holds the one local port).
                if let Ok(stream) = std::net::TcpStream::connect(target) {
                    plain += usize::from(stream.local_addr().unwrap() == target);
                    socket2::SockRef::from(&stream)
                        .set_linger(Some(Duration::ZERO))
                        .unwrap();
                }
                ours.push(refused::blocking::dial_addrs(&Dialer::new(), &[target]).map(drop));
                ours.push(
                    runtime
                        .block_on(Dialer::new().dial_addrs(&[target]))
                        .map(drop),
                );
            }
            (plain, ours)
        })
        .unwrap();
    for result in ours {
        let err = result.expect_err("a connect to a port nobody listens on succeeded");
        assert!(
            matches!(err.kind(), ConnectErrorKind::Failed(Outcome::Refused)),
            "{err}"
        );
        assert!(
            err.attempts().iter().all(|a| a.outcome == Outcome::Refused),
            "{err:?}"
        );
    }
    assert_eq!(plain, 5, "the kernel did not connect the socket to itself");
}
