//! `refused check`: one connect per target, a state and a reason per target.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use futures_util::StreamExt;
use refused::Target;
use refused::connect::{Attempt, HumanDuration, as_millis};
use refused::probe::{ProbeOptions, Readiness, Reason, State, probe};
use serde::Serialize;

use crate::EXIT_DOWN;
use crate::args::{CheckArgs, WHY_TIMEOUT};
use crate::duration::parse_timeout;
use crate::output::{self, BAD, GOOD};
use crate::usage;

/// What one target's check found: the fields of a probe as `wait` prints them (`state`,
/// `reason`, `summary`, `elapsed_ms`, `attempts`), with a summary that says where it connected.
#[derive(Debug, Serialize)]
struct Report {
    target: String,
    state: State,
    /// A cause of `why` where the probe proves it (`reachable`, `not-ready`, `dns-*`,
    /// `socket-*`), else the failed connect's outcome (`refused`, `timeout`...).
    reason: Reason,
    summary: String,
    #[serde(serialize_with = "as_millis", rename = "elapsed_ms")]
    elapsed: Duration,
    attempts: Vec<Attempt>,
}

/// Descriptors one check may hold at once: the connect (two while happy eyeballs races a second
/// address), and the TLS or protocol exchange on the same socket.
const DESCRIPTORS_PER_CHECK: usize = 2;

pub async fn run(args: CheckArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    let targets: Vec<Target> = usage::parse_targets(&args.targets)?;
    let options = args.probe.options();
    // As many at once as the open-file limit allows (raised to its hard limit first, as `scan`
    // does); the rest wait their turn, so none fails for want of a descriptor it never had.
    let budget = refused::scan::raise_open_file_limit().budget() / DESCRIPTORS_PER_CHECK;
    let timeout = args.timeout.or_max();
    let reports: Vec<Report> = futures_util::stream::iter(&targets)
        .map(|target| check(target, &options, timeout))
        .buffered(budget.max(1))
        .collect()
        .await;

    let width = reports.iter().map(|r| r.target.len()).max().unwrap_or(0);
    let mut stdout = anstream::stdout().lock();
    for report in &reports {
        if args.json {
            output::json_line("probe", report)?;
        } else if !quiet {
            let style = match report.state {
                State::Up => GOOD,
                State::Down => BAD,
            };
            writeln!(
                stdout,
                "{style}{:<4}{style:#} {:<width$}  {}",
                report.state, report.target, report.summary
            )?;
        }
    }
    if !args.json && !quiet {
        if let Some(note) = output::direct_note("check", &targets) {
            // A note only, as the hint below.
            let _ = writeln!(anstream::stderr().lock(), "{note}");
        }
    }
    // A failed connect's outcome says what happened, not why: say where the cause is told
    // (on stderr, so that the lines stay one a target).
    let unexplained = reports
        .iter()
        .find(|r| r.state == State::Down && matches!(r.reason, Reason::Outcome(_)));
    if let (Some(report), false, false) = (unexplained, args.json, quiet) {
        // A hint only: a stderr that cannot take it (its reader gone: `2>&1 | head -1`) must not
        // turn the exit status of a down target into a broken pipe's 0.
        let mut stderr = anstream::stderr().lock();
        // Quoted where a shell would read it otherwise (`[::1]:80` is a glob, `&` ends a command).
        let target =
            shlex::try_quote(&report.target).unwrap_or_else(|_| report.target.clone().into());
        // `why` with the time this check gave it: a connect that timed out at `-t 10s` may
        // not at 3 s. The other options are the service's checks, past a failed connect.
        let timeout = if parse_timeout(WHY_TIMEOUT) == Ok(args.timeout) {
            String::new()
        } else {
            format!(" --timeout {}", args.timeout.as_option())
        };
        let _ = writeln!(
            stderr,
            "`refused why{timeout} {target}` tells the cause behind it, with the evidence and the fix"
        );
    }
    let all_up = reports.iter().all(|r| r.state == State::Up);
    Ok(if all_up {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_DOWN)
    })
}

/// One probe: the connect, then the scheme's readiness check (HTTP status, Postgres startup...).
async fn check(target: &Target, options: &ProbeOptions, timeout: Duration) -> Report {
    let report = probe(target, options, timeout).await;
    let summary = match &report.readiness {
        Readiness::Ready(detail) => connected(&report.attempts, report.elapsed, detail),
        // A failed connect says what happened at each address; a service its own reason.
        other => other.to_string(),
    };
    Report {
        target: target.to_string(),
        state: report.readiness.state(),
        reason: report.readiness.reason(),
        summary,
        elapsed: report.elapsed,
        attempts: report.attempts,
    }
}

/// `connected to 127.0.0.1:8000 in 6.1 ms: HTTP 200 OK (after [::1]:8000 refused)`.
fn connected(attempts: &[Attempt], elapsed: Duration, detail: &str) -> String {
    let via = attempts
        .last()
        .map(|a| a.address.to_string())
        .unwrap_or_default();
    let mut summary = format!("connected to {via} in {}", HumanDuration(elapsed));
    if !detail.is_empty() {
        summary = format!("{summary}: {detail}");
    }
    let failed: Vec<String> = attempts
        .iter()
        .filter(|a| !a.outcome.is_connected())
        .map(|a| format!("{} {}", a.address, a.outcome))
        .collect();
    if !failed.is_empty() {
        summary = format!("{summary} (after {})", failed.join(", "));
    }
    summary
}
