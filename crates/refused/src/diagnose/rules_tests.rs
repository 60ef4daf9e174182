//! Each rule on facts made by hand: no sockets, no host.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::connect::{Address, Attempt};
use crate::diagnose::evidence::{
    BoundDevice, ConnectionsLeft, ContainerPort, HeldBy, HeldUnixListener, Publisher,
    UnixSocketFacts,
};
use crate::diagnose::facts::{Init, Privilege, RateLimits, RulesRead};
use crate::resolve::ResolveError;
use crate::sys::firewall::{Blocker, Hook, Stops, Tool, Verdict};
use crate::sys::host::NameSource;
use crate::sys::loopback::{Ipv6Switch, Loopback};
use crate::sys::netns::Namespace;
use crate::sys::process::ContainerRuntime;
use crate::sys::tables::Listener;
use crate::sys::unix_path::{ClosedDirectory, FileType, Mode, Owner};

fn facts(target: &str) -> Facts {
    Facts {
        target: target.parse().unwrap(),
        resolution: Resolution::None,
        nameservers: Vec::new(),
        addresses: Vec::new(),
        listeners: Some(Vec::new()),
        absent_addresses: Vec::new(),
        stranded: Vec::new(),
        foreign: Vec::new(),
        foreign_reach: None,
        unix_listeners: Vec::new(),
        proxy_address: false,
        proxied: None,
        forwarder: None,
        stopped_containers: Vec::new(),
        named_containers: Vec::new(),
        container_ports: Vec::new(),
        podman_containers: Vec::new(),
        rootless: None,
        unpublished_containers: Vec::new(),
        udp_receivers: Vec::new(),
        bound_only: Vec::new(),
        connections_left: None,
        ephemeral_ports: Some((32768, 60999)),
        reserved_ports: None,
        reverse_path: None,
        conntrack: None,
        ipv6_usable: true,
        loopback: Some(Loopback {
            up: Some(true),
            ipv6_disabled_by: Vec::new(),
            netns: None,
        }),
        unix: None,
        unseen: Vec::new(),
        rules_read: RulesRead::default(),
        program: "refused".to_owned(),
        probe: None,
        speaks_tls: None,
        hosts_has_it_undotted: false,
        privilege: Privilege::User,
        init: Init::Systemd,
    }
}

fn tried(addr: &str, outcome: Outcome, ms: u64) -> AddressFacts {
    let addr: SocketAddr = addr.parse().unwrap();
    AddressFacts {
        attempt: Attempt {
            address: Address::Inet(addr),
            outcome,
            errno: None,
            started: Duration::ZERO,
            elapsed: Duration::from_millis(ms),
            try_number: 1,
            icmp: None,
            local_port: None,
        },
        addr,
        local: addr.ip().is_loopback(),
        neighbour: None,
        blockers: Some(Vec::new()),
        route: None,
        route_lookup: None,
        looped: None,
        thrown: None,
        off_link_source: None,
        droppers: Vec::new(),
        ipv6_state: None,
        down_link: None,
        gateway: None,
        holder: None,
        published: None,
        published_beside: None,
        forwarded: None,
        blocked_for_others: Vec::new(),
        rate_limits: None,
        untracked_reply: None,
    }
}

fn listening(addr: &str, process: &str) -> HeldListener {
    let addr: SocketAddr = addr.parse().unwrap();
    HeldListener {
        listener: Listener {
            address: addr.ip(),
            port: addr.port(),
            v6only: addr.is_ipv6().then_some(false),
            queue: 0,
            backlog: Some(128),
            uid: 1000,
            inode: u64::from(addr.port()),
            device: None,
        },
        pid: Some(4242),
        process: Some(process.to_owned()),
        container: None,
        stopped: None,
        netns: None,
        netns_pid: None,
        service_unit: None,
    }
}

fn blocker(rule: &str, verdict: Verdict, certain: bool) -> Blocker {
    Blocker {
        table: "inet filter".to_owned(),
        chain: "output".to_owned(),
        path: vec!["output".to_owned()],
        hook: Hook::Output,
        rule: rule.to_owned(),
        verdict,
        handle: Some(7),
        position: Some(1),
        tool: Tool::Nft,
        stops: Stops::Request,
        certain,
        matches: certain,
        rate_limit: false,
        netns: None,
    }
}

fn cause(facts: &Facts) -> Cause {
    infer(facts).unwrap().cause
}

fn one(target: &str, address: AddressFacts) -> Facts {
    Facts {
        addresses: vec![address],
        ..facts(target)
    }
}

#[test]
fn dns_failures_are_told_apart() {
    for (kind, expected) in [
        (ResolveErrorKind::NotFound, Cause::DnsNotFound),
        (ResolveErrorKind::NoAddress, Cause::DnsNoAddress),
        (ResolveErrorKind::Timeout, Cause::DnsFailure),
        (ResolveErrorKind::ServerFailure, Cause::DnsFailure),
    ] {
        let f = Facts {
            resolution: Resolution::Failed(ResolveError {
                name: "db.example".into(),
                kind,
            }),
            ..facts("db.example:5432")
        };
        let finding = infer(&f).unwrap();
        assert_eq!(finding.cause, expected);
        assert!(
            finding.summary.contains("`db.example`"),
            "{}",
            finding.summary
        );
    }
}

/// `localhost.`, with its final dot, is not `localhost` of /etc/hosts to glibc: it goes to DNS,
/// which may not know it. The cause is the resolver's; the fix is to drop the dot.
#[test]
fn a_name_with_a_final_dot_that_hosts_has_without_it_says_to_drop_the_dot() {
    let f = Facts {
        resolution: Resolution::Failed(ResolveError {
            name: "localhost.".into(),
            kind: ResolveErrorKind::NotFound,
        }),
        hosts_has_it_undotted: true,
        ..facts("localhost.:8080")
    };
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::DnsNotFound);
    assert!(
        finding.suggestions[0].starts_with("write `localhost`, without the final dot"),
        "{finding:?}"
    );
    let f = Facts {
        hosts_has_it_undotted: false,
        ..f
    };
    assert!(!infer(&f).unwrap().suggestions[0].contains("final dot"));
}

/// A compose service's name, tried from the host: it does not exist here, and the way in is the
/// port it publishes (or publishing one), first.
#[test]
fn a_compose_service_name_tried_from_the_host_points_to_its_published_port() {
    use crate::diagnose::facts::NamedContainer;
    let lookup = |containers: Vec<NamedContainer>| Facts {
        resolution: Resolution::Failed(ResolveError {
            name: "db".into(),
            kind: ResolveErrorKind::NotFound,
        }),
        named_containers: containers,
        ..facts("db:5432")
    };
    let db = NamedContainer {
        name: "proj-db-1".into(),
        service: Some("db".into()),
        published: vec![crate::sys::docker::PublishedPort {
            inside: 5432,
            at: None,
            port: 5433,
        }],
    };
    let finding = infer(&lookup(vec![db.clone()])).unwrap();
    assert_eq!(finding.cause, Cause::DnsNotFound);
    assert_eq!(
        finding.suggestions[0],
        "`db` is the compose service `db` (container `proj-db-1`): Docker's DNS answers that name inside its networks, for other containers, and not on this host; connect to localhost:5433 (its 5432) instead"
    );
    let unpublished = NamedContainer {
        service: None,
        published: Vec::new(),
        ..db.clone()
    };
    let finding = infer(&lookup(vec![unpublished])).unwrap();
    assert!(
        finding.suggestions[0].starts_with("`db` is Docker's container `proj-db-1`: ")
            && finding.suggestions[0]
                .contains("it publishes no port: publish it (`ports: [\"5432:5432\"]` in compose"),
        "{finding:?}"
    );
    // Two projects with a `db` service: the first is the suggestion, the other a warning.
    let other = NamedContainer {
        name: "other-db-1".into(),
        ..db.clone()
    };
    let finding = infer(&lookup(vec![db, other])).unwrap();
    assert_eq!(
        finding.warnings,
        [
            "`db` also names `other-db-1` (another compose project's, or another network's): check which one this client means"
        ]
    );
    // No such container: the plain answer.
    let finding = infer(&lookup(Vec::new())).unwrap();
    assert!(finding.suggestions[0].starts_with("check the spelling of `db`"));
}

fn nameserver(address: &str, local: bool, listening: Option<bool>) -> Nameserver {
    Nameserver {
        address: address.parse().unwrap(),
        source: NameserverSource::ResolvConf,
        local,
        listening,
        pid: None,
        process: None,
        dangling_link: None,
        resolved_pid: None,
    }
}

fn failed_lookup(nameservers: Vec<Nameserver>) -> Finding {
    failed_lookup_under(nameservers, Init::Systemd)
}

fn failed_lookup_under(nameservers: Vec<Nameserver>, init: Init) -> Finding {
    let f = Facts {
        init,
        resolution: Resolution::Failed(ResolveError {
            name: "db.example".into(),
            kind: ResolveErrorKind::Timeout,
        }),
        nameservers,
        ..facts("db.example:5432")
    };
    infer(&f).unwrap()
}

#[test]
fn a_stopped_local_resolver_is_named_with_its_fix() {
    // systemd-resolved's stub, with nothing on its port.
    let finding = failed_lookup(vec![nameserver("127.0.0.53", true, Some(false))]);
    assert_eq!(finding.cause, Cause::DnsFailure);
    assert!(
        finding.summary.contains(
            "its nameserver 127.0.0.53 is this host's own, and nothing receives on its port 53"
        ),
        "{}",
        finding.summary
    );
    assert!(finding.suggestions[0].contains("systemctl start systemd-resolved"));
    let nameservers: Vec<_> = finding
        .evidence
        .iter()
        .filter(|e| matches!(e, Evidence::Nameserver(_)))
        .collect();
    assert_eq!(nameservers.len(), 1);

    // A container's copy of its host's file: systemd does not run here, the stub is the host's.
    let finding = failed_lookup_under(
        vec![nameserver("127.0.0.53", true, Some(false))],
        Init::Other,
    );
    assert!(
        finding.suggestions[0].contains("systemd does not run here"),
        "{finding:?}"
    );
    assert!(!finding.suggestions[0].contains("start it"), "{finding:?}");

    // systemd-resolved runs with its stub listener off: starting it is not the fix.
    let finding = failed_lookup(vec![Nameserver {
        resolved_pid: Some(412),
        ..nameserver("127.0.0.53", true, Some(false))
    }]);
    assert!(
        finding.suggestions[0].contains("systemd-resolved runs (pid 412)")
            && finding.suggestions[0].contains("DNSStubListener=no"),
        "{finding:?}"
    );
    assert!(
        !finding.suggestions[0].contains("systemctl start"),
        "{finding:?}"
    );

    // No nameserver line: the default, 127.0.0.1.
    let default = Nameserver {
        source: NameserverSource::Default,
        ..nameserver("127.0.0.1", true, Some(false))
    };
    let finding = failed_lookup(vec![default.clone()]);
    assert!(finding.suggestions[0].contains("names no nameserver"));
    // None because /etc/resolv.conf links to a file systemd-resolved did not write.
    let dangling = Nameserver {
        dangling_link: Some("../run/systemd/resolve/stub-resolv.conf".into()),
        ..default
    };
    let finding = failed_lookup(vec![dangling]);
    assert!(
        finding.suggestions[0]
            .contains("links to ../run/systemd/resolve/stub-resolv.conf, which does not exist"),
        "{finding:?}"
    );

    // Another local server that is down, with a remote one beside it: the remote one may be
    // what failed, so nothing is blamed on the local one.
    let finding = failed_lookup(vec![
        nameserver("127.0.0.1", true, Some(false)),
        nameserver("10.0.0.1", false, None),
    ]);
    assert!(
        !finding.summary.contains("nothing receives"),
        "{}",
        finding.summary
    );
    assert!(finding.suggestions[0].contains("/etc/resolv.conf"));
    // Not known whether anything receives: nothing is said.
    let finding = failed_lookup(vec![nameserver("127.0.0.1", true, None)]);
    assert!(
        !finding.summary.contains("nothing receives"),
        "{}",
        finding.summary
    );
}

#[test]
fn a_running_local_resolver_that_did_not_answer_points_at_its_upstreams() {
    let running = Nameserver {
        pid: Some(412),
        process: Some("systemd-resolve".into()),
        ..nameserver("127.0.0.53", true, Some(true))
    };
    let finding = failed_lookup(vec![running]);
    assert!(
        finding
            .summary
            .contains("systemd-resolve (pid 412), which runs"),
        "{}",
        finding.summary
    );
    assert!(finding.suggestions[0].contains("resolvectl status"));
    // Its process not found: said without a name.
    let finding = failed_lookup(vec![nameserver("127.0.0.1", true, Some(true))]);
    assert_eq!(
        finding.suggestions[0],
        "check the upstream servers in the DNS server's configuration, and its log"
    );
}

#[test]
fn reachable_after_a_refused_first_address_warns_about_clients_without_happy_eyeballs() {
    let f = Facts {
        resolution: Resolution::Resolved {
            name: "localhost".into(),
            addresses: vec!["::1".parse().unwrap(), "127.0.0.1".parse().unwrap()],
            source: NameSource::Hosts,
        },
        addresses: vec![
            tried("[::1]:3000", Outcome::Refused, 0),
            tried("127.0.0.1:3000", Outcome::Connected, 0),
        ],
        ..facts("localhost:3000")
    };
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::Reachable);
    assert_eq!(finding.warnings.len(), 1);
    assert!(
        finding.warnings[0].contains("`localhost` gives ::1 first"),
        "{finding:?}"
    );
    assert_eq!(finding.evidence.len(), 2, "one resolved address each");

    // The first address working is no warning.
    let f = Facts {
        addresses: vec![tried("127.0.0.1:3000", Outcome::Connected, 0)],
        ..f
    };
    assert!(infer(&f).unwrap().warnings.is_empty());
}

#[test]
fn reachable_with_a_later_address_refused_warns_and_says_who_listens_where() {
    // `localhost` gives ::1 first, which a server on [::1] only takes; 127.0.0.1 is refused.
    let f = Facts {
        resolution: Resolution::Resolved {
            name: "localhost".into(),
            addresses: vec!["::1".parse().unwrap(), "127.0.0.1".parse().unwrap()],
            source: NameSource::Hosts,
        },
        addresses: vec![
            tried("[::1]:3000", Outcome::Connected, 0),
            tried("127.0.0.1:3000", Outcome::Refused, 0),
        ],
        listeners: Some(vec![listening("[::1]:3000", "node")]),
        ..facts("localhost:3000")
    };
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::Reachable);
    assert_eq!(finding.warnings.len(), 1, "{finding:?}");
    let warning = &finding.warnings[0];
    for said in [
        "`localhost` also gives 127.0.0.1, and 127.0.0.1:3000 was refused",
        "`curl -4`",
        "node (pid 4242) listens on [::1]:3000 (IPv6 only)",
        "connect to [::1]:3000 instead",
        "bind it to `::` (dual stack)",
    ] {
        assert!(warning.contains(said), "{said}: {warning}");
    }
    // Without the listeners read, the warning still names the address that works.
    let f = Facts {
        listeners: None,
        ..f
    };
    let warning = &infer(&f).unwrap().warnings[0];
    assert!(
        warning.contains("connect to ::1 or make the service listen on 127.0.0.1 too"),
        "{warning}"
    );
}

#[test]
fn reachable_warns_of_a_rule_that_stops_another_users_programs() {
    let mut winner = tried("127.0.0.1:8080", Outcome::Connected, 0);
    let rule = Blocker {
        table: "ip filter".to_owned(),
        chain: "OUTPUT".to_owned(),
        path: vec!["OUTPUT".to_owned()],
        tool: Tool::Iptables,
        ..blocker(
            "tcp dport 8080 skuid 1000 counter reject with tcp reset",
            Verdict::Reject,
            true,
        )
    };
    winner.blocked_for_others = vec![OwnerBlocked {
        blocker: rule,
        uid: Some(1000),
        gid: None,
        name: Some("alice".to_owned()),
    }];
    let f = Facts {
        privilege: Privilege::Root,
        ..one("127.0.0.1:8080", winner)
    };
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::Reachable);
    assert_eq!(finding.warnings.len(), 1, "{finding:?}");
    let warning = &finding.warnings[0];
    for said in [
        "this host's own firewall rejects connections to 127.0.0.1:8080 from programs of uid 1000 (alice)",
        "`tcp dport 8080 skuid 1000 counter reject with tcp reset` (table `ip filter`, chain `OUTPUT`)",
        "this check ran as root",
        "their programs are refused",
        "`iptables -D OUTPUT 1`",
        "run the program as a user it does not match",
    ] {
        assert!(warning.contains(said), "{said}: {warning}");
    }
    assert!(!warning.contains("sudo"), "root runs it: {warning}");
    assert!(
        finding
            .evidence
            .iter()
            .any(|e| matches!(e, Evidence::FirewallRule(b) if b.rule.contains("skuid 1000"))),
        "{finding:?}"
    );
}

#[test]
fn remote_outcomes_name_the_path_causes() {
    let remote = |outcome, ms| cause(&one("192.0.2.7:80", tried("192.0.2.7:80", outcome, ms)));
    assert_eq!(remote(Outcome::Refused, 1), Cause::Closed);
    assert_eq!(remote(Outcome::Timeout, 3000), Cause::Filtered);
    assert_eq!(remote(Outcome::HostUnreachable, 2), Cause::Rejected);
    assert_eq!(
        remote(Outcome::HostUnreachable, 3050),
        Cause::HostUnreachable
    );
    assert_eq!(remote(Outcome::PermissionDenied, 1020), Cause::Rejected);
    assert_eq!(
        remote(Outcome::NetworkUnreachable, 0),
        Cause::NetworkUnreachable
    );
    assert_eq!(
        remote(Outcome::AddressUnavailable, 0),
        Cause::PortsExhausted
    );
}

#[test]
fn a_timeout_to_a_neighbour_that_never_answered_is_host_unreachable() {
    let mut address = tried("10.77.0.99:80", Outcome::Timeout, 3000);
    address.neighbour = Some(Neighbour::NoAnswer);
    let finding = infer(&one("10.77.0.99:80", address)).unwrap();
    assert_eq!(finding.cause, Cause::HostUnreachable);
    assert!(matches!(finding.evidence[0], Evidence::Neighbour { .. }));
}

#[test]
fn a_neighbour_that_failed_the_connect_but_answers_now_is_said_to_be_back() {
    let mut address = tried("10.77.0.2:80", Outcome::HostUnreachable, 3050);
    address.neighbour = Some(Neighbour::Answered);
    let finding = infer(&one("10.77.0.2:80", address)).unwrap();
    assert_eq!(finding.cause, Cause::HostUnreachable);
    assert!(
        finding.summary.contains("answers now") && !finding.summary.contains("no answer"),
        "{finding:?}"
    );
    assert!(
        finding.suggestions[0].starts_with("try again"),
        "{finding:?}"
    );
    assert!(matches!(
        finding.evidence[0],
        Evidence::Neighbour {
            state: Neighbour::Answered,
            ..
        }
    ));

    // Never answered: nobody has the address.
    let mut address = tried("10.77.0.99:80", Outcome::HostUnreachable, 3050);
    address.neighbour = Some(Neighbour::NoAnswer);
    let finding = infer(&one("10.77.0.99:80", address)).unwrap();
    assert!(finding.summary.contains("got no answer"), "{finding:?}");
}

#[test]
fn ipv6_that_cannot_work_here_is_said_so() {
    let f = Facts {
        ipv6_usable: false,
        ..one(
            "[2001:db8::1]:80",
            tried("[2001:db8::1]:80", Outcome::AddressUnavailable, 0),
        )
    };
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::NetworkUnreachable);
    assert_eq!(
        finding.evidence,
        [Evidence::Ipv6Unusable {
            disabled_by: Vec::new()
        }]
    );
    assert!(finding.summary.contains("missing"), "{finding:?}");

    // Switched off: the sysctl is named, and turning it back on suggested.
    let f = Facts {
        loopback: Some(Loopback {
            up: Some(true),
            ipv6_disabled_by: vec![Ipv6Switch::All, Ipv6Switch::Default, Ipv6Switch::Lo],
            netns: None,
        }),
        ..f
    };
    let finding = infer(&f).unwrap();
    assert!(
        finding
            .summary
            .contains("`net.ipv6.conf.all.disable_ipv6` = 1"),
        "{finding:?}"
    );
    assert_eq!(
        finding.suggestions,
        ["connect over IPv4, or enable IPv6: `sudo sysctl -w net.ipv6.conf.all.disable_ipv6=0`"]
    );
}

/// A namespace whose loopback is as given.
fn with_loopback(f: Facts, up: bool, ipv6_disabled_by: &[Ipv6Switch]) -> Facts {
    Facts {
        loopback: Some(Loopback {
            up: Some(up),
            ipv6_disabled_by: ipv6_disabled_by.to_vec(),
            netns: Some("blue".into()),
        }),
        ..f
    }
}

#[test]
fn a_loopback_that_is_down_is_named_whatever_the_address() {
    // `ip netns add` leaves `lo` down: ::1 has no source address, 127.0.0.1 no route, and the
    // namespace's own other address keeps a local route whose packets are never delivered.
    let mut own = tried("10.77.0.1:8080", Outcome::Timeout, 3000);
    own.local = true;
    let localhost = Facts {
        addresses: vec![
            tried("[::1]:8080", Outcome::AddressUnavailable, 0),
            tried("127.0.0.1:8080", Outcome::NetworkUnreachable, 0),
        ],
        ..facts("localhost:8080")
    };
    for f in [
        one(
            "[::1]:8080",
            tried("[::1]:8080", Outcome::AddressUnavailable, 0),
        ),
        one(
            "127.0.0.1:8080",
            tried("127.0.0.1:8080", Outcome::NetworkUnreachable, 0),
        ),
        localhost,
        one("10.77.0.1:8080", own),
    ] {
        let finding = infer(&with_loopback(f, false, &[])).unwrap();
        assert_eq!(finding.cause, Cause::NetworkUnreachable);
        assert!(
            finding.summary.contains("loopback interface `lo`")
                && finding.summary.contains("is down"),
            "{finding:?}"
        );
        assert!(
            finding.evidence.contains(&Evidence::LoopbackDown),
            "{finding:?}"
        );
        assert!(
            finding.suggestions[0].contains("`sudo ip link set lo up`")
                && finding.suggestions[0].contains("`sudo ip netns exec blue ip link set lo up`"),
            "{finding:?}"
        );
        // Neither IPv6 nor a route is what is missing.
        let said = format!("{finding:?}");
        assert!(
            !said.contains("disable_ipv6") && !said.contains("no route"),
            "{said}"
        );
    }
    // Up, the same refusal is the listeners' matter again.
    let f = one(
        "127.0.0.1:8080",
        tried("127.0.0.1:8080", Outcome::Refused, 0),
    );
    let finding = infer(&with_loopback(f, true, &[])).unwrap();
    assert_eq!(finding.cause, Cause::NoListener);
}

#[test]
fn ipv6_switched_off_on_loopback_names_the_sysctl_that_is_set() {
    let f = one(
        "[::1]:8080",
        tried("[::1]:8080", Outcome::AddressUnavailable, 0),
    );
    let finding = infer(&with_loopback(f.clone(), true, &[Ipv6Switch::Lo])).unwrap();
    assert_eq!(finding.cause, Cause::NetworkUnreachable);
    assert!(
        finding
            .summary
            .contains("`net.ipv6.conf.lo.disable_ipv6` = 1")
            && !finding.summary.contains("all.disable_ipv6"),
        "{finding:?}"
    );
    assert_eq!(
        finding.suggestions[0],
        "turn it back on: `sudo sysctl -w net.ipv6.conf.lo.disable_ipv6=0`"
    );
    assert_eq!(
        finding.evidence,
        [Evidence::Ipv6Unusable {
            disabled_by: vec![Ipv6Switch::Lo]
        }]
    );

    // `default` too: interfaces made later are said to start without IPv6.
    let finding = infer(&with_loopback(
        f.clone(),
        true,
        &[Ipv6Switch::Default, Ipv6Switch::Lo],
    ))
    .unwrap();
    assert!(
        finding
            .suggestions
            .iter()
            .any(|s| s.contains("net.ipv6.conf.default.disable_ipv6=0")),
        "{finding:?}"
    );

    // `all`: writing it 0 sets every interface's own switch, `lo`'s included.
    let finding = infer(&with_loopback(
        f.clone(),
        true,
        &[Ipv6Switch::All, Ipv6Switch::Lo],
    ))
    .unwrap();
    assert_eq!(
        finding.suggestions[0],
        "turn it back on: `sudo sysctl -w net.ipv6.conf.all.disable_ipv6=0`"
    );

    // A listener on 127.0.0.1 takes the port: it is the way in meanwhile.
    let f = Facts {
        listeners: Some(vec![listening("127.0.0.1:8080", "app")]),
        ..f
    };
    let finding = infer(&with_loopback(f.clone(), true, &[Ipv6Switch::Lo])).unwrap();
    assert!(
        finding.suggestions.contains(
            &"or connect to 127.0.0.1:8080 instead: app (pid 4242) listens there".to_owned()
        ),
        "{finding:?}"
    );

    // Nothing switched off and IPv6 in the kernel: ::1 itself was taken off `lo`.
    let finding = infer(&with_loopback(f, true, &[])).unwrap();
    assert!(finding.summary.contains("has no ::1"), "{finding:?}");
    assert!(
        finding.suggestions[0].contains("ip -6 addr add ::1/128 dev lo"),
        "{finding:?}"
    );
}

#[test]
fn ports_exhausted_shows_the_range() {
    let finding = infer(&one(
        "192.0.2.7:80",
        tried("192.0.2.7:80", Outcome::AddressUnavailable, 0),
    ))
    .unwrap();
    assert_eq!(finding.cause, Cause::PortsExhausted);
    assert_eq!(
        finding.evidence,
        [Evidence::EphemeralPorts {
            low: 32768,
            high: 60999,
            reserved: None,
        }]
    );
}

#[test]
fn a_scheme_that_names_the_service_offers_its_server_not_another_near_it() {
    let asked = |target: &str, listeners: Vec<HeldListener>| {
        let addr = format!("127.0.0.1:{}", target.rsplit(':').next().unwrap());
        infer(&Facts {
            listeners: Some(listeners),
            ..one(
                target,
                AddressFacts {
                    local: true,
                    ..tried(&addr, Outcome::Refused, 0)
                },
            )
        })
        .unwrap()
    };
    // Redis two ports off, PostgreSQL further: `postgres://` means PostgreSQL's.
    let finding = asked(
        "postgres://127.0.0.1:46706",
        vec![
            listening("127.0.0.1:46705", "redis-server"),
            listening("127.0.0.1:46701", "postgres"),
        ],
    );
    assert_eq!(finding.cause, Cause::WrongPort, "{finding:?}");
    assert!(
        finding.summary.contains(
            "postgres (pid 4242) listens on 127.0.0.1:46701 (postgres:// is PostgreSQL's scheme)"
        ),
        "{}",
        finding.summary
    );
    // No PostgreSQL at all: Redis is no near port of it.
    let finding = asked(
        "postgres://127.0.0.1:46706",
        vec![listening("127.0.0.1:46705", "redis-server")],
    );
    assert_eq!(finding.cause, Cause::NoListener, "{finding:?}");
    // Plain TCP keeps the near port.
    let finding = asked(
        "127.0.0.1:46706",
        vec![listening("127.0.0.1:46705", "redis-server")],
    );
    assert_eq!(finding.cause, Cause::WrongPort, "{finding:?}");
}

