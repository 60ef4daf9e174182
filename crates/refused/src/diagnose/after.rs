//! The facts of a connect that already failed, without dialling again: a `wait` that ran out of
//! time explains its last probe, whose attempts were made over the whole wait, instead of making
//! new ones that would need time it no longer has. This host's evidence can be read ahead, before
//! the wait's deadline, so that the explanation needs next to no time past it.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::connect::{Address, Attempt, ConnectError, ConnectErrorKind};
use crate::outcome::Outcome;
use crate::resolve;
use crate::sys::host;
use crate::target::{Endpoint, Host, Target};

use super::Options;
use super::budget::Budget;
use super::collect;
use super::facts::{AddressFacts, Facts, Resolution};

/// What a failed connect tells before this host is looked at.
enum Known {
    /// Everything there is to know: a DNS failure, a unix socket.
    Complete(Facts),
    /// The attempts to these addresses; this host's evidence about `port` is still to be read.
    Addresses(Facts, u16),
    /// Nothing usable (no attempt was made): a fresh diagnosis is needed.
    Nothing,
}

fn known(target: &Target, failure: &ConnectError, options: &Options) -> Known {
    let mut facts = collect::nothing_yet(target, options);
    let (host, port) = match target.endpoint() {
        Endpoint::Unix(path) => {
            let Some(attempt) = failure.attempts().last() else {
                return Known::Nothing;
            };
            facts.unix = Some(Box::new((
                attempt.clone(),
                collect::unix_facts(path, attempt.outcome),
            )));
            return Known::Complete(facts);
        }
        Endpoint::Tcp { host, port } => (host, port.get()),
    };
    if let ConnectErrorKind::Resolve(err) = failure.kind() {
        facts.resolution = Resolution::Failed(err.clone());
        return Known::Complete(facts);
    }
    with_addresses(&mut facts, host, last_attempts(failure));
    if facts.addresses.is_empty() {
        return Known::Nothing;
    }
    Known::Addresses(facts, port)
}

/// Sets the addresses (each with its attempt) and what the name resolved to.
fn with_addresses(facts: &mut Facts, host: &Host, attempts: Vec<(SocketAddr, Attempt)>) {
    facts.addresses = attempts
        .into_iter()
        .map(|(addr, attempt)| AddressFacts::new(attempt, addr))
        .collect();
    if let Host::Name(name) = host {
        facts.resolution = Resolution::Resolved {
            name: name.clone(),
            addresses: facts.addresses.iter().map(|a| a.addr.ip()).collect(),
            source: host::name_source(name),
        };
    }
}

/// The last attempt to each address, in the order the addresses were first tried.
fn last_attempts(failure: &ConnectError) -> Vec<(SocketAddr, Attempt)> {
    let mut last: Vec<(SocketAddr, Attempt)> = Vec::new();
    for attempt in failure.attempts() {
        let Address::Inet(addr) = attempt.address else {
            continue;
        };
        match last.iter_mut().find(|(a, _)| *a == addr) {
            Some((_, known)) => *known = attempt.clone(),
            None => last.push((addr, attempt.clone())),
        }
    }
    last
}

/// The facts of a connect that already failed (a `wait`'s last probe): its attempts stand for
/// the network, which is not asked again, and this host's evidence is read within the budget.
/// Without a usable attempt (none was made), a fresh collection.
pub async fn facts_of_failure(target: &Target, failure: &ConnectError, options: &Options) -> Facts {
    let until = Budget::starting_now(options.timeout).last_until();
    within(target, failure, options, until).await
}

/// [`facts_of_failure`], this host's evidence read by `until`.
async fn within(
    target: &Target,
    failure: &ConnectError,
    options: &Options,
    until: Instant,
) -> Facts {
    match known(target, failure, options) {
        Known::Complete(facts) => facts,
        Known::Addresses(facts, port) => collect::host_evidence(facts, port, until).await,
        // Boxed: the whole collection inside the read ahead's future would make it too large.
        Known::Nothing => Box::pin(collect::facts(target, options)).await,
    }
}

