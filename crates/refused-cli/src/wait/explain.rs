//! The explanation of a wait that ran out of time: the `refused why` cause of each target whose
//! connects still fail, within the wait's own `--timeout` (docs/contract.md: a process ends within
//! 100 ms past it). The last probe's failed connect is the evidence of the network, made over the
//! whole wait, so it is not made again; this host's evidence is read ahead, shortly before the
//! deadline, so that explaining takes next to no time after it. A target that connects but is
//! not ready is diagnosed whole in that time (its probe, a TLS handshake where `http://` met
//! a closed connection...), so the report can say what `why` would: waiting cannot help an
//! `http://` target on a TLS port.

use std::time::Duration;

use refused::Cause;
use refused::diagnose::{self, Diagnosis, Options, ReadAhead};
use refused::probe::{ProbeFailure, ProbeOptions, ProbeReport, Readiness};
use refused::wait::{TargetState, WaitEvent};
use refused::{ConnectError, Target};
use tokio::time::Instant;

/// How long before the deadline this host's evidence is read (at most a quarter of the wait):
/// about 20 ms on an idle host, several times that on a loaded one.
const READ_AHEAD: Duration = Duration::from_millis(250);

/// What the explanation needs to know while the wait goes on.
pub struct Explainer<'a> {
    targets: &'a [Target],
    /// Per target, what is known of it while the wait goes on.
    seen: Vec<Seen>,
    /// Per target, this host's evidence being read ahead.
    ahead: Vec<Option<ReadAhead>>,
    /// Per target that connects but is not ready, its whole diagnosis, running.
    connected: Vec<Option<tokio::task::JoinHandle<Option<Diagnosis>>>>,
    /// When to read ahead: `None` for a wait without a deadline.
    read_ahead_at: Option<Instant>,
    /// How long before the deadline that is.
    read_ahead_for: Duration,
    /// The wait's probe options (`--cacert`, `--status`...), which a diagnosis's probe uses too.
    probe: ProbeOptions,
    /// A wait until the targets are down, which needs no `why`.
    down: bool,
}

impl<'a> Explainer<'a> {
    /// For a wait starting now with this `timeout` (`None`: for ever) and `probe` options;
    /// `down` waits need no cause.
    pub fn new(
        targets: &'a [Target],
        timeout: Option<Duration>,
        probe: ProbeOptions,
        down: bool,
    ) -> Self {
        let start = Instant::now();
        let read_ahead_for = timeout.map_or(READ_AHEAD, |t| READ_AHEAD.min(t / 4));
        Self {
            targets,
            seen: vec![Seen::Nothing; targets.len()],
            ahead: targets.iter().map(|_| None).collect(),
            connected: targets.iter().map(|_| None).collect(),
            read_ahead_at: timeout
                .and_then(|t| start.checked_add(t.saturating_sub(read_ahead_for))),
            read_ahead_for,
            probe,
            down,
        }
    }

    /// When to call [`Explainer::read_ahead`]: never without a deadline, or for `--down`.
    pub fn read_ahead_at(&self) -> Option<Instant> {
        self.read_ahead_at.filter(|_| !self.down)
    }

    /// Follows the wait.
    pub fn seen(&mut self, event: &WaitEvent<'_>) {
        let (index, seen) = match event {
            WaitEvent::Changed { index, report, .. } => match connect_failure(report) {
                Some(err) => (index, Seen::Failing(err.clone())),
                None => (index, Seen::Connecting),
            },
            WaitEvent::Done { index } => (index, Seen::Done),
            // A rest changes nothing seen.
            _ => return,
        };
        self.seen[*index] = seen;
    }

    /// Starts reading this host's evidence for every target that fails to connect, or whose
    /// first probe has not ended yet.
    pub fn read_ahead(&mut self) {
        let options = Options::default();
        for (index, seen) in self.seen.iter().enumerate() {
            let failure = match seen {
                Seen::Nothing => None,
                Seen::Failing(err) => Some(err),
                Seen::Connecting => {
                    let target = self.targets[index].clone();
                    let options = Options {
                        timeout: self.read_ahead_for,
                        probe: self.probe.clone(),
                        ..Options::default()
                    };
                    self.connected[index] = Some(tokio::spawn(async move {
                        diagnose::diagnose(&target, &options).await.ok()
                    }));
                    continue;
                }
                Seen::Done => continue,
            };
            self.ahead[index] = Some(diagnose::read_ahead(
                &self.targets[index],
                failure,
                &options,
            ));
        }
    }

    /// The cause of each target not done whose last probe failed to connect, all at once (they
    /// share `left`, what is left of `--timeout`: nothing, or next to nothing; the library then
    /// allows a floor of a few tens of ms). A service that connects but is not ready has the
    /// diagnosis read ahead, where it ended within `left` and found it still not ready.
    pub async fn explain(self, states: &[TargetState], left: Duration) -> Vec<Option<Diagnosis>> {
        let options = Options {
            timeout: left,
            ..Options::default()
        };
        let targets = self.targets;
        let causes = states
            .iter()
            .zip(self.ahead.into_iter().zip(self.connected))
            .enumerate()
            .map(|(index, (state, (ahead, connected)))| {
                let options = &options;
                async move {
                    if state.done || self.down {
                        return None;
                    }
                    let Some(err) = state.last.as_ref().and_then(connect_failure) else {
                        let diagnosis = tokio::time::timeout(left, connected?).await.ok()?;
                        return diagnosis.ok().flatten().filter(says_more);
                    };
                    let target = &targets[index];
                    let diagnosis = match ahead {
                        // Boxed: its future holds the whole read-ahead facts.
                        Some(ahead) => {
                            Box::pin(diagnose::diagnose_read_ahead(target, err, ahead, options))
                                .await
                        }
                        None => diagnose::diagnose_failure(target, err, options).await,
                    };
                    diagnosis.ok()
                }
            });
        futures_util::future::join_all(causes).await
    }
}

/// Whether the diagnosis of a target that connects says more than its last probe did: not when
/// it is ready by now, nor when its advice is the plain "wait for it" (`why`'s fix for a service
/// that is up and not ready, with nothing known of why), which the wait just did.
fn says_more(diagnosis: &Diagnosis) -> bool {
    diagnosis.cause != Cause::Reachable
        && !diagnosis
            .suggestions
            .first()
            .is_some_and(|fix| fix.contains("wait for it"))
}

/// What the wait has shown of one target.
#[derive(Clone)]
enum Seen {
    /// No probe has ended yet.
    Nothing,
    /// Its probes fail to connect; the first failure of the run.
    Failing(ConnectError),
    /// Its probes connect (not ready yet).
    Connecting,
    /// It is done.
    Done,
}

/// The failed connect of a probe that failed there (not at the protocol, not ready, or ready).
const fn connect_failure(report: &ProbeReport) -> Option<&ConnectError> {
    match &report.readiness {
        Readiness::Failed(ProbeFailure::Connect(err)) => Some(err),
        _ => None,
    }
}