#[test]
fn a_rule_of_a_table_a_manager_rewrites_is_fixed_in_the_managers_words() {
    // Incus's network ACL of incusbr0, libvirt's NAT network, Docker's nftables backend: an
    // `nft delete` lasts until their next change.
    for (table, chain, says) in [
        (
            "inet incus",
            "acl.incusbr0",
            "`incus network show incusbr0`",
        ),
        (
            "inet lxd",
            "aclout.lxdbr0",
            "`lxc network acl rule add ACL ingress action=allow protocol=tcp destination_port=80`",
        ),
        (
            "ip libvirt_network",
            "guest_input",
            "`virsh net-edit NETWORK`",
        ),
        (
            "ip docker-bridges",
            "filter-forward",
            "`docker run -p 80:PORT`",
        ),
    ] {
        let mut address = tried("192.0.2.7:80", Outcome::Refused, 1);
        address.blockers = Some(vec![Blocker {
            table: table.to_owned(),
            chain: chain.to_owned(),
            ..blocker("reject", Verdict::Reject, true)
        }]);
        let finding = infer(&one("192.0.2.7:80", address)).unwrap();
        assert_eq!(finding.cause, Cause::BlockedLocally, "{table}");
        let fixes = finding.suggestions.join("\n");
        assert!(fixes.contains(says), "{table}: {fixes}");
        assert!(!fixes.contains("nft delete"), "{table}: {fixes}");
    }
    // A table of one's own keeps `nft delete`.
    let mut address = tried("192.0.2.7:80", Outcome::Refused, 1);
    address.blockers = Some(vec![Blocker {
        table: "inet incusish".to_owned(),
        ..blocker("reject", Verdict::Reject, true)
    }]);
    let finding = infer(&one("192.0.2.7:80", address)).unwrap();
    assert!(
        finding
            .suggestions
            .join("\n")
            .contains("nft delete rule inet incusish")
    );
}

#[test]
fn a_local_rule_that_fits_the_outcome_is_blocked_locally() {
    let mut address = tried("192.0.2.7:7001", Outcome::Timeout, 1000);
    address.blockers = Some(vec![blocker("tcp dport 7001 drop", Verdict::Drop, true)]);
    let finding = infer(&one("192.0.2.7:7001", address.clone())).unwrap();
    assert_eq!(finding.cause, Cause::BlockedLocally);
    assert!(
        finding
            .suggestions
            .iter()
            .any(|s| s.contains("sudo nft delete rule inet filter output handle 7")),
        "{finding:?}"
    );

    // A drop rule does not explain a refusal: that came from somewhere else.
    address.attempt.outcome = Outcome::Refused;
    assert_eq!(
        cause(&one("192.0.2.7:7001", address.clone())),
        Cause::Closed
    );

    // A rule for this port that may match is said to be probable, not certain.
    address.attempt.outcome = Outcome::Timeout;
    address.blockers = Some(vec![blocker(
        "oifname \"eth1\" tcp dport 7001 drop",
        Verdict::Drop,
        false,
    )]);
    let finding = infer(&one("192.0.2.7:7001", address.clone())).unwrap();
    assert_eq!(finding.cause, Cause::BlockedLocally);
    assert!(finding.summary.contains("probably"), "{}", finding.summary);

    // A general rule that only may match (kubelet's drop of marked packets, on every
    // Kubernetes node) is no cause of a timeout, which a firewall on the way explains as
    // well: `filtered`, the rule a warning.
    address.blockers = Some(vec![blocker(
        "meta mark & 0x00008000 == 0x00008000 drop",
        Verdict::Drop,
        false,
    )]);
    let finding = infer(&one("192.0.2.7:7001", address)).unwrap();
    assert_eq!(finding.cause, Cause::Filtered);
    assert!(
        finding.warnings.iter().any(|w| w.contains("0x00008000")),
        "{finding:?}"
    );
    assert!(
        !finding.suggestions.iter().any(|s| s.contains("delete")),
        "{finding:?}"
    );
}

/// A rule names the target by its destination port or address operands alone: a mark's hex
/// digits, an address's octets or a comment's numbers are not the port.
#[test]
fn a_rule_names_the_target_by_its_destination_operands() {
    let named = |rule: &str, addr: &str| {
        names_target(&blocker(rule, Verdict::Drop, false), addr.parse().unwrap())
    };
    assert!(named("tcp dport 8000 drop", "192.0.2.7:8000"));
    assert!(named("tcp dport { 22, 8000 } drop", "192.0.2.7:8000"));
    assert!(named("tcp dport 8000-8100 drop", "192.0.2.7:8080"));
    assert!(named(
        "-A INPUT -p tcp -m multiport --dports 22,8000:8100 -j DROP",
        "192.0.2.7:8080"
    ));
    assert!(named("ip daddr 10.8.0.0/24 drop", "10.8.0.5:9"));
    assert!(named("-A OUTPUT -d 10.8.0.5/32 -j DROP", "10.8.0.5:9"));
    assert!(!named(
        "-A KUBE-FIREWALL -m mark --mark 0x8000/0x8000 -j DROP",
        "192.0.2.7:8000"
    ));
    assert!(!named(
        "meta mark & 0x00008000 == 0x00008000 drop",
        "192.0.2.7:8000"
    ));
    assert!(!named("ip saddr 10.0.0.22 drop", "192.0.2.7:22"));
    assert!(!named("tcp dport != 8000 drop", "192.0.2.7:8000"));
    assert!(!named("ip daddr 10.9.0.0/24 drop", "10.8.0.5:9"));
}

/// kube-proxy rejects a Service's address and port while the Service has no ready endpoints:
/// the Service is what to fix, and deleting the rule would not last (audit of real setups).
#[test]
fn kube_proxys_reject_points_at_the_services_endpoints() {
    let mut address = tried("10.96.0.10:80", Outcome::Refused, 1);
    address.blockers = Some(vec![Blocker {
        table: "ip filter".to_owned(),
        chain: "KUBE-SERVICES".to_owned(),
        path: ["OUTPUT", "KUBE-SERVICES"].map(str::to_owned).to_vec(),
        tool: Tool::Iptables,
        position: Some(1),
        ..blocker(
            "meta l4proto tcp ip daddr 10.96.0.10 tcp dport 80 reject",
            Verdict::Reject,
            true,
        )
    }]);
    let finding = infer(&one("10.96.0.10:80", address)).unwrap();
    assert_eq!(finding.cause, Cause::BlockedLocally);
    assert!(
        finding.summary.starts_with("kube-proxy's rule"),
        "{}",
        finding.summary
    );
    let fixes = finding.suggestions.join("\n");
    assert!(fixes.contains("kubectl get endpointslices"), "{fixes}");
    assert!(!fixes.contains("-D KUBE-SERVICES"), "{fixes}");

    // nftables mode: its reject-chain is that; its cluster-ips-check (a port the Service does
    // not have) is not.
    let nft_mode = |chain: &str| {
        let mut address = tried("10.96.0.10:81", Outcome::Refused, 1);
        address.blockers = Some(vec![Blocker {
            table: "ip kube-proxy".to_owned(),
            chain: chain.to_owned(),
            path: ["filter-output", chain].map(str::to_owned).to_vec(),
            tool: Tool::Nft,
            ..blocker("reject", Verdict::Reject, true)
        }]);
        infer(&one("10.96.0.10:81", address)).unwrap()
    };
    assert!(
        nft_mode("reject-chain")
            .summary
            .starts_with("kube-proxy's rule")
    );
    assert!(
        !nft_mode("cluster-ips-check")
            .summary
            .starts_with("kube-proxy's rule")
    );
}

/// The reverse-path filter's counter is the namespace's: it names the filter as the cause only
/// with conntrack's word that this connection's reply came, warns where nothing can tell, and
/// says nothing where no interface is strict or conntrack saw no reply.
#[test]
fn the_reverse_path_filter_is_blamed_only_on_conntracks_word() {
    use crate::diagnose::facts::ReversePath;
    let address = tried("192.0.2.7:7001", Outcome::Timeout, 2000);
    let with = |reverse: ReversePath| Facts {
        reverse_path: Some(reverse),
        ..one("192.0.2.7:7001", address.clone())
    };
    let dropped = ReversePath {
        dropped: 3,
        strict: vec!["wg0".into()],
        ..ReversePath::default()
    };
    let replied = with(ReversePath {
        replied: vec![address.addr],
        conntrack_read: true,
        ..dropped.clone()
    });
    let finding = infer(&replied).unwrap();
    assert_eq!(finding.cause, Cause::BlockedLocally);
    assert!(
        finding
            .suggestions
            .iter()
            .any(|s| s.contains("net.ipv4.conf.wg0.rp_filter=2")),
        "{finding:?}"
    );
    let unknown = infer(&with(dropped.clone())).unwrap();
    assert_eq!(unknown.cause, Cause::Filtered);
    assert!(
        unknown.warnings.iter().any(|w| w.contains("reverse-path")),
        "{unknown:?}"
    );
    for quiet in [
        ReversePath {
            conntrack_read: true,
            ..dropped.clone()
        },
        ReversePath {
            strict: Vec::new(),
            ..dropped
        },
    ] {
        let finding = infer(&with(quiet)).unwrap();
        assert_eq!(finding.cause, Cause::Filtered);
        assert!(finding.warnings.is_empty(), "{finding:?}");
    }
}

#[test]
fn a_rule_is_removed_with_the_tool_that_made_it() {
    let mut address = tried("192.0.2.7:5555", Outcome::Refused, 1);
    let ufw = Blocker {
        table: "ip filter".to_owned(),
        chain: "ufw-user-output".to_owned(),
        path: ["OUTPUT", "ufw-before-output", "ufw-user-output"]
            .map(str::to_owned)
            .to_vec(),
        tool: Tool::Ufw,
        position: Some(2),
        ..blocker(
            "tcp dport 5555 reject with tcp reset",
            Verdict::Reject,
            true,
        )
    };
    address.blockers = Some(vec![ufw.clone()]);
    let finding = infer(&one("192.0.2.7:5555", address.clone())).unwrap();
    assert_eq!(finding.cause, Cause::BlockedLocally);
    assert!(
        finding.summary.starts_with("ufw stops"),
        "{}",
        finding.summary
    );
    assert!(
        finding
            .summary
            .contains("OUTPUT -> ufw-before-output -> ufw-user-output"),
        "{}",
        finding.summary
    );
    assert!(
        finding
            .suggestions
            .iter()
            .any(|s| s.contains("sudo ufw status numbered") && s.contains("ufw delete")),
        "{finding:?}"
    );

    let iptables = Blocker {
        table: "ip6 filter".to_owned(),
        chain: "MYCHAIN".to_owned(),
        path: vec!["OUTPUT".to_owned(), "MYCHAIN".to_owned()],
        tool: Tool::Iptables,
        position: Some(3),
        ..ufw
    };
    address.blockers = Some(vec![iptables]);
    let finding = infer(&one("192.0.2.7:5555", address)).unwrap();
    assert!(
        finding
            .suggestions
            .iter()
            .any(|s| s.contains("`sudo ip6tables -D MYCHAIN 3`")),
        "{finding:?}"
    );
}

#[test]
fn a_rule_that_drops_the_replies_explains_a_timeout_only() {
    let mut address = tried("192.0.2.7:80", Outcome::Timeout, 1000);
    let reply = Blocker {
        hook: Hook::Input,
        chain: "input".to_owned(),
        stops: Stops::Reply,
        handle: None,
        position: None,
        ..blocker("policy drop", Verdict::Drop, true)
    };
    address.blockers = Some(vec![reply.clone()]);
    let finding = infer(&one("192.0.2.7:80", address.clone())).unwrap();
    assert_eq!(finding.cause, Cause::BlockedLocally);
    assert!(
        finding
            .summary
            .contains("drops the replies from 192.0.2.7:80"),
        "{}",
        finding.summary
    );
    assert!(
        finding
            .suggestions
            .iter()
            .any(|s| s.contains("ct state established,related accept"))
    );

    // Even a reject of the reply: the client only sees silence.
    address.blockers = Some(vec![Blocker {
        verdict: Verdict::Reject,
        ..reply
    }]);
    address.attempt.outcome = Outcome::Refused;
    assert_eq!(cause(&one("192.0.2.7:80", address)), Cause::Closed);
}

#[test]
fn a_reset_with_the_rules_unread_says_it_may_be_a_local_reject() {
    let mut address = tried("192.0.2.7:80", Outcome::Refused, 1);
    address.blockers = None;
    let finding = infer(&one("192.0.2.7:80", address.clone())).unwrap();
    assert_eq!(finding.cause, Cause::Closed);
    assert!(
        finding.summary.contains("`reject with tcp reset`"),
        "{}",
        finding.summary
    );
    assert!(!finding.summary.contains("is up"), "{}", finding.summary);

    // With the rules read and none matching, the reset is the remote host's.
    address.blockers = Some(Vec::new());
    let finding = infer(&one("192.0.2.7:80", address)).unwrap();
    assert!(finding.summary.contains("is up"), "{}", finding.summary);
}

/// A refusal from this host's own port with nothing listening is the kernel's reset: a reject
/// rule that only may match is a warning then, not the cause. A certain one is the cause.
#[test]
fn nothing_listening_outranks_a_reject_rule_that_may_not_match() {
    let mut address = tried("127.0.0.1:8080", Outcome::Refused, 0);
    let maybe = blocker(
        "meta mark 0x1 tcp dport 8080 reject",
        Verdict::Reject,
        false,
    );
    address.blockers = Some(vec![maybe.clone()]);
    let finding = infer(&one("127.0.0.1:8080", address.clone())).unwrap();
    assert_eq!(finding.cause, Cause::NoListener, "{finding:?}");
    assert!(
        finding.warnings[0].contains("meta mark 0x1 tcp dport 8080 reject"),
        "{finding:?}"
    );
    address.blockers = Some(vec![Blocker {
        certain: true,
        ..maybe
    }]);
    assert_eq!(
        cause(&one("127.0.0.1:8080", address)),
        Cause::BlockedLocally
    );
}

/// Two rules that surely reject, of nft and of iptables-legacy at the same priority: whichever
/// runs first, the SYN is rejected. The firewall is the cause, not the missing listener.
#[test]
fn two_certain_rejects_tied_by_priority_are_the_cause() {
    use crate::sys::firewall::{self, Interface, Packet};
    let nft = serde_json::json!({"nftables": [
        {"chain": {"family": "ip", "table": "t", "name": "out", "type": "filter",
                   "hook": "output", "prio": 0, "policy": "accept"}},
        {"rule": {"family": "ip", "table": "t", "chain": "out", "handle": 2, "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 8080}},
            {"reject": null}]}}
    ]});
    let save = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
        -A OUTPUT -p tcp -m tcp --dport 8080 -j REJECT --reject-with tcp-reset\nCOMMIT\n";
    let legacy = firewall::legacy::translate(save, "ip", Tool::IptablesLegacy);
    let ruleset = firewall::with_legacy(nft, vec![legacy]);
    let packet = Packet {
        oif: Interface::Named("lo".to_owned()),
        dst_local: Some(true),
        ..Packet::outgoing(
            Some("127.0.0.1".parse().unwrap()),
            "127.0.0.1".parse().unwrap(),
            8080,
        )
    };
    let mut address = tried("127.0.0.1:8080", Outcome::Refused, 0);
    address.blockers = Some(firewall::blockers(&ruleset, Hook::Output, &packet));
    let finding = infer(&one("127.0.0.1:8080", address)).unwrap();
    assert_eq!(finding.cause, Cause::BlockedLocally, "{}", finding.summary);
}

/// Two uncertain rules: one whose own matches were not all evaluated, then one that surely
/// matches and is uncertain only because the first may drop the packet before it. The second
/// is the one named; the first is no stronger a lead for coming first.
#[test]
fn a_rule_that_surely_matches_is_named_before_one_that_only_may() {
    let mut address = tried("192.0.2.7:47018", Outcome::Timeout, 1000);
    let may = blocker("meta mark . tcp dport @marked drop", Verdict::Drop, false);
    let surely = Blocker {
        matches: true,
        rate_limit: false,
        handle: Some(8),
        position: Some(2),
        ..blocker("tcp dport 47018 drop", Verdict::Drop, false)
    };
    address.blockers = Some(vec![may, surely]);
    let finding = infer(&one("192.0.2.7:47018", address)).unwrap();
    assert_eq!(finding.cause, Cause::BlockedLocally);
    assert!(
        finding
            .summary
            .contains("probably stops the connection to 192.0.2.7:47018: `tcp dport 47018 drop`"),
        "{}",
        finding.summary
    );
    assert!(
        finding.suggestions[0].contains("handle 8"),
        "{:?}",
        finding.suggestions
    );
}

/// Base chains at one priority, both with a rule that surely drops the SYN: removing one
/// leaves the other, so both are named, each with its fix.
#[test]
fn every_rule_that_surely_stops_the_packet_is_named() {
    let mut address = tried("192.0.2.7:47016", Outcome::Timeout, 1000);
    let iptables = Blocker {
        table: "ip filter".to_owned(),
        chain: "OUTPUT".to_owned(),
        path: vec!["OUTPUT".to_owned()],
        tool: Tool::Iptables,
        handle: Some(2),
        position: Some(1),
        ..blocker("tcp dport 47016 drop", Verdict::Drop, true)
    };
    let nft = blocker("tcp dport 47016 drop", Verdict::Drop, true);
    address.blockers = Some(vec![iptables, nft]);
    let finding = infer(&one("192.0.2.7:47016", address)).unwrap();
    assert_eq!(finding.cause, Cause::BlockedLocally);
    assert!(
        finding.summary.contains(
            "`tcp dport 47016 drop` (table `ip filter`, chain `OUTPUT`); \
             `tcp dport 47016 drop` (table `inet filter`, chain `output`) stops it too"
        ),
        "{}",
        finding.summary
    );
    let rules = finding
        .evidence
        .iter()
        .filter(|e| matches!(e, Evidence::FirewallRule(_)))
        .count();
    assert_eq!(rules, 2, "{:?}", finding.evidence);
    let fixes = finding.suggestions.join("\n");
    assert!(fixes.contains("sudo iptables -D OUTPUT 1"), "{fixes}");
    assert!(
        fixes.contains("sudo nft delete rule inet filter output handle 7"),
        "{fixes}"
    );
}

/// A `[::]` listener whose v6only is unknown (the `/proc` fallback) may take IPv4 (Linux's
/// default): a refusal of 127.0.0.1 is then the reject rule's, which may match.
#[test]
fn a_listener_that_may_be_dual_stack_does_not_outrank_a_reject_rule() {
    let mut address = tried("127.0.0.1:8080", Outcome::Refused, 0);
    address.blockers = Some(vec![blocker(
        "meta skuid 1000 tcp dport 8080 reject",
        Verdict::Reject,
        false,
    )]);
    let mut listener = listening("[::]:8080", "app");
    listener.listener.v6only = None;
    let f = Facts {
        listeners: Some(vec![listener]),
        ..one("127.0.0.1:8080", address)
    };
    assert_eq!(cause(&f), Cause::BlockedLocally);
    // The socket table unread: nothing is known to be missing either.
    let f = Facts {
        listeners: None,
        ..f
    };
    assert_eq!(cause(&f), Cause::BlockedLocally);
}

#[test]
fn nothing_on_a_local_port_is_no_listener() {
    let finding = infer(&one(
        "127.0.0.1:8080",
        tried("127.0.0.1:8080", Outcome::Refused, 0),
    ))
    .unwrap();
    assert_eq!(finding.cause, Cause::NoListener);
    assert!(finding.suggestions.iter().any(|s| s.contains("ss -ltnp")));
}

/// Nothing on the port, and a container of Docker's that publishes it has exited: it is named,
/// with its logs and how to start it; a second one that publishes it too is a warning.
#[test]
fn a_stopped_container_that_publishes_the_port_is_named() {
    use crate::sys::docker::StoppedContainer;
    let stopped = |name: &str| StoppedContainer {
        name: name.into(),
        id: "2ae5270659a7".into(),
        state: "exited".into(),
        status: "Exited (1) 3 minutes ago".into(),
        container_port: 80,
        runtime: crate::sys::process::ContainerRuntime::Docker,
        pod: None,
    };
    let mut f = one(
        "127.0.0.1:8080",
        tried("127.0.0.1:8080", Outcome::Refused, 0),
    );
    f.stopped_containers = vec![stopped("web")];
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::NoListener);
    assert_eq!(
        finding.summary,
        "nothing listens on port 8080 on this host (127.0.0.1 is local): Docker's container `web` publishes it (`-p 8080:80`) but is not running (Exited (1) 3 minutes ago)"
    );
    assert!(matches!(finding.evidence[0], Evidence::StoppedContainer(_)));
    assert_eq!(
        finding.suggestions[0],
        "`docker logs web` says why it stopped; `docker start web` starts it again (compose: `docker compose up -d`)"
    );
    assert!(finding.warnings.is_empty());
    f.stopped_containers.push(stopped("web-old"));
    let finding = infer(&f).unwrap();
    assert_eq!(
        finding.warnings,
        ["`web-old` publishes port 8080 too: only one of them can run at a time"]
    );
}

/// Nothing on the port, and a container of Podman's that publishes it has exited (`podman ps
/// --all` says so, no daemon): named in Podman's words, with `podman logs` and `podman start`,
/// never Docker's; a pod's port is its infra container's, and the pod is what starts.
#[test]
fn a_stopped_podman_container_is_named_in_podmans_words() {
    use crate::sys::docker::StoppedContainer;
    use crate::sys::process::ContainerRuntime;
    let mut f = one(
        "127.0.0.1:8083",
        tried("127.0.0.1:8083", Outcome::Refused, 0),
    );
    f.stopped_containers = vec![StoppedContainer {
        name: "gone".into(),
        id: "719ae3283ad1".into(),
        state: "exited".into(),
        status: "Exited (3) 5 minutes ago".into(),
        container_port: 80,
        runtime: ContainerRuntime::Podman,
        pod: None,
    }];
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::NoListener);
    assert_eq!(
        finding.summary,
        "nothing listens on port 8083 on this host (127.0.0.1 is local): Podman's container `gone` publishes it (`-p 8083:80`) but is not running (Exited (3) 5 minutes ago)"
    );
    assert_eq!(
        finding.suggestions[0],
        "`podman logs gone` says why it stopped; `podman start gone` starts it again"
    );
    assert_eq!(
        finding.evidence[0].to_string(),
        "Podman's container `gone` (719ae3283ad1) publishes it to its port 80 and is not running: Exited (3) 5 minutes ago"
    );
    assert!(finding.suggestions.iter().all(|s| !s.contains("docker")));
    f.stopped_containers[0].name = "1d0ff4fe20a3-infra".into();
    f.stopped_containers[0].pod = Some("pod1".into());
    let finding = infer(&f).unwrap();
    assert!(
        finding.summary.contains(
            "Podman's pod `pod1` (its infra container `1d0ff4fe20a3-infra`) publishes it"
        ),
        "{}",
        finding.summary
    );
    assert_eq!(
        finding.suggestions[0],
        "`podman pod start pod1` starts the pod; `podman pod logs pod1` says why its containers stopped"
    );
}

/// A server of the target's service that listens on its unix socket alone: still nothing on
/// the port, but the fix is the socket or TCP turned on, not starting the service.
#[test]
fn a_server_on_its_unix_socket_alone_is_named_not_started() {
    let socket = |path: &str, process: &str| HeldUnixListener {
        path: path.into(),
        inode: 77,
        pid: 812,
        process: process.to_owned(),
        held_by: HeldBy::Descriptors,
    };
    let f = Facts {
        unix_listeners: vec![socket("/run/postgresql/.s.PGSQL.5432", "postgres")],
        ..one(
            "postgres://app@localhost/shop",
            tried("127.0.0.1:5432", Outcome::Refused, 0),
        )
    };
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::NoListener);
    assert!(
        finding.summary.contains(
            "PostgreSQL runs: postgres (pid 812) listens only on its unix socket /run/postgresql/.s.PGSQL.5432"
        ),
        "{finding:?}"
    );
    assert!(
        matches!(&finding.evidence[..], [Evidence::LocalAddress { .. }, Evidence::UnixListener(l)] if l.pid == 812),
        "{finding:?}"
    );
    let fixes = finding.suggestions.join("\n");
    assert!(
        fixes.contains("`psql \"postgresql://app@/shop?host=/run/postgresql\"`")
            && fixes.contains("refused check unix:///run/postgresql/.s.PGSQL.5432")
            && fixes.contains("listen_addresses = 'localhost'")
            && !fixes.contains("start PostgreSQL"),
        "{fixes}"
    );

    // A socket named for another port: libpq is told the port, and TCP needs it too.
    let f = Facts {
        unix_listeners: vec![socket("/tmp/pg/.s.PGSQL.5433", "postgres")],
        ..one(
            "127.0.0.1:5432",
            tried("127.0.0.1:5432", Outcome::Refused, 0),
        )
    };
    let fixes = infer(&f).unwrap().suggestions.join("\n");
    assert!(
        fixes.contains("postgresql:///?host=/tmp/pg&port=5433") && fixes.contains("`port = 5432`"),
        "{fixes}"
    );

    // Redis on a port of its own choosing: the scheme names the service.
    let f = Facts {
        unix_listeners: vec![socket("/run/redis/redis.sock", "redis-server")],
        ..one(
            "redis://127.0.0.1:7000",
            tried("127.0.0.1:7000", Outcome::Refused, 0),
        )
    };
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::NoListener);
    assert!(finding.summary.contains("Redis runs"), "{finding:?}");
    assert!(
        finding.suggestions[0].contains("`redis-cli -s /run/redis/redis.sock`")
            && finding.suggestions[1].contains("`port 7000`"),
        "{finding:?}"
    );

    // The same process on TCP elsewhere: not "only" its socket.
    let f = Facts {
        listeners: Some(vec![HeldListener {
            pid: Some(812),
            ..listening("10.0.0.5:7001", "redis-server")
        }]),
        ..f
    };
    let finding = infer(&f).unwrap();
    assert!(
        finding.summary.contains("listens on its unix socket"),
        "{finding:?}"
    );
}

/// Without root, another user's server's descriptors cannot be read: its socket file, seen to
/// take connections, is named all the same, without claiming what else the server holds, and
/// the fix is still the socket or TCP turned on, not starting it.
#[test]
fn a_server_seen_by_its_socket_file_alone_is_named_not_started() {
    let f = Facts {
        unix_listeners: vec![HeldUnixListener {
            path: "/var/run/postgresql/.s.PGSQL.5432".into(),
            inode: 77,
            pid: 812,
            process: "postgres".to_owned(),
            held_by: HeldBy::FileOwner,
        }],
        privilege: Privilege::User,
        ..one(
            "localhost:5432",
            tried("127.0.0.1:5432", Outcome::Refused, 0),
        )
    };
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::NoListener);
    assert!(
        finding.summary.ends_with(
            "but PostgreSQL runs: postgres (pid 812) runs, and its unix socket /var/run/postgresql/.s.PGSQL.5432, a file of its user, takes connections"
        ),
        "{finding:?}"
    );
    let fixes = finding.suggestions.join("\n");
    assert!(
        fixes.contains("host=/var/run/postgresql")
            && fixes.contains("listen_addresses = 'localhost'")
            && !fixes.contains("start PostgreSQL"),
        "{fixes}"
    );
    let json = serde_json::to_value(&finding.evidence[1]).unwrap();
    assert_eq!(json["held_by"], "file-owner", "{json}");
}

#[test]
fn a_near_port_the_schemes_port_or_the_services_server_is_the_wrong_port() {
    let with = |target: &str, addr: &str, listener: HeldListener| Facts {
        listeners: Some(vec![listening("0.0.0.0:22", "sshd"), listener]),
        ..one(target, tried(addr, Outcome::Refused, 0))
    };
    let finding = infer(&with(
        "127.0.0.1:8080",
        "127.0.0.1:8080",
        listening("127.0.0.1:8000", "python3"),
    ))
    .unwrap();
    assert_eq!(finding.cause, Cause::WrongPort);
    assert!(
        finding
            .summary
            .contains("python3 (pid 4242) listens on 127.0.0.1:8000"),
        "{}",
        finding.summary
    );

    let finding = infer(&with(
        "postgres://127.0.0.1:6543/app",
        "127.0.0.1:6543",
        listening("127.0.0.1:5432", "postgres"),
    ))
    .unwrap();
    assert_eq!(finding.cause, Cause::WrongPort);
    assert!(
        finding.summary.contains("default port of postgres://"),
        "{}",
        finding.summary
    );

    let finding = infer(&with(
        "127.0.0.1:6379",
        "127.0.0.1:6379",
        listening("0.0.0.0:7777", "redis-server"),
    ))
    .unwrap();
    assert_eq!(finding.cause, Cause::WrongPort);
    assert!(
        finding.summary.contains("(port 6379 is usually Redis's)"),
        "{}",
        finding.summary
    );

    // Far ports of unrelated programs are not meant.
    let f = with(
        "127.0.0.1:8080",
        "127.0.0.1:8080",
        listening("127.0.0.1:5000", "node"),
    );
    assert_eq!(cause(&f), Cause::NoListener);
    // Nor is a listener the target's address cannot reach.
    let f = with(
        "127.0.0.1:8080",
        "127.0.0.1:8080",
        listening("10.1.1.1:8081", "node"),
    );
    assert_eq!(cause(&f), Cause::NoListener);
}

