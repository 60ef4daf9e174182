//! The rule for a port that a program receives on over UDP while nothing listens for TCP: a
//! service that speaks UDP (DNS, syslog on 514, statsd on 8125, `WireGuard`, QUIC), asked with a
//! TCP client. The cause stays `no-listener`, but starting the service is not the fix: it
//! runs, and a TCP connect never reaches a UDP socket.

use std::net::IpAddr;

use super::cause::Cause;
use super::evidence::{Evidence, HeldListener};
use super::facts::Facts;
use super::rules::Finding;

/// `no-listener` on `ip`:`port`, said with the program that receives UDP there; `None` when no
/// UDP socket has the port. One bound to `ip` itself, or to every address, is named first.
pub(super) fn udp_only(facts: &Facts, ip: IpAddr, port: u16) -> Option<Finding> {
    let mut on_port: Vec<&HeldListener> = facts
        .udp_receivers
        .iter()
        .filter(|u| u.listener.port == port)
        .collect();
    on_port.sort_by_key(|u| !u.listener.holds(ip));
    let first = on_port.first()?;
    let process = first
        .process
        .clone()
        .unwrap_or_else(|| "the program".to_owned());
    let (host, at) = if first.listener.address == ip {
        (ip.to_string(), String::new())
    } else if first.listener.holds(ip) {
        (ip.to_string(), format!(" ({ip} included)"))
    } else {
        (first.listener.address.to_string(), format!(" (not {ip})"))
    };
    Some(
        Finding::new(
            Cause::NoListener,
            format!(
                "nothing listens for TCP on port {port} on this host ({ip} is local), but {} receives UDP on {}{at}: a TCP connect never reaches a UDP socket",
                first.owner(),
                first.endpoint()
            ),
        )
        .evidence(on_port.iter().map(|u| Evidence::UdpSocket((*u).clone())))
        .evidence([Evidence::LocalAddress { address: ip }])
        .suggest(format!(
            "if {process} speaks UDP (DNS, syslog, statsd, WireGuard, QUIC do), use its client's UDP mode: `nc -u {host} {port}`, `dig @{host} -p {port}` for DNS; UDP has no connection to check, only an answer"
        ))
        .suggest(format!(
            "if it should take TCP too, turn TCP on in its configuration: `ss -lunp` and `ss -ltnp` list its UDP and TCP sockets on port {port}"
        )),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::evidence::Listener;

    fn udp(address: &str, port: u16, process: &str) -> HeldListener {
        HeldListener {
            listener: Listener {
                address: address.parse().unwrap(),
                port,
                v6only: address.contains(':').then_some(false),
                queue: 0,
                backlog: None,
                uid: 0,
                inode: 7,
                device: None,
            },
            pid: Some(812),
            process: Some(process.to_owned()),
            container: None,
            stopped: None,
            netns: None,
            netns_pid: None,
            service_unit: None,
        }
    }

    #[test]
    fn a_wildcard_takes_its_family_and_ipv6s_takes_ipv4_too() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(udp("0.0.0.0", 8125, "statsd").listener.holds(lo));
        assert!(udp("127.0.0.1", 8125, "statsd").listener.holds(lo));
        assert!(!udp("127.0.0.53", 53, "systemd-resolve").listener.holds(lo));
        assert!(udp("::", 514, "rsyslogd").listener.holds(lo));
        assert!(
            !udp("0.0.0.0", 514, "rsyslogd")
                .listener
                .holds("::1".parse().unwrap())
        );
    }
}
