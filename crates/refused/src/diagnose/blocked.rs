//! `blocked-locally` from this host's own rules: which rule, found where, and how to remove it
//! with the tool that made it (nft, iptables, ufw, firewalld).

use std::fmt::Write as _;
use std::net::SocketAddr;

use crate::outcome::Outcome;
use crate::sys::firewall::{Blocker, Hook, Stops, Tool, Verdict};

use super::{AddressFacts, Cause, Evidence, Finding};

/// A rule of this host's firewall that matches, when the outcome fits what the rule does: a
/// drop of the request shows as a timeout, a reject as a refusal, an unreachable or a permission
/// error; any rule that stops the server's reply shows as a timeout. A certain rule comes
/// first, then one that surely matches if the packet gets to it, then any; with a certain one,
/// every other certain one is named too (base chains whose order is not known, a reply dropped
/// as well): each has to go before the connection gets through.
pub(super) fn by_rule(address: &AddressFacts) -> Option<Finding> {
    let outcome = address.attempt.outcome;
    let fits = |b: &Blocker| match (b.stops, b.verdict) {
        (Stops::Reply, _) | (Stops::Request, Verdict::Drop) => outcome == Outcome::Timeout,
        (Stops::Request, Verdict::Reject) => matches!(
            outcome,
            Outcome::Refused
                | Outcome::HostUnreachable
                | Outcome::PermissionDenied
                | Outcome::NetworkUnreachable
        ),
    };
    let blockers = address.blockers.as_deref()?;
    let blocker = blockers
        .iter()
        .find(|b| b.certain && fits(b))
        .or_else(|| blockers.iter().find(|b| b.matches && fits(b)))
        .or_else(|| blockers.iter().find(|b| fits(b)))?;
    let mut also: Vec<&Blocker> = Vec::new();
    for other in blockers
        .iter()
        .filter(|b| blocker.certain && b.certain && fits(b))
    {
        // A rule that stops both the request and the reply (`ip daddr 127.0.0.1 drop`) is
        // one rule to remove.
        if !std::iter::once(blocker)
            .chain(also.iter().copied())
            .any(|b| same_rule(b, other))
        {
            also.push(other);
        }
    }
    let how = if blocker.certain { "" } else { " probably" };
    let what = match blocker.stops {
        Stops::Request => format!("stops the connection to {}", address.addr),
        Stops::Reply => format!("drops the replies from {}", address.addr),
    };
    let jail = fail2ban_jail(blocker);
    let whose = match blocker.tool {
        Tool::Ufw if is_ufw_limit(blocker) => format!(
            "ufw's rate limit (`ufw {}`)",
            ufw_limit_rule(blocker, address.addr.port())
        ),
        Tool::Ufw => "ufw".to_owned(),
        _ if is_kube_proxy_reject(blocker) => {
            "kube-proxy's rule for a Kubernetes Service with no ready endpoints, in this host's firewall,".to_owned()
        }
        _ if jail.is_some() => format!(
            "fail2ban's ban (jail `{}`), in this host's firewall,",
            jail.unwrap_or_default()
        ),
        Tool::Nft | Tool::Iptables => "this host's own firewall".to_owned(),
        Tool::IptablesLegacy => "this host's own firewall (iptables-legacy)".to_owned(),
        Tool::Firewalld => crate::diagnose::firewalld::whose(blocker),
    };
    let mut summary = format!("{whose}{how} {what}: {}", placed(blocker));
    if is_ufw_limit(blocker) {
        summary.push_str(
            "; it trips at 6 or more new connections from this host within 30 s, and clears by itself",
        );
    }
    if !also.is_empty() {
        let others: Vec<String> = also.iter().map(|b| placed(b)).collect();
        let _ = write!(
            summary,
            "; {} stops it too, and each has to go",
            others.join(" and ")
        );
    }
    let mut finding = Finding::new(Cause::BlockedLocally, summary).evidence(
        std::iter::once(blocker)
            .chain(also.iter().copied())
            .map(Evidence::from),
    );
    for b in std::iter::once(blocker).chain(also) {
        finding = fix(finding, b, address.addr, "sudo");
    }
    // Two rules of one table share the command that shows them.
    let mut seen = std::collections::HashSet::new();
    finding.suggestions.retain(|s| seen.insert(s.clone()));
    Some(finding)
}

