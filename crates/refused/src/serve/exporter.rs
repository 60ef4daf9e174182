//! One `/probe` request: build the target for the module, resolve it, check the allowlist on the
//! addresses, pin them, probe, diagnose a failure, and render blackbox exporter's metrics plus ours.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use super::config::{FamilyChoice, IpFamily, MAX_REDIRECTS, ProbeModule, Prober, Tls};
use super::{Allowlist, Format};
use crate::connect::Address;
use crate::diagnose::{self, diagnose};
use crate::probe::{HttpResponse, ProbeFailure, ProbeOptions, ProbeReport, Readiness, probe};
use crate::resolve::{ResolveErrorKind, resolve};
use crate::target::{Endpoint, Host, Port, Scheme, Target};

/// The longest `summary` label: a long sentence would make the series hard to read and its
/// changes (a pid in the text) would churn the series more.
pub const MAX_SUMMARY: usize = 100;

/// The share of the time budget the probe may use; the rest is the diagnosis's, so that the
/// answer comes before the scrape times out.
const PROBE_SHARE: f64 = 0.9;

/// Why a probe request gets no metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 400: the target or module is wrong for this exporter.
    BadRequest(String),
    /// 403: the target is outside the allowlist; nothing was sent to it.
    Forbidden(String),
}

/// What a probe found, before it is rendered.
#[derive(Debug, Default)]
pub(super) struct Findings {
    pub(super) success: bool,
    pub(super) duration: Duration,
    pub(super) dns: Duration,
    /// The address probed: the one that connected, else the first tried.
    pub(super) address: Option<IpAddr>,
    pub(super) http: Option<HttpFindings>,
    pub(super) failure: Option<Failure>,
    pub(super) attempts: Vec<(String, bool, Duration)>,
    pub(super) tls: Option<TlsFindings>,
}

/// blackbox's TLS metrics.
#[derive(Debug)]
pub(super) struct TlsFindings {
    pub(super) version: String,
    /// The earliest `notAfter` of the certificates sent, in Unix seconds.
    pub(super) earliest_expiry: Option<i64>,
}

#[derive(Debug, Default)]
pub(super) struct HttpFindings {
    /// The last request's response, as blackbox reports it.
    pub(super) last: LastResponse,
    /// The redirects answered (the last one too when it was not followed).
    pub(super) redirects: u32,
    /// blackbox's phases, summed over every request (each redirect's too).
    pub(super) phases: Phases,
}

/// What blackbox reports of the last response; all zero (the default) without one.
#[derive(Debug, Default)]
pub(super) struct LastResponse {
    pub(super) status: u16,
    pub(super) ssl: bool,
    /// The version (1.1).
    pub(super) version: f64,
    /// The `Content-Length`: -1 when it sent none (as Go's `ContentLength`).
    pub(super) content_length: i64,
    /// The bytes of its body.
    pub(super) body_length: u64,
    /// Its `Last-Modified`, in Unix seconds.
    pub(super) last_modified: Option<i64>,
}

impl LastResponse {
    /// Of `response`, received over TLS or not.
    fn of(response: &HttpResponse, tls: bool) -> Self {
        // Go hands a redirect's response over with its body closed, unread, followed or not:
        // blackbox counts no body for it.
        let body_read = response.location.is_none();
        Self {
            status: response.status,
            ssl: tls,
            version: f64::from(response.version.0) + f64::from(response.version.1) / 10.0,
            content_length: response
                .content_length
                .map_or(-1, |length| i64::try_from(length).unwrap_or(i64::MAX)),
            body_length: response.body_length.filter(|_| body_read).unwrap_or(0),
            last_modified: response.last_modified.map(|time| {
                time.duration_since(std::time::UNIX_EPOCH).map_or_else(
                    |before| -i64::try_from(before.duration().as_secs()).unwrap_or(i64::MAX),
                    |after| i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
                )
            }),
        }
    }
}

/// Time spent by phase, as blackbox names them.
#[derive(Debug, Default)]
pub(super) struct Phases {
    pub(super) resolve: Duration,
    pub(super) connect: Duration,
    pub(super) tls: Duration,
    pub(super) processing: Duration,
    pub(super) transfer: Duration,
}

