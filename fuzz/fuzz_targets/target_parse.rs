//! Fuzzes the target parser: any input parses or returns an error naming a part of it; never a
//! panic, and a parsed target's endpoint parses back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use refused::{Endpoint, Target};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match text.parse::<Target>() {
        Ok(target) => {
            if let Endpoint::Tcp { .. } = target.endpoint() {
                let again: Target = target
                    .endpoint()
                    .to_string()
                    .parse()
                    .expect("a parsed endpoint parses back");
                assert_eq!(again.endpoint(), target.endpoint());
            }
        }
        Err(err) => assert!(!err.to_string().is_empty()),
    }
});
