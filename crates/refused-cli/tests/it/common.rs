//! Running the built binary and snapshotting what a user sees.

use std::process::Output;

use assert_cmd::Command;

/// The built `refused` binary, with colours off and a fixed environment.
/// The variables that send HTTP clients through a proxy.
pub const PROXY_VARIABLES: [&str; 8] = [
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

pub fn refused() -> Command {
    let mut cmd = Command::cargo_bin("refused").expect("the refused binary is built");
    cmd.env("NO_COLOR", "1").env_remove("REFUSED_TIMEOUT");
    // A proxy of the machine's would change what `why` asks (see why_proxy.rs).
    for proxy in PROXY_VARIABLES {
        cmd.env_remove(proxy);
    }
    cmd
}

/// Exit code, stdout and stderr in one text, for a snapshot.
pub fn render(output: &Output) -> String {
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        output
            .status
            .code()
            .map_or_else(|| "signal".to_owned(), |c| c.to_string()),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    )
}

/// Asserts an exit status, showing stderr when it differs.
pub fn assert_exit(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Filters that replace what changes from run to run: durations, then ports.
pub fn filters(ports: &[u16]) -> Vec<(String, String)> {
    let mut filters = vec![
        (r"\d+(\.\d+)? (ms|s)\b".to_owned(), "[TIME]".to_owned()),
        (
            r#""(elapsed_ms|started_ms)":[0-9.e-]+"#.to_owned(),
            r#""$1":"[MS]""#.to_owned(),
        ),
    ];
    for port in ports {
        filters.push((format!(r"\b{port}\b"), "[PORT]".to_owned()));
    }
    filters
}

/// Snapshots a command's output under the given filters.
#[macro_export]
macro_rules! snapshot {
    ($name:expr, $output:expr, $ports:expr) => {{
        let filters = $crate::common::filters($ports);
        let filters: Vec<(&str, &str)> =
            filters.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        insta::with_settings!({ filters => filters }, {
            insta::assert_snapshot!($name, $crate::common::render($output));
        });
    }};
}

/// A server on loopback that answers every request with `answer`, after reading what came (an
/// HTTP server of one reply, or a hostile banner).
pub fn answering(answer: &'static [u8]) -> std::net::SocketAddr {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 2048];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(answer);
        }
    });
    addr
}

/// A free loopback port, for a program that cannot be told to take port 0 and say which it got.
pub fn free_port() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Starts `command` (its output dropped) and waits, at most 5 s, until it accepts on `addr`.
pub fn started_on(
    command: &mut std::process::Command,
    addr: std::net::SocketAddr,
) -> std::process::Child {
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let program = command.get_program().to_string_lossy().into_owned();
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{program} did not start"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child
}