#[derive(Debug)]
pub(super) struct Failure {
    pub(super) cause: String,
    pub(super) outcome: String,
    pub(super) summary: String,
}

/// Turns the target text into the module's kind of target (blackbox's forms: `host:port` for
/// tcp, a URL or `host[:port]` for http).
pub fn target_for(module: &ProbeModule, text: &str) -> Result<Target, Refusal> {
    let bad = |why: String| Refusal::BadRequest(why);
    let has_scheme = text.contains("://");
    let (scheme, wanted): (&str, &[Scheme]) = match module.prober {
        Prober::Tcp { tls: Tls::Off } => ("tcp", &[]),
        Prober::Tcp { tls: Tls::On } => ("tls", &[]),
        Prober::Http {
            default_tls: Tls::Off,
        } => ("http", &[Scheme::Http, Scheme::Https]),
        Prober::Http {
            default_tls: Tls::On,
        } => ("https", &[Scheme::Http, Scheme::Https]),
        Prober::Postgres => ("postgres", &[Scheme::Postgres]),
        Prober::Redis => ("redis", &[Scheme::Redis]),
        Prober::Mysql => ("mysql", &[Scheme::Mysql]),
    };
    let parsed: Target = if has_scheme {
        text.parse()
    } else {
        format!("{scheme}://{text}").parse()
    }
    .map_err(|err| bad(format!("invalid target: {err}")))?;
    let Endpoint::Tcp { .. } = parsed.endpoint() else {
        return Err(bad(
            "unix sockets are not probed by refused serve (no allowlist can cover them)".into(),
        ));
    };
    if wanted.is_empty() {
        // A tcp module probes the endpoint, whatever the scheme written (`postgres://db` too).
        let endpoint = parsed.endpoint().to_string();
        return format!("{scheme}://{endpoint}")
            .parse()
            .map_err(|err| bad(format!("invalid target: {err}")));
    }
    if !wanted.contains(&parsed.scheme()) {
        return Err(bad(format!(
            "the module probes {scheme}, not `{}://` targets",
            parsed.scheme().as_str()
        )));
    }
    Ok(parsed)
}

/// The addresses a module tries, of those resolved: `None` when none is of a family it may use.
fn choose(family: FamilyChoice, resolved: Vec<SocketAddr>) -> Option<Vec<SocketAddr>> {
    let FamilyChoice::Prefer { family, fallback } = family else {
        return Some(resolved);
    };
    let is = |addr: &SocketAddr| match family {
        IpFamily::V4 => addr.is_ipv4(),
        IpFamily::V6 => addr.is_ipv6(),
    };
    let preferred: Vec<SocketAddr> = resolved.iter().copied().filter(is).collect();
    if !preferred.is_empty() {
        return Some(preferred);
    }
    (fallback && !resolved.is_empty()).then_some(resolved)
}

/// Runs one probe within `budget`: the rendered answer, and whether the probe succeeded. A
/// failure is diagnosed if one of `diagnoses` is free.
pub async fn run(
    module: &ProbeModule,
    target: Target,
    allow: &Allowlist,
    budget: Duration,
    diagnoses: &Arc<Semaphore>,
    format: Format,
) -> Result<(String, bool), Refusal> {
    let findings = find(module, target, allow, budget, diagnoses).await?;
    Ok((
        super::render::render(&findings, module, format),
        findings.success,
    ))
}

