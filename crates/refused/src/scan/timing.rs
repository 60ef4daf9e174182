//! Round-trip estimates shared by a scan's workers: one per host, and one for the whole scan that
//! a host without answers of its own borrows (nmap's `ultra_scan` keeps the same pair:
//! `target->to` and `gstats->to`).
//!
//! Shared, because a filtered host gives few answers: split over the workers, each worker's own
//! estimate would wait for several of them before leaving the ceiling, and every probe sent
//! meanwhile would wait the full ceiling. The timeout is read when a probe's deadline is checked,
//! not fixed when it is sent, so probes already in flight follow the estimate as it changes.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// RFC 6298's round-trip estimator.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Rtt {
    srtt: f64,
    rttvar: f64,
    samples: u32,
}

impl Rtt {
    pub(super) fn sample(&mut self, rtt: Duration) {
        let r = rtt.as_secs_f64();
        if self.samples == 0 {
            self.srtt = r;
            self.rttvar = r / 2.0;
        } else {
            self.rttvar = 0.75 * self.rttvar + 0.25 * (self.srtt - r).abs();
            self.srtt = 0.875 * self.srtt + 0.125 * r;
        }
        self.samples = self.samples.saturating_add(1);
    }

    /// The timeout, once there is a sample (as nmap, one is enough: the floor keeps a lone fast
    /// answer from making it short).
    pub(super) fn timeout(&self, floor: Duration, ceiling: Duration) -> Option<Duration> {
        (self.samples > 0)
            .then(|| Duration::from_secs_f64(self.srtt + 4.0 * self.rttvar).clamp(floor, ceiling))
    }
}

/// One round trip measured by a worker: the host's index and how long the answer took.
pub(super) type Sample = (usize, Duration);

/// The scan's estimates, written under a lock (a worker hands over its samples in batches) and
/// read without one (every expiry check reads a timeout).
pub(super) struct Timing {
    floor: Duration,
    ceiling: Duration,
    estimates: Mutex<Estimates>,
    /// Each host's timeout in nanoseconds; 0 until the host answered.
    hosts: Box<[AtomicU64]>,
    /// The scan's timeout in nanoseconds; 0 until any host answered.
    group: AtomicU64,
}

struct Estimates {
    hosts: Vec<Rtt>,
    group: Rtt,
}

impl Timing {
    pub(super) fn new(hosts: usize, floor: Duration, ceiling: Duration) -> Self {
        Self {
            floor: floor.min(ceiling),
            ceiling,
            estimates: Mutex::new(Estimates {
                hosts: vec![Rtt::default(); hosts],
                group: Rtt::default(),
            }),
            hosts: (0..hosts).map(|_| AtomicU64::new(0)).collect(),
            group: AtomicU64::new(0),
        }
    }

    /// How long a probe to `host` waits now: the host's own estimate, else the scan's, else the
    /// ceiling.
    pub(super) fn timeout(&self, host: usize) -> Duration {
        let own = self.hosts[host].load(Ordering::Relaxed);
        let nanos = if own > 0 {
            own
        } else {
            self.group.load(Ordering::Relaxed)
        };
        if nanos > 0 {
            Duration::from_nanos(nanos)
        } else {
            self.ceiling
        }
    }

    /// Feeds round trips to the host's estimate and the scan's.
    pub(super) fn record(&self, samples: &[Sample]) {
        if samples.is_empty() {
            return;
        }
        // A worker that panicked while holding the lock left whole numbers behind: go on.
        let mut estimates = self
            .estimates
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for &(host, rtt) in samples {
            estimates.hosts[host].sample(rtt);
            estimates.group.sample(rtt);
        }
        for &(host, _) in samples {
            self.hosts[host].store(self.nanos(&estimates.hosts[host]), Ordering::Relaxed);
        }
        self.group
            .store(self.nanos(&estimates.group), Ordering::Relaxed);
    }

    fn nanos(&self, rtt: &Rtt) -> u64 {
        rtt.timeout(self.floor, self.ceiling).map_or(0, |t| {
            u64::try_from(t.as_nanos()).unwrap_or(u64::MAX).max(1)
        })
    }
}

/// A worker's probe: its slot and the slot's generation (a slot is reused once its probe ends).
pub(super) type ProbeId = (usize, u32);

/// The probes a worker has in flight, by host, oldest first. With one timeout per host, the
/// front of a host's queue is its next deadline, whatever the timeout has become since the
/// probes were sent; answered probes are not searched for, they leave when they reach the front.
pub(super) struct Deadlines {
    queues: Vec<VecDeque<(Instant, ProbeId)>>,
    /// The hosts whose queue is not empty.
    active: Vec<usize>,
}

impl Deadlines {
    pub(super) fn new(hosts: usize) -> Self {
        Self {
            queues: vec![VecDeque::new(); hosts],
            active: Vec::new(),
        }
    }

    /// A probe sent to `host` at `sent` (no earlier than the last one pushed).
    pub(super) fn push(&mut self, host: usize, sent: Instant, probe: ProbeId) {
        if self.queues[host].is_empty() {
            self.active.push(host);
        }
        self.queues[host].push_back((sent, probe));
    }

