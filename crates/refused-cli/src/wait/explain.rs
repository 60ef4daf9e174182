//! The explanation of a wait that ran out of time: the `refused why` cause of each target whose
//! connects still fail, within the wait's own `--timeout` (docs/contract.md: a process ends within
//! 100 ms past it). The last probe's failed connect is the evidence of the network, made over the
//! whole wait, so it is not made again; this host's evidence is read ahead, shortly before the
//! deadline, so that explaining takes next to no time after it.

use std::time::Duration;

use refused::diagnose::{self, Diagnosis, Options, ReadAhead};
use refused::probe::{ProbeFailure, ProbeReport, Readiness};
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
    /// When to read ahead: `None` for a wait without a deadline.
    read_ahead_at: Option<Instant>,
    /// A wait until the targets are down, which needs no `why`.
    down: bool,
}

impl<'a> Explainer<'a> {
    /// For a wait starting now with this `timeout` (`None`: for ever); `down` waits need no cause.
    pub fn new(targets: &'a [Target], timeout: Option<Duration>, down: bool) -> Self {
        let start = Instant::now();
        Self {
            targets,
            seen: vec![Seen::Nothing; targets.len()],
            ahead: targets.iter().map(|_| None).collect(),
            read_ahead_at: timeout
                .and_then(|t| start.checked_add(t.saturating_sub(READ_AHEAD.min(t / 4)))),
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
                Seen::Connecting | Seen::Done => continue,
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
    /// allows a floor of a few tens of ms). A service that connects but is not ready needs no
    /// `why`: its own reason says it.
    pub async fn explain(self, states: &[TargetState], left: Duration) -> Vec<Option<Diagnosis>> {
        let options = Options {
            timeout: left,
            ..Options::default()
        };
        let targets = self.targets;
        let causes = states
            .iter()
            .zip(self.ahead)
            .enumerate()
            .map(|(index, (state, ahead))| {
                let options = &options;
                async move {
                    let err = state.last.as_ref().and_then(connect_failure)?;
                    if state.done || self.down {
                        return None;
                    }
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
