//! firewalld's rules in its own terms: which zone, rich rule or policy a rule of its comes from
//! (told by the names of the chains it makes), and the `firewall-cmd` that changes it. An `nft
//! delete rule` or `iptables -D` of one of its rules would be undone at its next reload.

use crate::sys::firewall::{Blocker, Hook, Verdict};

use super::rules::Finding;

/// What part of firewalld's configuration a chain of its holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source<'a> {
    /// A zone's own chain (`filter_IN_public`, `IN_public`): its last rule is the zone's
    /// target, what it does with a packet nothing in the zone allowed.
    Zone(&'a str),
    /// One of a zone's parts (`filter_IN_public_deny`, `_allow`, `_pre`, `_post`, `_log`):
    /// its rules are the zone's ports, services and rich rules.
    ZonePart(&'a str),
    /// A policy's chains (`filter_IN_policy_NAME...`, the nftables backend).
    Policy(&'a str),
    /// Another chain of firewalld's (`filter_INPUT`, `INPUT_direct`...).
    Other,
}

/// The parts firewalld splits a zone or policy into, in the order a packet meets them.
const PARTS: [&str; 5] = ["pre", "log", "deny", "allow", "post"];

impl<'a> Source<'a> {
    /// Where `chain` comes from: firewalld names its chains `[filter_]DIR_ZONE[_PART]` (`DIR`
    /// `IN`, `FWD`; `FWDI`/`FWDO` before firewalld 0.9), and a policy's chains
    /// `filter_DIR_policy_NAME[_PART]`.
    pub(super) fn of(chain: &'a str) -> Self {
        let chain = chain.strip_prefix("filter_").unwrap_or(chain);
        let Some(rest) = ["IN_", "FWD_", "FWDI_", "FWDO_", "OUT_"]
            .iter()
            .find_map(|dir| chain.strip_prefix(dir))
        else {
            return Self::Other;
        };
        let (name, part) = match rest.rsplit_once('_') {
            Some((name, part)) if PARTS.contains(&part) => (name, true),
            _ => (rest, false),
        };
        if name.is_empty() {
            return Self::Other;
        }
        match (name.strip_prefix("policy_"), part) {
            (Some(policy), _) if !policy.is_empty() => Self::Policy(policy),
            (_, true) => Self::ZonePart(name),
            (_, false) => Self::Zone(name),
        }
    }
}

/// How a summary names the rule's maker: `firewalld (zone `public`)`.
pub(super) fn whose(blocker: &Blocker) -> String {
    match Source::of(&blocker.chain) {
        Source::Zone(zone) | Source::ZonePart(zone) => format!("firewalld (zone `{zone}`)"),
        Source::Policy(policy) => format!("firewalld (policy `{policy}`)"),
        Source::Other => "firewalld".to_owned(),
    }
}

/// The `firewall-cmd` that `run` runs. firewall-cmd talks to firewalld over the D-Bus system
/// bus, found in the file system: in another namespace that a process of it names
/// (`nsenter -t PID -n`), its mount namespace is entered too, so that the command reaches the
/// firewalld running there, not this host's. `ip netns exec` keeps this host's bus, so the
/// namespace's own must be named ([`NAMED_BUS`]).
pub(super) fn firewall_cmd(run: &str) -> String {
    match run.strip_suffix(" -n") {
        Some(nsenter) if nsenter.starts_with("sudo nsenter ") => {
            format!("{nsenter} -n -m firewall-cmd")
        }
        _ if run.contains("ip netns exec ") => {
            format!("{run} env DBUS_SYSTEM_BUS_ADDRESS=BUS firewall-cmd")
        }
        _ => format!("{run} firewall-cmd"),
    }
}

/// What `BUS` is in a command for a named namespace's firewalld.
const NAMED_BUS: &str = "BUS is the D-Bus address the namespace's firewalld uses: `ip netns exec` keeps this host's bus, whose firewall-cmd would change this host's firewalld";

/// firewalld's service for a port, for the few ports whose service is theirs alone (firewalld's
/// `/usr/lib/firewalld/services`); `--add-service` then reads better than a bare port.
fn service(port: u16) -> Option<&'static str> {
    Some(match port {
        22 => "ssh",
        80 => "http",
        443 => "https",
        1433 => "mssql",
        3306 => "mysql",
        5432 => "postgresql",
        5672 => "amqp",
        6379 => "redis",
        11211 => "memcache",
        27017 => "mongodb",
        _ => return None,
    })
}

/// How to let a connection to `port` through the rule `blocker` of firewalld, each command run
/// by `run` (`sudo` here, `sudo ip netns exec NS` in another namespace).
pub(super) fn fix(finding: Finding, blocker: &Blocker, port: u16, run: &str) -> Finding {
    let cmd = firewall_cmd(run);
    let finding = match (Source::of(&blocker.chain), blocker.hook) {
        (Source::Zone(zone), Hook::Input) => {
            let target = match blocker.verdict {
                Verdict::Drop => "drops (its target is DROP)",
                Verdict::Reject => "rejects",
            };
            let add = service(port).map_or_else(
                || format!("--add-port={port}/tcp"),
                |service| format!("--add-service={service}"),
            );
            finding
                .suggest(format!(
                    "firewalld's zone `{zone}` {target} every port it does not open: `{cmd} --zone={zone} {add}` opens port {port} now, `{cmd} --permanent --zone={zone} {add}` keeps it open after a reload or reboot"
                ))
                .suggest(format!(
                    "`{cmd} --zone={zone} --list-all` shows what the zone opens; `{cmd} --get-active-zones` which sources and interfaces it takes"
                ))
        }
        (Source::ZonePart(zone), _) if blocker.handle.is_some() || blocker.position.is_some() => {
            finding.suggest(format!(
                "it is a rule of firewalld's zone `{zone}`, most likely a rich rule: `{cmd} --zone={zone} --list-rich-rules` lists them; remove it with `{cmd} --zone={zone} --remove-rich-rule='RULE'`, RULE as listed, and again with `--permanent` to keep it removed"
            ))
        }
        (Source::Policy(policy), _) => finding.suggest(format!(
            "it is a rule of firewalld's policy `{policy}`: `{cmd} --policy={policy} --list-all` shows it; change it with `{cmd} --policy={policy} ...` (and `--permanent`)"
        )),
        _ => finding.suggest(format!(
            "`{cmd} --list-all-zones` and `{cmd} --list-all-policies` show what firewalld allows"
        )),
    };
    let finding = finding.suggest(format!(
        "change it with firewall-cmd, not with nft or iptables: firewalld rewrites its rules on every reload (table `{}`)",
        blocker.table
    ));
    if cmd.contains("DBUS_SYSTEM_BUS_ADDRESS=BUS") {
        finding.suggest(NAMED_BUS)
    } else {
        finding
    }
}

/// For a reject that came back from `host` itself as an ICMP admin-prohibited: what firewalld
/// answers for a port its zone does not open, so likely the source on RHEL, Fedora and the like.
pub(super) fn admin_prohibited_hint(host: std::net::IpAddr, port: u16) -> String {
    format!(
        "an admin-prohibited reject is what firewalld's zones send for a port they do not open (the default on RHEL, Fedora, CentOS, Rocky, Alma, openSUSE): if {host} runs firewalld, open the port there with `sudo firewall-cmd --add-port={port}/tcp` (and again with `--permanent` to keep it); `sudo firewall-cmd --get-active-zones` shows which zone takes this client"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_names_its_zone_part_or_policy() {
        assert_eq!(Source::of("filter_IN_public"), Source::Zone("public"));
        assert_eq!(
            Source::of("filter_IN_public_deny"),
            Source::ZonePart("public")
        );
        assert_eq!(
            Source::of("filter_FWD_my_zone_allow"),
            Source::ZonePart("my_zone")
        );
        assert_eq!(Source::of("filter_FWD_my_zone"), Source::Zone("my_zone"));
        assert_eq!(
            Source::of("filter_IN_policy_allow-host-ipv6_allow"),
            Source::Policy("allow-host-ipv6")
        );
        // The iptables backend's, and firewalld's own chains.
        assert_eq!(Source::of("IN_block"), Source::Zone("block"));
        assert_eq!(Source::of("FWDI_public_allow"), Source::ZonePart("public"));
        for other in [
            "filter_INPUT",
            "filter_INPUT_ZONES",
            "INPUT_ZONES",
            "INPUT_direct",
            "filter_INPUT_POLICIES_pre",
            "IN_",
            "IN__deny",
        ] {
            assert_eq!(Source::of(other), Source::Other, "{other}");
        }
    }

    #[test]
    fn firewall_cmd_enters_the_mount_namespace_of_a_process() {
        assert_eq!(firewall_cmd("sudo"), "sudo firewall-cmd");
        assert_eq!(
            firewall_cmd("sudo nsenter -t 42 -n"),
            "sudo nsenter -t 42 -n -m firewall-cmd"
        );
        assert_eq!(
            firewall_cmd("sudo ip netns exec web"),
            "sudo ip netns exec web env DBUS_SYSTEM_BUS_ADDRESS=BUS firewall-cmd"
        );
    }
}
