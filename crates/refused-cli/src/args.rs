//! Command-line arguments. clap types stay here; commands turn them into library options.

use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

use crate::duration::{Timeout, parse_duration, parse_timeout};

/// Why is the connection refused? Diagnose, check, wait for and scan TCP services.
#[derive(Debug, Parser)]
#[command(
    name = "refused",
    version,
    about,
    long_about = None,
    propagate_version = true,
    subcommand_negates_reqs = true,
    override_usage = "refused [OPTIONS] <TARGET>\n       refused [OPTIONS] <COMMAND> [ARGS]...",
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

    #[command(flatten)]
    pub global: GlobalArgs,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Print nothing but errors: the exit status says it (`--json` still prints its JSON).
    #[arg(
        long,
        short = 'q',
        global = true,
        env = "REFUSED_QUIET",
        action = ArgAction::SetTrue,
        value_parser = BoolishValueParser::new()
    )]
    pub quiet: bool,

    /// When to use colours: `auto` (on a terminal, unless `NO_COLOR` is set), `always`, `never`.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ColorWhen::Auto)]
    pub color: ColorWhen,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    /// On a terminal, unless `NO_COLOR` is set.
    Auto,
    /// Always, even into a pipe.
    Always,
    /// Never.
    Never,
}

const TOP_EXAMPLES: &str = "\
Examples:
  refused localhost:8080             why is it refused? (same as `refused why localhost:8080`)
  refused check db:5432 cache:6379   is each one up?
  refused wait db:5432 -- ./start    wait until it is ready, then run ./start
  refused scan 127.0.0.1 -p -1024    what listens on this host's low ports?

Exit status:
  0  reachable, up, ready (`wait` with a command: the command's own status)
  1  not reachable (the cause is diagnosed), down, not ready in time
  2  usage error: a bad option, target or file
  3  `refused` itself failed
  126/127  `wait`'s command cannot be run / is not found
  130/143  ended by Ctrl-C / SIGTERM";

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Probe each target once (connect, then its scheme's check); exit 0 if every one is up.
    #[command(after_help = CHECK_EXAMPLES)]
    Check(CheckArgs),
    /// Find out why a target does not connect: the cause, the evidence, the fix.
    #[command(after_help = WHY_EXAMPLES)]
    Why(WhyArgs),
    /// Wait until targets are ready (protocol-level), then run a command.
    #[command(after_help = WAIT_EXAMPLES, disable_help_flag = true)]
    Wait(WaitArgs),
    /// Scan ports: open, closed or filtered, with nmap's reasons; open ports with their process.
    #[command(after_help = SCAN_EXAMPLES)]
    Scan(ScanArgs),
    /// Serve Prometheus probes (`blackbox_exporter`'s `/probe`) that say why a target is down.
    #[command(after_help = SERVE_EXAMPLES)]
    Serve(ServeArgs),
    /// Print a shell completion script: `refused completions bash > /etc/bash_completion.d/refused`.
    Completions(CompletionsArgs),
    /// Print a manual page (roff): `refused man | man -l -`, `refused man wait`.
    Man(ManArgs),
}

/// `refused man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// A subcommand's own page (`refused-wait(1)`) instead of `refused(1)`.
    #[arg(value_parser = ["why", "check", "wait", "scan", "completions", "man"])]
    pub subcommand: Option<String>,
}

/// `refused completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

const SCAN_EXAMPLES: &str = "\
Examples:
  refused scan 127.0.0.1                  every port of this host
  refused scan localhost -p 5432,6379,8000-8100
  refused scan db.internal -6 -p 1-1024 --all
  refused scan 10.0.0.0/28 -p 22 --json | jq '.hosts[].open'
  refused scan 10.0.0.10-73 10.0.1.5 -p 80,443
  refused scan --hosts-file hosts.txt -p 22   (one host or more a line, `#` comments; `-`: stdin)

States and reasons as nmap names them: open (syn-ack), closed (conn-refused), filtered
(no-response, host-unreach, net-unreach, admin-prohibited). A port without an answer is tried
once more before it is called filtered.

Exit status: 0 when the scan ran (whatever it found), 1 if a host did not resolve, 2 on a usage
error.";

