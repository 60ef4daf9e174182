//! The JSON contract: real outputs of the built binary (`why`, `check`, `wait`, `scan`, in each
//! of their shapes) validate against the schemas published in `schemas/`, and the schemas'
//! vocabularies are the library's own. The lab tests validate what they get through
//! [`assert_valid`] too, so every cause they reach is checked against the schema.

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use refused::diagnose::evidence::{
    BoundDevice, ContainerRuntime, Direction, Dnat, Dropper, DropperKind, Hook, Nameserver,
    NameserverSource, Namespace, NatHook, NatTo, Stopped, Stops, Tool, Verdict,
};
use refused::diagnose::{
    Blocker, ClosedDirectory, ConnectionsLeft, EarlierListener, Evidence, FileSeen, FileType,
    HeldBy, HeldListener, HeldUnixListener, HiddenListener, Ipv6Switch, LinkState, Listener, Mode,
    NameSource, Neighbour, Owner, PolicyRule, RejectingRoute, RouteKind, UnixSocketFacts,
};
use refused::{Cause, Outcome};
use refused_lab::{FullQueue, RefusedPort, Scratch};
use serde_json::Value;

use crate::common::{answering, assert_exit, refused};

/// The published schemas, one per command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    Why,
    Check,
    Wait,
    Scan,
}

impl Schema {
    const ALL: [Self; 4] = [Self::Why, Self::Check, Self::Wait, Self::Scan];

    fn name(self) -> &'static str {
        match self {
            Self::Why => "why",
            Self::Check => "check",
            Self::Wait => "wait",
            Self::Scan => "scan",
        }
    }

    fn path(self) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../schemas")
            .join(format!("{}.json", self.name()))
    }

    /// The schema file, parsed.
    fn document(self) -> Value {
        let path = self.path();
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
    }

    fn validator(self) -> &'static jsonschema::Validator {
        static VALIDATORS: [OnceLock<jsonschema::Validator>; 4] = [
            OnceLock::new(),
            OnceLock::new(),
            OnceLock::new(),
            OnceLock::new(),
        ];
        let index = Self::ALL.iter().position(|s| *s == self).unwrap();
        VALIDATORS[index].get_or_init(|| {
            jsonschema::validator_for(&self.document())
                .unwrap_or_else(|err| panic!("schemas/{}.json: {err}", self.name()))
        })
    }
}

/// Asserts that `value` validates against `schema`, and that its numbers are rounded (at most
/// three decimals: the schema says so with `multipleOf`, checked here on the text as well).
pub fn assert_valid(schema: Schema, value: &Value) {
    let errors: Vec<String> = schema
        .validator()
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "not valid against schemas/{}.json:\n  {}\n{value}",
        schema.name(),
        errors.join("\n  ")
    );
    assert_rounded(value);
}

/// Every number has at most three decimals (milliseconds to the microsecond).
fn assert_rounded(value: &Value) {
    match value {
        Value::Number(n) => {
            let text = n.to_string();
            let decimals = text.split_once('.').map_or(0, |(_, d)| d.len());
            assert!(decimals <= 3, "{text} is not rounded");
        }
        Value::Array(items) => items.iter().for_each(assert_rounded),
        Value::Object(map) => map.values().for_each(assert_rounded),
        _ => {}
    }
}

/// Each line of an NDJSON output, parsed.
fn lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|err| panic!("{err}: {l}")))
        .collect()
}

/// Validates every line of an NDJSON output, each with a `kind`; returns them.
fn valid_lines(schema: Schema, stdout: &[u8]) -> Vec<Value> {
    let lines = lines(stdout);
    assert!(!lines.is_empty(), "no output");
    for line in &lines {
        assert!(line["kind"].is_string(), "no kind: {line}");
        assert_valid(schema, line);
    }
    lines
}

const UNAVAILABLE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n";

fn why(target: &str) -> Value {
    let output = refused()
        .args(["why", "--json", "--timeout", "2s", target])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "{target}: {err}: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    assert!(report.get("kind").is_none(), "a document has no kind");
    assert_valid(Schema::Why, &report);
    report
}

