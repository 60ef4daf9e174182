//! Each rule on facts made by hand: no sockets, no host.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::connect::{Address, Attempt};
use crate::diagnose::evidence::UnixSocketFacts;
use crate::resolve::ResolveError;
use crate::sys::firewall::{Blocker, Hook};
use crate::sys::host::NameSource;
use crate::sys::process::ContainerRuntime;
use crate::sys::tables::Listener;

fn facts(target: &str) -> Facts {
    Facts {
        target: target.parse().unwrap(),
        resolution: Resolution::None,
        addresses: Vec::new(),
        listeners: Some(Vec::new()),
        foreign: Vec::new(),
        ephemeral_ports: Some((32768, 60999)),
        ipv6_usable: true,
        unix: None,
        unseen: Vec::new(),
        program: "refused".to_owned(),
        probe: None,
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
        },
        addr,
        local: addr.ip().is_loopback(),
        neighbour: None,
        blockers: Some(Vec::new()),
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
        },
        pid: Some(4242),
        process: Some(process.to_owned()),
        container: None,
        netns: None,
    }
}

fn blocker(rule: &str, verdict: &'static str, certain: bool) -> Blocker {
    Blocker {
        table: "inet filter".to_owned(),
        chain: "output".to_owned(),
        hook: Hook::Output,
        rule: rule.to_owned(),
        verdict,
        handle: Some(7),
        certain,
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
    assert_eq!(finding.evidence, [Evidence::Ipv6Unusable]);
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
            high: 60999
        }]
    );
}

#[test]
fn a_local_rule_that_fits_the_outcome_is_blocked_locally() {
    let mut address = tried("192.0.2.7:7001", Outcome::Timeout, 1000);
    address.blockers = Some(vec![blocker("tcp dport 7001 drop", "drop", true)]);
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

    // A rule that may match is said to be probable, not certain.
    address.attempt.outcome = Outcome::Timeout;
    address.blockers = Some(vec![blocker("oifname \"eth1\" drop", "drop", false)]);
    let finding = infer(&one("192.0.2.7:7001", address)).unwrap();
    assert_eq!(finding.cause, Cause::BlockedLocally);
    assert!(finding.summary.contains("probably"), "{}", finding.summary);
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
        finding.summary.contains("Redis's server"),
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
    let f = Facts {
        listeners: Some(vec![listening("0.0.0.0:80", "nginx")]),
        ..one("127.0.0.1:80", tried("127.0.0.1:80", Outcome::Refused, 0))
    };
    assert_eq!(cause(&f), Cause::BlockedLocally);
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

    // The same timeout with an empty queue: the packets never left this host, so its firewall.
    full.listener.queue = 0;
    let f = Facts {
        listeners: Some(vec![full]),
        ..f
    };
    assert_eq!(cause(&f), Cause::BlockedLocally);
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

fn unix_facts(exists: bool, file_type: Option<&'static str>) -> UnixSocketFacts {
    UnixSocketFacts {
        path: PathBuf::from("/run/app.sock"),
        exists,
        file_type,
        mode: Some("0660".into()),
        uid: Some(0),
        gid: Some(27),
        user: Some("root".into()),
        group: Some("sudo".into()),
        listening: Some(false),
    }
}

#[test]
fn unix_sockets() {
    let with = |outcome, facts: UnixSocketFacts| {
        let attempt = Attempt {
            address: Address::Unix(facts.path.clone()),
            outcome,
            errno: None,
            started: Duration::ZERO,
            elapsed: Duration::ZERO,
            try_number: 1,
        };
        cause(&Facts {
            unix: Some((attempt, facts)),
            ..facts_unix()
        })
    };
    let other = Outcome::Other(Some(libc::ENOENT));
    assert_eq!(with(other, unix_facts(false, None)), Cause::SocketMissing);
    assert_eq!(
        with(Outcome::Refused, unix_facts(true, Some("directory"))),
        Cause::SocketMissing
    );
    assert_eq!(
        with(Outcome::Refused, unix_facts(true, Some("socket"))),
        Cause::SocketStale
    );
    assert_eq!(
        with(Outcome::PermissionDenied, unix_facts(true, Some("socket"))),
        Cause::SocketPermissionDenied
    );
    assert_eq!(
        with(Outcome::Connected, unix_facts(true, Some("socket"))),
        Cause::Reachable
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
