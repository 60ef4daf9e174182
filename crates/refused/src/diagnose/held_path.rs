//! What stops a connection to another namespace of this host whose program listens, beyond
//! its listeners: that namespace's own rules, named as this host's are; its DNAT, which sends
//! the port elsewhere; its route back; or the path between, through a router of its own.

use std::net::SocketAddr;

use crate::outcome::Outcome;
use crate::sys::firewall::{Blocker, Hook, Stops, Tool, Verdict};

use super::cause::Cause;
use super::evidence::{Evidence, HeldListener};
use super::facts::{AddressFacts, Facts, HeldPublished, Holder, RouteLookup};
use super::rules::{Finding, listed};

/// A port the holder namespace sends on by DNAT (a Docker host's published port), explained
/// where the rule sends it, as running on that host explains it; `None` when no one namespace
/// holds where it goes, or nothing is said of the listeners there.
pub(super) fn published_there(
    facts: &Facts,
    address: &AddressFacts,
    dest: SocketAddr,
    holder: &Holder,
    published: &HeldPublished,
) -> Option<Finding> {
    let to = published.to;
    let namespace = Evidence::Namespace {
        netns: holder.netns.to_string(),
        address: dest.ip(),
        pid: holder.pid,
    };
    let published_by = format!(
        "{dest} is published to {to} by the DNAT rule (chain `{}`) of network namespace {}, which holds {}",
        published.rule.chain,
        holder.netns,
        dest.ip()
    );
    // Its own forward chains stop it on the way there (Docker's DOCKER-USER), whatever listens.
    // A drop makes a silence, a reject a refusal: only the kind that fits what happened.
    let verdict = match address.attempt.outcome {
        Outcome::Refused => Some(Verdict::Reject),
        Outcome::Timeout => Some(Verdict::Drop),
        _ => None,
    };
    let forwarded = |b: &&Blocker| {
        b.hook == Hook::Forward && b.stops == Stops::Request && Some(b.verdict) == verdict
    };
    if verdict.is_some() {
        let enter = super::elsewhere::enter(holder);
        if let Some(finding) = by_rule(holder, &published_by, &[], to, &enter, forwarded) {
            return Some(finding.evidence([Evidence::Dnat(published.rule.clone()), namespace]));
        }
    }
    let there_holder = published.there.as_ref()?;
    let there = AddressFacts {
        addr: to,
        holder: Some(there_holder.clone()),
        published: None,
        published_beside: None,
        forwarded: None,
        ..address.clone()
    };
    let inner = super::elsewhere::held(
        facts,
        &there,
        to,
        there_holder,
        super::elsewhere::Sent::Published,
    )?;
    let mut finding = Finding {
        summary: format!("{published_by}; there, {}", inner.summary),
        ..inner
    };
    super::elsewhere::suggest_publishing(
        facts,
        &mut finding,
        dest.port(),
        published.rule.chain == "DOCKER",
    );
    finding
        .evidence
        .insert(0, Evidence::Dnat(published.rule.clone()));
    finding.evidence.push(namespace);
    Some(finding)
}

/// Refused though `listener` listens right there: a reject rule of that namespace, named;
/// else, with its rules read or a router on the way, something on the path.
pub(super) fn refused(
    facts: &Facts,
    holder: &Holder,
    dest: SocketAddr,
    listener: &HeldListener,
    exact: &[&HeldListener],
    inside: &str,
    enter: &str,
) -> Finding {
    let listens = format!(
        "{} listens on {} in {inside}, yet the connection was refused",
        listener.owner(),
        listener.endpoint()
    );
    let rejects = |b: &&Blocker| b.stops == Stops::Request && b.verdict == Verdict::Reject;
    if let Some(finding) = by_rule(holder, &listens, exact, dest, enter, rejects) {
        return finding;
    }
    let rules = format!("`{enter} nft list ruleset` shows the namespace's rules");
    match (holder.via, holder.blockers.is_some()) {
        (None, false) => Finding::new(
            Cause::BlockedLocally,
            format!(
                "{listens}: a firewall of that namespace rejects it, most likely (its rules could not be read)"
            ),
        )
        .evidence(listed(exact))
        .suggest(rules),
        // A direct link, that namespace's rules read and none rejecting (this host's were
        // read before we got here): nothing between them to blame. What is left is time, as
        // for a listener of this namespace: it came after the attempt.
        (None, true) => super::rules::started_after(
            facts,
            &format!("{listens}, and no rule of that namespace's firewall rejects it"),
            dest,
            exact,
        ),
        (via, read) => {
            let path = via.map_or_else(
                || "something between this namespace and that one".to_owned(),
                |gateway| format!("something on the path (via {gateway})"),
            );
            let (who, none) = if read {
                (path, " (no rule of that namespace does)")
            } else {
                (format!("{path} or that host"), "")
            };
            let mut finding =
                Finding::new(Cause::Closed, format!("{listens}: {who} rejects it{none}"))
                    .evidence(listed(exact));
            if let Some(gateway) = via {
                finding = finding.suggest(format!(
                    "look at the firewall of the router {gateway} (a `reject` in its forward chain) and of any other on the way: `traceroute -T -p {} {}` shows the hops",
                    dest.port(),
                    dest.ip()
                ));
            }
            if read {
                finding
            } else {
                finding.suggest(rules)
            }
        }
    }
}

