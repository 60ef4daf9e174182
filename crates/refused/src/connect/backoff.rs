//! Retry policy and backoff: how long to wait before trying again, and which outcomes to retry.
//!
//! Ours rather than backon's: backon's jitter adds U(0,1)·delay on top of the delay, while the
//! usual advice (AWS "Exponential Backoff And Jitter") is full jitter, U(0, delay), which spreads
//! a crowd of clients restarting together much better.

use std::time::Duration;

use rand::{Rng, SeedableRng};

use crate::outcome::Outcome;
use crate::resolve::ResolveErrorKind;

/// How a backoff delay is randomised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Jitter {
    /// Exactly the exponential delay.
    None,
    /// Uniform in `[0, delay]` (AWS "full jitter"): the default.
    #[default]
    Full,
    /// `delay/2` plus uniform in `[0, delay/2]`.
    Equal,
    /// Uniform in `[initial, previous * 3]`, capped ("decorrelated jitter").
    Decorrelated,
}

/// Exponential backoff: `initial * multiplier^n`, capped at `max`, then jittered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The delay before the first retry (before jitter).
    pub initial: Duration,
    /// No delay is longer than this.
    pub max: Duration,
    /// Growth factor per retry.
    pub multiplier: f64,
    /// How the delay is randomised.
    pub jitter: Jitter,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
            multiplier: 2.0,
            jitter: Jitter::Full,
        }
    }
}

impl Backoff {
    /// The delays, one per retry, from a generator seeded by the thread's. Not the thread's
    /// own generator: that one is `!Send`, and a connect future that holds it across an await
    /// could not be spawned on a multi-threaded runtime (as the Python binding does).
    pub fn delays(&self) -> Delays<rand::rngs::StdRng> {
        self.delays_with(rand::rngs::StdRng::from_rng(&mut rand::rng()))
    }

    /// The delays drawn from a given generator (seeded in tests).
    pub fn delays_with<R: Rng>(&self, rng: R) -> Delays<R> {
        Delays {
            backoff: *self,
            retry: 0,
            previous: self.initial,
            rng,
        }
    }

    /// The un-jittered delay before retry number `retry` (0 for the first retry), capped.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = self
            .multiplier
            .max(1.0)
            .powi(i32::try_from(retry.min(64)).unwrap_or(64));
        let secs = self.initial.as_secs_f64() * factor;
        if secs.is_finite() && secs < self.max.as_secs_f64() {
            Duration::from_secs_f64(secs)
        } else {
            self.max
        }
    }
}

/// An endless iterator of backoff delays.
#[derive(Debug)]
pub struct Delays<R> {
    backoff: Backoff,
    retry: u32,
    previous: Duration,
    rng: R,
}

impl<R: Rng> Iterator for Delays<R> {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let ceiling = self.backoff.ceiling(self.retry);
        self.retry = self.retry.saturating_add(1);
        let delay = match self.backoff.jitter {
            Jitter::None => ceiling,
            Jitter::Full => ceiling.mul_f64(self.rng.random::<f64>()),
            Jitter::Equal => ceiling / 2 + (ceiling / 2).mul_f64(self.rng.random::<f64>()),
            Jitter::Decorrelated => {
                let low = self.backoff.initial.as_secs_f64();
                let high = (self.previous.as_secs_f64() * 3.0).max(low);
                let drawn = low + (high - low) * self.rng.random::<f64>();
                Duration::from_secs_f64(drawn).min(self.backoff.max)
            }
        };
        self.previous = delay;
        Some(delay)
    }
}

/// When to try again after a whole connect (every address) failed.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Tries in all, the first included: 1 means no retry.
    pub max_tries: u32,
    /// The waits between tries.
    pub backoff: Backoff,
    /// The attempt outcomes that are worth another try.
    pub retry_on: Vec<Outcome>,
    /// Whether a transient resolver failure (timeout, SERVFAIL) is retried. NXDOMAIN and "no
    /// address" never are: asking again will not make the name exist.
    pub retry_dns_failures: bool,
}

impl RetryPolicy {
    /// One try, no retry.
    pub fn never() -> Self {
        Self {
            max_tries: 1,
            ..Self::default()
        }
    }

    /// `tries` tries in all with the default backoff and outcomes.
    pub fn tries(tries: u32) -> Self {
        Self {
            max_tries: tries.max(1),
            ..Self::default()
        }
    }

    /// Whether a try that ended in `outcome` should be tried again.
    pub fn retries(&self, outcome: Outcome) -> bool {
        self.retry_on.contains(&outcome)
    }

    /// Whether a resolution that failed with `kind` should be tried again.
    pub const fn retries_dns(&self, kind: ResolveErrorKind) -> bool {
        self.retry_dns_failures && kind.is_transient()
    }
}

impl Default for RetryPolicy {
    /// Three tries; refused and timed-out connects are retried, with full-jitter backoff from
    /// 100 ms up to 5 s.
    fn default() -> Self {
        Self {
            max_tries: 3,
            backoff: Backoff::default(),
            retry_on: vec![Outcome::Refused, Outcome::Timeout],
            retry_dns_failures: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn backoff(jitter: Jitter) -> Backoff {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(2),
            multiplier: 2.0,
            jitter,
        }
    }

    #[test]
    fn without_jitter_doubles_up_to_the_cap() {
        let delays: Vec<_> = backoff(Jitter::None).delays().take(7).collect();
        let ms: Vec<_> = delays.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1600, 2000, 2000]);
    }

    #[test]
    fn huge_retry_counts_stay_at_the_cap() {
        assert_eq!(
            backoff(Jitter::None).ceiling(u32::MAX),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn full_jitter_spreads_over_the_whole_range() {
        // Full jitter draws from [0, ceiling]: over many draws some land in the lower half,
        // which additive or equal jitter never do.
        let draws: Vec<_> = backoff(Jitter::Full)
            .delays_with(StdRng::seed_from_u64(7))
            .skip(5)
            .take(200)
            .collect();
        assert!(draws.iter().any(|d| *d < Duration::from_millis(500)));
        assert!(draws.iter().any(|d| *d > Duration::from_millis(1500)));
    }

    proptest! {
        #[test]
        fn every_delay_is_within_its_bounds(seed: u64, jitter_index in 0usize..4) {
            let jitter = [Jitter::None, Jitter::Full, Jitter::Equal, Jitter::Decorrelated][jitter_index];
            let policy = backoff(jitter);
            for (retry, delay) in policy.delays_with(StdRng::seed_from_u64(seed)).take(20).enumerate() {
                let ceiling = policy.ceiling(retry as u32);
                prop_assert!(delay <= policy.max, "{delay:?} over the cap");
                match jitter {
                    Jitter::None => prop_assert_eq!(delay, ceiling),
                    Jitter::Full => prop_assert!(delay <= ceiling),
                    Jitter::Equal => prop_assert!(delay >= ceiling / 2 && delay <= ceiling),
                    Jitter::Decorrelated => prop_assert!(delay >= policy.initial),
                }
            }
        }
    }

    #[test]
    fn default_policy_retries_refused_and_timeout_only() {
        let policy = RetryPolicy::default();
        assert!(policy.retries(Outcome::Refused));
        assert!(policy.retries(Outcome::Timeout));
        assert!(!policy.retries(Outcome::NetworkUnreachable));
        assert!(!policy.retries_dns(ResolveErrorKind::NotFound));
        assert!(!policy.retries_dns(ResolveErrorKind::NoAddress));
        assert!(policy.retries_dns(ResolveErrorKind::Timeout));
    }
}