/// `refused scan`.
#[derive(Debug, Args)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "independent command-line flags"
)]
pub struct ScanArgs {
    /// Hosts: addresses, names (every address they resolve to), CIDR blocks (`10.0.0.0/28`; more
    /// than 256 addresses need `--force`) or ranges of the last octet (`10.0.0.10-73`). At most
    /// 65,536 addresses in all, and 16,777,216 probes (addresses times ports).
    #[arg(required_unless_present = "hosts_file", value_name = "HOST")]
    pub hosts: Vec<String>,

    /// Read hosts from a file too, as nmap's `-iL`: any of the forms of HOST, separated by spaces
    /// or new lines, `#` to the end of a line a comment; `-` reads standard input.
    #[arg(long, short = 'i', value_name = "FILE")]
    pub hosts_file: Option<std::path::PathBuf>,

    /// Ports: `22`, `22,80,443`, `8000-8100`, `-1024` (1-1024), `60000-` (to 65535), or a mix.
    #[arg(
        long,
        short = 'p',
        default_value = "1-65535",
        value_parser = parse_ports,
        allow_hyphen_values = true
    )]
    pub ports: refused::scan::PortSet,

    /// IPv4 addresses only.
    #[arg(short = '4', conflicts_with = "ipv6")]
    pub ipv4: bool,

    /// IPv6 addresses only.
    #[arg(short = '6')]
    pub ipv6: bool,

    /// List every port, not only the open ones.
    #[arg(long)]
    pub all: bool,

    /// One JSON document: per host the counts, the open ports (and every port with `--all`).
    #[arg(long)]
    pub json: bool,

    /// With `--json`: one line per open port (every port with `--all`) as soon as it is known,
    /// then the document as a last line with `"kind": "summary"`.
    #[arg(long, requires = "json")]
    pub stream: bool,

    /// The most connects in flight at once (default: what the open-file limit allows).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: Option<u32>,

    /// The most connects started per second.
    #[arg(long, value_name = "PER_SECOND", value_parser = clap::value_parser!(u32).range(1..))]
    pub rate: Option<u32>,

    /// The longest a port waits for an answer (the timeout adapts below it to the round trip);
    /// `0`: no limit but the system's own.
    #[arg(long, short = 't', default_value = "1s", value_parser = parse_timeout)]
    pub timeout: Timeout,

    /// Send no ICMP echo. By default each host not on this host is pinged once as the scan
    /// starts, and a reply's round trip sets that host's timeout before any port answers (nmap's
    /// host discovery does the same; this is its `-Pn`).
    #[arg(long)]
    pub no_ping: bool,

    /// Allow CIDR blocks larger than 256 addresses (up to a /16).
    #[arg(long)]
    pub force: bool,
}

fn parse_ports(text: &str) -> Result<refused::scan::PortSet, String> {
    text.parse()
        .map_err(|err: refused::scan::PortSetError| err.to_string())
}

const WHY_EXAMPLES: &str = "\
Examples:
  refused why localhost:8080
  refused why postgres://db.internal:5433/app
  refused why [::1]:3000 --json | jq .cause
  sudo refused why 10.0.0.5:443     as root it also reads firewall rules and every process

Exit status: 0 if the target is reachable, 1 if it is not (the cause is diagnosed), 2 on a usage
error, 3 if the diagnosis itself failed.";

/// `refused why`'s `--timeout` when none is given.
pub const WHY_TIMEOUT: &str = "3s";

/// `refused why`.
#[derive(Debug, Args)]
pub struct WhyArgs {
    /// The target: `host:port`, `[v6]:port`, a URL (`postgres://host/db`), or `unix:///path`.
    #[arg(value_name = "TARGET", required = true)]
    pub target: String,

    /// A port typed apart from the host, as `nc HOST PORT` takes it: a usage error that says
    /// to write `HOST:PORT`.
    #[arg(value_name = "PORT", hide = true)]
    pub port: Option<String>,

    /// How long the whole diagnosis may take, name lookup included: 500ms, 3s, 1m; `0`: no
    /// limit but the system's own.
    #[arg(long, short = 't', default_value = WHY_TIMEOUT, value_parser = parse_timeout)]
    pub timeout: Timeout,