#[test]
fn why_documents_match_the_schema() {
    let open = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let refusing = RefusedPort::v4().unwrap();
    let queue = FullQueue::v4().unwrap();
    let unavailable = answering(UNAVAILABLE);
    let scratch = Scratch::new("why_documents_match_the_schema");
    let missing = scratch.join("missing.sock");
    let directory = scratch.join("dir");
    std::fs::create_dir_all(&directory).unwrap();
    let stale = scratch.join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());

    let cases = [
        (open.local_addr().unwrap().to_string(), Some("reachable")),
        // `no-listener` or `wrong-port`, as this host's listeners have it.
        (refusing.addr().to_string(), None),
        (queue.addr().unwrap().to_string(), Some("listen-queue-full")),
        (format!("http://{unavailable}/"), Some("not-ready")),
        (
            format!("unix://{}", missing.display()),
            Some("socket-missing"),
        ),
        (
            format!("unix://{}", directory.display()),
            Some("socket-missing"),
        ),
        (format!("unix://{}", stale.display()), Some("socket-stale")),
    ];
    for (target, cause) in cases {
        let report = why(&target);
        if let Some(cause) = cause {
            assert_eq!(report["cause"], cause, "{report}");
        }
    }
}

#[test]
fn check_lines_match_the_schema_and_say_whys_cause_where_the_probe_proves_it() {
    let open = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let refusing = RefusedPort::v4().unwrap();
    let unavailable = answering(UNAVAILABLE);
    let not_http = answering(b"SSH-2.0-OpenSSH_9.2\r\n");
    let scratch = Scratch::new("check_lines_match_the_schema_and_say_whys_cause");
    let missing = scratch.join("missing.sock");
    let stale = scratch.join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());

    let cases = [
        (open.local_addr().unwrap().to_string(), "up", "reachable"),
        (refusing.addr().to_string(), "down", "refused"),
        (format!("http://{unavailable}/"), "down", "not-ready"),
        (format!("http://{not_http}/"), "down", "not-ready"),
        (
            format!("unix://{}", missing.display()),
            "down",
            "socket-missing",
        ),
        (
            format!("unix://{}", stale.display()),
            "down",
            "socket-stale",
        ),
    ];
    let targets: Vec<&str> = cases.iter().map(|(t, _, _)| t.as_str()).collect();
    let output = refused()
        .args(["check", "--json", "--timeout", "2s"])
        .args(&targets)
        .output()
        .unwrap();
    assert_exit(&output, 1);
    let lines = valid_lines(Schema::Check, &output.stdout);
    assert_eq!(lines.len(), cases.len());
    for (line, (target, state, reason)) in lines.iter().zip(&cases) {
        assert_eq!(line["target"], *target.as_str(), "{line}");
        assert_eq!(line["kind"], "probe", "{line}");
        assert_eq!(
            (line["state"].as_str(), line["reason"].as_str()),
            (Some(*state), Some(*reason)),
            "{line}"
        );
    }
    // Where a probe proves a cause, `why` names the same one.
    for (target, _, reason) in &cases[2..] {
        assert_eq!(why(target)["cause"], *reason, "{target}");
    }
}