#[test]
fn near_ports() {
    assert!(is_near(8080, 8000) && is_near(8080, 8081) && is_near(8080, 8088));
    assert!(is_near(5432, 5433) && is_near(3000, 3002) && is_near(999, 1000));
    assert!(!is_near(8080, 5000) && !is_near(8080, 80) && !is_near(22, 80));
    // Another first digit is another range, not a slip: 3000 and 8000, 5432 and 6432.
    assert!(!is_near(3000, 8000) && !is_near(5432, 6432) && !is_near(9090, 1090));
}

/// A near port's program is not offered as the one meant when it is another well-known
/// service at home (a pooler, Alertmanager), a system daemon, or the port asked is a
/// well-known service's whose server it is not (audit of real setups: each was `wrong-port`
/// with "connect to ... instead", a fix that fails too).
#[test]
fn a_near_port_of_another_program_is_not_the_port_meant() {
    let with = |target: &str, addr: &str, near: HeldListener| Facts {
        listeners: Some(vec![near]),
        ..one(
            target,
            AddressFacts {
                local: true,
                ..tried(addr, Outcome::Refused, 0)
            },
        )
    };
    // PostgreSQL is down; PgBouncer, in front of it, is up on its own port.
    let f = with(
        "postgres://app@localhost:5432/app",
        "127.0.0.1:5432",
        listening("0.0.0.0:6432", "pgbouncer"),
    );
    assert_eq!(cause(&f), Cause::NoListener);
    // A well-known service's port: a near program that is not its server is not meant.
    let f = with(
        "127.0.0.1:6379",
        "127.0.0.1:6379",
        listening("0.0.0.0:6380", "node"),
    );
    assert_eq!(cause(&f), Cause::NoListener);
    // Alertmanager on 9093 is not Prometheus (9090) moved; a system daemon is nobody's app.
    for near in [
        listening("0.0.0.0:9093", "alertmanager"),
        listening("0.0.0.0:9091", "sshd"),
    ] {
        assert_eq!(
            cause(&with("127.0.0.1:9090", "127.0.0.1:9090", near)),
            Cause::NoListener
        );
    }
    // An app one port off is still the one meant.
    let f = with(
        "127.0.0.1:3000",
        "127.0.0.1:3000",
        listening("0.0.0.0:3001", "node"),
    );
    assert_eq!(cause(&f), Cause::WrongPort);
    // The commonest slip: a service's own server at home, one port from the one asked.
    let f = with(
        "127.0.0.1:5433",
        "127.0.0.1:5433",
        listening("127.0.0.1:5432", "postgres"),
    );
    assert_eq!(cause(&f), Cause::WrongPort);
    // A program not seen (another user's, without root) near a well-known port may be its
    // server (Debian's second PostgreSQL cluster on 5433).
    let mut unseen = listening("127.0.0.1:5433", "postgres");
    unseen.process = None;
    unseen.pid = None;
    let f = with("127.0.0.1:5432", "127.0.0.1:5432", unseen);
    assert_eq!(cause(&f), Cause::WrongPort);
}

#[test]
fn owners_are_looked_up_for_the_listeners_a_rule_may_name() {
    use crate::target::Scheme;
    // The port itself, a near one, the scheme's default port.
    assert!(may_name_owner(Scheme::Tcp, 43_999, 43_999));
    assert!(may_name_owner(Scheme::Tcp, 43_999, 43_998));
    assert!(may_name_owner(Scheme::Postgres, 43_999, 5432));
    assert!(!may_name_owner(Scheme::Tcp, 43_999, 2024));
    assert!(!may_name_owner(Scheme::Tcp, 43_999, 5432));
    // A well-known service's port: its server may listen anywhere.
    assert!(may_name_owner(Scheme::Tcp, 5432, 2024));
}

#[test]
fn the_port_on_another_address_or_family() {
    let v4_only = |target: &str, addr: &str, listener: &str| Facts {
        listeners: Some(vec![listening(listener, "node")]),
        ..one(
            target,
            AddressFacts {
                local: true,
                ..tried(addr, Outcome::Refused, 0)
            },
        )
    };
    let f = v4_only("[::1]:3000", "[::1]:3000", "127.0.0.1:3000");
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::ListeningOnOtherFamily);
    assert!(
        finding.suggestions[0].contains("127.0.0.1:3000"),
        "{finding:?}"
    );

    // `localhost` (both families refused) while the program listens on the LAN address only:
    // another address, not another family, and the fix is not "use 127.0.0.1".
    let f = Facts {
        addresses: vec![
            AddressFacts {
                local: true,
                ..tried("[::1]:5000", Outcome::Refused, 0)
            },
            AddressFacts {
                local: true,
                ..tried("127.0.0.1:5000", Outcome::Refused, 0)
            },
        ],
        ..v4_only("localhost:5000", "[::1]:5000", "192.168.1.20:5000")
    };
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::ListeningOnOtherAddress, "{finding:?}");
    assert!(finding.summary.contains("192.168.1.20"), "{finding:?}");
    assert!(
        !finding
            .suggestions
            .iter()
            .any(|s| s.contains("`127.0.0.1`")),
        "{finding:?}"
    );

    let f = v4_only("10.77.0.1:9090", "10.77.0.1:9090", "127.0.0.1:9090");
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::ListeningOnOtherAddress);
    assert!(finding.suggestions[1].contains("0.0.0.0"), "{finding:?}");

    let mut v6only = listening("[::]:3000", "node");
    v6only.listener.v6only = Some(true);
    let f = Facts {
        listeners: Some(vec![v6only]),
        ..one(
            "127.0.0.1:3000",
            tried("127.0.0.1:3000", Outcome::Refused, 0),
        )
    };
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::ListeningOnOtherFamily);
    assert!(
        finding.summary.contains("IPV6_V6ONLY"),
        "{}",
        finding.summary
    );
}

#[test]
fn a_listener_right_there_that_refuses_is_a_local_reject() {
    // Without root: the rules could not be read.
    let f = Facts {
        listeners: Some(vec![listening("0.0.0.0:80", "nginx")]),
        ..one(
            "127.0.0.1:80",
            AddressFacts {
                blockers: None,
                ..tried("127.0.0.1:80", Outcome::Refused, 0)
            },
        )
    };
    assert_eq!(cause(&f), Cause::BlockedLocally);
    let legacy = |finding: &Finding| {
        finding
            .suggestions
            .iter()
            .any(|s| s.contains("iptables-legacy-save"))
    };
    assert!(!legacy(&infer(&f).unwrap()));
    // On a host whose iptables is the legacy one, its listing is named too (here nft's rules
    // could not be read, so a reject rule is still what is most likely).
    let f = Facts {
        rules_read: RulesRead {
            legacy_read: [Some("iptables-legacy"), None],
            nft_unread: true,
            ..RulesRead::default()
        },
        ..one("127.0.0.1:80", tried("127.0.0.1:80", Outcome::Refused, 0))
    };
    let f = Facts {
        listeners: Some(vec![listening("0.0.0.0:80", "nginx")]),
        ..f
    };
    assert_eq!(cause(&f), Cause::BlockedLocally);
    assert!(legacy(&infer(&f).unwrap()));
    // Before the split (iptables 1.6, CentOS 7) there is no `iptables-legacy-save`: the
    // command that listed the tables is named.
    let old = Facts {
        rules_read: RulesRead {
            legacy_read: [Some("iptables"), Some("ip6tables")],
            nft_unread: true,
            ..RulesRead::default()
        },
        ..f
    };
    let found = infer(&old).unwrap();
    assert!(!legacy(&found), "{:?}", found.suggestions);
    assert!(
        found
            .suggestions
            .iter()
            .any(|s| s == "`sudo iptables-save`, `sudo ip6tables-save` and `sudo nft list ruleset` show the rules"),
        "{:?}",
        found.suggestions
    );
}

#[test]
fn a_listener_in_a_container_names_the_port_to_publish() {
    let mut foreign = listening("0.0.0.0:8081", "node");
    foreign.netns = Some(Namespace::Unnamed(4_026_532_999));
    foreign.container = Some(ContainerRuntime::Docker);
    let f = Facts {
        foreign: vec![foreign.clone()],
        ..one(
            "127.0.0.1:8081",
            tried("127.0.0.1:8081", Outcome::Refused, 0),
        )
    };
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::ListenerInOtherNamespace);
    assert!(
        finding.suggestions[0].contains("docker run -p 8081:8081"),
        "{finding:?}"
    );

    foreign.container = None;
    foreign.netns = Some(Namespace::Named("blue".into()));
    let f = Facts {
        foreign: vec![foreign],
        ..f
    };
    let finding = infer(&f).unwrap();
    assert!(
        finding.suggestions[0].contains("sudo ip netns exec blue"),
        "{finding:?}"
    );

    // No name: entered through a process of it.
    let mut unnamed = f.foreign[0].clone();
    unnamed.netns = Some(Namespace::Unnamed(4_026_532_999));
    let f = Facts {
        foreign: vec![unnamed],
        ..f
    };
    let finding = infer(&f).unwrap();
    assert!(
        finding.suggestions[0].contains("sudo nsenter -t 4242 -n"),
        "{finding:?}"
    );
}

#[test]
fn a_namespaces_own_address_is_suggested_only_where_a_link_leads() {
    let mut foreign = listening("0.0.0.0:7100", "python3");
    foreign.netns = Some(Namespace::Named("server".into()));
    let reach: SocketAddr = "10.98.7.1:7100".parse().unwrap();
    let f = Facts {
        foreign: vec![foreign],
        foreign_reach: Some(ForeignReach::Linked(reach)),
        ..one(
            "127.0.0.1:7100",
            tried("127.0.0.1:7100", Outcome::Refused, 0),
        )
    };
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::ListenerInOtherNamespace);
    assert!(
        finding
            .suggestions
            .iter()
            .any(|s| s.contains("`refused check 10.98.7.1:7100`")),
        "{finding:?}"
    );

    // No link between the namespaces: the address would fail the same way.
    let f = Facts {
        foreign_reach: Some(ForeignReach::Unlinked(reach)),
        ..f
    };
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::ListenerInOtherNamespace);
    assert!(
        !finding
            .suggestions
            .iter()
            .any(|s| s.contains("check 10.98.7.1")),
        "{finding:?}"
    );
    assert!(
        finding.suggestions[0].contains("sudo ip netns exec server refused check 127.0.0.1:7100"),
        "{finding:?}"
    );
    assert!(
        finding
            .suggestions
            .iter()
            .any(|s| s.contains("`ip route get 10.98.7.1`")),
        "{finding:?}"
    );
}

#[test]
fn a_full_accept_queue_explains_a_local_timeout_and_nothing_else_does() {
    let mut full = listening("127.0.0.1:9000", "stuck");
    full.listener.queue = 2;
    full.listener.backlog = Some(1);
    let f = Facts {
        listeners: Some(vec![full.clone()]),
        ..one(
            "127.0.0.1:9000",
            tried("127.0.0.1:9000", Outcome::Timeout, 3000),
        )
    };
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::ListenQueueFull);
    assert!(
        finding.summary.contains("2 waiting, limit 1"),
        "{}",
        finding.summary
    );

    // The same timeout with an empty queue, this host's rules unread: the packets never left
    // this host, so its firewall.
    full.listener.queue = 0;
    let mut f = Facts {
        listeners: Some(vec![full]),
        ..f
    };
    f.addresses[0].blockers = None;
    assert_eq!(cause(&f), Cause::BlockedLocally);

    // Every rule read, and none drops it: no firewall to name (an address added while the
    // connect was made, a `tc` filter, an eBPF program).
    f.addresses[0].blockers = Some(Vec::new());
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::Filtered, "{finding:?}");
    assert!(
        finding
            .summary
            .contains("no rule of this host's firewall drops it"),
        "{finding:?}"
    );
    assert!(
        finding
            .suggestions
            .join("\n")
            .contains("added to this host just now"),
        "{finding:?}"
    );
}

#[test]
fn a_port_bound_without_listening_is_named_unless_another_looks_meant() {
    let mut bound = listening("127.0.0.1:46706", "python3");
    bound.listener.backlog = None;
    let f = Facts {
        bound_only: vec![bound],
        ..one(
            "127.0.0.1:46706",
            tried("127.0.0.1:46706", Outcome::Refused, 0),
        )
    };
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::NoListener);
    assert!(
        finding
            .summary
            .contains("python3 (pid 4242) has 127.0.0.1:46706 bound without listening on it"),
        "{finding:?}"
    );
    assert!(
        matches!(finding.evidence[0], Evidence::BoundSocket(_)),
        "{finding:?}"
    );
    // Bound to another address: not this port's story.
    let mut elsewhere = f.bound_only[0].clone();
    elsewhere.listener.address = "127.0.0.2".parse().unwrap();
    let other = Facts {
        bound_only: vec![elsewhere],
        ..f.clone()
    };
    assert!(!infer(&other).unwrap().summary.contains("bound"));
    // A listener next to it that looks meant (the service's real port): wrong-port, with the
    // bound socket in a warning.
    let near = Facts {
        listeners: Some(vec![listening("127.0.0.1:46705", "redis-server")]),
        ..f
    };
    let finding = infer(&near).unwrap();
    assert_eq!(finding.cause, Cause::WrongPort, "{finding:?}");
    assert!(
        finding.warnings[0].contains("`Address already in use`"),
        "{finding:?}"
    );
}

#[test]
fn the_most_specific_cause_of_several_addresses_wins() {
    let f = Facts {
        listeners: Some(vec![listening("127.0.0.1:3000", "node")]),
        addresses: vec![
            tried("127.0.0.2:3000", Outcome::Refused, 0),
            tried("[::1]:3000", Outcome::Refused, 0),
        ],
        ..facts("localhost:3000")
    };
    // 127.0.0.2 has nothing; ::1 has the port in the other family: the listener is the story.
    assert_eq!(cause(&f), Cause::ListeningOnOtherAddress);
}

#[test]
fn an_unexplained_outcome_is_an_error() {
    let f = one(
        "127.0.0.1:1",
        tried("127.0.0.1:1", Outcome::TooManyOpenFiles, 0),
    );
    assert!(infer(&f).is_err());
}

fn unix_facts(exists: bool, file_type: Option<FileType>) -> UnixSocketFacts {
    UnixSocketFacts {
        path: PathBuf::from("/run/app.sock"),
        link_target: None,
        exists: Some(exists),
        file_type,
        mode: Some(Mode::from_st_mode(0o660)),
        uid: Some(0),
        gid: Some(27),
        user: Some("root".into()),
        group: Some("sudo".into()),
        listening: Some(false),
        closed_directory: None,
        earlier_listeners: Vec::new(),
        listening_elsewhere: Vec::new(),
        listening_hidden: Vec::new(),
    }
}

#[test]
fn a_missing_socket_whose_name_listens_in_another_folder_is_sent_there() {
    // libpq's classic: the client looks in /var/run/postgresql, the server put its socket in /tmp.
    let facts = UnixSocketFacts {
        path: PathBuf::from("/var/run/postgresql/.s.PGSQL.5432"),
        listening_elsewhere: vec![PathBuf::from("/tmp/.s.PGSQL.5432")],
        ..unix_facts(false, None)
    };
    let finding = unix_finding(Outcome::Other(Some(2)), facts);
    assert_eq!(finding.cause, Cause::SocketMissing);
    assert!(
        finding
            .summary
            .contains("but a socket of that name listens at /tmp/.s.PGSQL.5432"),
        "{}",
        finding.summary
    );
    let fixes = finding.suggestions.join("\n");
    assert!(fixes.contains("unix:///tmp/.s.PGSQL.5432"), "{fixes}");
    assert!(fixes.contains("`host=/tmp`"), "{fixes}");
    assert!(!fixes.contains("start the service"), "{fixes}");
}

/// The one attempt at the unix socket of `facts`, ended by `outcome`.
fn unix_attempt(facts: &UnixSocketFacts, outcome: Outcome) -> Attempt {
    Attempt {
        address: Address::Unix(facts.path.clone()),
        outcome,
        errno: None,
        started: Duration::ZERO,
        elapsed: Duration::ZERO,
        try_number: 1,
        icmp: None,
        local_port: None,
    }
}

fn unix_finding(outcome: Outcome, facts: UnixSocketFacts) -> Finding {
    let attempt = unix_attempt(&facts, outcome);
    infer(&Facts {
        unix: Some(Box::new((attempt, facts))),
        ..facts_unix()
    })
    .unwrap()
}

/// An HTTP request over a unix socket that speaks TLS: no `https://` URL reaches a socket, so
/// the fix names curl's `--unix-socket` over TLS (review h29: it said "use `https://...`").
#[test]
fn a_unix_socket_that_speaks_tls_is_not_sent_to_an_https_url() {
    let socket = UnixSocketFacts {
        listening: Some(true),
        ..unix_facts(true, Some(FileType::Socket))
    };
    let attempt = unix_attempt(&socket, Outcome::Connected);
    let finding = infer(&Facts {
        probe: Some(Readiness::NotReady(format!(
            "HTTP 400 Bad Request: {}",
            crate::probe::SPEAKS_TLS
        ))),
        unix: Some(Box::new((attempt, socket))),
        ..facts("http+unix://%2Frun%2Fapp.sock/health")
    })
    .unwrap();
    assert_eq!(finding.cause, Cause::NotReady);
    let fixes = finding.suggestions.join("\n");
    assert!(
        fixes.contains("`curl --unix-socket /run/app.sock https://localhost/health`"),
        "{fixes}"
    );
    assert!(!fixes.contains("use `https://"), "{fixes}");
}

#[test]
fn unix_sockets() {
    let with = |outcome, facts| unix_finding(outcome, facts).cause;
    let other = Outcome::Other(Some(libc::ENOENT));
    assert_eq!(with(other, unix_facts(false, None)), Cause::SocketMissing);
    for not_a_socket in [FileType::Directory, FileType::RegularFile, FileType::Fifo] {
        let finding = unix_finding(Outcome::Refused, unix_facts(true, Some(not_a_socket)));
        assert_eq!(finding.cause, Cause::SocketMissing);
        assert!(
            finding
                .summary
                .contains(&format!("is a {not_a_socket}, not a socket")),
            "{}",
            finding.summary
        );
    }
    assert_eq!(
        with(Outcome::Refused, unix_facts(true, Some(FileType::Socket))),
        Cause::SocketStale
    );
    // Denied: the mode counts only when something listens on the file, or it is not known.
    for (listening, cause) in [
        (Some(true), Cause::SocketPermissionDenied),
        (None, Cause::SocketPermissionDenied),
        (Some(false), Cause::SocketStale),
    ] {
        let facts = UnixSocketFacts {
            listening,
            ..unix_facts(true, Some(FileType::Socket))
        };
        assert_eq!(
            with(Outcome::PermissionDenied, facts),
            cause,
            "{listening:?}"
        );
    }
    assert_eq!(
        with(Outcome::Connected, unix_facts(true, Some(FileType::Socket))),
        Cause::Reachable
    );
}

/// A socket named with a protocol (`redis+unix://`) whose program speaks another: the fix
/// names the socket's path, not a port (it has none) nor the scheme's usual port.
#[test]
fn a_unix_socket_that_speaks_another_protocol_is_named_by_its_path() {
    let live = UnixSocketFacts {
        listening: Some(true),
        ..unix_facts(true, Some(FileType::Socket))
    };
    let attempt = unix_attempt(&live, Outcome::Connected);
    let finding = infer(&Facts {
        unix: Some(Box::new((attempt, live))),
        probe: Some(Readiness::Failed(crate::probe::ProbeFailure::Protocol(
            crate::probe::ProtocolError {
                kind: crate::probe::ProtocolErrorKind::NotTheProtocol,
                detail: "not a Redis reply: `SSH-2.0-OpenSSH_9.6`".to_owned(),
            },
        ))),
        ..facts("redis+unix:///run/app.sock")
    })
    .unwrap();
    assert_eq!(finding.cause, Cause::NotReady);
    assert_eq!(
        finding.suggestions,
        [
            "waiting does not help: the program on /run/app.sock speaks another protocol than redis (by its first words, an SSH server): the redis server's socket is at another path (`ss -lxp` lists them), or this socket is another service's"
        ]
    );
}

#[test]
fn a_socket_its_group_may_write_is_reached_by_joining_the_group() {
    let live = UnixSocketFacts {
        listening: Some(true),
        ..unix_facts(true, Some(FileType::Socket))
    };
    let docker = UnixSocketFacts {
        gid: Some(998),
        group: Some("docker".into()),
        ..live.clone()
    };
    let finding = unix_finding(Outcome::PermissionDenied, docker);
    assert!(
        finding.suggestions[0].contains("sudo usermod -aG docker $USER"),
        "{:?}",
        finding.suggestions
    );
    let private = UnixSocketFacts {
        mode: Some(Mode::from_st_mode(0o600)),
        ..live
    };
    let finding = unix_finding(Outcome::PermissionDenied, private.clone());
    assert!(
        finding.suggestions[0].starts_with("only root may connect (mode 0600)"),
        "{:?}",
        finding.suggestions
    );
    // Nobody listens on it: the fix is a server, not a user; the mode is still said.
    let stale = UnixSocketFacts {
        listening: Some(false),
        ..private
    };
    let finding = unix_finding(Outcome::PermissionDenied, stale);
    assert_eq!(finding.cause, Cause::SocketStale);
    assert!(
        finding.summary.contains(
            "no process listens on it (and its mode 0600 would not let this user connect)"
        ),
        "{}",
        finding.summary
    );
    assert!(
        !finding
            .suggestions
            .iter()
            .any(|s| s.contains("run as root")),
        "{:?}",
        finding.suggestions
    );
}

#[test]
fn a_socket_file_replaced_under_its_server_is_stale_and_names_the_server() {
    let replaced = UnixSocketFacts {
        earlier_listeners: vec![crate::diagnose::EarlierListener {
            inode: 4242,
            pid: Some(321),
            process: Some("app".into()),
        }],
        ..unix_facts(true, Some(FileType::Socket))
    };
    let finding = unix_finding(Outcome::Refused, replaced);
    assert_eq!(finding.cause, Cause::SocketStale);
    assert!(
        finding
            .summary
            .contains("app (pid 321) still listens on an earlier file"),
        "{}",
        finding.summary
    );
    assert!(
        finding.suggestions[0].starts_with("restart app (pid 321)"),
        "{:?}",
        finding.suggestions
    );
    // Without one, the server is gone.
    let finding = unix_finding(Outcome::Refused, unix_facts(true, Some(FileType::Socket)));
    assert!(
        finding.summary.contains("a server that is gone"),
        "{}",
        finding.summary
    );
}

#[test]
fn a_directory_this_user_may_not_search_denies_the_socket() {
    let closed = |mode: u32| UnixSocketFacts {
        exists: None,
        file_type: None,
        mode: None,
        uid: None,
        gid: None,
        user: None,
        group: None,
        listening: None,
        closed_directory: Some(ClosedDirectory {
            path: PathBuf::from("/run/app"),
            mode: Mode::from_st_mode(mode),
            owner: Owner {
                uid: 0,
                gid: 27,
                user: Some("root".into()),
                group: Some("sudo".into()),
            },
            through_link: None,
        }),
        ..unix_facts(false, None)
    };
    let finding = unix_finding(Outcome::PermissionDenied, closed(0o700));
    assert_eq!(finding.cause, Cause::SocketPermissionDenied);
    assert!(
        finding
            .summary
            .contains("may not search directory /run/app (mode 0700, owner root)"),
        "{}",
        finding.summary
    );
    assert!(
        finding.suggestions[0].contains("sudo chmod o+x /run/app"),
        "{:?}",
        finding.suggestions
    );
    // Its group `sudo` may search it, but joining `sudo` makes an administrator: not the fix.
    let finding = unix_finding(Outcome::PermissionDenied, closed(0o750));
    assert!(
        !finding.suggestions.iter().any(|s| s.contains("usermod")),
        "{:?}",
        finding.suggestions
    );
    assert!(
        finding.suggestions[0].starts_with("run as root (`sudo ...`)"),
        "{:?}",
        finding.suggestions
    );
    // Without the directory found, still not "missing".
    let unknown = UnixSocketFacts {
        closed_directory: None,
        ..closed(0o700)
    };
    assert_eq!(
        unix_finding(Outcome::PermissionDenied, unknown).cause,
        Cause::SocketPermissionDenied
    );
}

/// A socket that only root and an administrators' group may write (`root`, `sudo`): joining
/// the group is never suggested (audit h19), a group of the service's own is.
#[test]
fn an_administrators_group_is_never_the_group_to_join() {
    for (gid, group) in [(0, "root"), (27, "sudo"), (10, "wheel")] {
        let live = UnixSocketFacts {
            listening: Some(true),
            gid: Some(gid),
            group: Some(group.into()),
            ..unix_facts(true, Some(FileType::Socket))
        };
        let finding = unix_finding(Outcome::PermissionDenied, live);
        assert_eq!(finding.cause, Cause::SocketPermissionDenied);
        let fix = &finding.suggestions[0];
        assert!(!fix.contains("usermod"), "{group}: {fix}");
        assert!(
            fix.starts_with(&format!(
                "only root and the group `{group}` may connect (mode 0660)"
            )) && fix.contains("run as root (`sudo ...`)")
                && fix.contains("Docker's `docker` group"),
            "{group}: {fix}"
        );
    }
}

/// A directory reached through a link is named with the link: it is not on the path as written.
#[test]
fn a_closed_directory_behind_a_link_is_named_with_the_link() {
    let facts = UnixSocketFacts {
        path: PathBuf::from("/srv/pub/app.sock"),
        exists: None,
        file_type: None,
        mode: None,
        listening: None,
        closed_directory: Some(ClosedDirectory {
            path: PathBuf::from("/run/user/1000"),
            mode: Mode::from_st_mode(0o700),
            owner: Owner {
                uid: 1000,
                gid: 1000,
                user: Some("alice".into()),
                group: Some("alice".into()),
            },
            through_link: Some(PathBuf::from("/srv/pub/app.sock")),
        }),
        ..unix_facts(false, None)
    };
    let finding = unix_finding(Outcome::PermissionDenied, facts);
    assert_eq!(finding.cause, Cause::SocketPermissionDenied);
    assert!(
        finding.summary.contains(
            "may not search directory /run/user/1000 (mode 0700, owner alice), where the link /srv/pub/app.sock leads"
        ),
        "{}",
        finding.summary
    );
    assert!(
        finding.suggestions[0].starts_with("run as alice (`sudo -u alice ...`)"),
        "{:?}",
        finding.suggestions
    );
}

/// A link to a stale socket: the file to remove is the socket the link leads to, not the link.
#[test]
fn a_link_to_a_stale_socket_names_the_socket_file() {
    let facts = UnixSocketFacts {
        path: PathBuf::from("/srv/pub/app.sock"),
        link_target: Some(PathBuf::from("/run/app/app.sock")),
        ..unix_facts(true, Some(FileType::Socket))
    };
    let finding = unix_finding(Outcome::Refused, facts.clone());
    assert_eq!(finding.cause, Cause::SocketStale);
    assert!(
        finding
            .summary
            .starts_with("/srv/pub/app.sock is a link to /run/app/app.sock, a socket file, but no process listens on it"),
        "{}",
        finding.summary
    );
    assert!(
        finding.suggestions[0].ends_with(
            "remove the socket file /run/app/app.sock first (removing the link /srv/pub/app.sock leaves it)"
        ),
        "{:?}",
        finding.suggestions
    );
    let replaced = UnixSocketFacts {
        earlier_listeners: vec![crate::diagnose::EarlierListener {
            inode: 4242,
            pid: Some(321),
            process: Some("app".into()),
        }],
        ..facts
    };
    let finding = unix_finding(Outcome::Refused, replaced);
    assert!(
        finding.summary.starts_with(
            "no process listens on the socket file at /run/app/app.sock (which /srv/pub/app.sock leads to)"
        ),
        "{}",
        finding.summary
    );
}

