//! `refused why` where an address is this host's, or not, by something other than an interface
//! holding it: a `local` route ("any IP"), `ip_nonlocal_bind`, a listener whose address went away.

use std::net::{IpAddr, SocketAddr};

use refused_lab::{Lab, ListenSpec, SERVER_V4, SERVER_V6, Tool, UNUSED_V4};

use crate::why_lab::{cause, evidence, listen_on_client, why, why_alone};

/// A keepalived or HAProxy host sets `ip_nonlocal_bind` so that a program can bind the virtual
/// address before it moves here. A bind then succeeds for any address, and `refused` took that
/// as "this address is ours": the server's refusal was `no-listener` "on this host", sending
/// the person to start a program here. It is the remote host's reset: `closed`.
#[test]
fn nonlocal_bind_does_not_make_a_remote_address_ours() {
    let Some(lab) = Lab::or_skip("nonlocal_bind_does_not_make_a_remote_address_ours") else {
        return;
    };
    lab.client.sysctl("net.ipv4.ip_nonlocal_bind", "1").unwrap();
    lab.client.sysctl("net.ipv6.ip_nonlocal_bind", "1").unwrap();
    for ip in [IpAddr::from(SERVER_V4), IpAddr::from(SERVER_V6)] {
        let target = SocketAddr::new(ip, 22_801).to_string();
        let report = why_alone(&lab, &[&target]);
        assert_eq!(cause(&report), "closed", "{report}");
        assert!(evidence(&report, "local-address").is_empty(), "{report}");
    }
}

/// `ip -6 route add local fd00:77:9::/64 dev lo` makes every address of the prefix this host's
/// ("any IP": a listener on `::` answers there), yet no socket can bind one without
/// `IP_FREEBIND`, so a bind said "not ours", and the refusal was a remote host's `closed`.
/// Its listeners explain it, as for any address of this host; IPv4's `local` routes too.
#[test]
fn the_addresses_of_a_local_route_are_this_hosts() {
    let Some(lab) = Lab::or_skip("the_addresses_of_a_local_route_are_this_hosts") else {
        return;
    };
    lab.client
        .ip(&["route", "add", "local", "10.77.9.0/24", "dev", "lo"])
        .unwrap();
    lab.client
        .ip(&["-6", "route", "add", "local", "fd00:77:9::/64", "dev", "lo"])
        .unwrap();
    let _loopback_v6 = listen_on_client(&lab, "[::1]:22802".parse().unwrap());
    let _loopback_v4 = listen_on_client(&lab, "127.0.0.1:22802".parse().unwrap());
    for target in ["[fd00:77:9::5]:22802", "10.77.9.5:22802"] {
        let report = why(&lab, &[target]);
        assert_eq!(cause(&report), "listening-on-other-address", "{report}");
        assert_eq!(evidence(&report, "local-address").len(), 1, "{report}");
    }
    // An IPv4-mapped address is the IPv4 one on the wire: this host's too.
    for target in [
        "[fd00:77:9::5]:22803",
        "10.77.9.5:22803",
        "[::ffff:10.77.9.5]:22803",
    ] {
        let report = why(&lab, &[target]);
        assert_eq!(cause(&report), "no-listener", "{report}");
    }
}

/// A program bound to an address that then left this host (`ip addr del`: a DHCP lease renewed
/// with another one, a VPN gone down), and one bound with `ip_nonlocal_bind` to an address that
/// is not here (a virtual address another host holds): their listeners stay in the table. The
/// fix was "connect to 10.77.0.11:22804 instead", which nothing reaches; it is to bind again.
/// Asked at the address that left, the listener was not mentioned; it is a warning.
#[test]
fn a_listener_on_an_address_this_host_does_not_have_is_named_as_such() {
    let Some(lab) =
        Lab::or_skip("a_listener_on_an_address_this_host_does_not_have_is_named_as_such")
    else {
        return;
    };
    lab.client
        .ip(&["addr", "add", "10.77.0.11/24", "dev", "eth0"])
        .unwrap();
    let _removed = listen_on_client(&lab, "10.77.0.11:22804".parse().unwrap());
    lab.client
        .ip(&["addr", "del", "10.77.0.11/24", "dev", "eth0"])
        .unwrap();
    lab.client.sysctl("net.ipv4.ip_nonlocal_bind", "1").unwrap();
    let _not_yet = listen_on_client(&lab, "10.77.0.77:22805".parse().unwrap());
    for (target, gone) in [
        ("10.77.0.1:22804", "10.77.0.11"),
        ("127.0.0.1:22805", "10.77.0.77"),
    ] {
        let report = why(&lab, &[target]);
        assert_eq!(cause(&report), "listening-on-other-address", "{report}");
        let summary = report["summary"].as_str().unwrap();
        assert!(
            summary.contains(&format!("{gone}, an address no interface of this host has")),
            "{report}"
        );
        let fixes = report["suggestions"].to_string();
        assert!(!fixes.contains(&format!("connect to {gone}")), "{report}");
        assert!(fixes.contains("restart"), "{report}");
    }
    // Asked at the address that left: the connection goes out on the link, and nobody has it
    // there. The listener a person sees in `ss` is warned of, as out of reach.
    let report = why(&lab, &["--timeout", "2s", "10.77.0.11:22804"]);
    assert_ne!(cause(&report), "no-listener", "{report}");
    assert!(
        report["warnings"].to_string().contains(
            "listens on 10.77.0.11:22804 on this host, but no interface of this host has 10.77.0.11"
        ),
        "{report}"
    );
}

