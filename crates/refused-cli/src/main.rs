//! The `refused` command: a thin layer over the `refused` library.

mod args;
mod check;
mod docs;
mod duration;
mod output;
mod scan;
mod serve;
mod signals;
mod usage;
mod wait;
mod why;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::args::{Cli, Command};
use crate::signals::Signals;

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
            if output::is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            if let Some(usage) = err.downcast_ref::<usage::UsageError>() {
                output::error(&usage.0);
                return ExitCode::from(EXIT_USAGE);
            }
            output::error(&format!("{err:#}"));
            ExitCode::from(EXIT_INTERNAL)
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    if let Some(err) = args::mistyped_subcommand(std::env::args_os()) {
        err.print()?;
        return Ok(ExitCode::from(EXIT_USAGE));
    }
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
    output::set_color(cli.global.color);
    let quiet = cli.global.quiet;
    if let (Some(_), Some(why)) = (&cli.command, &cli.why) {
        // `refused db:5432 check`: the subcommand comes first.
        Cli::command()
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                format!(
                    "unexpected `{}` before the subcommand (the subcommand comes first)",
                    why.target
                ),
            )
            .print()?;
        return Ok(ExitCode::from(EXIT_USAGE));
    }
    let command = match (cli.command, cli.why) {
        (Some(command), _) => command,
        (None, Some(args)) => Command::Why(args),
        (None, None) => {
            Cli::command().print_help()?;
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = match command {
        Command::Check(args) => runtime.block_on(signals::or_signalled(check::run(args, quiet))),
        Command::Why(args) => runtime.block_on(signals::or_signalled(why::run(args, quiet))),
        Command::Wait(args) => {
            runtime.block_on(async { wait::run(args, quiet, Signals::catch()).await })
        }
        // A multi-threaded runtime of its own: probes run in parallel.
        Command::Serve(args) => serve::run(&args),
        // Synchronous, outside the runtime: the signals keep their default action.
        Command::Scan(args) => scan::run(&args, quiet),
        Command::Completions(args) => docs::completions(args.shell),
        Command::Man(args) => docs::man(args.subcommand.as_deref()),
    };
    // Dropping a runtime waits for its blocking tasks; one abandoned at the deadline (a read of
    // this host's evidence) must not keep the process past its `--timeout`.
    runtime.shutdown_background();
    result
}
