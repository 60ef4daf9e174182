//! Waiting for targets: probe each until it is ready (or, with `down`, until it no longer
//! accepts), polling fast at first and backing off to a cap, never past the deadline.

use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};

use crate::probe::{ProbeFailure, ProbeOptions, ProbeReport, Readiness, probe};
use crate::target::{Scheme, Target};

/// The first pause between probes of a target.
pub const FIRST_INTERVAL: Duration = Duration::from_millis(2);
/// The default cap of the pause: a service is noticed within half of it on average, and a
/// refused local connect costs a few tens of µs, so 40 probes a second stay far under 1% of a
/// core.
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(25);
/// How long a connection must stay open, once a target has closed one right after accepting
/// it: enough for a proxy that forks per connection to fail its backend and close.
const PROXY_SETTLE: Duration = Duration::from_millis(100);
/// The longest one probe may take, even with a long wait ahead.
const MAX_ATTEMPT: Duration = Duration::from_secs(3);

/// What counts as done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Until {
    /// Every target ready.
    #[default]
    All,
    /// Any one target ready.
    Any,
}

/// How to wait.
#[derive(Debug, Clone)]
pub struct WaitOptions {
    /// How long in all; `None` waits for ever.
    pub timeout: Option<Duration>,
    /// All targets, or any.
    pub until: Until,
    /// Wait until targets no longer accept connections, instead.
    pub down: bool,
    /// The cap of the pause between probes of a target.
    pub interval: Duration,
    /// Ready probes in a row that make a target ready (Kubernetes' `successThreshold`).
    pub successes: u32,
    /// How each probe checks readiness.
    pub probe: ProbeOptions,
}

impl Default for WaitOptions {
    fn default() -> Self {
        Self {
            timeout: Some(Duration::from_secs(30)),
            until: Until::All,
            down: false,
            interval: DEFAULT_INTERVAL,
            successes: 1,
            probe: ProbeOptions::new(),
        }
    }
}

/// Something that happened while waiting, for the caller to show.
#[derive(Debug)]
pub enum WaitEvent<'a> {
    /// A probe of target `index` ended differently from the one before (or is the first).
    Changed {
        /// Which target.
        index: usize,
        /// The probe.
        report: &'a ProbeReport,
    },
    /// Target `index` is done (ready, or down with `down`).
    Done {
        /// Which target.
        index: usize,
    },
}

/// How a wait ended.
#[derive(Debug)]
pub struct WaitResult {
    /// Whether the wait's condition was met.
    pub satisfied: bool,
    /// Per target: whether it is done, and its last probe.
    pub targets: Vec<(bool, Option<ProbeReport>)>,
    /// How long it took.
    pub elapsed: Duration,
}

/// Waits for `targets`, telling `on_event` of every change.
pub async fn wait(
    targets: &[Target],
    options: &WaitOptions,
    mut on_event: impl FnMut(WaitEvent<'_>),
) -> WaitResult {
    let start = Instant::now();
    let deadline = options.timeout.map(|t| start + t);
    let mut state: Vec<(bool, Option<ProbeReport>)> = vec![(false, None); targets.len()];
    let mut pending: FuturesUnordered<_> = targets
        .iter()
        .enumerate()
        .map(|(index, target)| {
            probe_after(
                index,
                target,
                options.probe.clone(),
                deadline,
                Duration::ZERO,
            )
        })
        .collect();
    let mut pauses = vec![FIRST_INTERVAL; targets.len()];
    let mut streaks = vec![0u32; targets.len()];
    // A target that closed a connection right after accepting it is a port proxy with nothing
    // behind it: each later probe watches longer, so a proxy slow to close (one that forks per
    // connection) cannot pass for ready on one lucky probe.
    let mut settles = vec![options.probe.settle; targets.len()];
    let mut done = 0;
    while let Some((index, report)) = pending.next().await {
        let Some(report) = report else {
            // Out of time for this target.
            continue;
        };
        let satisfied = if options.down {
            matches!(
                report.readiness,
                Readiness::Failed(ProbeFailure::Connect(_))
            )
        } else {
            report.readiness.is_ready()
        };
        let changed = state[index]
            .1
            .as_ref()
            .is_none_or(|last| !same_state(&last.readiness, &report.readiness));
        if changed {
            on_event(WaitEvent::Changed {
                index,
                report: &report,
            });
        }
        if matches!(targets[index].scheme(), Scheme::Tcp | Scheme::Unix)
            && matches!(report.readiness, Readiness::NotReady(_))
        {
            settles[index] = settles[index].max(PROXY_SETTLE);
        }
        state[index].1 = Some(report);
        streaks[index] = if satisfied { streaks[index] + 1 } else { 0 };
        if streaks[index] >= options.successes.max(1) {
            state[index].0 = true;
            done += 1;
            on_event(WaitEvent::Done { index });
            if options.until == Until::Any || done == targets.len() {
                break;
            }
            continue;
        }
        // A change starts the pauses over: a service that just went from refused to
        // not-ready is about to be ready.
        if changed {
            pauses[index] = FIRST_INTERVAL;
        }
        let pause = pauses[index];
        pauses[index] = (pause.mul_f64(1.5)).min(options.interval.max(FIRST_INTERVAL));
        let probe_options = ProbeOptions {
            settle: settles[index],
            ..options.probe.clone()
        };
        pending.push(probe_after(
            index,
            &targets[index],
            probe_options,
            deadline,
            pause,
        ));
    }
    let satisfied = match options.until {
        Until::All => state.iter().all(|(done, _)| *done),
        Until::Any => state.iter().any(|(done, _)| *done),
    };
    WaitResult {
        satisfied,
        targets: state,
        elapsed: start.elapsed(),
    }
}

/// Whether two probes ended alike (their timings aside).
fn same_state(a: &Readiness, b: &Readiness) -> bool {
    match (a, b) {
        (Readiness::NotReady(a), Readiness::NotReady(b)) => a == b,
        _ => a.as_label() == b.as_label() && a.reason() == b.reason(),
    }
}

/// Sleeps `pause`, then probes, all cut to the deadline; `None` when no time is left.
async fn probe_after(
    index: usize,
    target: &Target,
    options: ProbeOptions,
    deadline: Option<Instant>,
    pause: Duration,
) -> (usize, Option<ProbeReport>) {
    let left = |now: Instant| deadline.map_or(Duration::MAX, |d| d.saturating_duration_since(now));
    let pause = pause.min(left(Instant::now()));
    if !pause.is_zero() {
        tokio::time::sleep(pause).await;
    }
    let budget = left(Instant::now()).min(MAX_ATTEMPT);
    if budget.is_zero() {
        return (index, None);
    }
    (index, Some(probe(target, &options, budget).await))
}