/// Turns duplicate address detection on for the client's link (the lab turns it off), with
/// `transmits` probes `retrans_ms` apart and no random delay before the first.
fn with_dad(lab: &Lab, transmits: &str, retrans_ms: &str) {
    let c = &lab.client;
    c.sysctl("net.ipv6.conf.eth0.accept_dad", "1").unwrap();
    c.sysctl("net.ipv6.conf.eth0.dad_transmits", transmits)
        .unwrap();
    c.sysctl("net.ipv6.conf.eth0.router_solicitation_delay", "0")
        .unwrap();
    c.sysctl("net.ipv6.neigh.eth0.retrans_time_ms", retrans_ms)
        .unwrap();
}

/// An IPv6 address just added is tentative while duplicate address detection runs: the kernel
/// does not count it as its own, so the connect leaves the host and nobody answers. It was
/// `blocked-locally` "this host's firewall drops it" (there is no rule: the address had become
/// local by the time the host was read), or a remote host's `host-unreachable`; it is named.
#[test]
fn a_tentative_ipv6_address_is_named() {
    let Some(lab) = Lab::or_skip("a_tentative_ipv6_address_is_named") else {
        return;
    };
    // Five probes a second apart: tentative for five seconds.
    with_dad(&lab, "5", "1000");
    lab.client
        .ip(&["-6", "addr", "add", "fd00:77::50/64", "dev", "eth0"])
        .unwrap();
    let report = why(&lab, &["--timeout", "1s", "[fd00:77::50]:22806"]);
    assert_eq!(cause(&report), "host-unreachable", "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(summary.contains("still tentative"), "{report}");
    assert!(
        report["suggestions"].to_string().contains("nodad"),
        "{report}"
    );
}

/// The same address, whose detection ended while the connect waited: by the time the host is
/// read it is local, and no rule drops anything. A timeout was `blocked-locally` "this host's
/// firewall drops it" (it has no rule); it is `filtered`, saying that no rule drops it and that
/// an address added just now takes no connection at first. A neighbour discovery that failed
/// within the attempt (three probes 0.6 s apart) was `rejected` "a firewall on
/// `fd00:77::51` rejects it on purpose", of this host's own address; it is `host-unreachable`,
/// saying that the address was not yet this host's.
#[test]
fn a_local_address_that_failed_as_a_remote_one_does_not_blame_a_firewall() {
    let Some(lab) =
        Lab::or_skip("a_local_address_that_failed_as_a_remote_one_does_not_blame_a_firewall")
    else {
        return;
    };
    // One probe, 0.6 s (room for `refused` to start and connect before it ends, on a busy
    // machine): local well before the attempt's end, 1.6 s. Neighbour discovery for it, the
    // connect's, asks ten times: no error within the attempt.
    with_dad(&lab, "1", "600");
    lab.client
        .sysctl("net.ipv6.neigh.eth0.mcast_solicit", "10")
        .unwrap();
    lab.client
        .ip(&["-6", "addr", "add", "fd00:77::51/64", "dev", "eth0"])
        .unwrap();
    let report = why(&lab, &["--timeout", "2s", "[fd00:77::51]:22807"]);
    assert_eq!(cause(&report), "filtered", "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(
        summary.contains("no rule of this host's firewall drops it"),
        "{report}"
    );
    assert_eq!(evidence(&report, "local-address").len(), 1, "{report}");
    assert!(
        report["suggestions"]
            .to_string()
            .contains("added to this host just now"),
        "{report}"
    );

    // Three probes: neighbour discovery fails in 1.8 s, within the attempt's 2.4 s.
    lab.client
        .sysctl("net.ipv6.neigh.eth0.mcast_solicit", "3")
        .unwrap();
    lab.client
        .ip(&["-6", "addr", "add", "fd00:77::52/64", "dev", "eth0"])
        .unwrap();
    let report = why(&lab, &["--timeout", "3s", "[fd00:77::52]:22807"]);
    assert_eq!(cause(&report), "host-unreachable", "{report}");
    assert_eq!(report["attempts"][0]["outcome"], "host-unreachable");
    let summary = report["summary"].as_str().unwrap();
    assert!(
        summary.contains("this host's own address now, but was not"),
        "{report}"
    );
}

/// The client given the server's own address: its duplicate address detection fails
/// (`dadfailed`), and from then on it ignores the server's neighbour advertisements for that
/// address, so it cannot reach the server at all. It was "nobody on the local network has it";
/// it is this host's failed copy, with the `ip addr del` that removes it.
#[test]
fn an_address_that_failed_duplicate_detection_is_named() {
    let Some(lab) = Lab::or_skip("an_address_that_failed_duplicate_detection_is_named") else {
        return;
    };
    with_dad(&lab, "1", "200");
    let copy = format!("{SERVER_V6}/64");
    lab.client
        .ip(&["-6", "addr", "add", &copy, "dev", "eth0"])
        .unwrap();
    let failed = (0..50).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let shown = lab
            .client
            .exec("ip", &["-6", "addr", "show", "dev", "eth0"])
            .unwrap();
        String::from_utf8_lossy(&shown.stdout).contains("dadfailed")
    });
    assert!(failed, "the client's copy never failed detection");
    lab.client
        .ip(&["-6", "neigh", "flush", "dev", "eth0"])
        .unwrap();
    let target = SocketAddr::new(SERVER_V6.into(), 22_808).to_string();
    let report = why_alone(&lab, &["--timeout", "2s", &target]);
    assert_eq!(cause(&report), "host-unreachable", "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(
        summary.contains("duplicate address detection failed"),
        "{report}"
    );
    assert!(
        report["suggestions"]
            .to_string()
            .contains(&format!("ip -6 addr del {copy} dev eth0")),
        "{report}"
    );
}