    /// One JSON object: target, cause, summary, attempts, evidence, suggestions.
    #[arg(long)]
    pub json: bool,

    /// Diagnose the direct connection even when `http_proxy`, `https_proxy` or `all_proxy`
    /// sends an `http://` or `https://` target through a proxy (by default the proxy is asked
    /// too: its refusal is the one curl and Python's requests report).
    #[arg(long)]
    pub no_proxy: bool,

    // `TlsArgs`' two options, written out: clap cannot tell whether a flattened `Option<WhyArgs>`
    // (`refused TARGET`) was given when it has a flattened struct of its own, and takes a value
    // from the environment as the sign that it was (so no `REFUSED_INSECURE` here).
    /// Skip TLS certificate verification.
    #[arg(long, short = 'k')]
    pub insecure: bool,

    /// A PEM file of certificate authorities to trust, besides the system's (read at start: a
    /// missing or unusable file is a usage error).
    #[arg(long, value_name = "FILE", value_parser = parse_cacert)]
    pub cacert: Option<std::path::PathBuf>,
}

impl WhyArgs {
    /// The TLS options, as `check` and `wait` take them.
    pub fn tls(&self) -> TlsArgs {
        TlsArgs {
            insecure: self.insecure,
            cacert: self.cacert.clone(),
        }
    }
}

const CHECK_EXAMPLES: &str = "\
Examples:
  refused check localhost:5432
  refused check db:5432 redis://cache [::1]:8080 --timeout 1s
  refused check unix:///run/postgresql/.s.PGSQL.5432
  refused check api:443 --json | jq .reason

Exit status: 0 if every target connected, 1 if any did not, 2 on a usage error.";

const WAIT_EXAMPLES: &str = "\
Examples:
  refused wait postgres://db:5432 redis://cache -- ./start-app
  refused wait http://localhost:8080/healthz --status 200 --timeout 1m
  refused wait localhost:3000 --down                 until it stops accepting
  REFUSED_TARGETS='db:5432 cache:6379' refused wait -- ./entrypoint.sh
  refused wait -h db -p 5432 -t 15 -- ./start      wait-for-it's form

Readiness by scheme: tcp (accepts and does not drop at once), http/https (status 200-399 or
--status, --body, --header), tls (handshake), postgres (not starting up, not too many clients),
redis (PING, not LOADING), mysql (greeting), unix (accepts; PostgreSQL's .s.PGSQL.PORT as postgres).

Exit status: that of the command when one is given and everything got ready (it replaces
`refused`); else 0 when ready, 1 on timeout (each target's last outcome and cause are printed),
2 on a usage error, 126/127 when the command cannot be run, 130/143 on Ctrl-C/SIGTERM.";

/// How probes judge readiness, for `check` and `wait`.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// HTTP statuses that are ready: `200`, `200,204`, `200-299` (default 200-399).
    #[arg(
        long,
        value_name = "LIST",
        value_parser = parse_statuses,
        env = "REFUSED_STATUS",
        alias = "expect-status-code"
    )]
    pub status: Option<refused::probe::StatusSet>,

    /// Text the HTTP body must contain.
    #[arg(long, value_name = "TEXT")]
    pub body: Option<String>,

    /// A regular expression the HTTP body must match.
    #[arg(long, value_name = "REGEX", value_parser = parse_regex, alias = "expect-body-regex")]
    pub body_regex: Option<regex::Regex>,

    /// A header the HTTP response must have: `NAME` or `NAME: VALUE`.
    #[arg(long, value_name = "HEADER", alias = "expect-header")]
    pub header: Option<String>,

    #[command(flatten)]
    pub tls: TlsArgs,

    /// How long a TCP connection must stay open to count (a port proxy accepts and drops).
    #[arg(long, value_name = "DURATION", default_value = "5ms", value_parser = parse_duration)]
    pub settle: Duration,
}

/// Whom TLS trusts, for `check`, `wait` and `why`.
#[derive(Debug, Args)]
pub struct TlsArgs {
    /// Skip TLS certificate verification.
    #[arg(
        long,
        short = 'k',
        env = "REFUSED_INSECURE",
        alias = "insecure-skip-tls-verify",
        action = ArgAction::SetTrue,
        value_parser = BoolishValueParser::new()
    )]
    pub insecure: bool,

    /// A PEM file of certificate authorities to trust, besides the system's (read at start: a
    /// missing or unusable file is a usage error).
    #[arg(long, value_name = "FILE", value_parser = parse_cacert)]
    pub cacert: Option<std::path::PathBuf>,
}

