//! `refused why` to a port Docker publishes on one address, one family or for UDP alone, as
//! Debian's real `docker-proxy` holds it: run alone in the lab's server, which plays the
//! Docker host, in front of a namespace that plays the container. The fix is the publishing
//! (`-p 8080:80`), never a bind setting of docker-proxy's.

use std::net::{Ipv4Addr, SocketAddr};

use refused_lab::{Lab, Netns, Tool};

use crate::why_held_path_lab::listen_in;
use crate::why_lab::{REFUSED, cause, diagnosis, evidence, first_evidence, why};

/// The server as a Docker host, at 10.251.`n`.1 on a link to a namespace that plays the
/// container, at 10.251.`n`.2, whose program listens on 80 as it should; the client routes the
/// host's address to the server. (Each test its own `n`: the address is then held by one
/// namespace of the machine alone.) Returns the container, its address and the host's.
fn docker_host(lab: &Lab, letter: char, n: u8) -> (Netns, Ipv4Addr, Ipv4Addr) {
    let (host, inside) = (Ipv4Addr::new(10, 251, n, 1), Ipv4Addr::new(10, 251, n, 2));
    let container = lab.another(letter).unwrap();
    let link = format!("{letter}0");
    lab.server.veth(&link, &container, "eth0").unwrap();
    lab.server
        .ip(&["addr", "add", &format!("{host}/24"), "dev", &link])
        .unwrap();
    lab.server.ip(&["link", "set", &link, "up"]).unwrap();
    container
        .ip(&["addr", "add", &format!("{inside}/24"), "dev", "eth0"])
        .unwrap();
    container.ip(&["link", "set", "eth0", "up"]).unwrap();
    lab.client
        .ip(&["route", "add", &format!("{host}/32"), "dev", "eth0"])
        .unwrap();
    (container, inside, host)
}

/// Debian's `docker-proxy` in the server, as Docker starts it for `-p HOST_IP:PORT:80[/udp]`;
/// returns once it has bound its port.
fn docker_proxy(lab: &Lab, proto: &str, host_ip: &str, port: u16, inside: Ipv4Addr) {
    // Docker hands it a pipe as fd 3 to say it started; without one, the fd it writes to and
    // closes is its own socket's.
    let proxy = format!(
        "exec docker-proxy -proto {proto} -host-ip {host_ip} -host-port {port} -container-ip {inside} -container-port 80 3>/dev/null"
    );
    lab.server.spawn("sh", &["-c", &proxy]).unwrap();
    let ip: std::net::IpAddr = host_ip.parse().unwrap();
    let bound = || match proto {
        "udp" => std::net::UdpSocket::bind((ip, port)).is_err(),
        _ => std::net::TcpListener::bind((ip, port)).is_err(),
    };
    for _ in 0..100 {
        if lab.server.run(bound).unwrap() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("docker-proxy did not bind {proto} {host_ip} port {port}");
}

/// `refused why --json` in the server, the Docker host itself.
fn why_on_the_host(lab: &Lab, target: &str) -> serde_json::Value {
    diagnosis(lab.server.command(REFUSED), &["--timeout", "10s", target])
}

/// No suggestion aims a bind, `--host` or `IPV6_V6ONLY` setting at docker-proxy.
fn no_bind_fix(report: &serde_json::Value) {
    let fixes = report["suggestions"].to_string();
    for bad in ["--host", "--bind", "IPV6_V6ONLY", "listen on", "bind it"] {
        assert!(!fixes.contains(bad), "{bad}: {report}");
    }
}

/// `docker run -p 127.0.0.1:46590:80`: asked at the Docker host's other address, from another
/// host and from the host itself, the cause is the address, and the fix is the publishing
/// (`-p 46590:80`), not "make the program listen on 0.0.0.0" aimed at docker-proxy. Port 46590
/// is this test's.
#[test]
fn a_port_docker_publishes_on_loopback_alone_is_fixed_by_its_publishing() {
    let test = "a_port_docker_publishes_on_loopback_alone_is_fixed_by_its_publishing";
    let Some(lab) = Lab::or_skip_needing(test, &[Tool::DockerProxy]) else {
        return;
    };
    let (container, inside, host) = docker_host(&lab, 'p', 11);
    let _program = listen_in(
        &container,
        SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 80),
    );
    docker_proxy(&lab, "tcp", "127.0.0.1", 46_590, inside);
    let target = format!("{host}:46590");
    let publish = "publish it where it is asked: re-create the container with `-p 46590:80` (every address, both families) in place of `-p 127.0.0.1:46590:80` (compose: `ports: [\"46590:80\"]`)";

    let report = why(&lab, &[&target]);
    assert_eq!(cause(&report), "listening-on-other-address", "{report}");
    assert!(
        report["summary"].as_str().unwrap().contains(
            "Docker publishes the container's port 80 on 127.0.0.1 alone (`-p 127.0.0.1:46590:80`)"
        ),
        "{report}"
    );
    let fixes = report["suggestions"].as_array().unwrap();
    assert_eq!(fixes.len(), 1, "{report}");
    assert!(fixes[0].as_str().unwrap().starts_with(publish), "{report}");
    let published = first_evidence(&report, "container-port");
    assert_eq!(published["runtime"], "docker", "{report}");
    assert_eq!(published["process"], "docker-proxy", "{report}");
    assert_eq!(published["container_port"], 80, "{report}");
    assert_eq!(published["address"], "127.0.0.1", "{report}");
    no_bind_fix(&report);

    let report = why_on_the_host(&lab, &target);
    assert_eq!(cause(&report), "listening-on-other-address", "{report}");
    assert_eq!(
        report["suggestions"][0], "connect to 127.0.0.1:46590 instead",
        "{report}"
    );
    assert!(
        report["suggestions"][1]
            .as_str()
            .unwrap()
            .starts_with(&format!("or {publish}")),
        "{report}"
    );
    no_bind_fix(&report);
    drop(container);
}

