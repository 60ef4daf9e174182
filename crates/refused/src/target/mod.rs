//! Targets: what the user asked to reach, parsed from `host:port`, `[v6]:port` or a URL.
//!
//! The parser is hand-written rather than built on the `url` crate so that every error names the
//! exact part of the input that is wrong (`port `99999` is out of range`), and so that the forms
//! people actually type (`localhost:5432`, `[::1]:6379`, `unix:///run/app.sock`) parse alike.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::path::PathBuf;
use std::str::FromStr;

mod pasted;

/// A TCP port number, never zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Port(u16);

impl Port {
    /// The port, or `None` for 0 (which cannot be connected to).
    pub const fn new(port: u16) -> Option<Self> {
        if port == 0 { None } else { Some(Self(port)) }
    }

    /// The port number.
    pub const fn get(self) -> u16 {
        self.0
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The scheme a target was written with; it brings the default port and the readiness probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// A bare `host:port` or `tcp://host:port`: the port accepting is all that is asked.
    Tcp,
    /// `tls://host:port`: a TLS handshake on top of TCP.
    Tls,
    /// `http://`.
    Http,
    /// `https://`.
    Https,
    /// `postgres://` or `postgresql://`.
    Postgres,
    /// `redis://`.
    Redis,
    /// `mysql://`.
    Mysql,
    /// `unix:///path`, or a bare absolute path.
    Unix,
}

impl Scheme {
    /// The scheme for a URL prefix (without `://`), case-insensitive.
    pub fn from_prefix(prefix: &str) -> Option<Self> {
        Some(match prefix.to_ascii_lowercase().as_str() {
            "tcp" => Self::Tcp,
            "tls" => Self::Tls,
            "http" => Self::Http,
            "https" => Self::Https,
            "postgres" | "postgresql" => Self::Postgres,
            "redis" => Self::Redis,
            // MariaDB speaks MySQL's protocol, on its port.
            "mysql" | "mariadb" => Self::Mysql,
            "unix" => Self::Unix,
            _ => return None,
        })
    }

    /// The port used when the target names none; `None` where the scheme has no usual port.
    pub const fn default_port(self) -> Option<Port> {
        match self {
            Self::Tcp | Self::Tls | Self::Unix => None,
            Self::Http => Some(Port(80)),
            Self::Https => Some(Port(443)),
            Self::Postgres => Some(Port(5432)),
            Self::Redis => Some(Port(6379)),
            Self::Mysql => Some(Port(3306)),
        }
    }

    /// The lowercase name, as written before `://`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Tls => "tls",
            Self::Http => "http",
            Self::Https => "https",
            Self::Postgres => "postgres",
            Self::Redis => "redis",
            Self::Mysql => "mysql",
            Self::Unix => "unix",
        }
    }
}

/// A host: an address literal or a name to resolve.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// An IPv4 or IPv6 literal; nothing to resolve.
    Ip(IpAddr),
    /// An IPv6 literal with a zone, `[fe80::1%eth0]`: a link-local address means nothing
    /// without the interface it is on.
    ScopedIpv6 {
        /// The address.
        ip: Ipv6Addr,
        /// The zone as written: an interface name (`eth0`) or its index (`2`).
        zone: String,
        /// The interface's index, the socket address's `scope_id`.
        scope_id: u32,
    },
    /// A name such as `localhost` or `db.internal`, resolved with the system's resolver.
    Name(String),
}

impl Host {
    /// The socket address of a literal (with its scope), `None` for a name.
    pub fn socket_addr(&self, port: Port) -> Option<SocketAddr> {
        match self {
            Self::Ip(ip) => Some(SocketAddr::new(*ip, port.get())),
            Self::ScopedIpv6 { ip, scope_id, .. } => Some(SocketAddr::V6(SocketAddrV6::new(
                *ip,
                port.get(),
                0,
                *scope_id,
            ))),
            Self::Name(_) => None,
        }
    }

    /// The address of a literal, without its scope; `None` for a name.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Self::Ip(ip) => Some(*ip),
            Self::ScopedIpv6 { ip, .. } => Some(IpAddr::V6(*ip)),
            Self::Name(_) => None,
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Self::Ip(IpAddr::V4(ip)) => ip.fmt(f),
            Self::ScopedIpv6 { ip, zone, .. } => write!(f, "[{ip}%{zone}]"),
            Self::Name(name) => f.write_str(name),
        }
    }
}

/// Where a target lives: a TCP host and port, or a unix socket path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// A TCP endpoint.
    Tcp {
        /// The host to resolve or the literal address.
        host: Host,
        /// The port, explicit or the scheme's default.
        port: Port,
    },
    /// A unix stream socket.
    Unix(PathBuf),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp { host, port } => write!(f, "{host}:{port}"),
            Self::Unix(path) => write!(f, "unix://{}", path.display()),
        }
    }
}

/// A parsed target.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    scheme: Scheme,
    endpoint: Endpoint,
    /// What follows the authority in a URL (`/healthz?x=1`), empty for `host:port`.
    path: String,
    original: String,
    /// Addresses resolved beforehand: connects and diagnoses use these, never the resolver.
    pinned: Option<Vec<SocketAddr>>,
}

impl Target {
    /// This target, to be reached at these addresses only (in this order), as if the resolver
    /// had answered them: the name stays for HTTP's `Host`, TLS's server name and the reports.
    /// A server that checks resolved addresses against an allowlist pins them, so a second
    /// lookup cannot answer differently (DNS rebinding).
    #[must_use]
    pub fn pin(mut self, addresses: Vec<SocketAddr>) -> Self {
        self.pinned = Some(addresses);
        self
    }

    /// The pinned addresses, if any (see [`Target::pin`]).
    pub fn pinned(&self) -> Option<&[SocketAddr]> {
        self.pinned.as_deref()
    }

    /// The scheme (`Tcp` for a bare `host:port`).
    pub const fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The TCP host and port, or the unix path.
    pub const fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The URL path with its query (`/healthz?ready=1`), or `""`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The text the target was parsed from.
    pub fn as_str(&self) -> &str {
        &self.original
    }

    /// The TCP port, `None` for a unix socket.
    pub const fn port(&self) -> Option<Port> {
        match &self.endpoint {
            Endpoint::Tcp { port, .. } => Some(*port),
            Endpoint::Unix(_) => None,
        }
    }

    /// The user name of a URL's userinfo (`postgres://app@db/...` -> `app`), if any.
    pub fn user(&self) -> Option<&str> {
        let (_, rest) = self.original.split_once("://")?;
        let authority = rest.split(['/', '?', '#']).next()?;
        let (userinfo, _) = authority.rsplit_once('@')?;
        let user = userinfo.split(':').next()?;
        (!user.is_empty()).then_some(user)
    }

