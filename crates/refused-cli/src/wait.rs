//! `refused wait TARGET... [-- CMD ARGS...]`: wait until ready, then `exec` the command.

mod explain;

use std::borrow::Cow;
use std::cell::RefCell;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::os::unix::process::CommandExt;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use refused::Target;
use refused::connect::{HumanDuration, as_millis};
use refused::diagnose::Diagnosis;
use refused::probe::ProbeReport;
use refused::wait::{Goal, TargetState, Until, WaitEvent, WaitOptions, wait};
use serde::Serialize;

use crate::EXIT_DOWN;
use crate::args::WaitArgs;
use crate::output::{self, BAD, DIM, GOOD, WARN, term};
use crate::signals::Signals;
use crate::usage::{self, UsageError};
use explain::Explainer;

pub async fn run(args: WaitArgs, quiet: bool, mut signals: Signals) -> anyhow::Result<ExitCode> {
    let mut targets = Vec::new();
    // One argument is one target: a URL may hold commas (`?a=1,2`), never a space.
    targets.extend(usage::parse_targets(&args.target_texts())?);
    if targets.is_empty() {
        let missing = "no targets: give them as arguments, as `--host HOST --port PORT`, or in REFUSED_TARGETS";
        return Err(UsageError(missing.to_owned()).into());
    }
    let options = WaitOptions {
        timeout: args.timeout.limit(),
        until: if args.any { Until::Any } else { Until::All },
        goal: if args.down { Goal::Down } else { Goal::Ready },
        interval: args.interval,
        successes: args.successes,
        probe: args.probe.options(),
        listen_events: !args.no_bpf,
    };

    let mode = if args.json {
        Mode::Json
    } else if quiet {
        Mode::Quiet
    } else if std::io::stderr().is_terminal() {
        Mode::Live
    } else {
        Mode::Lines
    };
    if matches!(mode, Mode::Lines | Mode::Live) {
        if let Some(note) = output::direct_note("wait", &targets) {
            let _ = writeln!(anstream::stderr().lock(), "{note}");
        }
    }
    let display = RefCell::new(Display::new(mode, &targets, options.goal, options.timeout));
    let explainer = RefCell::new(Explainer::new(
        &targets,
        options.timeout,
        options.probe.clone(),
        args.down,
    ));
    let read_ahead_at = explainer.borrow().read_ahead_at();
    let result = {
        let waiting = wait(&targets, &options, |event| {
            display.borrow_mut().event(&event);
            explainer.borrow_mut().seen(&event);
        });
        let read_ahead = async {
            match read_ahead_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(waiting, read_ahead);
        let mut read_ahead_started = false;
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                result = &mut waiting => break result,
                code = signals.next() => {
                    display.borrow_mut().finish();
                    return Ok(ExitCode::from(code));
                }
                () = &mut read_ahead, if !read_ahead_started => {
                    read_ahead_started = true;
                    explainer.borrow_mut().read_ahead();
                }
                _ = tick.tick(), if mode == Mode::Live => display.borrow_mut().draw(),
            }
        }
    };
    display.borrow_mut().finish();

    if !result.satisfied {
        // The explanation is bounded by what is left of `--timeout`, and a signal ends it.
        let left = args.timeout.or_max().saturating_sub(result.elapsed);
        let explaining = explainer.into_inner().explain(&result.targets, left);
        let causes = tokio::select! {
            causes = explaining => causes,
            code = signals.next() => return Ok(ExitCode::from(code)),
        };
        if mode != Mode::Quiet {
            report_timeout(&targets, &result.targets, causes, &args, mode)?;
        }
        return Ok(ExitCode::from(EXIT_DOWN));
    }
    if let Some((program, rest)) = args.command.split_first() {
        return Ok(exec(program, rest));
    }
    Ok(ExitCode::SUCCESS)
}

/// Replaces this process with the command; returns only if that fails (126 or 127, as shells).
fn exec(program: &OsString, args: &[OsString]) -> ExitCode {
    let err = std::process::Command::new(program).args(args).exec();
    output::error(&format!(
        "cannot run `{}`: {err}",
        program.to_string_lossy()
    ));
    ExitCode::from(if err.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    })
}

