//! The diagnosis: why a connection to a target fails (or what may fail for other clients when it
//! works), with the evidence and what to do.
//!
//! [`diagnose`] collects facts (resolve, one attempt per address, this host's socket
//! tables, owners, other namespaces, firewall rules, neighbours) and hands them to the rules
//! ([`rules::infer`]), which name exactly one [`Cause`] of the contract's table (docs/contract.md).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use refused::diagnose::{Options, diagnose};
//! let diagnosis = diagnose(&"localhost:8080".parse()?, &Options::default()).await?;
//! // "wrong-port: nothing listens on port 8080, but python3 (pid 4242) listens on 127.0.0.1:8000 ..."
//! println!("{}: {}", diagnosis.cause, diagnosis.summary);
//! for fix in &diagnosis.suggestions {
//!     println!("  {fix}");
//! }
//! # Ok(())
//! # }
//! ```

mod after;
mod bound;
mod budget;
mod collect;
mod commands;
mod conntrack;
mod denied;
mod dropper;
mod elsewhere;
pub mod evidence;
pub mod facts;
mod firewalld;
mod forwarded;
mod front_end;
mod held_path;
mod holder;
mod icmp;
mod left;
mod loopback;
mod namespaced;
mod placeholder;
mod rate_limit;
mod reuseport;
pub mod rules;
mod socket_only;
mod udp;
mod unaccepted;
mod unix_hidden;
mod untracked;

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::connect::{Attempt, ConnectError, as_millis};
use crate::probe::ProbeOptions;
use crate::proxy::Proxy;
use crate::target::Target;

pub use after::ReadAhead;
// The cause vocabulary lives beside the outcomes (the probe and the connect error name causes
// too); `diagnose::cause` and `diagnose::Cause` stay where callers found them.
pub use crate::cause::{self, Cause};
pub use crate::sys::forwarder::{Backend, Forwarder};
pub use evidence::{
    Blocker, Class, ClosedDirectory, ConnectionsLeft, ContainerPort, ContainerRuntime,
    EarlierListener, Evidence, FileSeen, FileType, HeldBy, HeldListener, HeldUnixListener,
    HiddenListener, Hook, Ipv6Switch, LinkState, Listener, Loopback, Mode, NameSource, Neighbour,
    Owner, Permission, PolicyRule, PortProxy, Process, RejectingRoute, RouteKind, Stopped,
    StoppedContainer, UnixSocketFacts, UnpublishedContainer, Unseen,
};
pub use facts::{
    AddressFacts, Facts, ForeignReach, Forwarded, Gateway, Holder, Init, NamedContainer,
    OwnerBlocked, PodmanContainer, Privilege, Proxied, Resolution, RootlessForward, RouteLookup,
    RulesRead,
};
pub use rules::{Finding, Unexplained};

/// How a diagnosis runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The time limit of the whole diagnosis. Resolution and the attempts share it, less a fifth
    /// (at most 600 ms) kept for reading this host's evidence afterwards; what has not been read
    /// by the end is listed as unseen. The evidence gets at least 60 ms, even past the limit
    /// (a zero limit, or a resolver that answered at the last moment): a diagnosis ends within
    /// 60 ms past it.
    pub timeout: Duration,
    /// How the readiness probe of a target that connects runs (the TCP settle, HTTP status,
    /// TLS trust).
    pub probe: ProbeOptions,
    /// How suggestions name this program, for commands to run as root: `sudo` does not search
    /// `~/.cargo/bin`, so the CLI passes the path it runs from.
    pub program: String,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(3),
            probe: ProbeOptions::default(),
            program: "refused".to_owned(),
        }
    }
}

/// What a diagnosis found: `refused why --json`'s document (docs/contract.md).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Diagnosis {
    /// The target as given.
    pub target: String,
    /// The cause.
    pub cause: Cause,
    /// One sentence.
    pub summary: String,
    /// One attempt per resolved address.
    pub attempts: Vec<Attempt>,
    /// The facts the cause rests on.
    pub evidence: Vec<Evidence>,
    /// What to do.
    pub suggestions: Vec<String>,
    /// What works now but may fail for other clients.
    pub warnings: Vec<String>,
    /// What could not be seen, and how to see it.
    pub unseen: Vec<Unseen>,
    /// How long the diagnosis took.
    #[serde(rename = "elapsed_ms", serialize_with = "as_millis")]
    pub elapsed: Duration,
    /// The proxy an HTTP client would go through, when one is set for the target (see
    /// [`diagnose_through`]); `None` for a direct diagnosis.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy: Option<ThroughProxy>,
}