    /// The TCP host, `None` for a unix socket.
    pub const fn host(&self) -> Option<&Host> {
        match &self.endpoint {
            Endpoint::Tcp { host, .. } => Some(host),
            Endpoint::Unix(_) => None,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

impl FromStr for Target {
    type Err = TargetError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        match parse(input) {
            Ok(target) => Ok(Self {
                original: without_password(&target.original, Userinfo::InAuthority).into_owned(),
                ..target
            }),
            Err(kind) => {
                let userinfo = if kind == TargetErrorKind::SlashInUserinfo {
                    Userinfo::UpToLastAt
                } else {
                    Userinfo::InAuthority
                };
                Err(TargetError {
                    input: without_password(input.trim(), userinfo).into_owned(),
                    kind,
                })
            }
        }
    }
}

/// Where a URL's userinfo ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Userinfo {
    /// At the last `@` of the authority (up to the first `/`, `?` or `#`): a parsed URL's.
    InAuthority,
    /// At the last `@` before the query, for a password with a `/` in it.
    UpToLastAt,
}

/// The names of a URL's query parameters that carry a secret (libpq's `password` and
/// `sslpassword`, redis-py's `password`, JDBC's, an API's `token`...), compared without case.
const SECRET_PARAMETERS: [&str; 10] = [
    "password",
    "passwd",
    "pass",
    "pwd",
    "sslpassword",
    "secret",
    "token",
    "access_token",
    "api_key",
    "apikey",
];

/// The text with a URL's password written `***`, in its userinfo and in its query
/// (`?password=`): the target is printed in every report, the JSON's `target` and errors,
/// which end up in CI logs (`wait postgres://app:secret@db/app`).
fn without_password(text: &str, userinfo: Userinfo) -> std::borrow::Cow<'_, str> {
    match without_userinfo_password(text, userinfo) {
        std::borrow::Cow::Borrowed(text) => without_secret_parameters(text),
        std::borrow::Cow::Owned(text) => without_secret_parameters(&text).into_owned().into(),
    }
}

/// The text with the values of its query's [`SECRET_PARAMETERS`] written `***`.
fn without_secret_parameters(text: &str) -> std::borrow::Cow<'_, str> {
    let Some(start) = text.find('?').map(|i| i + 1) else {
        return text.into();
    };
    let end = text[start..].find('#').map_or(text.len(), |i| start + i);
    let mut changed = false;
    let query: Vec<String> = text[start..end]
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, value))
                if !value.is_empty()
                    && SECRET_PARAMETERS
                        .iter()
                        .any(|secret| name.eq_ignore_ascii_case(secret)) =>
            {
                changed = true;
                format!("{name}=***")
            }
            _ => pair.to_owned(),
        })
        .collect();
    if !changed {
        return text.into();
    }
    format!("{}{}{}", &text[..start], query.join("&"), &text[end..]).into()
}

/// The text with its userinfo's password written `***`.
fn without_userinfo_password(text: &str, userinfo: Userinfo) -> std::borrow::Cow<'_, str> {
    let Some(start) = text.find("://").map(|i| i + 3) else {
        return text.into();
    };
    let rest = &text[start..];
    let end = match userinfo {
        Userinfo::InAuthority => rest.find(['/', '?', '#']),
        Userinfo::UpToLastAt => rest.find(['?', '#']),
    }
    .unwrap_or(rest.len());
    let Some(at) = rest[..end].rfind('@') else {
        return text.into();
    };
    match rest[..at].split_once(':') {
        Some((user, password)) if !user.contains('/') && !password.is_empty() => {
            format!("{}{user}:***{}", &text[..start], &rest[at..]).into()
        }
        _ => text.into(),
    }
}

/// A target that could not be parsed: the input and what is wrong with which part of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid target `{input}`: {kind}")]
pub struct TargetError {
    input: String,
    kind: TargetErrorKind,
}

impl TargetError {
    /// What is wrong.
    pub const fn kind(&self) -> &TargetErrorKind {
        &self.kind
    }

    /// The input that failed to parse.
    pub fn input(&self) -> &str {
        &self.input
    }
}

/// What is wrong with a target, naming the bad part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetErrorKind {
    /// Nothing was given.
    #[error("the target is empty")]
    Empty,
    /// A scheme we do not know.
    #[error("unknown scheme `{0}` (known: tcp, tls, http, https, postgres, redis, mysql, unix)")]
    UnknownScheme(String),
    /// No host before the port.
    #[error("the host is missing before `:{0}`")]
    MissingHost(String),
    /// A host with characters no name or address has.
    #[error("`{0}` is not a valid host name or address")]
    InvalidHost(String),
    /// `[` without `]`.
    #[error("`{0}` opens `[` but never closes it")]
    UnclosedBracket(String),
    /// Something inside `[...]` that is not an IPv6 address.
    #[error("`{0}` is not an IPv6 address")]
    InvalidIpv6(String),
    /// An IPv6 address written without brackets, where the port cannot be told apart.
    #[error("IPv6 address `{0}` must be written in brackets, as `[{0}]:PORT`")]
    BareIpv6(String),
    /// Text after `]` that is not `:port`.
    #[error("unexpected `{0}` after the IPv6 address (expected `:PORT`)")]
    TrailingAfterBracket(String),
    /// No port, and the scheme has no default.
    #[error("no port given for `{0}` (write `{0}:PORT`)")]
    MissingPort(String),
    /// A port that is not a number.
    #[error("port `{0}` is not a number")]
    InvalidPort(String),
    /// A port above 65535.
    #[error("port `{0}` is out of range (1-65535)")]
    PortOutOfRange(String),
    /// Port 0.
    #[error("port `0` cannot be connected to (1-65535)")]
    PortZero,
    /// `%` after an IPv6 address with nothing (usable) after it.
    #[error("zone `{0}` is not an interface name or index (as in `[fe80::1%eth0]:PORT`)")]
    InvalidZone(String),
    /// A zone that names no interface of this host.
    #[error("zone `{0}`: this host has no network interface of that name")]
    UnknownInterface(String),
    /// `unix://` without an absolute path.
    #[error("unix socket path `{0}` must be absolute, as `unix:///run/app.sock`")]
    RelativeUnixPath(String),
    /// A unix socket path longer than `sun_path` holds.
    #[error(
        "unix socket path `{path}` is {bytes} bytes long, over the limit of {UNIX_PATH_MAX} \
         (`sun_path` holds 108 bytes, the closing NUL included): use a shorter path, or a \
         symbolic link to the socket's directory"
    )]
    UnixPathTooLong {
        /// The path.
        path: String,
        /// Its length in bytes.
        bytes: usize,
    },
    /// An abstract unix socket (`@name`: Linux's, with no file), which is not supported.
    #[error(
        "`{0}` is an abstract unix socket (no file: `ss -xl` lists it as `{0}`): not supported \
         yet; a socket with a path is written `unix:///run/app.sock`"
    )]
    AbstractUnix(String),
    /// A link-local IPv6 address without its interface: every link may have it, and a connect
    /// cannot tell which is meant.
    #[error(
        "`{0}` is a link-local address: it needs the interface it is on, as `[{0}%eth0]:PORT` \
         (`ip -6 addr` shows which)"
    )]
    LinkLocalWithoutZone(String),
    /// A unix socket path with a NUL byte in it, which no file name has.
    #[error("unix socket path `{0}` contains a NUL byte")]
    UnixPathNul(String),
    /// An IPv6 address and its port without brackets, as Node prints them (`::1:3000`): the
    /// text with brackets (`[::1]:3000`).
    #[error("an IPv6 address and its port need brackets: write `{0}`")]
    BareIpv6WithPort(String),
    /// `host:port:`, as cut from Go's `dial tcp 127.0.0.1:8080: connect: ...`.
    #[error("unexpected `:` at the end: write `{0}`")]
    TrailingColon(String),
    /// More than one `:` in a `host:port` that is no IPv6 address.
    #[error(
        "`{0}` has more than one `:` (write `HOST:PORT`, an IPv6 address in brackets: `[::1]:PORT`)"
    )]
    TooManyColons(String),
    /// Java's `NAME/ADDRESS:PORT` (`localhost/127.0.0.1:8080`): the address and port.
    #[error(
        "this is Java's `NAME/ADDRESS:PORT`: write `{0}`, the address it connected to (or the name, a `:` and the port, to try every address of the name)"
    )]
    JavaAddress(String),
    /// Java's `/ADDRESS:PORT` (an address without a name), which reads as a unix socket's path:
    /// the address and port.
    #[error(
        "this is Java's `/ADDRESS:PORT`: write `{0}`, the address it connected to (a unix socket of that path is written with `unix://` before it)"
    )]
    SlashAddress(String),
    /// Spaces, as in an error message pasted whole; `meant` is the target it names, if any.
    #[error(
        "a target has no spaces{}",
        match meant {
            Some(meant) => format!(": the one in this text is `{meant}`"),
            None => " (`HOST:PORT`, `[IPV6]:PORT` or a URL)".to_owned(),
        }
    )]
    Spaces {
        /// The target found in the text.
        meant: Option<String>,
    },
    /// A scheme of another service: the target that checks its port (`HOST:PORT`, or
    /// `tls://HOST:PORT` for a scheme that starts with TLS).
    #[error(
        "unknown scheme (known: tcp, tls, http, https, postgres, redis, mysql, unix): to check its port, write `{0}`"
    )]
    OtherScheme(String),
    /// A port alone (`8080`), as `nc -z localhost 8080` and `docker -p` write it apart.
    #[error("`{0}` is a port alone: write `HOST:{0}` (`localhost:{0}` for this host)")]
    PortAlone(String),
    /// A `/` in a URL's user name or password, which ends the host there.
    #[error(
        "the user name or password (before `@`) has a `/`, which ends the host: write it as `%2F`"
    )]
    SlashInUserinfo,
}

