//! How far past `--timeout` `refused why`, `check` and `wait` end, for `scripts/bench-deadline.sh`:
//! in a lab (root), against a resolver that never answers (glibc's default limits: getaddrinfo
//! blocks 10 s), a port whose packets the server drops, and a full accept queue in the client's
//! namespace. Each run is the whole process as a user sees it (`ip netns exec`, start, exit).
//! Prints a Markdown table of the overshoot past `--timeout`: median and maximum over the runs.
//!
//! Usage: `deadline-overshoot REFUSED [RUNS] [TIMEOUT_MS]` (10 runs, 1000 ms by default)

use std::fmt::Write;
use std::net::SocketAddr;
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use refused_lab::{FullQueue, Lab, SERVER_V4};

/// Ports in the range of the deadline tests, which nothing else on the host listens on.
const DROPPED_PORT: u16 = 42_101;
const FULL_PORT: u16 = 42_102;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(refused) = args.next() else {
        eprintln!("usage: deadline-overshoot REFUSED [RUNS] [TIMEOUT_MS]");
        return ExitCode::from(2);
    };
    let runs: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(10);
    let timeout = Duration::from_millis(args.next().and_then(|t| t.parse().ok()).unwrap_or(1000));
    match measure(&refused, runs.max(1), timeout) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("deadline-overshoot: {err}");
            ExitCode::FAILURE
        }
    }
}

fn measure(
    refused: &str,
    runs: usize,
    timeout: Duration,
) -> Result<(), Box<dyn std::error::Error>> {
    let lab = Lab::new()?;
    lab.silent_dns()?;
    lab.client
        .write_etc("resolv.conf", &format!("nameserver {SERVER_V4}\n"))?;
    lab.server
        .filter("input", &[&format!("tcp dport {DROPPED_PORT} drop")])?;
    let full_addr = SocketAddr::from(([127, 0, 0, 1], FULL_PORT));
    let _full = lab.client.run(|| FullQueue::on(full_addr))??;

    let cases = [
        ("silent resolver", "web.lab.test:80".to_owned()),
        (
            "dropped port",
            SocketAddr::from((SERVER_V4, DROPPED_PORT)).to_string(),
        ),
        ("full accept queue", full_addr.to_string()),
    ];
    let limit = format!("{}ms", timeout.as_millis());
    // What a run costs with nothing to wait for: `ip netns exec`, the start and the exit.
    let mut starts = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        lab.client
            .command(refused)
            .arg("--version")
            .stdout(Stdio::null())
            .status()?;
        starts.push(started.elapsed().as_secs_f64());
    }
    println!(
        "`--timeout {limit}`, {runs} runs each: how long past `--timeout` the process ended \
         (median / max)\n"
    );
    println!("| case | `why` | `check` | `wait` |");
    println!("|---|---|---|---|");
    for (case, target) in &cases {
        let mut row = format!("| {case} |");
        for command in ["why", "check", "wait"] {
            let mut overshoots = Vec::with_capacity(runs);
            for _ in 0..runs {
                let started = Instant::now();
                let status = lab
                    .client
                    .command(refused)
                    .args([command, "--timeout", &limit, target])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()?;
                let took = started.elapsed();
                if status.code() != Some(1) {
                    return Err(format!("`{command} {target}` exited with {status}").into());
                }
                overshoots.push(took.as_secs_f64() - timeout.as_secs_f64());
            }
            let (median, max) = median_max(&mut overshoots);
            let _ = write!(row, " {} / {} |", ms(median), ms(max));
        }
        println!("{row}");
    }
    let (median, max) = median_max(&mut starts);
    println!(
        "\nincluded in each figure: `ip netns exec refused --version` alone takes {} / {}",
        ms(median).trim_start_matches('+'),
        ms(max).trim_start_matches('+')
    );
    Ok(())
}

fn median_max(values: &mut [f64]) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    (values[values.len() / 2], values[values.len() - 1])
}

fn ms(seconds: f64) -> String {
    format!("{:+.0} ms", seconds * 1e3)
}