async fn find(
    module: &ProbeModule,
    target: Target,
    allow: &Allowlist,
    budget: Duration,
    diagnoses: &Arc<Semaphore>,
) -> Result<Findings, Refusal> {
    let start = Instant::now();
    let deadline = start + budget;
    let mut findings = Findings {
        http: matches!(module.prober, Prober::Http { .. }).then(HttpFindings::default),
        ..Findings::default()
    };
    // Each pass probes one URL: the target's, then that of each redirect followed, with its own
    // resolution, allowlist check and connection (another host, port or scheme maybe).
    let mut next = target;
    let (target, report) = loop {
        let target = next;
        let first = findings
            .http
            .as_ref()
            .is_none_or(|http| http.redirects == 0);
        let (host, port) = match target.endpoint() {
            Endpoint::Tcp { host, port } => (host.clone(), *port),
            Endpoint::Unix(_) => return Err(Refusal::BadRequest("not a TCP target".into())),
        };
        if !first && Instant::now() >= deadline {
            lost_response(&mut findings);
            return Ok(stopped(
                findings,
                start,
                "out of time before the redirect's request",
            ));
        }
        let resolving = Instant::now();
        let chosen = addresses(module, &host, port, deadline).await;
        if first {
            findings.dns = start.elapsed();
        }
        if let Some(http) = &mut findings.http {
            http.phases.resolve += resolving.elapsed();
        }
        let chosen = match chosen {
            Ok(addrs) => addrs,
            Err(kind) => {
                // A redirect's request that was never sent has no response.
                lost_response(&mut findings);
                return Ok(dns_failure(findings, kind, &host, start));
            }
        };
        let name = match &host {
            Host::Name(name) => Some(name.as_str()),
            Host::Ip(_) | Host::ScopedIpv6 { .. } => None,
        };
        if let Some(denied) = allow.first_denied(name, &chosen) {
            let via = name
                .map(|n| format!(" (`{n}` resolved to it)"))
                .unwrap_or_default();
            let outside = format!("{denied}{via} is not in the allowlist");
            if first {
                return Err(Refusal::Forbidden(format!("{outside}: nothing was sent")));
            }
            // A redirect out of the allowlist: the probe ends at the redirect (its status kept),
            // failed. The summary names the address, not the URL (a query would churn the series).
            return Ok(stopped(
                findings,
                start,
                &format!("a redirect was not followed: {outside}"),
            ));
        }
        if first {
            // blackbox's `probe_ip_*` are of the target's own address, whatever the redirects.
            findings.address = chosen.first().map(SocketAddr::ip);
        }
        let target = target.pin(chosen);

        let probe_budget = deadline
            .saturating_duration_since(Instant::now())
            .mul_f64(PROBE_SHARE);
        let report = probe(&target, &exporter_options(module), probe_budget).await;
        record(&mut findings, first, &target, &report);
        next = match follow(module, &mut findings, &target, &report) {
            None => break (target, report),
            Some(Ok(url)) => url,
            Some(Err(why)) => {
                lost_response(&mut findings);
                let summary = format!("a redirect was not followed: {why}");
                return Ok(stopped(findings, start, &summary));
            }
        };
    };
    let is_tls = target.scheme() == Scheme::Https;
    findings.success = report.readiness.is_ready();
    if findings.success && (module.fail_if_ssl && is_tls || module.fail_if_not_ssl && !is_tls) {
        findings.success = false;
        let which = if is_tls {
            "fail_if_ssl"
        } else {
            "fail_if_not_ssl"
        };
        findings.failure = Some(Failure {
            cause: String::new(),
            outcome: "connected".to_owned(),
            summary: format!("the module's `{which}` is set"),
        });
    }
    if !report.readiness.is_ready() {
        findings.failure =
            Some(explain(target, module, &report.readiness, deadline, diagnoses).await);
    }
    findings.duration = start.elapsed();
    Ok(findings)
}

/// How an exporter probes with `module`: no walk of `/proc` for each probe (see
/// `ProbeOptions::owner_check`), an exporter probes too often for it, so its TCP probes keep the
/// whole settle; the body read, as blackbox reads it, for the transfer phase.
fn exporter_options(module: &ProbeModule) -> ProbeOptions {
    let mut options = ProbeOptions {
        owner_check: false,
        ..module.options.clone()
    };
    options.http.read_body = true;
    options
}

/// The addresses of `host` the module tries, resolved before `deadline`.
async fn addresses(
    module: &ProbeModule,
    host: &Host,
    port: Port,
    deadline: Instant,
) -> Result<Vec<SocketAddr>, ResolveErrorKind> {
    let left = deadline.saturating_duration_since(Instant::now());
    let resolved = match tokio::time::timeout(left, resolve(host, port)).await {
        Ok(result) => result.map_err(|err| err.kind)?,
        Err(_) => return Err(ResolveErrorKind::Timeout),
    };
    choose(module.family, resolved).ok_or(ResolveErrorKind::NoAddress)
}

