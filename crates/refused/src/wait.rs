//! Waiting for targets: probe each until it is ready (or, with [`Goal::Down`], until it no
//! longer accepts), polling fast at first and backing off to a cap, never past the deadline.
//!
//! A target of this host that does not connect is not probed at every poll: the kernel is asked
//! whether a connect could succeed now, and a unix socket path is watched, with a real probe at
//! least every [`REAL_PROBE_EVERY`] all the same.

mod gate;

use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

// tokio's clock, not std's: under a paused clock (`tokio::time::pause`) the pauses and the
// deadline run in virtual time, so the schedule is tested exactly and without waiting.
use tokio::time::Instant;

use crate::probe::{ProbeOptions, ProbeReport, Readiness, probe};
use crate::sys::ticker::Ticker;
use crate::target::{Scheme, Target};
pub use gate::REAL_PROBE_EVERY;
use gate::{Gate, Hold};

/// The first pause between probes of a target.
pub const FIRST_INTERVAL: Duration = Duration::from_millis(2);
/// The default cap of the pause: a service is noticed within half of it on average. A poll of
/// a closed port of this host is one wakeup and one question to the kernel: 40 a second cost
/// 0.12-0.29% of a core on a small VM, about what a C loop asking the same question costs
/// (0.21-0.29%), and one that only wakes 40 times a second 0.17-0.21% (`scripts/bench-wait.py`).
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(25);
/// The pause after a firewall rejected a probe (an ICMP error) when earlier probes were not
/// rejected: a limit they tripped, such as ufw's `limit`, which rejects a new connection from an
/// address that made six within 30 s, and counts a rejected one twice (its `recent --set` and
/// `--update` rules both add it): fast polls keep it tripped for as long as they go on, and only
/// a pause longer than 30 s clears it, whatever came before.
pub const REJECTED_INTERVAL: Duration = Duration::from_secs(31);
/// The pause after a firewall rejected every probe from the first: a reject that lifts when the
/// service does (kube-proxy's, for a Service until it has a ready endpoint), asked once a second
/// as `wait-for-it` asks.
pub const REJECTED_FROM_START: Duration = Duration::from_secs(1);
/// Probes rejected in a row from the first, after which the wait rests [`REJECTED_INTERVAL`]
/// once (about 30 s at [`REJECTED_FROM_START`]'s pace): a limit tripped before the wait began
/// (a person's own tries at ufw's `limit`ed ssh port) rejects from the first probe too, and a
/// poll a second keeps it tripped for ever. A reject that is still there after the rest is no
/// such limit, and is asked once a second again.
pub const REJECTS_BEFORE_REST: u32 = 30;
/// The longest pause an HTTP server's `Retry-After` sets (a longer one is taken as this).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// The pause after a 429 that says no `Retry-After`: a rate limit counts the polls.
pub const RATE_LIMITED_INTERVAL: Duration = Duration::from_secs(1);

/// The pause an HTTP server asked of its clients in the probe's answer: its `Retry-After` (of
/// a 429 or a 503, at most [`MAX_RETRY_AFTER`]), or [`RATE_LIMITED_INTERVAL`] after a 429
/// without one (a rate limit that fast polls only keep tripped).
pub fn server_pause(report: &ProbeReport) -> Option<Duration> {
    let http = report.http.as_ref()?;
    // `retry_after` is read of a 429 or a 503 alone.
    match (http.status, http.retry_after) {
        (_, Some(after)) => Some(after.min(MAX_RETRY_AFTER)),
        (429, None) => Some(RATE_LIMITED_INTERVAL),
        _ => None,
    }
}

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

/// What a wait waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Goal {
    /// The target is ready: it connects and its protocol says yes.
    #[default]
    Ready,
    /// The target no longer accepts connections: the connect itself fails (a service that
    /// accepts and says "not ready" is still up).
    Down,
}

impl Goal {
    /// Whether a probe reached this goal.
    pub const fn is_met(self, readiness: &Readiness) -> bool {
        match self {
            Self::Ready => readiness.is_ready(),
            Self::Down => readiness.is_connect_failure(),
        }
    }

    /// `ready` or `down`.
    pub const fn as_label(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Down => "down",
        }
    }
}

/// How to wait.
#[derive(Debug, Clone)]
pub struct WaitOptions {
    /// How long in all; `None` waits for ever.
    pub timeout: Option<Duration>,
    /// All targets, or any.
    pub until: Until,
    /// Ready, or down.
    pub goal: Goal,
    /// The cap of the pause between probes of a target.
    pub interval: Duration,
    /// Probes in a row that reach the goal to make a target done (Kubernetes'
    /// `successThreshold`).
    pub successes: u32,
    /// How each probe checks readiness.
    pub probe: ProbeOptions,
    /// Whether a wait for a port of this host may have the kernel tell it when a socket starts
    /// to listen (an eBPF program, which only root may load), and sleep until then, instead of
    /// asking the kernel's tables at every pause. Where the program cannot be loaded, the wait
    /// polls as without it.
    pub listen_events: bool,
}