/// `docker run -p '[::]:46591:80'`: docker-proxy on `::` with `IPV6_V6ONLY`. Asked over IPv4 from
/// another host, the cause is the family (not the address), and on the host itself the fix
/// is `-p 46591:80`, not `IPV6_V6ONLY` turned off on docker-proxy's socket. Port 46591 is this
/// test's.
#[test]
fn a_port_docker_publishes_on_ipv6_alone_is_fixed_by_its_publishing() {
    let test = "a_port_docker_publishes_on_ipv6_alone_is_fixed_by_its_publishing";
    let Some(lab) = Lab::or_skip_needing(test, &[Tool::DockerProxy]) else {
        return;
    };
    let (container, inside, host) = docker_host(&lab, 'q', 12);
    let _program = listen_in(
        &container,
        SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 80),
    );
    docker_proxy(&lab, "tcp", "::", 46_591, inside);
    let publish = "publish it where it is asked: re-create the container with `-p 46591:80` (every address, both families) in place of `-p '[::]:46591:80'` (compose: `ports: [\"46591:80\"]`)";

    let report = why(&lab, &[&format!("{host}:46591")]);
    assert_eq!(cause(&report), "listening-on-other-family", "{report}");
    assert_eq!(report["suggestions"][0], publish, "{report}");
    assert_eq!(evidence(&report, "container-port").len(), 1, "{report}");
    no_bind_fix(&report);

    let report = why_on_the_host(&lab, "127.0.0.1:46591");
    assert_eq!(cause(&report), "listening-on-other-family", "{report}");
    assert_eq!(
        report["suggestions"][0], "connect to [::1]:46591 instead",
        "{report}"
    );
    assert_eq!(
        report["suggestions"][1],
        format!("or {publish}"),
        "{report}"
    );
    no_bind_fix(&report);
    drop(container);
}

/// `docker run -p 46592:80/udp`, asked over TCP on the host, beside another container's TCP
/// port next to it (46593): the port is published for UDP only, not "connect to 46593
/// instead". Ports 46592 and 46593 are this test's.
#[test]
fn a_port_docker_publishes_for_udp_alone_is_said_so() {
    let test = "a_port_docker_publishes_for_udp_alone_is_said_so";
    let Some(lab) = Lab::or_skip_needing(test, &[Tool::DockerProxy]) else {
        return;
    };
    let (container, inside, _) = docker_host(&lab, 'u', 13);
    docker_proxy(&lab, "udp", "0.0.0.0", 46_592, inside);
    docker_proxy(&lab, "tcp", "0.0.0.0", 46_593, inside);

    let report = why_on_the_host(&lab, "127.0.0.1:46592");
    assert_eq!(cause(&report), "no-listener", "{report}");
    assert_eq!(
        report["summary"],
        "nothing listens on TCP port 46592 on this host (127.0.0.1 is local): Docker publishes it for UDP only (the container, `-p 46592:80/udp`)",
        "{report}"
    );
    assert_eq!(
        report["suggestions"][0],
        "publish it for TCP too: re-create the container with `-p 46592:80` (TCP) beside `-p 46592:80/udp` (compose: `ports: [\"46592:80\", \"46592:80/udp\"]`)",
        "{report}"
    );
    let published = first_evidence(&report, "container-port");
    assert_eq!(published["protocol"], "udp", "{report}");
    assert_eq!(published["process"], "docker-proxy", "{report}");
    drop(container);
}
