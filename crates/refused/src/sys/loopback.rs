//! This namespace's loopback interface: whether `lo` is up, and which `disable_ipv6` sysctls
//! are on. Every connection to 127.0.0.0/8, to `::1` and to the namespace's own other addresses
//! goes through `lo`: a namespace made by `ip netns add` or `unshare -n` starts with it down
//! (no 127.0.0.1, no `::1`, own addresses unanswered), and with `lo`'s IPv6 off there is no `::1`.
//!
//! `lo`'s flags are asked of the kernel over rtnetlink (`RTM_GETLINK`), on a socket made in the
//! calling thread's namespace: `/sys/class/net` shows the namespace of whoever mounted sysfs,
//! which a thread that only entered a namespace (`setns`) does not remount. The sysctls under
//! `/proc/sys/net` are the calling thread's namespace's already.

use std::fs;
use std::io;

use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
use serde::Serialize;

/// `RTM_GETLINK` and `RTM_NEWLINK` (`linux/rtnetlink.h`): the request, and the answer's type.
const RTM_GETLINK: u16 = 18;
const RTM_NEWLINK: u16 = 16;
/// `NLMSG_ERROR` (`linux/netlink.h`): the answer of a request that failed.
const NLMSG_ERROR: u16 = 2;
/// `NLM_F_REQUEST`: one request, no dump.
const NLM_F_REQUEST: u16 = 1;
/// `IFLA_IFNAME`: the attribute that names the interface asked for.
const IFLA_IFNAME: u16 = 3;
/// `IFF_UP` (`linux/if.h`): administratively up, what `ip link set lo up` sets.
const IFF_UP: u32 = 0x1;
/// The sizes of `struct nlmsghdr` and `struct ifinfomsg`.
const HEADER_LEN: usize = 16;
const IFINFO_LEN: usize = 16;

/// What was read of this namespace's loopback interface.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Loopback {
    /// Whether `lo` is up (`None`: its flags could not be read).
    pub up: Option<bool>,
    /// The `disable_ipv6` sysctls of this namespace that are 1, of `all`, `default` and `lo`.
    pub ipv6_disabled_by: Vec<Ipv6Switch>,
    /// The namespace's name, when `ip netns add` made it: `ip netns exec NAME` enters it.
    pub netns: Option<String>,
}

/// One `net.ipv6.conf.*.disable_ipv6` sysctl that governs `::1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "&'static str")]
pub enum Ipv6Switch {
    /// `all`: writing it writes every interface's own switch, `lo`'s included.
    All,
    /// `default`: the switch interfaces made later start with.
    Default,
    /// `lo`'s own: off, `lo` has no `::1`.
    Lo,
}

impl Ipv6Switch {
    /// Every switch, in the order they are read and named.
    pub const ALL: [Self; 3] = [Self::All, Self::Default, Self::Lo];

    /// The sysctl's name: `net.ipv6.conf.lo.disable_ipv6`.
    pub const fn sysctl(self) -> &'static str {
        match self {
            Self::All => "net.ipv6.conf.all.disable_ipv6",
            Self::Default => "net.ipv6.conf.default.disable_ipv6",
            Self::Lo => "net.ipv6.conf.lo.disable_ipv6",
        }
    }

    const fn file(self) -> &'static str {
        match self {
            Self::All => "/proc/sys/net/ipv6/conf/all/disable_ipv6",
            Self::Default => "/proc/sys/net/ipv6/conf/default/disable_ipv6",
            Self::Lo => "/proc/sys/net/ipv6/conf/lo/disable_ipv6",
        }
    }
}

impl From<Ipv6Switch> for &'static str {
    fn from(switch: Ipv6Switch) -> Self {
        switch.sysctl()
    }
}

/// Reads this namespace's loopback interface (the calling thread's namespace).
pub fn loopback() -> Loopback {
    Loopback {
        up: is_lo_up().ok(),
        ipv6_disabled_by: Ipv6Switch::ALL
            .into_iter()
            .filter(|switch| fs::read_to_string(switch.file()).is_ok_and(|v| v.trim() == "1"))
            .collect(),
        netns: super::netns::own_name(),
    }
}

/// Asks rtnetlink for `lo`'s flags.
fn is_lo_up() -> io::Result<bool> {
    let mut socket = Socket::new(NETLINK_ROUTE)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    socket.send(&link_request("lo"), 0)?;
    let (answer, _) = socket.recv_from_full()?;
    Ok(link_flags(&answer)? & IFF_UP != 0)
}