/// This host's evidence about a target whose connects fail, being read in the background ahead
/// of need (made by [`read_ahead`](super::read_ahead)); dropping it abandons the read.
#[derive(Debug)]
pub struct ReadAhead {
    /// The facts read, the attempts in them standing for those expected; `None` when there is
    /// nothing to read (a DNS failure, a unix socket).
    reading: JoinHandle<Option<Facts>>,
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.reading.abort();
    }
}

impl ReadAhead {
    /// Starts the read, about the addresses and outcomes of `seen` (a failure already seen), or,
    /// while the first probe is still out, about the addresses the target resolves to now, each
    /// expected to time out (a probe that has not ended after most of the wait hangs).
    pub(super) fn start(target: &Target, seen: Option<&ConnectError>, options: &Options) -> Self {
        let (target, seen, options) = (target.clone(), seen.cloned(), options.clone());
        Self {
            reading: tokio::spawn(async move {
                let (facts, port) = match &seen {
                    Some(failure) => match known(&target, failure, &options) {
                        Known::Addresses(facts, port) => (facts, port),
                        Known::Complete(_) | Known::Nothing => return None,
                    },
                    None => expected(&target, &options).await?,
                };
                collect::start_reading_host(facts, port).await.ok()
            }),
        }
    }

    /// The facts of `failure` (the last failed connect) with the evidence read ahead, waited for
    /// within the budget. When the read is not about the same addresses with the same outcomes
    /// (or there was none: a DNS failure now), as [`facts_of_failure`] finds them.
    pub(super) async fn facts(
        mut self,
        target: &Target,
        failure: &ConnectError,
        options: &Options,
    ) -> Facts {
        // One end for the read ahead and, should it not fit, for reading again.
        let until = Budget::starting_now(options.timeout).last_until();
        let Known::Addresses(facts, _) = known(target, failure, options) else {
            return within(target, failure, options, until).await;
        };
        let read = match tokio::time::timeout_at(until, &mut self.reading).await {
            Ok(Ok(Some(read))) => read,
            Ok(Ok(None) | Err(_)) => return within(target, failure, options, until).await,
            Err(_) => return collect::out_of_time(facts),
        };
        let fits = facts.addresses.iter().all(|last| {
            read.addresses
                .iter()
                .any(|a| a.addr == last.addr && a.attempt.outcome == last.attempt.outcome)
        });
        if !fits {
            return within(target, failure, options, until).await;
        }
        // The host as read ahead, the attempts as they last ended.
        let addresses = facts
            .addresses
            .into_iter()
            .filter_map(|last| {
                let read = read.addresses.iter().find(|a| a.addr == last.addr)?;
                Some(AddressFacts {
                    attempt: last.attempt,
                    ..read.clone()
                })
            })
            .collect();
        Facts {
            resolution: facts.resolution,
            addresses,
            ..read
        }
    }
}

