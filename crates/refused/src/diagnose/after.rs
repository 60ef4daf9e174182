//! The facts of a connect that already failed, without dialling again: a `wait` that ran out of
//! time explains its last probe, whose attempts were made over the whole wait, instead of making
//! new ones that would need time it no longer has.

use crate::connect::{Address, ConnectError, ConnectErrorKind};
use crate::sys::host;
use crate::target::{Endpoint, Host, Target};

use super::Options;
use super::budget::Budget;
use super::collect;
use super::facts::{AddressFacts, Facts, Resolution};

/// The facts of a connect that already failed (a `wait`'s last probe): its attempts stand for
/// the network, which is not asked again, and this host's evidence is read within the budget.
/// Without a usable attempt (none was made), a fresh collection.
pub async fn facts_of_failure(target: &Target, failure: &ConnectError, options: &Options) -> Facts {
    let budget = Budget::starting_now(options.timeout);
    let mut facts = collect::nothing_yet(target, options);
    let (host, port) = match target.endpoint() {
        Endpoint::Unix(path) => match failure.attempts().last() {
            Some(attempt) => {
                facts.unix = Some((attempt.clone(), collect::unix_facts(path)));
                return facts;
            }
            None => return collect::facts(target, options).await,
        },
        Endpoint::Tcp { host, port } => (host, *port),
    };
    if let ConnectErrorKind::Resolve(err) = failure.kind() {
        facts.resolution = Resolution::Failed(err.clone());
        return facts;
    }
    // The last attempt to each address, in the order they were made.
    for attempt in failure.attempts() {
        let Address::Inet(addr) = attempt.address else {
            continue;
        };
        match facts.addresses.iter_mut().find(|a| a.addr == addr) {
            Some(known) => known.attempt = attempt.clone(),
            None => facts.addresses.push(AddressFacts {
                attempt: attempt.clone(),
                addr,
                local: host::is_local_address(addr.ip()),
                neighbour: None,
                blockers: None,
            }),
        }
    }
    if facts.addresses.is_empty() {
        return collect::facts(target, options).await;
    }
    if let Host::Name(name) = host {
        facts.resolution = Resolution::Resolved {
            name: name.clone(),
            addresses: facts.addresses.iter().map(|a| a.addr.ip()).collect(),
            source: host::name_source(name),
        };
    }
    collect::host_evidence(facts, port.get(), budget.last_until()).await
}

