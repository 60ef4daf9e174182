//! `refused why` where an address is this host's, or not, by something other than an interface
//! holding it: a `local` route ("any IP"), `ip_nonlocal_bind`, a listener whose address went away.

use std::net::{IpAddr, SocketAddr};

use refused_lab::{Lab, SERVER_V4, SERVER_V6};

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
    for target in ["[fd00:77:9::5]:22803", "10.77.9.5:22803"] {
        let report = why(&lab, &[target]);
        assert_eq!(cause(&report), "no-listener", "{report}");
    }
}

/// A program bound to an address that then left this host (`ip addr del`: a DHCP lease renewed
/// with another one, a VPN gone down), and one bound with `ip_nonlocal_bind` to an address that
/// is not here (a virtual address another host holds): their listeners stay in the table. The
/// fix was "connect to 10.77.0.11:22804 instead", which nothing reaches; it is to bind again.
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
}
