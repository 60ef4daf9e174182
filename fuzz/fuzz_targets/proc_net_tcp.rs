//! Fuzzes the `/proc/net/tcp{,6}` parser: any text gives rows or an error naming a line of it;
//! never a panic, and every row is a LISTEN socket read from a line of the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use refused::internals::parse_tcp_listeners;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = text.lines().count();
    match parse_tcp_listeners(text) {
        // The header is not a row, and a line is at most one.
        Ok(listeners) => assert!(listeners.len() < lines.max(1)),
        Err(err) => {
            assert!((2..=lines).contains(&err.line), "{err}");
            assert_eq!(
                err.text,
                text.lines().nth(err.line - 1).unwrap_or_default().trim()
            );
        }
    }
});