#[test]
fn wait_events_match_the_schema() {
    // A late listener: `probe` (down), `probe` (up), `ready`.
    let late = RefusedPort::v4().unwrap();
    let target = late.addr().to_string();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        late.socket().listen(16).unwrap();
        std::thread::sleep(Duration::from_secs(10));
    });
    let output = refused()
        .args(["wait", "--json", "--timeout", "10s", &target])
        .output()
        .unwrap();
    assert_exit(&output, 0);
    let events = valid_lines(Schema::Wait, &output.stdout);
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["probe", "probe", "ready"]);

    // `--down`: `probe` (down, refused), `down`.
    let gone = RefusedPort::v4().unwrap();
    let output = refused()
        .args(["wait", "--json", "--down", "--timeout", "5s"])
        .arg(gone.addr().to_string())
        .output()
        .unwrap();
    assert_exit(&output, 0);
    let events = valid_lines(Schema::Wait, &output.stdout);
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["probe", "down"]);

    // Timeouts: a refused port is diagnosed (`cause`, and `why`'s sentence as the summary); a
    // service that says no is not (`cause` null, its own reason as the summary).
    let never = RefusedPort::v4().unwrap();
    let unavailable = answering(UNAVAILABLE);
    let output = refused()
        .args(["wait", "--json", "--timeout", "300ms"])
        .arg(never.addr().to_string())
        .arg(format!("http://{unavailable}/"))
        .output()
        .unwrap();
    assert_exit(&output, 1);
    let events = valid_lines(Schema::Wait, &output.stdout);
    let timeouts: Vec<&Value> = events.iter().filter(|e| e["kind"] == "timeout").collect();
    assert_eq!(timeouts.len(), 2, "{events:?}");
    let refused_port = timeouts[0];
    assert!(refused_port["cause"].is_string(), "{refused_port}");
    assert_eq!(refused_port["last"]["reason"], "refused", "{refused_port}");
    assert_ne!(refused_port["summary"], refused_port["last"]["summary"]);
    let not_ready = timeouts[1];
    assert!(not_ready["cause"].is_null(), "{not_ready}");
    assert_eq!(not_ready["last"]["reason"], "not-ready", "{not_ready}");
    assert_eq!(not_ready["summary"], not_ready["last"]["summary"]);
}

#[test]
fn scan_outputs_match_the_schema_whole_and_streamed() {
    let open = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = open.local_addr().unwrap().port();
    let ports = format!("{}-{}", port.saturating_sub(2), port.saturating_add(2));
    for all in [false, true] {
        let mut args = vec!["scan", "127.0.0.1", "-p", &ports, "--json"];
        if all {
            args.push("--all");
        }
        let output = refused().args(&args).output().unwrap();
        assert_exit(&output, 0);
        let document: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert!(document.get("kind").is_none(), "{document}");
        assert_valid(Schema::Scan, &document);
        assert_eq!(document["hosts"][0]["open"][0]["port"], port, "{document}");
        assert_eq!(
            document["hosts"][0].get("ports").is_some(),
            all,
            "{document}"
        );

        args.push("--stream");
        let output = refused().args(&args).output().unwrap();
        assert_exit(&output, 0);
        let lines = valid_lines(Schema::Scan, &output.stdout);
        let (last, ports_seen) = lines.split_last().unwrap();
        assert_eq!(last["kind"], "summary", "{last}");
        assert!(ports_seen.iter().all(|l| l["kind"] == "port"), "{lines:?}");
        assert_eq!(ports_seen.len(), if all { 5 } else { 1 }, "{lines:?}");
    }
}

/// The `enum` at `pointer` in a schema, as strings.
fn enum_at(schema: Schema, pointer: &str) -> Vec<String> {
    let document = schema.document();
    let values = document
        .pointer(pointer)
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("schemas/{}.json has no enum at {pointer}", schema.name()));
    values
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_schemas_vocabularies_are_the_librarys() {
    let causes: Vec<String> = Cause::ALL.iter().map(|c| c.as_label().to_owned()).collect();
    let outcomes: Vec<String> = Outcome::ALL
        .iter()
        .map(|o| o.as_label().to_owned())
        .collect();
    assert_eq!(enum_at(Schema::Why, "/$defs/cause/enum"), causes);
    assert_eq!(enum_at(Schema::Wait, "/$defs/cause/enum"), causes);
    // A probe's reason: a cause, or the outcome of a connect that failed.
    let reasons: Vec<String> = causes
        .iter()
        .chain(outcomes.iter().filter(|o| *o != "connected"))
        .cloned()
        .collect();
    for schema in [Schema::Why, Schema::Check, Schema::Wait] {
        assert_eq!(
            enum_at(schema, "/$defs/outcome/enum"),
            outcomes,
            "{schema:?}"
        );
    }
    for schema in [Schema::Check, Schema::Wait] {
        assert_eq!(enum_at(schema, "/$defs/reason/enum"), reasons, "{schema:?}");
        assert_eq!(
            enum_at(schema, "/$defs/state/enum"),
            ["up", "down"],
            "{schema:?}"
        );
    }
    // What the schemas share is written alike in each.
    let shared = |pointer: &str, schemas: &[Schema]| {
        let first = schemas[0].document().pointer(pointer).cloned();
        assert!(first.is_some(), "{pointer}");
        for schema in &schemas[1..] {
            assert_eq!(
                schema.document().pointer(pointer).cloned(),
                first,
                "{pointer} in {schema:?}"
            );
        }
    };
    shared(
        "/$defs/attempt",
        &[Schema::Why, Schema::Check, Schema::Wait],
    );
    shared("/$defs/duration_ms", &Schema::ALL);
    shared("/$defs/reason", &[Schema::Check, Schema::Wait]);
    for schema in Schema::ALL {
        // Every schema is itself a valid JSON Schema (draft 2020-12).
        jsonschema::meta::validate(&schema.document())
            .unwrap_or_else(|err| panic!("schemas/{}.json: {err}", schema.name()));
    }
}