/// The longest unix socket path in bytes: `sun_path` is 108 bytes, and the path must end in NUL
/// there (std and tokio refuse a path that fills it).
pub const UNIX_PATH_MAX: usize = 107;

fn parse(input: &str) -> Result<Target, TargetErrorKind> {
    let trimmed = unquoted(input.trim());
    if trimmed.is_empty() {
        return Err(TargetErrorKind::Empty);
    }
    if let Some(after_slash) = trimmed.strip_prefix('/') {
        // Java's `/127.0.0.1:8080` (an `InetSocketAddress` without a name), not a file.
        if let Some(meant) = pasted::literal_with_port(after_slash) {
            return Err(TargetErrorKind::SlashAddress(meant));
        }
        return unix_target(trimmed, trimmed);
    }
    if trimmed.starts_with('@') {
        return Err(TargetErrorKind::AbstractUnix(trimmed.to_owned()));
    }
    // `unix:/run/app.sock`, as gunicorn, nginx and uWSGI write it (`unix:8080` stays a host
    // named unix and its port).
    if let Some(rest) = trimmed
        .get(..5)
        .filter(|prefix| prefix.eq_ignore_ascii_case("unix:"))
        .map(|_| &trimmed[5..])
        .filter(|rest| !rest.starts_with("//") && !rest.bytes().all(|b| b.is_ascii_digit()))
    {
        return unix_path(trimmed, rest);
    }
    // A whole error line pasted (`dial tcp 127.0.0.1:8080: connect: connection refused`): no
    // target has spaces, a unix socket path's aside (`unix:///run/my app.sock`).
    if !is_unix_url(trimmed) && trimmed.contains(char::is_whitespace) {
        return Err(TargetErrorKind::Spaces {
            meant: pasted::named_in_message(trimmed),
        });
    }
    let (scheme, rest) = match trimmed.split_once("://") {
        Some((prefix, rest)) => match Scheme::from_prefix(prefix) {
            Some(scheme) => (scheme, rest),
            None => return other_scheme(trimmed, prefix, rest),
        },
        None => (Scheme::Tcp, trimmed),
    };
    if scheme == Scheme::Unix {
        return unix_path(trimmed, without_query(rest));
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    // Credentials (`user:pass@`) are not ours to use; the host starts after the last `@`.
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let form = if trimmed.contains("://") {
        Form::Url
    } else {
        Form::HostPort
    };
    if scheme == Scheme::Postgres {
        if let Some(socket) = postgres_socket(host_port, path)? {
            return unix_target(trimmed, &socket.to_string_lossy()).map(|target| Target {
                path: path.to_owned(),
                ..target
            });
        }
    }
    // Java's `localhost/127.0.0.1:8080`: the name, then the address it connected to.
    if form == Form::HostPort && !authority.contains(':') && parse_host(authority).is_ok() {
        if let Some(meant) = path.get(1..).and_then(pasted::literal_with_port) {
            return Err(TargetErrorKind::JavaAddress(meant));
        }
    }
    let query_host;
    let host_port = match postgres_query_host(scheme, host_port, path) {
        Some(host) => {
            query_host = host;
            query_host.as_str()
        }
        None => host_port,
    };
    let split = split_host_port(host_port, form).and_then(|(host, port)| {
        let port = match port {
            Some(text) => parse_port(text)?,
            None if form == Form::HostPort && parse_port(host_port).is_ok() => {
                return Err(TargetErrorKind::PortAlone(host_port.to_owned()));
            }
            None => scheme
                .default_port()
                .ok_or_else(|| TargetErrorKind::MissingPort(host_port.to_owned()))?,
        };
        Ok((host, port))
    });
    let (host, port) = match split {
        Ok(split) => split,
        // `user:pa/ss@db`: the `/` of the password ended the authority early.
        Err(_)
            if form == Form::Url
                && path
                    .split(['?', '#'])
                    .next()
                    .is_some_and(|p| p.contains('@')) =>
        {
            return Err(TargetErrorKind::SlashInUserinfo);
        }
        Err(err) => return Err(err),
    };
    Ok(Target {
        scheme,
        endpoint: Endpoint::Tcp { host, port },
        path: path.to_owned(),
        original: trimmed.to_owned(),
        pinned: None,
    })
}

/// Whether the text is a URL of a unix socket (`unix://`, `redis+unix://`, `redis+socket://`),
/// whose path may hold spaces.
fn is_unix_url(text: &str) -> bool {
    text.split_once("://").is_some_and(|(prefix, _)| {
        let prefix = prefix.to_ascii_lowercase();
        prefix == "unix" || prefix.ends_with("+unix") || prefix.ends_with("+socket")
    })
}

/// The text without one pair of quotes around it all, as a target is pasted from JSON, YAML or
/// a shell line (`"localhost:8080"`).
fn unquoted(text: &str) -> &str {
    for quote in ['"', '\'', '`'] {
        if let Some(inner) = text
            .strip_prefix(quote)
            .and_then(|rest| rest.strip_suffix(quote))
        {
            return inner.trim();
        }
    }
    text
}

/// A `unix://` URL's path without its query: redis-py's `unix:///run/redis.sock?db=0`.
fn without_query(path: &str) -> &str {
    path.split_once(['?', '#']).map_or(path, |(path, _)| path)
}

/// A URL of a scheme `Scheme` does not name: a driver's (`postgresql+psycopg2://`, as
/// `SQLAlchemy` writes them, `redis+unix://` and Celery's `redis+socket://`, requests-unixsocket's
/// `http+unix://%2Frun%2Fapp.sock/`) read as its own, else an error that says, where the URL
/// has a port or the scheme a usual one, which target checks that port.
fn other_scheme(trimmed: &str, prefix: &str, rest: &str) -> Result<Target, TargetErrorKind> {
    let lower = prefix.to_ascii_lowercase();
    // Java's JDBC URLs: `jdbc:postgresql://db:5432/app`, `jdbc:mysql://...`, `jdbc:mariadb://`.
    if let Some(scheme @ (Scheme::Postgres | Scheme::Mysql)) =
        lower.strip_prefix("jdbc:").and_then(Scheme::from_prefix)
    {
        return as_scheme(trimmed, scheme, rest);
    }
    if let Some((base, transport)) = lower.split_once('+') {
        match (base, transport) {
            // Redis's own check over its socket: a Redis still loading its data accepts
            // connections and answers `-LOADING`.
            ("redis", "unix" | "socket") => {
                return unix_path(trimmed, without_query(rest)).map(|target| Target {
                    scheme: Scheme::Redis,
                    ..target
                });
            }
            ("http" | "https", "unix") => {
                let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
                let socket = percent_decoded(&rest[..end]);
                return unix_path(trimmed, &socket).map(|target| Target {
                    path: rest[end..].to_owned(),
                    // HTTP's check over the socket (Docker's API: `/_ping`); TLS over a unix
                    // socket has no name to check a certificate against: a connect.
                    scheme: if base == "http" {
                        Scheme::Http
                    } else {
                        Scheme::Unix
                    },
                    ..target
                });
            }
            (_, "sentinel") => {}
            _ => {
                if let Some(scheme @ (Scheme::Postgres | Scheme::Mysql | Scheme::Redis)) =
                    Scheme::from_prefix(base)
                {
                    return as_scheme(trimmed, scheme, rest);
                }
            }
        }
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let usual = OTHER_SCHEMES.iter().find(|(name, ..)| *name == lower);
    let instead = match split_host_port(host_port, Form::Url) {
        Ok((host, Some(port))) if parse_port(port).is_ok() => {
            let tls = usual.is_some_and(|(_, _, tls)| *tls);
            Some(format!("{}{host}:{port}", if tls { "tls://" } else { "" }))
        }
        Ok((host, None)) => {
            usual.map(|(_, port, tls)| format!("{}{host}:{port}", if *tls { "tls://" } else { "" }))
        }
        _ => None,
    };
    Err(match instead {
        Some(instead) => TargetErrorKind::OtherScheme(instead),
        None => TargetErrorKind::UnknownScheme(prefix.to_owned()),
    })
}

/// `rest` read as a URL of `scheme`, printed as it was written (`trimmed`).
fn as_scheme(trimmed: &str, scheme: Scheme, rest: &str) -> Result<Target, TargetErrorKind> {
    parse(&format!("{}://{rest}", scheme.as_str())).map(|target| Target {
        original: trimmed.to_owned(),
        ..target
    })
}

/// Schemes of other services with their usual port, and whether they speak TLS from the start.
const OTHER_SCHEMES: &[(&str, u16, bool)] = &[
    ("amqp", 5672, false),
    ("amqps", 5671, true),
    ("ftp", 21, false),
    ("imap", 143, false),
    ("imaps", 993, true),
    ("ldap", 389, false),
    ("ldaps", 636, true),
    ("memcached", 11211, false),
    ("mongodb", 27017, false),
    ("mqtt", 1883, false),
    ("mqtts", 8883, true),
    ("mssql", 1433, false),
    ("nats", 4222, false),
    ("rediss", 6379, true),
    ("smtp", 25, false),
    ("smtps", 465, true),
    ("sqlserver", 1433, false),
    ("ssh", 22, false),
    ("ws", 80, false),
    ("wss", 443, true),
];

/// libpq's TCP host given in the query (`postgres:///db?host=db&port=5433`), as `HOST:PORT`,
/// for a URL with no host of its own.
fn postgres_query_host(scheme: Scheme, host_port: &str, path: &str) -> Option<String> {
    if scheme != Scheme::Postgres || !host_port.is_empty() {
        return None;
    }
    let query = path.split_once('?').map_or("", |(_, q)| q);
    let param = |name: &str| {
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| percent_decoded(value))
    };
    let host = param("host")?;
    // libpq tries a list's hosts in turn: the first is the one that failed first.
    let host = host.split(',').next().unwrap_or_default().to_owned();
    let port = param("port").unwrap_or_else(|| "5432".to_owned());
    let port = port.split(',').next().unwrap_or_default();
    Some(joined(&host, port))
}

/// `HOST:PORT` for a host and port written apart, an IPv6 address put in brackets.
fn joined(host: &str, port: &str) -> String {
    match host.parse::<Ipv6Addr>() {
        Ok(ip) => format!("[{ip}]:{port}"),
        Err(_) => format!("{host}:{port}"),
    }
}

/// The unix socket a `postgres://` URL names as libpq reads it: a host that is a folder,
/// percent-encoded (`postgres://%2Fvar%2Frun%2Fpostgresql:5432/db`) or in the query
/// (`postgres:///db?host=/tmp&port=5433`), or no host at all (`postgres:///db`: libpq's default
/// folder, Debian's `/var/run/postgresql` where it exists, else `/tmp`). The socket is
/// `FOLDER/.s.PGSQL.PORT`. `None` for a TCP host.
fn postgres_socket(host_port: &str, path: &str) -> Result<Option<PathBuf>, TargetErrorKind> {
    let query = path.split_once('?').map_or("", |(_, q)| q);
    let param = |name: &str| {
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| percent_decoded(value))
    };
    let (host, port_text) = match host_port.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => (host, Some(port)),
        _ => (host_port, None),
    };
    let folder = if host.is_empty() {
        match param("host") {
            Some(host) if host.starts_with('/') => {
                host.split(',').next().unwrap_or(&host).to_owned()
            }
            Some(_) => return Ok(None),
            None if std::path::Path::new("/var/run/postgresql").is_dir() => {
                "/var/run/postgresql".to_owned()
            }
            None => "/tmp".to_owned(),
        }
    } else if host.len() > 3 && host[..3].eq_ignore_ascii_case("%2f") {
        percent_decoded(host)
    } else {
        return Ok(None);
    };
    let port = match port_text
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .or_else(|| param("port"))
    {
        Some(text) => parse_port(&text)?.get(),
        None => 5432,
    };
    Ok(Some(
        PathBuf::from(folder.trim_end_matches('/')).join(format!(".s.PGSQL.{port}")),
    ))
}