fn same_rule(a: &Blocker, b: &Blocker) -> bool {
    (&a.table, &a.chain, a.handle, a.position, &a.rule)
        == (&b.table, &b.chain, b.handle, b.position, &b.rule)
}

/// A rule and where it is: `` `tcp dport 80 drop` (table `inet filter`, chain `output`) ``.
pub(in crate::diagnose) fn placed(blocker: &Blocker) -> String {
    let mut reached = String::new();
    if blocker.path.len() > 1 {
        reached = format!(", reached by {}", blocker.path.join(" -> "));
    }
    format!(
        "`{}` (table `{}`, chain `{}`{reached})",
        blocker.rule, blocker.table, blocker.chain
    )
}

/// How to remove `blocker`, which stops a connection to `port`, with the tool that made it,
/// each command run by `run`: `sudo` on this host, `sudo ip netns exec NS` in another namespace.
pub(in crate::diagnose) fn fix(
    finding: Finding,
    blocker: &Blocker,
    dest: SocketAddr,
    run: &str,
) -> Finding {
    let port = dest.port();
    if is_kube_proxy_reject(blocker) {
        return kube_proxy_fix(finding);
    }
    if let Some(jail) = fail2ban_jail(blocker) {
        return fail2ban_fix(finding, blocker, jail, run);
    }
    if let Some(table) = managed_table(blocker) {
        return managed_table_fix(finding, blocker, table, port, run);
    }
    let finding = if blocker.rate_limit && !is_ufw_limit(blocker) {
        finding.suggest(
            "the rule is a limit (of new connections a second, or of connections open at once, from one address): it stops only what comes past it, so the port works again when the rate allows or the connections close (this check's own attempts count too); raise the limit, or exempt this client before it",
        )
    } else {
        finding
    };
    match blocker.tool {
        Tool::Nft => nft_fix(finding, blocker, dest, run),
        Tool::Iptables | Tool::IptablesLegacy => iptables_fix(finding, blocker, port, run),
        Tool::Ufw => ufw_fix(finding, blocker, port, run),
        Tool::Firewalld => crate::diagnose::firewalld::fix(finding, blocker, port, run),
    }
}

/// The fail2ban jail whose ban `blocker` is: its iptables actions' chain `f2b-JAIL` (Debian's
/// default `iptables-multiport`: `-A f2b-sshd -s ADDR/32 -j REJECT`), or its nftables actions'
/// table `f2b-table`, whose rules match the jail's set `addr-set-JAIL`.
fn fail2ban_jail(blocker: &Blocker) -> Option<&str> {
    if blocker.tool != Tool::Nft {
        return blocker
            .chain
            .strip_prefix("f2b-")
            .filter(|jail| !jail.is_empty());
    }
    if blocker.table.split_whitespace().last() != Some("f2b-table") {
        return None;
    }
    // `addr6-set-NAME` for IPv6.
    let (_, after) = blocker
        .rule
        .split_once("@addr-set-")
        .or_else(|| blocker.rule.split_once("@addr6-set-"))?;
    let jail = after.split_whitespace().next()?;
    (!jail.is_empty()).then_some(jail)
}

/// A named set the rule matches this connection against (`ip saddr @ban`, `ip daddr . tcp
/// dport @blocked`), and this connection's element of it as `nft` takes it (the client's
/// source, not known here, as `THIS-ADDRESS`; a field we cannot fill as `ELEMENT`): the
/// element goes, not the rule, which stops every element. An allow list (`ip saddr != @allowed
/// drop`) is no ban.
fn banned_by_set(blocker: &Blocker, dest: SocketAddr) -> Option<(&str, String)> {
    let (before, after) = blocker.rule.split_once('@')?;
    let set = after.split_whitespace().next().filter(|s| !s.is_empty())?;
    let words: Vec<&str> = before.split_whitespace().collect();
    // The key, from its end: `PROTOCOL FIELD` parts joined by `.`.
    let mut parts = Vec::new();
    let mut end = words.len();
    while end >= 2 {
        parts.push((words[end - 2], words[end - 1]));
        end -= 2;
        if end > 0 && words[end - 1] == "." {
            end -= 1;
        } else {
            break;
        }
    }
    let known = ["ip", "ip6", "tcp", "th", "meta"];
    if parts.is_empty() || parts.iter().any(|(protocol, _)| !known.contains(protocol)) {
        return None;
    }
    parts.reverse();
    let element: Vec<String> = parts
        .iter()
        .map(|(_, field)| match *field {
            "saddr" => "THIS-ADDRESS".to_owned(),
            "daddr" => dest.ip().to_string(),
            "dport" => dest.port().to_string(),
            _ => "ELEMENT".to_owned(),
        })
        .collect();
    Some((set, element.join(" . ")))
}