impl TlsArgs {
    /// The probe options with these TLS settings.
    pub fn apply(&self, options: &mut refused::probe::ProbeOptions) {
        options.insecure = self.insecure;
        options.ca_file.clone_from(&self.cacert);
    }
}

fn parse_cacert(text: &str) -> Result<std::path::PathBuf, String> {
    let path = std::path::PathBuf::from(text);
    refused::probe::check_ca_file(&path).map_err(|err| err.to_string())?;
    Ok(path)
}

impl ProbeArgs {
    /// The library's options.
    pub fn options(&self) -> refused::probe::ProbeOptions {
        let header = self.header.as_ref().map(|h| match h.split_once(':') {
            Some((name, value)) => (name.trim().to_owned(), Some(value.trim().to_owned())),
            None => (h.trim().to_owned(), None),
        });
        let mut options = refused::probe::ProbeOptions {
            settle: self.settle,
            http: refused::probe::HttpCheck {
                statuses: self.status.clone().unwrap_or_default(),
                body: self.body.clone(),
                body_regex: self.body_regex.clone(),
                header,
                read_body: false,
            },
            ..refused::probe::ProbeOptions::default()
        };
        self.tls.apply(&mut options);
        options
    }
}

fn parse_statuses(text: &str) -> Result<refused::probe::StatusSet, String> {
    text.parse()
        .map_err(|err: refused::probe::StatusSetError| err.to_string())
}

fn parse_regex(text: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(text).map_err(|err| format!("invalid regular expression: {err}"))
}

/// `refused wait`. `-h` is wait-for-it's `--host` here, so help is `--help` only.
#[derive(Debug, Args)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "independent command-line flags"
)]
pub struct WaitArgs {
    /// Targets, as for `check`; each argument is one target (a URL may hold commas). Without
    /// any, from `REFUSED_TARGETS` (separated by spaces).
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,

    /// The command to run once ready (after `--`); it replaces `refused`.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<std::ffi::OsString>,

    /// A host to wait for, with `--port` (wait-for-it's form of `HOST:PORT`).
    #[arg(long, short = 'h', value_name = "HOST", requires = "port")]
    pub host: Option<String>,

    /// The port of `--host`.
    #[arg(long, short = 'p', value_name = "PORT", requires = "host", value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,

    /// How long to wait in all: 30s, 2m, 15 (seconds); `0` waits for ever.
    #[arg(long, short = 't', default_value = "30s", value_parser = parse_timeout, env = "REFUSED_TIMEOUT")]
    pub timeout: Timeout,

    /// Done when any one target is ready (default: all of them).
    #[arg(long, env = "REFUSED_ANY", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub any: bool,

    /// Wait until the targets no longer accept connections.
    #[arg(
        long,
        env = "REFUSED_DOWN",
        alias = "invert-check",
        action = ArgAction::SetTrue,
        value_parser = BoolishValueParser::new()
    )]
    pub down: bool,

    /// The longest pause between two probes of a target (probing starts faster).
    #[arg(long, short = 'i', default_value = "25ms", value_parser = parse_duration, env = "REFUSED_INTERVAL")]
    pub interval: Duration,

    /// Ready probes in a row needed (as Kubernetes' successThreshold).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..), env = "REFUSED_SUCCESSES")]
    pub successes: u32,

    /// Accepted for wait-for-it: the command only ever runs once everything is ready.
    #[arg(long, short = 's')]
    pub strict: bool,

    /// Poll a port of this host even as root, where `wait` otherwise loads a small eBPF program
    /// so that the kernel tells it when a socket starts to listen.
    #[arg(long, env = "REFUSED_NO_BPF", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub no_bpf: bool,

    /// Events as JSON, one per line, on stdout.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub probe: ProbeArgs,

    /// Print help.
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,
}