/// For each target not done: its last probe and, when it did not connect, the cause.
fn report_timeout(
    targets: &[Target],
    states: &[TargetState],
    causes: Vec<Option<Diagnosis>>,
    args: &WaitArgs,
    mode: Mode,
) -> anyhow::Result<()> {
    let waited = args.timeout;
    for ((target, state), cause) in targets.iter().zip(states).zip(causes) {
        if state.done {
            continue;
        }
        let last = state.last.as_ref();
        let last_text = last.map_or_else(|| "never probed".to_owned(), |r| r.readiness.to_string());
        if mode == Mode::Json {
            output::json_line(
                "timeout",
                &TimeoutEvent {
                    target: target.to_string(),
                    last,
                    cause: cause.as_ref().map(|d| d.cause.as_label()),
                    summary: cause.as_ref().map_or(&last_text, |d| &d.summary),
                },
            )?;
            continue;
        }
        let mut err = anstream::stderr().lock();
        let goal = if args.down { "down" } else { "ready" };
        // "not ready after 30 s: starting up", not "...: not ready: starting up".
        let last_said = last_text.strip_prefix("not ready: ").unwrap_or(&last_text);
        writeln!(
            err,
            "{BAD}timeout{BAD:#} {target} not {goal} after {waited}: {last_said}"
        )?;
        if let Some(d) = cause {
            writeln!(err, "  {BAD}{}{BAD:#}: {}", d.cause, d.summary)?;
            if let Some(fix) = d.suggestions.first() {
                writeln!(err, "  {DIM}fix{DIM:#}: {fix}")?;
            }
        }
    }
    Ok(())
}

/// `kind: "timeout"`: a target not done when the time ran out.
#[derive(Serialize)]
struct TimeoutEvent<'a> {
    target: String,
    last: Option<&'a ProbeReport>,
    /// `refused why`'s cause, when the last probe did not connect.
    cause: Option<&'static str>,
    /// Why it is not done: the diagnosis's sentence, else the last probe's.
    summary: &'a str,
}

/// `kind: "probe"` (with the probe's fields), `"ready"` or `"down"` (the goal reached).
#[derive(Serialize)]
struct StateEvent<'a> {
    target: String,
    /// When, from the start of the wait.
    #[serde(rename = "at_ms", serialize_with = "as_millis")]
    at: Duration,
    #[serde(flatten)]
    report: Option<&'a ProbeReport>,
}

/// A `rest` line: every probe was rejected from the first, and the wait leaves the target alone
/// for `pause` (see [`WaitEvent::Rest`]).
#[derive(Serialize)]
struct RestEvent {
    target: String,
    /// When, from the start of the wait.
    #[serde(rename = "at_ms", serialize_with = "as_millis")]
    at: Duration,
    /// How long the rest lasts.
    #[serde(rename = "pause_ms", serialize_with = "as_millis")]
    pause: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A live line per target on a terminal.
    Live,
    /// A line per change.
    Lines,
    /// NDJSON events on stdout.
    Json,
    /// Nothing.
    Quiet,
}

/// What the user sees while waiting.
struct Display<'a> {
    mode: Mode,
    targets: &'a [Target],
    goal: Goal,
    /// The wait's `--timeout`, which may end it before a rest does.
    timeout: Option<Duration>,
    start: Instant,
    lines: Vec<String>,
    /// Which targets are done (for the summary line of those that do not fit on the screen).
    done: Vec<bool>,
    drawn: usize,
    last_draw: Instant,
}

const SPINNER: [char; 4] = ['|', '/', '-', '\\'];

impl<'a> Display<'a> {
    fn new(mode: Mode, targets: &'a [Target], goal: Goal, timeout: Option<Duration>) -> Self {
        Self {
            mode,
            targets,
            goal,
            timeout,
            start: Instant::now(),
            lines: vec!["waiting".to_owned(); targets.len()],
            done: vec![false; targets.len()],
            drawn: 0,
            last_draw: Instant::now(),
        }
    }

