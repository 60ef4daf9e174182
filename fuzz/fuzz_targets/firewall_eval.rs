//! Fuzzes the firewall evaluator: any bytes, read as nft's JSON (and, after a NUL, as nft's
//! listing of the same ruleset), give blockers and DNAT rules for fixed packets; never a
//! panic, never a hang (the walk is bounded), and nothing certain after something uncertain.
#![no_main]

mod walks;

use libfuzzer_sys::fuzz_target;
use refused::internals::firewall::{Indexed, xt};

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
    walks::walk(&Indexed::new(&ruleset), false);
});
