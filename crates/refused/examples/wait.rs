//! Waits until every target is ready (at the protocol level for `http://`, `postgres://`,
//! `redis://`...), showing each change, for at most 10 s.
//!
//! Run: `cargo run -p refused --example wait [TARGET...]`

use std::process::ExitCode;
use std::time::Duration;

use refused::Target;
use refused::wait::{WaitEvent, WaitOptions, wait};

#[tokio::main]
async fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let mut targets: Vec<Target> = std::env::args()
        .skip(1)
        .map(|t| t.parse())
        .collect::<Result<_, _>>()?;
    if targets.is_empty() {
        targets.push("localhost:9999".parse()?);
    }
    let options = WaitOptions {
        timeout: Some(Duration::from_secs(10)),
        ..WaitOptions::default()
    };
    let result = wait(&targets, &options, |event| match event {
        WaitEvent::Changed { index, report, .. } => {
            println!("{}: {}", targets[index], report.readiness);
        }
        WaitEvent::Rest { index, pause } => {
            println!(
                "{}: resting {pause:?} for a rate limit to clear",
                targets[index]
            );
        }
        WaitEvent::Done { index } => println!("{}: done", targets[index]),
        _ => {}
    })
    .await;
    if result.satisfied {
        println!("all ready after {:.1?}", result.elapsed);
        Ok(ExitCode::SUCCESS)
    } else {
        println!("not ready after {:.1?}", result.elapsed);
        Ok(ExitCode::FAILURE)
    }
}
