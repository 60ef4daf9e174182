//! Fuzzes the reading of iptables-legacy tables: any text, read as `iptables-save` output of
//! both families, translates and is walked for fixed packets; never a panic, never a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use refused::internals::firewall::{self, Hook, Indexed, Interface, NatHook, Packet, Tool, legacy};

fuzz_target!(|data: &[u8]| {
    let Ok(save) = std::str::from_utf8(data) else {
        return;
    };
    let tables = vec![
        legacy::translate(save, "ip", Tool::IptablesLegacy),
        legacy::translate(save, "ip6", Tool::Iptables),
    ];
    let ruleset = firewall::with_legacy(serde_json::Value::Null, tables);
    let indexed = Indexed::new(&ruleset);
    let syn = Packet {
        oif: Interface::Named("eth0".to_owned()),
        dst_local: Some(true),
        ..Packet::outgoing(
            Some("10.77.0.1".parse().unwrap()),
            "10.77.0.2".parse().unwrap(),
            8080,
        )
    };
    let syn6 = Packet::outgoing(None, "fd00::2".parse().unwrap(), 443);
    for packet in [syn.clone(), syn.reply().unwrap(), syn6] {
        for hook in [Hook::Output, Hook::Input] {
            let found = indexed.blockers(hook, &packet, &packet);
            // One ruleset per family and no nft one: nothing ties on priority, so a certain
            // blocker ends the packet's way, as in `firewall_eval`.
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
});