/// The facts before this host's evidence, for a target whose probe is still out: the addresses
/// it resolves to, each expected to time out.
async fn expected(target: &Target, options: &Options) -> Option<(Facts, u16)> {
    let Endpoint::Tcp { host, port } = target.endpoint() else {
        return None;
    };
    let addrs = resolve::resolve(host, *port).await.ok()?;
    let expected = addrs
        .into_iter()
        .map(|addr| {
            let attempt = Attempt {
                address: Address::Inet(addr),
                outcome: Outcome::Timeout,
                errno: None,
                started: Duration::ZERO,
                elapsed: Duration::ZERO,
                try_number: 1,
                icmp: None,
                local_port: None,
            };
            (addr, attempt)
        })
        .collect();
    let mut facts = collect::nothing_yet(target, options);
    with_addresses(&mut facts, host, expected);
    Some((facts, port.get()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::evidence::Unseen;

    fn attempt(addr: SocketAddr, outcome: Outcome, elapsed_ms: u64) -> Attempt {
        Attempt {
            address: Address::Inet(addr),
            outcome,
            errno: None,
            started: Duration::ZERO,
            elapsed: Duration::from_millis(elapsed_ms),
            try_number: 1,
            icmp: None,
            local_port: None,
        }
    }

    fn failure(attempts: Vec<Attempt>) -> ConnectError {
        ConnectError::new(
            "test".to_owned(),
            ConnectErrorKind::Failed(Outcome::Timeout),
            attempts,
            Duration::ZERO,
        )
    }

    /// What a read ahead found, marked so that a test can tell it from a fresh read.
    fn read_ahead_with(target: &Target, seen: &ConnectError) -> ReadAhead {
        let Known::Addresses(mut facts, _) = known(target, seen, &Options::default()) else {
            panic!("a failure with attempts");
        };
        facts.unseen.push(Unseen {
            what: "marker".to_owned(),
            how: String::new(),
            needs_root: false,
        });
        ReadAhead {
            reading: tokio::spawn(async move { Some(facts) }),
        }
    }

    fn has_marker(facts: &Facts) -> bool {
        facts.unseen.iter().any(|u| u.what == "marker")
    }

    #[test]
    fn the_last_attempt_to_each_address_stands_for_it() {
        let v6: SocketAddr = "[::1]:42201".parse().unwrap();
        let v4: SocketAddr = "127.0.0.1:42201".parse().unwrap();
        let last = last_attempts(&failure(vec![
            attempt(v6, Outcome::Refused, 1),
            attempt(v4, Outcome::Refused, 1),
            attempt(v4, Outcome::Timeout, 900),
        ]));
        let outcomes: Vec<(SocketAddr, Outcome)> =
            last.iter().map(|(a, at)| (*a, at.outcome)).collect();
        assert_eq!(
            outcomes,
            vec![(v6, Outcome::Refused), (v4, Outcome::Timeout)]
        );
    }

    #[tokio::test]
    async fn evidence_read_ahead_is_used_with_the_last_attempts() {
        let target: Target = "127.0.0.1:42201".parse().unwrap();
        let addr: SocketAddr = "127.0.0.1:42201".parse().unwrap();
        let ahead = read_ahead_with(&target, &failure(vec![attempt(addr, Outcome::Timeout, 0)]));
        let last = failure(vec![attempt(addr, Outcome::Timeout, 1000)]);
        let facts = ahead.facts(&target, &last, &Options::default()).await;
        assert!(has_marker(&facts), "{:?}", facts.unseen);
        assert_eq!(facts.addresses.len(), 1);
        assert_eq!(facts.addresses[0].elapsed(), Duration::from_secs(1));
        assert!(facts.addresses[0].local);
    }

    #[tokio::test]
    async fn evidence_read_about_other_outcomes_is_read_again() {
        let target: Target = "127.0.0.1:42202".parse().unwrap();
        let addr: SocketAddr = "127.0.0.1:42202".parse().unwrap();
        let ahead = read_ahead_with(&target, &failure(vec![attempt(addr, Outcome::Timeout, 0)]));
        let last = failure(vec![attempt(addr, Outcome::Refused, 0)]);
        let facts = ahead.facts(&target, &last, &Options::default()).await;
        assert!(!has_marker(&facts), "{:?}", facts.unseen);
        assert_eq!(facts.addresses[0].attempt.outcome, Outcome::Refused);
    }

    #[tokio::test]
    async fn a_dns_failure_needs_no_evidence_of_this_host() {
        let target: Target = "db.invalid:5432".parse().unwrap();
        let err = crate::resolve::ResolveError {
            name: "db.invalid".to_owned(),
            kind: crate::ResolveErrorKind::Timeout,
        };
        let last = ConnectError::new(
            "db.invalid:5432".to_owned(),
            ConnectErrorKind::Resolve(err.clone()),
            Vec::new(),
            Duration::ZERO,
        );
        let facts = facts_of_failure(&target, &last, &Options::default()).await;
        assert_eq!(facts.resolution, Resolution::Failed(err));
        assert!(facts.listeners.is_none() && facts.unseen.is_empty());
    }
}
