//! The exporter's YAML configuration: blackbox exporter's `modules:` schema for `tcp` and `http`
//! modules (an existing `blackbox.yml` loads unchanged), our own `postgres`, `redis` and `mysql`
//! probers, and the `allow:` list.
//!
//! Every field blackbox exporter 0.23 knows is accepted, so its files load; a field nobody knows
//! (a typo) is an error at start with its line. A module that needs a blackbox feature we do not
//! implement (`query_response`, `method: POST`, the `icmp` prober...) loads as unsupported: asking
//! for it answers 400 with the reason, and [`Config::unsupported`] lists them for the start-up log.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_norway::Value;

use super::allow::{AllowRule, Allowlist, RawRule};
use crate::probe::{HttpCheck, ProbeOptions, StatusSet};

/// A module's timeout when the configuration gives none (blackbox exporter's default is the
/// scrape timeout; ours caps it too).
pub const DEFAULT_MODULE_TIMEOUT: Duration = Duration::from_secs(5);

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The YAML does not parse, or a field is unknown or has the wrong type (with its line).
    #[error("{0}")]
    Yaml(#[from] serde_norway::Error),
    /// A value parses as YAML but means nothing (a bad regex, duration, CIDR or port list).
    #[error("{place}: {message}")]
    Invalid {
        /// Where: `modules.http_2xx.timeout`, `allow[1].cidr`.
        place: String,
        /// What is wrong.
        message: String,
    },
}

impl ConfigError {
    pub(crate) fn invalid(place: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            place: place.into(),
            message: message.into(),
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Modules by name.
    pub modules: BTreeMap<String, Module>,
    /// Which targets may be probed.
    pub allow: Allowlist,
    /// The most probes running at once; a request past it gets 503 at once.
    pub max_concurrent_probes: usize,
    /// The most connections open at once (Prometheus keeps one alive per target); past it, a
    /// connection is answered 503 and closed without being read.
    pub max_connections: usize,
}

impl Default for Config {
    /// The built-in modules, loopback only.
    fn default() -> Self {
        Self {
            modules: builtin_modules(),
            allow: Allowlist::loopback(),
            max_concurrent_probes: 256,
            max_connections: 4096,
        }
    }
}

impl Config {
    /// Parses a YAML file's text: its modules are added to (and override) the built-in ones;
    /// its `allow:` list, if any, replaces the loopback-only default.
    pub fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        let raw: RawFile = serde_norway::from_str(text)?;
        let mut config = Self::default();
        for (name, module) in raw.modules {
            let module = module.resolve(&name)?;
            config.modules.insert(name, module);
        }
        if let Some(rules) = raw.allow {
            let rules = rules
                .into_iter()
                .enumerate()
                .map(|(i, rule)| rule.resolve(i))
                .collect::<Result<Vec<_>, _>>()?;
            config.allow = Allowlist::new(rules);
        }
        if let Some(max) = raw.max_concurrent_probes {
            if max == 0 {
                return Err(ConfigError::invalid(
                    "max_concurrent_probes",
                    "must be at least 1",
                ));
            }
            config.max_concurrent_probes = max;
        }
        if let Some(max) = raw.max_connections {
            if max == 0 {
                return Err(ConfigError::invalid(
                    "max_connections",
                    "must be at least 1",
                ));
            }
            config.max_connections = max;
        }
        Ok(config)
    }

    /// Adds allowlist rules given on the command line (`--allow CIDR`). The first one replaces
    /// the loopback-only default, as a config file's `allow:` does.
    pub fn allow_more(&mut self, rules: Vec<AllowRule>) {
        if rules.is_empty() {
            return;
        }
        if self.allow.is_default() {
            self.allow = Allowlist::new(Vec::new());
        }
        self.allow.extend(rules);
    }

    /// The modules that cannot be used, with why: for the start-up log.
    pub fn unsupported(&self) -> impl Iterator<Item = (&str, &str)> {
        self.modules
            .iter()
            .filter_map(|(name, module)| match module {
                Module::Unsupported(reason) => Some((name.as_str(), reason.as_str())),
                Module::Probe(_) => None,
            })
    }
}

/// A module: how to probe, or why this one cannot be.
#[derive(Debug, Clone)]
pub enum Module {
    /// A module we run.
    Probe(ProbeModule),
    /// A module of blackbox exporter's schema that needs what we do not implement.
    Unsupported(String),
}