impl Default for WaitOptions {
    fn default() -> Self {
        Self {
            timeout: Some(Duration::from_secs(30)),
            until: Until::All,
            goal: Goal::Ready,
            interval: DEFAULT_INTERVAL,
            successes: 1,
            probe: ProbeOptions::new(),
            listen_events: true,
        }
    }
}

/// Something that happened while waiting, for the caller to show.
#[derive(Debug)]
#[non_exhaustive]
pub enum WaitEvent<'a> {
    /// A probe of target `index` ended differently from the one before (or is the first).
    Changed {
        /// Which target.
        index: usize,
        /// The probe.
        report: &'a ProbeReport,
        /// The slower pace the probe's firewall reject sets, if it was one (see
        /// [`TargetState::rejected_pause`]).
        rejected_pause: Option<Duration>,
    },
    /// Every probe of target `index` was rejected by a firewall, [`REJECTS_BEFORE_REST`] of
    /// them: the wait leaves it alone for `pause`, which clears a rate limit tripped before the
    /// wait began, then asks once a second again.
    Rest {
        /// Which target.
        index: usize,
        /// How long.
        pause: Duration,
    },
    /// Target `index` reached the goal.
    Done {
        /// Which target.
        index: usize,
    },
}

/// Where one target's wait stands.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TargetState {
    /// Whether it reached the goal (as many probes in a row as asked).
    pub done: bool,
    /// Its last probe; `None` if none finished in time.
    pub last: Option<ProbeReport>,
    /// How many probes finished.
    pub probes: u32,
    /// Polls that made no probe: the kernel said no connect could succeed yet, or a unix
    /// socket's directory had not changed (see [`REAL_PROBE_EVERY`]).
    pub skipped: u32,
    /// Probes in a row that reached the goal.
    streak: u32,
    /// Whether a probe before the last ended otherwise than in a firewall's reject: a reject
    /// that came after one is a limit these probes may have tripped (see
    /// [`REJECTED_INTERVAL`]).
    answered_before: bool,
    /// Probes rejected by a firewall while nothing else answered (see
    /// [`REJECTS_BEFORE_REST`]).
    rejects_from_start: u32,
}

impl TargetState {
    fn new() -> Self {
        Self {
            done: false,
            last: None,
            probes: 0,
            skipped: 0,
            streak: 0,
            answered_before: false,
            rejects_from_start: 0,
        }
    }

    /// Records a probe; returns whether it ended differently from the one before.
    fn record(&mut self, report: ProbeReport, goal: Goal) -> bool {
        self.answered_before |= self
            .last
            .as_ref()
            .is_some_and(|last| last.readiness.firewall_reject().is_none());
        if !self.answered_before && report.readiness.firewall_reject().is_some() {
            self.rejects_from_start += 1;
        }
        let changed = self
            .last
            .as_ref()
            .is_none_or(|last| !same_state(&last.readiness, &report.readiness));
        self.streak = if goal.is_met(&report.readiness) {
            self.streak + 1
        } else {
            0
        };
        self.probes += 1;
        self.last = Some(report);
        changed
    }

    /// The pause a firewall's reject of its last probe asks for, if it was one: a limit these
    /// probes tripped (a reject after other answers) is left [`REJECTED_INTERVAL`] to clear; a
    /// reject from the first probe on (kube-proxy's for a Service without endpoints, until one
    /// is ready) is asked again every [`REJECTED_FROM_START`], but for one rest of
    /// [`REJECTED_INTERVAL`] after [`REJECTS_BEFORE_REST`] of them (a limit tripped before the
    /// wait).
    pub fn rejected_pause(&self) -> Option<Duration> {
        self.last.as_ref()?.readiness.firewall_reject()?;
        Some(if self.answered_before || self.rests() {
            REJECTED_INTERVAL
        } else {
            REJECTED_FROM_START
        })
    }

    /// Whether its rejects from the first probe have just come to [`REJECTS_BEFORE_REST`].
    fn rests(&self) -> bool {
        !self.answered_before
            && self.rejects_from_start == REJECTS_BEFORE_REST
            && self
                .last
                .as_ref()
                .is_some_and(|last| last.readiness.firewall_reject().is_some())
    }

    /// Whether its last probe was a failed connect (nothing to diagnose otherwise: a service
    /// that connects and says no has said why).
    pub fn is_connect_failure(&self) -> bool {
        self.last
            .as_ref()
            .is_some_and(|r| r.readiness.is_connect_failure())
    }
}

