//! The kernel's route lookup for the first packet of our TCP connection: netlink's
//! `RTM_GETROUTE`, the request `ip route get ADDR ipproto tcp dport PORT` sends.
//!
//! Asked with the protocol and the port (and our uid and no mark, which the kernel takes from
//! the asking process), so that the policy rules that select on them (`ip rule ... ipproto tcp
//! dport`, wg-quick's `not fwmark 51820`, Tailscale's table 52) choose the table they choose for
//! the connection itself. The answer gives the interface the packet leaves by, its gateway and
//! its source address; an error is the errno the connect gets from this host's own route or
//! rule. Nothing is sent. The netlink socket answers for the namespace of the thread that made
//! it.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

const RTM_NEWROUTE: u16 = 24;
const RTM_GETROUTE: u16 = 26;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const HEADER: usize = 16;
const RTMSG: usize = 12;
const RTA_DST: u16 = 1;
const RTA_SRC: u16 = 2;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PREFSRC: u16 = 7;
const RTA_TABLE: u16 = 15;
const RTA_IP_PROTO: u16 = 27;
const RTA_DPORT: u16 = 29;
const RTN_LOCAL: u8 = 2;

/// The kernel's answer for a packet that can be routed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answer {
    /// The index of the interface it leaves by.
    pub oif: Option<u32>,
    /// The gateway it is sent to (none: the address is on a link of this host).
    pub gateway: Option<IpAddr>,
    /// The source address the kernel picks for it.
    pub source: Option<IpAddr>,
    /// The routing table the route was found in.
    pub table: Option<u32>,
    /// Whether the address is one of this host's own (a `local` route).
    pub local: bool,
}

/// Asks the kernel for the route of a TCP packet to `ip` port `port`, from `source` when given:
/// the answer, or the errno the route or rule that stops it gives (`Err` with a raw OS error),
/// or another I/O error when netlink could not be asked.
///
/// A connect from an unbound socket looks its route up twice: first from no address, which
/// picks the source, then from that source (`ip_route_connect`); a rule on the source (`from
/// 10.0.0.2 prohibit`) stops only the second. `oif` is the interface a scoped IPv6 address's
/// zone names (`[fe80::1%eth0]`), which the connect is bound to as well.
pub fn get(ip: IpAddr, port: u16, source: Option<IpAddr>, oif: Option<u32>) -> io::Result<Answer> {
    let mut socket = Socket::new(NETLINK_ROUTE)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    socket.send(&request(ip, port, source, oif), 0)?;
    let mut answer = Vec::with_capacity(4096);
    let length = socket.recv(&mut answer, 0)?;
    answer.truncate(length);
    parse(&answer)
}

