//! The `refused` command: a thin layer over the `refused` library.

mod args;
mod check;
mod duration;
mod output;
mod scan;
mod serve;
mod wait;
mod why;

use std::io;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::args::{Cli, Command};

/// Exit status: the target is not reachable (diagnosed), or a check failed.
const EXIT_DOWN: u8 = 1;
/// Exit status: bad command line or target.
const EXIT_USAGE: u8 = 2;
/// Exit status: something failed inside `refused` itself.
const EXIT_INTERNAL: u8 = 3;

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            output::error(&format!("{err:#}"));
            ExitCode::from(EXIT_INTERNAL)
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // Help and version go to stdout with status 0; usage errors to stderr with status 2.
            err.print()?;
            return Ok(ExitCode::from(
                u8::try_from(err.exit_code()).unwrap_or(EXIT_USAGE),
            ));
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Some(Command::Check(args)) => runtime.block_on(check::run(args)),
        Some(Command::Why(args)) => runtime.block_on(why::run(args)),
        Some(Command::Scan(args)) => scan::run(&args),
        Some(Command::Wait(args)) => runtime.block_on(wait::run(args)),
        // A multi-threaded runtime of its own: probes run in parallel.
        Some(Command::Serve(args)) => serve::run(&args),
        None => {
            if let Some(args) = cli.why {
                return runtime.block_on(why::run(args));
            }
            Cli::command().print_help()?;
            Ok(ExitCode::from(EXIT_USAGE))
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|e| e.downcast_ref::<io::Error>())
        .any(|e| e.kind() == io::ErrorKind::BrokenPipe)
}