impl WaitArgs {
    /// The targets' texts: the arguments, `--host`/`--port`, else `REFUSED_TARGETS`.
    pub fn target_texts(&self) -> Vec<String> {
        let mut texts = self.targets.clone();
        if let (Some(host), Some(port)) = (&self.host, self.port) {
            // An IPv6 literal needs its brackets once a port follows it.
            if host.contains(':') && !host.starts_with('[') {
                texts.push(format!("[{host}]:{port}"));
            } else {
                texts.push(format!("{host}:{port}"));
            }
        }
        if texts.is_empty() {
            if let Ok(list) = std::env::var("REFUSED_TARGETS") {
                texts.extend(list.split_whitespace().map(str::to_owned));
            }
        }
        texts
    }
}

/// `refused check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Targets: `host:port`, `[v6]:port`, `tcp://`, `http://`, `https://`, `postgres://`,
    /// `redis://`, `mysql://`, `unix:///path`.
    #[arg(required = true, value_name = "TARGET")]
    pub targets: Vec<String>,

    /// How long each target may take, name lookup included: 500ms, 3s, 1m; `0`: no limit but
    /// the system's own.
    #[arg(long, short = 't', default_value = "3s", value_parser = parse_timeout)]
    pub timeout: Timeout,

    /// One JSON object per target, one per line.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub probe: ProbeArgs,
}

/// `refused chek db:5432`: the first word is close to a subcommand's name and cannot be a
/// target (no port, no scheme), so it is taken as a mistyped subcommand. Without this, clap reads
/// it as `why`'s target and complains about the next argument instead.
pub fn mistyped_subcommand(
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> Option<clap::Error> {
    use clap::CommandFactory;
    let first = args.into_iter().nth(1)?;
    let first = first.to_str()?;
    if first.starts_with('-') || first.contains([':', '/', '[', '.', '@']) {
        return None;
    }
    let mut command = Cli::command();
    let names: Vec<String> = command
        .get_subcommands()
        .flat_map(|c| std::iter::once(c.get_name()).chain(c.get_all_aliases()))
        .chain(std::iter::once("help"))
        .map(str::to_owned)
        .collect();
    if names.iter().any(|n| n == first) {
        return None;
    }
    // clap's own threshold for "a similar subcommand exists".
    let (score, best) = names
        .iter()
        .map(|name| (strsim::jaro(first, name), name))
        .max_by(|a, b| a.0.total_cmp(&b.0))?;
    (score > 0.7).then(|| {
        command.error(
            clap::error::ErrorKind::InvalidSubcommand,
            format!("unrecognized subcommand `{first}`\n\n  tip: did you mean `{best}`?"),
        )
    })
}

const SERVE_EXAMPLES: &str = "\
Examples:
  refused serve                                   127.0.0.1:9115, loopback targets only
  refused serve --listen 0.0.0.0:9115 --allow 10.0.0.0/8
  refused serve --config /etc/prometheus/blackbox.yml --config-check
  curl 'localhost:9115/probe?module=tcp_connect&target=localhost:5432'

The config file is blackbox_exporter's (its tcp and http modules work unchanged) plus an `allow:`
list. SIGTERM or Ctrl-C lets the probes in flight finish, then exits 0.";

/// `refused serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:9115", value_name = "ADDR")]
    pub listen: std::net::SocketAddr,

    /// A YAML file: `blackbox_exporter`'s `modules:`, and `allow:` rules (CIDRs, host patterns,
    /// ports).
    #[arg(long, value_name = "FILE", env = "REFUSED_SERVE_CONFIG")]
    pub config: Option<std::path::PathBuf>,

    /// Allow targets in this CIDR block (repeatable). Without it and without `allow:` in the
    /// config, only loopback targets are probed; with it, only the blocks given (add `--allow
    /// 127.0.0.0/8` to keep loopback).
    #[arg(long, value_name = "CIDR", value_parser = parse_cidr)]
    pub allow: Vec<refused::serve::Cidr>,

    /// The most probes running at once; more get 503 at once (default 256).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_probes: Option<u32>,

    /// Check the configuration, print the modules, and exit.
    #[arg(long)]
    pub config_check: bool,
}

fn parse_cidr(text: &str) -> Result<refused::serve::Cidr, String> {
    text.parse()
        .map_err(|err: refused::serve::CidrError| err.to_string())
}
