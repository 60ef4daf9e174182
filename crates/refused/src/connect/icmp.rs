//! The ICMP error behind a failed connect, read from the socket's error queue (`IP_RECVERR`,
//! `IPV6_RECVERR`): which router or host answered the SYN, and with what.
//!
//! Only the probes' and the diagnosis's own sockets ask for it ([`IcmpErrors::Read`]), and only
//! until the connect succeeds ([`stop`]): with `IP_RECVERR` on, Linux turns an ICMP error that
//! arrives later on an established connection into a hard error of that connection, which a
//! stream handed to a user, or a probe's exchange, must not get.

use std::fmt;
use std::io::{self, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;

use nix::sys::socket::{
    ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg, setsockopt, sockopt,
};
use serde::Serialize;
use socket2::Socket;

/// Whether a connect reads the ICMP error behind a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum IcmpErrors {
    /// The public connect: its streams go to users, whose connections must not fail on a stray
    /// ICMP error later (`IP_RECVERR` would make it fatal).
    #[default]
    Ignore,
    /// The diagnosis's probes: the socket is dropped right after the attempt.
    Read,
}

impl IcmpErrors {
    /// What to do toward `addr`: a loopback address's error would come from this host, which
    /// [`read`] leaves out, so none is asked for (two `setsockopt`s less on every `wait` poll
    /// of a loopback target).
    pub(crate) fn toward(self, addr: std::net::SocketAddr) -> Self {
        if addr.ip().to_canonical().is_loopback() {
            Self::Ignore
        } else {
            self
        }
    }
}

/// ICMP or ICMPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IcmpVersion {
    /// ICMP for IPv4: destination unreachable is type 3.
    V4,
    /// ICMPv6: destination unreachable is type 1.
    V6,
}

/// The ICMP error a router or the host sent back for a connect's SYN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub struct IcmpError {
    /// ICMP or ICMPv6 (the attempt's address family, except for an IPv4-mapped address).
    #[serde(skip)]
    pub version: IcmpVersion,
    /// The ICMP type (3, destination unreachable, for ICMP; 1 for ICMPv6).
    #[serde(rename = "type")]
    pub icmp_type: u8,
    /// The ICMP code: for destination unreachable 0 net, 1 host, 3 port, 9, 10 and 13
    /// prohibited (ICMPv6: 0 no route, 1 prohibited, 3 address unreachable, 4 port).
    pub code: u8,
    /// Who sent it (`SO_EE_OFFENDER`): a router on the path, or the target itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<IpAddr>,
}

/// What an ICMP error says about the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IcmpMeaning {
    /// Administratively prohibited (net, host or communication): a firewall's reject.
    Prohibited,
    /// Host unreachable (ICMPv6: address unreachable): its sender found nobody with it.
    HostUnreachable,
    /// Net unreachable (ICMPv6: no route): its sender has no route there.
    NetworkUnreachable,
    /// Port unreachable: the host answered that nothing takes TCP there.
    PortUnreachable,
    /// Anything else (fragmentation needed, a time exceeded, a code of no meaning here).
    Other,
}

impl IcmpError {
    /// What it says about the destination.
    pub(crate) fn meaning(&self) -> IcmpMeaning {
        match (self.version, self.icmp_type, self.code) {
            (IcmpVersion::V4, 3, 9 | 10 | 13) | (IcmpVersion::V6, 1, 1) => IcmpMeaning::Prohibited,
            (IcmpVersion::V4, 3, 1) | (IcmpVersion::V6, 1, 3) => IcmpMeaning::HostUnreachable,
            (IcmpVersion::V4, 3, 0) | (IcmpVersion::V6, 1, 0) => IcmpMeaning::NetworkUnreachable,
            (IcmpVersion::V4, 3, 3) | (IcmpVersion::V6, 1, 4) => IcmpMeaning::PortUnreachable,
            _ => IcmpMeaning::Other,
        }
    }

    /// Whether it is a firewall's reject: port unreachable (for TCP, a Linux host sends a
    /// reset by itself; iptables' `REJECT` sends this by default, ufw's `limit` too) or
    /// administratively prohibited.
    pub(crate) fn is_reject(&self) -> bool {
        matches!(
            self.meaning(),
            IcmpMeaning::PortUnreachable | IcmpMeaning::Prohibited
        )
    }

    /// Whether it is an administratively prohibited (ICMP code 13, ICMPv6 code 1): nft's
    /// `reject with icmpx admin-prohibited`, which firewalld's zones send.
    pub(crate) fn is_admin_prohibited(&self) -> bool {
        self.name() == Some("admin-prohibited")
    }