/// What one probe (of the target, or of a redirect) says of the last request: its attempts, its
/// response's status and TLS session; for the target's own, the address that connected.
fn record(findings: &mut Findings, first: bool, target: &Target, report: &ProbeReport) {
    findings.attempts.clear();
    for attempt in &report.attempts {
        let address = attempt.address.to_string();
        let ok = attempt.outcome.is_connected();
        findings.attempts.retain(|(a, _, _)| *a != address);
        findings.attempts.push((address, ok, attempt.elapsed));
    }
    if let Some(Address::Inet(addr)) = report
        .attempts
        .iter()
        .rfind(|a| a.outcome.is_connected())
        .map(|a| &a.address)
        .filter(|_| first)
    {
        findings.address = Some(addr.ip());
    }
    if let Some(http) = &mut findings.http {
        let response = report.http.as_ref();
        let tls = target.scheme() == Scheme::Https;
        http.last = response
            .map(|r| LastResponse::of(r, tls))
            .unwrap_or_default();
        // A redirect's body is not read (see `LastResponse::of`): no transfer either.
        let body_read = response.filter(|r| r.location.is_none());
        let phases = &mut http.phases;
        phases.connect += report.connect.unwrap_or_default();
        phases.tls += report.tls.as_ref().map(|t| t.handshake).unwrap_or_default();
        phases.processing += response.map(|r| r.processing).unwrap_or_default();
        phases.transfer += body_read.and_then(|r| r.transfer).unwrap_or_default();
    }
    findings.tls = report.tls.as_ref().map(|session| TlsFindings {
        version: session.version.clone(),
        earliest_expiry: session
            .certificates
            .iter()
            .filter_map(|der| x509_parser::parse_x509_certificate(der).ok())
            .map(|(_, cert)| cert.validity().not_after.timestamp())
            .min(),
    });
}

/// The next URL when the probe answered a redirect the module follows, counted as blackbox
/// counts them (Go's `CheckRedirect`: each redirect whose `Location` parsed, followed or not);
/// `None` to end with this response (no redirect, not followed, or the 11th).
fn follow(
    module: &ProbeModule,
    findings: &mut Findings,
    from: &Target,
    report: &ProbeReport,
) -> Option<Result<Target, String>> {
    let location = report.http.as_ref().and_then(|r| r.location.as_ref());
    let (Some(http), Some(location)) = (&mut findings.http, location) else {
        return None;
    };
    if !module.follow_redirects {
        http.redirects += 1;
        return None;
    }
    let next = redirected(from, location);
    if !matches!(next, Err(Unfollowable::Unparsable(_))) {
        http.redirects += 1;
    }
    (http.redirects <= MAX_REDIRECTS).then(|| next.map_err(|why| why.to_string()))
}

/// Why a redirect cannot be followed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum Unfollowable {
    /// Its `Location` is no URL, even relative to the one it came from.
    #[error("its location is not a URL ({0})")]
    Unparsable(String),
    /// It leads to a URL we cannot probe.
    #[error("it leads to {0}")]
    Unsupported(String),
}

/// The URL a redirect from `from` to `location` (relative or not, as sent) leads to. A relative
/// one from a zoned IPv6 address (`[fe80::1%eth0]`) is unparsable: URLs have no zones.
fn redirected(from: &Target, location: &str) -> Result<Target, Unfollowable> {
    let path = if from.path().is_empty() {
        "/"
    } else {
        from.path()
    };
    let base = format!("{}://{}{path}", from.scheme().as_str(), from.endpoint());
    let unparsable = |err: url::ParseError| Unfollowable::Unparsable(err.to_string());
    let mut url = url::Url::parse(&base)
        .and_then(|base| base.join(location))
        .map_err(unparsable)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Unfollowable::Unsupported(format!(
            "a `{}:` URL, not HTTP",
            url.scheme()
        )));
    }
    // The fragment stays with the client; nothing of it is sent.
    url.set_fragment(None);
    url.as_str()
        .parse()
        .map_err(|err: crate::target::TargetError| {
            Unfollowable::Unsupported(format!("no target refused can probe: {}", err.kind()))
        })
}