/// Rejected with an ICMP error from the address itself (an admin-prohibited: firewalld's
/// zones, nft's `reject`), though a program listens right there: a reject rule of that
/// namespace's own, named as for a refusal; `None` when none is, and the ICMP error then says
/// who answered.
pub(super) fn rejected(
    address: &AddressFacts,
    holder: &Holder,
    exact: &[&HeldListener],
    inside: &str,
    enter: &str,
) -> Option<Finding> {
    let dest = address.addr;
    let icmp = address.attempt.icmp.as_ref()?;
    if icmp.from != Some(dest.ip()) {
        return None;
    }
    let listens = format!(
        "{} listens on {} in {inside}, yet the connection was rejected",
        exact.first()?.owner(),
        exact.first()?.endpoint()
    );
    let rejects = |b: &&Blocker| b.stops == Stops::Request && b.verdict == Verdict::Reject;
    by_rule(holder, &listens, exact, dest, enter, rejects)
}

/// How a silence of a namespace's listener begins: who listens where, and the address asked.
pub(super) fn no_answer(exact: &[&HeldListener], inside: &str, dest: SocketAddr) -> String {
    format!(
        "{} listens on {} in {inside}, but the connection to {dest} got no answer",
        exact[0].owner(),
        exact[0].endpoint()
    )
}

/// No answer, though a listener of that namespace is there and its queue has room: no route
/// back from it; `None` leaves the firewalls and the path to the caller.
pub(super) fn silent(
    holder: &Holder,
    exact: &[&HeldListener],
    dest: SocketAddr,
    inside: &str,
    enter: &str,
) -> Option<Finding> {
    let listens = no_answer(exact, inside, dest);
    if let Some(back) = holder
        .route_back
        .filter(|b| b.lookup != RouteLookup::Routed)
    {
        let to = back.to;
        let six = if to.is_ipv6() { " -6" } else { "" };
        return Some(
            Finding::new(
                Cause::Filtered,
                format!(
                    "{listens}: that namespace has no route back to {to}, this host's address, so the connection request arrives and the reply is never sent"
                ),
            )
            .evidence(listed(exact))
            .suggest(format!(
                "add the route back in that namespace: `{enter} ip{six} route add {to} via ROUTER` (or a default route: `{enter} ip{six} route add default via ROUTER`), ROUTER being the next hop toward this host on its link"
            ))
            .suggest(format!("`{enter} ip{six} route get {to}` shows what it does now")),
        );
    }
    None
}

/// No answer, and a drop of that namespace's own firewall stops the connection or its replies
/// (a container's `input` drop of its port): the rule, named.
pub(super) fn dropped(
    holder: &Holder,
    exact: &[&HeldListener],
    dest: SocketAddr,
    inside: &str,
    enter: &str,
) -> Option<Finding> {
    let listens = no_answer(exact, inside, dest);
    let drops = |b: &&Blocker| silences(b);
    by_rule(holder, &listens, exact, dest, enter, drops)
}

/// Whether a rule of the holder's firewall can leave a connection without an answer: a drop,
/// one that drops the replies, or a limit's reject by ICMP error, which the kernel sends at
/// most about one a second to an address (`net.ipv4.icmp_ratelimit`): past that, a reject is
/// silence (ufw's `limit` tripped by a burst of tries).
fn silences(b: &Blocker) -> bool {
    b.stops == Stops::Reply
        || b.verdict == Verdict::Drop
        || (b.rate_limit && b.verdict == Verdict::Reject)
}