fn facts_unix() -> Facts {
    facts("unix:///run/app.sock")
}

#[test]
fn an_ip_literal_needs_no_resolution_evidence() {
    let f = one("127.0.0.1:80", tried("127.0.0.1:80", Outcome::Connected, 0));
    assert!(resolution_evidence(&f).is_empty());
    let _: IpAddr = "127.0.0.1".parse().unwrap();
}

#[test]
fn connected_but_the_protocol_says_not_ready() {
    let f = Facts {
        probe: Some(crate::probe::Readiness::NotReady(
            "HTTP 503 Service Unavailable".into(),
        )),
        ..one(
            "http://127.0.0.1:8080/health",
            tried("127.0.0.1:8080", Outcome::Connected, 0),
        )
    };
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::NotReady);
    assert!(finding.summary.contains("HTTP 503"), "{}", finding.summary);
    let f = Facts {
        probe: Some(crate::probe::Readiness::Ready("HTTP 200 OK".into())),
        ..f
    };
    assert_eq!(cause(&f), Cause::Reachable);
}

/// Waiting is suggested only where it can change the answer: not for the wrong scheme for
/// the port, a path the server does not have, or a request it refuses (audit of real setups:
/// each said "wait for it").
/// The finding for `target`, connected at `addr`, whose service answered `readiness`: always
/// `not-ready`.
fn not_ready_at(target: &str, addr: &str, readiness: Readiness) -> Finding {
    let f = Facts {
        probe: Some(readiness),
        ..one(target, tried(addr, Outcome::Connected, 0))
    };
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::NotReady);
    finding
}

#[test]
fn a_not_ready_answer_that_waiting_cannot_change_says_what_would() {
    let fix = |target: &str, readiness: Readiness| {
        not_ready_at(target, "127.0.0.1:8443", readiness)
            .suggestions
            .join("\n")
    };
    let not_ready = |text: &str| Readiness::NotReady(text.to_owned());
    let tls = fix(
        "http://127.0.0.1:8443/health",
        not_ready(&format!(
            "HTTP 400 Bad Request: {}",
            crate::probe::SPEAKS_TLS
        )),
    );
    assert!(tls.contains("use `https://127.0.0.1:8443/health`"), "{tls}");
    let plain = fix(
        "https://127.0.0.1:8443/",
        Readiness::Failed(crate::probe::ProbeFailure::Protocol(
            crate::probe::ProtocolError {
                kind: crate::probe::ProtocolErrorKind::Tls,
                detail: crate::probe::PLAIN_NOT_TLS.to_owned(),
            },
        )),
    );
    assert!(plain.contains("use `http://127.0.0.1:8443/`"), "{plain}");
    // A certificate this host does not accept: its fix, never "wait for it", and the summary
    // keeps the problem alone.
    let rejected = Facts {
        probe: Some(Readiness::Failed(crate::probe::ProbeFailure::Protocol(
            crate::probe::ProtocolError {
                kind: crate::probe::ProtocolErrorKind::Tls,
                detail: crate::probe::rejection(&rustls::CertificateError::UnknownIssuer, "db"),
            },
        ))),
        ..one(
            "https://db:8443/",
            tried("127.0.0.1:8443", Outcome::Connected, 0),
        )
    };
    let finding = infer(&rejected).unwrap();
    assert_eq!(finding.cause, Cause::NotReady);
    assert_eq!(
        finding.summary,
        "127.0.0.1:8443 accepts connections, but the https exchange failed: the server's certificate is not signed by an authority this host trusts (it is self-signed, or signed by a CA of its own)"
    );
    let certificate_fix = finding.suggestions.join("\n");
    assert!(
        certificate_fix
            .starts_with("waiting does not change the server's certificate: `--cacert FILE`")
            && !certificate_fix.contains("wait for it"),
        "{certificate_fix}"
    );
    // An implicit port is the old scheme's: the new scheme keeps it.
    let implicit = fix(
        "http://127.0.0.1/health",
        not_ready(&format!(
            "HTTP 400 Bad Request: {}",
            crate::probe::SPEAKS_TLS
        )),
    );
    assert!(
        implicit.contains("use `https://127.0.0.1:80/health`"),
        "{implicit}"
    );
    let path = fix(
        "http://127.0.0.1:8443/healthz",
        not_ready("HTTP 404 Not Found"),
    );
    assert!(
        path.contains("no such path") && !path.contains("wait for it"),
        "{path}"
    );
    let auth = fix("http://127.0.0.1:8443/", not_ready("HTTP 401 Unauthorized"));
    assert!(auth.contains("--status 200-399,401"), "{auth}");
    let bad = fix("http://127.0.0.1:8443/", not_ready("HTTP 400 Bad Request"));
    assert!(bad.contains("waiting does not change that"), "{bad}");
    // A server that is starting, overloaded or rate-limiting: waiting may help.
    for busy in ["HTTP 503 Service Unavailable", "HTTP 429 Too Many Requests"] {
        let wait = fix("http://127.0.0.1:8443/", not_ready(busy));
        assert!(wait.contains("wait for it"), "{busy}: {wait}");
    }
}

/// Redis in protected mode answers a client off loopback `-DENIED`: not ready, and no wait
/// ends it: the fixes are its configuration, or a client on loopback.
#[test]
fn a_client_the_configuration_turns_away_is_not_told_to_wait() {
    let denied = crate::probe::Readiness::Denied(
        "DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user".into(),
    );
    let f = Facts {
        probe: Some(denied),
        listeners: Some(vec![listening("0.0.0.0:6379", "redis-server")]),
        ..one(
            "redis://10.0.0.5:6379",
            AddressFacts {
                local: true,
                ..tried("10.0.0.5:6379", Outcome::Connected, 0)
            },
        )
    };
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::NotReady);
    assert!(
        finding.summary.ends_with(
            "refuses this client by its configuration: DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user"
        ),
        "{finding:?}"
    );
    let fixes = finding.suggestions.join("\n");
    assert!(
        fixes.contains("requirepass")
            && fixes.contains("protected-mode no")
            && fixes.contains("`refused check redis://127.0.0.1:6379`")
            && !fixes.contains("wait"),
        "{fixes}"
    );

    // From another host: loopback is the server's, not a place to connect to from here.
    let f = Facts {
        listeners: None,
        addresses: vec![tried("10.0.0.5:6379", Outcome::Connected, 0)],
        ..f
    };
    let fixes = infer(&f).unwrap().suggestions.join("\n");
    assert!(
        fixes.contains("from Redis's own host over loopback") && !fixes.contains("check redis://"),
        "{fixes}"
    );
}

#[test]
fn a_listener_that_accepts_and_drops_is_not_ready_and_a_proxy_is_named() {
    // Reset during the connect: the program took the connection and reset it, no rule did.
    let f = Facts {
        listeners: Some(vec![listening("0.0.0.0:8080", "docker-proxy")]),
        ..one("127.0.0.1:8080", tried("127.0.0.1:8080", Outcome::Reset, 0))
    };
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::NotReady);
    assert!(finding.suggestions[0].contains("docker ps"), "{finding:?}");

    // Connected, then closed during the settle.
    let f = Facts {
        probe: Some(crate::probe::Readiness::NotReady(
            "the connection was closed right after it was accepted".into(),
        )),
        listeners: Some(vec![listening("127.0.0.1:8080", "socat")]),
        ..one(
            "127.0.0.1:8080",
            tried("127.0.0.1:8080", Outcome::Connected, 0),
        )
    };
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::NotReady);
    assert!(
        finding.summary.contains("closed right after"),
        "{finding:?}"
    );
    assert!(
        matches!(&finding.evidence[..], [Evidence::Listener(l)] if l.process.as_deref() == Some("socat")),
        "{finding:?}"
    );
    assert!(finding.suggestions[0].contains("socat"), "{finding:?}");
}

#[test]
fn a_rejecting_route_of_this_host_is_named_not_blamed_on_the_remote_firewall() {
    use crate::sys::route::{RejectingRoute, RouteKind};
    let routed = |outcome, errno, kind, destination: &str| {
        let mut address = tried("10.99.1.2:80", outcome, 0);
        address.attempt.errno = Some(errno);
        address.route = Some(RejectingRoute {
            kind,
            destination: Some(destination.to_owned()),
            table: None,
            rule: None,
        });
        one("10.99.1.2:80", address)
    };
    let f = routed(
        Outcome::HostUnreachable,
        libc::EHOSTUNREACH,
        RouteKind::Unreachable,
        "10.99.0.0/16",
    );
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::NetworkUnreachable);
    assert!(
        finding.summary.contains("`unreachable 10.99.0.0/16`"),
        "{finding:?}"
    );
    assert!(
        finding
            .suggestions
            .iter()
            .any(|s| s.contains("sudo ip route del unreachable 10.99.0.0/16")),
        "{finding:?}"
    );
    let f = routed(
        Outcome::PermissionDenied,
        libc::EACCES,
        RouteKind::Prohibit,
        "10.99.0.0/16",
    );
    assert_eq!(cause(&f), Cause::BlockedLocally);
    let f = routed(
        Outcome::Other(Some(libc::EINVAL)),
        libc::EINVAL,
        RouteKind::Blackhole,
        "default",
    );
    assert_eq!(cause(&f), Cause::NetworkUnreachable);
    // Without the route, the same fast EHOSTUNREACH is a rejection from the path.
    let mut f = routed(
        Outcome::HostUnreachable,
        libc::EHOSTUNREACH,
        RouteKind::Unreachable,
        "x",
    );
    f.addresses[0].route = None;
    assert_eq!(cause(&f), Cause::Rejected);
}

#[test]
fn a_policy_rule_that_rejects_is_named_as_a_rule_not_a_route() {
    use crate::sys::route::{PolicyRule, RejectingRoute, RouteKind};
    let ruled = |outcome, errno, kind, action: &str| {
        let mut address = tried("10.247.9.2:80", outcome, 0);
        address.attempt.errno = Some(errno);
        address.route_lookup = Some(RouteLookup::NoRoute);
        address.route = Some(RejectingRoute {
            kind,
            destination: None,
            table: None,
            rule: Some(PolicyRule {
                priority: 32765,
                selector: "to 10.247.9.0/24".to_owned(),
                action: action.to_owned(),
            }),
        });
        one("10.247.9.2:80", address)
    };
    // `ip rule add to X unreachable` fails the connect with ENETUNREACH, as no route does:
    // adding a route cannot help, the rule comes first.
    let f = ruled(
        Outcome::NetworkUnreachable,
        libc::ENETUNREACH,
        RouteKind::Unreachable,
        "unreachable",
    );
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::NetworkUnreachable);
    assert!(
        finding
            .summary
            .contains("policy rule `to 10.247.9.0/24 unreachable`"),
        "{finding:?}"
    );
    assert!(!finding.summary.contains("no route"), "{finding:?}");
    let suggestions = finding.suggestions.join("\n");
    assert!(
        suggestions.contains("sudo ip rule del pref 32765 to 10.247.9.0/24 unreachable"),
        "{finding:?}"
    );
    assert!(!suggestions.contains("add one"), "{finding:?}");
    assert!(!suggestions.contains("ip route show"), "{finding:?}");
    assert_eq!(
        finding.evidence[0].to_string(),
        "this host's policy rule `to 10.247.9.0/24 unreachable` (priority 32765) rejects it"
    );
    // `prohibit`: blocked here, and no `(not listed)` route.
    let f = ruled(
        Outcome::PermissionDenied,
        libc::EACCES,
        RouteKind::Prohibit,
        "prohibit",
    );
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::BlockedLocally);
    assert!(
        !finding.evidence[0].to_string().contains("not listed"),
        "{finding:?}"
    );
    assert!(
        finding
            .suggestions
            .iter()
            .any(|s| s.contains("ip rule del pref 32765 to 10.247.9.0/24 prohibit")),
        "{finding:?}"
    );
}

#[test]
fn a_route_that_a_rule_on_the_port_chose_is_named_with_the_rule() {
    use crate::sys::route::{PolicyRule, RejectingRoute, RouteKind};
    let mut address = tried("10.247.3.2:46410", Outcome::HostUnreachable, 0);
    address.attempt.errno = Some(libc::EHOSTUNREACH);
    address.route_lookup = Some(RouteLookup::Rejected(RouteKind::Unreachable));
    address.route = Some(RejectingRoute {
        kind: RouteKind::Unreachable,
        destination: Some("10.247.0.0/16".to_owned()),
        table: Some("100".to_owned()),
        rule: Some(PolicyRule {
            priority: 32765,
            selector: "ipproto tcp dport 46410".to_owned(),
            action: "lookup 100".to_owned(),
        }),
    });
    let finding = infer(&one("10.247.3.2:46410", address)).unwrap();
    // Not `rejected` ("a firewall on the server"): this host's route, which the rule chose.
    assert_eq!(finding.cause, Cause::NetworkUnreachable);
    assert!(
        finding.summary.contains(
            "route `unreachable 10.247.0.0/16` (table 100, chosen by the policy rule `ipproto tcp dport 46410 lookup 100`"
        ),
        "{finding:?}"
    );
    let suggestions = finding.suggestions.join("\n");
    assert!(
        suggestions.contains("sudo ip route del unreachable 10.247.0.0/16 table 100"),
        "{finding:?}"
    );
    assert!(
        suggestions.contains("ip route get 10.247.3.2 ipproto tcp dport 46410"),
        "{finding:?}"
    );
    assert!(
        suggestions.contains("sudo ip rule del pref 32765 ipproto tcp dport 46410 lookup 100"),
        "{finding:?}"
    );
}

#[test]
fn root_is_never_told_to_sudo() {
    // A local rule, a listener in a named namespace, an exhausted port range: each fix needs root.
    let mut address = tried("192.0.2.7:7001", Outcome::Timeout, 1000);
    address.blockers = Some(vec![blocker("tcp dport 7001 drop", Verdict::Drop, true)]);
    let blocked = one("192.0.2.7:7001", address);
    let mut foreign = listening("0.0.0.0:8081", "node");
    foreign.netns = Some(Namespace::Named("blue".into()));
    let namespaced = Facts {
        foreign: vec![foreign],
        ..one(
            "127.0.0.1:8081",
            tried("127.0.0.1:8081", Outcome::Refused, 0),
        )
    };
    let exhausted = one(
        "192.0.2.7:80",
        tried("192.0.2.7:80", Outcome::AddressUnavailable, 0),
    );
    for facts in [blocked, namespaced, exhausted] {
        let as_user = infer(&facts).unwrap();
        assert!(
            as_user.suggestions.iter().any(|s| s.contains("`sudo ")),
            "{as_user:?}"
        );
        let as_root = infer(&Facts {
            privilege: Privilege::Root,
            ..facts
        })
        .unwrap();
        assert!(
            as_root.suggestions.iter().all(|s| !s.contains("sudo")),
            "{as_root:?}"
        );
        let unsudoed: Vec<String> = as_user
            .suggestions
            .iter()
            .map(|s| s.replace("`sudo ", "`"))
            .collect();
        assert_eq!(as_root.suggestions, unsudoed);
    }
}

#[test]
fn systemctl_is_suggested_only_where_systemd_runs() {
    // Nothing on PostgreSQL's port: its unit is named when this host has it installed (the
    // rule looks for the unit file; Debian's `postgresql` package installs one).
    let facts = one(
        "127.0.0.1:5432",
        tried("127.0.0.1:5432", Outcome::Refused, 0),
    );
    let unit = services::by_port(5432).and_then(services::Service::installed_unit);
    let with_systemd = infer(&facts).unwrap();
    let without = infer(&Facts {
        init: Init::Other,
        ..facts.clone()
    })
    .unwrap();
    let as_root_without = infer(&Facts {
        init: Init::Other,
        privilege: Privilege::Root,
        ..facts
    })
    .unwrap();
    for finding in [&without, &as_root_without] {
        assert!(
            finding.suggestions.iter().all(|s| !s.contains("systemctl")),
            "{finding:?}"
        );
    }
    let has = |finding: &Finding, text: &str| finding.suggestions.iter().any(|s| s.contains(text));
    match unit {
        Some(unit) => {
            assert!(has(
                &with_systemd,
                &format!("`sudo systemctl start {unit}`")
            ));
            assert!(has(&without, &format!("`sudo service {unit} start`")));
            assert!(has(&as_root_without, &format!("`service {unit} start`")));
        }
        None => assert_eq!(with_systemd.suggestions, without.suggestions),
    }
}

/// A remote address whose route goes through `gateway`, whose neighbour entry is `state`.
fn through_gateway(outcome: Outcome, ms: u64, state: Option<Neighbour>) -> Facts {
    let mut address = tried("10.199.60.1:80", outcome, ms);
    address.route_lookup = Some(RouteLookup::Routed);
    address.gateway = Some(Gateway {
        address: "10.77.0.254".parse().unwrap(),
        neighbour: state,
    });
    one("10.199.60.1:80", address)
}

#[test]
fn a_dead_gateway_is_host_unreachable_naming_it_however_long_the_connect_took() {
    let gateway: IpAddr = "10.77.0.254".parse().unwrap();
    let target: IpAddr = "10.199.60.1".parse().unwrap();
    // Fast (the connect joined a lookup already failing), slow (~3 s: the lookup gave up), and
    // a timeout while the lookup got no answer.
    for (outcome, ms) in [
        (Outcome::HostUnreachable, 549),
        (Outcome::HostUnreachable, 3050),
        (Outcome::Timeout, 1000),
    ] {
        let finding = infer(&through_gateway(outcome, ms, Some(Neighbour::NoAnswer))).unwrap();
        assert_eq!(
            finding.cause,
            Cause::HostUnreachable,
            "{outcome:?} {finding:?}"
        );
        assert!(
            finding.summary.contains("gateway 10.77.0.254"),
            "{finding:?}"
        );
        assert!(finding.evidence.contains(&Evidence::Neighbour {
            address: gateway,
            state: Neighbour::NoAnswer,
            gateway_for: Some(target),
        }));
        assert!(
            finding.suggestions.iter().all(|s| !s.contains("firewall")),
            "{finding:?}"
        );
        let json = serde_json::to_value(&finding.evidence[0]).unwrap();
        assert_eq!(json["gateway_for"], "10.199.60.1", "{json}");
    }
}

#[test]
fn a_gateway_that_answers_leaves_rejections_and_timeouts_to_the_path() {
    let answered = Some(Neighbour::Answered);
    assert_eq!(
        cause(&through_gateway(Outcome::HostUnreachable, 2, answered)),
        Cause::Rejected
    );
    assert_eq!(
        cause(&through_gateway(Outcome::Timeout, 3000, answered)),
        Cause::Filtered
    );
    // A slow host-unreachable past a live gateway: a router found nobody, not this host's link.
    let finding = infer(&through_gateway(Outcome::HostUnreachable, 3050, answered)).unwrap();
    assert_eq!(finding.cause, Cause::HostUnreachable);
    assert!(!finding.summary.contains("local network"), "{finding:?}");
    // The target's own entry still counts on its link; a neighbour's evidence says no gateway.
    let mut address = tried("10.77.0.99:80", Outcome::HostUnreachable, 3050);
    address.neighbour = Some(Neighbour::NoAnswer);
    let json =
        serde_json::to_value(&infer(&one("10.77.0.99:80", address)).unwrap().evidence[0]).unwrap();
    assert_eq!(json["address"], "10.77.0.99");
    assert!(json.get("gateway_for").is_none(), "{json}");
}

#[test]
fn net_unreachable_with_a_route_here_is_a_rejection_from_the_path() {
    let with = |lookup: Option<RouteLookup>| {
        let mut address = tried("10.77.0.2:22010", Outcome::NetworkUnreachable, 1);
        address.route_lookup = lookup;
        infer(&one("10.77.0.2:22010", address)).unwrap()
    };
    let finding = with(Some(RouteLookup::Routed));
    assert_eq!(finding.cause, Cause::Rejected, "{finding:?}");
    assert!(
        finding.summary.contains("network unreachable") && !finding.summary.contains("no route"),
        "{finding:?}"
    );
    assert!(
        finding
            .suggestions
            .iter()
            .any(|s| s.contains("routes of the routers")),
        "{finding:?}"
    );
    // No route here: this host's own error.
    for lookup in [Some(RouteLookup::NoRoute), None] {
        assert_eq!(with(lookup).cause, Cause::NetworkUnreachable);
    }
}

#[test]
fn filtered_and_rejected_without_the_rules_say_how_to_read_them() {
    let as_root_line = |finding: &Finding| {
        finding
            .suggestions
            .iter()
            .any(|s| s.contains("run as root to read this host's firewall rules"))
    };
    for (outcome, ms, expected) in [
        (Outcome::Timeout, 3000, Cause::Filtered),
        (Outcome::HostUnreachable, 2, Cause::Rejected),
    ] {
        let unread = AddressFacts {
            blockers: None,
            ..tried("10.77.0.2:7001", outcome, ms)
        };
        let finding = infer(&one("10.77.0.2:7001", unread.clone())).unwrap();
        assert_eq!(finding.cause, expected);
        assert!(as_root_line(&finding), "{finding:?}");
        // As root the rules went unread for another reason (the time limit, nft missing), which
        // "not seen" gives: "run as root" would be wrong.
        let as_root = Facts {
            privilege: Privilege::Root,
            ..one("10.77.0.2:7001", unread)
        };
        let finding = infer(&as_root).unwrap();
        assert!(!as_root_line(&finding), "{finding:?}");
        assert!(
            finding
                .suggestions
                .iter()
                .any(|s| s.contains("see \"not seen\"")),
            "{finding:?}"
        );
        // Read, and none of them stops it: nothing to add.
        let read = tried("10.77.0.2:7001", outcome, ms);
        assert!(!as_root_line(&infer(&one("10.77.0.2:7001", read)).unwrap()));
    }
}

#[test]
fn a_v6only_wildcard_listener_is_fixed_by_its_option_not_by_binding_it_again() {
    let mut v6only = listening("[::]:3100", "app");
    v6only.listener.v6only = Some(true);
    let f = Facts {
        listeners: Some(vec![v6only]),
        ..one(
            "127.0.0.1:3100",
            AddressFacts {
                local: true,
                ..tried("127.0.0.1:3100", Outcome::Refused, 0)
            },
        )
    };
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::ListeningOnOtherFamily);
    let fixes = finding.suggestions.join("\n");
    assert!(fixes.contains("IPV6_V6ONLY off"), "{fixes}");
    assert!(!fixes.contains("bind it to `::`"), "{fixes}");
    assert!(!fixes.contains("localhost"), "{fixes}");

    // An IPv4-only listener and a literal `::1`: no word of a name that was not given; with
    // the name, the name it gave.
    let v4_only = |target: &str, resolution: Resolution| Facts {
        listeners: Some(vec![listening("127.0.0.1:3000", "node")]),
        resolution,
        ..one(
            target,
            AddressFacts {
                local: true,
                ..tried("[::1]:3000", Outcome::Refused, 0)
            },
        )
    };
    let literal = infer(&v4_only("[::1]:3000", Resolution::None)).unwrap();
    assert!(
        literal.suggestions.iter().all(|s| !s.contains("localhost")),
        "{literal:?}"
    );
    let named = infer(&v4_only(
        "localhost:3000",
        Resolution::Resolved {
            name: "localhost".into(),
            addresses: vec!["::1".parse().unwrap()],
            source: NameSource::Hosts,
        },
    ))
    .unwrap();
    assert!(
        named
            .suggestions
            .iter()
            .any(|s| s.contains("instead of `localhost`, use `127.0.0.1`")),
        "{named:?}"
    );
}

#[test]
fn the_other_familys_fix_names_the_addresses_of_the_name_not_loopback() {
    // A name of this host's own addresses, `dual`: its IPv6 one listens, its IPv4 one asked.
    let facts = |listener: &str, asked: &str| Facts {
        listeners: Some(vec![listening(listener, "python3")]),
        resolution: Resolution::Resolved {
            name: "dual".into(),
            addresses: vec![asked.parse::<SocketAddr>().unwrap().ip()],
            source: NameSource::Hosts,
        },
        ..one(
            &format!("dual:{}", asked.rsplit(':').next().unwrap()),
            AddressFacts {
                local: true,
                ..tried(asked, Outcome::Refused, 0)
            },
        )
    };
    let finding = infer(&facts("[fd49:2::1]:8003", "10.249.2.1:8003")).unwrap();
    assert_eq!(finding.cause, Cause::ListeningOnOtherFamily);
    let fixes = finding.suggestions.join("\n");
    assert!(
        fixes.contains("or to both 10.249.2.1 and fd49:2::1; instead of `dual`, use `fd49:2::1`"),
        "{fixes}"
    );
    assert!(
        !fixes.contains("and ::1") && !fixes.contains("127.0.0.1"),
        "{fixes}"
    );

    // Every IPv4 address taken, a global IPv6 one asked: binding loopback would cut every other
    // host off; no address to use instead is known.
    let finding = infer(&facts("0.0.0.0:8005", "[fd49:2::1]:8005")).unwrap();
    assert_eq!(finding.cause, Cause::ListeningOnOtherFamily);
    let fixes = finding.suggestions.join("\n");
    assert!(fixes.contains("or to both 0.0.0.0 and ::"), "{fixes}");
    assert!(
        !fixes.contains("::1") && !fixes.contains("instead of `dual`"),
        "{fixes}"
    );
}

#[test]
fn reachable_with_ipv6_disabled_warns_about_the_ipv6_address() {
    // The resolver sorts an unusable ::1 after 127.0.0.1: the first address connected.
    let f = Facts {
        resolution: Resolution::Resolved {
            name: "localhost".into(),
            addresses: vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()],
            source: NameSource::Hosts,
        },
        addresses: vec![
            tried("127.0.0.1:3000", Outcome::Connected, 0),
            tried("[::1]:3000", Outcome::AddressUnavailable, 0),
        ],
        ipv6_usable: false,
        ..facts("localhost:3000")
    };
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::Reachable);
    assert_eq!(finding.warnings.len(), 1, "{finding:?}");
    assert!(
        finding.warnings[0].contains("IPv6 is disabled") && finding.warnings[0].contains("::1"),
        "{finding:?}"
    );
    assert!(
        finding.warnings[0].contains("net.ipv6.conf.all.disable_ipv6=0"),
        "{finding:?}"
    );
    // IPv6 works: a failed ::1 that came second is no warning of this kind, only the one of
    // any later address that failed.
    let f = Facts {
        ipv6_usable: true,
        ..f
    };
    let warnings = infer(&f).unwrap().warnings;
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("`localhost` also gives ::1, and [::1]:3000 was"),
        "{warnings:?}"
    );
    // Off on `lo` only: that switch is the one to turn back on.
    let finding = infer(&with_loopback(f, true, &[Ipv6Switch::Lo])).unwrap();
    assert_eq!(finding.warnings.len(), 1, "{finding:?}");
    assert!(
        finding.warnings[0].contains("`sudo sysctl -w net.ipv6.conf.lo.disable_ipv6=0`"),
        "{finding:?}"
    );
}

