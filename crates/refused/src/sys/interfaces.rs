//! This network namespace's interfaces: index, name, whether up, and addresses (`getifaddrs`,
//! which asks rtnetlink on a socket of the calling thread's namespace: no subprocess, and a
//! thread that entered another namespace lists that one's).

use std::net::IpAddr;

use nix::ifaddrs::getifaddrs;
use nix::net::if_::{InterfaceFlags, if_nametoindex};

/// `lo`'s index, the same in every namespace (the kernel's `LOOPBACK_IFINDEX`).
pub const LOOPBACK_INDEX: u32 = 1;

/// An interface of a network namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Its index.
    pub index: u32,
    /// Its name.
    pub name: String,
    /// Whether it is administratively up (`ip link set NAME up`).
    pub up: bool,
    /// Whether its link works (`IFF_RUNNING`: up, with a carrier; `NO-CARRIER` in `ip link`
    /// when up without one).
    pub running: bool,
    /// Its addresses, both families.
    pub addresses: Vec<IpAddr>,
    /// Its addresses with their prefix lengths: the networks on its link.
    pub networks: Vec<(IpAddr, u32)>,
}

/// An interface of this host that keeps an address from being reached: up without a carrier,
/// or set down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownLink {
    /// Its name.
    pub name: String,
    /// Set down (`ip link set NAME down`, or never brought up); else up without a carrier.
    pub admin_down: bool,
    /// Its kind, as `ip -d link` says it (`bridge`, `veth`, ...), for one up without a carrier;
    /// `None` for a device of its own (an Ethernet card, Wi-Fi) or when not known.
    pub kind: Option<String>,
}

/// The interface of this namespace (its interfaces `found`) that keeps `ip` from being reached: `dev`, the one the route
/// leaves by, when it is up without a carrier (a cable out, the other end of a veth down: the
/// route stays, marked `linkdown`); or, with no route at all (`dev` `None`), an interface set
/// down whose own network holds `ip` (its routes went with it).
pub fn down_link_in(found: &[Interface], ip: IpAddr, dev: Option<&str>) -> Option<DownLink> {
    match dev {
        Some(dev) => found
            .iter()
            .find(|i| i.name == dev && i.up && !i.running && i.index != LOOPBACK_INDEX)
            .map(|i| DownLink {
                name: i.name.clone(),
                admin_down: false,
                kind: link_kind(&i.name),
            }),
        None => found
            .iter()
            .find(|i| {
                !i.up
                    && i.networks
                        .iter()
                        .any(|&(net, len)| super::prefix::holds(net, len, ip))
            })
            .map(|i| DownLink {
                name: i.name.clone(),
                admin_down: true,
                kind: None,
            }),
    }
}

/// A virtual interface's kind (`ip -j -d link show dev NAME`'s `linkinfo.info_kind`: netlink,
/// so the calling thread's namespace's); `None` for a device of its own or when `ip` fails.
fn link_kind(name: &str) -> Option<String> {
    let output = std::process::Command::new("ip")
        .args(["-j", "-d", "link", "show", "dev", name])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let listed: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
    listed[0]["linkinfo"]["info_kind"]
        .as_str()
        .map(str::to_owned)
}

/// Whether `name` is a bridge (`ip link add br0 type bridge`): a `bridge` table's input and
/// output chains see what this host receives and sends through it.
pub fn is_bridge(name: &str) -> bool {
    link_kind(name).as_deref() == Some("bridge")
}

/// The interfaces of the calling thread's network namespace; empty when they cannot be listed.
pub fn interfaces() -> Vec<Interface> {
    let Ok(entries) = getifaddrs() else {
        return Vec::new();
    };
    let mut found: Vec<Interface> = Vec::new();
    // One entry per address (and one with the link's own, `AF_PACKET`, for every interface,
    // addresses or not), each with the interface's name and flags.
    for entry in entries {
        let address = entry.address.as_ref().and_then(|a| {
            a.as_sockaddr_in()
                .map(|v4| IpAddr::V4(v4.ip()))
                .or_else(|| a.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip())))
        });
        let network = address.and_then(|address| {
            let mask = entry.netmask.as_ref()?;
            let len = mask
                .as_sockaddr_in()
                .map(|v4| u32::from(v4.ip()).count_ones())
                .or_else(|| {
                    mask.as_sockaddr_in6()
                        .map(|v6| u128::from(v6.ip()).count_ones())
                })?;
            Some((address, len))
        });
        if let Some(known) = found.iter_mut().find(|i| i.name == entry.interface_name) {
            known.addresses.extend(address);
            known.networks.extend(network);
            continue;
        }
        let Ok(index) = if_nametoindex(entry.interface_name.as_str()) else {
            continue;
        };
        found.push(Interface {
            index,
            up: entry.flags.contains(InterfaceFlags::IFF_UP),
            running: entry.flags.contains(InterfaceFlags::IFF_RUNNING),
            name: entry.interface_name,
            addresses: address.into_iter().collect(),
            networks: network.into_iter().collect(),
        });
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_this_namespace_s_loopback() {
        let found = interfaces();
        let lo = found
            .iter()
            .find(|i| i.index == LOOPBACK_INDEX)
            .expect("lo is listed");
        assert_eq!(lo.name, "lo");
        // The test host's `lo` is up with 127.0.0.1.
        assert!(lo.up);
        assert!(lo.addresses.contains(&IpAddr::from([127, 0, 0, 1])));
    }
}
