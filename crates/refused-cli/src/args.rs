//! Command-line arguments. clap types stay here; commands turn them into library options.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::duration::parse_duration;

/// Why is the connection refused? Diagnose, check, wait for and scan TCP services.
#[derive(Debug, Parser)]
#[command(name = "refused", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Connect once to each target; exit 0 only if every one connected.
    #[command(after_help = CHECK_EXAMPLES)]
    Check(CheckArgs),
}

const CHECK_EXAMPLES: &str = "\
Examples:
  refused check localhost:5432
  refused check db:5432 redis://cache [::1]:8080 --timeout 1s
  refused check unix:///run/postgresql/.s.PGSQL.5432
  refused check api:443 --json | jq .reason

Exit status: 0 if every target connected, 1 if any did not, 2 on a usage error.";

/// `refused check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Targets: `host:port`, `[v6]:port`, `tcp://`, `http://`, `https://`, `postgres://`,
    /// `redis://`, `mysql://`, `unix:///path`.
    #[arg(required = true, value_name = "TARGET")]
    pub targets: Vec<String>,

    /// How long each target may take: 500ms, 3s, 1m.
    #[arg(long, short = 't', default_value = "3s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// One JSON object per target, one per line.
    #[arg(long)]
    pub json: bool,
}