/// `%XX` escapes decoded (what is not valid UTF-8 is replaced).
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The path after `unix://` or `unix:`: absolute, or an abstract socket's `@name`.
fn unix_path(original: &str, path: &str) -> Result<Target, TargetErrorKind> {
    // redis-py's `unix://[user[:password]@]/path`: a login for the server, not part of the path
    // (and never printed: the password is in it).
    let path = match path.split_once("@/") {
        Some((userinfo, _)) if !userinfo.contains('/') => &path[userinfo.len() + 1..],
        _ => path,
    };
    if path.starts_with('/') {
        unix_target(original, path)
    } else if path.starts_with('@') {
        Err(TargetErrorKind::AbstractUnix(path.to_owned()))
    } else {
        Err(TargetErrorKind::RelativeUnixPath(path.to_owned()))
    }
}

/// A unix target, if the kernel can take its path: a connect to a longer one or one with a NUL
/// would fail before reaching the kernel, which is the user's input to fix, not a diagnosis.
fn unix_target(original: &str, path: &str) -> Result<Target, TargetErrorKind> {
    if path.contains('\0') {
        return Err(TargetErrorKind::UnixPathNul(
            path.escape_debug().to_string(),
        ));
    }
    if path.len() > UNIX_PATH_MAX {
        return Err(TargetErrorKind::UnixPathTooLong {
            path: path.to_owned(),
            bytes: path.len(),
        });
    }
    Ok(Target {
        scheme: Scheme::Unix,
        endpoint: Endpoint::Unix(PathBuf::from(path)),
        path: String::new(),
        original: original.to_owned(),
        pinned: None,
    })
}