/// The pauses between one target's polls.
#[derive(Debug, Clone, Copy)]
struct Pauses {
    /// The next one.
    next: Duration,
}

impl Pauses {
    const fn new() -> Self {
        Self {
            next: FIRST_INTERVAL,
        }
    }

    /// The pause before the next poll: from [`FIRST_INTERVAL`] after a change (a service that
    /// just went from refused to not-ready is about to be ready), growing ×1.5 to the cap.
    fn take(&mut self, changed: bool, cap: Duration) -> Duration {
        if changed {
            self.next = FIRST_INTERVAL;
        }
        let pause = self.next;
        self.next = pause.mul_f64(1.5).min(cap.max(FIRST_INTERVAL));
        pause
    }
}

/// How a wait ended.
#[derive(Debug)]
#[non_exhaustive]
pub struct WaitResult {
    /// Whether the wait's condition was met.
    pub satisfied: bool,
    /// Each target's state, in the order given.
    pub targets: Vec<TargetState>,
    /// How long it took.
    pub elapsed: Duration,
}

/// Waits for `targets`, telling `on_event` of every change.
///
/// Each target's polls, from one real probe to the next, are one future: a poll the gate skips
/// never comes back to this loop.
pub async fn wait(
    targets: &[Target],
    options: &WaitOptions,
    mut on_event: impl FnMut(WaitEvent<'_>),
) -> WaitResult {
    let start = Instant::now();
    let deadline = options.timeout.and_then(|t| start.checked_add(t));
    let mut states: Vec<TargetState> = targets.iter().map(|_| TargetState::new()).collect();
    let mut rounds = InFlight::default();
    for (index, target) in targets.iter().enumerate() {
        rounds.push(
            Round {
                index,
                target: target.clone(),
                options: options.probe.clone(),
                deadline,
                cap: options.interval,
                pauses: Pauses::new(),
                gate: Gate::new(target, options.goal, options.listen_events),
                skipped: 0,
            }
            .run(Duration::ZERO),
        );
    }
    // A target that closed a connection right after accepting it is a port proxy with nothing
    // behind it: each later probe watches longer, so a proxy slow to close (one that forks per
    // connection) cannot pass for ready on one lucky probe, and its program's name no longer
    // ends the settle early (it proved that it closes, whatever it is called).
    let mut done = 0;
    while let Some((mut round, report)) = rounds.next().await {
        let index = round.index;
        let state = &mut states[index];
        state.skipped += std::mem::take(&mut round.skipped);
        let Some(report) = report else {
            // Out of time for this target.
            continue;
        };
        // A probe the deadline cut short met only that: its silence is the wait's, not the
        // service's, and the answer before it (`LOADING`, a 503 that takes a while) says more.
        let cut = deadline.is_some_and(|d| Instant::now() >= d);
        if cut
            && report.readiness.is_silence()
            && state
                .last
                .as_ref()
                .is_some_and(|last| !last.readiness.is_silence())
        {
            continue;
        }
        let changed = state.record(*report, options.goal);
        let rejected_pause = state.rejected_pause();
        if changed {
            if let Some(report) = &state.last {
                on_event(WaitEvent::Changed {
                    index,
                    report,
                    rejected_pause,
                });
            }
        } else if state.rests() {
            on_event(WaitEvent::Rest {
                index,
                pause: REJECTED_INTERVAL,
            });
        }
        let closed_at_once = matches!(targets[index].scheme(), Scheme::Tcp | Scheme::Unix)
            && state
                .last
                .as_ref()
                .is_some_and(|r| matches!(r.readiness, Readiness::NotReady(_)));
        if closed_at_once {
            // A slow forwarder's close (rootlessport's) came after a settle longer still.
            let late = state.last.as_ref().and_then(|r| r.closed_late);
            round.options.settle = round
                .options
                .settle
                .max(PROXY_SETTLE)
                .max(late.unwrap_or_default());
            round.options.owner_check = false;
        }
        if state.streak >= options.successes.max(1) {
            state.done = true;
            done += 1;
            on_event(WaitEvent::Done { index });
            if options.until == Until::Any || done == targets.len() {
                break;
            }
            continue;
        }
        let mut pause = round.pauses.take(changed, options.interval);
        if let Some(rejected) = rejected_pause {
            // A rate limit counts every try: fast polls would keep it tripped for as long as
            // they go on, and kube-proxy's reject lifts only when the Service has an endpoint.
            pause = pause.max(rejected);
        }
        if let Some(asked) = state.last.as_ref().and_then(server_pause) {
            // What the server asked of its clients (`Retry-After`, a 429's limit).
            pause = pause.max(asked);
        }
        rounds.push(round.run(pause));
    }
    let satisfied = match options.until {
        Until::All => states.iter().all(|s| s.done),
        Until::Any => states.iter().any(|s| s.done),
    };
    WaitResult {
        satisfied,
        targets: states,
        elapsed: start.elapsed(),
    }
}

/// The targets' rounds in flight, each polled at every wakeup of the wait (a few targets: a
/// few polls of futures that find nothing ready, no system call). Not `FuturesUnordered`,
/// which polls only the woken ones but, once it has polled as many as it holds, wakes its
/// caller again to be fair to the rest: with one target (most waits) that is every tick, and
/// each costs the runtime a second look at its driver (an `epoll_wait`) and a second poll of
/// everything above.
struct InFlight<F> {
    rounds: Vec<Pin<Box<F>>>,
}

impl<F> Default for InFlight<F> {
    fn default() -> Self {
        Self { rounds: Vec::new() }
    }
}

impl<F: Future> InFlight<F> {
    fn push(&mut self, round: F) {
        self.rounds.push(Box::pin(round));
    }

    /// The next round to end, or `None` when none is left.
    async fn next(&mut self) -> Option<F::Output> {
        if self.rounds.is_empty() {
            return None;
        }
        std::future::poll_fn(|cx| {
            for index in 0..self.rounds.len() {
                if let Poll::Ready(output) = self.rounds[index].as_mut().poll(cx) {
                    drop(self.rounds.swap_remove(index));
                    return Poll::Ready(Some(output));
                }
            }
            Poll::Pending
        })
        .await
    }
}

/// Whether two probes ended alike (their timings aside).
fn same_state(a: &Readiness, b: &Readiness) -> bool {
    match (a, b) {
        (Readiness::NotReady(a), Readiness::NotReady(b))
        | (Readiness::Denied(a), Readiness::Denied(b)) => a == b,
        // Both `not-ready`, but one passes with time and the other does not.
        (Readiness::NotReady(_), Readiness::Denied(_))
        | (Readiness::Denied(_), Readiness::NotReady(_)) => false,
        // A firewall's reject is refused as a closed port is, but it is news: the polls slow.
        _ => {
            a.as_label() == b.as_label()
                && a.reason() == b.reason()
                && a.firewall_reject().is_some() == b.firewall_reject().is_some()
        }
    }
}

/// One target's polls up to its next real probe: what they need, handed from one round to the
/// next.
#[derive(Debug)]
struct Round {
    index: usize,
    target: Target,
    /// How it probes (the settle longer once it looked like a proxy).
    options: ProbeOptions,
    deadline: Option<Instant>,
    /// The cap of the pauses.
    cap: Duration,
    /// Its pauses: the first of each round is taken by the wait's loop, the rest by the round.
    pauses: Pauses,
    gate: Gate,
    /// Polls the gate skipped this round.
    skipped: u32,
}

impl Round {
    /// Sleeps `pause`, then polls until the gate lets a probe through and probes, pausing as the
    /// schedule says after each skipped poll, all cut to the deadline. Gives itself back with the
    /// report, or `None` when no time was left for a probe.
    async fn run(mut self, pause: Duration) -> (Self, Option<Box<ProbeReport>>) {
        let deadline = self.deadline;
        let left =
            |now: Instant| deadline.map_or(Duration::MAX, |d| d.saturating_duration_since(now));
        // One timer for the whole round, moved at each pause rather than made anew; once the
        // pauses reach their cap, a kernel timer instead (see `Ticker`), unless the deadline
        // comes first.
        let sleep = tokio::time::sleep(pause.min(left(Instant::now())));
        tokio::pin!(sleep);
        let mut ticker: Option<Ticker> = None;
        // No pause (a target's first poll): no timer either, which would wait for the timer
        // wheel's next millisecond.
        let mut pausing = !pause.is_zero();
        loop {
            match &mut ticker {
                _ if !pausing => pausing = true,
                Some(kernel) => {
                    if kernel.tick().await.is_err() {
                        ticker = None;
                    }
                }
                None => sleep.as_mut().await,
            }
            let now = Instant::now();
            if left(now).is_zero() {
                return (self, None);
            }
            if self.gate.hold(deadline).await == Hold::Probe {
                break;
            }
            // Nothing recorded: the state keeps the last real probe.
            self.skipped += 1;
            let pause = self.pauses.take(false, self.cap);
            if pause >= left(now) {
                // The last pause, cut to the deadline.
                ticker = None;
                sleep.as_mut().reset(now + left(now));
            } else if ticker.is_none() {
                if pause == self.cap.max(FIRST_INTERVAL) && is_clock_real() {
                    // A gated TCP target polls in a thread up to its next probe.
                    if let Some(skipped) = self.gate.polls_in_thread(pause, deadline).await {
                        self.skipped += skipped;
                        if left(Instant::now()).is_zero() {
                            return (self, None);
                        }
                        break;
                    }
                    ticker = Ticker::new(pause).ok();
                }
                if ticker.is_none() {
                    sleep.as_mut().reset(now + pause);
                }
            }
        }
        let started = Instant::now();
        let budget = left(started).min(MAX_ATTEMPT);
        if budget.is_zero() {
            return (self, None);
        }
        let report = probe(&self.target, &self.options, budget).await;
        self.gate.probed(&report, started);
        (self, Some(Box::new(report)))
    }
}

/// Whether tokio's clock is the real one, which a kernel timer follows. It is, unless paused
/// (`tokio::time::pause`, tests): then it only moves when the runtime idles or is told to, and a
/// paused clock that moved at all is apart from the real one by far more than a millisecond
/// (a round asks only after one pause on tokio's clock, 2 ms at the least).
fn is_clock_real() -> bool {
    let tokio = Instant::now().into_std();
    let real = std::time::Instant::now();
    let apart = real
        .saturating_duration_since(tokio)
        .max(tokio.saturating_duration_since(real));
    apart < Duration::from_millis(1)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use refused_lab::{RefusedPort, Scratch};

    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Counts the wakes it gets.
    #[derive(Default)]
    struct Wakes(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// A round that is not ready leaves its caller asleep (no wake of its own), and a ready one
    /// comes out whichever its place.
    #[test]
    fn rounds_in_flight_do_not_wake_their_caller() {
        let counted = Arc::new(Wakes::default());
        let waker = std::task::Waker::from(Arc::clone(&counted));
        let mut cx = std::task::Context::from_waker(&waker);
        let mut in_flight = InFlight::default();
        let (sender, receiver) = tokio::sync::oneshot::channel::<u8>();
        in_flight
            .push(Box::pin(async { receiver.await.unwrap_or(0) })
                as Pin<Box<dyn Future<Output = u8>>>);
        for _ in 0..3 {
            assert!(
                Box::pin(in_flight.next())
                    .as_mut()
                    .poll(&mut cx)
                    .is_pending()
            );
        }
        assert_eq!(counted.0.load(std::sync::atomic::Ordering::Relaxed), 0);
        in_flight.push(Box::pin(std::future::pending()));
        sender.send(7).unwrap();
        assert_eq!(counted.0.load(std::sync::atomic::Ordering::Relaxed), 1);
        let next = Box::pin(in_flight.next()).as_mut().poll(&mut cx);
        assert_eq!(next, Poll::Ready(Some(7)));
        assert_eq!(in_flight.rounds.len(), 1);
    }

    fn options(goal: Goal, timeout: Duration) -> WaitOptions {
        let mut probe = ProbeOptions::new();
        // No settle: a listener that nobody accepts from is ready at once, and no probe sleeps.
        probe.settle = Duration::ZERO;
        WaitOptions {
            timeout: Some(timeout),
            goal,
            probe,
            ..WaitOptions::default()
        }
    }

    /// Waits for one target until `goal` or `timeout`, with no events.
    async fn wait_for(target: Target, goal: Goal, timeout: Duration) -> WaitResult {
        wait(&[target], &options(goal, timeout), |_| {}).await
    }

    fn unix_target(path: &std::path::Path) -> Target {
        format!("unix://{}", path.display()).parse().unwrap()
    }

    fn target(port: &RefusedPort) -> Target {
        port.addr().to_string().parse().unwrap()
    }

    /// A probe refused by a reset, or by a firewall's ICMP port-unreachable.
    fn refused_probe(icmp: bool) -> ProbeReport {
        use crate::connect::{Address, Attempt, ConnectError, ConnectErrorKind, IcmpError};
        use crate::outcome::Outcome;
        let attempt = Attempt {
            address: Address::Inet("10.0.0.2:22".parse().unwrap()),
            outcome: Outcome::Refused,
            errno: Outcome::Refused.errno(),
            started: Duration::ZERO,
            elapsed: Duration::from_millis(1),
            try_number: 1,
            icmp: icmp.then_some(IcmpError {
                version: crate::connect::IcmpVersion::V4,
                icmp_type: 3,
                code: 3,
                from: Some("10.0.0.2".parse().unwrap()),
            }),
            local_port: None,
        };
        let err = ConnectError::new(
            "10.0.0.2:22".into(),
            ConnectErrorKind::Failed(Outcome::Refused),
            vec![attempt.clone()],
            Duration::from_millis(1),
        );
        ProbeReport {
            readiness: Readiness::Failed(crate::probe::ProbeFailure::Connect(err)),
            attempts: vec![attempt],
            elapsed: Duration::from_millis(1),
            connect: None,
            http: None,
            tls: None,
            held_open: None,
            closed_late: None,
        }
    }

    /// Rejected from the first probe (kube-proxy's reject of a Service without endpoints):
    /// once a second; rejected after other answers (a limit the probes tripped): 31 s; answered
    /// by a reset: no pause of a reject's.
    #[test]
    fn a_firewalls_reject_slows_the_polls_by_what_came_before() {
        let mut from_start = TargetState::new();
        from_start.record(refused_probe(true), Goal::Ready);
        from_start.record(refused_probe(true), Goal::Ready);
        assert_eq!(from_start.rejected_pause(), Some(REJECTED_FROM_START));
        let mut tripped = TargetState::new();
        tripped.record(refused_probe(false), Goal::Ready);
        assert_eq!(tripped.rejected_pause(), None);
        assert!(
            tripped.record(refused_probe(true), Goal::Ready),
            "a reject is news"
        );
        assert_eq!(tripped.rejected_pause(), Some(REJECTED_INTERVAL));
    }

    /// Rejected from the first probe, for [`REJECTS_BEFORE_REST`] probes: one rest long enough
    /// for a limit tripped before the wait to clear, then once a second again.
    #[test]
    fn rejects_from_the_start_rest_once() {
        let mut state = TargetState::new();
        let pauses: Vec<Option<Duration>> = (0..REJECTS_BEFORE_REST + 3)
            .map(|_| {
                state.record(refused_probe(true), Goal::Ready);
                state.rejected_pause()
            })
            .collect();
        let rests: Vec<usize> = (0..pauses.len())
            .filter(|&i| pauses[i] == Some(REJECTED_INTERVAL))
            .collect();
        assert_eq!(rests, [REJECTS_BEFORE_REST as usize - 1]);
        assert!(
            pauses[..rests[0]]
                .iter()
                .all(|p| *p == Some(REJECTED_FROM_START))
        );
        assert!(
            pauses[rests[0] + 1..]
                .iter()
                .all(|p| *p == Some(REJECTED_FROM_START))
        );
    }

    #[test]
    fn the_pauses_grow_to_the_cap_and_start_over_on_a_change() {
        let mut state = Pauses::new();
        let pauses: Vec<Duration> = (0..9)
            .map(|_| state.take(false, DEFAULT_INTERVAL))
            .collect();
        let micros: Vec<u128> = pauses.iter().map(Duration::as_micros).collect();
        assert_eq!(
            micros,
            [2000, 3000, 4500, 6750, 10125, 15187, 22781, 25000, 25000]
        );
        assert_eq!(state.take(true, DEFAULT_INTERVAL), FIRST_INTERVAL);
        assert_eq!(state.take(false, DEFAULT_INTERVAL), 3 * MS);
        // A cap under the first pause is the first pause.
        let mut state = Pauses::new();
        assert_eq!(state.take(false, Duration::ZERO), FIRST_INTERVAL);
        assert_eq!(state.take(false, Duration::ZERO), FIRST_INTERVAL);
    }

    #[test]
    fn the_goal_down_is_a_failed_connect_not_a_service_that_says_no() {
        assert!(Goal::Ready.is_met(&Readiness::Ready(String::new())));
        assert!(!Goal::Ready.is_met(&Readiness::NotReady("503".into())));
        assert!(!Goal::Down.is_met(&Readiness::NotReady("503".into())));
        assert!(!Goal::Down.is_met(&Readiness::Ready(String::new())));
    }

    #[test]
    fn a_denied_client_is_a_new_state_after_not_ready() {
        let loading = Readiness::NotReady("LOADING Redis is loading the dataset".into());
        let denied = Readiness::Denied("DENIED Redis is running in protected mode".into());
        assert!(!same_state(&loading, &denied));
        assert!(same_state(&denied, &denied.clone()));
        assert!(!Goal::Down.is_met(&denied));
    }

    /// Under a paused clock, a refused target is polled exactly on the schedule: at 0, then after
    /// each pause (2, 3, 4.5 ... ms, then 25 ms) while the pause ends before the deadline. Only
    /// the first poll probes: nothing listens, the kernel says so, and the real probe every
    /// second is not due within the wait.
    #[tokio::test(start_paused = true)]
    async fn a_refused_target_is_probed_on_the_schedule_until_the_deadline() {
        let port = RefusedPort::v4().unwrap();
        let timeout = Duration::from_secs(1);
        let started = Instant::now();
        let mut changes = 0;
        let result = wait(&[target(&port)], &options(Goal::Ready, timeout), |event| {
            assert!(matches!(event, WaitEvent::Changed { .. }), "{event:?}");
            changes += 1;
        })
        .await;
        assert!(!result.satisfied);
        assert_eq!(changes, 1, "one change: the first probe");
        let state = &result.targets[0];
        assert!(!state.done);
        assert!(state.is_connect_failure());
        // The schedule, worked out apart from the code: probes start while the sum of the
        // pauses is under the timeout.
        let mut expected = 1;
        let (mut at, mut pause) = (Duration::ZERO, FIRST_INTERVAL);
        loop {
            at += pause;
            if at >= timeout {
                break;
            }
            expected += 1;
            pause = pause.mul_f64(1.5).min(DEFAULT_INTERVAL);
        }
        assert_eq!(expected, 45);
        assert_eq!(state.probes + state.skipped, expected);
        assert_eq!((state.probes, state.skipped), (1, 44));
        // The wait ends at its deadline, not a pause later.
        assert_eq!(result.elapsed, timeout);
        assert_eq!(started.elapsed(), timeout);
    }

    /// A listener that starts at 100 ms is noticed by the next poll: within one cap of the pause
    /// (25 ms), whatever the clock. The kernel's answer lets that poll probe: two probes in
    /// all, the first and the one that connects.
    #[tokio::test(start_paused = true)]
    async fn a_late_listener_is_noticed_within_one_pause() {
        let port = Arc::new(RefusedPort::v4().unwrap());
        let late = Arc::clone(&port);
        tokio::spawn(async move {
            tokio::time::sleep(100 * MS).await;
            late.socket().listen(16).unwrap();
        });
        let started = Instant::now();
        let done_at = Mutex::new(None);
        let result = wait(
            &[target(&port)],
            &options(Goal::Ready, Duration::from_secs(5)),
            |event| {
                if let WaitEvent::Done { .. } = event {
                    *done_at.lock().unwrap() = Some(started.elapsed());
                }
            },
        )
        .await;
        assert!(result.satisfied);
        let done_at = done_at.into_inner().unwrap().unwrap();
        assert!(
            done_at >= 100 * MS && done_at <= 125 * MS,
            "noticed at {done_at:?}"
        );
        assert_eq!(result.elapsed, done_at);
        let state = &result.targets[0];
        assert_eq!(state.probes, 2, "{state:?}");
        assert!(state.skipped > 0, "{state:?}");
    }

    /// On the real clock, the polls at the cap run on a kernel timer: a listener that appears is
    /// noticed the same way, by the poll after it (two probes, or three if this machine stalled
    /// past the real probe of 1 s).
    #[tokio::test]
    async fn on_the_real_clock_a_late_listener_is_noticed_too() {
        let port = Arc::new(RefusedPort::v4().unwrap());
        let late = Arc::clone(&port);
        tokio::spawn(async move {
            tokio::time::sleep(300 * MS).await;
            late.socket().listen(16).unwrap();
        });
        let result = wait_for(target(&port), Goal::Ready, Duration::from_secs(30)).await;
        assert!(result.satisfied);
        let state = &result.targets[0];
        assert!(matches!(state.probes, 2 | 3), "{state:?}");
        assert!(state.skipped > 0, "{state:?}");
    }

    /// A port nobody listens on is still probed for real every second (a DNAT rule could serve
    /// it): at 0, then at the first polls past 1 s and 2 s.
    #[tokio::test(start_paused = true)]
    async fn a_gated_target_is_still_probed_every_second() {
        let port = RefusedPort::v4().unwrap();
        let result = wait_for(target(&port), Goal::Ready, Duration::from_millis(2500)).await;
        assert!(!result.satisfied);
        let state = &result.targets[0];
        assert_eq!(state.probes, 3, "{state:?}");
        assert!(state.skipped > 80, "{state:?}");
        assert!(state.is_connect_failure());
    }

    /// A unix socket path that does not exist is not polled: the wait sleeps on its directory
    /// and probes when the socket appears, at once, whatever the pause.
    #[tokio::test(start_paused = true)]
    async fn a_unix_socket_that_appears_is_noticed_through_its_directory() {
        let dir = Scratch::new("wait-unix");
        let path = dir.join("app.sock");
        let late = path.clone();
        let server = tokio::spawn(async move {
            tokio::time::sleep(300 * MS).await;
            std::os::unix::net::UnixListener::bind(late).unwrap()
        });
        let target = unix_target(&path);
        let result = wait_for(target, Goal::Ready, Duration::from_secs(5)).await;
        assert!(result.satisfied);
        // At the bind itself, not at the next pause or the real probe of 1 s.
        assert_eq!(result.elapsed, 300 * MS);
        let state = &result.targets[0];
        assert_eq!((state.probes, state.skipped), (2, 0), "{state:?}");
        drop(server.await.unwrap());
    }

    /// A stale socket file (its server gone, nothing bound to it) is waited on the same way; a
    /// server that starts again replaces it.
    #[tokio::test(start_paused = true)]
    async fn a_stale_unix_socket_is_waited_on_until_replaced() {
        let dir = Scratch::new("wait-stale");
        let path = dir.join("app.sock");
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let late = path.clone();
        let server = tokio::spawn(async move {
            tokio::time::sleep(300 * MS).await;
            std::fs::remove_file(&late).unwrap();
            std::os::unix::net::UnixListener::bind(late).unwrap()
        });
        let target = unix_target(&path);
        let result = wait_for(target, Goal::Ready, Duration::from_secs(5)).await;
        assert!(result.satisfied);
        assert_eq!(result.elapsed, 300 * MS);
        // The first probe (refused), then one at the removal (missing) or the bind (ready).
        let state = &result.targets[0];
        assert!(matches!(state.probes, 2 | 3), "{state:?}");
        drop(server.await.unwrap());
    }

    /// A stale socket that stays stale is still probed for real every second (a server in
    /// another network namespace may be bound to it), and never between.
    #[tokio::test(start_paused = true)]
    async fn a_stale_unix_socket_is_probed_every_second() {
        let dir = Scratch::new("wait-still");
        let path = dir.join("app.sock");
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let target = unix_target(&path);
        let result = wait_for(target, Goal::Ready, Duration::from_millis(2500)).await;
        assert!(!result.satisfied);
        let state = &result.targets[0];
        assert_eq!(state.probes, 3, "{state:?}");
        assert_eq!(
            state.last.as_ref().map(|r| r.readiness.reason().as_label()),
            Some("socket-stale")
        );
    }

    /// A socket bound but not listening yet is not stale: `listen()` changes nothing on the file
    /// system, so it is polled as usual.
    #[tokio::test(start_paused = true)]
    async fn a_bound_unix_socket_that_listens_later_is_polled() {
        let dir = Scratch::new("wait-bound");
        let path = dir.join("app.sock");
        let socket =
            socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None).unwrap();
        socket
            .bind(&socket2::SockAddr::unix(&path).unwrap())
            .unwrap();
        let server = tokio::spawn(async move {
            tokio::time::sleep(100 * MS).await;
            socket.listen(8).unwrap();
            socket
        });
        let target = unix_target(&path);
        let result = wait_for(target, Goal::Ready, Duration::from_secs(5)).await;
        assert!(result.satisfied);
        assert!(result.elapsed <= 125 * MS, "{:?}", result.elapsed);
        assert_eq!(result.targets[0].skipped, 0);
        drop(server.await.unwrap());
    }

    /// After a change the pauses start over at 2 ms: three ready probes in a row take a few
    /// ms after the service came up, not three caps.
    #[tokio::test(start_paused = true)]
    async fn a_change_starts_the_pauses_over() {
        let port = Arc::new(RefusedPort::v4().unwrap());
        let late = Arc::clone(&port);
        tokio::spawn(async move {
            tokio::time::sleep(300 * MS).await;
            late.socket().listen(16).unwrap();
        });
        let started = Instant::now();
        let seen = Mutex::new(Vec::new());
        let mut options = options(Goal::Ready, Duration::from_secs(5));
        options.successes = 3;
        let result = wait(&[target(&port)], &options, |event| {
            let kind = match event {
                WaitEvent::Changed { report, .. } => report.readiness.state().as_label(),
                WaitEvent::Rest { .. } => "rest",
                WaitEvent::Done { .. } => "done",
            };
            seen.lock().unwrap().push((kind, started.elapsed()));
        })
        .await;
        assert!(result.satisfied);
        let seen = seen.into_inner().unwrap();
        let kinds: Vec<&str> = seen.iter().map(|(kind, _)| *kind).collect();
        assert_eq!(kinds, ["down", "up", "done"]);
        let (up, done) = (seen[1].1, seen[2].1);
        // Two pauses of 2 and 3 ms (each rounded up to the timer's millisecond at most).
        let gap = done.checked_sub(up).unwrap();
        assert!(
            gap >= 5 * MS && gap <= 7 * MS,
            "up at {up:?}, done at {done:?}"
        );
        assert!(
            result.targets[0].probes > 3,
            "refused probes, then three ready"
        );
    }

    /// `Goal::Down`: done at the first failed connect after the listener closes.
    #[tokio::test(start_paused = true)]
    async fn down_is_done_when_the_listener_goes() {
        let port = RefusedPort::v4().unwrap();
        port.socket().listen(16).unwrap();
        let addr = target(&port);
        tokio::spawn(async move {
            tokio::time::sleep(50 * MS).await;
            drop(port);
        });
        let started = Instant::now();
        let result = wait_for(addr, Goal::Down, Duration::from_secs(5)).await;
        assert!(result.satisfied);
        let state = &result.targets[0];
        assert!(state.done);
        assert!(state.is_connect_failure());
        assert_eq!(state.skipped, 0, "waiting for down never skips a probe");
        let elapsed = started.elapsed();
        assert!(elapsed >= 50 * MS && elapsed <= 75 * MS, "{elapsed:?}");
    }
}