/// How one module probes.
#[derive(Debug, Clone)]
pub struct ProbeModule {
    /// The protocol.
    pub prober: Prober,
    /// The longest a probe may take (a scrape's shorter timeout wins).
    pub timeout: Duration,
    /// Which resolved addresses to try.
    pub family: FamilyChoice,
    /// The library's probe options (statuses, body regex, TLS trust).
    pub options: ProbeOptions,
    /// An `https` target fails (`fail_if_ssl`).
    pub fail_if_ssl: bool,
    /// A plain `http` target fails (`fail_if_not_ssl`).
    pub fail_if_not_ssl: bool,
    /// An HTTP redirect is followed (blackbox's `follow_redirects`, on by default in its
    /// modules), up to 10, each hop within the allowlist.
    pub follow_redirects: bool,
}

/// The most redirects an HTTP probe follows, as blackbox exporter (and Go's client).
pub const MAX_REDIRECTS: u32 = 10;

/// What a module speaks; the target's scheme is set from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prober {
    /// A TCP connect (`tcp://`), or a TLS handshake with `tls: true` (`tls://`).
    Tcp {
        /// Whether to complete a TLS handshake.
        tls: Tls,
    },
    /// An HTTP `GET`; a target without a scheme gets this one.
    Http {
        /// The scheme of a target given without one.
        default_tls: Tls,
    },
    /// A PostgreSQL startup packet.
    Postgres,
    /// A Redis `PING`.
    Redis,
    /// A MySQL greeting.
    Mysql,
}

/// Whether TLS is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    /// Plain text.
    Off,
    /// TLS.
    On,
}

/// Which of a name's addresses a probe tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FamilyChoice {
    /// Every address, raced with happy eyeballs (the library's way; our per-scheme modules).
    All,
    /// blackbox exporter's way: the addresses of one family; the other only if there are none
    /// and `fallback` is on.
    Prefer {
        /// The family wanted (`preferred_ip_protocol`, `ip6` by default as in blackbox).
        family: IpFamily,
        /// `ip_protocol_fallback` (true by default).
        fallback: bool,
    },
}

/// An IP family, spelled as blackbox exporter does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum IpFamily {
    /// IPv4.
    #[serde(rename = "ip4")]
    V4,
    /// IPv6.
    #[serde(rename = "ip6")]
    V6,
}

/// The built-in modules: blackbox's `tcp_connect` and `http_2xx` (with its defaults: 2xx,
/// IPv6 preferred), and one per scheme with the library's defaults (`http` is 200-399, as
/// `refused check`).
pub fn builtin_modules() -> BTreeMap<String, Module> {
    let blackbox = FamilyChoice::Prefer {
        family: IpFamily::V6,
        fallback: true,
    };
    let module = |prober, family, options| {
        Module::Probe(ProbeModule {
            prober,
            timeout: DEFAULT_MODULE_TIMEOUT,
            family,
            options,
            fail_if_ssl: false,
            fail_if_not_ssl: false,
            follow_redirects: false,
        })
    };
    let two_xx = ProbeOptions {
        http: HttpCheck {
            statuses: two_xx(),
            ..HttpCheck::default()
        },
        ..ProbeOptions::default()
    };
    let plain = ProbeOptions::default;
    let http = |tls| Prober::Http { default_tls: tls };
    let tcp = |tls| Prober::Tcp { tls };
    let all = FamilyChoice::All;
    [
        ("tcp_connect", module(tcp(Tls::Off), blackbox, plain())),
        (
            "http_2xx",
            following(module(http(Tls::Off), blackbox, two_xx)),
        ),
        ("tcp", module(tcp(Tls::Off), all, plain())),
        ("tls", module(tcp(Tls::On), all, plain())),
        ("http", module(http(Tls::Off), all, plain())),
        ("https", module(http(Tls::On), all, plain())),
        ("postgres", module(Prober::Postgres, all, plain())),
        ("redis", module(Prober::Redis, all, plain())),
        ("mysql", module(Prober::Mysql, all, plain())),
    ]
    .into_iter()
    .map(|(name, module)| (name.to_owned(), module))
    .collect()
}

/// blackbox's `http_2xx` follows redirects, as every blackbox HTTP module by default; our
/// per-scheme `http` and `https` do not (a redirect is ready, as for `refused check`).
fn following(module: Module) -> Module {
    match module {
        Module::Probe(probe) => Module::Probe(ProbeModule {
            follow_redirects: true,
            ..probe
        }),
        unsupported @ Module::Unsupported(_) => unsupported,
    }
}

