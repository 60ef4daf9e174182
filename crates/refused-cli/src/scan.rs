//! `refused scan HOST... [-p PORTS]`: every port's state, open ports with service and process.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::net::IpAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use refused::connect::HumanDuration;
use refused::scan::{
    Family, HostReport, HostSpec, PortOwners, PortReport, PortState, Progress, ScanOptions,
    ScanReport, scan_with,
};
use serde::Serialize;

use crate::EXIT_DOWN;
use crate::args::ScanArgs;
use crate::output::{self, BAD, DIM, GOOD};
use crate::usage::{self, UsageError};

/// A scan shorter than this shows no progress bar.
const QUIET_START: Duration = Duration::from_secs(1);

pub fn run(args: &ScanArgs) -> anyhow::Result<ExitCode> {
    let family = match (args.ipv4, args.ipv6) {
        (true, _) => Family::V4,
        (_, true) => Family::V6,
        _ => Family::Any,
    };
    let mut hosts: Vec<IpAddr> = Vec::new();
    for text in &args.hosts {
        let spec: HostSpec = usage::parse(text)?;
        match spec.addresses(family, args.force) {
            Ok(addrs) => {
                for addr in addrs {
                    if !hosts.contains(&addr) {
                        hosts.push(addr);
                    }
                }
            }
            Err(err @ refused::scan::HostSpecError::TooLarge { .. }) => {
                return Err(UsageError(err.to_string()).into());
            }
            Err(err) => {
                output::error(&err.to_string());
                return Ok(ExitCode::from(EXIT_DOWN));
            }
        }
    }
    let options = ScanOptions {
        concurrency: args.concurrency.map(|n| n as usize),
        rate: args.rate,
        timeout: args.timeout,
        ..ScanOptions::default()
    };

    let progress = Progress::default();
    let finished = AtomicBool::new(false);
    let stream_all = args.all;
    let on_port = |address: IpAddr, port: PortReport| {
        if args.stream && (stream_all || port.state == PortState::Open) {
            // Nothing sensible is left to do if stdout fails mid-scan; the summary will say so.
            let _ = output::json_line(&StreamedPort { address, port });
        }
    };
    let report = std::thread::scope(|scope| {
        if std::io::stderr().is_terminal() && !args.stream {
            scope.spawn(|| progress_bar(&progress, &finished));
        }
        let report = scan_with(&hosts, &args.ports, &options, &progress, &on_port);
        finished.store(true, Ordering::Relaxed);
        report
    })?;

    let owners = PortOwners::of(report.hosts.iter().map(|h| h.address));
    if args.json {
        let document = Document::new(&report, &owners, args.all);
        if args.stream {
            output::json_line(&Summary {
                kind: "summary",
                document,
            })?;
        } else {
            output::json_line(&document)?;
        }
    } else {
        render(&report, &owners, args.all)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn progress_bar(progress: &Progress, finished: &AtomicBool) {
    let started = std::time::Instant::now();
    let mut bar: Option<indicatif::ProgressBar> = None;
    while !finished.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        if bar.is_none() && started.elapsed() >= QUIET_START {
            let style = indicatif::ProgressStyle::with_template(
                "{spinner} {pos}/{len} ports [{bar:30}] {eta} left",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar = Some(indicatif::ProgressBar::new(progress.total()).with_style(style));
        }
        if let Some(bar) = &bar {
            bar.set_position(progress.done());
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
}

#[derive(Serialize)]
struct StreamedPort {
    address: IpAddr,
    #[serde(flatten)]
    port: PortReport,
}

#[derive(Serialize)]
struct Summary<'a> {
    kind: &'static str,
    #[serde(flatten)]
    document: Document<'a>,
}

/// The `--json` document.
#[derive(Serialize)]
struct Document<'a> {
    hosts: Vec<HostDocument<'a>>,
    elapsed_ms: f64,
    connects: u64,
    self_connects: u64,
    max_in_flight: usize,
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
            elapsed_ms: report.elapsed.as_secs_f64() * 1e3,
            connects: report.connects,
            self_connects: report.self_connects,
            max_in_flight: report.max_in_flight,
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

fn render(report: &ScanReport, owners: &PortOwners, all: bool) -> anyhow::Result<()> {
    let mut out = anstream::stdout().lock();
    for host in &report.hosts {
        let counts = counts(host);
        writeln!(
            out,
            "{}  {} ports in {}: {} open, {} closed, {} filtered",
            host.address,
            host.ports.len(),
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