/// A target that connected reads this host's route for another address that failed, not its
/// firewall nor its neighbour table: a neighbour that never answered (a fast `EHOSTUNREACH`
/// once ARP failed) is not said as a firewall's reject, nor a timeout as a drop whose rules
/// "could not be read" (audit h22: it was, after 4f78b7e); a route that rejects it still is.
#[test]
fn a_failed_other_address_is_explained_only_by_what_was_read() {
    let f = |outcome: Outcome, ms: u64| Facts {
        resolution: Resolution::Resolved {
            name: "twoaddr".into(),
            addresses: vec!["10.0.0.2".parse().unwrap(), "10.0.0.99".parse().unwrap()],
            source: NameSource::Hosts,
        },
        addresses: vec![
            tried("10.0.0.2:8080", Outcome::Connected, 0),
            AddressFacts {
                blockers: None,
                ..tried("10.0.0.99:8080", outcome, ms)
            },
        ],
        ..facts("twoaddr:8080")
    };
    for (outcome, ms) in [(Outcome::HostUnreachable, 600), (Outcome::Timeout, 2400)] {
        let finding = infer(&f(outcome, ms)).unwrap();
        assert_eq!(finding.cause, Cause::Reachable);
        let warning = finding.warnings.join(" ");
        assert!(
            warning.contains("connect to 10.0.0.2; `refused why 10.0.0.99:8080` tells why"),
            "{warning}"
        );
        // Two IPv4 addresses: the order sends a client to the failed one, not its family.
        assert!(
            warning.contains("clients that take the addresses in another order"),
            "{warning}"
        );
        assert!(!warning.contains("IPv4 only"), "{warning}");
        for guessed in [
            "firewall",
            "rejected",
            "not seen",
            "make the service listen",
        ] {
            assert!(!warning.contains(guessed), "{guessed}: {warning}");
        }
    }
    // This host's own `unreachable` route is read, and named.
    let mut routed = f(Outcome::HostUnreachable, 0);
    routed.addresses[1].attempt.errno = Some(libc::EHOSTUNREACH);
    routed.addresses[1].route = Some(crate::sys::route::RejectingRoute {
        kind: crate::sys::route::RouteKind::Unreachable,
        destination: Some("10.0.0.99/32".to_owned()),
        table: None,
        rule: None,
    });
    let warning = infer(&routed).unwrap().warnings.join(" ");
    assert!(warning.contains("10.0.0.99/32"), "{warning}");
    assert!(!warning.contains("tells why"), "{warning}");
}

/// A name that gives `::1` and another host's IPv4 address, and a program on 127.0.0.1 only:
/// `::1` is refused for the family; the other host's address, which failed on its own (no
/// neighbour answered), is not "an address this program should listen on too", nor this host's
/// own (review h22: the redirect to the listener's family took any failed address).
#[test]
fn the_listeners_family_is_redirected_only_to_a_refused_address_of_this_host() {
    let mut remote = tried("10.0.0.99:3000", Outcome::HostUnreachable, 600);
    remote.local = false;
    let f = Facts {
        resolution: Resolution::Resolved {
            name: "app".into(),
            addresses: vec!["::1".parse().unwrap(), "10.0.0.99".parse().unwrap()],
            source: NameSource::Hosts,
        },
        addresses: vec![tried("[::1]:3000", Outcome::Refused, 0), remote],
        listeners: Some(vec![listening("127.0.0.1:3000", "python3")]),
        ..facts("app:3000")
    };
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::ListeningOnOtherFamily, "{finding:?}");
    assert!(!finding.summary.contains("10.0.0.99"), "{finding:?}");
    assert!(
        !finding.suggestions.iter().any(|s| s.contains("10.0.0.99")),
        "{finding:?}"
    );
    // 127.0.0.1, this host's and refused, is the address that is wrong.
    let f = Facts {
        resolution: Resolution::Resolved {
            name: "localhost".into(),
            addresses: vec!["::1".parse().unwrap(), "127.0.0.1".parse().unwrap()],
            source: NameSource::Hosts,
        },
        addresses: vec![
            tried("[::1]:3000", Outcome::Refused, 0),
            tried("127.0.0.1:3000", Outcome::Refused, 0),
        ],
        listeners: Some(vec![listening("127.0.1.1:3000", "python3")]),
        ..facts("localhost:3000")
    };
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::ListeningOnOtherAddress, "{finding:?}");
    assert!(
        finding
            .summary
            .ends_with("but only on 127.0.1.1, not on 127.0.0.1"),
        "{finding:?}"
    );
}

/// A name with IPv6 addresses only and no route to them: from DNS, its missing A record; from
/// `/etc/hosts`, which `dig` never reads, the line to add (review h22: it said "its DNS lacks
/// the A record: `dig A NAME`" of a name the evidence said came from /etc/hosts).
#[test]
fn an_ipv6_only_name_is_said_where_it_came_from() {
    let f = |source| Facts {
        resolution: Resolution::Resolved {
            name: "v6only".into(),
            addresses: vec!["fd00:222::5".parse().unwrap()],
            source,
        },
        ..one(
            "[fd00:222::5]:80",
            tried("[fd00:222::5]:80", Outcome::NetworkUnreachable, 0),
        )
    };
    let finding = infer(&f(NameSource::Dns)).unwrap();
    assert_eq!(finding.cause, Cause::NetworkUnreachable);
    assert!(finding.summary.contains("no A record"), "{finding:?}");
    assert!(
        finding.suggestions[0].contains("`dig A v6only`"),
        "{finding:?}"
    );
    let finding = infer(&f(NameSource::Hosts)).unwrap();
    assert_eq!(finding.cause, Cause::NetworkUnreachable);
    assert!(
        finding
            .summary
            .starts_with("`v6only` has IPv6 addresses only in /etc/hosts"),
        "{finding:?}"
    );
    let said = format!("{} {:?}", finding.summary, finding.suggestions);
    for dns in ["A record", "dig", "DNS"] {
        assert!(!said.contains(dns), "{dns}: {said}");
    }
    assert!(finding.suggestions[0].contains("/etc/hosts"), "{finding:?}");
}

#[test]
fn what_the_unread_rules_could_explain_is_said() {
    // Without root, a fast EHOSTUNREACH may be this host's own `reject with icmp ...` rule.
    let mut address = tried("192.0.2.7:7003", Outcome::HostUnreachable, 1);
    address.blockers = None;
    let finding = infer(&one("192.0.2.7:7003", address)).unwrap();
    assert_eq!(finding.cause, Cause::Rejected);
    assert!(finding.summary.contains("could not be read"), "{finding:?}");
    // With legacy rules unevaluated, a remote reset is not stated as certain.
    let f = Facts {
        rules_read: RulesRead {
            legacy_unlisted: true,
            ..RulesRead::default()
        },
        ..one(
            "192.0.2.7:7007",
            tried("192.0.2.7:7007", Outcome::Refused, 1),
        )
    };
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::Closed);
    assert!(finding.summary.contains("iptables-legacy"), "{finding:?}");
    assert!(
        finding
            .suggestions
            .iter()
            .any(|s| s.contains("iptables-legacy-save")),
        "{finding:?}"
    );
    // Nothing on a local port, the rules unread: a DNAT rule may publish it elsewhere.
    let mut address = tried("127.0.0.1:8080", Outcome::Refused, 0);
    address.blockers = None;
    let finding = infer(&one("127.0.0.1:8080", address)).unwrap();
    assert_eq!(finding.cause, Cause::NoListener);
    assert!(finding.summary.contains("DNAT"), "{finding:?}");
    // Read, and nothing: no hedge.
    let finding = infer(&one(
        "127.0.0.1:8080",
        tried("127.0.0.1:8080", Outcome::Refused, 0),
    ))
    .unwrap();
    assert!(
        !finding.summary.contains("would look the same"),
        "{finding:?}"
    );
}

#[test]
fn a_listener_right_there_that_refuses_with_every_rule_read_blames_no_firewall() {
    // Every rule read, none stops it: the listener may have come after the attempt.
    let f = Facts {
        listeners: Some(vec![listening("0.0.0.0:80", "nginx")]),
        ..one("127.0.0.1:80", tried("127.0.0.1:80", Outcome::Refused, 0))
    };
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::NotReady, "{finding:?}");
    assert!(
        finding
            .summary
            .contains("no rule of this host's firewall rejects it"),
        "{finding:?}"
    );
    assert!(
        finding.suggestions[0].contains("refused wait 127.0.0.1:80"),
        "{finding:?}"
    );
}

#[test]
fn a_listener_bound_to_another_interface_is_another_address() {
    // socat's `so-bindtodevice=eth1`: `0.0.0.0%eth1:8080` takes what comes in through eth1
    // only, and a connection from this host to 127.0.0.1 comes in through lo.
    let mut bound = listening("0.0.0.0:8080", "socat");
    bound.listener.device = Some(BoundDevice {
        index: 5,
        name: Some("eth1".into()),
        addresses: vec!["fe80::5".parse().unwrap(), "10.1.0.5".parse().unwrap()],
    });
    let f = Facts {
        listeners: Some(vec![bound.clone()]),
        ..one(
            "127.0.0.1:8080",
            tried("127.0.0.1:8080", Outcome::Refused, 0),
        )
    };
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::ListeningOnOtherAddress, "{finding:?}");
    assert!(
        finding
            .summary
            .contains("bound to interface eth1 (SO_BINDTODEVICE)"),
        "{finding:?}"
    );
    assert_eq!(
        finding.suggestions[0],
        "connect to 10.1.0.5:8080 instead (an address of eth1)"
    );
    // At the interface's own address it takes the connection: nothing to say against it.
    assert!(bound.listener.accepts("10.1.0.5".parse().unwrap()));
    assert!(!bound.listener.accepts("127.0.0.1".parse().unwrap()));
    // Bound to lo, it takes all of loopback.
    bound.listener.device = Some(BoundDevice {
        index: 1,
        name: Some("lo".into()),
        addresses: vec!["127.0.0.1".parse().unwrap()],
    });
    assert!(bound.listener.accepts("127.0.0.53".parse().unwrap()));
    assert!(!bound.listener.accepts("10.1.0.5".parse().unwrap()));
}

#[test]
fn a_listener_tried_and_failed_is_not_the_fix_for_its_counterpart() {
    // `localhost`: ::1 refused (the server binds 127.0.0.1 only), then 127.0.0.1 timed out:
    // the server is hung, its queue over its backlog. "Connect to 127.0.0.1 instead" would send
    // the client where it failed too: the full queue is the finding, the family a warning.
    let mut hung = listening("127.0.0.1:9100", "server");
    hung.listener.queue = 2;
    hung.listener.backlog = Some(1);
    let f = Facts {
        addresses: vec![
            tried("[::1]:9100", Outcome::Refused, 0),
            tried("127.0.0.1:9100", Outcome::Timeout, 3000),
        ],
        listeners: Some(vec![hung]),
        ..facts("localhost:9100")
    };
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::ListenQueueFull, "{finding:?}");
    assert!(
        finding
            .warnings
            .iter()
            .any(|w| w.starts_with("also: ") && w.contains("127.0.0.1:9100")),
        "{finding:?}"
    );

    // Where the counterpart was not tried, or worked, the family is the fix as before.
    let f = Facts {
        addresses: vec![tried("[::1]:9100", Outcome::Refused, 0)],
        ..f
    };
    assert_eq!(cause(&f), Cause::ListeningOnOtherFamily);
}

#[test]
fn localhost_missing_from_the_hosts_file_says_which_lines_to_add() {
    let f = Facts {
        resolution: Resolution::Failed(ResolveError {
            name: "localhost".into(),
            kind: ResolveErrorKind::NotFound,
        }),
        ..facts("localhost:8080")
    };
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::DnsNotFound);
    assert!(
        finding.suggestions[0].contains("`127.0.0.1 localhost`"),
        "{finding:?}"
    );
}

#[test]
fn an_ipv4_mapped_address_is_ipv4() {
    // `[::ffff:127.0.0.1]:P` reaches IPv4 listeners; a listener on ::1 is the other family.
    let v4 = listening("127.0.0.1:9300", "server").listener;
    assert!(v4.accepts("::ffff:127.0.0.1".parse().unwrap()));
    let f = Facts {
        listeners: Some(vec![listening("[::1]:9300", "server")]),
        ..one(
            "[::ffff:127.0.0.1]:9300",
            AddressFacts {
                local: true,
                ..tried("[::ffff:127.0.0.1]:9300", Outcome::Refused, 0)
            },
        )
    };
    assert_eq!(cause(&f), Cause::ListeningOnOtherFamily);
}

#[test]
fn a_namespace_whose_listener_refuses_is_blamed_alone_only_when_this_hosts_rules_were_read() {
    use crate::diagnose::facts::Holder;
    let netns = Namespace::OfProcess(4242);
    let mut inside = listening("0.0.0.0:7013", "socat");
    inside.netns = Some(netns.clone());
    let mut address = tried("10.77.0.2:7013", Outcome::Refused, 1);
    address.holder = Some(Holder::new(netns, Some(4242), Some(vec![inside])));

    // Without root nothing of this host's firewall was read: its own reject looks the same.
    address.blockers = None;
    let unread = infer(&one("10.77.0.2:7013", address.clone())).unwrap();
    // nft's ruleset unread, the legacy tables read (and nothing there): the same.
    address.blockers = Some(Vec::new());
    let nft_unread = infer(&Facts {
        rules_read: RulesRead {
            nft_unread: true,
            ..RulesRead::default()
        },
        ..one("10.77.0.2:7013", address.clone())
    })
    .unwrap();
    for finding in [unread, nft_unread] {
        assert_eq!(finding.cause, Cause::BlockedLocally);
        assert!(
            finding.summary.ends_with(
                "a firewall rejects it: this host's (its rules could not be read) or that namespace's"
            ),
            "{}",
            finding.summary
        );
        let fixes = finding.suggestions.join("\n");
        assert!(
            fixes.contains("`sudo refused why 10.77.0.2:7013`"),
            "{fixes}"
        );
        assert!(
            fixes.contains("`sudo nsenter -t 4242 -n nft list ruleset`"),
            "{fixes}"
        );
    }

    // Every rule of this host read, none rejecting: the namespace's own firewall is left.
    let finding = infer(&one("10.77.0.2:7013", address)).unwrap();
    assert_eq!(finding.cause, Cause::BlockedLocally);
    assert!(
        finding
            .summary
            .ends_with("yet the connection was refused: a firewall of that namespace rejects it, most likely (its rules could not be read)"),
        "{}",
        finding.summary
    );
    assert!(
        !finding
            .suggestions
            .iter()
            .any(|s| s.contains("refused why")),
        "{finding:?}"
    );
}

#[test]
fn a_tripped_ufw_limit_is_a_rate_limit_that_clears_not_a_rule_to_delete() {
    // `ufw limit out 5555/tcp`: at the limit, ufw-user-output jumps to ufw-user-limit, whose
    // log-and-reject matches (the `-m recent` count is not evaluated: only probably).
    let limit = Blocker {
        table: "ip filter".to_owned(),
        chain: "ufw-user-limit".to_owned(),
        path: [
            "OUTPUT",
            "ufw-before-output",
            "ufw-user-output",
            "ufw-user-limit",
        ]
        .map(str::to_owned)
        .to_vec(),
        tool: Tool::Ufw,
        position: Some(2),
        ..blocker("reject", Verdict::Reject, false)
    };
    let mut address = tried("192.0.2.7:5555", Outcome::Refused, 1);
    address.blockers = Some(vec![limit.clone()]);
    let finding = infer(&one("192.0.2.7:5555", address.clone())).unwrap();
    assert_eq!(finding.cause, Cause::BlockedLocally);
    assert!(
        finding
            .summary
            .starts_with("ufw's rate limit (`ufw limit out 5555/tcp`) probably stops"),
        "{}",
        finding.summary
    );
    assert!(
        finding
            .summary
            .contains("6 or more new connections from this host within 30 s"),
        "{}",
        finding.summary
    );
    let fixes = finding.suggestions.join("\n");
    assert!(
        finding.summary.ends_with("and clears by itself"),
        "{}",
        finding.summary
    );
    assert!(fixes.contains("once 30 s pass without new ones"), "{fixes}");
    assert!(fixes.contains("`sudo ufw allow out 5555/tcp`"), "{fixes}");
    // Neither a deny or reject rule of the user's nor one to delete.
    assert!(
        !fixes.contains("ufw delete") && !fixes.contains("ufw reject"),
        "{fixes}"
    );

    // The inbound limit (`ufw limit 5555/tcp`) on this host's own input, in IPv6's chains.
    let inbound = Blocker {
        table: "ip6 filter".to_owned(),
        chain: "ufw6-user-limit".to_owned(),
        path: [
            "INPUT",
            "ufw6-before-input",
            "ufw6-user-input",
            "ufw6-user-limit",
        ]
        .map(str::to_owned)
        .to_vec(),
        hook: Hook::Input,
        ..limit
    };
    let mut address = tried("[::1]:5555", Outcome::Refused, 1);
    address.blockers = Some(vec![inbound]);
    // Something listens there: the rule, not an empty port, refused it.
    let f = Facts {
        listeners: Some(vec![listening("[::]:5555", "sshd")]),
        ..one("[::1]:5555", address)
    };
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::BlockedLocally);
    assert!(
        finding.summary.contains("(`ufw limit 5555/tcp`)"),
        "{}",
        finding.summary
    );
    assert!(
        finding
            .suggestions
            .iter()
            .any(|s| s.contains("`sudo ufw allow 5555/tcp` replaces the limit")),
        "{finding:?}"
    );
}

#[test]
fn a_connect_held_in_a_queue_over_its_backlog_is_a_full_queue_not_a_dead_backend() {
    use crate::connect::{ConnectError, ConnectErrorKind};
    use crate::probe::{ProbeFailure, ProtocolError, ProtocolErrorKind, Readiness};
    // `listen(1)`, never accepted: one connection waited, ours made two (the kernel admits one
    // past the backlog), and the probe's reconnect timed out at the full queue.
    let mut hung = listening("127.0.0.1:9500", "python3");
    hung.listener.queue = 2;
    hung.listener.backlog = Some(1);
    let timed_out = Readiness::Failed(ProbeFailure::Connect(ConnectError::new(
        "127.0.0.1:9500".to_owned(),
        ConnectErrorKind::Failed(Outcome::Timeout),
        Vec::new(),
        Duration::from_secs(3),
    )));
    let probed = |target: &str, readiness: &Readiness, listener: &HeldListener| Facts {
        probe: Some(readiness.clone()),
        listeners: Some(vec![listener.clone()]),
        ..one(target, tried("127.0.0.1:9500", Outcome::Connected, 0))
    };
    let finding = infer(&probed("127.0.0.1:9500", &timed_out, &hung)).unwrap();
    assert_eq!(finding.cause, Cause::ListenQueueFull);
    assert!(
        finding.summary.contains(
            "its accept queue is full: 2 waiting, backlog 1: the program is not accepting (hung, or too slow)"
        ),
        "{}",
        finding.summary
    );
    assert!(
        matches!(&finding.evidence[..], [Evidence::Listener(l)] if l.listener.queue == 2),
        "{finding:?}"
    );
    let fixes = finding.suggestions.join("\n");
    assert!(
        fixes.contains("does not call accept()") && !fixes.contains("backend"),
        "{fixes}"
    );

    // The settle ran out before the program accepted (plain TCP), or a protocol got no answer:
    // the same queue.
    let settle = Readiness::NotReady("the time ran out before the program accepted".to_owned());
    let silent = Readiness::Failed(ProbeFailure::Protocol(ProtocolError {
        kind: ProtocolErrorKind::NoAnswer,
        detail: "no answer within 3 s".to_owned(),
    }));
    for (target, readiness) in [
        ("127.0.0.1:9500", &settle),
        ("redis://127.0.0.1:9500", &silent),
    ] {
        assert_eq!(
            cause(&probed(target, readiness, &hung)),
            Cause::ListenQueueFull,
            "{target}"
        );
    }

    // A queue at its backlog still takes one more: nothing proves the program stuck.
    let mut at_limit = hung.clone();
    at_limit.listener.queue = 1;
    assert_eq!(
        cause(&probed("127.0.0.1:9500", &timed_out, &at_limit)),
        Cause::NotReady
    );
    // The service's own answer says more than the queue.
    let busy = Readiness::NotReady("HTTP 503 Service Unavailable".to_owned());
    assert_eq!(
        cause(&probed("http://127.0.0.1:9500/", &busy, &hung)),
        Cause::NotReady
    );
}

#[test]
fn a_stopped_program_is_resumed_not_waited_for_nor_given_a_larger_backlog() {
    use crate::probe::{ProbeFailure, ProtocolError, ProtocolErrorKind, Readiness};
    use crate::sys::process::Stopped;
    // Ctrl-Z'd redis-server: the kernel queued our connect (room left), PING got no answer.
    let mut stopped = listening("127.0.0.1:6379", "redis-server");
    stopped.listener.queue = 1;
    stopped.listener.backlog = Some(511);
    stopped.stopped = Some(Stopped::Signal);
    let silent = Readiness::Failed(ProbeFailure::Protocol(ProtocolError {
        kind: ProtocolErrorKind::NoAnswer,
        detail: "no answer within 3 s".to_owned(),
    }));
    let probed = |listener: &HeldListener, readiness: &Readiness| Facts {
        probe: Some(readiness.clone()),
        listeners: Some(vec![listener.clone()]),
        ..one(
            "redis://127.0.0.1:6379",
            tried("127.0.0.1:6379", Outcome::Connected, 0),
        )
    };
    let finding = infer(&probed(&stopped, &silent)).unwrap();
    assert_eq!(finding.cause, Cause::NotReady);
    assert!(
        finding
            .summary
            .contains("redis-server (pid 4242), which listens there, is stopped (state `T`"),
        "{}",
        finding.summary
    );
    assert_eq!(
        finding.suggestions,
        [
            "resume it: `kill -CONT 4242` (or `fg` in the shell where Ctrl-Z suspended it); waiting or a larger backlog changes nothing"
        ]
    );
    // Over its backlog: the queue is full, for the same reason.
    let mut full = stopped.clone();
    full.listener.queue = 3;
    full.listener.backlog = Some(2);
    let finding = infer(&probed(&full, &silent)).unwrap();
    assert_eq!(finding.cause, Cause::ListenQueueFull);
    assert!(
        finding.suggestions[0].contains("`kill -CONT 4242`"),
        "{finding:?}"
    );
    // A timeout at the full queue, by a debugger's stop.
    full.stopped = Some(Stopped::Traced);
    let f = Facts {
        listeners: Some(vec![full.clone()]),
        ..one(
            "127.0.0.1:6379",
            tried("127.0.0.1:6379", Outcome::Timeout, 3000),
        )
    };
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::ListenQueueFull);
    assert!(
        finding.summary.contains("held stopped by a debugger"),
        "{finding:?}"
    );
    assert!(finding.suggestions[0].contains("TracerPid"), "{finding:?}");
    // A program that runs and answers (its own 503) is not about being stopped.
    let busy = Readiness::NotReady("LOADING Redis is loading the dataset in memory".to_owned());
    let finding = infer(&probed(&stopped, &busy)).unwrap();
    assert!(!finding.summary.contains("stopped"), "{finding:?}");
}

/// A holder namespace `netns` of 10.77.2.2 whose socat listens on `port`, read as root: its
/// rules (none) and its route back (there).
fn held_by(netns: &str, port: u16) -> crate::diagnose::facts::Holder {
    use crate::diagnose::facts::{Holder, RouteBack};
    let netns = Namespace::Named(netns.to_owned());
    let mut inside = listening(&format!("0.0.0.0:{port}"), "socat");
    inside.netns = Some(netns.clone());
    let mut holder = Holder::new(netns, None, Some(vec![inside]));
    holder.blockers = Some(Vec::new());
    holder.route_back = Some(RouteBack {
        to: "10.77.1.2".parse().unwrap(),
        lookup: crate::sys::route::Lookup::Routed,
    });
    holder
}

#[test]
fn a_routers_icmp_reject_outranks_the_listeners_of_the_namespace_behind_it() {
    // libvirt's NAT network: the host (10.77.1.1) rejects new connections from outside to the
    // VM (a namespace of this host, socat on 1100) with a port-unreachable.
    for asked in ["10.77.2.2:1100", "10.77.2.2:1101"] {
        let mut address = tried(asked, Outcome::Refused, 1);
        let mut holder = held_by("fxh-vm", 1100);
        holder.via = Some("10.77.1.1".parse().unwrap());
        address.holder = Some(holder);
        address.attempt.icmp = Some(crate::connect::IcmpError {
            version: crate::connect::IcmpVersion::V4,
            icmp_type: 3,
            code: 3,
            from: Some("10.77.1.1".parse().unwrap()),
        });
        let finding = infer(&one(asked, address)).unwrap();
        // Not `closed`, nor `wrong-port` to 1100, which the router rejects the same way.
        assert_eq!(finding.cause, Cause::Rejected, "{asked} {finding:?}");
        assert!(
            finding.summary.contains("10.77.1.1 on the way"),
            "{}",
            finding.summary
        );
        assert!(
            finding.suggestions[0].contains("firewall of the router 10.77.1.1"),
            "{finding:?}"
        );
    }
}

#[test]
fn a_namespace_listener_refused_past_a_router_is_the_path_unless_its_own_rule_rejects() {
    let mut address = tried("10.77.2.2:1100", Outcome::Refused, 1);
    let mut holder = held_by("fxh-s", 1100);
    holder.via = Some("10.77.1.1".parse().unwrap());
    address.holder = Some(holder.clone());

    // Its rules read, none rejecting, and a router on the way: the path, not its firewall.
    let finding = infer(&one("10.77.2.2:1100", address.clone())).unwrap();
    assert_eq!(finding.cause, Cause::Closed);
    assert!(
        finding.summary.ends_with(
            "yet the connection was refused: something on the path (via 10.77.1.1) rejects it (no rule of that namespace does)"
        ),
        "{}",
        finding.summary
    );
    assert!(
        finding.suggestions[0].contains("router 10.77.1.1"),
        "{finding:?}"
    );

    // Its rules unread: the path or that host, never certainly its firewall.
    let mut unread = holder.clone();
    unread.blockers = None;
    address.holder = Some(unread);
    let finding = infer(&one("10.77.2.2:1100", address.clone())).unwrap();
    assert_eq!(finding.cause, Cause::Closed);
    assert!(
        finding
            .summary
            .ends_with("something on the path (via 10.77.1.1) or that host rejects it"),
        "{}",
        finding.summary
    );
    assert!(
        finding
            .suggestions
            .iter()
            .any(|s| s.contains("`sudo ip netns exec fxh-s nft list ruleset`")),
        "{finding:?}"
    );

    // A rule of its own that rejects the port: named, with how to remove it in there.
    let mut rejecting = holder;
    rejecting.blockers = Some(vec![Blocker {
        chain: "input".to_owned(),
        path: vec!["input".to_owned()],
        hook: Hook::Input,
        ..blocker("tcp dport 1100 reject", Verdict::Reject, true)
    }]);
    address.holder = Some(rejecting);
    let finding = infer(&one("10.77.2.2:1100", address)).unwrap();
    assert_eq!(finding.cause, Cause::BlockedLocally);
    assert!(
        finding.summary.ends_with(
            "that namespace's own firewall stops it: `tcp dport 1100 reject` (table `inet filter`, chain `input`)"
        ),
        "{}",
        finding.summary
    );
    assert!(
        finding.suggestions[0]
            .contains("`sudo ip netns exec fxh-s nft delete rule inet filter input handle 7`"),
        "{finding:?}"
    );
}

/// A connection to the Docker host fxh-h's 10.77.9.1:8080, refused, where its nat prerouting
/// (chain `DOCKER`) sends the port to the container `container` at 172.31.77.2:80.
fn published_to_container(container: crate::diagnose::facts::Holder) -> Finding {
    published_by_docker_host(container, Outcome::Refused, Vec::new())
}