/// An `RTM_GETLINK` request for the interface called `name`: a header, an empty `ifinfomsg`
/// (index 0: look it up by name) and the name as `IFLA_IFNAME`.
fn link_request(name: &str) -> Vec<u8> {
    let attribute_len = 4 + name.len() + 1;
    let padded = attribute_len.next_multiple_of(4);
    let total = HEADER_LEN + IFINFO_LEN + padded;
    let mut request = Vec::with_capacity(total);
    request.extend_from_slice(&(total as u32).to_ne_bytes());
    request.extend_from_slice(&RTM_GETLINK.to_ne_bytes());
    request.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    // Sequence number and port id: one request on a socket of its own, the kernel fills the id.
    request.extend_from_slice(&[0; 8]);
    request.extend_from_slice(&[0; IFINFO_LEN]);
    request.extend_from_slice(&(attribute_len as u16).to_ne_bytes());
    request.extend_from_slice(&IFLA_IFNAME.to_ne_bytes());
    request.extend_from_slice(name.as_bytes());
    request.resize(total, 0);
    request
}

/// The interface flags (`ifi_flags`) in the answer to [`link_request`], or the error the kernel
/// answered with (`ENODEV`: no such interface).
fn link_flags(answer: &[u8]) -> io::Result<u32> {
    let invalid = || io::Error::new(io::ErrorKind::InvalidData, "short rtnetlink answer");
    let field = |at: usize| -> io::Result<[u8; 4]> {
        answer
            .get(at..at + 4)
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(invalid)
    };
    let kind = answer
        .get(4..6)
        .and_then(|bytes| bytes.try_into().ok())
        .map(u16::from_ne_bytes)
        .ok_or_else(invalid)?;
    match kind {
        RTM_NEWLINK => Ok(u32::from_ne_bytes(field(HEADER_LEN + 8)?)),
        NLMSG_ERROR => Err(io::Error::from_raw_os_error(-i32::from_ne_bytes(field(
            HEADER_LEN,
        )?))),
        _ => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer as the kernel writes it: a header of `kind`, then `body`.
    fn answer(kind: u16, body: &[u8]) -> Vec<u8> {
        let mut bytes = ((HEADER_LEN + body.len()) as u32).to_ne_bytes().to_vec();
        bytes.extend_from_slice(&kind.to_ne_bytes());
        bytes.extend_from_slice(&[0; 10]);
        bytes.extend_from_slice(body);
        bytes
    }

    #[test]
    fn asks_for_the_interface_by_name() {
        let request = link_request("lo");
        assert_eq!(request.len(), 40);
        assert_eq!(u32::from_ne_bytes(request[0..4].try_into().unwrap()), 40);
        assert_eq!(u16::from_ne_bytes(request[4..6].try_into().unwrap()), 18);
        // `IFLA_IFNAME`, 7 bytes long: its header and "lo" with its NUL, padded to 8.
        assert_eq!(&request[32..40], &[7, 0, 3, 0, b'l', b'o', 0, 0]);
    }

    #[test]
    fn reads_the_flags_or_the_error() {
        // `ifinfomsg`: family, pad, type (772, loopback), index 1, flags, change.
        let mut ifinfo = vec![0, 0, 4, 3, 1, 0, 0, 0];
        ifinfo.extend_from_slice(&0x8u32.to_ne_bytes()); // IFF_LOOPBACK, not IFF_UP
        ifinfo.extend_from_slice(&[0; 4]);
        let down = answer(RTM_NEWLINK, &ifinfo);
        assert_eq!(link_flags(&down).unwrap() & IFF_UP, 0);
        ifinfo[8..12].copy_from_slice(&0x49u32.to_ne_bytes()); // UP, LOOPBACK, RUNNING
        assert_eq!(
            link_flags(&answer(RTM_NEWLINK, &ifinfo)).unwrap() & IFF_UP,
            1
        );

        let no_device = answer(NLMSG_ERROR, &(-libc::ENODEV).to_ne_bytes());
        assert_eq!(
            link_flags(&no_device).unwrap_err().raw_os_error(),
            Some(libc::ENODEV)
        );
        assert!(link_flags(&down[..20]).is_err());
    }

    #[test]
    fn this_namespaces_loopback_is_read() {
        // Whatever its state, the kernel answers for `lo`: every namespace has one.
        assert!(is_lo_up().is_ok());
    }
}
