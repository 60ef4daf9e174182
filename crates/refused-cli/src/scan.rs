//! `refused scan HOST... [-p PORTS]`: every port's state, open ports with service and process.

use std::collections::{BTreeMap, HashSet};
use std::io::{IsTerminal, Read, Write};
use std::net::IpAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::Duration;

use refused::connect::{HumanDuration, as_millis};
use refused::scan::{
    Echo, Family, HostReport, HostSpec, HostSpecError, MAX_ADDRESSES, PortOwners, PortReport,
    PortState, Progress, ScanOptions, ScanReport, check_size, scan_with,
};
use serde::Serialize;

use crate::EXIT_DOWN;
use crate::args::ScanArgs;
use crate::output::{self, BAD, DIM, GOOD, WARN, term};
use crate::usage::{self, UsageError};

/// A scan shorter than this shows no progress bar.
const QUIET_START: Duration = Duration::from_secs(1);

pub fn run(args: &ScanArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    let family = match (args.ipv4, args.ipv6) {
        (true, _) => Family::V4,
        (_, true) => Family::V6,
        _ => Family::Any,
    };
    let Some(hosts) = addresses(&host_specs(args)?, family, args.force)? else {
        return Ok(ExitCode::from(EXIT_DOWN));
    };
    check_size(hosts.len(), args.ports.len()).map_err(|err| UsageError(err.to_string()))?;
    let options = ScanOptions {
        concurrency: args.concurrency.map(|n| n as usize),
        rate: args.rate,
        timeout: args.timeout.or_max(),
        echo: if args.no_ping { Echo::Off } else { Echo::Seed },
        ..ScanOptions::default()
    };

    let progress = Progress::default();
    let finished = AtomicBool::new(false);
    let signal = AtomicU8::new(0);
    let closed = AtomicBool::new(false);
    let stream_all = args.all;
    let on_port = |address: IpAddr, port: PortReport| {
        if args.stream
            && (stream_all || port.state == PortState::Open)
            && !closed.load(Ordering::Relaxed)
        {
            if let Err(err) = output::json_line("port", &StreamedPort { address, port }) {
                // The reader is gone (`| head -1`) or stdout failed: nothing more can be said.
                closed.store(true, Ordering::Relaxed);
                progress.cancel();
                if !output::is_broken_pipe(&err) {
                    output::error(&format!("{err:#}"));
                }
            }
        }
    };
    let report = std::thread::scope(|scope| {
        if std::io::stderr().is_terminal() && !args.stream && !quiet {
            scope.spawn(|| progress_bar(&progress, &finished));
        }
        scope.spawn(|| watch_signals(&progress, &finished, &signal));
        let report = scan_with(&hosts, &args.ports, &options, &progress, &on_port);
        finished.store(true, Ordering::Relaxed);
        report
    })?;
    if closed.load(Ordering::Relaxed) {
        return Ok(ExitCode::SUCCESS);
    }
    let code = match signal.load(Ordering::Relaxed) {
        0 => ExitCode::SUCCESS,
        code => ExitCode::from(code),
    };
    if quiet && !args.json {
        return Ok(code);
    }

    let owners = PortOwners::of(report.hosts.iter().map(|h| h.address));
    if args.json {
        let document = Document::new(&report, &owners, args.all);
        if args.stream {
            output::json_line("summary", &document)?;
        } else {
            output::json_document(&document)?;
        }
    } else {
        render(&report, &owners, args.all, args.ports.as_slice().len())?;
    }
    Ok(code)
}

/// Every host argument, then every host of `--hosts-file`: all parsed before any name is resolved,
/// so a bad one is a usage error at once.
fn host_specs(args: &ScanArgs) -> Result<Vec<HostSpec>, UsageError> {
    let mut specs = args
        .hosts
        .iter()
        .map(|text| usage::parse(text))
        .collect::<Result<Vec<HostSpec>, _>>()?;
    if let Some(path) = &args.hosts_file {
        let shown = if path.as_os_str() == "-" {
            "standard input".to_owned()
        } else {
            format!("`{}`", path.display())
        };
        let text = read_hosts_file(path)
            .map_err(|err| UsageError(format!("cannot read {shown}: {err}")))?;
        let listed = parse_host_list(&text)
            .map_err(|(line, err)| UsageError(format!("{shown} line {line}: {err}")))?;
        if listed.is_empty() {
            return Err(UsageError(format!("{shown} names no host")));
        }
        specs.extend(listed);
    }
    Ok(specs)
}

