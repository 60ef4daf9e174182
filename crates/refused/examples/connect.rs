//! The classic first network program, done the `refused` way: connect to `localhost:8080`, and
//! when that fails, say exactly why, not just "Connection refused".
//!
//! Run: `cargo run -p refused --example connect [TARGET]`

use std::process::ExitCode;

use refused::diagnose::{Options, diagnose};

#[tokio::main]
async fn main() -> ExitCode {
    let target = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "localhost:8080".into());
    let err = match refused::connect(&target).await {
        Ok(stream) => {
            let peer = stream
                .peer_addr()
                .map(|a| a.to_string())
                .unwrap_or_default();
            println!("connected to {target} ({peer})");
            return ExitCode::SUCCESS;
        }
        Err(err) => err,
    };
    // What happened, classified from the OS error, with every address and attempt counted.
    println!("cannot connect: {err}");
    // Why: who listens where on this host, the firewall, DNS... (the target parsed, or the
    // connect would have said so).
    let Ok(parsed) = target.parse() else {
        return ExitCode::FAILURE;
    };
    match diagnose(&parsed, &Options::default()).await {
        Ok(diagnosis) => {
            println!("why: {}: {}", diagnosis.cause, diagnosis.summary);
            for fix in &diagnosis.suggestions {
                println!("fix: {fix}");
            }
        }
        Err(err) => println!("no diagnosis: {err}"),
    }
    ExitCode::FAILURE
}