/// `ip route add 10.77.0.2/32 dev lo`, typed for "any IP" without `local`: the packets to the
/// server go out on `lo`, come back in, are not for this host, and are dropped. It was
/// `filtered` "a firewall drops the packets, or the path is broken" (IPv4) and `rejected` "a
/// router or the host answered network unreachable" (IPv6, whose connect fails at once, from
/// this host itself); it is this host's route, named, with the fixes both ways.
#[test]
fn a_plain_route_through_loopback_is_named() {
    let Some(lab) = Lab::or_skip("a_plain_route_through_loopback_is_named") else {
        return;
    };
    let _open = lab
        .server
        .run(|| ListenSpec::new(SocketAddr::new(SERVER_V6.into(), 22_809)).listen())
        .unwrap()
        .unwrap();
    for (ip, six, route) in [
        (IpAddr::from(SERVER_V4), "", format!("{SERVER_V4} dev lo")),
        (
            IpAddr::from(SERVER_V6),
            " -6",
            format!("{SERVER_V6} dev lo"),
        ),
    ] {
        let prefix = if ip.is_ipv4() { "/32" } else { "/128" };
        let add = format!("{ip}{prefix}");
        let family = if ip.is_ipv4() { "-4" } else { "-6" };
        lab.client
            .ip(&[family, "route", "add", &add, "dev", "lo"])
            .unwrap();
        let target = SocketAddr::new(ip, 22_809).to_string();
        let report = why_alone(&lab, &["--timeout", "2s", &target]);
        assert_eq!(cause(&report), "network-unreachable", "{report}");
        let summary = report["summary"].as_str().unwrap();
        assert!(
            summary.contains(&format!("through its loopback interface (`{route}`)")),
            "{report}"
        );
        let fixes = report["suggestions"].to_string();
        assert!(
            fixes.contains(&format!("ip{six} route add local {route}")),
            "{report}"
        );
        assert!(
            fixes.contains(&format!("ip{six} route del {route}")),
            "{report}"
        );
    }
}