/// fail2ban's ban: not a rule to delete (fail2ban keeps its own list, and bans again), a ban
/// that ends after the jail's `bantime`, lifted now with `fail2ban-client`.
fn fail2ban_fix(finding: Finding, blocker: &Blocker, jail: &str, run: &str) -> Finding {
    // iptables' ban names the address (`ip saddr 10.0.0.5`); the set's does not.
    let address = blocker
        .rule
        .split_once("ip saddr ")
        .or_else(|| blocker.rule.split_once("ip6 saddr "))
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .filter(|a| !a.starts_with('@'))
        .map_or("ADDRESS", |a| {
            a.trim_end_matches("/32").trim_end_matches("/128")
        });
    finding
        .suggest(format!(
            "fail2ban banned this client's address in its jail `{jail}` (too many failures in its log within `findtime`, failed logins for `sshd`): the ban ends after the jail's `bantime` (10 minutes by default); `{run} fail2ban-client set {jail} unbanip {address}` lifts it now, `{run} fail2ban-client status {jail}` lists the banned addresses (`{jail}` is the name its action gives the chain or set, the jail's own unless its configuration sets `name=`: `{run} fail2ban-client status` lists the jails)"
        ))
        .suggest(format!(
            "to keep the address from being banned again: `ignoreip = {address}` in the `[{jail}]` section of /etc/fail2ban/jail.local, then `{run} fail2ban-client reload`; deleting the rule by hand leaves fail2ban's own list behind"
        ))
}

/// Whether a rule is kube-proxy's reject of a Service that has no ready endpoints: its
/// `KUBE-SERVICES` and `KUBE-EXTERNAL-SERVICES` chains (iptables mode) reject nothing else;
/// in nftables mode, its table's `reject-chain`, which the `no-endpoint-*` maps send to (its
/// `cluster-ips-check` rejects a port the Service does not have: not this).
fn is_kube_proxy_reject(blocker: &Blocker) -> bool {
    blocker.verdict == crate::sys::firewall::Verdict::Reject
        && (matches!(
            blocker.chain.as_str(),
            "KUBE-SERVICES" | "KUBE-EXTERNAL-SERVICES"
        ) || (blocker.table.ends_with(" kube-proxy") && blocker.chain == "reject-chain"))
}

/// kube-proxy writes its reject again at its next sync: what to fix is the Service's endpoints
/// (its pods not running, not ready, or not matching its selector), not the rule.
fn kube_proxy_fix(finding: Finding) -> Finding {
    finding
        .suggest(
            "the Service has no ready endpoints: its pods are not running, not ready, or not selected; `kubectl get services -A -o wide` finds the Service by its address and port, then `kubectl get endpointslices -n NAMESPACE -l kubernetes.io/service-name=NAME` and `kubectl get pods -n NAMESPACE -o wide` show why",
        )
        .suggest("deleting the rule does not help: kube-proxy writes it again at its next sync")
}

/// The nftables table of `blocker` when a manager writes it and writes it again (Incus's and
/// LXD's network ACLs, libvirt's networks, Docker's nftables backend): its fix is in the
/// manager's words, never an `nft delete` that its next change undoes.
fn managed_table(blocker: &Blocker) -> Option<&'static str> {
    if blocker.tool != Tool::Nft {
        return None;
    }
    let table = blocker.table.split_whitespace().last()?;
    ["incus", "lxd", "libvirt_network", "docker-bridges"]
        .into_iter()
        .find(|managed| *managed == table)
}