fn read_hosts_file(path: &std::path::Path) -> std::io::Result<String> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin().lock().read_to_string(&mut text)?;
        Ok(text)
    } else {
        std::fs::read_to_string(path)
    }
}

/// nmap's `-iL` list: hosts separated by white space, `#` to the end of a line a comment. On a
/// bad host: its line (from 1) and the error.
fn parse_host_list(text: &str) -> Result<Vec<HostSpec>, (usize, HostSpecError)> {
    let mut specs = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.split_once('#').map_or(line, |(before, _)| before);
        for word in line.split_whitespace() {
            specs.push(word.parse().map_err(|err| (number + 1, err))?);
        }
    }
    Ok(specs)
}

/// The addresses of every host, in order, each once; at most [`MAX_ADDRESSES`]. `None` when a
/// name did not resolve (said on stderr).
fn addresses(
    specs: &[HostSpec],
    family: Family,
    force: bool,
) -> Result<Option<Vec<IpAddr>>, UsageError> {
    let mut hosts: Vec<IpAddr> = Vec::new();
    let mut seen: HashSet<IpAddr> = HashSet::new();
    for spec in specs {
        match spec.addresses(family, force) {
            Ok(addrs) => {
                hosts.extend(addrs.into_iter().filter(|addr| seen.insert(*addr)));
                if hosts.len() > MAX_ADDRESSES {
                    return Err(UsageError(format!(
                        "the hosts hold more than {MAX_ADDRESSES} addresses, the most a scan takes \
                         (at `{spec}`)"
                    )));
                }
            }
            Err(err @ (HostSpecError::TooLarge { .. } | HostSpecError::TooMany { .. })) => {
                return Err(UsageError(err.to_string()));
            }
            Err(err) => {
                output::error(&err.to_string());
                return Ok(None);
            }
        }
    }
    Ok(Some(hosts))
}

/// Ctrl-C or SIGTERM stop the scan; what it found so far is still printed, and the exit status
/// says it was stopped (130 / 143, as a shell would).
fn watch_signals(progress: &Progress, finished: &AtomicBool, signal: &AtomicU8) {
    use tokio::signal::unix::{SignalKind, signal as listen};
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
    else {
        return;
    };
    runtime.block_on(async {
        let (Ok(mut interrupt), Ok(mut terminate)) = (
            listen(SignalKind::interrupt()),
            listen(SignalKind::terminate()),
        ) else {
            return;
        };
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        loop {
            let code = tokio::select! {
                _ = interrupt.recv() => 130,
                _ = terminate.recv() => 143,
                _ = tick.tick() => {
                    if finished.load(Ordering::Relaxed) {
                        return;
                    }
                    continue;
                }
            };
            signal.store(code, Ordering::Relaxed);
            progress.cancel();
            return;
        }
    });
}

/// A bar on stderr once a scan takes more than a second. It shows the time spent, not a time
/// left: silent ports each take a full timeout, and are retried at the end (and asked again in
/// a second pass when packets are lost), so no rate measured so far predicts the rest.
///
/// Drawn by hand rather than with a progress-bar crate: the line is clipped to leave the last
/// column free, so the `^C` a terminal echoes lands on the bar's own row, and one clear of that
/// row leaves nothing behind (a bar padded to the full width makes the echo wrap to a new row).
fn progress_bar(progress: &Progress, finished: &AtomicBool) {
    let started = std::time::Instant::now();
    let mut drawn = false;
    let mut frame = 0_usize;
    while !finished.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        if started.elapsed() < QUIET_START || finished.load(Ordering::Relaxed) {
            continue;
        }
        let (width, _) = term::stderr_size().unwrap_or((80, 24));
        let line = bar_line(
            progress.done(),
            progress.total(),
            started.elapsed(),
            SPINNER[frame % SPINNER.len()],
        );
        frame += 1;
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2K{}",
            term::clip(&line, width.saturating_sub(1).max(1))
        );
        let _ = err.flush();
        drawn = true;
    }
    if drawn {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K");
        let _ = err.flush();
    }
}

