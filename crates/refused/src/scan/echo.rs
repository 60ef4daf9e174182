//! One ICMP echo to each remote host as its scan starts: the reply's round trip seeds the host's
//! timeout estimate. A host whose every port is dropped answers no probe at all, so without it
//! every probe would wait the full ceiling; nmap's host discovery does the same (the ping's
//! timing carries into its port scan).
//!
//! A ping socket (`SOCK_DGRAM`, unprivileged where `net.ipv4.ping_group_range` allows), else a
//! raw one (`CAP_NET_RAW`), else nothing: the estimate then waits for the ports' own answers. A
//! host that does not answer the echo learns nothing from it, and loses nothing.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};
use socket2::{Domain, Protocol, Socket, Type};

use super::timing::Timing;

const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REPLY_V4: u8 = 0;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;
/// The longest the thread waits on epoll before looking whether the scan is over.
const STOP_CHECK: Duration = Duration::from_millis(50);

/// An echo socket of one family.
struct EchoSocket {
    socket: mio::net::UdpSocket,
    /// A raw socket: it hands over every ICMP packet (IPv4 ones with their IP header), not only
    /// the replies to its own requests.
    raw: bool,
    v6: bool,
}

impl EchoSocket {
    fn open(v6: bool) -> Option<Self> {
        let (domain, protocol) = if v6 {
            (Domain::IPV6, Protocol::ICMPV6)
        } else {
            (Domain::IPV4, Protocol::ICMPV4)
        };
        let (socket, raw) = match Socket::new(domain, Type::DGRAM, Some(protocol)) {
            Ok(socket) => (socket, false),
            Err(_) => (Socket::new(domain, Type::RAW, Some(protocol)).ok()?, true),
        };
        socket.set_nonblocking(true).ok()?;
        Some(Self {
            socket: mio::net::UdpSocket::from_std(socket.into()),
            raw,
            v6,
        })
    }

    fn send(&self, to: IpAddr, ident: u16, sequence: u16) -> io::Result<usize> {
        let kind = if self.v6 {
            ECHO_REQUEST_V6
        } else {
            ECHO_REQUEST_V4
        };
        // A ping socket sets the identifier itself; the kernel sums ICMPv6 (and a ping socket's
        // ICMP); a raw IPv4 socket needs the sum.
        self.socket
            .send_to(&request(kind, ident, sequence), SocketAddr::new(to, 0))
    }

    /// The next echo reply: from whom, and its identifier and sequence number.
    fn receive(&self, buf: &mut [u8]) -> io::Result<Option<(IpAddr, u16, u16)>> {
        let (len, from) = self.socket.recv_from(buf)?;
        let mut packet = &buf[..len];
        if self.raw && !self.v6 {
            // A raw IPv4 socket reads the IP header too: its length is in the first byte.
            let header = usize::from(packet.first().map_or(0, |b| b & 0x0f)) * 4;
            packet = packet.get(header..).unwrap_or_default();
        }
        let reply = if self.v6 {
            ECHO_REPLY_V6
        } else {
            ECHO_REPLY_V4
        };
        Ok(parse_reply(packet, reply).map(|(ident, sequence)| (from.ip(), ident, sequence)))
    }
}

/// An echo request without payload: type, code 0, checksum, identifier, sequence number.
fn request(kind: u8, ident: u16, sequence: u16) -> [u8; 8] {
    let mut packet = [0u8; 8];
    packet[0] = kind;
    packet[4..6].copy_from_slice(&ident.to_be_bytes());
    packet[6..8].copy_from_slice(&sequence.to_be_bytes());
    let sum = checksum(&packet);
    packet[2..4].copy_from_slice(&sum.to_be_bytes());
    packet
}

/// The Internet checksum (RFC 1071).
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|pair| u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !u16::try_from(sum).unwrap_or(u16::MAX)
}

/// An echo reply's identifier and sequence number; `None` for any other ICMP message.
fn parse_reply(packet: &[u8], reply: u8) -> Option<(u16, u16)> {
    match packet {
        [kind, 0, _, _, i0, i1, s0, s1, ..] if *kind == reply => Some((
            u16::from_be_bytes([*i0, *i1]),
            u16::from_be_bytes([*s0, *s1]),
        )),
        _ => None,
    }
}

/// Sends an echo request to each host of `remote` (indices into `hosts`, fewer than 65,536: the
/// index is the sequence number) and hands each first reply's round trip to `timing`, until
/// every host answered, `wait` has passed since the last request, or `stop` is set.
pub(super) fn seed(
    hosts: &[IpAddr],
    remote: &[usize],
    timing: &Timing,
    wait: Duration,
    stop: &AtomicBool,
) {
    // Errors only mean no seed: the scan goes on with the ports' own answers.
    let _ = try_seed(hosts, remote, timing, wait, stop);
}