/// Splits `host:port`, `[v6]:port`, `host` or `[v6]` into the host and the port's text.
/// How a target was written: a URL percent-encodes the `%` of an IPv6 zone (RFC 6874).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// `scheme://...`: `[fe80::1%25eth0]` (and, as people write it, `[fe80::1%eth0]`).
    Url,
    /// `host:port`: `[fe80::1%eth0]`; `[fe80::1%25]` is interface 25.
    HostPort,
}

fn split_host_port(text: &str, form: Form) -> Result<(Host, Option<&str>), TargetErrorKind> {
    if let Some(inner) = text.strip_prefix('[') {
        let (addr, after) = inner
            .split_once(']')
            .ok_or_else(|| TargetErrorKind::UnclosedBracket(text.to_owned()))?;
        let (addr, zone) = match addr.split_once('%') {
            // RFC 6874 writes the `%` of a zone as `%25` inside a URL; people write `%`.
            Some((addr, zone)) if form == Form::Url && zone.len() > 2 && zone.starts_with("25") => {
                (addr, Some(&zone[2..]))
            }
            Some((addr, zone)) => (addr, Some(zone)),
            None => (addr, None),
        };
        let ip: Ipv6Addr = addr
            .parse()
            .map_err(|_| TargetErrorKind::InvalidIpv6(addr.to_owned()))?;
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| TargetErrorKind::TrailingAfterBracket(after.to_owned()))?,
            ),
        };
        let host = match zone {
            None if ip.is_unicast_link_local() => {
                return Err(TargetErrorKind::LinkLocalWithoutZone(ip.to_string()));
            }
            None => Host::Ip(IpAddr::V6(ip)),
            Some(zone) => Host::ScopedIpv6 {
                ip,
                zone: zone.to_owned(),
                scope_id: scope_id(zone)?,
            },
        };
        return Ok((host, port));
    }
    if text.matches(':').count() > 1 {
        return Err(pasted::many_colons(text));
    }
    let (host, port) = match text.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (text, None),
    };
    if host.is_empty() {
        return Err(TargetErrorKind::MissingHost(port.unwrap_or("").to_owned()));
    }
    Ok((parse_host(host)?, port))
}

/// The interface index of a zone: a number as it is, a name asked of the kernel (in this
/// process's network namespace).
fn scope_id(zone: &str) -> Result<u32, TargetErrorKind> {
    // Linux interface names: at most 15 bytes, no `/`, no whitespace.
    let plausible = !zone.is_empty()
        && zone.len() <= 15
        && zone
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'/' && b != b'%');
    if !plausible {
        return Err(TargetErrorKind::InvalidZone(zone.to_owned()));
    }
    if zone.bytes().all(|b| b.is_ascii_digit()) {
        return zone
            .parse()
            .map_err(|_| TargetErrorKind::InvalidZone(zone.to_owned()));
    }
    let socket = rustix::net::socket(
        rustix::net::AddressFamily::INET,
        rustix::net::SocketType::DGRAM,
        None,
    )
    .map_err(|_| TargetErrorKind::UnknownInterface(zone.to_owned()))?;
    rustix::net::netdevice::name_to_index(&socket, zone)
        .map_err(|_| TargetErrorKind::UnknownInterface(zone.to_owned()))
}

fn parse_host(host: &str) -> Result<Host, TargetErrorKind> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(Host::Ip(ip));
    }
    let valid = host.len() <= 253
        && host.split('.').enumerate().all(|(i, label)| {
            is_label(label) || (i > 0 && label.is_empty() && host.ends_with('.'))
        });
    if valid {
        Ok(Host::Name(host.to_ascii_lowercase()))
    } else {
        Err(TargetErrorKind::InvalidHost(host.to_owned()))
    }
}