fn two_xx() -> StatusSet {
    "200-299".parse().unwrap_or_default()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    modules: BTreeMap<String, RawModule>,
    allow: Option<Vec<RawRule>>,
    max_concurrent_probes: Option<usize>,
    max_connections: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModule {
    prober: String,
    timeout: Option<String>,
    http: Option<RawHttp>,
    tcp: Option<RawTcp>,
    // Parsed by blackbox_exporter; their probers are not ours.
    #[serde(rename = "icmp")]
    _icmp: Option<IgnoredAny>,
    #[serde(rename = "dns")]
    _dns: Option<IgnoredAny>,
    #[serde(rename = "grpc")]
    _grpc: Option<IgnoredAny>,
}

/// blackbox exporter 0.23's `HTTPProbe`, `HTTPClientConfig` inlined.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    valid_status_codes: Option<Vec<u16>>,
    valid_http_versions: Option<Vec<String>>,
    preferred_ip_protocol: Option<IpFamily>,
    ip_protocol_fallback: Option<bool>,
    skip_resolve_phase_with_proxy: Option<bool>,
    no_follow_redirects: Option<bool>,
    fail_if_ssl: Option<bool>,
    fail_if_not_ssl: Option<bool>,
    method: Option<String>,
    headers: Option<BTreeMap<String, String>>,
    fail_if_body_matches_regexp: Option<Vec<String>>,
    fail_if_body_not_matches_regexp: Option<Vec<String>>,
    fail_if_header_matches: Option<Vec<Value>>,
    fail_if_header_not_matches: Option<Vec<Value>>,
    body: Option<String>,
    compression: Option<String>,
    body_size_limit: Option<Value>,
    // prometheus/common's HTTPClientConfig.
    basic_auth: Option<Value>,
    authorization: Option<Value>,
    oauth2: Option<Value>,
    bearer_token: Option<String>,
    bearer_token_file: Option<String>,
    tls_config: Option<RawTls>,
    proxy_url: Option<String>,
    no_proxy: Option<String>,
    proxy_from_environment: Option<bool>,
    proxy_connect_header: Option<Value>,
    follow_redirects: Option<bool>,
    #[serde(rename = "enable_http2")]
    _enable_http2: Option<bool>,
}

/// blackbox exporter 0.23's `TCPProbe`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTcp {
    preferred_ip_protocol: Option<IpFamily>,
    ip_protocol_fallback: Option<bool>,
    source_ip_address: Option<String>,
    query_response: Option<Vec<Value>>,
    tls: Option<bool>,
    tls_config: Option<RawTls>,
}

/// prometheus/common's `TLSConfig`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    ca: Option<String>,
    cert: Option<String>,
    key: Option<String>,
    ca_file: Option<PathBuf>,
    cert_file: Option<String>,
    key_file: Option<String>,
    server_name: Option<String>,
    insecure_skip_verify: Option<bool>,
    min_version: Option<String>,
    max_version: Option<String>,
}

/// `Err(reason)`: the module needs something we do not implement.
type Support<T> = Result<T, String>;