fn try_seed(
    hosts: &[IpAddr],
    remote: &[usize],
    timing: &Timing,
    wait: Duration,
    stop: &AtomicBool,
) -> io::Result<()> {
    let mut sockets: [Option<EchoSocket>; 2] = [None, None];
    for (slot, v6) in [(0, false), (1, true)] {
        if remote.iter().any(|h| hosts[*h].is_ipv6() == v6) {
            sockets[slot] = EchoSocket::open(v6);
        }
    }
    let poll = Poll::new()?;
    for (slot, socket) in sockets.iter_mut().enumerate() {
        if let Some(socket) = socket {
            poll.registry()
                .register(&mut socket.socket, Token(slot), Interest::READABLE)?;
        }
    }
    // Tells this scan's replies from another pinger's on a raw socket.
    let ident = u16::try_from(std::process::id() & 0xffff).unwrap_or_default() ^ 0x5a5a;
    let mut sent: Vec<Option<Instant>> = vec![None; hosts.len()];
    let mut waiting = 0_usize;
    for &host in remote {
        let Some(socket) = &sockets[usize::from(hosts[host].is_ipv6())] else {
            continue;
        };
        let Ok(sequence) = u16::try_from(host) else {
            continue;
        };
        let at = Instant::now();
        if socket.send(hosts[host], ident, sequence).is_ok() {
            sent[host] = Some(at);
            waiting += 1;
        }
    }
    let until = Instant::now() + wait;
    let mut poll = poll;
    let mut events = Events::with_capacity(64);
    let mut buf = [0u8; 1500];
    while waiting > 0 && !stop.load(Ordering::Relaxed) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match poll.poll(&mut events, Some(left.min(STOP_CHECK))) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        }
        for event in &events {
            let Some(socket) = &sockets[event.token().0] else {
                continue;
            };
            // Edge-triggered: read until the socket is empty.
            loop {
                let (from, their_ident, sequence) = match socket.receive(&mut buf) {
                    Ok(Some(reply)) => reply,
                    Ok(None) => continue,
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                };
                let now = Instant::now();
                let host = usize::from(sequence);
                // A ping socket's replies are its own (the kernel matched its identifier).
                let ours = !socket.raw || their_ident == ident;
                if ours && hosts.get(host) == Some(&from) {
                    if let Some(at) = sent[host].take() {
                        timing.record(&[(host, now - at)]);
                        waiting -= 1;
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn a_request_carries_its_identifier_and_sequence_and_sums_to_zero() {
        let packet = request(ECHO_REQUEST_V4, 0x1234, 7);
        assert_eq!(packet[0], 8);
        assert_eq!(&packet[4..8], &[0x12, 0x34, 0, 7]);
        // The sum over a packet with its checksum in place is 0 (RFC 1071).
        assert_eq!(checksum(&packet), 0);
        assert_eq!(checksum(&[0x45, 0x00, 0x00, 0x1c]), !0x451c);
    }

    #[test]
    fn only_echo_replies_are_read() {
        assert_eq!(
            parse_reply(&[0, 0, 0xab, 0xcd, 0x12, 0x34, 0, 9], ECHO_REPLY_V4),
            Some((0x1234, 9))
        );
        // An echo request (our own, seen by a raw socket), an unreachable, a short packet.
        assert_eq!(parse_reply(&request(8, 1, 2), ECHO_REPLY_V4), None);
        assert_eq!(parse_reply(&[3, 3, 0, 0, 0, 0, 0, 0], ECHO_REPLY_V4), None);
        assert_eq!(parse_reply(&[0, 0, 0], ECHO_REPLY_V4), None);
        assert_eq!(
            parse_reply(&[129, 0, 0, 0, 0, 1, 0, 2], ECHO_REPLY_V6),
            Some((1, 2))
        );
    }

    /// Loopback answers echo: the round trip reaches the host's estimate (no network: 127.0.0.1).
    /// Skips without a ping or raw socket (an unprivileged user where `ping_group_range` is
    /// closed): then the scan has no seed either.
    #[test]
    #[expect(clippy::print_stderr, reason = "a skipped test says why")]
    fn an_echo_reply_seeds_the_hosts_timeout() {
        if EchoSocket::open(false).is_none() {
            assert!(
                std::env::var_os("CI").is_none(),
                "no ICMP socket: CI runs as root"
            );
            eprintln!("skipped: no ICMP socket for this user (ping_group_range, CAP_NET_RAW)");
            return;
        }
        let floor = Duration::from_millis(100);
        let timing = Timing::new(2, floor, Duration::from_secs(1));
        let hosts = [
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V4(Ipv4Addr::LOCALHOST),
        ];
        // Only host 1 is pinged: host 0 borrows the scan's estimate, host 1 has its own.
        seed(
            &hosts,
            &[1],
            &timing,
            Duration::from_secs(5),
            &AtomicBool::new(false),
        );
        assert_eq!(timing.timeout(1), floor);
        assert_eq!(timing.timeout(0), floor);
    }
}