fn octets(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

/// The request, as the kernel reads it.
pub fn request(ip: IpAddr, port: u16, source: Option<IpAddr>, oif: Option<u32>) -> Vec<u8> {
    let (family, length) = match ip {
        IpAddr::V4(_) => (libc::AF_INET as u8, 32),
        IpAddr::V6(_) => (libc::AF_INET6 as u8, 128),
    };
    let source = source.filter(|src| src.is_ipv4() == ip.is_ipv4());
    let mut bytes = vec![0; HEADER];
    bytes[4..6].copy_from_slice(&RTM_GETROUTE.to_ne_bytes());
    bytes[6..8].copy_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    // rtmsg: family, dst_len, src_len, then nothing chosen (no table, scope or type asked for).
    let mut rtmsg = [0; RTMSG];
    rtmsg[0] = family;
    rtmsg[1] = length;
    if source.is_some() {
        rtmsg[2] = length;
    }
    bytes.extend_from_slice(&rtmsg);
    attribute(&mut bytes, RTA_DST, &octets(ip));
    if let Some(source) = source {
        attribute(&mut bytes, RTA_SRC, &octets(source));
    }
    attribute(&mut bytes, RTA_IP_PROTO, &[libc::IPPROTO_TCP as u8]);
    // The port in network order, as the kernel keeps it in the flow.
    attribute(&mut bytes, RTA_DPORT, &port.to_be_bytes());
    if let Some(oif) = oif {
        attribute(&mut bytes, RTA_OIF, &oif.to_ne_bytes());
    }
    let total = bytes.len() as u32;
    bytes[0..4].copy_from_slice(&total.to_ne_bytes());
    bytes
}

fn attribute(bytes: &mut Vec<u8>, kind: u16, value: &[u8]) {
    let length = (4 + value.len()) as u16;
    bytes.extend_from_slice(&length.to_ne_bytes());
    bytes.extend_from_slice(&kind.to_ne_bytes());
    bytes.extend_from_slice(value);
    bytes.resize(bytes.len().next_multiple_of(4), 0);
}

/// The kernel's answer to [`request`]: one `RTM_NEWROUTE`, or an error message.
pub fn parse(answer: &[u8]) -> io::Result<Answer> {
    let u16_at = |at: usize| {
        answer
            .get(at..at + 2)
            .map(|b| u16::from_ne_bytes([b[0], b[1]]))
    };
    let u32_at = |at: usize| {
        answer
            .get(at..at + 4)
            .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    };
    let length = u32_at(0).ok_or_else(|| invalid("a short netlink answer"))? as usize;
    let message = answer
        .get(..length)
        .ok_or_else(|| invalid("a truncated netlink answer"))?;
    match u16_at(4) {
        Some(NLMSG_ERROR) => {
            let code = answer
                .get(HEADER..HEADER + 4)
                .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                .ok_or_else(|| invalid("a short netlink error"))?;
            Err(if code < 0 {
                io::Error::from_raw_os_error(-code)
            } else {
                invalid("the route lookup was acknowledged, not answered")
            })
        }
        Some(RTM_NEWROUTE) => Ok(route(message)),
        _ => Err(invalid("an unexpected answer to a route lookup")),
    }
}

/// The facts of one `RTM_NEWROUTE` message.
fn route(message: &[u8]) -> Answer {
    let family = message.get(HEADER).copied();
    let mut found = Answer {
        local: message.get(HEADER + 7) == Some(&RTN_LOCAL),
        ..Answer::default()
    };
    let mut at = HEADER + RTMSG;
    while let Some(head) = message.get(at..at + 4) {
        let length = u16::from_ne_bytes([head[0], head[1]]) as usize;
        let kind = u16::from_ne_bytes([head[2], head[3]]);
        if length < 4 {
            break;
        }
        let Some(value) = message.get(at + 4..at + length) else {
            break;
        };
        let number = <[u8; 4]>::try_from(value).ok().map(u32::from_ne_bytes);
        match kind {
            RTA_OIF => found.oif = number,
            RTA_TABLE => found.table = number,
            RTA_GATEWAY => found.gateway = address(family, value),
            RTA_PREFSRC => found.source = address(family, value),
            _ => {}
        }
        at += length.next_multiple_of(4);
    }
    found
}

fn address(family: Option<u8>, value: &[u8]) -> Option<IpAddr> {
    match family.map(i32::from) {
        Some(libc::AF_INET) => <[u8; 4]>::try_from(value)
            .ok()
            .map(|b| IpAddr::V4(Ipv4Addr::from(b))),
        Some(libc::AF_INET6) => <[u8; 16]>::try_from(value)
            .ok()
            .map(|b| IpAddr::V6(Ipv6Addr::from(b))),
        _ => None,
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer as the kernel writes it: header, rtmsg, then attributes.
    fn answer(family: u8, kind: u8, attributes: &[(u16, &[u8])]) -> Vec<u8> {
        let mut bytes = vec![0; HEADER];
        bytes[4..6].copy_from_slice(&RTM_NEWROUTE.to_ne_bytes());
        let mut rtmsg = [0; RTMSG];
        rtmsg[0] = family;
        rtmsg[7] = kind;
        bytes.extend_from_slice(&rtmsg);
        for (kind, value) in attributes {
            attribute(&mut bytes, *kind, value);
        }
        let total = bytes.len() as u32;
        bytes[0..4].copy_from_slice(&total.to_ne_bytes());
        bytes
    }

    #[test]
    fn the_request_asks_for_tcp_and_the_port() {
        let bytes = request("10.247.1.2".parse().unwrap(), 46400, None, None);
        assert_eq!(bytes.len(), HEADER + RTMSG + 8 + 8 + 8);
        assert_eq!(&bytes[0..4], &(bytes.len() as u32).to_ne_bytes());
        assert_eq!(&bytes[4..6], &RTM_GETROUTE.to_ne_bytes());
        assert_eq!(bytes[HEADER], libc::AF_INET as u8);
        assert_eq!(bytes[HEADER + 1], 32);
        let attrs = &bytes[HEADER + RTMSG..];
        assert_eq!(&attrs[4..8], &[10, 247, 1, 2]);
        assert_eq!(&attrs[10..12], &RTA_IP_PROTO.to_ne_bytes());
        assert_eq!(attrs[12], libc::IPPROTO_TCP as u8);
        assert_eq!(&attrs[18..20], &RTA_DPORT.to_ne_bytes());
        assert_eq!(&attrs[20..22], &46400_u16.to_be_bytes());
        let six = request("fd47::1".parse().unwrap(), 80, None, None);
        assert_eq!(six[HEADER + 1], 128);
        assert_eq!(six.len(), HEADER + RTMSG + 20 + 8 + 8);
        // The second lookup, from the source the first picked; one of the other family is not
        // a source.
        let from = request(
            "10.247.1.2".parse().unwrap(),
            46400,
            Some("10.247.1.1".parse().unwrap()),
            None,
        );
        assert_eq!(from[HEADER + 2], 32);
        assert_eq!(
            &from[HEADER + RTMSG + 8 + 2..HEADER + RTMSG + 8 + 4],
            &RTA_SRC.to_ne_bytes()
        );
        assert_eq!(
            &from[HEADER + RTMSG + 12..HEADER + RTMSG + 16],
            &[10, 247, 1, 1]
        );
        let mixed = request(
            "10.247.1.2".parse().unwrap(),
            80,
            Some("::1".parse().unwrap()),
            None,
        );
        assert_eq!(
            mixed,
            request("10.247.1.2".parse().unwrap(), 80, None, None)
        );
        // A link-local address's zone: the interface the lookup is bound to, as the connect is.
        let scoped = request("fe80::1".parse().unwrap(), 80, None, Some(7));
        let oif = HEADER + RTMSG + 20 + 8 + 8;
        assert_eq!(scoped.len(), oif + 8);
        assert_eq!(&scoped[oif + 2..oif + 4], &RTA_OIF.to_ne_bytes());
        assert_eq!(&scoped[oif + 4..oif + 8], &7_u32.to_ne_bytes());
    }

    #[test]
    fn an_answer_gives_the_interface_gateway_source_and_table() {
        let bytes = answer(
            libc::AF_INET as u8,
            1,
            &[
                (RTA_TABLE, &51820_u32.to_ne_bytes()),
                (RTA_DST, &[10, 247, 2, 2]),
                (RTA_OIF, &7_u32.to_ne_bytes()),
                (RTA_GATEWAY, &[10, 247, 3, 1]),
                (RTA_PREFSRC, &[10, 247, 3, 2]),
            ],
        );
        assert_eq!(
            parse(&bytes).unwrap(),
            Answer {
                oif: Some(7),
                gateway: Some("10.247.3.1".parse().unwrap()),
                source: Some("10.247.3.2".parse().unwrap()),
                table: Some(51820),
                local: false,
            }
        );
        let mut gateway = [0; 16];
        gateway[0] = 0xfe;
        gateway[1] = 0x80;
        gateway[15] = 1;
        let bytes = answer(libc::AF_INET6 as u8, RTN_LOCAL, &[(RTA_GATEWAY, &gateway)]);
        let found = parse(&bytes).unwrap();
        assert_eq!(found.gateway, Some("fe80::1".parse().unwrap()));
        assert!(found.local);
    }

    #[test]
    fn an_error_is_the_errno_of_the_route_or_rule() {
        let mut bytes = vec![0; HEADER + 4];
        bytes[0..4].copy_from_slice(&((HEADER + 4) as u32).to_ne_bytes());
        bytes[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        bytes[HEADER..].copy_from_slice(&(-libc::EACCES).to_ne_bytes());
        assert_eq!(
            parse(&bytes).unwrap_err().raw_os_error(),
            Some(libc::EACCES)
        );
        assert!(parse(&bytes[..3]).is_err());
        assert!(parse(&[]).is_err());
    }

    #[test]
    fn loopback_is_answered_by_the_kernel() {
        let found = get("127.0.0.1".parse().unwrap(), 9, None, None).unwrap();
        assert!(found.local, "{found:?}");
        assert!(found.oif.is_some(), "{found:?}");
    }
}