    fn event(&mut self, event: &WaitEvent<'_>) {
        let elapsed = self.start.elapsed();
        let (index, text) = match event {
            WaitEvent::Changed {
                index,
                report,
                rejected_pause,
            } => {
                if self.mode == Mode::Json {
                    let _ = output::json_line(
                        "probe",
                        &StateEvent {
                            target: self.targets[*index].to_string(),
                            at: elapsed,
                            report: Some(report),
                        },
                    );
                }
                let mut text = report.readiness.to_string();
                // Said once, when it starts: the polls from now on are slower.
                match rejected_pause {
                    Some(pause) if *pause >= refused::wait::REJECTED_INTERVAL => {
                        let _ = write!(
                            text,
                            "; trying again in {} s: a rate limit these tries may have tripped (ufw's `limit`) counts every try, and clears after 30 s without",
                            pause.as_secs()
                        );
                    }
                    Some(pause) => {
                        let _ = write!(
                            text,
                            "; trying again every {} s (kube-proxy rejects so until a Service has a ready endpoint; ufw's `limit`, once tripped, needs 30 s without tries)",
                            pause.as_secs()
                        );
                    }
                    None => {}
                }
                // What the server asked: said at each change, as the pace it sets.
                if let Some(pause) = refused::wait::server_pause(report) {
                    let _ = write!(
                        text,
                        "; trying again in {} s, as the server asks (`Retry-After`; a 429 without one: a rate limit counts every try)",
                        pause.as_secs_f64()
                    );
                }
                (*index, text)
            }
            WaitEvent::Rest { index, pause } => {
                if self.mode == Mode::Json {
                    let _ = output::json_line(
                        "rest",
                        &RestEvent {
                            target: self.targets[*index].to_string(),
                            at: elapsed,
                            pause: *pause,
                        },
                    );
                }
                (*index, self.rest_line(elapsed, *pause))
            }
            WaitEvent::Done { index } => {
                self.done[*index] = true;
                if self.mode == Mode::Json {
                    let _ = output::json_line(
                        self.goal.as_label(),
                        &StateEvent {
                            target: self.targets[*index].to_string(),
                            at: elapsed,
                            report: None,
                        },
                    );
                }
                let done = self.goal.as_label();
                (
                    *index,
                    format!("{GOOD}{done}{GOOD:#} after {}", HumanDuration(elapsed)),
                )
            }
            _ => return,
        };
        match self.mode {
            // The state that ends a target's wait is said once, by its `Done`.
            Mode::Lines if matches!(event, WaitEvent::Changed { report, .. } if self.ends(report)) =>
                {}
            Mode::Lines => {
                let mut err = anstream::stderr().lock();
                let _ = writeln!(
                    err,
                    "{} {}: {text}",
                    HumanDuration(elapsed),
                    self.targets[index]
                );
            }
            Mode::Live => {
                self.lines[index] = text;
                if self.last_draw.elapsed() >= Duration::from_millis(50)
                    || matches!(event, WaitEvent::Done { .. })
                {
                    self.draw();
                }
            }
            Mode::Json | Mode::Quiet => {}
        }
    }

    /// What a rest after rejects from the first probe says (see [`WaitEvent::Rest`]).
    fn rest_line(&self, elapsed: Duration, pause: Duration) -> String {
        let until = elapsed + pause;
        let mut text = format!(
            "rejected {} times in a row: resting {} s (until {}), which clears a rate limit tripped before this wait (ufw's `limit`, by tries of your own), then every {} s again",
            refused::wait::REJECTS_BEFORE_REST,
            pause.as_secs(),
            HumanDuration(until),
            refused::wait::REJECTED_FROM_START.as_secs()
        );
        if let Some(timeout) = self.timeout.filter(|t| *t < until) {
            let _ = write!(
                text,
                "; the wait's time limit ({}) ends it first",
                HumanDuration(timeout)
            );
        }
        text
    }

    /// Whether a probe is the state this wait is for.
    fn ends(&self, report: &ProbeReport) -> bool {
        self.goal.is_met(&report.readiness)
    }

    /// Redraws one line per target in place. Each line is clipped to the terminal's width (a
    /// wrapped line would take two rows, and the redraw would leave copies behind), and at most
    /// a screenful is drawn (the cursor cannot go up past the top). The cursor movements go to
    /// stderr as they are: only the colours follow `--color` and `NO_COLOR`.
    fn draw(&mut self) {
        let (width, height) = term::stderr_size().unwrap_or((80, 24));
        let colour = term::stderr_has_color();
        let spin = SPINNER[(self.start.elapsed().as_millis() / 100) as usize % SPINNER.len()];
        let elapsed = HumanDuration(self.start.elapsed());
        let room = height.saturating_sub(1).max(1);
        let shown = if self.targets.len() <= room {
            self.targets.len()
        } else {
            room.saturating_sub(1)
        };
        let mut lines: Vec<String> = self
            .targets
            .iter()
            .zip(&self.lines)
            .take(shown)
            .map(|(target, line)| {
                format!("{WARN}{spin}{WARN:#} {target} {DIM}{elapsed}{DIM:#} {line}")
            })
            .collect();
        if shown < self.targets.len() {
            let ready = self.done[shown..].iter().filter(|done| **done).count();
            lines.push(format!(
                "  and {} more targets ({ready} done)",
                self.targets.len() - shown
            ));
        }
        let mut frame = String::new();
        if self.drawn > 0 {
            let _ = write!(frame, "\r\x1b[{}A", self.drawn);
        }
        for line in &lines {
            let line = if colour {
                Cow::Borrowed(line.as_str())
            } else {
                Cow::Owned(anstream::adapter::strip_str(line).to_string())
            };
            frame.push_str("\x1b[2K");
            // One column spare: text in the last column leaves some terminals about to wrap.
            frame.push_str(&term::clip(&line, width.saturating_sub(1).max(1)));
            frame.push('\n');
        }
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(frame.as_bytes());
        let _ = err.flush();
        self.drawn = lines.len();
        self.last_draw = Instant::now();
    }

    fn finish(&mut self) {
        if self.mode == Mode::Live {
            self.draw();
        }
    }
}