/// `multipleOf: 0.001` holds for a rounded float and fails for an unrounded one, whatever the
/// floating-point error of the division: the schema's rounding rule really is checked.
#[test]
fn the_schemas_reject_unrounded_milliseconds() {
    let mut line = serde_json::json!({
        "schema_version": 1, "kind": "ready", "target": "127.0.0.1:1", "at_ms": 7.857
    });
    assert!(Schema::Wait.validator().is_valid(&line), "{line}");
    line["at_ms"] = serde_json::json!(7.857_183_999_999_999);
    assert!(!Schema::Wait.validator().is_valid(&line), "{line}");
    // And a line of another version, or without its kind, is not the contract.
    line["at_ms"] = serde_json::json!(0.1);
    assert!(Schema::Wait.validator().is_valid(&line), "{line}");
    line["schema_version"] = serde_json::json!(2);
    assert!(!Schema::Wait.validator().is_valid(&line), "{line}");
    line["schema_version"] = serde_json::json!(1);
    line.as_object_mut().unwrap().remove("kind");
    assert!(!Schema::Wait.validator().is_valid(&line), "{line}");
}

/// The evidence kinds, by an exhaustive match: a kind added to the library stops this test
/// from compiling until it is given a sample here (and so is checked against the schema).
fn kind_of(evidence: &Evidence) -> &'static str {
    match evidence {
        Evidence::Resolved { .. } => "resolved",
        Evidence::DnsError { .. } => "dns-error",
        Evidence::Nameserver(_) => "nameserver",
        Evidence::Listener(_) => "listener",
        Evidence::FirewallRule(_) => "firewall-rule",
        Evidence::Neighbour { .. } => "neighbour",
        Evidence::LocalAddress { .. } => "local-address",
        Evidence::EphemeralPorts { .. } => "ephemeral-ports",
        Evidence::Ipv6Unusable { .. } => "ipv6-unusable",
        Evidence::LoopbackDown => "loopback-down",
        Evidence::LinkDown { .. } => "link-down",
        Evidence::Route(_) => "route",
        Evidence::Dnat(_) => "dnat",
        Evidence::Namespace { .. } => "namespace",
        Evidence::UnixSocket(_) => "unix-socket",
        Evidence::UnixListener(_) => "unix-listener",
        Evidence::PortProxy { .. } => "port-proxy",
        Evidence::StoppedContainer(_) => "stopped-container",
        Evidence::ReversePathFilter { .. } => "reverse-path-filter",
        Evidence::ConntrackTable { .. } => "conntrack-table",
        Evidence::Dropper(_) => "dropper",
        Evidence::ContainerPort(_) => "container-port",
        Evidence::UnpublishedContainer(_) => "unpublished-container",
        Evidence::UdpSocket(_) => "udp-socket",
        Evidence::BoundSocket(_) => "bound-socket",
        Evidence::ConnectionsLeft(_) => "connections-left",
    }
}