fn managed_table_fix(
    finding: Finding,
    blocker: &Blocker,
    table: &str,
    port: u16,
    run: &str,
) -> Finding {
    // Incus's and LXD's chains end in the network's name: `acl.incusbr0`, `aclin.lxdbr0`.
    let network = blocker
        .chain
        .split_once('.')
        .map_or("NETWORK", |(_, network)| network);
    let finding = match table {
        "incus" | "lxd" => {
            let (name, command) = if table == "incus" {
                ("Incus", "incus")
            } else {
                ("LXD", "lxc")
            };
            finding
                .suggest(format!(
                    "{name} writes this table from network {network}'s ACLs, and writes it again on every change: `{command} network show {network}` shows its `security.acls` and the default actions (`security.acls.default.ingress.action`, `security.acls.default.egress.action`: `reject` or `drop` stops what no ACL allows)"
                ))
                .suggest(format!(
                    "allow the port in an ACL of the network: `{command} network acl rule add ACL ingress action=allow protocol=tcp destination_port={port}` (`{command} network acl list` names them), or set the default action to `allow`"
                ))
        }
        "libvirt_network" => finding
            .suggest("libvirt writes this table for its virtual networks (`virsh net-list`), and writes it again when a network starts: a NAT network takes no new connections from outside it")
            .suggest(format!(
                "forward the port on this host to the guest (a DNAT of your own, in a table of your own), or give the guest a routed or bridged network (`virsh net-edit NETWORK`: `<forward mode='route'/>` or `mode='open'`) to reach port {port} from outside"
            )),
        _ => finding
            .suggest("Docker's nftables backend writes this table, and writes it again on every change of its containers and networks")
            .suggest(format!(
                "publish the container's port (`docker run -p {port}:PORT`, compose's `ports:`), or connect from a container on the same network"
            )),
    };
    finding.suggest(format!(
        "`{run} nft -a list chain {} {}` shows the chain",
        blocker.table, blocker.chain
    ))
}

fn nft_fix(finding: Finding, blocker: &Blocker, dest: SocketAddr, run: &str) -> Finding {
    let port = dest.port();
    let (table, chain) = (&blocker.table, &blocker.chain);
    // A ban list: this connection in a named set the rule matches it against (`ip saddr @ban
    // drop`, filled by a rule, a tool or a person). The element goes, not the rule.
    let finding = match banned_by_set(blocker, dest) {
        Some((set, element)) => {
            let owner = match table.split_whitespace().last() {
                Some("crowdsec" | "crowdsec6") => Some(
                    "CrowdSec's bouncer writes this set from its decisions: `sudo cscli decisions list` shows them, `sudo cscli decisions delete --ip THIS-ADDRESS` lifts this one",
                ),
                Some("sshguard") => Some(
                    "sshguard writes this set: it unblocks an address after its block time; its whitelist (`WHITELIST_FILE`) keeps one from being blocked",
                ),
                _ => None,
            };
            let finding = finding.suggest(format!(
                "this connection is in the set `{set}` that the rule stops: `{run} nft list set {table} {set}` shows its elements (and when they expire: a set with a `timeout` lets them go by itself); `{run} nft delete element {table} {set} {{ {element} }}` takes this one out, where deleting the rule would let every element through"
            ));
            match owner {
                Some(owner) => finding.suggest(owner),
                None => finding,
            }
        }
        None => finding,
    };
    let finding = match (blocker.handle, blocker.stops) {
        (Some(handle), _) => finding.suggest(format!(
            "remove the rule if it is not wanted: `{run} nft delete rule {table} {chain} handle {handle}`"
        )),
        (None, Stops::Request) => finding.suggest(format!(
            "the chain's policy drops it: add an accept rule, for example `{run} nft insert rule {table} {chain} tcp dport {port} accept`"
        )),
        // A chain of the ingress hook comes before conntrack (and nft refuses `ct` in a
        // netdev table), a bridge's input chain too unless `br_netfilter` looks: the replies
        // are told by their source, the server's address and port.
        (None, Stops::Reply) if matches!(blocker.hook, Hook::Ingress | Hook::BridgeInput) => {
            let (family, ip) = match dest.ip() {
                std::net::IpAddr::V4(ip) => ("ip", ip.to_string()),
                std::net::IpAddr::V6(ip) => ("ip6", ip.to_string()),
            };
            finding.suggest(format!(
                "the chain's policy drops the replies, before conntrack (where `ct state` cannot tell them): accept them by their source, for example `{run} nft insert rule {table} {chain} {family} saddr {ip} tcp sport {port} accept`"
            ))
        }
        (None, Stops::Reply) => finding.suggest(format!(
            "the chain's policy drops the replies: accept them, for example `{run} nft insert rule {table} {chain} ct state established,related accept`"
        )),
    };
    finding.suggest(format!(
        "`{run} nft -a list chain {table} {chain}` shows the chain"
    ))
}