/// As [`published_to_container`], the attempt ending in `outcome`, the Docker host's own rules
/// for the connection being `rules`.
fn published_by_docker_host(
    container: crate::diagnose::facts::Holder,
    outcome: Outcome,
    rules: Vec<Blocker>,
) -> Finding {
    use crate::diagnose::facts::HeldPublished;
    use crate::sys::firewall::{Dnat, NatHook, NatTo};
    let to: SocketAddr = "172.31.77.2:80".parse().unwrap();
    // The Docker host listens on the port too (docker-proxy): its nat prerouting comes first.
    let mut host = held_by("fxh-h", 8080);
    host.published = Some(Box::new(HeldPublished {
        rule: Dnat {
            to: NatTo::Address {
                address: to.ip(),
                port: Some(80),
            },
            table: "ip nat".to_owned(),
            chain: "DOCKER".to_owned(),
            path: vec!["PREROUTING".to_owned(), "DOCKER".to_owned()],
            hook: NatHook::Prerouting,
            rule: "iifname != \"br0\" tcp dport 8080 dnat to 172.31.77.2:80".to_owned(),
            handle: Some(9),
            position: Some(2),
            tool: Tool::Iptables,
            certain: true,
            netns: None,
        },
        to,
        there: Some(container),
    }));
    host.blockers = Some(rules);
    let mut address = tried("10.77.9.1:8080", outcome, 3000);
    address.holder = Some(host);
    infer(&one("10.77.9.1:8080", address)).unwrap()
}

#[test]
fn a_port_another_namespace_sends_on_by_dnat_is_explained_where_it_goes() {
    let mut container = held_by("fxh-k", 9);
    container.listeners = Some(Vec::new());
    let finding = published_to_container(container);
    assert_eq!(finding.cause, Cause::NoListener);
    assert_eq!(
        finding.summary,
        "10.77.9.1:8080 is published to 172.31.77.2:80 by the DNAT rule (chain `DOCKER`) of network namespace fxh-h, which holds 10.77.9.1; there, nothing listens on port 80 in network namespace fxh-k, which holds 172.31.77.2"
    );
    assert!(matches!(finding.evidence[0], Evidence::Dnat(_)));
    assert!(
        finding.suggestions[0].contains("ip netns exec fxh-k ss -ltnp"),
        "{finding:?}"
    );
}

/// Rootful Podman's `podman run -p 8080:80` for a program on 3000: netavark's DNAT rule of this
/// host sends the port to the container, where httpd listens on 3000 alone. The fix is
/// Podman's, naming the container its `conmon` names (`podman run -p 8080:3000`), or, for a
/// pod's container, the pod's (`podman pod create -p`); never Docker's words.
#[test]
fn a_podman_container_on_another_port_is_fixed_in_podmans_words() {
    use crate::diagnose::facts::Published;
    use crate::sys::firewall::{Dnat, NatHook, NatTo};
    use crate::sys::podman::PodmanContainer;
    use crate::sys::process::ContainerRuntime;
    let to: SocketAddr = "10.88.0.9:80".parse().unwrap();
    let asked = |containers: Vec<PodmanContainer>| {
        let mut container = held_by("netns-9837a910", 3000);
        let httpd = &mut container.listeners.as_mut().unwrap()[0];
        httpd.listener.address = "::".parse().unwrap();
        httpd.listener.v6only = Some(false);
        httpd.process = Some("httpd".to_owned());
        httpd.pid = Some(12624);
        httpd.container = Some(ContainerRuntime::Podman);
        let mut address = tried("127.0.0.1:8080", Outcome::Refused, 0);
        address.published = Some(Published {
            rule: Dnat {
                to: NatTo::Address {
                    address: to.ip(),
                    port: Some(80),
                },
                table: "ip nat".to_owned(),
                chain: "NETAVARK-DN-1D8721804F16F".to_owned(),
                path: vec![
                    "OUTPUT".to_owned(),
                    "NETAVARK-HOSTPORT-DNAT".to_owned(),
                    "NETAVARK-DN-1D8721804F16F".to_owned(),
                ],
                hook: NatHook::Output,
                rule: "tcp dport 8080 dnat to 10.88.0.9:80".to_owned(),
                handle: Some(7),
                position: Some(1),
                tool: Tool::Iptables,
                certain: true,
                netns: None,
            },
            to,
            to_local: false,
        });
        address.holder = Some(container);
        let mut f = one("localhost:8080", address);
        f.podman_containers = containers;
        infer(&f).unwrap()
    };
    let web = PodmanContainer {
        pid: 12624,
        name: "web".into(),
        id: "4c9dfbc388ca".into(),
        in_pod: false,
    };
    let finding = asked(vec![web.clone()]);
    assert_eq!(finding.cause, Cause::WrongPort, "{finding:?}");
    assert_eq!(
        finding.suggestions,
        [
            "publish the port the program listens on: re-create container `web` with `podman run -p 8080:3000 ...` (`podman port web` lists what it publishes now)",
            "or make the service listen on port 80"
        ]
    );
    let finding = asked(vec![PodmanContainer {
        name: "inpod".into(),
        in_pod: true,
        ..web
    }]);
    assert_eq!(
        finding.suggestions[0],
        "publish the port the program listens on: container `inpod` is in a pod, whose ports are set when the pod is made: re-create the pod with `podman pod create -p 8080:3000 ...` (`podman pod ps` lists the pods)"
    );
    // Its conmon not found (it ended): still Podman's words.
    let finding = asked(Vec::new());
    assert!(
        finding.suggestions[0].contains("`podman run -p 8080:3000 ...`"),
        "{finding:?}"
    );
    assert!(finding.suggestions.iter().all(|s| !s.contains("docker")));
}

/// Rootful Podman's conmon reserves a published port and never accepts; a connection that no
/// DNAT rule sent on (a container on an `--internal` network) waits in its queue: not-ready,
/// naming the container its command line names, with the internal network as the likely why.
/// Served through the DNAT rule (an HTTP answer), conmon on the port says nothing.
#[test]
fn a_port_conmon_only_reserves_is_not_served() {
    use crate::sys::process::{ContainerRuntime, Publisher};
    let asked = |readiness: crate::probe::Readiness, queue: u32, target: &str| {
        let mut conmon = listening("0.0.0.0:8086", "conmon");
        conmon.pid = Some(13685);
        conmon.listener.queue = queue;
        conmon.container = Some(ContainerRuntime::Podman);
        Facts {
            probe: Some(readiness),
            listeners: Some(vec![conmon]),
            container_ports: vec![ContainerPort {
                runtime: Publisher::Podman,
                container: Some("internal".into()),
                address: "0.0.0.0".parse().unwrap(),
                port: 8086,
                container_port: None,
                protocol: "tcp",
                pid: Some(13685),
                process: Some("conmon".into()),
            }],
            ..one(target, tried("127.0.0.1:8086", Outcome::Connected, 0))
        }
    };
    let never = crate::probe::Readiness::NotReady(
        "conmon (pid 13685) holds the port and never accepts: it only reserves it for a container"
            .into(),
    );
    let finding = infer(&asked(never.clone(), 4, "localhost:8086")).unwrap();
    assert_eq!(finding.cause, Cause::NotReady);
    assert_eq!(
        finding.summary,
        "127.0.0.1:8086 accepts connections, but only into the queue of conmon (pid 13685), which reserves port 8086 for Podman's container `internal` and never accepts: Podman forwards the port by DNAT rules of this host, and none sent this connection on"
    );
    assert!(finding.suggestions[0].contains("`--internal` network"));
    assert!(finding.suggestions[0].contains("re-create container `internal`"));
    // HTTP's silence, the same.
    let silent = crate::probe::Readiness::Failed(crate::probe::ProbeFailure::Protocol(
        crate::probe::ProtocolError {
            kind: crate::probe::ProtocolErrorKind::NoAnswer,
            detail: "no HTTP response before the timeout".into(),
        },
    ));
    let finding = infer(&asked(silent, 4, "http://localhost:8086")).unwrap();
    assert!(finding.summary.contains("only into the queue of conmon"));
    // Served by the container behind the DNAT rule: its answer, conmon's queue empty.
    let answered = crate::probe::Readiness::NotReady("HTTP 404 Not Found".into());
    let finding = infer(&asked(answered, 0, "http://localhost:8086")).unwrap();
    assert!(!finding.summary.contains("conmon"), "{}", finding.summary);
}

/// Rootless Podman: rootlessport holds 9080 and closes what it accepts when its child's connect
/// inside the container fails. The container (its podman's word) and its namespace's listeners
/// say why: a program on 3000 is the wrong port, fixed in Podman's words; one on the container's
/// 127.0.0.1 is another address; nothing seen (its user reads `/proc`) sends to `podman logs`.
#[test]
fn rootlessports_closed_connection_is_explained_inside_the_container() {
    use crate::diagnose::facts::RootlessForward;
    let asked = |inside: HeldListener, pod: Option<&str>, target: &str| {
        let mut holder = held_by("net:[4026532246]", 3000);
        let mut inside = inside;
        inside.netns = Some(holder.netns.clone());
        holder.listeners = Some(vec![inside]);
        holder.pid = Some(17291);
        let mut rootlessport = listening("[::]:9080", "rootlessport");
        rootlessport.pid = Some(17269);
        Facts {
            probe: Some(crate::probe::Readiness::NotReady(
                "the connection was closed right after it was accepted (a port proxy with nothing behind it?)".into(),
            )),
            listeners: Some(vec![rootlessport]),
            rootless: Some(RootlessForward {
                pid: 17269,
                listens: "[::]:9080".parse().unwrap(),
                container: "web".into(),
                pod: pod.map(str::to_owned),
                to: "10.0.2.100:80".parse().unwrap(),
                holder,
            }),
            ..one(target, tried("127.0.0.1:9080", Outcome::Connected, 0))
        }
    };
    let on_3000 = listening("0.0.0.0:3000", "httpd");
    let finding = infer(&asked(on_3000.clone(), None, "localhost:9080")).unwrap();
    assert_eq!(finding.cause, Cause::WrongPort, "{finding:?}");
    assert!(
        finding.summary.starts_with(
            "127.0.0.1:9080 is published to container `web`'s port 80 by rootless Podman's rootlessport (pid 17269), which accepts the connection and closes it when its own connect inside the container fails; there, nothing listens on port 80"
        ),
        "{}",
        finding.summary
    );
    assert_eq!(
        finding.suggestions[0],
        "publish the port the program listens on: re-create container `web` with `podman run -p 9080:3000 ...` (`podman port web` lists what it publishes now)"
    );
    // The same for HTTP, whose exchange rootlessport ended.
    let mut http = asked(on_3000.clone(), None, "http://localhost:9080");
    http.probe = Some(crate::probe::Readiness::Failed(
        crate::probe::ProbeFailure::Protocol(crate::probe::ProtocolError {
            kind: crate::probe::ProtocolErrorKind::Io,
            detail: "connection error".into(),
        }),
    ));
    assert_eq!(infer(&http).unwrap().cause, Cause::WrongPort);
    // A pod's port: the pod is re-created.
    let finding = infer(&asked(on_3000, Some("pod1"), "localhost:9080")).unwrap();
    assert!(
        finding
            .summary
            .contains("published to pod `pod1`'s port 80")
    );
    assert!(
        finding.suggestions[0].contains("`podman pod create --name pod1 -p 9080:3000 ...`"),
        "{:?}",
        finding.suggestions
    );
    // On the container's own loopback.
    let finding = infer(&asked(
        listening("127.0.0.1:80", "httpd"),
        None,
        "localhost:9080",
    ))
    .unwrap();
    assert_eq!(finding.cause, Cause::ListeningOnOtherAddress);
    // `[::]:3000` read from `/proc` (v6only unknown) takes no IPv4 that is known: its logs.
    let mut v6 = listening("[::]:3000", "httpd");
    v6.listener.v6only = None;
    let finding = infer(&asked(v6, None, "localhost:9080")).unwrap();
    assert_eq!(finding.cause, Cause::NoListener);
    assert_eq!(
        finding.suggestions[0],
        "`podman logs web` says whether its program started, and on which port: re-create it with `podman run -p 9080:PORT` for that one"
    );
}

/// `-p 8080:80` for a container whose program listens on 3000: the only port anything listens
/// on in there is offered, with the publishing to change; with two programs there, neither is.
#[test]
fn a_container_whose_one_program_listens_on_another_port_is_the_wrong_port() {
    let published = published_to_container;
    let finding = published(held_by("fxh-k", 3000));
    assert_eq!(finding.cause, Cause::WrongPort);
    assert!(
        finding.summary.ends_with(
            "there, nothing listens on port 80 in network namespace fxh-k, which holds 172.31.77.2, but socat (pid 4242) listens on 0.0.0.0:3000 there (the only port anything listens on in that namespace)"
        ),
        "{}",
        finding.summary
    );
    assert_eq!(
        finding.suggestions[0],
        "publish the port the program listens on: `docker run -p 8080:3000 ...` (compose: `ports: [\"8080:3000\"]`)"
    );
    // A second program on another port: which one was meant is not known.
    let mut two = held_by("fxh-k", 3000);
    let mut metrics = listening("0.0.0.0:9100", "node_exporter");
    metrics.netns = Some(Namespace::Named("fxh-k".to_owned()));
    two.listeners.as_mut().unwrap().push(metrics);
    assert_eq!(published(two).cause, Cause::NoListener);
    // An sshd alone in there is not the program meant.
    let mut sshd = held_by("fxh-k", 22);
    sshd.listeners.as_mut().unwrap()[0].process = Some("sshd".to_owned());
    assert_eq!(published(sshd).cause, Cause::NoListener);
    // Only on loopback in there: not reachable from outside, not offered.
    let mut local = held_by("fxh-k", 3000);
    local.listeners = Some(vec![{
        let mut l = listening("127.0.0.1:3000", "node");
        l.netns = Some(Namespace::Named("fxh-k".to_owned()));
        l
    }]);
    assert_eq!(published(local).cause, Cause::NoListener);
}

#[test]
fn a_namespace_listener_without_a_route_back_is_filtered_by_its_route() {
    use crate::diagnose::facts::RouteBack;
    let mut holder = held_by("fxh-s", 80);
    holder.via = Some("10.77.1.1".parse().unwrap());
    let mut address = tried("10.77.2.2:80", Outcome::Timeout, 3000);
    address.holder = Some(holder.clone());

    // A route back: the firewalls, or the path there.
    let finding = infer(&one("10.77.2.2:80", address.clone())).unwrap();
    assert_eq!(finding.cause, Cause::Filtered);
    assert!(
        finding
            .summary
            .ends_with("or the path there (via 10.77.1.1) loses it"),
        "{}",
        finding.summary
    );

    // None: the request arrives, the reply cannot leave.
    holder.route_back = Some(RouteBack {
        to: "10.77.1.2".parse().unwrap(),
        lookup: crate::sys::route::Lookup::NoRoute,
    });
    address.holder = Some(holder);
    let finding = infer(&one("10.77.2.2:80", address)).unwrap();
    assert_eq!(finding.cause, Cause::Filtered);
    assert!(
        finding
            .summary
            .contains("that namespace has no route back to 10.77.1.2"),
        "{}",
        finding.summary
    );
    assert!(
        finding.suggestions[0]
            .contains("`sudo ip netns exec fxh-s ip route add 10.77.1.2 via ROUTER`"),
        "{finding:?}"
    );
}

#[test]
fn a_listener_on_one_ipv6_address_is_the_other_family_not_v6only() {
    // The kernel reports IPV6_V6ONLY for `[::1]`: what keeps 127.0.0.1 out is the address.
    let mut v6 = listening("[::1]:9400", "server");
    v6.listener.v6only = Some(true);
    let f = Facts {
        listeners: Some(vec![v6]),
        ..one(
            "127.0.0.1:9400",
            tried("127.0.0.1:9400", Outcome::Refused, 0),
        )
    };
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::ListeningOnOtherFamily);
    assert!(!finding.summary.contains("V6ONLY"), "{}", finding.summary);
    assert!(
        finding.summary.contains("(IPv6 only)"),
        "{}",
        finding.summary
    );
}

/// [`through_gateway`] with the ICMP error the attempt read: ICMP type 3, `code`, from `from`.
fn answered_icmp(outcome: Outcome, ms: u64, code: u8, from: &str) -> Facts {
    let mut facts = through_gateway(outcome, ms, Some(Neighbour::Answered));
    facts.addresses[0].attempt.icmp = Some(crate::connect::IcmpError {
        version: crate::connect::IcmpVersion::V4,
        icmp_type: 3,
        code,
        from: Some(from.parse().unwrap()),
    });
    facts
}

#[test]
fn a_prohibited_icmp_error_is_rejected_by_its_sender_however_long_it_took() {
    // Slow: the router's answers to the first SYNs were lost, which the timing took for
    // neighbour discovery giving up.
    for code in [9, 10, 13] {
        let finding = infer(&answered_icmp(
            Outcome::HostUnreachable,
            3050,
            code,
            "10.77.0.254",
        ))
        .unwrap();
        assert_eq!(finding.cause, Cause::Rejected, "{code} {finding:?}");
        assert!(
            finding.summary.contains("by the gateway 10.77.0.254"),
            "{finding:?}"
        );
        assert!(
            finding.summary.contains(&format!("code {code}")),
            "{finding:?}"
        );
    }
    let finding = infer(&answered_icmp(
        Outcome::HostUnreachable,
        40,
        13,
        "192.0.2.7",
    ))
    .unwrap();
    assert!(
        finding.summary.contains("the router 192.0.2.7 on the way"),
        "{finding:?}"
    );
    // A reject by the target's own firewall, and a port-unreachable (a TCP stack answers a
    // closed port with a reset: this one is a firewall's `reject`).
    let finding = infer(&answered_icmp(
        Outcome::PermissionDenied,
        5,
        13,
        "10.199.60.1",
    ))
    .unwrap();
    assert_eq!(finding.cause, Cause::Rejected);
    assert!(
        finding.summary.contains("by 10.199.60.1 itself"),
        "{finding:?}"
    );
    assert_eq!(
        cause(&answered_icmp(Outcome::Refused, 5, 3, "10.77.0.254")),
        Cause::Rejected
    );
}

#[test]
fn a_host_unreachable_icmp_error_names_the_router_or_the_forwarding_target() {
    // Fast: the timing took it for a firewall's reject.
    let finding = infer(&answered_icmp(
        Outcome::HostUnreachable,
        2,
        1,
        "10.77.0.254",
    ))
    .unwrap();
    assert_eq!(finding.cause, Cause::HostUnreachable, "{finding:?}");
    assert!(
        finding
            .summary
            .contains("the gateway 10.77.0.254 answered with ICMP host-unreachable"),
        "{finding:?}"
    );
    assert!(
        finding
            .suggestions
            .iter()
            .all(|s| !s.contains("firewall") && !s.contains("neighbour discovery")),
        "{finding:?}"
    );
    // The target itself: it forwards the port to a host that does not answer; its neighbour
    // entry on this host's link says nothing of that.
    let mut address = tried("10.77.1.1:8080", Outcome::HostUnreachable, 1200);
    address.neighbour = Some(Neighbour::Answered);
    address.attempt.icmp = Some(crate::connect::IcmpError {
        version: crate::connect::IcmpVersion::V4,
        icmp_type: 3,
        code: 1,
        from: Some("10.77.1.1".parse().unwrap()),
    });
    let finding = infer(&one("10.77.1.1:8080", address)).unwrap();
    assert_eq!(finding.cause, Cause::HostUnreachable);
    assert!(
        finding.summary.contains("10.77.1.1 itself")
            && finding.summary.contains("forwards port 8080"),
        "{finding:?}"
    );
    assert!(!finding.summary.contains("neighbour"), "{finding:?}");
}

#[test]
fn a_net_unreachable_icmp_error_is_network_unreachable_naming_the_router() {
    let finding = infer(&answered_icmp(
        Outcome::NetworkUnreachable,
        3,
        0,
        "192.0.2.7",
    ))
    .unwrap();
    assert_eq!(finding.cause, Cause::NetworkUnreachable, "{finding:?}");
    assert!(finding.summary.contains("192.0.2.7"), "{finding:?}");
    // ICMPv6: code 1 is admin-prohibited (`EACCES`), code 0 no route.
    let mut facts = answered_icmp(Outcome::PermissionDenied, 3, 1, "10.77.0.254");
    facts.addresses[0].attempt.icmp.as_mut().unwrap().version = crate::connect::IcmpVersion::V6;
    facts.addresses[0].attempt.icmp.as_mut().unwrap().icmp_type = 1;
    assert_eq!(cause(&facts), Cause::Rejected);
}

#[test]
fn an_icmp_error_of_no_meaning_here_leaves_the_timing_rules() {
    // Fragmentation needed (code 4) says nothing of the destination: the timing decides.
    assert_eq!(
        cause(&answered_icmp(
            Outcome::HostUnreachable,
            2,
            4,
            "10.77.0.254"
        )),
        Cause::Rejected
    );
    let finding = infer(&answered_icmp(
        Outcome::HostUnreachable,
        3050,
        4,
        "10.77.0.254",
    ))
    .unwrap();
    assert_eq!(finding.cause, Cause::HostUnreachable);
    assert!(finding.summary.contains("nobody answered"), "{finding:?}");
}

#[test]
fn a_namespace_listener_refused_on_a_direct_link_with_every_rule_read_blames_no_firewall() {
    // A direct veth (no gateway), that namespace's rules read and none rejecting: nothing on a
    // path to blame and no firewall; as for a listener of this namespace, it came after.
    let mut address = tried("10.77.2.2:1100", Outcome::Refused, 1);
    address.holder = Some(held_by("fxh-s", 1100));
    let finding = infer(&one("10.77.2.2:1100", address)).unwrap();
    assert_eq!(finding.cause, Cause::NotReady, "{finding:?}");
    assert!(
        finding
            .summary
            .ends_with("it may have started listening just after the attempt"),
        "{}",
        finding.summary
    );
}

/// Where a listener on every address is reached from the address tried: that address when the
/// family fits (a dual-stack `[::]` takes IPv4 too), our loopback of its family otherwise, and
/// never our loopback for another namespace's listener (a container's `[::]:3000` seen from
/// the Docker host through 172.17.0.2 is 172.17.0.2:3000, not `[::1]:3000`).
#[test]
fn a_listener_on_every_address_is_reached_where_it_takes_the_family() {
    let v4: IpAddr = "172.17.0.2".parse().unwrap();
    let v6: IpAddr = "fd00::2".parse().unwrap();
    let dual = listening("[::]:3000", "httpd");
    assert_eq!(dual.reach_at(v4), "172.17.0.2:3000");
    assert_eq!(dual.reach_at(v6), "[fd00::2]:3000");
    let mut only6 = dual.clone();
    only6.listener.v6only = Some(true);
    assert_eq!(only6.reach_at(v4), "[::1]:3000");
    let any4 = listening("0.0.0.0:3000", "httpd");
    assert_eq!(any4.reach_at(v4), "172.17.0.2:3000");
    assert_eq!(any4.reach_at(v6), "127.0.0.1:3000");
    let mut inside = only6;
    inside.netns = Some(Namespace::Named("fxh-k".to_owned()));
    assert_eq!(inside.reach_at(v4), "its IPv6 address, port 3000");
    let bound = listening("10.0.0.5:3000", "httpd");
    assert_eq!(bound.reach_at(v4), "10.0.0.5:3000");
}

#[test]
fn a_rate_limit_that_drops_a_made_connections_packets_is_named_not_a_dead_backend() {
    use crate::connect::{ConnectError, ConnectErrorKind};
    use crate::probe::{ProbeFailure, Readiness};
    // Connected (the SYN within the burst), then the probe's reconnect got no answer.
    let timed_out = Readiness::Failed(ProbeFailure::Connect(ConnectError::new(
        "10.77.0.2:8080".to_owned(),
        ConnectErrorKind::Failed(Outcome::Timeout),
        Vec::new(),
        Duration::from_secs(1),
    )));
    let rule = "tcp dport 8080 meter c5 { ip saddr limit rate over 1/second burst 1 packets } drop";
    let limit = Blocker {
        chain: "input".to_owned(),
        path: vec!["input".to_owned()],
        hook: Hook::Input,
        certain: false,
        matches: false,
        rate_limit: true,
        ..blocker(rule, Verdict::Drop, false)
    };
    let mut address = tried("10.77.0.2:8080", Outcome::Connected, 0);
    let f = |address: AddressFacts| Facts {
        probe: Some(timed_out.clone()),
        ..one("10.77.0.2:8080", address)
    };
    // Without the rules of the server's side: the proxy story, as before.
    assert_eq!(cause(&f(address.clone())), Cause::NotReady);

    address.rate_limits = Some(RateLimits {
        netns: Some((Namespace::Named("web".to_owned()), None)),
        established: vec![limit.clone()],
        new: vec![limit],
    });
    let finding = infer(&f(address)).unwrap();
    assert_eq!(finding.cause, Cause::BlockedLocally, "{finding:?}");
    assert!(
        finding.summary.contains(&format!(
            "most likely a rate limit of network namespace web's firewall (it holds 10.77.0.2) drops the connection's packets once its rate is spent, those of connections already made included (the handshake's last packet, the data), not only new connections: `{rule}`"
        )),
        "{}",
        finding.summary
    );
    assert!(
        matches!(&finding.evidence[..], [Evidence::FirewallRule(b)] if b.rule == rule),
        "{finding:?}"
    );
    let fixes = finding.suggestions.join("\n");
    assert!(
        fixes.contains(&format!(
            "`sudo ip netns exec web nft replace rule inet filter input handle 7 ct state new {rule}`"
        )) && fixes.contains("ct state established,related accept")
            && !fixes.contains("backend"),
        "{fixes}"
    );
}

/// A connection the server closed or reset as soon as it was accepted is the server's answer:
/// a rate limit on the port (sshd's usual brute-force limit) is not named for it, nor for a
/// silence after the check's own connect worked when it limits new connections alone.
#[test]
fn a_rate_limit_is_not_named_for_a_close_or_for_a_made_connection_it_cannot_drop() {
    use crate::probe::Readiness;
    let rule = "tcp dport 22 ct state new limit rate over 10/minute drop";
    let limit = Blocker {
        rate_limit: true,
        ..blocker(rule, Verdict::Drop, false)
    };
    let mut address = tried("127.0.0.1:22", Outcome::Connected, 0);
    let probed = |address: AddressFacts, readiness: &str| Facts {
        probe: Some(Readiness::NotReady(readiness.to_owned())),
        ..one("127.0.0.1:22", address)
    };
    address.rate_limits = Some(RateLimits {
        netns: None,
        established: vec![limit.clone()],
        new: vec![limit],
    });
    let closed = "the connection was closed right after it was accepted (a port proxy with nothing behind it?)";
    assert_eq!(cause(&probed(address.clone(), closed)), Cause::NotReady);
    // Silent after a connect that worked: a limit of new connections alone did not do it.
    let silent = "the time ran out before the connection had stayed open 5 ms";
    address.rate_limits.as_mut().unwrap().established.clear();
    assert_eq!(cause(&probed(address, silent)), Cause::NotReady);
}

#[test]
fn a_rate_limit_of_new_connections_alone_is_named_for_the_checks_second_connection() {
    use crate::connect::{ConnectError, ConnectErrorKind};
    use crate::probe::{ProbeFailure, Readiness};
    let timed_out = Readiness::Failed(ProbeFailure::Connect(ConnectError::new(
        "127.0.0.1:8081".to_owned(),
        ConnectErrorKind::Failed(Outcome::Timeout),
        Vec::new(),
        Duration::from_secs(1),
    )));
    let rule = "tcp dport 8081 ct state new limit rate over 1/minute burst 1 packets drop";
    let mut address = tried("127.0.0.1:8081", Outcome::Connected, 0);
    address.rate_limits = Some(RateLimits {
        netns: None,
        established: Vec::new(),
        new: vec![Blocker {
            rate_limit: true,
            ..blocker(rule, Verdict::Drop, false)
        }],
    });
    let finding = infer(&Facts {
        probe: Some(timed_out),
        ..one("127.0.0.1:8081", address)
    })
    .unwrap();
    assert_eq!(finding.cause, Cause::BlockedLocally, "{finding:?}");
    assert!(
        finding.summary.contains(&format!(
            "most likely a rate limit of this host's own firewall drops new connections over its rate, and the check's second connection was one: `{rule}`"
        )),
        "{}",
        finding.summary
    );
    assert!(!finding.suggestions.join("\n").contains("ct state new"));
}