/// A route whose `src` is an address the server has no route back to (the client's loopback
/// address, the server without a default route): the SYN arrives, the reply is never sent. It
/// was a bare `filtered` "a firewall drops the packets"; the cause stays (nothing here proves
/// more), with a warning naming the source address off the link.
#[test]
fn a_source_address_off_the_link_is_warned_of() {
    let Some(lab) = Lab::or_skip("a_source_address_off_the_link_is_warned_of") else {
        return;
    };
    let _open = lab
        .server
        .run(|| ListenSpec::new(SocketAddr::new(SERVER_V4.into(), 22_811)).listen())
        .unwrap()
        .unwrap();
    let target = SocketAddr::new(SERVER_V4.into(), 22_811).to_string();
    lab.client
        .ip(&["addr", "add", "10.77.7.1/32", "dev", "lo"])
        .unwrap();
    lab.client
        .ip(&[
            "route",
            "add",
            &format!("{SERVER_V4}/32"),
            "dev",
            "eth0",
            "src",
            "10.77.7.1",
        ])
        .unwrap();
    let report = why_alone(&lab, &["--timeout", "2s", &target]);
    assert_eq!(cause(&report), "filtered", "{report}");
    assert!(
        report["warnings"]
            .to_string()
            .contains("from 10.77.7.1, which is not on eth0's network"),
        "{report}"
    );
    // From its own link's address, it connects, and nothing is warned of.
    lab.client
        .ip(&["route", "del", &format!("{SERVER_V4}/32")])
        .unwrap();
    let report = why_alone(&lab, &[&target]);
    assert_eq!(cause(&report), "reachable", "{report}");
    assert_eq!(report["warnings"], serde_json::json!([]), "{report}");
}

/// An IPv4-mapped address (`[::ffff:10.77.0.2]:22812`, as a dual-stack server's log writes a
/// client) is IPv4 on the wire, but this host's routes, neighbours and rules were asked about
/// the IPv6 form: a rule of this host that drops it was not seen (`filtered`, "check the firewall
/// of `::ffff:10.77.0.2`"), nor the neighbour that never answered. They are asked about the IPv4
/// address now.
#[test]
fn an_ipv4_mapped_address_is_explained_as_the_ipv4_one() {
    let Some(lab) = Lab::or_skip_needing(
        "an_ipv4_mapped_address_is_explained_as_the_ipv4_one",
        &[Tool::Nft],
    ) else {
        return;
    };
    lab.client
        .filter(
            "output",
            &[&format!("ip daddr {SERVER_V4} tcp dport 22812 drop")],
        )
        .unwrap();
    let report = why_alone(
        &lab,
        &["--timeout", "2s", &format!("[::ffff:{SERVER_V4}]:22812")],
    );
    assert_eq!(cause(&report), "blocked-locally", "{report}");
    assert_eq!(evidence(&report, "firewall-rule").len(), 1, "{report}");

    let report = why_alone(
        &lab,
        &["--timeout", "2s", &format!("[::ffff:{UNUSED_V4}]:22812")],
    );
    assert_eq!(cause(&report), "host-unreachable", "{report}");
    assert!(
        report["summary"]
            .as_str()
            .unwrap()
            .contains(&format!("nobody on the local network has {UNUSED_V4}")),
        "{report}"
    );
}

/// A `throw` route in the main table over part of the link's network: the lookup ends there,
/// no table after it has a route, and the connect fails as with none. It was "this host has no
/// route to 10.77.0.2 ... add one", while the link's route is right there; it names the throw
/// route, with its `ip route del`.
#[test]
fn a_throw_route_that_hides_a_route_is_named() {
    let Some(lab) = Lab::or_skip("a_throw_route_that_hides_a_route_is_named") else {
        return;
    };
    for (ip, six, thrown) in [
        (IpAddr::from(SERVER_V4), "", "10.77.0.0/28"),
        (IpAddr::from(SERVER_V6), " -6", "fd00:77::/120"),
    ] {
        let family = if ip.is_ipv4() { "-4" } else { "-6" };
        lab.client
            .ip(&[family, "route", "add", "throw", thrown])
            .unwrap();
        let target = SocketAddr::new(ip, 22_813).to_string();
        let report = why_alone(&lab, &["--timeout", "2s", &target]);
        assert_eq!(cause(&report), "network-unreachable", "{report}");
        let summary = report["summary"].as_str().unwrap();
        assert!(
            summary.contains(&format!("route `throw {thrown}`")),
            "{report}"
        );
        assert!(
            report["suggestions"]
                .to_string()
                .contains(&format!("ip{six} route del throw {thrown}")),
            "{report}"
        );
    }
}