/// What this host's netfilter dropped beside its rules: the reverse-path filter's, a full
/// conntrack table's (a function of its own: the samples' list is at clippy's length limit).
fn dropped_here_samples() -> [Evidence; 2] {
    [
        Evidence::ReversePathFilter {
            dropped: 3,
            strict_interfaces: vec!["eth0".into(), "wg0".into()],
        },
        Evidence::ConntrackTable {
            count: 262_144,
            max: 262_144,
            dropped: 3,
            netns: Some(Namespace::Named("gw".into())),
        },
    ]
}

/// The ephemeral range, with the count of its reserved ports (a function of its own: the
/// samples' list is at clippy's length limit).
fn ephemeral_ports_sample() -> Evidence {
    Evidence::EphemeralPorts {
        low: 40000,
        high: 40009,
        reserved: Some(10),
    }
}

/// One sample of every evidence kind, in each of its shapes (a rule and a policy, a listener
/// with and without its process...), in the library's order of kinds.
fn evidence_samples() -> Vec<Evidence> {
    let mut samples = vec![
        Evidence::Resolved {
            name: "db".into(),
            address: "10.0.0.5".parse().unwrap(),
            family: "ipv4",
            source: NameSource::Hosts,
        },
        Evidence::DnsError {
            name: "db.example".into(),
            error: "dns-not-found",
            detail: "the name does not exist".into(),
        },
        Evidence::Nameserver(Nameserver {
            address: "127.0.0.53".parse().unwrap(),
            source: NameserverSource::ResolvConf,
            local: true,
            listening: Some(true),
            pid: Some(412),
            process: Some("systemd-resolve".into()),
            dangling_link: None,
            resolved_pid: None,
        }),
        Evidence::Nameserver(Nameserver {
            address: "127.0.0.53".parse().unwrap(),
            source: NameserverSource::ResolvConf,
            local: true,
            listening: Some(false),
            pid: None,
            process: None,
            dangling_link: None,
            resolved_pid: Some(412),
        }),
        Evidence::Nameserver(Nameserver {
            address: "10.0.0.1".parse().unwrap(),
            source: NameserverSource::Default,
            local: false,
            listening: None,
            pid: None,
            process: None,
            dangling_link: Some("../run/systemd/resolve/stub-resolv.conf".into()),
            resolved_pid: None,
        }),
    ];
    samples.extend(listener_samples());
    samples.extend(firewall_samples());
    samples.extend([
        Evidence::Neighbour {
            address: "fd00::9".parse().unwrap(),
            state: Neighbour::NoAnswer,
            gateway_for: None,
        },
        Evidence::Neighbour {
            address: "10.0.0.1".parse().unwrap(),
            state: Neighbour::NoAnswer,
            gateway_for: Some("192.0.2.7".parse().unwrap()),
        },
        Evidence::LocalAddress {
            address: "::1".parse().unwrap(),
        },
        ephemeral_ports_sample(),
        Evidence::Ipv6Unusable {
            disabled_by: Vec::new(),
        },
        Evidence::Ipv6Unusable {
            disabled_by: vec![Ipv6Switch::Default, Ipv6Switch::Lo],
        },
        Evidence::LoopbackDown,
    ]);
    samples.extend(link_down_samples());
    samples.extend(route_samples());
    samples.extend(dnat_samples());
    samples.push(Evidence::Namespace {
        netns: "web".into(),
        address: "172.17.0.2".parse().unwrap(),
        pid: Some(5),
    });
    samples.extend(unix_socket_samples());
    samples.extend(unix_listener_samples());
    samples.extend(docker_samples());
    samples.extend(dropped_here_samples());
    let [Evidence::Listener(udp), _] = listener_samples() else {
        unreachable!()
    };
    let udp = HeldListener {
        listener: Listener {
            backlog: None,
            ..udp.listener
        },
        ..udp
    };
    samples.push(Evidence::UdpSocket(udp.clone()));
    samples.push(Evidence::BoundSocket(udp));
    samples.extend(connections_left_samples());
    samples.extend(dropper_samples());
    samples
}

