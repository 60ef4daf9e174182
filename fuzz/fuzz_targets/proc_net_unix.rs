//! Fuzzes the `/proc/net/unix` parser: any text gives rows or an error naming a line of it;
//! never a panic, and every row has a path taken from one line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use refused::internals::parse_unix_listeners;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = text.lines().count();
    match parse_unix_listeners(text) {
        Ok(listeners) => {
            assert!(listeners.len() < lines.max(1));
            for listener in &listeners {
                let path = listener.path.to_str().expect("a path from text is text");
                assert!(!path.is_empty());
                assert!(!path.contains('\n'));
                assert!(text.contains(path));
            }
        }
        Err(err) => {
            assert!((2..=lines).contains(&err.line), "{err}");
            assert_eq!(
                err.text,
                text.lines().nth(err.line - 1).unwrap_or_default().trim()
            );
        }
    }
});