    /// The name of the message, as firewalls write it (`admin-prohibited`, nft's and
    /// iptables' `--reject-with` words).
    fn name(&self) -> Option<&'static str> {
        Some(match (self.version, self.icmp_type, self.code) {
            (IcmpVersion::V4, 3, 0) => "net-unreachable",
            (IcmpVersion::V4, 3, 1) => "host-unreachable",
            (IcmpVersion::V4, 3, 3) | (IcmpVersion::V6, 1, 4) => "port-unreachable",
            (IcmpVersion::V4, 3, 9) => "net-prohibited",
            (IcmpVersion::V4, 3, 10) => "host-prohibited",
            (IcmpVersion::V4, 3, 13) | (IcmpVersion::V6, 1, 1) => "admin-prohibited",
            (IcmpVersion::V6, 1, 0) => "no-route",
            (IcmpVersion::V6, 1, 3) => "addr-unreachable",
            _ => return None,
        })
    }
}

/// `ICMP admin-prohibited (type 3, code 13)`: the message alone, as the sentences that name
/// its sender their own way write it.
impl fmt::Display for IcmpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let icmp = match self.version {
            IcmpVersion::V4 => "ICMP",
            IcmpVersion::V6 => "ICMPv6",
        };
        match self.name() {
            Some(name) => write!(
                f,
                "{icmp} {name} (type {}, code {})",
                self.icmp_type, self.code
            ),
            None => write!(f, "{icmp} type {}, code {}", self.icmp_type, self.code),
        }
    }
}

/// Asks the kernel to queue the ICMP errors of this socket's packets, before its connect.
pub(crate) fn ask(socket: &Socket, addr: SocketAddr) -> io::Result<()> {
    queue(socket, addr, true)
}

/// Stops queueing them once the connect succeeded: with `IP_RECVERR` on, Linux makes a later
/// ICMP error (a route that flaps during a probe's exchange) fatal to the connection, where
/// without it TCP retransmits. Best effort: the socket works either way.
pub(crate) fn stop(socket: &Socket, addr: SocketAddr) {
    let _ = queue(socket, addr, false);
}

fn queue(socket: &Socket, addr: SocketAddr, on: bool) -> io::Result<()> {
    let on = &on;
    match addr {
        SocketAddr::V4(_) => setsockopt(socket, sockopt::Ipv4RecvErr, on),
        // An IPv4-mapped address goes out as IPv4, whose errors IP_RECVERR queues.
        // Best effort: without it only the evidence is lost, never the attempt.
        SocketAddr::V6(v6) if v6.ip().to_ipv4_mapped().is_some() => {
            setsockopt(socket, sockopt::Ipv6RecvErr, on).map(|()| {
                let _ = setsockopt(socket, sockopt::Ipv4RecvErr, on);
            })
        }
        SocketAddr::V6(_) => setsockopt(socket, sockopt::Ipv6RecvErr, on),
    }
    .map_err(io::Error::from)
}

/// The last ICMP error queued on a socket whose connect failed; `None` when none came (a
/// timeout with no answer at all, a refusal by reset) or the queue cannot be read. Read before
/// the socket is dropped, which discards the queue.
///
/// One that this host sent itself (its neighbour discovery gave up on the next hop, or its own
/// firewall rejected the packet) is left out: the neighbour table and this host's rules say
/// that better, and it says nothing of the network.
pub(crate) fn read(socket: &Socket) -> Option<IcmpError> {
    let mut last = None;
    // Each SYN sent can draw one; the queue holds a few at most, and a bound keeps a socket
    // that keeps answering from holding the attempt.
    for _ in 0..8 {
        let Ok(error) = next(socket) else { break };
        last = error.or(last);
    }
    // Sent by this host: its sender is one of our addresses (not the socket's own, which a
    // failed connect has let go of). With `ip_nonlocal_bind` on every address looks ours: the
    // error is left out, and the rules fall back to what they did without it.
    last.filter(|error| !error.from.is_some_and(crate::sys::host::is_local_address))
}

/// The next entry of the error queue, `None` for one that is no ICMP error (a local one); an
/// error once the queue is empty (`EAGAIN`).
fn next(socket: &Socket) -> io::Result<Option<IcmpError>> {
    // The payload (the start of the packet that drew the error) is not needed: a byte of room
    // is enough, the rest is cut off.
    let mut payload = [0u8; 1];
    let mut iov = [IoSliceMut::new(&mut payload)];
    let mut control = nix::cmsg_space!(libc::sock_extended_err, libc::sockaddr_in6);
    let message = recvmsg::<SockaddrStorage>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut control),
        MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT,
    )?;
    let found = message.cmsgs().find_map(|cmsg| match cmsg {
        ControlMessageOwned::Ipv4RecvErr(err, from) => icmp_error(
            &err,
            from.map(|a| IpAddr::V4(Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)))),
        ),
        ControlMessageOwned::Ipv6RecvErr(err, from) => icmp_error(
            &err,
            from.map(|a| canonical(Ipv6Addr::from(a.sin6_addr.s6_addr))),
        ),
        _ => None,
    });
    Ok(found)
}