/// The last request got no response (a redirect's, never sent or never answered): no status,
/// no TLS, no attempts, as blackbox reports a request that failed.
fn lost_response(findings: &mut Findings) {
    if let Some(http) = &mut findings.http {
        http.last = LastResponse::default();
    }
    findings.tls = None;
    findings.attempts.clear();
}

/// A probe that ended at a redirect it could not follow: failed.
fn stopped(mut findings: Findings, start: Instant, summary: &str) -> Findings {
    findings.success = false;
    findings.failure = Some(Failure {
        cause: String::new(),
        outcome: "connected".to_owned(),
        summary: shorten(summary),
    });
    findings.duration = start.elapsed();
    findings
}

/// The diagnosis of a failed probe, in the time left. It reads this host's tables without
/// yielding (tens of milliseconds, seconds with many namespaces), so it runs on a blocking
/// thread: the runtime keeps serving, and the deadline holds (a late diagnosis is left to finish
/// on its own, holding its slot).
async fn explain(
    target: Target,
    module: &ProbeModule,
    readiness: &Readiness,
    deadline: Instant,
    diagnoses: &Arc<Semaphore>,
) -> Failure {
    let outcome = match readiness {
        Readiness::Failed(ProbeFailure::Connect(err)) => {
            err.outcome().map_or("", |o| o.as_label()).to_owned()
        }
        _ => "connected".to_owned(),
    };
    let left = deadline.saturating_duration_since(Instant::now());
    let options = diagnose::Options {
        timeout: left,
        probe: module.options.clone(),
        ..diagnose::Options::default()
    };
    let own_words = |note: &str| Failure {
        cause: String::new(),
        outcome: outcome.clone(),
        summary: shorten(&format!("{readiness}{note}")),
    };
    let Ok(permit) = Arc::clone(diagnoses).try_acquire_owned() else {
        return own_words(" (not diagnosed: too many diagnoses running)");
    };
    // A failed connect is explained from its own attempts, as `wait` explains its last: a
    // second connect in the time left would say less ("no answer within" what was left), or
    // connect where the probe did not.
    let failed = match readiness {
        Readiness::Failed(ProbeFailure::Connect(err)) => Some(err.clone()),
        _ => None,
    };
    let runtime = tokio::runtime::Handle::current();
    let running = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        runtime.block_on(async {
            match &failed {
                Some(err) => diagnose::diagnose_failure(&target, err, &options).await,
                None => diagnose(&target, &options).await,
            }
        })
    });
    let tokio_deadline = tokio::time::Instant::from_std(deadline);
    match tokio::time::timeout_at(tokio_deadline, running).await {
        Ok(Ok(Ok(found))) => Failure {
            cause: found.cause.as_label().to_owned(),
            outcome: outcome.clone(),
            summary: shorten(&found.summary),
        },
        // An outcome no rule explains: the probe's own words, no cause.
        Ok(_) => own_words(""),
        Err(_) => own_words(" (not diagnosed in the time left)"),
    }
}

fn dns_failure(
    mut findings: Findings,
    kind: ResolveErrorKind,
    host: &Host,
    start: Instant,
) -> Findings {
    findings.failure = Some(Failure {
        cause: kind.as_label().to_owned(),
        outcome: String::new(),
        summary: shorten(&format!("`{host}` did not resolve: {kind}")),
    });
    findings.duration = start.elapsed();
    findings
}