fn is_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn parse_port(text: &str) -> Result<Port, TargetErrorKind> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TargetErrorKind::InvalidPort(text.to_owned()));
    }
    let value: u32 = text
        .parse()
        .map_err(|_| TargetErrorKind::PortOutOfRange(text.to_owned()))?;
    let value =
        u16::try_from(value).map_err(|_| TargetErrorKind::PortOutOfRange(text.to_owned()))?;
    Port::new(value).ok_or(TargetErrorKind::PortZero)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_comes_from_the_userinfo() {
        let user = |t: &str| t.parse::<Target>().unwrap().user().map(str::to_owned);
        assert_eq!(
            user("postgres://app:secret@db:5432/x").as_deref(),
            Some("app")
        );
        assert_eq!(user("postgres://db/x@y").as_deref(), None);
        assert_eq!(user("db:5432"), None);
    }
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn tcp(input: &str) -> (Scheme, Host, u16) {
        let target: Target = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
        match target.endpoint() {
            Endpoint::Tcp { host, port } => (target.scheme(), host.clone(), port.get()),
            Endpoint::Unix(_) => panic!("{input} parsed as unix"),
        }
    }

    fn error(input: &str) -> TargetErrorKind {
        input.parse::<Target>().expect_err(input).kind().clone()
    }

    fn name(n: &str) -> Host {
        Host::Name(n.to_owned())
    }

    #[test]
    fn every_form_with_its_default_port() {
        let v4 = Host::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let v6 = Host::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(tcp("localhost:22"), (Scheme::Tcp, name("localhost"), 22));
        assert_eq!(tcp("127.0.0.1:8080"), (Scheme::Tcp, v4.clone(), 8080));
        assert_eq!(tcp("[::1]:5432"), (Scheme::Tcp, v6.clone(), 5432));
        assert_eq!(tcp("tcp://db:5432"), (Scheme::Tcp, name("db"), 5432));
        assert_eq!(
            tcp("http://example.test"),
            (Scheme::Http, name("example.test"), 80)
        );
        assert_eq!(tcp("https://[::1]/healthz"), (Scheme::Https, v6, 443));
        assert_eq!(
            tcp("postgres://u:p@db/app"),
            (Scheme::Postgres, name("db"), 5432)
        );
        assert_eq!(
            tcp("postgresql://db:5433"),
            (Scheme::Postgres, name("db"), 5433)
        );
        assert_eq!(tcp("redis://127.0.0.1"), (Scheme::Redis, v4.clone(), 6379));
        assert_eq!(tcp("mysql://root@127.0.0.1"), (Scheme::Mysql, v4, 3306));
        assert_eq!(
            tcp("HTTP://Web.Test:81"),
            (Scheme::Http, name("web.test"), 81)
        );
    }

    #[test]
    fn unix_paths() {
        for input in ["unix:///run/app.sock", "/run/app.sock"] {
            let target: Target = input.parse().unwrap();
            assert_eq!(target.scheme(), Scheme::Unix);
            assert_eq!(target.endpoint(), &Endpoint::Unix("/run/app.sock".into()));
        }
        assert_eq!(
            error("unix://app.sock"),
            TargetErrorKind::RelativeUnixPath("app.sock".into())
        );
        // As gunicorn, nginx and uWSGI write it.
        for input in ["unix:/run/app.sock", "UNIX:/run/app.sock"] {
            let target: Target = input.parse().unwrap();
            assert_eq!(target.endpoint(), &Endpoint::Unix("/run/app.sock".into()));
        }
        assert_eq!(
            error("unix:app.sock"),
            TargetErrorKind::RelativeUnixPath("app.sock".into())
        );
        // A host named unix, and its port.
        assert_eq!(tcp("unix:8080").2, 8080);
        // Abstract sockets have no file: said so, not read as a host or a port.
        for input in ["unix:@app", "unix://@app", "@app"] {
            assert_eq!(error(input), TargetErrorKind::AbstractUnix("@app".into()));
        }
    }

    #[test]
    fn postgres_urls_of_a_unix_socket_as_libpq_reads_them() {
        let socket = |input: &str| {
            let target: Target = input.parse().unwrap();
            assert_eq!(target.scheme(), Scheme::Unix, "{input}");
            assert_eq!(target.to_string(), input);
            match target.endpoint() {
                Endpoint::Unix(path) => path.display().to_string(),
                Endpoint::Tcp { .. } => unreachable!(),
            }
        };
        assert_eq!(
            socket("postgres:///app?host=/tmp&port=5433"),
            "/tmp/.s.PGSQL.5433"
        );
        assert_eq!(
            socket("postgresql://u@/app?host=%2Fvar%2Frun%2Fpostgresql"),
            "/var/run/postgresql/.s.PGSQL.5432"
        );
        assert_eq!(
            socket("postgres://%2Fvar%2Frun%2Fpostgresql:5434/app"),
            "/var/run/postgresql/.s.PGSQL.5434"
        );
        assert_eq!(socket("postgres://%2ftmp/app"), "/tmp/.s.PGSQL.5432");
        // No host: libpq's default folder.
        let default = socket("postgres:///app");
        assert!(
            default == "/var/run/postgresql/.s.PGSQL.5432" || default == "/tmp/.s.PGSQL.5432",
            "{default}"
        );
        // The database stays for the startup packet.
        let target: Target = "postgres:///app?host=/tmp".parse().unwrap();
        assert!(target.path().starts_with("/app"));
        // A TCP host is TCP, a host= that is not a folder too.
        assert_eq!(tcp("postgres://db:5433/app").2, 5433);
        // libpq's TCP host in the query: the first of a list, with its port.
        assert_eq!(
            tcp("postgres:///app?host=db"),
            (Scheme::Postgres, name("db"), 5432)
        );
        assert_eq!(
            tcp("postgres:///app?host=db1,db2&port=5433,5434"),
            (Scheme::Postgres, name("db1"), 5433)
        );
        assert!(matches!(
            error("postgres:///app?host=/tmp&port=x"),
            TargetErrorKind::InvalidPort(_)
        ));
    }

    #[test]
    fn a_link_local_address_needs_its_interface() {
        for input in ["[fe80::1]:8005", "http://[fe80::1]:8005/", "[FE80::1]:80"] {
            assert_eq!(
                error(input),
                TargetErrorKind::LinkLocalWithoutZone("fe80::1".into())
            );
        }
        let message = "[fe80::1]:8005".parse::<Target>().unwrap_err().to_string();
        assert!(message.contains("`[fe80::1%eth0]:PORT`"), "{message}");
    }

    #[test]
    fn unix_paths_must_fit_sun_path() {
        let longest = format!("/{}", "a".repeat(UNIX_PATH_MAX - 1));
        for input in [longest.clone(), format!("unix://{longest}")] {
            let target: Target = input.parse().unwrap();
            assert_eq!(target.endpoint(), &Endpoint::Unix(longest.clone().into()));
        }
        let over = format!("{longest}b");
        for input in [over.clone(), format!("unix://{over}")] {
            assert_eq!(
                error(&input),
                TargetErrorKind::UnixPathTooLong {
                    path: over.clone(),
                    bytes: 108
                }
            );
        }
        // Bytes, not characters: 54 two-byte characters are 109 bytes.
        let wide = format!("/{}", "é".repeat(54));
        assert!(matches!(
            error(&wide),
            TargetErrorKind::UnixPathTooLong { bytes: 109, .. }
        ));
        let message = over.parse::<Target>().unwrap_err().to_string();
        assert!(
            message.contains("108 bytes long, over the limit of 107"),
            "{message}"
        );
        assert_eq!(
            error("unix:///run/a\0b.sock"),
            TargetErrorKind::UnixPathNul("/run/a\\0b.sock".into())
        );
    }

    #[test]
    fn url_path_is_kept() {
        let target: Target = "http://localhost:8080/healthz?full=1".parse().unwrap();
        assert_eq!(target.path(), "/healthz?full=1");
    }

    #[test]
    fn ipv6_zones_name_the_interface() {
        let lo = |input: &str| match input.parse::<Target>().unwrap().host().cloned() {
            Some(Host::ScopedIpv6 { ip, zone, scope_id }) => (ip, zone, scope_id),
            other => panic!("{input}: {other:?}"),
        };
        let link_local: Ipv6Addr = "fe80::1".parse().unwrap();
        // `lo` exists in every network namespace; its index is the kernel's to give.
        let (ip, zone, lo_index) = lo("[fe80::1%lo]:8080");
        assert_eq!((ip, zone.as_str()), (link_local, "lo"));
        assert!(lo_index > 0);
        assert_eq!(lo("[fe80::1%7]:80"), (link_local, "7".to_owned(), 7));
        // RFC 6874's URL form.
        let (_, zone, index) = lo("http://[fe80::1%25lo]:8080/health");
        assert_eq!((zone.as_str(), index), ("lo", lo_index));

        let target: Target = "[fe80::1%lo]:8080".parse().unwrap();
        assert_eq!(target.endpoint().to_string(), "[fe80::1%lo]:8080");
        let addr = target
            .host()
            .unwrap()
            .socket_addr(target.port().unwrap())
            .unwrap();
        assert_eq!(
            addr,
            SocketAddr::V6(SocketAddrV6::new(link_local, 8080, 0, lo_index))
        );
        let again: Target = target.endpoint().to_string().parse().unwrap();
        assert_eq!(again.endpoint(), target.endpoint());
    }

    #[test]
    fn bad_zones_are_named() {
        assert_eq!(
            error("[fe80::1%no-such-if0]:80"),
            TargetErrorKind::UnknownInterface("no-such-if0".into())
        );
        assert_eq!(
            error("[fe80::1%]:80"),
            TargetErrorKind::InvalidZone(String::new())
        );
        assert_eq!(
            error("[fe80::1%an-interface-name-too-long]:80"),
            TargetErrorKind::InvalidZone("an-interface-name-too-long".into())
        );
        assert_eq!(
            error("[fe80::1%99999999999]:80"),
            TargetErrorKind::InvalidZone("99999999999".into())
        );
        assert_eq!(
            error("[zz%lo]:80"),
            TargetErrorKind::InvalidIpv6("zz".into())
        );
    }

    #[test]
    fn errors_name_the_bad_part() {
        assert_eq!(error(""), TargetErrorKind::Empty);
        assert_eq!(error("   "), TargetErrorKind::Empty);
        assert_eq!(
            error("localhost:99999"),
            TargetErrorKind::PortOutOfRange("99999".into())
        );
        assert_eq!(error(":80"), TargetErrorKind::MissingHost("80".into()));
        assert_eq!(
            error("http://[::1"),
            TargetErrorKind::UnclosedBracket("[::1".into())
        );
        assert_eq!(
            error("localhost:http"),
            TargetErrorKind::InvalidPort("http".into())
        );
        assert_eq!(
            error("localhost:"),
            TargetErrorKind::InvalidPort(String::new())
        );
        assert_eq!(
            error("localhost:-1"),
            TargetErrorKind::InvalidPort("-1".into())
        );
        assert_eq!(error("localhost:0"), TargetErrorKind::PortZero);
        assert_eq!(
            error("localhost"),
            TargetErrorKind::MissingPort("localhost".into())
        );
        assert_eq!(error("tcp://db"), TargetErrorKind::MissingPort("db".into()));
        // A port alone is not a host named 8080 (which no name is: its last label is numeric).
        assert_eq!(error("8080"), TargetErrorKind::PortAlone("8080".into()));
        assert_eq!(
            error("gopher://host:70"),
            TargetErrorKind::OtherScheme("host:70".into())
        );
        assert_eq!(
            error("gopher://host"),
            TargetErrorKind::UnknownScheme("gopher".into())
        );
        assert_eq!(
            error("fe80::1"),
            TargetErrorKind::BareIpv6("fe80::1".into())
        );
        assert_eq!(error("[zz]:80"), TargetErrorKind::InvalidIpv6("zz".into()));
        assert_eq!(
            error("[::1]80"),
            TargetErrorKind::TrailingAfterBracket("80".into())
        );
        assert_eq!(
            error("bad host:80"),
            TargetErrorKind::Spaces {
                meant: Some("host:80".into())
            }
        );
        // A `/` in a password ends the authority: not "port `pa` is not a number".
        assert_eq!(
            error("http://u:pa/ss@web/"),
            TargetErrorKind::SlashInUserinfo
        );
        assert_eq!(
            error("bad_host!:80"),
            TargetErrorKind::InvalidHost("bad_host!".into())
        );
        assert_eq!(
            error("a..b:80"),
            TargetErrorKind::InvalidHost("a..b".into())
        );
    }

    #[test]
    fn forms_other_tools_print_say_what_to_type() {
        let meant = |input: &str| match error(input) {
            TargetErrorKind::BareIpv6WithPort(meant)
            | TargetErrorKind::JavaAddress(meant)
            | TargetErrorKind::SlashAddress(meant)
            | TargetErrorKind::TrailingColon(meant)
            | TargetErrorKind::OtherScheme(meant)
            | TargetErrorKind::Spaces { meant: Some(meant) } => meant,
            other => panic!("{input}: {other:?}"),
        };
        // Node's `ECONNREFUSED ::1:3000`: the address alone would have no port.
        assert_eq!(meant("::1:3000"), "[::1]:3000");
        assert_eq!(meant("2001:db8::1:8080"), "[2001:db8::1]:8080");
        // Java's `InetSocketAddress`, with and without its name, IPv6 unbracketed.
        assert_eq!(meant("localhost/127.0.0.1:8080"), "127.0.0.1:8080");
        assert_eq!(meant("localhost/0:0:0:0:0:0:0:1:8080"), "[::1]:8080");
        assert_eq!(meant("/127.0.0.1:8080"), "127.0.0.1:8080");
        let message = "/127.0.0.1:8080".parse::<Target>().unwrap_err().to_string();
        assert!(message.contains("`unix://` before it"), "{message}");
        assert_eq!(
            "unix:///127.0.0.1:8080"
                .parse::<Target>()
                .unwrap()
                .endpoint(),
            &Endpoint::Unix("/127.0.0.1:8080".into())
        );
        // Go's `dial tcp 127.0.0.1:8080: connect:`, cut at the space.
        assert_eq!(meant("127.0.0.1:8080:"), "127.0.0.1:8080");
        assert_eq!(
            error("localhost:80:90"),
            TargetErrorKind::TooManyColons("localhost:80:90".into())
        );
        // Whole error lines.
        for (line, target) in [
            (
                "dial tcp 127.0.0.1:8080: connect: connection refused",
                "127.0.0.1:8080",
            ),
            (
                r#"Get "http://localhost:8080/x": dial tcp [::1]:8080: connect: connection refused"#,
                "http://localhost:8080/x",
            ),
            ("connect ECONNREFUSED ::1:3000", "[::1]:3000"),
            (
                r#"connection to server at "localhost" (::1), port 5432 failed: Connection refused"#,
                "[::1]:5432",
            ),
            (
                "Failed to connect to localhost port 8080 after 0 ms: Couldn't connect to server",
                "localhost:8080",
            ),
            (
                "HTTPConnectionPool(host='localhost', port=8080): Max retries exceeded",
                "localhost:8080",
            ),
            ("host=db port=5433 dbname=app", "db:5433"),
            (
                "Error 111 connecting to localhost:6379. Connection refused.",
                "localhost:6379",
            ),
            (
                "Can't connect to MySQL server on '127.0.0.1:3306' (111)",
                "127.0.0.1:3306",
            ),
            (
                "dial unix /var/run/docker.sock: connect: no such file or directory",
                "/var/run/docker.sock",
            ),
            (
                "Connection refused: localhost/127.0.0.1:8080",
                "127.0.0.1:8080",
            ),
            ("Connection refused: /127.0.0.1:8080", "127.0.0.1:8080"),
            ("localhost 8080", "localhost:8080"),
        ] {
            assert_eq!(meant(line), target, "{line}");
        }
        assert_eq!(
            error("[Errno 111] Connection refused"),
            TargetErrorKind::Spaces { meant: None }
        );
        // A unix socket path may have spaces.
        for input in [
            "/run/my app/x.sock",
            "unix:///run/my app/x.sock",
            "redis+unix:///run/my app/x.sock",
        ] {
            assert_eq!(
                input.parse::<Target>().unwrap().endpoint(),
                &Endpoint::Unix("/run/my app/x.sock".into()),
                "{input}"
            );
        }
        // Quoted as in JSON or YAML.
        assert_eq!(tcp("\"localhost:8080\"").2, 8080);
        assert_eq!(tcp("'[::1]:80'").2, 80);
        // Other services' schemes: the port to check.
        assert_eq!(meant("rediss://cache:6380"), "tls://cache:6380");
        assert_eq!(meant("amqp://guest:guest@mq/"), "mq:5672");
        assert_eq!(
            error("mongodb+srv://cluster0.example.test/"),
            TargetErrorKind::UnknownScheme("mongodb+srv".into())
        );
    }

    #[test]
    fn driver_and_socket_schemes_read_as_their_own() {
        // SQLAlchemy's `dialect+driver://`.
        assert_eq!(
            tcp("postgresql+psycopg2://u@db/app"),
            (Scheme::Postgres, name("db"), 5432)
        );
        assert_eq!(
            tcp("mysql+pymysql://u@db:3307/app"),
            (Scheme::Mysql, name("db"), 3307)
        );
        assert_eq!(tcp("mariadb://db").2, 3306);
        // Java's JDBC URLs.
        assert_eq!(
            tcp("jdbc:postgresql://db:5433/app?user=app"),
            (Scheme::Postgres, name("db"), 5433)
        );
        assert_eq!(
            tcp("jdbc:mysql://db/app"),
            (Scheme::Mysql, name("db"), 3306)
        );
        let unix = |input: &str| match input.parse::<Target>().unwrap().endpoint() {
            Endpoint::Unix(path) => path.display().to_string(),
            Endpoint::Tcp { .. } => panic!("{input}"),
        };
        // redis-py's and Celery's; the query is not part of the file's name.
        assert_eq!(unix("unix:///run/redis.sock?db=0"), "/run/redis.sock");
        assert_eq!(unix("redis+unix:///run/redis.sock?db=1"), "/run/redis.sock");
        assert_eq!(unix("redis+socket:///run/redis.sock"), "/run/redis.sock");
        // redis-py's login before the path.
        assert_eq!(unix("unix://app@/run/redis.sock?db=0"), "/run/redis.sock");
        assert_eq!(
            unix("redis+unix://app:s3cret@/run/redis.sock"),
            "/run/redis.sock"
        );
        let target: Target = "unix://:s3cret@/run/redis.sock".parse().unwrap();
        assert_eq!(target.to_string(), "unix://:***@/run/redis.sock");
        // Checked as Redis over its socket; a plain `unix://` URL is any program's.
        for (input, scheme) in [
            ("redis+unix:///run/redis.sock?db=1", Scheme::Redis),
            ("redis+socket:///run/redis.sock", Scheme::Redis),
            ("unix:///run/redis.sock?db=0", Scheme::Unix),
        ] {
            assert_eq!(input.parse::<Target>().unwrap().scheme(), scheme, "{input}");
        }
        // requests-unixsocket's.
        let target: Target = "http+unix://%2Frun%2Fapp.sock/info".parse().unwrap();
        assert_eq!(target.endpoint(), &Endpoint::Unix("/run/app.sock".into()));
        assert_eq!(target.path(), "/info");
        assert_eq!(target.scheme(), Scheme::Http);
        // A sentinel's port is not Redis's.
        assert!(matches!(
            error("redis+sentinel://s1:26379"),
            TargetErrorKind::OtherScheme(_) | TargetErrorKind::UnknownScheme(_)
        ));
    }

    #[test]
    fn passwords_are_not_printed() {
        let target: Target = "postgres://app:s3cret@db:5432/x".parse().unwrap();
        assert_eq!(target.to_string(), "postgres://app:***@db:5432/x");
        assert_eq!(target.user(), Some("app"));
        // No password, or an `@` in the path: as written.
        for input in [
            "redis://app@cache/0",
            "http://web:8080/@me",
            "http://web/a:b@c",
        ] {
            assert_eq!(input.parse::<Target>().unwrap().to_string(), input);
        }
        let err = "http://u:pa/ss@web/".parse::<Target>().unwrap_err();
        assert_eq!(err.kind(), &TargetErrorKind::SlashInUserinfo);
        assert!(!err.to_string().contains("pa/ss"), "{err}");
        let err = "postgres://app:s3cret@db:99999/x"
            .parse::<Target>()
            .unwrap_err();
        assert!(!err.to_string().contains("s3cret"), "{err}");
        // In the query (libpq, redis-py, JDBC, an API's token), whatever the case; the
        // request still carries it.
        let target: Target = "postgres://db/app?user=app&Password=s3cret&sslmode=require"
            .parse()
            .unwrap();
        assert_eq!(
            target.to_string(),
            "postgres://db/app?user=app&Password=***&sslmode=require"
        );
        let target: Target = "http://u:pw@api:8080/health?token=abc#top".parse().unwrap();
        assert_eq!(
            target.to_string(),
            "http://u:***@api:8080/health?token=***#top"
        );
        assert_eq!(target.path(), "/health?token=abc#top");
        let err = "redis://cache:99999/0?password=s3cret"
            .parse::<Target>()
            .unwrap_err();
        assert!(!err.to_string().contains("s3cret"), "{err}");
        // Other parameters, and an empty one, as written.
        for input in ["http://web/?passage=1", "postgres://db/app?password="] {
            assert_eq!(input.parse::<Target>().unwrap().to_string(), input);
        }
    }

    #[test]
    fn error_message_quotes_input_and_part() {
        let err = "localhost:99999".parse::<Target>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid target `localhost:99999`: port `99999` is out of range (1-65535)"
        );
    }

    proptest! {
        #[test]
        fn never_panics(input in "\\PC{0,64}") {
            let _ = input.parse::<Target>();
        }

        #[test]
        fn ipv4_round_trips(ip in any::<Ipv4Addr>(), port in 1u16..) {
            let (scheme, host, parsed) = tcp(&format!("{ip}:{port}"));
            prop_assert_eq!(scheme, Scheme::Tcp);
            prop_assert_eq!(host, Host::Ip(IpAddr::V4(ip)));
            prop_assert_eq!(parsed, port);
        }

        #[test]
        fn scoped_ipv6_round_trips(ip in any::<Ipv6Addr>(), port in 1u16.., scope in 1u32..) {
            let target: Target = format!("[{ip}%{scope}]:{port}").parse().unwrap();
            let addr = target.host().unwrap().socket_addr(target.port().unwrap()).unwrap();
            prop_assert_eq!(addr, SocketAddr::V6(SocketAddrV6::new(ip, port, 0, scope)));
            let again: Target = target.endpoint().to_string().parse().unwrap();
            prop_assert_eq!(again.endpoint(), target.endpoint());
        }

        #[test]
        fn ipv6_round_trips(ip in any::<Ipv6Addr>(), port in 1u16..) {
            // A link-local address needs its interface (a_link_local_address_needs_its_interface).
            prop_assume!(!ip.is_unicast_link_local());
            let (_, host, parsed) = tcp(&format!("[{ip}]:{port}"));
            prop_assert_eq!(host, Host::Ip(IpAddr::V6(ip)));
            prop_assert_eq!(parsed, port);
        }

        #[test]
        fn display_of_endpoint_parses_back(host in "[a-z][a-z0-9-]{0,20}(\\.[a-z0-9]{1,10}){0,3}", port in 1u16..) {
            let target: Target = format!("{host}:{port}").parse().unwrap();
            let again: Target = target.endpoint().to_string().parse().unwrap();
            prop_assert_eq!(again.endpoint(), target.endpoint());
        }

        #[test]
        fn out_of_range_ports_are_rejected(port in 65536u32..10_000_000) {
            prop_assert_eq!(
                error(&format!("localhost:{port}")),
                TargetErrorKind::PortOutOfRange(port.to_string())
            );
        }
    }
}