impl RawModule {
    fn resolve(self, name: &str) -> Result<Module, ConfigError> {
        let place = format!("modules.{name}");
        let timeout = match &self.timeout {
            Some(text) => parse_go_duration(text)
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    ConfigError::invalid(
                        format!("{place}.timeout"),
                        format!("`{text}` is not a duration (examples: 5s, 500ms, 1m30s)"),
                    )
                })?,
            None => DEFAULT_MODULE_TIMEOUT,
        };
        let prober = self.prober.clone();
        let built = match prober.as_str() {
            "tcp" => self.tcp_module(),
            "http" => self.http_module(&place)?,
            "postgres" | "redis" | "mysql" => self.database_module(&prober),
            "icmp" | "dns" | "grpc" => Err(format!(
                "the `{prober}` prober is blackbox_exporter's; refused serve probes tcp, http, \
                 postgres, redis and mysql"
            )),
            other => {
                return Err(ConfigError::invalid(
                    format!("{place}.prober"),
                    format!(
                        "unknown prober `{other}` (tcp, http, postgres, redis, mysql; \
                         blackbox's icmp, dns and grpc load but cannot be used)"
                    ),
                ));
            }
        };
        Ok(match built {
            Ok(mut module) => {
                module.timeout = timeout;
                Module::Probe(module)
            }
            Err(reason) => Module::Unsupported(reason),
        })
    }

    fn tcp_module(self) -> Support<ProbeModule> {
        let tcp = self.tcp.unwrap_or_default();
        if tcp.source_ip_address.is_some() {
            return Err(unsupported("tcp.source_ip_address"));
        }
        if tcp.query_response.is_some_and(|q| !q.is_empty()) {
            return Err(unsupported("tcp.query_response"));
        }
        let tls = if tcp.tls.unwrap_or(false) {
            Tls::On
        } else {
            Tls::Off
        };
        let mut options = ProbeOptions::default();
        tls_options(tcp.tls_config, "tcp.tls_config", &mut options)?;
        Ok(ProbeModule {
            prober: Prober::Tcp { tls },
            timeout: DEFAULT_MODULE_TIMEOUT,
            family: prefer(tcp.preferred_ip_protocol, tcp.ip_protocol_fallback),
            options,
            fail_if_ssl: false,
            fail_if_not_ssl: false,
            follow_redirects: false,
        })
    }

    fn http_module(self, place: &str) -> Result<Support<ProbeModule>, ConfigError> {
        let http = self.http.unwrap_or_default();
        let mut check = HttpCheck {
            statuses: two_xx(),
            ..HttpCheck::default()
        };
        if let Some(codes) = &http.valid_status_codes {
            if !codes.is_empty() {
                let list: Vec<String> = codes.iter().map(ToString::to_string).collect();
                check.statuses = list.join(",").parse().map_err(|err| {
                    ConfigError::invalid(
                        format!("{place}.http.valid_status_codes"),
                        format!("{err}"),
                    )
                })?;
            }
        }
        if let Some(patterns) = &http.fail_if_body_not_matches_regexp {
            match patterns.as_slice() {
                [] => {}
                [pattern] => {
                    check.body_regex = Some(regex::Regex::new(pattern).map_err(|err| {
                        ConfigError::invalid(
                            format!("{place}.http.fail_if_body_not_matches_regexp"),
                            format!("`{pattern}` is not a regular expression: {err}"),
                        )
                    })?);
                }
                _ => {
                    return Ok(Err(
                        "`http.fail_if_body_not_matches_regexp` with more than one pattern is not \
                         implemented by refused serve"
                            .to_owned(),
                    ));
                }
            }
        }
        Ok(http.supported().and_then(|()| {
            let mut options = ProbeOptions {
                http: check,
                ..ProbeOptions::default()
            };
            tls_options(http.tls_config, "http.tls_config", &mut options)?;
            Ok(ProbeModule {
                prober: Prober::Http {
                    default_tls: Tls::Off,
                },
                timeout: DEFAULT_MODULE_TIMEOUT,
                family: prefer(http.preferred_ip_protocol, http.ip_protocol_fallback),
                options,
                fail_if_ssl: http.fail_if_ssl.unwrap_or(false),
                fail_if_not_ssl: http.fail_if_not_ssl.unwrap_or(false),
                // blackbox 0.23: the deprecated `no_follow_redirects`, when set, wins.
                follow_redirects: http
                    .no_follow_redirects
                    .map_or(http.follow_redirects.unwrap_or(true), |no| !no),
            })
        }))
    }

    fn database_module(self, prober: &str) -> Support<ProbeModule> {
        if self.http.is_some() {
            return Err(format!("a `{prober}` module takes no `http` section"));
        }
        let tcp = self.tcp.unwrap_or_default();
        if tcp.tls.is_some() || tcp.tls_config.is_some() || tcp.query_response.is_some() {
            return Err(format!(
                "a `{prober}` module's `tcp` section takes `preferred_ip_protocol` and \
                 `ip_protocol_fallback` only"
            ));
        }
        let family = if tcp.preferred_ip_protocol.is_some() {
            prefer(tcp.preferred_ip_protocol, tcp.ip_protocol_fallback)
        } else {
            FamilyChoice::All
        };
        Ok(ProbeModule {
            prober: match prober {
                "postgres" => Prober::Postgres,
                "redis" => Prober::Redis,
                _ => Prober::Mysql,
            },
            timeout: DEFAULT_MODULE_TIMEOUT,
            family,
            options: ProbeOptions::default(),
            fail_if_ssl: false,
            fail_if_not_ssl: false,
            follow_redirects: false,
        })
    }
}

