//! Fuzzes the firewall evaluator: any bytes, read as nft's JSON (and, after a NUL, as nft's
//! listing of the same ruleset), give blockers and DNAT rules for fixed packets; never a
//! panic, never a hang (the walk is bounded), and nothing certain after something uncertain.
#![no_main]

use libfuzzer_sys::fuzz_target;
use refused::internals::firewall::{self, Hook, Interface, NatHook, Packet, xt};

fuzz_target!(|data: &[u8]| {
    let (json, listing) = match data.iter().position(|b| *b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let Ok(mut ruleset) = serde_json::from_slice::<serde_json::Value>(json) else {
        return;
    };
    // nft's ruleset alone: iptables-legacy tables beside it are `legacy_translate`'s, and a
    // legacy chain tied with an nft one on priority may add a certain blocker of its own.
    if let Some(object) = ruleset.as_object_mut() {
        object.remove("legacy");
    }
    if let Ok(listing) = std::str::from_utf8(listing) {
        xt::translate(&mut ruleset, listing);
    }
    let syn = Packet {
        oif: Interface::Named("eth0".to_owned()),
        dst_local: Some(false),
        ..Packet::outgoing(
            Some("10.77.0.1".parse().unwrap()),
            "10.77.0.2".parse().unwrap(),
            8080,
        )
    };
    let syn6 = Packet::outgoing(None, "fd00::2".parse().unwrap(), 443);
    for packet in [syn.clone(), syn.reply().unwrap(), syn6] {
        for hook in [Hook::Output, Hook::Input] {
            let found = firewall::blockers(&ruleset, hook, &packet);
            // A certain blocker ends the packet's way: nothing is found after it.
            if let Some(at) = found.iter().position(|b| b.certain) {
                assert_eq!(at, found.len() - 1, "{found:?}");
            }
        }
        for hook in [NatHook::Output, NatHook::Prerouting] {
            for dnat in firewall::dnat(&ruleset, hook, &packet) {
                let _ = dnat.destination(&packet);
            }
        }
    }
});
