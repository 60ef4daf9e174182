//! The scanner against real sockets: exactness at every concurrency, self-connects, and, in the
//! lab, remote states and reasons over IPv4 and IPv6, and packet loss.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::time::Duration;

use rand::seq::IteratorRandom;
use refused::scan::{Echo, PortSet, PortState, Reason, ScanOptions, ScanReport, scan};
use refused_lab::{Lab, ListenSpec, RefusedPort, SERVER_V4, SERVER_V6, Tool};

fn open_ports(report: &ScanReport) -> BTreeSet<u16> {
    report.hosts[0]
        .in_state(PortState::Open)
        .map(|p| p.port)
        .collect()
}

fn reason_of(report: &ScanReport, port: u16) -> Reason {
    report.hosts[0]
        .ports
        .iter()
        .find(|p| p.port == port)
        .map_or_else(|| panic!("port {port} not in the report"), |p| p.reason)
}

/// Listens on `count` random free ports of `ip` in `range` (in the calling thread's namespace).
fn listen_on_random_ports(
    ip: IpAddr,
    range: std::ops::RangeInclusive<u16>,
    count: usize,
) -> Vec<TcpListener> {
    let mut rng = rand::rng();
    range
        .choose_multiple(&mut rng, count * 2)
        .into_iter()
        .filter_map(|port| ListenSpec::new(SocketAddr::new(ip, port)).listen().ok())
        .take(count)
        .collect()
}

fn ports_of(listeners: &[TcpListener]) -> BTreeSet<u16> {
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

#[test]
fn ports_of_our_own_sockets_have_their_states() {
    // On this host other tests listen too, so only our own ports are checked here; the exact
    // set is checked in a namespace of its own below.
    let open: Vec<TcpListener> = (0..5)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap())
        .collect();
    let refusing: Vec<RefusedPort> = (0..5).map(|_| RefusedPort::v4().unwrap()).collect();
    let ports: PortSet = open
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .chain(refusing.iter().map(RefusedPort::port))
        .collect();
    let report = scan(
        &[IpAddr::V4(Ipv4Addr::LOCALHOST)],
        &ports,
        &ScanOptions::default(),
    )
    .unwrap();
    assert_eq!(open_ports(&report), ports_of(&open));
    for refused in &refusing {
        assert_eq!(reason_of(&report, refused.port()), Reason::ConnRefused);
    }
}

#[test]
fn the_open_set_is_exact_at_every_concurrency() {
    let Some(lab) = Lab::or_skip("the_open_set_is_exact_at_every_concurrency") else {
        return;
    };
    lab.client
        .run(|| {
            let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
            // Outside the ephemeral range (32768-60999), so that `why` tests running at the same
            // time, which look at every namespace's listeners, never meet these; the sweeps
            // still cover the ephemeral range, where self-connects happen.
            let listeners = listen_on_random_ports(v4, 20000..=32000, 300);
            let expected = ports_of(&listeners);
            for (concurrency, ports) in [
                (Some(1), PortSet::all()),
                (None, PortSet::all()),
                (Some(2), "15000-45000".parse().unwrap()),
                (Some(10), "15000-45000".parse().unwrap()),
                (Some(1000), "15000-45000".parse().unwrap()),
                (None, PortSet::all()),
            ] {
                let options = ScanOptions {
                    concurrency,
                    ..ScanOptions::default()
                };
                let report = scan(&[v4], &ports, &options).unwrap();
                let within: BTreeSet<u16> = expected
                    .iter()
                    .copied()
                    .filter(|p| ports.as_slice().binary_search(p).is_ok())
                    .collect();
                assert_eq!(open_ports(&report), within, "concurrency {concurrency:?}");
                assert_eq!(report.hosts[0].ports.len(), ports.len());
            }
            // Open probes close with a reset: no TIME_WAIT left behind, whatever the sweeps found.
            let table = std::fs::read_to_string("/proc/thread-self/net/tcp").unwrap();
            let time_wait = table
                .lines()
                .filter(|l| l.split_whitespace().nth(3) == Some("06"))
                .count();
            assert!(time_wait < 10, "{time_wait} sockets in TIME_WAIT");
            // IPv6 loopback too.
            let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
            let listeners6 = listen_on_random_ports(v6, 21000..=31000, 50);
            let report = scan(
                &[v6],
                &"21000-31000".parse().unwrap(),
                &ScanOptions::default(),
            )
            .unwrap();
            assert_eq!(open_ports(&report), ports_of(&listeners6));
        })
        .unwrap();
}

#[test]
fn self_connects_are_never_open() {
    let Some(lab) = Lab::or_skip("self_connects_are_never_open") else {
        return;
    };
    // A narrow ephemeral range scanned whole: the kernel now and then picks the target port as
    // the local port, and the socket connects to itself.
    lab.client
        .sysctl("net.ipv4.ip_local_port_range", "40000 40063")
        .unwrap();
    let ports: PortSet = "40000-40063".parse().unwrap();
    let self_connects = lab
        .client
        .run(|| {
            let mut self_connects = 0;
            for _ in 0..50 {
                let report = scan(
                    &[IpAddr::V4(Ipv4Addr::LOCALHOST)],
                    &ports,
                    &ScanOptions::default(),
                )
                .unwrap();
                assert!(
                    open_ports(&report).is_empty(),
                    "a ghost open port: {report:?}"
                );
                self_connects += report.self_connects;
            }
            self_connects
        })
        .unwrap();
    assert!(
        self_connects > 0,
        "the kernel never self-connected: the filter went untested"
    );
}

