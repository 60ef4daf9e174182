//! Why a target does not connect: the cause, the evidence, what to do, and what could not be
//! seen. `--json` prints the whole diagnosis as `refused why --json` does.
//!
//! Run: `cargo run -p refused --example diagnose [--json] [TARGET]`

use refused::Target;
use refused::connect::HumanDuration;
use refused::diagnose::{Options, diagnose};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    let target: Target = args
        .iter()
        .find(|a| *a != "--json")
        .map_or("localhost:8080", String::as_str)
        .parse()?;
    let diagnosis = diagnose(&target, &Options::default()).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&diagnosis)?);
        return Ok(());
    }
    println!("{}: {}", diagnosis.cause, diagnosis.summary);
    for attempt in &diagnosis.attempts {
        let took = HumanDuration(attempt.elapsed);
        println!(
            "  attempt: {} {} in {took}",
            attempt.address, attempt.outcome
        );
    }
    for item in &diagnosis.evidence {
        println!("  evidence: {item}");
    }
    for fix in &diagnosis.suggestions {
        println!("  fix: {fix}");
    }
    for warning in &diagnosis.warnings {
        println!("  warning: {warning}");
    }
    for unseen in &diagnosis.unseen {
        println!("  not seen: {} ({})", unseen.what, unseen.how);
    }
    Ok(())
}