#[test]
fn a_namespaces_reset_dropped_by_its_own_egress_rules_is_named_not_a_silent_path() {
    let mut address = tried("10.77.2.2:1200", Outcome::Timeout, 2000);
    let mut holder = held_by("fxh-r", 1200);
    let reject = Blocker {
        chain: "INPUT".to_owned(),
        hook: Hook::Input,
        tool: Tool::Iptables,
        table: "ip filter".to_owned(),
        ..blocker(
            "tcp dport 1200 reject with tcp reset",
            Verdict::Reject,
            true,
        )
    };
    holder.blockers = Some(vec![reject]);
    address.holder = Some(holder.clone());
    // The reset let out: a silence no rule explains.
    assert_eq!(
        cause(&one("10.77.2.2:1200", address.clone())),
        Cause::Filtered
    );

    holder.reset_dropped = Some(Blocker {
        chain: "OUTPUT".to_owned(),
        table: "ip filter".to_owned(),
        tool: Tool::Iptables,
        stops: Stops::Reply,
        handle: None,
        position: None,
        ..blocker("policy drop", Verdict::Drop, true)
    });
    address.holder = Some(holder);
    let finding = infer(&one("10.77.2.2:1200", address)).unwrap();
    assert_eq!(finding.cause, Cause::BlockedLocally, "{finding:?}");
    assert!(
        finding.summary.ends_with(
            "that namespace's own firewall rejects it with a reset, `tcp dport 1200 reject with tcp reset` (table `ip filter`, chain `INPUT`), and its output rules drop that reset, `policy drop` (table `ip filter`, chain `OUTPUT`): the client sees a timeout, not a refusal"
        ),
        "{}",
        finding.summary
    );
    assert!(
        finding.suggestions.iter().any(|s| s.contains(
            "`sudo ip netns exec fxh-r iptables -I OUTPUT 1 -m conntrack --ctstate RELATED -j ACCEPT`"
        )),
        "{finding:?}"
    );
}

/// A Docker host whose DOCKER-USER chain (reached from FORWARD) drops the port its DNAT sends to
/// a working container: that rule is named, with how to delete it inside the host's namespace,
/// not the container's listener or "some firewall"; a rule there that only may match says so.
#[test]
fn a_docker_hosts_forward_rule_that_drops_the_published_port_is_named() {
    let forward = |certain: bool| Blocker {
        table: "ip filter".to_owned(),
        chain: "DOCKER-USER".to_owned(),
        path: vec!["FORWARD".to_owned(), "DOCKER-USER".to_owned()],
        hook: Hook::Forward,
        tool: Tool::Iptables,
        ..blocker("tcp dport 80 drop", Verdict::Drop, certain)
    };
    let finding =
        published_by_docker_host(held_by("fxh-k", 80), Outcome::Timeout, vec![forward(true)]);
    assert_eq!(finding.cause, Cause::BlockedLocally);
    assert_eq!(
        finding.summary,
        "10.77.9.1:8080 is published to 172.31.77.2:80 by the DNAT rule (chain `DOCKER`) of network namespace fxh-h, which holds 10.77.9.1: that namespace's own firewall stops it: `tcp dport 80 drop` (table `ip filter`, chain `DOCKER-USER`, reached by FORWARD -> DOCKER-USER)"
    );
    assert!(
        finding.suggestions[0].contains("ip netns exec fxh-h iptables -D DOCKER-USER 1"),
        "{finding:?}"
    );
    // Not certain (a rule before it may accept), yet its own matches hold: "probably".
    let mut maybe = forward(false);
    maybe.matches = true;
    let finding = published_by_docker_host(held_by("fxh-k", 80), Outcome::Timeout, vec![maybe]);
    assert!(
        finding
            .summary
            .contains("that namespace's own firewall probably stops it"),
        "{}",
        finding.summary
    );
    // A drop does not refuse: for a refusal, the container decides.
    let finding =
        published_by_docker_host(held_by("fxh-k", 9), Outcome::Refused, vec![forward(true)]);
    assert_ne!(finding.cause, Cause::BlockedLocally, "{finding:?}");
    // An input rule of the host is not on a forwarded packet's way: the container decides.
    let input = Blocker {
        hook: Hook::Input,
        ..forward(true)
    };
    let finding = published_by_docker_host(held_by("fxh-k", 80), Outcome::Timeout, vec![input]);
    assert_ne!(finding.cause, Cause::BlockedLocally, "{finding:?}");
}

/// The rules that stop a SYN from `src` for 10.77.2.2:`port` in the firewalld fixture `name`
/// (`firewalld`: its nftables backend; `firewalld_iptables`: its iptables backend, as
/// iptables-legacy keeps it), as a namespace holding 10.77.2.2 has them.
fn firewalld_blockers(name: &str, src: &str, port: u16) -> Vec<Blocker> {
    use crate::sys::firewall::{self, Interface, Packet};
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/firewall/");
    let read = |ext: &str| std::fs::read_to_string(format!("{dir}{name}.{ext}")).unwrap();
    let ruleset = if name == "firewalld" {
        serde_json::from_str(&read("json")).unwrap()
    } else {
        let tables = vec![
            firewall::legacy::translate(read("legacy4"), "ip", Tool::IptablesLegacy),
            firewall::legacy::translate(read("legacy6"), "ip6", Tool::IptablesLegacy),
        ];
        firewall::with_legacy(serde_json::Value::Null, tables)
    };
    let packet = Packet {
        src: Some(src.parse().unwrap()),
        sport: Some(40000),
        iif: Interface::Named("eth0".to_owned()),
        oif: Interface::None,
        src_local: Some(false),
        dst_local: Some(true),
        ..Packet::outgoing(None, "10.77.2.2".parse().unwrap(), port)
    };
    firewall::blockers(&ruleset, Hook::Input, &packet)
}

/// `refused why 10.77.2.2:PORT`, `outcome`, where namespace fxh-s holds the address, listens
/// on the port and has `rules`.
fn held_behind(port: u16, outcome: Outcome, rules: Vec<Blocker>) -> Finding {
    let mut holder = held_by("fxh-s", port);
    holder.blockers = Some(rules);
    let target = format!("10.77.2.2:{port}");
    let mut address = tried(&target, outcome, 1);
    address.holder = Some(holder);
    infer(&one(&target, address)).unwrap()
}

#[test]
fn a_firewalld_zone_that_does_not_open_the_port_is_opened_with_firewall_cmd() {
    for name in ["firewalld", "firewalld_iptables"] {
        let rules = firewalld_blockers(name, "10.77.2.1", 46110);
        let finding = held_behind(46110, Outcome::Refused, rules);
        assert_eq!(finding.cause, Cause::BlockedLocally, "{finding:?}");
        let chain = if name == "firewalld" {
            "filter_IN_public"
        } else {
            "IN_public"
        };
        // `ct status dnat accept` comes first in the nftables backend: a packet not translated
        // passes it, so its reject is certain there.
        let stops = if name == "firewalld" {
            "that namespace's own firewall stops it: `"
        } else {
            "that namespace's own firewall probably stops it: `"
        };
        assert!(finding.summary.contains(stops), "{}", finding.summary);
        assert!(
            finding.summary.contains(&format!("chain `{chain}`")),
            "{}",
            finding.summary
        );
        let fixes = finding.suggestions.join("\n");
        assert!(
            fixes.contains("firewalld's zone `public` rejects every port it does not open: `sudo ip netns exec fxh-s env DBUS_SYSTEM_BUS_ADDRESS=BUS firewall-cmd --zone=public --add-port=46110/tcp` opens port 46110 now, `sudo ip netns exec fxh-s env DBUS_SYSTEM_BUS_ADDRESS=BUS firewall-cmd --permanent --zone=public --add-port=46110/tcp` keeps it open"),
            "{fixes}"
        );
        assert!(
            fixes
                .contains("not with nft or iptables: firewalld rewrites its rules on every reload"),
            "{fixes}"
        );
        // Never the wrong tool's command, which its next reload would undo.
        assert!(
            !fixes.contains("nft delete") && !fixes.contains("iptables-legacy -D"),
            "{fixes}"
        );
    }
}

#[test]
fn a_firewalld_rich_rule_or_zone_target_is_named_in_firewalld_terms() {
    // A rich rule that rejects the port from one network.
    let rules = firewalld_blockers("firewalld", "10.99.0.5", 46102);
    let finding = held_behind(46102, Outcome::Refused, rules);
    assert!(
        finding.summary.contains("chain `filter_IN_public_deny`"),
        "{}",
        finding.summary
    );
    assert!(
        finding.suggestions[0].contains("`sudo ip netns exec fxh-s env DBUS_SYSTEM_BUS_ADDRESS=BUS firewall-cmd --zone=public --list-rich-rules` lists them; remove it with `sudo ip netns exec fxh-s env DBUS_SYSTEM_BUS_ADDRESS=BUS firewall-cmd --zone=public --remove-rich-rule='RULE'`"),
        "{finding:?}"
    );
    // A source in the zone `drop`: a silence, its target. (This host's own rules: a silence
    // from another namespace's rules is not named, whoever made them.)
    let mut address = tried("10.77.2.2:46101", Outcome::Timeout, 3000);
    address.blockers = Some(firewalld_blockers("firewalld", "10.88.0.5", 46101));
    let finding = infer(&one("10.77.2.2:46101", address)).unwrap();
    assert_eq!(finding.cause, Cause::BlockedLocally, "{finding:?}");
    assert!(
        finding.summary.starts_with(
            "firewalld (zone `drop`) stops the connection to 10.77.2.2:46101: `drop` (table `inet firewalld`, chain `filter_IN_drop`, reached by filter_INPUT -> filter_INPUT_ZONES -> filter_IN_drop)"
        ),
        "{}",
        finding.summary
    );
    assert!(
        finding.suggestions[0].starts_with(
            "firewalld's zone `drop` drops (its target is DROP) every port it does not open: `sudo firewall-cmd --zone=drop --add-port=46101/tcp`"
        ),
        "{finding:?}"
    );
    // The zone `block`, a port that is a service of firewalld's: the service is added.
    let rules = firewalld_blockers("firewalld", "10.66.0.5", 6379);
    let finding = held_behind(6379, Outcome::Refused, rules);
    assert!(
        finding.suggestions[0]
            .contains("`sudo ip netns exec fxh-s env DBUS_SYSTEM_BUS_ADDRESS=BUS firewall-cmd --zone=block --add-service=redis`"),
        "{finding:?}"
    );
}

#[test]
fn this_hosts_own_firewalld_policy_is_named_with_its_policy() {
    let mut address = tried("192.0.2.7:5555", Outcome::Refused, 1);
    address.blockers = Some(vec![Blocker {
        table: "inet firewalld".to_owned(),
        chain: "filter_OUT_policy_egress_deny".to_owned(),
        path: [
            "filter_OUTPUT",
            "filter_OUTPUT_POLICIES_pre",
            "filter_OUT_policy_egress",
            "filter_OUT_policy_egress_deny",
        ]
        .map(str::to_owned)
        .to_vec(),
        tool: Tool::Firewalld,
        ..blocker(
            "tcp dport 5555 reject with icmpx admin-prohibited",
            Verdict::Reject,
            true,
        )
    }]);
    let finding = infer(&one("192.0.2.7:5555", address)).unwrap();
    assert_eq!(finding.cause, Cause::BlockedLocally);
    assert!(
        finding
            .summary
            .starts_with("firewalld (policy `egress`) stops the connection to 192.0.2.7:5555"),
        "{}",
        finding.summary
    );
    assert!(
        finding.suggestions[0].contains("`sudo firewall-cmd --policy=egress --list-all`"),
        "{finding:?}"
    );
}

#[test]
fn a_firewalld_rate_limit_is_changed_with_firewall_cmd() {
    use crate::connect::{ConnectError, ConnectErrorKind};
    use crate::probe::{ProbeFailure, Readiness};
    let timed_out = Readiness::Failed(ProbeFailure::Connect(ConnectError::new(
        "10.77.0.2:8080".to_owned(),
        ConnectErrorKind::Failed(Outcome::Timeout),
        Vec::new(),
        Duration::from_secs(1),
    )));
    let rule = "tcp dport 8080 limit rate over 1/second burst 1 packets drop";
    let limit = Blocker {
        table: "inet firewalld".to_owned(),
        chain: "filter_IN_public_deny".to_owned(),
        path: vec![
            "filter_INPUT".to_owned(),
            "filter_IN_public_deny".to_owned(),
        ],
        hook: Hook::Input,
        tool: Tool::Firewalld,
        certain: false,
        matches: false,
        rate_limit: true,
        ..blocker(rule, Verdict::Drop, false)
    };
    let mut address = tried("10.77.0.2:8080", Outcome::Connected, 0);
    address.rate_limits = Some(RateLimits {
        netns: Some((Namespace::Unnamed(4_026_532_999), Some(42))),
        established: vec![limit.clone()],
        new: vec![limit],
    });
    let finding = infer(&Facts {
        probe: Some(timed_out),
        ..one("10.77.0.2:8080", address)
    })
    .unwrap();
    assert_eq!(finding.cause, Cause::BlockedLocally, "{finding:?}");
    let fixes = finding.suggestions.join("\n");
    // In a container's namespace: its mount namespace too, so that firewall-cmd reaches the
    // firewalld that runs there.
    assert!(
        fixes.contains("`sudo nsenter -t 42 -n -m firewall-cmd --list-rich-rules`"),
        "{fixes}"
    );
    assert!(
        !fixes.contains("iptables") || fixes.contains("not with nft or iptables"),
        "{fixes}"
    );
    assert!(!fixes.contains("nft replace"), "{fixes}");
}

#[test]
fn a_hosts_own_admin_prohibited_names_firewalld_as_the_likely_source() {
    let firewalld = |finding: &Finding| finding.suggestions.iter().any(|s| s.contains("firewalld"));
    // nft's `reject with icmpx admin-prohibited`, firewalld's zones' answer, from the host.
    let finding = infer(&answered_icmp(
        Outcome::HostUnreachable,
        5,
        13,
        "10.199.60.1",
    ))
    .unwrap();
    assert_eq!(finding.cause, Cause::Rejected);
    // The summary stays what it was: the hint is a suggestion, worded as likely.
    assert_eq!(
        finding.summary,
        "10.199.60.1:80 was rejected by 10.199.60.1 itself: it answered with ICMP admin-prohibited (type 3, code 13), a firewall's reject on purpose"
    );
    assert!(
        finding.suggestions.iter().any(|s| s.starts_with(
            "an admin-prohibited reject is what firewalld's zones send for a port they do not open"
        ) && s.contains("if 10.199.60.1 runs firewalld, open the port there with `sudo firewall-cmd --add-port=80/tcp`")),
        "{finding:?}"
    );
    // ICMPv6's admin-prohibited (code 1) too.
    let mut facts = answered_icmp(Outcome::PermissionDenied, 1200, 1, "10.199.60.1");
    let icmp = facts.addresses[0].attempt.icmp.as_mut().unwrap();
    icmp.version = crate::connect::IcmpVersion::V6;
    icmp.icmp_type = 1;
    assert!(firewalld(&infer(&facts).unwrap()));
    // Not for iptables' host-prohibited or port-unreachable, nor from a router.
    for code in [3, 10] {
        let finding = infer(&answered_icmp(
            Outcome::HostUnreachable,
            5,
            code,
            "10.199.60.1",
        ))
        .unwrap();
        assert!(!firewalld(&finding), "{code} {finding:?}");
    }
    let finding = infer(&answered_icmp(
        Outcome::HostUnreachable,
        5,
        13,
        "10.77.0.254",
    ))
    .unwrap();
    assert!(!firewalld(&finding), "{finding:?}");
}

#[test]
fn an_icmp_reject_from_a_namespace_whose_firewalld_rejects_names_its_zone() {
    // firewalld's zone `public` answers 10.77.2.2:46110 with an admin-prohibited; its program
    // listens.
    let rules = firewalld_blockers("firewalld", "10.77.2.1", 46110);
    let mut holder = held_by("fxh-s", 46110);
    holder.blockers = Some(rules);
    let mut address = tried("10.77.2.2:46110", Outcome::HostUnreachable, 1);
    address.attempt.icmp = Some(crate::connect::IcmpError {
        version: crate::connect::IcmpVersion::V4,
        icmp_type: 3,
        code: 13,
        from: Some("10.77.2.2".parse().unwrap()),
    });
    address.holder = Some(holder.clone());
    let finding = infer(&one("10.77.2.2:46110", address.clone())).unwrap();
    assert_eq!(finding.cause, Cause::BlockedLocally, "{finding:?}");
    assert!(
        finding.summary.contains(
            "listens on 0.0.0.0:46110 in network namespace fxh-s, which holds 10.77.2.2, yet the connection was rejected: that namespace's own firewall stops it: `reject with icmpx admin-prohibited` (table `inet firewalld`, chain `filter_IN_public`"
        ),
        "{}",
        finding.summary
    );
    assert!(
        finding.suggestions[0]
            .contains("`sudo ip netns exec fxh-s env DBUS_SYSTEM_BUS_ADDRESS=BUS firewall-cmd --zone=public --add-port=46110/tcp`"),
        "{finding:?}"
    );
    // No rule of its own rejects: the ICMP error says who answered.
    holder.blockers = Some(Vec::new());
    address.holder = Some(holder);
    let finding = infer(&one("10.77.2.2:46110", address)).unwrap();
    assert_eq!(finding.cause, Cause::Rejected, "{finding:?}");
}

/// The published port that a container runtime's helper `process` holds on `at`.
fn container_port(at: &str, process: &str, container: Option<&str>) -> ContainerPort {
    let at: SocketAddr = at.parse().unwrap();
    ContainerPort {
        runtime: if process == "rootlessport" {
            Publisher::Podman
        } else {
            Publisher::Docker
        },
        container: container.map(str::to_owned),
        address: at.ip(),
        port: at.port(),
        container_port: Some(80),
        protocol: "tcp",
        pid: Some(4242),
        process: Some(process.to_owned()),
    }
}

/// No suggestion aims a bind, `--host` or `IPV6_V6ONLY` setting at a runtime's helper.
fn no_helper_bind_fix(finding: &Finding) {
    for s in &finding.suggestions {
        for bad in ["--host", "--bind", "IPV6_V6ONLY", "listen on", "bind it"] {
            assert!(!s.contains(bad), "{bad} in {s:?}: {finding:?}");
        }
    }
}

/// `docker run -p 127.0.0.1:8080:80`, asked at the host's other address: the publishing is
/// fixed, never docker-proxy's or dockerd's bind (dockerd's `--host` is its API socket).
#[test]
fn a_port_docker_publishes_on_one_address_is_fixed_by_the_publishing() {
    for process in ["docker-proxy", "dockerd"] {
        let f = Facts {
            listeners: Some(vec![listening("127.0.0.1:8080", process)]),
            container_ports: vec![container_port("127.0.0.1:8080", process, Some("web"))],
            ..one(
                "10.249.3.1:8080",
                AddressFacts {
                    local: true,
                    ..tried("10.249.3.1:8080", Outcome::Refused, 0)
                },
            )
        };
        let finding = infer(&f).unwrap();
        assert_eq!(finding.cause, Cause::ListeningOnOtherAddress);
        assert_eq!(
            finding.summary,
            format!(
                "{process} (pid 4242) listens on port 8080, but only on 127.0.0.1, not on 10.249.3.1: Docker publishes container `web`'s port 80 on 127.0.0.1 alone (`-p 127.0.0.1:8080:80`), and {process} (pid 4242) only holds the port for it"
            )
        );
        assert_eq!(
            finding.suggestions,
            [
                "connect to 127.0.0.1:8080 instead",
                "or publish it where it is asked: re-create container `web` with `-p 8080:80` (every address, both families) in place of `-p 127.0.0.1:8080:80` (compose: `ports: [\"8080:80\"]`); `-p 10.249.3.1:8080:80` publishes it on 10.249.3.1 alone",
            ]
        );
        assert!(finding.evidence.iter().any(
            |e| matches!(e, Evidence::ContainerPort(p) if p.container.as_deref() == Some("web"))
        ));
        no_helper_bind_fix(&finding);
    }
    // A program of the user's own, with no published port behind it: its bind is the fix.
    let f = Facts {
        listeners: Some(vec![listening("127.0.0.1:8080", "node")]),
        ..one(
            "10.249.3.1:8080",
            AddressFacts {
                local: true,
                ..tried("10.249.3.1:8080", Outcome::Refused, 0)
            },
        )
    };
    assert!(infer(&f).unwrap().suggestions[1].contains("bind it to 0.0.0.0"));
}

/// `-p '[::]:8086:80'` (docker-proxy on `::` with `IPV6_V6ONLY`) asked over IPv4, here and from
/// another host: the family, and `-p 8086:80`, never `IPV6_V6ONLY` turned off on docker-proxy.
#[test]
fn a_port_docker_publishes_on_one_family_is_fixed_by_the_publishing() {
    use crate::diagnose::facts::Holder;
    let mut proxy = listening("[::]:8086", "docker-proxy");
    proxy.listener.v6only = Some(true);
    let published = container_port("[::]:8086", "docker-proxy", None);
    let f = Facts {
        listeners: Some(vec![proxy.clone()]),
        container_ports: vec![published.clone()],
        ..one(
            "127.0.0.1:8086",
            tried("127.0.0.1:8086", Outcome::Refused, 0),
        )
    };
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::ListeningOnOtherFamily);
    assert!(
        finding.summary.ends_with(
            "Docker publishes the container's port 80 on IPv6 alone (`-p '[::]:8086:80'`), and docker-proxy (pid 4242) only holds the port for it"
        ),
        "{}",
        finding.summary
    );
    assert_eq!(
        finding.suggestions,
        [
            "connect to [::1]:8086 instead",
            "or publish it where it is asked: re-create the container with `-p 8086:80` (every address, both families) in place of `-p '[::]:8086:80'` (compose: `ports: [\"8086:80\"]`)",
        ]
    );
    no_helper_bind_fix(&finding);

    // From another namespace, at the Docker host's own address: the family again.
    let netns = Namespace::Named("dockerhost".to_owned());
    proxy.netns = Some(netns.clone());
    let mut address = tried("10.249.1.1:8086", Outcome::Refused, 0);
    address.holder = Some(Holder::new(netns, None, Some(vec![proxy])));
    let f = Facts {
        container_ports: vec![published],
        ..one("10.249.1.1:8086", address)
    };
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::ListeningOnOtherFamily, "{finding:?}");
    assert_eq!(
        finding.suggestions,
        [
            "publish it where it is asked: re-create the container with `-p 8086:80` (every address, both families) in place of `-p '[::]:8086:80'` (compose: `ports: [\"8086:80\"]`)"
        ]
    );
    no_helper_bind_fix(&finding);
}

/// `-p 127.0.0.1:8080:80`, asked from another namespace at the Docker host's address: the
/// publishing, and no way in from here to suggest.
#[test]
fn a_port_docker_publishes_on_loopback_is_fixed_by_the_publishing_from_outside() {
    use crate::diagnose::facts::Holder;
    let netns = Namespace::Named("dockerhost".to_owned());
    for process in ["docker-proxy", "dockerd", "rootlessport"] {
        let mut proxy = listening("127.0.0.1:8080", process);
        proxy.netns = Some(netns.clone());
        let mut address = tried("10.249.1.1:8080", Outcome::Refused, 0);
        address.holder = Some(Holder::new(netns.clone(), None, Some(vec![proxy])));
        let f = Facts {
            container_ports: vec![container_port("127.0.0.1:8080", process, Some("web"))],
            ..one("10.249.1.1:8080", address)
        };
        let finding = infer(&f).unwrap();
        assert_eq!(finding.cause, Cause::ListeningOnOtherAddress);
        assert_eq!(finding.suggestions.len(), 1, "{finding:?}");
        assert!(
            finding.suggestions[0].starts_with(
                "publish it where it is asked: re-create container `web` with `-p 8080:80` (every address, both families) in place of `-p 127.0.0.1:8080:80`"
            ),
            "{finding:?}"
        );
        no_helper_bind_fix(&finding);
    }
}

/// `-p '[::1]:8080:80'` with the userland proxy off: dockerd only reserves the port, and Docker
/// sends nothing from `::1` into a container; the one fix is 127.0.0.1.
#[test]
fn a_port_dockerd_reserves_on_ipv6_loopback_is_published_on_127_0_0_1() {
    let f = Facts {
        listeners: Some(vec![listening("[::1]:8080", "dockerd")]),
        container_ports: vec![container_port("[::1]:8080", "dockerd", Some("web"))],
        ..one(
            "127.0.0.1:8080",
            tried("127.0.0.1:8080", Outcome::Refused, 0),
        )
    };
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::ListeningOnOtherFamily);
    assert!(
        finding.summary.ends_with(
            "Docker publishes container `web`'s port 80 on ::1 alone (`-p '[::1]:8080:80'`), which dockerd (pid 4242) only reserves: without its userland proxy, Docker forwards no connection to ::1 into the container"
        ),
        "{}",
        finding.summary
    );
    assert_eq!(
        finding.suggestions,
        [
            "publish it where it is asked: re-create container `web` with `-p 127.0.0.1:8080:80` in place of `-p '[::1]:8080:80'` (compose: `ports: [\"127.0.0.1:8080:80\"]`), then connect to 127.0.0.1:8080"
        ]
    );
    no_helper_bind_fix(&finding);

    // `-p 127.0.0.1:8080:80` asked at `::1`: 127.0.0.1 is the way, never a `[::1]` publish.
    let f = Facts {
        listeners: Some(vec![listening("127.0.0.1:8080", "dockerd")]),
        container_ports: vec![container_port("127.0.0.1:8080", "dockerd", Some("web"))],
        ..one("[::1]:8080", tried("[::1]:8080", Outcome::Refused, 0))
    };
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::ListeningOnOtherFamily);
    assert_eq!(
        finding.suggestions,
        [
            "connect to 127.0.0.1:8080 instead",
            "without its userland proxy, Docker forwards no connection to ::1 into a container: use 127.0.0.1"
        ]
    );
}

/// `-p 8085:80/udp` asked over TCP: published for UDP only, not the port of another container
/// near it.
#[test]
fn a_port_published_for_udp_only_is_said_so() {
    let mut udp = container_port("0.0.0.0:8085", "docker-proxy", Some("dns"));
    udp.protocol = "udp";
    let f = Facts {
        listeners: Some(vec![listening("0.0.0.0:8084", "docker-proxy")]),
        container_ports: vec![udp],
        ..one(
            "127.0.0.1:8085",
            tried("127.0.0.1:8085", Outcome::Refused, 0),
        )
    };
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::NoListener);
    assert_eq!(
        finding.summary,
        "nothing listens on TCP port 8085 on this host (127.0.0.1 is local): Docker publishes it for UDP only (container `dns`, `-p 8085:80/udp`)"
    );
    assert_eq!(
        finding.suggestions[0],
        "publish it for TCP too: re-create container `dns` with `-p 8085:80` (TCP) beside `-p 8085:80/udp` (compose: `ports: [\"8085:80\", \"8085:80/udp\"]`)"
    );
    assert!(matches!(finding.evidence[0], Evidence::ContainerPort(_)));
}

/// A crash-looping container (`--restart always`): `docker start` does nothing for it.
#[test]
fn a_restarting_container_is_sent_to_its_logs_not_started() {
    use crate::sys::docker::StoppedContainer;
    let mut f = one(
        "127.0.0.1:8083",
        tried("127.0.0.1:8083", Outcome::Refused, 0),
    );
    f.stopped_containers = vec![StoppedContainer {
        name: "crash".into(),
        id: "9bbb62717e18".into(),
        state: "restarting".into(),
        status: "Restarting (3) 2 seconds ago".into(),
        container_port: 80,
        runtime: crate::sys::process::ContainerRuntime::Docker,
        pod: None,
    }];
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::NoListener);
    assert!(
        finding
            .summary
            .ends_with("publishes it (`-p 8083:80`) but its program keeps exiting, and Docker restarts it (Restarting (3) 2 seconds ago)"),
        "{}",
        finding.summary
    );
    assert_eq!(
        finding.suggestions[0],
        "its program keeps exiting and Docker keeps restarting it: `docker logs crash` says why, `docker inspect -f '{{.State.ExitCode}}' crash` gives its exit code"
    );
    assert!(
        !finding
            .suggestions
            .iter()
            .any(|s| s.contains("docker start"))
    );
}

