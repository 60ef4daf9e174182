//! The other classic, done the `refused` way: connect to `localhost:9999`, retrying while it
//! refuses, and fail with a message that says what happened. No async runtime needed.
//!
//! Run: `cargo run -p refused --example blocking_connect [TARGET]`

use std::io::Write;
use std::process::ExitCode;

use refused::{Outcome, blocking};

fn main() -> ExitCode {
    let target = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "localhost:9999".into());
    // Retries are built in: three tries with full-jitter backoff between them, each one racing
    // every address of the name (happy eyeballs). `blocking::dial` takes a `Dialer` with another
    // `RetryPolicy`, attempt timeout or deadline.
    match blocking::connect(&target) {
        Ok(mut stream) => {
            let _ = stream.write_all(b"hello\n");
            println!("connected to {target}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            // The addresses, the outcome in words, the attempts and the time, in one sentence.
            eprintln!("cannot reach {target}: {err}");
            if err.outcome() == Some(Outcome::Refused) {
                eprintln!(
                    "nothing accepts connections there: is the server started, on this port?"
                );
            }
            ExitCode::FAILURE
        }
    }
}