#[test]
fn remote_ports_are_open_closed_or_filtered_with_the_reason() {
    let Some(lab) = Lab::or_skip_needing(
        "remote_ports_are_open_closed_or_filtered_with_the_reason",
        &[Tool::Nft],
    ) else {
        return;
    };
    let _open: Vec<TcpListener> = [SERVER_V4.into(), IpAddr::V6(SERVER_V6)]
        .into_iter()
        .flat_map(|ip: IpAddr| {
            [7010, 7011].map(|port| {
                lab.server
                    .run(|| ListenSpec::new(SocketAddr::new(ip, port)).listen())
                    .unwrap()
                    .unwrap()
            })
        })
        .collect();
    lab.server
        .filter(
            "input",
            &[
                "tcp dport 7020-7024 drop",
                "ip protocol tcp tcp dport 7030-7034 reject with icmp type host-prohibited",
                "ip6 nexthdr tcp tcp dport 7030-7034 reject with icmpv6 type admin-prohibited",
            ],
        )
        .unwrap();
    let ports: PortSet = "7000-7040".parse().unwrap();
    let options = ScanOptions {
        timeout: Duration::from_millis(500),
        ..ScanOptions::default()
    };
    for (ip, rejected) in [
        (IpAddr::V4(SERVER_V4), Reason::HostUnreach),
        (IpAddr::V6(SERVER_V6), Reason::AdminProhibited),
    ] {
        let report = lab
            .client
            .run(|| scan(&[ip], &ports, &options))
            .unwrap()
            .unwrap();
        for port in ports.as_slice() {
            let expected = match port {
                7010 | 7011 => Reason::SynAck,
                7020..=7024 => Reason::NoResponse,
                7030..=7034 => rejected,
                _ => Reason::ConnRefused,
            };
            assert_eq!(reason_of(&report, *port), expected, "{ip} port {port}");
        }
    }
}

/// The timeouts shrink while probes are in flight (one estimate shared by the workers, seeded by
/// the hosts' echo replies): no open port may be called filtered for it, on a host that drops all
/// but a few ports nor on hosts that drop every one, with the echo or without.
#[test]
fn filtered_hosts_give_the_exact_open_set() {
    let Some(lab) = Lab::or_skip_needing("filtered_hosts_give_the_exact_open_set", &[Tool::Nft])
    else {
        return;
    };
    let listeners = lab
        .server
        .run(|| listen_on_random_ports(IpAddr::V4(SERVER_V4), 20000..=20999, 10))
        .unwrap();
    let open = ports_of(&listeners);
    let hosts: Vec<IpAddr> = (100..116)
        .map(|last| IpAddr::V4(Ipv4Addr::new(10, 77, 0, last)))
        .collect();
    for host in &hosts {
        lab.server
            .ip(&["addr", "add", &format!("{host}/24"), "dev", "eth0"])
            .unwrap();
    }
    let kept: Vec<String> = open.iter().map(u16::to_string).collect();
    let drop_all_but_open = format!(
        "ip daddr {SERVER_V4} tcp dport != {{ {} }} drop",
        kept.join(", ")
    );
    lab.server
        .filter(
            "input",
            &[
                &drop_all_but_open,
                "ip daddr 10.77.0.100-10.77.0.115 tcp dport 20000-20999 drop",
            ],
        )
        .unwrap();
    let ports: PortSet = "20000-20999".parse().unwrap();
    for echo in [Echo::Seed, Echo::Off] {
        let options = ScanOptions {
            echo,
            ..ScanOptions::default()
        };
        let one = lab
            .client
            .run(|| scan(&[IpAddr::V4(SERVER_V4)], &ports, &options))
            .unwrap()
            .unwrap();
        assert_eq!(open_ports(&one), open, "{echo:?}");
        for port in ports.as_slice() {
            if !open.contains(port) {
                assert_eq!(
                    reason_of(&one, *port),
                    Reason::NoResponse,
                    "{echo:?} {port}"
                );
            }
        }
        let many = lab
            .client
            .run(|| scan(&hosts, &"20000-20255".parse().unwrap(), &options))
            .unwrap()
            .unwrap();
        assert_eq!(many.hosts.len(), hosts.len());
        for host in &many.hosts {
            assert_eq!(host.ports.len(), 256);
            assert!(
                host.ports.iter().all(|p| p.reason == Reason::NoResponse),
                "{echo:?} {}",
                host.address
            );
        }
    }
}

#[test]
fn light_packet_loss_hides_no_open_port() {
    let Some(lab) = Lab::or_skip_needing("light_packet_loss_hides_no_open_port", &[Tool::Nft])
    else {
        return;
    };
    let listeners = lab
        .server
        .run(|| listen_on_random_ports(IpAddr::V4(SERVER_V4), 10000..=12999, 100))
        .unwrap();
    lab.loss(5).unwrap();
    let report = lab
        .client
        .run(|| {
            scan(
                &[IpAddr::V4(SERVER_V4)],
                &"10000-12999".parse().unwrap(),
                &ScanOptions::default(),
            )
        })
        .unwrap()
        .unwrap();
    assert_eq!(open_ports(&report), ports_of(&listeners));
}

#[test]
fn a_rate_spaces_the_connects_out() {
    let ports: PortSet = "1-60".parse().unwrap();
    let options = ScanOptions {
        rate: Some(200),
        ..ScanOptions::default()
    };
    let report = scan(&[IpAddr::V4(Ipv4Addr::LOCALHOST)], &ports, &options).unwrap();
    // 60 connects at 200 a second cannot take less than about 0.3 s (a lower bound, so a busy
    // machine cannot make it fail).
    assert!(
        report.elapsed >= Duration::from_millis(250),
        "{:?}",
        report.elapsed
    );
    assert_eq!(report.hosts[0].ports.len(), 60);
}
