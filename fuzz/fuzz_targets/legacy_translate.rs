//! Fuzzes the reading of iptables-legacy tables: any text, read as `iptables-save` output of
//! both families, translates and is walked for fixed packets; never a panic, never a hang, and
//! (one ruleset per family, no nft one to tie with) nothing certain after something certain.
#![no_main]

mod walks;

use libfuzzer_sys::fuzz_target;
use refused::internals::firewall::{self, Indexed, Tool, legacy};

fuzz_target!(|data: &[u8]| {
    let Ok(save) = std::str::from_utf8(data) else {
        return;
    };
    let tables = vec![
        legacy::translate(save, "ip", Tool::IptablesLegacy),
        legacy::translate(save, "ip6", Tool::Iptables),
    ];
    let ruleset = firewall::with_legacy(serde_json::Value::Null, tables);
    walks::walk(&Indexed::new(&ruleset), true);
});