/// What may drop packets on an interface: a qdisc with its counter, a filter under it, an XDP
/// program (the optional fields present and absent).
fn dropper_samples() -> [Evidence; 3] {
    let qdisc = Dropper {
        device: "eth0".into(),
        what: DropperKind::Qdisc,
        name: "clsact".into(),
        direction: None,
        pref: None,
        program: None,
        dropped: Some(4),
        remove: "tc qdisc del dev eth0 clsact".into(),
    };
    let filter = Dropper {
        what: DropperKind::Filter,
        name: "bpf".into(),
        direction: Some(Direction::Ingress),
        pref: Some(49152),
        program: Some(1015),
        dropped: None,
        remove: "tc filter del dev eth0 ingress pref 49152".into(),
        ..qdisc.clone()
    };
    let xdp = Dropper {
        what: DropperKind::Xdp,
        name: "generic".into(),
        direction: Some(Direction::Ingress),
        program: Some(1016),
        dropped: None,
        remove: "ip link set dev eth0 xdpgeneric off".into(),
        ..qdisc.clone()
    };
    [
        Evidence::Dropper(qdisc),
        Evidence::Dropper(filter),
        Evidence::Dropper(xdp),
    ]
}

/// Connections left on a port: open ones with their holder, and closing ones alone.
fn connections_left_samples() -> [Evidence; 2] {
    [
        Evidence::ConnectionsLeft(ConnectionsLeft {
            port: 8080,
            open: 2,
            pid: Some(7),
            process: Some("gunicorn".into()),
            holders: 3,
            closing: 1,
        }),
        Evidence::ConnectionsLeft(ConnectionsLeft {
            port: 8080,
            open: 0,
            pid: None,
            process: None,
            holders: 0,
            closing: 3,
        }),
    ]
}

/// This host's link down: without a carrier (a bridge), and set down.
fn link_down_samples() -> [Evidence; 2] {
    [
        Evidence::LinkDown {
            interface: "docker0".into(),
            state: LinkState::NoCarrier,
            link_kind: Some("bridge".into()),
        },
        Evidence::LinkDown {
            interface: "eth1".into(),
            state: LinkState::Down,
            link_kind: None,
        },
    ]
}

/// Docker's: a proxy that sends the port on, and a stopped container that publishes it.
fn docker_samples() -> [Evidence; 6] {
    let published = refused::diagnose::ContainerPort {
        runtime: refused::diagnose::evidence::Publisher::Docker,
        container: Some("web".into()),
        address: "127.0.0.1".parse().unwrap(),
        port: 8080,
        container_port: Some(80),
        protocol: "tcp",
        pid: Some(2211),
        process: Some("docker-proxy".into()),
    };
    [
        Evidence::PortProxy {
            proxy: refused::diagnose::PortProxy {
                pid: 2211,
                process: "docker-proxy".into(),
                listens: "0.0.0.0:8080".parse().unwrap(),
                to: "172.17.0.2:80".parse().unwrap(),
            },
            outcome: Outcome::Refused,
        },
        Evidence::StoppedContainer(refused::diagnose::StoppedContainer {
            name: "web".into(),
            id: "2ae5270659a7".into(),
            state: "exited".into(),
            status: "Exited (1) 3 minutes ago".into(),
            container_port: 80,
            runtime: refused::diagnose::ContainerRuntime::Podman,
            pod: Some("pod1".into()),
        }),
        Evidence::UnpublishedContainer(refused::diagnose::UnpublishedContainer {
            name: "app".into(),
            id: "85b4a5212a67".into(),
            container_port: 80,
            host_ip: None,
            reason: "internal-network",
            network: Some("intnet".into()),
        }),
        Evidence::UnpublishedContainer(refused::diagnose::UnpublishedContainer {
            name: "six".into(),
            id: "85b4a5212a67".into(),
            container_port: 80,
            host_ip: Some("::1".into()),
            reason: "not-mapped",
            network: None,
        }),
        // Named by Docker's daemon, and as docker-proxy's command line alone says it (UDP).
        Evidence::ContainerPort(published.clone()),
        Evidence::ContainerPort(refused::diagnose::ContainerPort {
            container: None,
            address: "::".parse().unwrap(),
            protocol: "udp",
            ..published
        }),
    ]
}

