//! Command-line arguments. clap types stay here; commands turn them into library options.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::duration::parse_duration;

/// Why is the connection refused? Diagnose, check, wait for and scan TCP services.
#[derive(Debug, Parser)]
#[command(
    name = "refused",
    version,
    about,
    long_about = None,
    propagate_version = true,
    args_conflicts_with_subcommands = true,
    arg_required_else_help = true,
    after_help = TOP_EXAMPLES
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// `refused TARGET` is `refused why TARGET`.
    #[command(flatten)]
    pub why: Option<WhyArgs>,
}

const TOP_EXAMPLES: &str = "\
Examples:
  refused localhost:8080             why is it refused? (same as `refused why localhost:8080`)
  refused check db:5432 cache:6379   is each one up?";

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Connect once to each target; exit 0 only if every one connected.
    #[command(after_help = CHECK_EXAMPLES)]
    Check(CheckArgs),
    /// Find out why a target does not connect: the cause, the evidence, the fix.
    #[command(after_help = WHY_EXAMPLES)]
    Why(WhyArgs),
}

const WHY_EXAMPLES: &str = "\
Examples:
  refused why localhost:8080
  refused why postgres://db.internal:5433/app
  refused why [::1]:3000 --json | jq .cause
  sudo refused why 10.0.0.5:443     as root it also reads firewall rules and every process

Exit status: 0 if the target is reachable, 1 if it is not (the cause is diagnosed), 2 on a usage
error, 3 if the diagnosis itself failed.";

/// `refused why`.
#[derive(Debug, Args)]
pub struct WhyArgs {
    /// The target: `host:port`, `[v6]:port`, a URL (`postgres://host/db`), or `unix:///path`.
    #[arg(value_name = "TARGET", required = true)]
    pub target: String,

    /// How long each connect attempt (and the name lookup) may take: 500ms, 3s, 1m.
    #[arg(long, short = 't', default_value = "3s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// One JSON object: target, cause, summary, attempts, evidence, suggestions.
    #[arg(long)]
    pub json: bool,
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