/// No answer, nothing listening on the port there, and a drop of that namespace's own firewall
/// stops the connection (a container's own firewall's default policy): the rule, named, and
/// the missing listener after it.
pub(super) fn dropped_unheld(
    holder: &Holder,
    dest: SocketAddr,
    inside: &str,
    enter: &str,
) -> Option<Finding> {
    let port = dest.port();
    let listens = format!(
        "nothing listens on port {port} in {inside}, and the connection to {dest} got no answer"
    );
    let drops = |b: &&Blocker| silences(b);
    let finding = by_rule(holder, &listens, &[], dest, enter, drops)?;
    Some(finding.suggest(format!(
        "then start the service there: nothing listens on port {port} in that namespace (`{enter} ss -ltnp` lists what does)"
    )))
}

/// No answer, though a reject of that namespace's own answers the connection with a reset:
/// its own output rules (an egress allow-list) drop that reset, so the client waits for
/// nothing where a refusal was meant.
pub(super) fn reset_dropped(
    holder: &Holder,
    exact: &[&HeldListener],
    dest: SocketAddr,
    inside: &str,
    enter: &str,
) -> Option<Finding> {
    let dropping = holder.reset_dropped.as_ref()?;
    let reject = holder
        .blockers
        .as_deref()?
        .iter()
        .find(|b| super::holder::is_certain_reset(b))?;
    let listens = no_answer(exact, inside, dest);
    let placed = super::rules::blocked::placed;
    let finding = Finding::new(
        Cause::BlockedLocally,
        format!(
            "{listens}: that namespace's own firewall rejects it with a reset, {}, and its output rules drop that reset, {}: the client sees a timeout, not a refusal",
            placed(reject),
            placed(dropping)
        ),
    )
    .evidence([Evidence::from(reject), Evidence::from(dropping)])
    .evidence(listed(exact));
    let finding = super::rules::blocked::fix(finding, reject, dest, enter);
    let (table, chain) = (&dropping.table, &dropping.chain);
    let let_out = match dropping.tool {
        Tool::Nft => format!("`{enter} nft insert rule {table} {chain} ct state related accept`"),
        _ => format!(
            "`{enter} {} -I {chain} 1 -m conntrack --ctstate RELATED -j ACCEPT`",
            dropping.iptables_command()
        ),
    };
    Some(finding.suggest(format!(
        "if the reject is meant, let its resets out, so that clients see a refusal at once: {let_out}"
    )))
}

/// The path the packets take there, for a silence no rule explains: through a router of its
/// own, or a link.
pub(super) fn path(holder: &Holder) -> String {
    holder.via.map_or_else(
        || "a firewall of this host or of that namespace drops it".to_owned(),
        |gateway| {
            format!("a firewall of this host or of that namespace drops it, or the path there (via {gateway}) loses it")
        },
    )
}

/// A rule of the holder's own firewall that stops the connection as `fits` says (a certain
/// one first), named with how to remove it inside the namespace.
fn by_rule(
    holder: &Holder,
    listens: &str,
    exact: &[&HeldListener],
    dest: SocketAddr,
    enter: &str,
    fits: impl Fn(&&Blocker) -> bool,
) -> Option<Finding> {
    let blockers = holder.blockers.as_deref()?;
    // A limit (of a rate, or of the connections open) stops only what is past it, which the
    // rules cannot tell: named when no rule surely stops the connection.
    let blocker = blockers
        .iter()
        .filter(&fits)
        .find(|b| b.certain)
        .or_else(|| blockers.iter().filter(&fits).find(|b| b.matches))
        // Only when every rule that may stop it is a limit: an uncertain plain drop is as
        // likely, and then no rule is named.
        .or_else(|| {
            let mut fitting = blockers.iter().filter(&fits);
            let first = fitting.next()?;
            (first.rate_limit && fitting.all(|b| b.rate_limit)).then_some(first)
        })?;
    let how = if blocker.certain { "" } else { " probably" };
    let what = match blocker.stops {
        Stops::Request => "stops it",
        Stops::Reply => "drops the replies",
    };
    let finding = Finding::new(
        Cause::BlockedLocally,
        format!(
            "{listens}: that namespace's own firewall{how} {what}: {}",
            super::rules::blocked::placed(blocker)
        ),
    )
    .evidence([Evidence::from(blocker)])
    .evidence(listed(exact));
    Some(super::rules::blocked::fix(finding, blocker, dest, enter))
}
