//! The walks both firewall fuzz targets make: blockers and DNAT rules of an indexed ruleset for
//! fixed packets (a SYN out by eth0, to an address local or not, its reply, an IPv6 SYN). A certain
//! blocker ends the packet's way: nothing is found after it (where no chains tie on priority).

use refused::internals::firewall::{Hook, Indexed, Interface, NatHook, Packet};

pub fn walk(indexed: &Indexed<'_>, dst_local: bool) {
    let syn = Packet {
        oif: Interface::Named("eth0".to_owned()),
        dst_local: Some(dst_local),
        ..Packet::outgoing(
            Some("10.77.0.1".parse().unwrap()),
            "10.77.0.2".parse().unwrap(),
            8080,
        )
    };
    let syn6 = Packet::outgoing(None, "fd00::2".parse().unwrap(), 443);
    for packet in [syn.clone(), syn.reply().unwrap(), syn6] {
        for hook in [
            Hook::Output,
            Hook::Prerouting,
            Hook::Input,
            Hook::Ingress,
            Hook::Egress,
            Hook::BridgeInput,
            Hook::BridgeOutput,
        ] {
            let found = indexed.blockers(hook, &packet, &packet);
            if let Some(at) = found.iter().position(|b| b.certain) {
                assert_eq!(at, found.len() - 1, "{found:?}");
            }
        }
        for hook in [NatHook::Output, NatHook::Prerouting] {
            for dnat in indexed.dnat(hook, &packet) {
                let _ = dnat.destination(&packet);
            }
        }
    }
}