/// An IPv4 sender of an ICMP error to an IPv6 socket (a v4-mapped destination) as IPv4.
fn canonical(addr: Ipv6Addr) -> IpAddr {
    addr.to_ipv4_mapped().map_or(IpAddr::V6(addr), IpAddr::V4)
}

/// A `sock_extended_err` as an ICMP error, when one sent it (`SO_EE_ORIGIN_ICMP`,
/// `SO_EE_ORIGIN_ICMP6`); an unspecified sender address is none.
fn icmp_error(err: &libc::sock_extended_err, from: Option<IpAddr>) -> Option<IcmpError> {
    let version = match err.ee_origin {
        libc::SO_EE_ORIGIN_ICMP => IcmpVersion::V4,
        libc::SO_EE_ORIGIN_ICMP6 => IcmpVersion::V6,
        _ => return None,
    };
    Some(IcmpError {
        version,
        icmp_type: err.ee_type,
        code: err.ee_code,
        from: from.filter(|ip| !ip.is_unspecified()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Toward loopback no error is asked for: one would come from this host, which `read` leaves
    /// out; elsewhere, as asked.
    #[test]
    fn loopback_asks_for_no_icmp_error() {
        let at = |a: &str| a.parse::<std::net::SocketAddr>().unwrap();
        assert_eq!(
            IcmpErrors::Read.toward(at("127.0.0.1:80")),
            IcmpErrors::Ignore
        );
        assert_eq!(IcmpErrors::Read.toward(at("[::1]:80")), IcmpErrors::Ignore);
        assert_eq!(
            IcmpErrors::Read.toward(at("[::ffff:127.0.0.1]:80")),
            IcmpErrors::Ignore
        );
        assert_eq!(IcmpErrors::Read.toward(at("10.0.0.1:80")), IcmpErrors::Read);
        assert_eq!(
            IcmpErrors::Ignore.toward(at("10.0.0.1:80")),
            IcmpErrors::Ignore
        );
    }

    fn v4(code: u8) -> IcmpError {
        IcmpError {
            version: IcmpVersion::V4,
            icmp_type: 3,
            code,
            from: Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))),
        }
    }

    #[test]
    fn codes_mean_what_rfc_792_and_4443_say() {
        for code in [9, 10, 13] {
            assert_eq!(v4(code).meaning(), IcmpMeaning::Prohibited, "{code}");
        }
        assert_eq!(v4(1).meaning(), IcmpMeaning::HostUnreachable);
        assert_eq!(v4(0).meaning(), IcmpMeaning::NetworkUnreachable);
        assert_eq!(v4(3).meaning(), IcmpMeaning::PortUnreachable);
        assert_eq!(v4(4).meaning(), IcmpMeaning::Other);
        let v6 = |code| IcmpError {
            version: IcmpVersion::V6,
            icmp_type: 1,
            code,
            from: None,
        };
        assert_eq!(v6(1).meaning(), IcmpMeaning::Prohibited);
        assert_eq!(v6(3).meaning(), IcmpMeaning::HostUnreachable);
        assert_eq!(v6(0).meaning(), IcmpMeaning::NetworkUnreachable);
        // ICMPv6 type 3 is time exceeded, not destination unreachable.
        let exceeded = IcmpError {
            icmp_type: 3,
            ..v6(1)
        };
        assert_eq!(exceeded.meaning(), IcmpMeaning::Other);
    }

    #[test]
    fn displays_as_firewalls_name_it_and_serializes_its_sender() {
        assert_eq!(
            v4(13).to_string(),
            "ICMP admin-prohibited (type 3, code 13)"
        );
        assert_eq!(
            serde_json::to_value(v4(1)).unwrap(),
            serde_json::json!({"type": 3, "code": 1, "from": "10.0.0.1"})
        );
    }

    /// A real socket: the kernel queues the ICMP error its own stack sends for a UDP datagram
    /// to a closed loopback port, with this host as the sender (which `read` leaves out).
    #[test]
    fn reads_the_queue_and_leaves_out_this_hosts_own_errors() {
        let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = closed.local_addr().unwrap();
        drop(closed);
        let socket = Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
        ask(&socket, addr).unwrap();
        socket.connect(&addr.into()).unwrap();
        socket
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let refused = || {
            socket.send(b"x").unwrap();
            // The receive fails once the ICMP error arrived, so no sleep guesses when it does.
            let err = socket
                .recv(&mut [std::mem::MaybeUninit::new(0); 1])
                .unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        };
        refused();
        let queued = next(&socket).unwrap().expect("an ICMP error");
        assert_eq!((queued.icmp_type, queued.code), (3, 3));
        assert_eq!(queued.from, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        refused();
        assert_eq!(read(&socket), None);
    }
}