/// The ipset a rule of iptables matches (`-m set --match-set NAME src`): its name, where the
/// rule's text has it (iptables-save's; nft's listing of iptables-nft's rule says only `xt
/// match set`), and whether the match is negated (`! --match-set`: an allow list, which stops
/// what is not in it; `None` where the text does not say).
fn ipset_of(blocker: &Blocker) -> Option<(&str, Option<bool>)> {
    if let Some((before, after)) = blocker.rule.split_once("--match-set ") {
        let negated = before.trim_end().ends_with('!');
        return Some((after.split_whitespace().next()?, Some(negated)));
    }
    blocker
        .rule
        .contains("xt match set")
        .then_some(("SET", None))
}

fn iptables_fix(finding: Finding, blocker: &Blocker, port: u16, run: &str) -> Finding {
    let command = blocker.iptables_command();
    // An ipset's match: the address goes from the set (or, for an allow list, into it), not
    // the rule from the chain.
    let finding = match ipset_of(blocker) {
        Some((set, Some(true))) => finding.suggest(format!(
            "the rule stops what is not in the ipset `{set}` (`! --match-set`, an allow list): `{run} ipset add {set} ADDRESS` lets one through, `{run} ipset list {set}` lists them; deleting the rule would let every address through"
        )),
        Some((set, negated)) => {
            let named = if set == "SET" {
                format!(" (`{run} {command}-save | grep match-set` names it)")
            } else {
                String::new()
            };
            let allow = if negated.is_none() {
                "; if it is `! --match-set` (an allow list), `ipset add` lets one through instead"
            } else {
                ""
            };
            finding.suggest(format!(
                "the rule matches an ipset{named}: `{run} ipset test {set} ADDRESS` tells whether an address is in it, `{run} ipset del {set} ADDRESS` takes one out, `{run} ipset list {set}` lists them; deleting the rule would let every address of the set through{allow}"
            ))
        }
        None => finding,
    };
    let table = match blocker.table_name() {
        "filter" => String::new(),
        other => format!(" -t {other}"),
    };
    let chain = &blocker.chain;
    let finding = match (blocker.position, blocker.stops) {
        (Some(position), _) => finding.suggest(format!(
            "remove the rule if it is not wanted: `{run} {command}{table} -D {chain} {position}` (rule {position} of {chain}; check with `{run} {command}{table} -L {chain} -n --line-numbers` first)"
        )),
        (None, Stops::Request) => finding.suggest(format!(
            "the chain's policy drops it: accept the port, for example `{run} {command}{table} -I {chain} -p tcp --dport {port} -j ACCEPT`"
        )),
        (None, Stops::Reply) => finding.suggest(format!(
            "the chain's policy drops the replies: accept them, for example `{run} {command}{table} -I {chain} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`"
        )),
    };
    finding.suggest(format!("`{run} {command}-save` shows every rule"))
}

/// ufw's rate limit: `ufw limit [out] PORT` makes rules that count the new connections from
/// each source address (`-m recent`) and jump, at the limit, to `ufw-user-limit` (`ufw6-` for
/// IPv6), whose log-and-reject is the rule that matches, else to its pair
/// `ufw-user-limit-accept`. Both chains are ufw's own, made for `limit` rules only.
fn is_ufw_limit(blocker: &Blocker) -> bool {
    if blocker.tool != Tool::Ufw {
        return false;
    }
    let chain = blocker.chain.as_str();
    let chain = chain
        .strip_prefix("ufw6-")
        .or_else(|| chain.strip_prefix("ufw-"));
    matches!(chain, Some("user-limit" | "user-limit-accept"))
}

/// ufw's word for a rule of the output hook (` out`), none for the others.
const fn ufw_direction(hook: Hook) -> &'static str {
    match hook {
        Hook::Output => " out",
        Hook::Prerouting
        | Hook::Input
        | Hook::Forward
        | Hook::Ingress
        | Hook::Egress
        | Hook::BridgeInput
        | Hook::BridgeOutput => "",
    }
}

