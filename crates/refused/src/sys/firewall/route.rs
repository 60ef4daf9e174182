//! Which interface a packet to an address leaves by, for the firewall's `oifname` and
//! `iifname` matches: the main routing table (`/proc/net/route`, `/proc/net/ipv6_route`), longest
//! prefix first. Policy routing is not followed; an address of this host leaves by `lo`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::Interface;

const RTF_UP: u32 = 0x1;
const RTF_REJECT: u32 = 0x200;

/// The interface a packet to `dst` leaves by: `lo` for an address of this host, else the main
/// table's route; [`Interface::NotLoopback`] when no route names one.
pub fn interface_to(dst: IpAddr, local: bool) -> Interface {
    if local {
        return Interface::Named("lo".to_owned());
    }
    let found = match dst {
        IpAddr::V4(ip) => std::fs::read_to_string("/proc/net/route")
            .ok()
            .and_then(|text| via_v4(&text, ip)),
        IpAddr::V6(ip) => std::fs::read_to_string("/proc/net/ipv6_route")
            .ok()
            .and_then(|text| via_v6(&text, ip)),
    };
    found.map_or(Interface::NotLoopback, Interface::Named)
}

/// The interface of the longest matching route of `/proc/net/route` (lowest metric on a tie).
pub fn via_v4(table: &str, ip: Ipv4Addr) -> Option<String> {
    let mut best: Option<(u32, u32, &str)> = None;
    for line in table.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [
            iface,
            dest,
            _gateway,
            flags,
            _refcnt,
            _use,
            metric,
            mask,
            ..,
        ] = fields.as_slice()
        else {
            continue;
        };
        let hex = |h: &str| u32::from_str_radix(h, 16).ok();
        let (Some(dest), Some(flags), Some(metric), Some(mask)) =
            (hex(dest), hex(flags), metric.parse::<u32>().ok(), hex(mask))
        else {
            continue;
        };
        // The kernel prints the addresses' bytes as a host-order number.
        let (dest, mask) = (u32::from_be(dest), u32::from_be(mask));
        if flags & RTF_UP == 0 || u32::from(ip) & mask != dest & mask {
            continue;
        }
        let len = mask.leading_ones();
        if best.is_none_or(|(l, m, _)| len > l || (len == l && metric < m)) {
            best = Some((
                len,
                metric,
                if flags & RTF_REJECT != 0 { "" } else { iface },
            ));
        }
    }
    best.map(|(_, _, iface)| iface.to_owned())
        .filter(|iface| !iface.is_empty() && iface != "*")
}

/// The interface of the longest matching route of `/proc/net/ipv6_route`.
pub fn via_v6(table: &str, ip: Ipv6Addr) -> Option<String> {
    let mut best: Option<(u32, u32, &str)> = None;
    for line in table.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [
            dest,
            len,
            _src,
            _src_len,
            _next,
            metric,
            _refcnt,
            _use,
            flags,
            iface,
        ] = fields.as_slice()
        else {
            continue;
        };
        let (Ok(dest), Ok(len), Ok(metric), Ok(flags)) = (
            u128::from_str_radix(dest, 16),
            u32::from_str_radix(len, 16),
            u32::from_str_radix(metric, 16),
            u32::from_str_radix(flags, 16),
        ) else {
            continue;
        };
        let mask = u128::MAX.checked_shl(128 - len.min(128)).unwrap_or(0);
        if flags & RTF_UP == 0 || u128::from(ip) & mask != dest & mask {
            continue;
        }
        if best.is_none_or(|(l, m, _)| len > l || (len == l && metric < m)) {
            best = Some((
                len,
                metric,
                if flags & RTF_REJECT != 0 { "" } else { iface },
            ));
        }
    }
    best.map(|(_, _, iface)| iface.to_owned())
        .filter(|iface| !iface.is_empty() && iface != "lo")
}