const SPINNER: [char; 4] = ['|', '/', '-', '\\'];

/// `/ 1500/65535 probes [==>        ] 3.2 s`
fn bar_line(done: u64, total: u64, elapsed: Duration, spin: char) -> String {
    const WIDTH: u64 = 30;
    let filled = (done.min(total) * WIDTH).checked_div(total).unwrap_or(0) as usize;
    let mut bar = "=".repeat(filled);
    if filled < WIDTH as usize {
        bar.push('>');
    }
    format!(
        "{spin} {done}/{total} probes [{bar:<width$}] {}",
        HumanDuration(elapsed),
        width = WIDTH as usize
    )
}

#[derive(Serialize)]
struct StreamedPort {
    address: IpAddr,
    #[serde(flatten)]
    port: PortReport,
}

/// The `--json` document.
#[derive(Serialize)]
struct Document<'a> {
    hosts: Vec<HostDocument<'a>>,
    #[serde(rename = "elapsed_ms", serialize_with = "as_millis")]
    elapsed: Duration,
    connects: u64,
    self_connects: u64,
    max_in_flight: usize,
    /// Ctrl-C or SIGTERM stopped the scan: each host lists only the ports it had finished.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    interrupted: bool,
}

#[derive(Serialize)]
struct HostDocument<'a> {
    address: IpAddr,
    counts: BTreeMap<PortState, usize>,
    open: Vec<PortDocument<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ports: Option<&'a [PortReport]>,
}

#[derive(Serialize)]
struct PortDocument<'a> {
    #[serde(flatten)]
    port: PortReport,
    service: Option<&'a str>,
    pid: Option<u32>,
    process: Option<&'a str>,
}

impl<'a> Document<'a> {
    fn new(report: &'a ScanReport, owners: &'a PortOwners, all: bool) -> Self {
        Self {
            hosts: report
                .hosts
                .iter()
                .map(|host| HostDocument {
                    address: host.address,
                    counts: counts(host),
                    open: host
                        .in_state(PortState::Open)
                        .map(|port| {
                            let process = owners.process(host.address, port.port);
                            PortDocument {
                                port: *port,
                                service: owners.service(port.port),
                                pid: process.map(|p| p.pid),
                                process: process.map(|p| p.command.as_str()),
                            }
                        })
                        .collect(),
                    ports: all.then_some(host.ports.as_slice()),
                })
                .collect(),
            elapsed: report.elapsed,
            connects: report.connects,
            self_connects: report.self_connects,
            max_in_flight: report.max_in_flight,
            interrupted: report.interrupted,
        }
    }
}

fn counts(host: &HostReport) -> BTreeMap<PortState, usize> {
    let mut counts = BTreeMap::from([
        (PortState::Open, 0),
        (PortState::Closed, 0),
        (PortState::Filtered, 0),
    ]);
    for port in &host.ports {
        *counts.entry(port.state).or_default() += 1;
    }
    counts
}

/// `1 port`, `2 ports`.
fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