/// The proxy of a diagnosis, and which connection the cause is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ThroughProxy {
    /// The proxy.
    #[serde(flatten)]
    pub proxy: Proxy,
    /// Which connection the cause, summary and evidence are about: the proxy's, when it fails
    /// (that is the failure clients going through it meet), else the direct one.
    pub diagnosed: Diagnosed,
}

/// Which connection a diagnosis with a proxy is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Diagnosed {
    /// The connection to the proxy.
    Proxy,
    /// The connection to the target, without the proxy.
    Direct,
}

/// Diagnoses `target` as an HTTP client that goes through `proxy` meets it (see
/// [`crate::proxy::for_target`]), asking the proxy and the target at once: when the proxy does
/// not take the connection, that is the failure such a client reports, and the diagnosis is
/// the proxy's (the direct connection's answer a warning); when it does, the diagnosis is the
/// direct one, with a warning that the client's request goes through the proxy.
pub async fn diagnose_through(
    target: &Target,
    proxy: &Proxy,
    options: &Options,
) -> Result<Diagnosis, Unexplained> {
    let named = proxy.said();
    let mark = |diagnosed| {
        Some(ThroughProxy {
            proxy: proxy.clone(),
            diagnosed,
        })
    };
    // The direct diagnosis stands, with what is known of the proxy as a warning.
    let direct_with = |mut direct: Diagnosis, said: &str| {
        direct.warnings.push(format!(
            "{named}, {said}: this answer is about the direct connection from this host"
        ));
        direct.proxy = mark(Diagnosed::Direct);
        direct
    };
    let Some(to_proxy) = proxy.target() else {
        let said = "whose URL names no port (clients disagree on the default)";
        return Ok(direct_with(diagnose(target, options).await?, said));
    };
    let (through, direct) = tokio::join!(
        diagnose_as(&to_proxy, options, true),
        diagnose(target, options)
    );
    let (through, direct) = (through?, direct?);
    let address = proxy.address.as_deref().unwrap_or_default();
    if through.cause.is_reachable() {
        let scheme = proxy.url.split_once("://").map_or("", |(scheme, _)| scheme);
        let scheme = scheme.to_ascii_lowercase();
        let socks = scheme.starts_with("socks");
        // socks5h and socks4a send the name to the proxy, which looks it up: this host's
        // lookup is none of the client's business.
        let remote_lookup = matches!(scheme.as_str(), "socks5h" | "socks4a")
            && matches!(
                direct.cause,
                Cause::DnsNotFound | Cause::DnsNoAddress | Cause::DnsFailure
            );
        if remote_lookup && scheme == "socks5h" && socks5_greets(address, options.timeout).await {
            let mut through = through;
            through.target = target.to_string();
            through.summary = format!(
                "{named}, {address}, which speaks SOCKS5 without a password and looks the name up itself: {}",
                through.summary
            );
            through.warnings.push(format!(
                "this host cannot look the name up ({}: {}): the proxy does, so that is not what the client meets; what it meets past the proxy is the proxy's SOCKS answer (`curl -x {} URL` shows it)",
                direct.cause, direct.summary, proxy.url
            ));
            through.proxy = mark(Diagnosed::Proxy);
            return Ok(through);
        }
        if remote_lookup {
            let said = format!(
                "and {address} accepts connections; it looks names up itself ({scheme}), so this host's failed lookup may not be what the client meets (`curl -x {} URL` tries through it)",
                proxy.url
            );
            return Ok(direct_with(direct, &said));
        }
        let answer = if socks {
            "a SOCKS failure reply when it cannot connect either (curl: `(97) ...`)"
        } else {
            "a 502 or 503 when it cannot connect either"
        };
        let said = format!(
            "and {address} accepts connections: what they meet past it is the proxy's answer ({answer})"
        );
        return Ok(direct_with(direct, &said));
    }
    let host = target.host().map(ToString::to_string).unwrap_or_default();
    let mut suggestions = through.suggestions;
    suggestions.push(format!(
        "or, if {host} is to be reached without the proxy: add it to `no_proxy` (`export no_proxy={host}`, or append `,{host}` to the list there)"
    ));
    let mut warnings = through.warnings;
    warnings.push(format!(
        "without the proxy, {}: {} ({})",
        direct.target, direct.cause, direct.summary
    ));
    Ok(Diagnosis {
        target: target.to_string(),
        cause: through.cause,
        summary: format!("{named}, {address}, and it fails: {}", through.summary),
        attempts: through.attempts,
        evidence: through.evidence,
        suggestions,
        warnings,
        unseen: through.unseen,
        elapsed: through.elapsed.max(direct.elapsed),
        proxy: mark(Diagnosed::Proxy),
    })
}