impl RawHttp {
    /// Whether every field that is set is one we honour (or a default we match).
    fn supported(&self) -> Support<()> {
        if let Some(method) = &self.method {
            if !method.eq_ignore_ascii_case("GET") {
                return Err(unsupported("http.method other than GET"));
            }
        }
        if let Some(versions) = &self.valid_http_versions {
            if !versions.is_empty() && !versions.iter().any(|v| v == "HTTP/1.1") {
                return Err(
                    "`http.valid_http_versions` without HTTP/1.1 (refused serve speaks HTTP/1.1)"
                        .to_owned(),
                );
            }
        }
        let set = [
            (
                "http.headers",
                self.headers.as_ref().is_some_and(|h| !h.is_empty()),
            ),
            (
                "http.body",
                self.body.as_ref().is_some_and(|b| !b.is_empty()),
            ),
            (
                "http.fail_if_body_matches_regexp",
                self.fail_if_body_matches_regexp
                    .as_ref()
                    .is_some_and(|r| !r.is_empty()),
            ),
            (
                "http.fail_if_header_matches",
                self.fail_if_header_matches
                    .as_ref()
                    .is_some_and(|r| !r.is_empty()),
            ),
            (
                "http.fail_if_header_not_matches",
                self.fail_if_header_not_matches
                    .as_ref()
                    .is_some_and(|r| !r.is_empty()),
            ),
            (
                "http.compression",
                self.compression.as_ref().is_some_and(|c| !c.is_empty()),
            ),
            ("http.body_size_limit", self.body_size_limit.is_some()),
            ("http.basic_auth", self.basic_auth.is_some()),
            ("http.authorization", self.authorization.is_some()),
            ("http.oauth2", self.oauth2.is_some()),
            ("http.bearer_token", self.bearer_token.is_some()),
            ("http.bearer_token_file", self.bearer_token_file.is_some()),
            ("http.proxy_url", self.proxy_url.is_some()),
            ("http.no_proxy", self.no_proxy.is_some()),
            (
                "http.proxy_from_environment",
                self.proxy_from_environment == Some(true),
            ),
            (
                "http.proxy_connect_header",
                self.proxy_connect_header.is_some(),
            ),
            (
                "http.skip_resolve_phase_with_proxy",
                self.skip_resolve_phase_with_proxy == Some(true),
            ),
        ];
        match set.iter().find(|(_, is_set)| *is_set) {
            Some((field, _)) => Err(unsupported(field)),
            // HTTP/2 is not offered (`enable_http2`): the README says so; it stops no module.
            None => Ok(()),
        }
    }
}

fn unsupported(field: &str) -> String {
    format!("`{field}` is not implemented by refused serve")
}

fn prefer(family: Option<IpFamily>, fallback: Option<bool>) -> FamilyChoice {
    FamilyChoice::Prefer {
        family: family.unwrap_or(IpFamily::V6),
        fallback: fallback.unwrap_or(true),
    }
}

fn tls_options(tls: Option<RawTls>, place: &str, options: &mut ProbeOptions) -> Support<()> {
    let Some(tls) = tls else { return Ok(()) };
    let unknown = [
        ("ca", tls.ca.is_some()),
        ("cert", tls.cert.is_some()),
        ("key", tls.key.is_some()),
        ("cert_file", tls.cert_file.is_some()),
        ("key_file", tls.key_file.is_some()),
        ("server_name", tls.server_name.is_some()),
        ("min_version", tls.min_version.is_some()),
        ("max_version", tls.max_version.is_some()),
    ];
    if let Some((field, _)) = unknown.iter().find(|(_, set)| *set) {
        return Err(unsupported(&format!("{place}.{field}")));
    }
    options.insecure = tls.insecure_skip_verify.unwrap_or(false);
    options.ca_file = tls.ca_file;
    Ok(())
}

/// Go's `time.ParseDuration` for the forms configs use: `5s`, `500ms`, `1m30s`, `1.5s`, `2h`.
pub fn parse_go_duration(text: &str) -> Option<Duration> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = 0.0_f64;
    while !rest.is_empty() {
        let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let (number, tail) = rest.split_at(number_end);
        let value: f64 = number.parse().ok()?;
        let unit_end = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_end);
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += value * scale;
        rest = tail;
    }
    Duration::try_from_secs_f64(total).ok()
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
