//! `refused completions SHELL` and `refused man`: generated from the same clap definition as the
//! parser, so they cannot drift from it.

use std::io::Write;
use std::process::ExitCode;

use clap::CommandFactory;

use crate::args::Cli;

/// Prints the completion script for `shell` on stdout.
pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<ExitCode> {
    let mut command = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, "refused", &mut out);
    std::io::stdout().lock().write_all(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// Prints a manual page (roff) on stdout: `refused(1)`, or `refused-SUBCOMMAND(1)`.
pub fn man(subcommand: Option<&str>) -> anyhow::Result<ExitCode> {
    let command = Cli::command();
    let page = match subcommand {
        None => command,
        Some(name) => {
            let Some(sub) = command.find_subcommand(name) else {
                anyhow::bail!("no subcommand `{name}`");
            };
            // The page's name (`refused-wait`) and its synopsis (`refused wait ...`).
            sub.clone()
                .name(format!("refused-{name}"))
                .bin_name(format!("refused {name}"))
                .version(env!("CARGO_PKG_VERSION"))
        }
    };
    let mut out = Vec::new();
    clap_mangen::Man::new(page).render(&mut out)?;
    std::io::stdout().lock().write_all(&out)?;
    Ok(ExitCode::SUCCESS)
}