/// The `ufw` arguments of the limit rule, as `ufw status` names it: `limit out 8080/tcp`.
fn ufw_limit_rule(blocker: &Blocker, port: u16) -> String {
    let out = ufw_direction(blocker.hook);
    format!("limit{out} {port}/tcp")
}

/// ufw's limit tripped: not a rule to delete, a count that goes down by itself. ufw writes the
/// limit as `--update --seconds 30 --hitcount 6` (the numbers are fixed, not configurable).
fn ufw_limit_fix(finding: Finding, blocker: &Blocker, port: u16, run: &str) -> Finding {
    let rule = ufw_limit_rule(blocker, port);
    let allow = rule.replacen("limit", "allow", 1);
    finding
        .suggest(format!(
            "it is ufw's rate limit (`ufw {rule}`, shown as LIMIT by `{run} ufw status`), not a rule that denies the port: it lets connections through again once 30 s pass without new ones (`refused`'s own attempts count too)"
        ))
        .suggest(format!(
            "if this client must connect more often: `{run} ufw {allow}` replaces the limit"
        ))
}

fn ufw_fix(finding: Finding, blocker: &Blocker, port: u16, run: &str) -> Finding {
    if is_ufw_limit(blocker) {
        return ufw_limit_fix(finding, blocker, port, run);
    }
    let out = ufw_direction(blocker.hook);
    let chain = blocker.chain.as_str();
    let family = if chain.starts_with("ufw6-") { "6" } else { "" };
    if chain.contains("-user-") && blocker.position.is_some() {
        let does = match blocker.verdict {
            Verdict::Drop => "deny",
            Verdict::Reject => "reject",
        };
        finding
            .suggest(format!(
                "it is a ufw rule (`ufw {does}{out} ...`): `{run} ufw status numbered` lists them; remove it with `{run} ufw delete NUMBER`"
            ))
            .suggest(format!(
                "or allow the port before it: `{run} ufw insert 1 allow{out} {port}/tcp`"
            ))
    } else if chain.contains("-before-") || chain.contains("-after-") {
        let file = if chain.contains("-before-") {
            "before"
        } else {
            "after"
        };
        finding.suggest(format!(
            "the rule comes from /etc/ufw/{file}{family}.rules: change it there, then `{run} ufw reload`"
        ))
    } else {
        // The default policy (ufw-reject-*, ufw-skip-to-policy-*, a builtin chain's policy).
        let direction = if out.is_empty() {
            "incoming"
        } else {
            "outgoing"
        };
        finding
            .suggest(format!(
                "ufw's default policy for {direction} connections stops it: `{run} ufw allow{out} {port}/tcp`"
            ))
            .suggest(format!(
                "or change the default: `{run} ufw default allow {direction}`; `{run} ufw status verbose` shows it"
            ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::firewall::Hook;

    /// The connection the rules stop.
    const DEST: SocketAddr = SocketAddr::new(
        std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 9)),
        22,
    );

    fn rule(tool: Tool, table: &str, chain: &str, rule: &str) -> Blocker {
        Blocker {
            table: table.to_owned(),
            chain: chain.to_owned(),
            path: vec!["INPUT".to_owned(), chain.to_owned()],
            hook: Hook::Input,
            rule: rule.to_owned(),
            verdict: Verdict::Reject,
            handle: Some(4),
            position: Some(1),
            tool,
            stops: Stops::Request,
            certain: true,
            matches: true,
            rate_limit: false,
            netns: None,
        }
    }

    /// fail2ban's iptables actions (`f2b-JAIL`) and its nftables actions (`f2b-table`, the
    /// jail's set): its unban, with the address when the rule names it; no other chain or table.
    /// An nft ban set (`ip saddr @ban drop`): the element goes, not the rule; the set of `CrowdSec` by
    /// its `cscli`; an allow list's negated match is no ban.
    #[test]
    fn bans_are_lifted_by_their_owner() {
        let iptables = rule(
            Tool::Iptables,
            "ip filter",
            "f2b-sshd",
            "ip saddr 10.0.0.5 reject",
        );
        assert_eq!(fail2ban_jail(&iptables), Some("sshd"));
        let nft = rule(
            Tool::Nft,
            "inet f2b-table",
            "f2b-chain",
            "tcp dport { 22 } ip saddr @addr-set-nginx-http-auth reject",
        );
        assert_eq!(fail2ban_jail(&nft), Some("nginx-http-auth"));
        let six = rule(
            Tool::Nft,
            "inet f2b-table",
            "f2b-chain",
            "ip6 saddr @addr6-set-sshd reject",
        );
        assert_eq!(fail2ban_jail(&six), Some("sshd"));
        let fixes = |b: &Blocker| {
            fix(Finding::new(Cause::BlockedLocally, "x"), b, DEST, "sudo").suggestions
        };
        assert!(fixes(&iptables)[0].contains("`sudo fail2ban-client set sshd unbanip 10.0.0.5`"));
        assert!(
            fixes(&nft)[0].contains("`sudo fail2ban-client set nginx-http-auth unbanip ADDRESS`")
        );
        let banned = rule(Tool::Nft, "inet filter", "input", "ip saddr @ban drop");
        let said = fixes(&banned);
        assert!(said[0].contains("in the set `ban`"), "{said:?}");
        assert!(
            said[0].contains("`sudo nft delete element inet filter ban { THIS-ADDRESS }`"),
            "{said:?}"
        );
        let crowdsec = rule(
            Tool::Nft,
            "ip crowdsec",
            "crowdsec-chain",
            "ip saddr @crowdsec-blacklists drop",
        );
        let said = fixes(&crowdsec);
        assert!(
            said[1].contains("cscli decisions delete --ip THIS-ADDRESS"),
            "{said:?}"
        );
        let allowed = rule(
            Tool::Nft,
            "inet filter",
            "input",
            "ip saddr != @allowed drop",
        );
        assert_eq!(banned_by_set(&allowed, DEST), None);
        for other in [
            rule(
                Tool::Iptables,
                "ip filter",
                "INPUT",
                "ip saddr 10.0.0.5 reject",
            ),
            rule(
                Tool::Nft,
                "inet filter",
                "f2b-sshd",
                "ip saddr 10.0.0.5 reject",
            ),
            rule(
                Tool::Nft,
                "inet f2b-table",
                "f2b-chain",
                "tcp dport 22 reject",
            ),
        ] {
            assert_eq!(fail2ban_jail(&other), None, "{other:?}");
        }
    }

    /// A set of what the rule stops (nft's named set, an ipset): the element goes, not the
    /// rule, which would let every element through.
    #[test]
    fn set_elements_go_not_the_rule() {
        let fixes = |b: &Blocker| {
            fix(Finding::new(Cause::BlockedLocally, "x"), b, DEST, "sudo").suggestions
        };
        // A blocklist of destinations and ports: this connection's pair goes.
        let pairs = rule(
            Tool::Nft,
            "ip filter",
            "output",
            "ip daddr . tcp dport @blocked drop",
        );
        assert_eq!(
            banned_by_set(&pairs, DEST),
            Some(("blocked", "10.0.0.9 . 22".to_owned()))
        );
        assert!(
            fixes(&pairs)[0]
                .contains("`sudo nft delete element ip filter blocked { 10.0.0.9 . 22 }`"),
            "{:?}",
            fixes(&pairs)
        );
        // An ipset's match, as iptables-save writes it and as nft lists iptables-nft's.
        for (text, named) in [
            (
                "-A INPUT -p tcp -m set --match-set blocklist src -j DROP",
                "blocklist",
            ),
            ("tcp dport 22 xt match set drop", "SET"),
        ] {
            let ipset = rule(Tool::Iptables, "ip filter", "INPUT", text);
            assert!(
                fixes(&ipset)[0].contains(&format!("`sudo ipset del {named} ADDRESS`")),
                "{:?}",
                fixes(&ipset)
            );
        }
        // A negated match is an allow list: the address goes into the set (review h22: it
        // said `ipset del` of an address that is not in it).
        let allow = rule(
            Tool::Iptables,
            "ip filter",
            "OUTPUT",
            "-A OUTPUT -p tcp -m set ! --match-set allowed dst -j REJECT",
        );
        assert!(
            fixes(&allow)[0].contains("`sudo ipset add allowed ADDRESS` lets one through")
                && !fixes(&allow)[0].contains("ipset del"),
            "{:?}",
            fixes(&allow)
        );
    }
}