/// Held by its descriptors (root), and by its file's owner (without root).
fn unix_listener_samples() -> [Evidence; 2] {
    [HeldBy::Descriptors, HeldBy::FileOwner].map(|held_by| {
        Evidence::UnixListener(HeldUnixListener {
            path: "/run/postgresql/.s.PGSQL.5432".into(),
            inode: 4243,
            pid: 812,
            process: "postgres".into(),
            held_by,
        })
    })
}

fn listener_samples() -> [Evidence; 2] {
    let listener = Listener {
        address: "::".parse().unwrap(),
        port: 8080,
        v6only: Some(true),
        queue: 3,
        backlog: Some(128),
        uid: 1000,
        inode: 4242,
        device: None,
    };
    [
        Evidence::Listener(HeldListener::new(listener.clone(), None, None)),
        Evidence::Listener(HeldListener {
            listener: Listener {
                address: "127.0.0.1".parse().unwrap(),
                v6only: None,
                backlog: None,
                device: Some(BoundDevice {
                    index: 3,
                    name: Some("eth0".into()),
                    addresses: vec!["10.0.0.2".parse().unwrap()],
                }),
                ..listener
            },
            pid: Some(99),
            process: Some("postgres".into()),
            container: Some(ContainerRuntime::Docker),
            stopped: Some(Stopped::Traced),
            netns: Some(Namespace::Unnamed(4_026_532)),
            netns_pid: None,
            service_unit: None,
        }),
    ]
}

fn firewall_samples() -> [Evidence; 3] {
    let rule = Blocker {
        table: "inet filter".into(),
        chain: "ufw-user-output".into(),
        path: vec!["OUTPUT".into(), "ufw-user-output".into()],
        hook: Hook::Output,
        rule: "tcp dport 7001 reject".into(),
        verdict: Verdict::Reject,
        handle: Some(12),
        position: Some(3),
        tool: Tool::Ufw,
        stops: Stops::Request,
        certain: true,
        matches: true,
        rate_limit: false,
        netns: None,
    };
    [
        Evidence::FirewallRule(rule.clone()),
        Evidence::FirewallRule(Blocker {
            table: "ip filter".into(),
            rule: "policy drop".into(),
            verdict: Verdict::Drop,
            handle: None,
            position: None,
            tool: Tool::IptablesLegacy,
            stops: Stops::Reply,
            hook: Hook::Input,
            certain: false,
            // A container's own rule, read in its namespace.
            netns: Some(Namespace::Unnamed(4_026_532_999)),
            ..rule.clone()
        }),
        Evidence::FirewallRule(Blocker {
            table: "inet firewalld".into(),
            chain: "filter_IN_public".into(),
            path: vec![
                "filter_INPUT".into(),
                "filter_INPUT_ZONES".into(),
                "filter_IN_public".into(),
            ],
            rule: "reject with icmpx admin-prohibited".into(),
            tool: Tool::Firewalld,
            hook: Hook::Input,
            certain: false,
            ..rule
        }),
    ]
}

/// A route that rejects, one a policy rule chose, and a policy rule that rejects alone.
fn route_samples() -> Vec<Evidence> {
    vec![
        Evidence::Route(RejectingRoute {
            kind: RouteKind::Prohibit,
            destination: Some("10.92.0.0/16".into()),
            table: Some("100".into()),
            rule: Some(PolicyRule {
                priority: 32765,
                selector: "ipproto tcp dport 5432".into(),
                action: "lookup 100".into(),
            }),
        }),
        Evidence::Route(RejectingRoute {
            kind: RouteKind::Blackhole,
            destination: None,
            table: None,
            rule: None,
        }),
        Evidence::Route(RejectingRoute {
            kind: RouteKind::Unreachable,
            destination: None,
            table: None,
            rule: Some(PolicyRule {
                priority: 100,
                selector: "to 10.92.0.0/16".into(),
                action: "unreachable".into(),
            }),
        }),
    ]
}

