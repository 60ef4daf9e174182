//! `refused serve`: load the configuration, bind, serve probes until SIGTERM or Ctrl-C, drain.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use refused::serve::{AllowRule, Config, Module, Prober};

use crate::EXIT_USAGE;
use crate::args::ServeArgs;
use crate::output;

pub fn run(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let config = match load(args) {
        Ok(config) => config,
        Err(message) => {
            output::error(&message);
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    let mut stderr = anstream::stderr();
    for (name, reason) in config.unsupported() {
        writeln!(
            stderr,
            "refused serve: module `{name}` cannot be used: {reason}"
        )?;
    }
    if args.config_check {
        let mut stdout = std::io::stdout().lock();
        for (name, module) in &config.modules {
            if let Module::Probe(module) = module {
                writeln!(
                    stdout,
                    "{name}: {} (timeout {:?})",
                    prober_name(module.prober),
                    module.timeout
                )?;
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = match tokio::net::TcpListener::bind(args.listen).await {
            Ok(listener) => listener,
            Err(err) => {
                output::error(&format!("cannot listen on `{}`: {err}", args.listen));
                return Ok(ExitCode::from(EXIT_USAGE));
            }
        };
        let address = listener.local_addr()?;
        let allow = if config.allow.is_default() {
            "loopback targets only"
        } else {
            "targets in the allowlist"
        };
        // Tests and scripts read the port from this line when listening on port 0.
        writeln!(
            stderr,
            "refused serve: listening on http://{address} ({allow})"
        )?;
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .context("cannot handle SIGTERM")?;
        let shutdown = async move {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            let _ = writeln!(
                anstream::stderr(),
                "refused serve: stopping, the probes in flight finish first"
            );
        };
        refused::serve::run(listener, config, shutdown).await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// The configuration from the file, the built-in modules, and the command line.
fn load(args: &ServeArgs) -> Result<Config, String> {
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|err| format!("cannot read `{}`: {err}", path.display()))?;
            Config::from_yaml(&text).map_err(|err| format!("`{}`: {err}", path.display()))?
        }
        None => Config::default(),
    };
    config.allow_more(args.allow.iter().copied().map(AllowRule::cidr).collect());
    if let Some(max) = args.max_concurrent_probes {
        config.max_concurrent_probes = max as usize;
    }
    // Every connection and every probe is a descriptor (a diagnosis a few more): keep the
    // connections within what the open-file limit leaves after the probes.
    let budget = refused::scan::raise_open_file_limit().budget();
    let room = budget
        .saturating_sub(config.max_concurrent_probes * 4)
        .max(16);
    config.max_connections = config.max_connections.min(room);
    Ok(config)
}

const fn prober_name(prober: Prober) -> &'static str {
    match prober {
        Prober::Tcp {
            tls: refused::serve::Tls::Off,
        } => "tcp",
        Prober::Tcp {
            tls: refused::serve::Tls::On,
        } => "tcp with tls",
        Prober::Http { .. } => "http",
        Prober::Postgres => "postgres",
        Prober::Redis => "redis",
        Prober::Mysql => "mysql",
    }
}
