//! This network namespace's interfaces and their addresses (`ip -j address show`), for what
//! depends on an interface: a listener bound to one takes only what comes in through it.

use std::net::IpAddr;
use std::process::Command;

use serde_json::Value;

/// An interface of a network namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Its index.
    pub index: u32,
    /// Its name.
    pub name: String,
    /// Its addresses, both families.
    pub addresses: Vec<IpAddr>,
}

/// The interfaces of the calling thread's network namespace (a child process starts in the
/// namespace of the thread that starts it); empty when `ip` is missing or fails.
pub fn interfaces() -> Vec<Interface> {
    Command::new("ip")
        .args(["-j", "address", "show"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| serde_json::from_slice::<Value>(&out.stdout).ok())
        .map(|listed| parse(&listed))
        .unwrap_or_default()
}

/// The interfaces in `ip -j address show`'s output; entries it cannot read are left out.
pub fn parse(listed: &Value) -> Vec<Interface> {
    let Some(entries) = listed.as_array() else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|entry| {
            let index = u32::try_from(entry.get("ifindex")?.as_u64()?).ok()?;
            let name = entry.get("ifname")?.as_str()?.to_owned();
            let addresses = entry
                .get("addr_info")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|info| info.get("local")?.as_str()?.parse().ok())
                .collect();
            Some(Interface {
                index,
                name,
                addresses,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ip_s_json() {
        // `ip -j address show` of a namespace with lo and a veth (iproute2 6.1), shortened.
        let listed: Value = serde_json::from_str(
            r#"[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"],
                "addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8},
                             {"family":"inet6","local":"::1","prefixlen":128}]},
               {"ifindex":7,"link_index":6,"ifname":"veth0","flags":["BROADCAST","UP"],
                "addr_info":[{"family":"inet","local":"10.0.0.2","prefixlen":24},
                             {"family":"inet6","local":"fe80::1","prefixlen":64}]},
               {"ifindex":9,"ifname":"down0","addr_info":[]},
               {"ifname":"no index"}]"#,
        )
        .unwrap();
        let found = parse(&listed);
        assert_eq!(found.len(), 3);
        assert_eq!(found[1].index, 7);
        assert_eq!(found[1].name, "veth0");
        assert_eq!(
            found[1].addresses,
            [
                "10.0.0.2".parse::<IpAddr>().unwrap(),
                "fe80::1".parse().unwrap()
            ]
        );
        assert!(found[2].addresses.is_empty());
    }

    #[test]
    fn lists_this_namespace_s_loopback() {
        let found = interfaces();
        let lo = found.iter().find(|i| i.index == 1).expect("lo is listed");
        assert_eq!(lo.name, "lo");
    }
}