/// At most [`MAX_SUMMARY`] characters, cut at a word with `…` when longer.
pub fn shorten(text: &str) -> String {
    let text = text.trim();
    if text.chars().count() <= MAX_SUMMARY {
        return text.to_owned();
    }
    let cut: String = text.chars().take(MAX_SUMMARY - 1).collect();
    let cut = match cut.rfind(' ') {
        Some(space) if space > MAX_SUMMARY / 2 => &cut[..space],
        _ => cut.as_str(),
    };
    format!("{}…", cut.trim_end_matches([',', ';', ':', ' ']))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::config::{Module, builtin_modules};

    fn module(name: &str) -> ProbeModule {
        match builtin_modules().remove(name) {
            Some(Module::Probe(module)) => module,
            _ => panic!("{name}"),
        }
    }

    #[test]
    fn targets_take_the_modules_scheme() {
        let cases = [
            ("tcp_connect", "db:5432", "tcp", "db:5432"),
            ("tcp_connect", "postgres://db/app", "tcp", "db:5432"),
            ("tls", "web:443", "tls", "web:443"),
            ("http_2xx", "web:8080/healthz", "http", "web:8080"),
            ("http_2xx", "https://web/", "https", "web:443"),
            ("https", "web", "https", "web:443"),
            ("postgres", "db", "postgres", "db:5432"),
            ("redis", "redis://cache:6380", "redis", "cache:6380"),
        ];
        for (name, text, scheme, endpoint) in cases {
            let target = target_for(&module(name), text).unwrap();
            assert_eq!(target.scheme().as_str(), scheme, "{name} {text}");
            assert_eq!(target.endpoint().to_string(), endpoint, "{name} {text}");
        }
        assert_eq!(
            target_for(&module("http_2xx"), "web:8080/healthz")
                .unwrap()
                .path(),
            "/healthz"
        );
        for (name, text, expected) in [
            ("http_2xx", "redis://cache", "probes http"),
            ("postgres", "mysql://db", "probes postgres"),
            ("tcp_connect", "unix:///run/x.sock", "unix sockets"),
            ("tcp_connect", "db:99999", "invalid target"),
            ("tcp_connect", "db", "invalid target"),
        ] {
            let Err(Refusal::BadRequest(why)) = target_for(&module(name), text) else {
                panic!("{name} {text}")
            };
            assert!(why.contains(expected), "{why}");
        }
    }

    #[test]
    fn families_as_blackbox_chooses_them() {
        let v4: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let v6: SocketAddr = "[::1]:80".parse().unwrap();
        let prefer = |family, fallback| FamilyChoice::Prefer { family, fallback };
        assert_eq!(
            choose(prefer(IpFamily::V6, true), vec![v4, v6]),
            Some(vec![v6])
        );
        assert_eq!(choose(prefer(IpFamily::V6, true), vec![v4]), Some(vec![v4]));
        assert_eq!(choose(prefer(IpFamily::V6, false), vec![v4]), None);
        assert_eq!(choose(FamilyChoice::All, vec![v4, v6]), Some(vec![v4, v6]));
    }

    #[test]
    fn redirects_lead_where_a_browser_goes() {
        let from: Target = "http://web:8080/a/b?x=1".parse().unwrap();
        let cases = [
            ("/up", "http", "web:8080", "/up"),
            ("c", "http", "web:8080", "/a/c"),
            ("../c?y=2", "http", "web:8080", "/c?y=2"),
            ("?z", "http", "web:8080", "/a/b?z"),
            ("https://other/", "https", "other:443", "/"),
            ("//other:81/p#frag", "http", "other:81", "/p"),
            ("http://[::1]:9/", "http", "[::1]:9", "/"),
        ];
        for (location, scheme, endpoint, path) in cases {
            let to = redirected(&from, location).unwrap();
            assert_eq!(to.scheme().as_str(), scheme, "{location}");
            assert_eq!(to.endpoint().to_string(), endpoint, "{location}");
            assert_eq!(to.path(), path, "{location}");
        }
        let root: Target = "http://web".parse().unwrap();
        assert_eq!(redirected(&root, "up").unwrap().path(), "/up");
        for (location, why) in [
            ("ftp://web/", "`ftp:` URL, not HTTP"),
            ("http://web:99999/", "not a URL (invalid port number)"),
            ("http://[::1/", "not a URL"),
        ] {
            let err = redirected(&from, location).unwrap_err().to_string();
            assert!(err.contains(why), "{location}: {err}");
        }
    }

    #[test]
    fn summaries_are_cut_at_a_word() {
        assert_eq!(shorten(" short "), "short");
        let long = "nothing listens on port 8080, but python3 (pid 4242) listens on 127.0.0.1:8000 which looks like the program meant";
        let short = shorten(long);
        assert!(short.chars().count() <= MAX_SUMMARY, "{short}");
        assert!(short.ends_with('…') && long.starts_with(short.trim_end_matches('…')));
        let unbroken = "x".repeat(300);
        assert_eq!(shorten(&unbroken).chars().count(), MAX_SUMMARY);
    }
}
