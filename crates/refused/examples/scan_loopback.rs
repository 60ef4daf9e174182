//! Scans 127.0.0.1 and prints the open ports, the time and the counters.
//!
//! Run: `cargo run --release -p refused --example scan_loopback -- 1-65535`

use refused::connect::HumanDuration;
use refused::scan::{PortSet, PortState, ScanOptions, scan};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ports: PortSet = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "1-65535".into())
        .parse()?;
    let report = scan(&["127.0.0.1".parse()?], &ports, &ScanOptions::default())?;
    let open: Vec<u16> = report.hosts[0]
        .in_state(PortState::Open)
        .map(|p| p.port)
        .collect();
    println!(
        "open {open:?} in {}; {} connects, {} self-connects, {} most in flight",
        HumanDuration(report.elapsed),
        report.connects,
        report.self_connects,
        report.max_in_flight
    );
    Ok(())
}