/// Whether a SOCKS5 proxy at `address` takes a client without a password: its answer to the
/// greeting that offers "no authentication" (`05 01 00`) is `05 00`. Within `limit`, at most
/// a second.
async fn socks5_greets(address: &str, limit: Duration) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let greet = async {
        let mut proxy = tokio::net::TcpStream::connect(address).await.ok()?;
        proxy.write_all(&[5, 1, 0]).await.ok()?;
        let mut answer = [0u8; 2];
        proxy.read_exact(&mut answer).await.ok()?;
        Some(answer == [5, 0])
    };
    let limit = limit.min(Duration::from_secs(1));
    matches!(tokio::time::timeout(limit, greet).await, Ok(Some(true)))
}

/// Diagnoses a target. Fails only when an attempt ends in a way no rule explains (out of file
/// descriptors, an unknown errno).
pub async fn diagnose(target: &Target, options: &Options) -> Result<Diagnosis, Unexplained> {
    diagnose_as(target, options, false).await
}

/// [`diagnose`], for a target that is a proxy's address (`proxy_address`) or not.
async fn diagnose_as(
    target: &Target,
    options: &Options,
    proxy_address: bool,
) -> Result<Diagnosis, Unexplained> {
    let start = Instant::now();
    let mut facts = collect::facts(target, options).await;
    facts.proxy_address = proxy_address;
    conclude(target, facts, start)
}

/// Diagnoses a connect that already failed (the last probe of a wait that ran out of time)
/// without dialling again: its attempts stand for the network, and only this host's evidence is
/// read, within `options.timeout` (a wait that has run out of time passes what is left of it,
/// nothing: the evidence then gets the 60 ms floor of [`Options::timeout`]). A failure with no
/// attempt and no DNS error is diagnosed afresh, as [`diagnose`] does.
pub async fn diagnose_failure(
    target: &Target,
    failure: &ConnectError,
    options: &Options,
) -> Result<Diagnosis, Unexplained> {
    let start = Instant::now();
    let facts = after::facts_of_failure(target, failure, options).await;
    conclude(target, facts, start)
}

/// Starts reading this host's evidence about a target that fails to connect, in the background,
/// ahead of need: a wait about to run out of time starts it shortly before its deadline, so that
/// explaining its last failure afterwards ([`diagnose_read_ahead`]) needs no time past it.
/// `seen` is a failure of the target already seen, if any: without one, the read is about the
/// addresses the target resolves to, each expected to time out (a probe still out after most of
/// the wait hangs). Needs a tokio runtime; dropping the value abandons the read.
pub fn read_ahead(target: &Target, seen: Option<&ConnectError>, options: &Options) -> ReadAhead {
    ReadAhead::start(target, seen, options)
}

/// [`diagnose_failure`] on the evidence `ahead` read, waited for within `options.timeout` (with
/// the same floor). When it is not about the failure's addresses and outcomes (or a DNS failure
/// came instead), the host is read again.
pub async fn diagnose_read_ahead(
    target: &Target,
    failure: &ConnectError,
    ahead: ReadAhead,
    options: &Options,
) -> Result<Diagnosis, Unexplained> {
    let start = Instant::now();
    let facts = ahead.facts(target, failure, options).await;
    conclude(target, facts, start)
}

/// The rules' finding on the facts, as the report.
fn conclude(target: &Target, facts: Facts, start: Instant) -> Result<Diagnosis, Unexplained> {
    let finding = rules::infer(&facts)?;
    let attempts = match facts.unix.as_deref() {
        Some((attempt, _)) => vec![attempt.clone()],
        None => facts.addresses.iter().map(|a| a.attempt.clone()).collect(),
    };
    Ok(Diagnosis {
        target: target.to_string(),
        cause: finding.cause,
        summary: finding.summary,
        attempts,
        evidence: finding.evidence,
        suggestions: finding.suggestions,
        warnings: finding.warnings,
        unseen: facts.unseen,
        elapsed: start.elapsed(),
        proxy: None,
    })
}