    /// Moves the probes late at `now` to `expired`, each host's timeout read from `timing` now
    /// (nmap's `processData` does the same), and returns the next deadline. `waits` says whether
    /// a probe still waits for its answer; the others are dropped.
    pub(super) fn expire(
        &mut self,
        now: Instant,
        timing: &Timing,
        waits: impl Fn(ProbeId) -> bool,
        expired: &mut Vec<ProbeId>,
    ) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut i = 0;
        while i < self.active.len() {
            let host = self.active[i];
            let timeout = timing.timeout(host);
            let queue = &mut self.queues[host];
            while let Some(&(sent, probe)) = queue.front() {
                if waits(probe) {
                    let deadline = sent + timeout;
                    if deadline > now {
                        next = Some(next.map_or(deadline, |d| d.min(deadline)));
                        break;
                    }
                    expired.push(probe);
                }
                queue.pop_front();
            }
            if queue.is_empty() {
                self.active.swap_remove(i);
            } else {
                i += 1;
            }
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLOOR: Duration = Duration::from_millis(100);
    const CEILING: Duration = Duration::from_secs(1);

    #[test]
    fn the_timeout_follows_the_round_trip_between_floor_and_ceiling() {
        let mut rtt = Rtt::default();
        assert_eq!(rtt.timeout(FLOOR, CEILING), None, "no samples yet");
        for _ in 0..10 {
            rtt.sample(Duration::from_micros(50));
        }
        assert_eq!(rtt.timeout(FLOOR, CEILING), Some(FLOOR));
        for _ in 0..10 {
            rtt.sample(Duration::from_millis(200));
        }
        let timeout = rtt.timeout(FLOOR, CEILING).unwrap();
        assert!(
            timeout > Duration::from_millis(200) && timeout <= CEILING,
            "{timeout:?}"
        );
        let mut slow = Rtt::default();
        slow.sample(Duration::from_secs(3));
        assert_eq!(slow.timeout(FLOOR, CEILING), Some(CEILING));
    }

    #[test]
    fn one_answer_to_any_worker_sets_the_timeout_of_every_worker() {
        let timing = Timing::new(2, FLOOR, CEILING);
        assert_eq!(timing.timeout(0), CEILING, "nothing measured yet");
        // Two workers, one answer between them: the other worker's probes follow it at once.
        std::thread::scope(|scope| {
            scope.spawn(|| timing.record(&[(0, Duration::from_micros(300))]));
        });
        assert_eq!(timing.timeout(0), FLOOR);
    }

    #[test]
    fn a_host_without_answers_borrows_the_scans_estimate_until_it_has_its_own() {
        let timing = Timing::new(3, FLOOR, CEILING);
        timing.record(&[(0, Duration::from_micros(300))]);
        assert_eq!(timing.timeout(2), FLOOR, "host 2 borrows the scan's");
        // Host 1 answers slowly: its own estimate, not the scan's, sets its timeout.
        timing.record(&[(1, Duration::from_millis(250))]);
        let slow = timing.timeout(1);
        assert!(slow >= Duration::from_millis(500), "{slow:?}");
        assert_eq!(timing.timeout(0), FLOOR, "host 0 keeps its own");
        let borrowed = timing.timeout(2);
        assert!(
            borrowed > FLOOR && borrowed < slow,
            "the scan's estimate holds both answers: {borrowed:?}"
        );
    }

    #[test]
    fn probes_in_flight_follow_the_timeout_when_it_changes() {
        let timing = Timing::new(2, FLOOR, CEILING);
        let mut deadlines = Deadlines::new(2);
        let sent = Instant::now();
        let waiting = |_| true;
        let mut expired = Vec::new();
        deadlines.push(0, sent, (0, 1));
        deadlines.push(1, sent, (1, 1));
        deadlines.push(0, sent + Duration::from_millis(50), (2, 1));
        let at = |ms| sent + Duration::from_millis(ms);
        // Sent before anything was measured: the ceiling.
        assert_eq!(
            deadlines.expire(at(150), &timing, waiting, &mut expired),
            Some(at(1000))
        );
        assert!(expired.is_empty());
        // Host 0 answers fast: its probes already in flight are late from 100 ms after their
        // send, host 1 borrows the scan's estimate, and nothing waits for the ceiling any more.
        timing.record(&[(0, Duration::from_micros(200))]);
        assert_eq!(
            deadlines.expire(at(160), &timing, waiting, &mut expired),
            None,
            "every probe was sent more than 100 ms before"
        );
        assert_eq!(expired, [(0, 1), (2, 1), (1, 1)]);

        // The timeout grows again (a slow answer): a probe in flight waits longer.
        deadlines.push(1, at(200), (1, 2));
        timing.record(&[(1, Duration::from_millis(200))]);
        let later = deadlines.expire(at(350), &timing, waiting, &mut expired);
        assert_eq!(later, Some(at(200) + timing.timeout(1)));
        assert!(later.unwrap() > at(500), "{later:?}");
    }

    #[test]
    fn answered_probes_leave_without_a_deadline() {
        let timing = Timing::new(1, FLOOR, CEILING);
        let mut deadlines = Deadlines::new(1);
        let sent = Instant::now();
        deadlines.push(0, sent, (0, 1));
        deadlines.push(0, sent + Duration::from_millis(10), (1, 1));
        let mut expired = Vec::new();
        // Probe (0, 1) was answered: the next deadline is the second probe's.
        let next = deadlines.expire(sent, &timing, |probe| probe != (0, 1), &mut expired);
        assert_eq!(next, Some(sent + Duration::from_millis(10) + CEILING));
        let next = deadlines.expire(sent + CEILING * 2, &timing, |_| true, &mut expired);
        assert_eq!((next, expired.as_slice()), (None, &[(1, 1)][..]));
    }
}