/// A running container that asks for the port while Docker publishes nothing: `--network
/// host`, an `--internal` network, a binding not mapped (`[::1]` with IPv6 off); not the
/// port of another container near it.
#[test]
fn a_running_container_docker_publishes_nothing_for_is_named() {
    use crate::sys::docker::UnpublishedContainer;
    let asking =
        |reason: &'static str, network: Option<&str>, host_ip: Option<&str>| UnpublishedContainer {
            name: "app".into(),
            id: "85b4a5212a67".into(),
            container_port: 80,
            host_ip: host_ip.map(str::to_owned),
            reason,
            network: network.map(str::to_owned),
        };
    let finding = |container| {
        let f = Facts {
            // Another container's port near it: what was offered before.
            listeners: Some(vec![listening("0.0.0.0:8094", "docker-proxy")]),
            unpublished_containers: vec![container],
            ..one(
                "127.0.0.1:8093",
                tried("127.0.0.1:8093", Outcome::Refused, 0),
            )
        };
        infer(&f).unwrap()
    };
    let host = finding(asking("host-network", None, None));
    assert_eq!(host.cause, Cause::NoListener);
    assert_eq!(
        host.summary,
        "nothing listens on port 8093 on this host (127.0.0.1 is local): Docker's container `app` asks for it (`-p 8093:80`), but runs in the host's network (`--network host`), where Docker discards published ports"
    );
    assert!(matches!(
        host.evidence[0],
        Evidence::UnpublishedContainer(_)
    ));
    let internal = finding(asking("internal-network", Some("intnet"), None));
    assert!(
        internal
            .summary
            .ends_with("but its network `intnet` is internal (`docker network create --internal`): Docker publishes no port of it"),
        "{}",
        internal.summary
    );
    let six = finding(asking("not-mapped", None, Some("::1")));
    assert!(
        six.summary.contains("(`-p '[::1]:8093:80'`)"),
        "{}",
        six.summary
    );
    assert!(
        six.suggestions[0]
            .starts_with("publish it on IPv4 instead: re-create `app` with `-p 127.0.0.1:8093:80`"),
        "{:?}",
        six.suggestions
    );
}

/// A probe that ended in `kind` after the connect.
fn exchange_failed(kind: crate::probe::ProtocolErrorKind, detail: &str) -> Readiness {
    Readiness::Failed(crate::probe::ProbeFailure::Protocol(
        crate::probe::ProtocolError {
            kind,
            detail: detail.to_owned(),
        },
    ))
}

/// `socat TCP-LISTEN:9000,fork,bind=127.0.0.1 TCP:10.249.5.1:PORT` holding 127.0.0.1:9000, read
/// with our own connect to its backend ending in `there`, and the probe of `target` in
/// `readiness`.
fn through_socat(target: &str, readiness: Readiness, backend: &str, there: Outcome) -> Facts {
    let mut socat = listening("127.0.0.1:9000", "socat");
    socat.pid = Some(5150);
    let backend: SocketAddr = backend.parse().unwrap();
    Facts {
        probe: Some(readiness),
        listeners: Some(vec![socat]),
        forwarder: Some(Box::new(crate::diagnose::facts::Forwarded {
            forwarder: crate::sys::forwarder::Forwarder {
                pid: 5150,
                process: "socat".to_owned(),
                to: crate::sys::forwarder::Backend::Address(backend),
            },
            attempt: Some(tried(&backend.to_string(), there, 120).attempt),
        })),
        ..one(target, tried("127.0.0.1:9000", Outcome::Connected, 0))
    }
}

#[test]
fn a_forwarder_whose_backend_refuses_is_its_backend_for_every_scheme_not_a_wait() {
    use crate::probe::ProtocolErrorKind as Kind;
    // What each protocol's probe saw when socat closed the connection on its failed connect.
    for (target, readiness) in [
        (
            "http://127.0.0.1:9000/",
            exchange_failed(
                Kind::Closed,
                "no valid HTTP response: connection closed before message completed",
            ),
        ),
        (
            "redis://127.0.0.1:9000",
            exchange_failed(
                Kind::Closed,
                "the server closed the connection instead of sending its reply to PING",
            ),
        ),
        (
            "postgres://127.0.0.1:9000",
            exchange_failed(
                Kind::Io,
                "reading the answer failed: connection reset by peer",
            ),
        ),
        (
            "127.0.0.1:9000",
            Readiness::NotReady("the connection was closed right after it was accepted".to_owned()),
        ),
    ] {
        let f = through_socat(target, readiness, "10.249.5.1:8099", Outcome::Refused);
        let finding = infer(&f).unwrap();
        assert_eq!(finding.cause, Cause::NotReady, "{target}: {finding:?}");
        assert!(
            finding.summary.ends_with(
                "; socat (pid 5150) forwards it to 10.249.5.1:8099, which refuses connections (tried from here)"
            ),
            "{target}: {}",
            finding.summary
        );
        let fixes = finding.suggestions.join("\n");
        assert!(
            fixes.contains("socat forwards port 9000 to 10.249.5.1:8099, where nothing accepts")
                && fixes.contains("waiting helps only if the backend is starting")
                && !fixes.contains("wait for it"),
            "{target}: {fixes}"
        );
        assert_eq!(
            socat_met(&finding, 8099),
            Some(Outcome::Refused),
            "{target}: {finding:?}"
        );
    }
}

/// What our connect to socat's backend on `port` met, as the finding's `port-proxy` evidence
/// says.
fn socat_met(finding: &Finding, port: u16) -> Option<Outcome> {
    finding.evidence.iter().find_map(|e| match e {
        Evidence::PortProxy { proxy, outcome }
            if proxy.process == "socat" && proxy.to.port() == port =>
        {
            Some(*outcome)
        }
        _ => None,
    })
}

#[test]
fn a_forwarder_whose_backend_is_silent_says_it_does_not_answer() {
    use crate::probe::ProtocolErrorKind as Kind;
    let f = through_socat(
        "http://127.0.0.1:9000/",
        exchange_failed(
            Kind::NoAnswer,
            "no HTTP response before the timeout (the server accepted but did not answer)",
        ),
        "10.249.5.1:8003",
        Outcome::Timeout,
    );
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::NotReady);
    assert!(
        finding
            .summary
            .contains("forwards it to 10.249.5.1:8003, which does not answer"),
        "{}",
        finding.summary
    );
    let fixes = finding.suggestions.join("\n");
    assert!(
        fixes.contains("10.249.5.1:8003, which does not answer")
            && fixes.contains("`refused why 10.249.5.1:8003`")
            && !fixes.contains("wait for it"),
        "{fixes}"
    );
}

#[test]
fn a_forwarder_that_holds_plain_tcp_open_is_its_backend_not_reachable() {
    // socat holds the connection while its own connect waits: the settle saw it stay open, and
    // our connect to socat's backend ended in `there`.
    let held_open = |target: &str, there| {
        infer(&through_socat(
            target,
            Readiness::Ready(String::new()),
            "10.249.5.1:8003",
            there,
        ))
        .unwrap()
    };
    for target in ["127.0.0.1:9000", "tcp://127.0.0.1:9000"] {
        let finding = held_open(target, Outcome::Timeout);
        assert_eq!(finding.cause, Cause::NotReady, "{target}: {finding:?}");
        assert_eq!(
            finding.summary,
            "127.0.0.1:9000 accepts connections and holds them open; socat (pid 5150) forwards it to 10.249.5.1:8003, which does not answer (tried from here: no answer in 120 ms)"
        );
        let fixes = finding.suggestions.join("\n");
        assert!(
            fixes.contains("socat forwards port 9000 to 10.249.5.1:8003, which does not answer")
                && !fixes.contains("wait for it"),
            "{target}: {fixes}"
        );
        assert_eq!(
            socat_met(&finding, 8003),
            Some(Outcome::Timeout),
            "{target}: {finding:?}"
        );
    }
    // A backend that refuses a round trip later than the settle: said as such.
    assert!(
        held_open("127.0.0.1:9000", Outcome::Refused)
            .summary
            .ends_with(
                "forwards it to 10.249.5.1:8003, which refuses connections (tried from here)"
            )
    );
    // Its backend accepts from here: a service behind a forwarder, reachable.
    let up = held_open("127.0.0.1:9000", Outcome::Connected);
    assert_eq!(up.cause, Cause::Reachable, "{up:?}");
    assert!(up.suggestions.is_empty(), "{up:?}");
}

#[test]
fn a_forwarder_passes_on_its_backends_own_answer() {
    // An HTTP 503 came from a backend that is up, through socat: the service's readiness.
    let f = through_socat(
        "http://127.0.0.1:9000/",
        Readiness::NotReady("HTTP 503 Service Unavailable".to_owned()),
        "10.249.5.1:8099",
        Outcome::Connected,
    );
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::NotReady);
    assert!(
        finding.suggestions[0].contains("wait for it"),
        "{finding:?}"
    );
}

#[test]
fn ssh_and_kubectl_forwards_name_their_backend_from_the_command_line() {
    use crate::probe::ProtocolErrorKind as Kind;
    use crate::sys::forwarder::{Backend, Forwarder};
    let forwarded = |process: &str, to: Backend| {
        let mut holder = listening("127.0.0.1:9000", process);
        holder.pid = Some(77);
        Facts {
            probe: Some(exchange_failed(
                Kind::Closed,
                "no valid HTTP response: connection closed before message completed",
            )),
            listeners: Some(vec![holder]),
            forwarder: Some(Box::new(crate::diagnose::facts::Forwarded {
                forwarder: Forwarder {
                    pid: 77,
                    process: process.to_owned(),
                    to,
                },
                attempt: None,
            })),
            ..one(
                "http://127.0.0.1:9000/",
                tried("127.0.0.1:9000", Outcome::Connected, 0),
            )
        }
    };
    let ssh = infer(&forwarded(
        "ssh",
        Backend::Through {
            via: "deploy@bastion".to_owned(),
            host: "db.internal".to_owned(),
            port: 8080,
        },
    ))
    .unwrap();
    assert_eq!(ssh.cause, Cause::NotReady);
    let fixes = ssh.suggestions.join("\n");
    assert!(
        fixes.contains("ssh forwards port 9000 through `deploy@bastion`")
            && fixes.contains("db.internal:8080 as `deploy@bastion` sees it")
            && !fixes.contains("wait for it"),
        "{fixes}"
    );

    let kubectl = infer(&forwarded(
        "kubectl",
        Backend::Kubernetes {
            resource: "svc/web".to_owned(),
            namespace: Some("shop".to_owned()),
            port: "80".to_owned(),
        },
    ))
    .unwrap();
    assert_eq!(kubectl.cause, Cause::NotReady);
    let fixes = kubectl.suggestions.join("\n");
    assert!(
        fixes.contains(
            "to port 80 of `svc/web` (namespace `shop`), which names a pod, not an address"
        ) && fixes.contains("`kubectl get pods -n shop`")
            && !fixes.contains("wait for it"),
        "{fixes}"
    );
    // The backend's own answer through it (a TLS certificate, an HTTP status) is no drop.
    let mut answered = forwarded(
        "kubectl",
        Backend::Kubernetes {
            resource: "web-0".to_owned(),
            namespace: None,
            port: "80".to_owned(),
        },
    );
    answered.probe = Some(Readiness::NotReady(
        "HTTP 503 Service Unavailable".to_owned(),
    ));
    assert!(infer(&answered).unwrap().suggestions[0].contains("wait for it"));
}

/// Two sockets of an `SO_REUSEPORT` group on 127.0.0.1:9600: one `listen(0)` that never accepts,
/// its queue full, and one that accepts.
fn reuseport_group() -> Vec<HeldListener> {
    let mut stuck = listening("127.0.0.1:9600", "worker");
    stuck.pid = Some(31);
    stuck.listener.inode = 1;
    stuck.listener.queue = 1;
    stuck.listener.backlog = Some(0);
    let mut serving = listening("127.0.0.1:9600", "worker");
    serving.pid = Some(32);
    serving.listener.inode = 2;
    vec![serving, stuck]
}

#[test]
fn a_stuck_member_of_a_reuseport_group_is_named_whichever_member_the_try_met() {
    use crate::connect::{ConnectError, ConnectErrorKind};
    use crate::probe::ProbeFailure;
    let timed_out = Readiness::Failed(ProbeFailure::Connect(ConnectError::new(
        "127.0.0.1:9600".to_owned(),
        ConnectErrorKind::Failed(Outcome::Timeout),
        Vec::new(),
        Duration::from_secs(3),
    )));
    let closed =
        Readiness::NotReady("the connection was closed right after it was accepted".into());
    // Hashed to the stuck one (the attempt timed out); to the other, with the probe's reconnect
    // hashed to either (served, closed by the serving program, timed out at the stuck one).
    let cases = [
        (Outcome::Timeout, None),
        (Outcome::Connected, Some(Readiness::Ready(String::new()))),
        (Outcome::Connected, Some(closed)),
        (Outcome::Connected, Some(timed_out)),
    ];
    for (outcome, probe) in cases {
        let f = Facts {
            probe: probe.clone(),
            listeners: Some(reuseport_group()),
            ..one("127.0.0.1:9600", tried("127.0.0.1:9600", outcome, 1000))
        };
        let finding = infer(&f).unwrap();
        assert_eq!(
            finding.cause,
            Cause::ListenQueueFull,
            "{outcome} {probe:?}: {finding:?}"
        );
        assert!(
            finding.summary.starts_with(
                "worker (pid 31) listens on 127.0.0.1:9600 in an SO_REUSEPORT group of 2 sockets, but its accept queue is full: 1 waiting, backlog 0"
            ) && finding.summary.contains("about 1 in 2 connections to 127.0.0.1:9600")
                && finding.summary.contains("served by worker (pid 32)"),
            "{outcome} {probe:?}: {}",
            finding.summary
        );
        let said = format!("{} {}", finding.summary, finding.suggestions.join(" "));
        assert!(
            !said.contains("proxy") && !said.contains("backend"),
            "{said}"
        );
        assert!(
            matches!(&finding.evidence[..], [Evidence::Listener(first), Evidence::Listener(_)] if first.pid == Some(31)),
            "{finding:?}"
        );
    }
}

#[test]
fn a_lone_listener_or_a_group_that_accepts_is_no_stuck_group() {
    // The group's members all accepting: reachable.
    let mut group = reuseport_group();
    group[1].listener.queue = 0;
    let f = Facts {
        probe: Some(Readiness::Ready(String::new())),
        listeners: Some(group),
        ..one(
            "127.0.0.1:9600",
            tried("127.0.0.1:9600", Outcome::Connected, 0),
        )
    };
    assert_eq!(cause(&f), Cause::Reachable);
    // Members on other addresses are no group: the kernel picks the most specific.
    let mut apart = reuseport_group();
    apart[0].listener.address = "0.0.0.0".parse().unwrap();
    assert!(!crate::diagnose::reuseport::has_stuck_member(
        &apart.iter().map(|h| h.listener.clone()).collect::<Vec<_>>()
    ));
    assert!(crate::diagnose::reuseport::has_stuck_member(
        &reuseport_group()
            .iter()
            .map(|h| h.listener.clone())
            .collect::<Vec<_>>()
    ));
}

/// A database whose connections are all taken: its clients hold them, and waiting helps only
/// when they let go; MySQL's refusals of a host are configuration, never a wait.
#[test]
fn a_full_database_names_its_clients_and_a_refused_host_its_accounts() {
    let fix = |target: &str, readiness: Readiness| {
        let finding = not_ready_at(target, "127.0.0.1:3306", readiness);
        (finding.summary, finding.suggestions.join("\n"))
    };
    let (_, pg) = fix(
        "postgres://127.0.0.1:3306",
        Readiness::NotReady("sorry, too many clients already (53300)".into()),
    );
    assert!(
        pg.contains("connections are all taken (its `max_connections`)"),
        "{pg}"
    );
    assert!(pg.contains("pg_stat_activity"), "{pg}");
    let (_, my) = fix(
        "mysql://127.0.0.1:3306",
        Readiness::NotReady("Too many connections (1040)".into()),
    );
    assert!(my.contains("`SHOW PROCESSLIST`"), "{my}");
    // The same words on another service are not its: the usual fix.
    let (_, http) = fix(
        "http://127.0.0.1:3306/",
        Readiness::NotReady("HTTP 503 Too many connections (1040)".into()),
    );
    assert!(!http.contains("max_connections"), "{http}");

    let (summary, host) = fix(
        "mysql://127.0.0.1:3306",
        Readiness::Denied(
            "Host '127.0.0.1' is not allowed to connect to this MariaDB server (1130)".into(),
        ),
    );
    assert!(
        summary.contains("refuses this client by its configuration"),
        "{summary}"
    );
    assert!(host.contains("CREATE USER 'app'@'127.0.0.1'"), "{host}");
    assert!(host.contains("--socket="), "{host}");
    assert!(!host.contains("wait for it"), "{host}");
    let (_, blocked) = fix(
        "mysql://127.0.0.1:3306",
        Readiness::Denied("Host '10.0.0.5' is blocked because of many connection errors; unblock with 'mariadb-admin flush-hosts' (1129)".into()),
    );
    assert!(
        blocked.contains("blocked 10.0.0.5 after `max_connect_errors`"),
        "{blocked}"
    );
    assert!(blocked.contains("flush-hosts"), "{blocked}");
    assert!(!blocked.contains("CREATE USER"), "{blocked}");
}

/// A gateway's 502 or 504: the fix is its upstream, named through its log, not a wait.
#[test]
fn a_gateways_502_and_504_send_a_person_to_its_upstream() {
    for (code, failed) in [(502, "refused, closed"), (504, "did not answer in time")] {
        let answered = Readiness::NotReady(format!("HTTP {code} Bad Gateway"));
        let finding = not_ready_at("http://127.0.0.1:8080/", "127.0.0.1:8080", answered);
        let fix = finding.suggestions.join("\n");
        assert!(
            fix.starts_with(&format!("HTTP {code} comes from a proxy")),
            "{fix}"
        );
        assert!(fix.contains(failed), "{fix}");
        assert!(fix.contains("refused why HOST:PORT"), "{fix}");
        assert!(!fix.contains("wait for it"), "{fix}");
    }
}

/// A timeout at another namespace's port behind a tripped limit whose reject is an ICMP error
/// (ufw's `limit`): the kernel sends about one a second to an address, so a burst of tries meets
/// silence. The limit is named, not "some firewall on the path".
#[test]
fn a_limits_icmp_reject_can_be_the_silence() {
    let mut address = tried("10.77.2.2:1300", Outcome::Timeout, 2000);
    let mut holder = held_by("fxh-l", 1300);
    let limit = Blocker {
        chain: "ufw-user-limit".to_owned(),
        hook: Hook::Input,
        tool: Tool::Iptables,
        table: "ip filter".to_owned(),
        rate_limit: true,
        ..blocker("xt match recent reject", Verdict::Reject, false)
    };
    holder.blockers = Some(vec![limit]);
    address.holder = Some(holder);
    let finding = infer(&one("10.77.2.2:1300", address)).unwrap();
    assert_eq!(finding.cause, Cause::BlockedLocally, "{finding:?}");
    assert!(
        finding.summary.contains("xt match recent reject"),
        "{}",
        finding.summary
    );
    assert!(
        finding.suggestions[0].starts_with("the rule is a limit"),
        "{finding:?}"
    );
}

#[path = "front_end_tests.rs"]
mod front_end;

#[path = "conntrack_tests.rs"]
mod conntrack;

#[path = "unix_hidden_tests.rs"]
mod unix_hidden;

#[path = "namespaced_tests.rs"]
mod namespaced;

/// Connections left on a port where nothing listens: held by a program, it closed its
/// listening socket (shutting down); closing, with no program, the server stopped within the
/// last minute. A port of the ephemeral range is also the own port of this host's clients'
/// connections: nothing is said of them there.
#[test]
fn connections_left_on_a_port_say_what_happened_to_its_server() {
    let left = |open, closing| ConnectionsLeft {
        port: 8080,
        open,
        pid: (open > 0).then_some(77),
        process: (open > 0).then(|| "gunicorn".to_owned()),
        holders: u32::from(open > 0),
        closing,
    };
    let draining = Facts {
        connections_left: Some(left(2, 1)),
        ..one(
            "127.0.0.1:8080",
            tried("127.0.0.1:8080", Outcome::Refused, 0),
        )
    };
    let finding = infer(&draining).unwrap();
    assert_eq!(finding.cause, Cause::NoListener);
    assert!(
        finding
            .summary
            .contains("gunicorn (pid 77) still has connections open on it"),
        "{finding:?}"
    );
    assert_eq!(
        finding.evidence[0].to_string(),
        "gunicorn (pid 77) has 2 connections open on port 8080, and 1 more closed by this host within the last minute"
    );
    assert!(
        finding.suggestions[0].contains("`refused wait 127.0.0.1:8080`"),
        "{finding:?}"
    );

    let stopped = Facts {
        connections_left: Some(left(0, 3)),
        ..draining.clone()
    };
    let finding = infer(&stopped).unwrap();
    assert_eq!(finding.cause, Cause::NoListener);
    assert!(
        finding.summary.contains("stopped or crashed"),
        "{finding:?}"
    );
    assert_eq!(
        finding.evidence[0].to_string(),
        "3 connections on port 8080 closed by this host within the last minute, held by no program"
    );

    let ephemeral = Facts {
        connections_left: Some(ConnectionsLeft {
            port: 40000,
            ..left(0, 3)
        }),
        ..one(
            "127.0.0.1:40000",
            tried("127.0.0.1:40000", Outcome::Refused, 0),
        )
    };
    let finding = infer(&ephemeral).unwrap();
    assert!(
        finding.summary.contains("nothing near it looks meant"),
        "{finding:?}"
    );
}

/// A port this host publishes by DNAT to another port of its own, where nothing listens: the
/// connections left on the target's port (where they were read) are not the other port's.
#[test]
fn connections_left_on_the_published_port_are_not_its_destinations() {
    use crate::diagnose::facts::Published;
    use crate::sys::firewall::{Dnat, NatHook, NatTo};
    let to: SocketAddr = "127.0.0.1:9090".parse().unwrap();
    let mut address = tried("127.0.0.1:8080", Outcome::Refused, 0);
    address.published = Some(Published {
        rule: Dnat {
            to: NatTo::Address {
                address: to.ip(),
                port: Some(9090),
            },
            table: "ip nat".to_owned(),
            chain: "OUTPUT".to_owned(),
            path: vec!["OUTPUT".to_owned()],
            hook: NatHook::Output,
            rule: "tcp dport 8080 dnat to 127.0.0.1:9090".to_owned(),
            handle: Some(3),
            position: Some(1),
            tool: Tool::Nft,
            certain: true,
            netns: None,
        },
        to,
        to_local: true,
    });
    let f = Facts {
        connections_left: Some(ConnectionsLeft {
            port: 8080,
            open: 2,
            pid: Some(77),
            process: Some("gunicorn".to_owned()),
            holders: 1,
            closing: 0,
        }),
        ..one("127.0.0.1:8080", address)
    };
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::NoListener, "{finding:?}");
    assert!(
        !finding.summary.contains("gunicorn")
            && !finding
                .evidence
                .iter()
                .any(|e| matches!(e, Evidence::ConnectionsLeft(_))),
        "{finding:?}"
    );
}

/// Connections left open by several programs: the sessions a forking server made, which
/// outlive it (sshd's), as much as a draining server's workers. Neither story is told as the
/// only one, and the lowest pid is not said to hold them all.
#[test]
fn connections_left_by_several_programs_are_not_one_servers() {
    let sessions = Facts {
        connections_left: Some(ConnectionsLeft {
            port: 22,
            open: 2,
            pid: Some(901),
            process: Some("sshd-session".to_owned()),
            holders: 2,
            closing: 0,
        }),
        ..one("127.0.0.1:22", tried("127.0.0.1:22", Outcome::Refused, 0))
    };
    let finding = infer(&sessions).unwrap();
    assert_eq!(finding.cause, Cause::NoListener);
    assert_eq!(
        finding.summary,
        "nothing listens on port 22 on this host (127.0.0.1 is local), but sshd-session (pid 901) and 1 other process still have connections open on it, accepted before its listening socket closed: a server shutting down or restarting still serves them, and so do the sessions or workers a stopped server forked (sshd's outlive it)"
    );
    assert_eq!(
        finding.evidence[0].to_string(),
        "sshd-session (pid 901) and 1 other process have 2 connections open on port 22"
    );
    assert!(
        finding.suggestions[1].starts_with("else start the program that should listen on port 22"),
        "{finding:?}"
    );
}

/// A listener on an address this host no longer has (removed after the bind) or has not yet
/// (bound with `IP_FREEBIND`): "connect to 10.0.0.11:8090 instead" failed too; the program
/// binds again, or the address comes back.
#[test]
fn a_listener_on_an_address_this_host_does_not_have_is_not_offered() {
    let mut local = tried("10.0.0.1:8090", Outcome::Refused, 0);
    local.local = true;
    let f = Facts {
        listeners: Some(vec![listening("10.0.0.11:8090", "app")]),
        absent_addresses: vec!["10.0.0.11".parse().unwrap()],
        ..one("10.0.0.1:8090", local)
    };
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::ListeningOnOtherAddress, "{finding:?}");
    assert!(
        finding
            .summary
            .contains("10.0.0.11, an address no interface of this host has"),
        "{finding:?}"
    );
    let fixes = finding.suggestions.join("\n");
    assert!(!fixes.contains("connect to 10.0.0.11"), "{fixes}");
    assert!(fixes.contains("restart app (pid 4242)"), "{fixes}");
    assert!(fixes.contains("bind it to 0.0.0.0"), "{fixes}");
}

/// A range every port of which `ip_local_reserved_ports` reserves: no connection holds them.
#[test]
fn ports_all_reserved_are_named_not_counted() {
    let f = Facts {
        ephemeral_ports: Some((40000, 40009)),
        reserved_ports: Some(10),
        ..one(
            "192.0.2.7:80",
            tried("192.0.2.7:80", Outcome::AddressUnavailable, 0),
        )
    };
    let finding = infer(&f).unwrap();
    assert_eq!(finding.cause, Cause::PortsExhausted);
    assert!(finding.summary.contains("is reserved"), "{finding:?}");
    assert!(
        !finding.suggestions.join("\n").contains("ss -tan"),
        "{finding:?}"
    );
    // Part of it: the connections are the story, the reserved ports a warning.
    let f = Facts {
        reserved_ports: Some(4),
        ..f
    };
    let finding = infer(&f).unwrap();
    assert!(finding.summary.contains("in use"), "{finding:?}");
    assert_eq!(finding.warnings.len(), 1, "{finding:?}");
}

/// This host's copy of an address failed duplicate address detection: it explains a silence
/// when neighbour discovery for the address gets nowhere (the kernel ignores the other host's
/// answers), not when a neighbour entry learned before still carries the packets.
#[test]
fn a_failed_copy_explains_a_silence_only_without_a_neighbour_that_answered() {
    let mut failed = tried("[fd00:77::2]:80", Outcome::Timeout, 1600);
    failed.blockers = Some(Vec::new());
    failed.ipv6_state = Some(crate::sys::addresses::Ipv6State::DadFailed {
        dev: "eth0".to_owned(),
        prefix: 64,
    });
    failed.neighbour = Some(Neighbour::NoAnswer);
    let finding = infer(&one("[fd00:77::2]:80", failed.clone())).unwrap();
    assert_eq!(finding.cause, Cause::HostUnreachable, "{finding:?}");
    assert!(
        finding
            .suggestions
            .join("\n")
            .contains("ip -6 addr del fd00:77::2/64 dev eth0"),
        "{finding:?}"
    );
    failed.neighbour = Some(Neighbour::Answered);
    let finding = infer(&one("[fd00:77::2]:80", failed)).unwrap();
    assert_eq!(finding.cause, Cause::Filtered, "{finding:?}");
    assert!(
        finding.warnings.iter().any(|w| w.contains("dadfailed")),
        "{finding:?}"
    );
}
