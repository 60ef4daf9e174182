//! `refused why TARGET` (and plain `refused TARGET`): the cause, the evidence, the fix.

use std::io::Write;
use std::process::ExitCode;

use refused::Target;
use refused::connect::HumanDuration;
use refused::diagnose::{self, Diagnosis, Options};
use refused::outcome::Outcome;

use crate::args::WhyArgs;
use crate::output::{self, BAD, DIM, GOOD, WARN};
use crate::usage;
use crate::{EXIT_DOWN, EXIT_INTERNAL};

pub async fn run(args: WhyArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    if let Some(port) = &args.port {
        return Err(usage::split_pair(&args.target, port)
            .unwrap_or_else(|| {
                usage::UsageError(format!(
                    "unexpected argument `{port}`: `why` takes one target (`HOST:PORT`, `[IPV6]:PORT` or a URL)"
                ))
            })
            .into());
    }
    let target: Target = usage::parse(&args.target)?;
    let program =
        std::env::current_exe().map_or_else(|_| "refused".to_owned(), |p| p.display().to_string());
    let mut options = Options {
        timeout: args.timeout.or_max(),
        program: program.clone(),
        ..Options::default()
    };
    args.tls().apply(&mut options.probe);
    let proxy = (!args.no_proxy)
        .then(|| refused::proxy::for_target(&target, |name| std::env::var(name).ok()))
        .flatten();
    let diagnosed = match &proxy {
        // Boxed: two diagnoses at once.
        Some(proxy) => Box::pin(diagnose::diagnose_through(&target, proxy, &options)).await,
        None => diagnose::diagnose(&target, &options).await,
    };
    let diagnosis = match diagnosed {
        Ok(diagnosis) => diagnosis,
        Err(err) => {
            output::error(&err.to_string());
            return Ok(ExitCode::from(EXIT_INTERNAL));
        }
    };
    if args.json {
        output::json_document(&diagnosis)?;
    } else if !quiet {
        render(&diagnosis, &format!("sudo {program} why {}", args.target))?;
    }
    Ok(if diagnosis.cause.is_reachable() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_DOWN)
    })
}

/// Cause first, then the evidence, the fix, and what could not be seen.
fn render(d: &Diagnosis, as_root: &str) -> anyhow::Result<()> {
    let mut out = anstream::stdout().lock();
    let style = if d.cause.is_reachable() { GOOD } else { BAD };
    writeln!(out, "{style}{}{style:#}  {}", d.cause, d.target)?;
    writeln!(out, "  {}", d.summary)?;
    for warning in &d.warnings {
        writeln!(out, "  {WARN}warning{WARN:#}: {warning}")?;
    }
    writeln!(out)?;
    writeln!(out, "  {DIM}evidence{DIM:#}")?;
    for attempt in &d.attempts {
        write!(out, "    {} {}", attempt.address, attempt.outcome)?;
        // `other` alone says nothing: what the kernel said, in its words.
        if let Outcome::Other(Some(errno)) = attempt.outcome {
            let error = std::io::Error::from_raw_os_error(errno).to_string();
            let words = error.split(" (os error").next().unwrap_or(&error);
            write!(out, " ({words}, errno {errno})")?;
        }
        write!(out, " in {}", HumanDuration(attempt.elapsed))?;
        match attempt.icmp.as_ref() {
            Some(icmp) => match icmp.from {
                Some(from) => writeln!(out, ": {icmp} from {from}")?,
                None => writeln!(out, ": {icmp}")?,
            },
            None => writeln!(out)?,
        }
    }
    for evidence in &d.evidence {
        writeln!(out, "    {evidence}")?;
    }
    if !d.suggestions.is_empty() {
        writeln!(out, "  {DIM}fix{DIM:#}")?;
        for suggestion in &d.suggestions {
            writeln!(out, "    {suggestion}")?;
        }
    }
    if !d.unseen.is_empty() {
        writeln!(out, "  {DIM}not seen{DIM:#}")?;
        for unseen in &d.unseen {
            writeln!(out, "    {}: {}", unseen.what, unseen.how)?;
        }
        if d.unseen.iter().any(|u| u.needs_root) && !is_root() {
            writeln!(out, "    to see them: `{as_root}`")?;
        }
    }
    Ok(())
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}