fn dnat_samples() -> [Evidence; 2] {
    [
        Evidence::Dnat(Dnat {
            to: NatTo::Address {
                address: "172.17.0.2".parse().unwrap(),
                port: Some(80),
            },
            table: "ip nat".into(),
            chain: "DOCKER".into(),
            path: vec!["OUTPUT".into(), "DOCKER".into()],
            hook: NatHook::Output,
            rule: "tcp dport 8080 dnat to 172.17.0.2:80".into(),
            handle: Some(7),
            position: Some(1),
            tool: Tool::Iptables,
            certain: true,
            netns: None,
        }),
        Evidence::Dnat(Dnat {
            to: NatTo::ThisHost { port: None },
            table: "inet nat".into(),
            chain: "prerouting".into(),
            path: vec!["prerouting".into()],
            hook: NatHook::Prerouting,
            rule: "redirect".into(),
            handle: None,
            position: None,
            tool: Tool::Nft,
            certain: false,
            // The rule of the namespace a port is forwarded to.
            netns: Some(Namespace::Named("router".into())),
        }),
    ]
}

fn unix_socket_samples() -> [Evidence; 2] {
    let socket = UnixSocketFacts {
        path: "/run/app.sock".into(),
        link_target: Some("/run/app/app.sock".into()),
        exists: Some(true),
        file_type: Some(FileType::Socket),
        mode: Some(Mode::from_st_mode(0o140_660)),
        uid: Some(0),
        gid: Some(0),
        user: Some("root".into()),
        group: Some("root".into()),
        listening: Some(false),
        closed_directory: None,
        earlier_listeners: vec![EarlierListener {
            inode: 77,
            pid: Some(12),
            process: Some("nginx".into()),
        }],
        listening_elsewhere: Vec::new(),
        listening_hidden: Vec::new(),
    };
    let owner = Owner {
        uid: 0,
        gid: 0,
        user: Some("root".into()),
        group: None,
    };
    [
        Evidence::UnixSocket(socket.clone()),
        Evidence::UnixSocket(UnixSocketFacts {
            exists: None,
            file_type: None,
            mode: None,
            uid: None,
            gid: None,
            user: None,
            group: None,
            listening: None,
            closed_directory: Some(ClosedDirectory {
                path: "/run/private".into(),
                mode: Mode::from_st_mode(0o040_700),
                owner,
                through_link: Some("/run/app.sock".into()),
            }),
            earlier_listeners: Vec::new(),
            listening_elsewhere: vec!["/tmp/.s.PGSQL.5432".into()],
            listening_hidden: vec![
                HiddenListener {
                    inode: 78,
                    pid: Some(13),
                    process: Some("redis-server".into()),
                    netns: Some(Namespace::Unnamed(4_026_532_999)),
                    file: Some(FileSeen::OwnFileSystem),
                },
                HiddenListener {
                    inode: 79,
                    pid: None,
                    process: None,
                    netns: None,
                    file: None,
                },
            ],
            ..socket
        }),
    ]
}

#[test]
fn every_evidence_kind_matches_the_schema() {
    // A schema for one evidence item: why.json's own definitions, entered at `evidence`.
    let mut schema = Schema::Why.document();
    let defs = schema["$defs"].take();
    let schema = serde_json::json!({
        "$schema": schema["$schema"],
        "$ref": "#/$defs/evidence",
        "$defs": defs,
    });
    let validator = jsonschema::validator_for(&schema).unwrap();
    let samples = evidence_samples();
    for sample in &samples {
        let value = serde_json::to_value(sample).unwrap();
        assert_eq!(value["kind"], kind_of(sample));
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{value}: {errors:?}");
    }
    // The schema lists exactly the kinds the library has.
    let mut kinds: Vec<&str> = samples.iter().map(kind_of).collect();
    kinds.dedup();
    assert_eq!(
        enum_at(Schema::Why, "/$defs/evidence/properties/kind/enum"),
        kinds
    );
}
