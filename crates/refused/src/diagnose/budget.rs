//! How a diagnosis shares its time limit: the network first (resolution, the attempts), this
//! host's evidence last, so that the whole ends by the deadline whatever the resolver, the path
//! or the host does (docs/contract.md: a process ends within 100 ms past `--timeout`).

use std::time::Duration;

use tokio::time::Instant;

/// The most of the time limit kept for reading this host's evidence after the attempts (a fifth
/// of it below three seconds). Reading it takes about 20 ms on an idle host, most of it `nft`;
/// the margin is for a loaded one, and for a Kubernetes node's 20,000 iptables rules (about
/// 0.2 s, more under load). The attempts lose no SYN by it at the usual limits: the kernel sends them at 0, 1,
/// 3 and 7 s, and 2.4 s of a 3 s limit sees as many as 2.8 s did.
const EVIDENCE_SHARE: Duration = Duration::from_millis(600);

/// What reading this host's evidence may take past the deadline when nothing is left of it: the
/// diagnosis after a `wait` that ran out of time. The contract allows 100 ms past `--timeout` in
/// all; this leaves the rest for printing and exiting.
pub(crate) const EVIDENCE_FLOOR: Duration = Duration::from_millis(60);

/// The deadlines of one diagnosis.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    /// Resolution and attempts end by then.
    network: Instant,
    /// Everything ends by then (or [`EVIDENCE_FLOOR`] after the network, if that is later).
    deadline: Instant,
}

impl Budget {
    /// A budget of `timeout` from now.
    pub fn starting_now(timeout: Duration) -> Self {
        let now = Instant::now();
        let share = (timeout / 5).min(EVIDENCE_SHARE);
        Self {
            network: later(now, timeout.saturating_sub(share)),
            deadline: later(now, timeout),
        }
    }

    /// When resolution and attempts must be done.
    pub const fn network_until(&self) -> Instant {
        self.network
    }

    /// What is left for resolution and attempts.
    pub fn network_left(&self) -> Duration {
        self.network.saturating_duration_since(Instant::now())
    }

    /// When the last step (this host's evidence, or the readiness probe of a target that
    /// connected) must be done: the deadline, or [`EVIDENCE_FLOOR`] from now if that is later.
    pub fn last_until(&self) -> Instant {
        self.deadline.max(later(Instant::now(), EVIDENCE_FLOOR))
    }

    /// What is left for the readiness probe of a target that connected: the network's time
    /// while there is some, so that a probe that goes silent leaves the evidence's share for
    /// the rules read after it (a rate limit that drops a made connection's packets); else
    /// what is left of the last step.
    pub fn probe_left(&self) -> Duration {
        match self.network_left() {
            Duration::ZERO => self.last_left(),
            left => left,
        }
    }

    /// What is left for the last step.
    pub fn last_left(&self) -> Duration {
        self.last_until().saturating_duration_since(Instant::now())
    }
}

/// `from + by`, or a century from now when a huge limit would overflow the clock.
fn later(from: Instant, by: Duration) -> Instant {
    from.checked_add(by)
        .or_else(|| from.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_network_leaves_the_evidence_its_share() {
        let budget = Budget::starting_now(Duration::from_secs(3));
        assert_eq!(budget.network_left(), Duration::from_millis(2400));
        let long = Budget::starting_now(Duration::from_secs(10));
        assert_eq!(long.network_left(), Duration::from_millis(9400));
        assert_eq!(budget.last_left(), Duration::from_secs(3));

        let short = Budget::starting_now(Duration::from_millis(500));
        assert_eq!(short.network_left(), Duration::from_millis(400));
    }

    #[tokio::test(start_paused = true)]
    async fn with_nothing_left_the_evidence_gets_the_floor_past_the_deadline() {
        let budget = Budget::starting_now(Duration::ZERO);
        assert_eq!(budget.network_left(), Duration::ZERO);
        assert_eq!(budget.last_left(), EVIDENCE_FLOOR);

        let budget = Budget::starting_now(Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(990)).await;
        assert_eq!(budget.last_left(), EVIDENCE_FLOOR);
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(budget.last_left(), EVIDENCE_FLOOR);
    }

    #[tokio::test(start_paused = true)]
    async fn the_probe_leaves_the_evidence_its_share_while_the_network_has_time() {
        let budget = Budget::starting_now(Duration::from_secs(3));
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(budget.probe_left(), Duration::from_millis(400));
        tokio::time::sleep(Duration::from_millis(900)).await;
        assert_eq!(budget.probe_left(), Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn a_huge_limit_does_not_overflow_the_clock() {
        let budget = Budget::starting_now(Duration::MAX);
        assert!(budget.network_left() > Duration::from_secs(3600 * 24 * 365));
    }
}