fn render(report: &ScanReport, owners: &PortOwners, all: bool, total: usize) -> anyhow::Result<()> {
    let mut out = anstream::stdout().lock();
    for host in &report.hosts {
        let counts = counts(host);
        let scanned = if report.interrupted {
            format!(
                "{} of {} ({WARN}interrupted{WARN:#})",
                host.ports.len(),
                plural(total, "port")
            )
        } else {
            plural(host.ports.len(), "port")
        };
        writeln!(
            out,
            "{}  {scanned} in {}: {} open, {} closed, {} filtered",
            host.address,
            HumanDuration(report.elapsed),
            counts[&PortState::Open],
            counts[&PortState::Closed],
            counts[&PortState::Filtered],
        )?;
        let shown: Vec<&PortReport> = host
            .ports
            .iter()
            .filter(|p| all || p.state == PortState::Open)
            .collect();
        if shown.is_empty() {
            continue;
        }
        writeln!(
            out,
            "{DIM}{:<10} {:<9} {:<17} {:<14} PROCESS{DIM:#}",
            "PORT", "STATE", "REASON", "SERVICE"
        )?;
        for port in shown {
            let style = match port.state {
                PortState::Open => GOOD,
                PortState::Closed => DIM,
                PortState::Filtered => BAD,
            };
            let state = serde_json::to_value(port.state)?;
            let reason = serde_json::to_value(port.reason)?;
            let process = owners
                .process(host.address, port.port)
                .map(|p| format!("{} (pid {})", p.command, p.pid))
                .unwrap_or_default();
            let line = format!(
                "{:<10} {style}{:<9}{style:#} {:<17} {:<14} {process}",
                format!("{}/tcp", port.port),
                state.as_str().unwrap_or_default(),
                reason.as_str().unwrap_or_default(),
                owners.service(port.port).unwrap_or("-"),
            );
            writeln!(out, "{}", line.trim_end())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_says_probes_done_and_time_spent() {
        let line = bar_line(1500, 3000, Duration::from_millis(3200), '/');
        assert_eq!(
            line,
            format!("/ 1500/3000 probes [{:<30}] 3.2 s", "=".repeat(15) + ">")
        );
        let full = bar_line(10, 10, Duration::from_secs(1), '|');
        assert!(full.contains(&format!("[{}]", "=".repeat(30))), "{full}");
    }

    #[test]
    fn a_hosts_file_holds_hosts_separated_by_white_space_with_comments() {
        let text = "# lab hosts\n10.0.0.1 10.0.0.2\n\n  10.0.1.0/30\t# the block\nweb-1.lab.test\n10.0.2.10-12\n";
        let specs = parse_host_list(text).unwrap();
        let shown: Vec<String> = specs.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "10.0.0.1",
                "10.0.0.2",
                "10.0.1.0/30",
                "web-1.lab.test",
                "10.0.2.10-12"
            ]
        );
        assert!(parse_host_list("# nothing\n\n").unwrap().is_empty());
        let (line, err) = parse_host_list("10.0.0.1\n# fine\n10.0.0.2 10.0.0.9-3\n").unwrap_err();
        assert_eq!(line, 3);
        assert!(err.to_string().contains("`10.0.0.9-3`"), "{err}");
    }

    #[test]
    fn the_addresses_are_each_listed_once_in_order_and_bounded() {
        let specs: Vec<HostSpec> = ["10.0.0.2", "10.0.0.0/30", "10.0.0.1-5"]
            .iter()
            .map(|t| t.parse().unwrap())
            .collect();
        let hosts = addresses(&specs, Family::Any, false).unwrap().unwrap();
        let shown: Vec<String> = hosts.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "10.0.0.2", "10.0.0.0", "10.0.0.1", "10.0.0.3", "10.0.0.4", "10.0.0.5"
            ]
        );
        // Two /16s: each is allowed with `--force`, both are more than a scan takes.
        let specs: Vec<HostSpec> = ["10.1.0.0/16", "10.2.0.0/16"]
            .iter()
            .map(|t| t.parse().unwrap())
            .collect();
        let err = addresses(&specs, Family::Any, true).unwrap_err();
        assert!(
            err.0.contains("more than 65536 addresses") && err.0.contains("`10.2.0.0/16`"),
            "{err}"
        );
        let err = addresses(&specs[..1], Family::Any, false).unwrap_err();
        assert!(err.0.contains("`--force`"), "{err}");
    }

    #[test]
    fn one_port_is_singular() {
        assert_eq!(plural(1, "port"), "1 port");
        assert_eq!(plural(2, "port"), "2 ports");
        assert_eq!(plural(0, "port"), "0 ports");
    }
}
