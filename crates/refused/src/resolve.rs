//! Name resolution with the system resolver's semantics, keeping its failure kinds apart.
//!
//! std's and tokio's `lookup_host` lose getaddrinfo's `EAI_*` code (the error comes back with
//! text only), so NXDOMAIN could not be told from a resolver that does not answer. We call
//! getaddrinfo through `dns-lookup`, which keeps the code, and classify on it.

use std::io;
use std::net::SocketAddr;

use crate::cause::Cause;
use crate::target::{Host, Port};

/// glibc's `EAI_ADDRFAMILY` (a GNU extension the `libc` crate does not export).
const EAI_ADDRFAMILY: i32 = -9;

/// Why a name did not resolve to any address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ResolveErrorKind {
    /// The name does not exist (`EAI_NONAME`: NXDOMAIN, or unknown to `/etc/hosts` and DNS).
    #[error("the name does not exist")]
    NotFound,
    /// The name exists but has no address of a usable family (`EAI_NODATA`, `EAI_ADDRFAMILY`).
    #[error("the name has no address record")]
    NoAddress,
    /// The resolver did not answer in time or said to try again (`EAI_AGAIN`: a timeout, or a
    /// SERVFAIL or REFUSED, which the system resolver does not tell apart).
    #[error(
        "the resolver did not answer, or answered that it failed (a timeout, SERVFAIL or REFUSED: `EAI_AGAIN`)"
    )]
    Timeout,
    /// The resolver failed for good (`EAI_FAIL`: SERVFAIL, refused).
    #[error("the resolver failed")]
    ServerFailure,
    /// Anything else (`EAI_SYSTEM`, `EAI_MEMORY`...), with the code.
    #[error("the resolver returned error {0}")]
    Other(i32),
}

impl ResolveErrorKind {
    /// Classifies a getaddrinfo return code.
    pub fn from_eai(code: i32) -> Self {
        match code {
            libc::EAI_NONAME => Self::NotFound,
            libc::EAI_NODATA | EAI_ADDRFAMILY => Self::NoAddress,
            libc::EAI_AGAIN => Self::Timeout,
            libc::EAI_FAIL => Self::ServerFailure,
            other => Self::Other(other),
        }
    }

    /// The cause this failure is: `dns-not-found`, `dns-no-address` or `dns-failure`.
    pub const fn cause(self) -> Cause {
        match self {
            Self::NotFound => Cause::DnsNotFound,
            Self::NoAddress => Cause::DnsNoAddress,
            Self::Timeout | Self::ServerFailure | Self::Other(_) => Cause::DnsFailure,
        }
    }

    /// The label of its cause.
    pub const fn as_label(self) -> &'static str {
        self.cause().as_label()
    }

    /// Whether asking again later could help (a resolver timeout can; NXDOMAIN cannot).
    pub const fn is_transient(self) -> bool {
        matches!(self, Self::Timeout | Self::ServerFailure | Self::Other(_))
    }
}

/// A name that did not resolve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{name}` did not resolve: {kind}")]
pub struct ResolveError {
    /// The name asked for.
    pub name: String,
    /// Why it failed.
    pub kind: ResolveErrorKind,
}

/// Resolves a host to socket addresses, in the order the system resolver gives them
/// (RFC 6724 sorting, `/etc/hosts` first where `nsswitch.conf` says so). An address literal is
/// returned as is, without a lookup.
pub fn resolve_blocking(host: &Host, port: Port) -> Result<Vec<SocketAddr>, ResolveError> {
    let name = match host {
        Host::Ip(_) | Host::ScopedIpv6 { .. } => {
            return Ok(host.socket_addr(port).into_iter().collect());
        }
        Host::Name(name) => name,
    };
    let hints = dns_lookup::AddrInfoHints {
        socktype: libc::SOCK_STREAM,
        ..dns_lookup::AddrInfoHints::default()
    };
    let fail = |kind| ResolveError {
        name: name.clone(),
        kind,
    };
    let answers = dns_lookup::getaddrinfo(Some(name), None, Some(hints))
        .map_err(|err| fail(ResolveErrorKind::from_eai(err.error_num())))?;
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for answer in answers {
        let answer = answer.map_err(|err: io::Error| {
            fail(ResolveErrorKind::Other(err.raw_os_error().unwrap_or(0)))
        })?;
        let addr = SocketAddr::new(answer.sockaddr.ip(), port.get());
        if !addrs.contains(&addr) {
            addrs.push(addr);
        }
    }
    if addrs.is_empty() {
        return Err(fail(ResolveErrorKind::NoAddress));
    }
    Ok(addrs)
}

/// How many lookups may run at once (their threads included, abandoned ones too): many names at
/// once (`check` with a long list) queue here instead of failing to get a thread, and a resolver
/// that never answers holds at most this many threads.
static LOOKUPS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(256);

/// Resolves without blocking the runtime, or at once for a literal.
///
/// getaddrinfo has no deadline (with a resolver that never answers it blocks for resolv.conf's
/// `timeout` × `attempts`, 10 s by default), so it runs on a thread of its own rather than on
/// tokio's blocking pool: a caller that stops waiting (drops this future, as a
/// `tokio::time::timeout` does) abandons the lookup, and neither the caller nor the runtime's
/// shutdown waits for it. The thread ends by itself when getaddrinfo returns.
pub async fn resolve(host: &Host, port: Port) -> Result<Vec<SocketAddr>, ResolveError> {
    if let Some(addr) = host.socket_addr(port) {
        return Ok(vec![addr]);
    }
    let fail = |kind| ResolveError {
        name: host.to_string(),
        kind,
    };
    // The semaphore is never closed.
    let Ok(permit) = LOOKUPS.acquire().await else {
        return Err(fail(ResolveErrorKind::Other(libc::EAI_SYSTEM)));
    };
    let owned = host.clone();
    let (answer, answered) = tokio::sync::oneshot::channel();
    let lookup = std::thread::Builder::new()
        .name("refused-resolve".to_owned())
        .spawn(move || {
            let _permit = permit;
            // The receiver is gone when the caller stopped waiting: nobody to tell.
            let _ = answer.send(resolve_blocking(&owned, port));
        });
    if lookup.is_err() {
        // No thread to be had (out of memory or of the thread limit): the system's error.
        return Err(fail(ResolveErrorKind::Other(libc::EAI_SYSTEM)));
    }
    answered
        .await
        .unwrap_or_else(|_| Err(fail(ResolveErrorKind::Other(libc::EAI_SYSTEM))))
}

/// [`resolve`], giving up at `deadline`: a resolver that has not answered by then is a
/// [`ResolveErrorKind::Timeout`], and its lookup is abandoned.
pub async fn resolve_until(
    host: &Host,
    port: Port,
    deadline: tokio::time::Instant,
) -> Result<Vec<SocketAddr>, ResolveError> {
    tokio::time::timeout_at(deadline, resolve(host, port))
        .await
        .unwrap_or_else(|_| {
            Err(ResolveError {
                name: host.to_string(),
                kind: ResolveErrorKind::Timeout,
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    #[test]
    fn literals_are_not_looked_up() {
        let port = Port::new(5432).unwrap();
        let addrs = resolve_blocking(&Host::Ip(Ipv6Addr::LOCALHOST.into()), port).unwrap();
        assert_eq!(addrs, vec![SocketAddr::from((Ipv6Addr::LOCALHOST, 5432))]);
    }

    #[test]
    fn localhost_resolves_to_loopback_through_the_hosts_file() {
        let port = Port::new(80).unwrap();
        let addrs = resolve_blocking(&Host::Name("localhost".into()), port).unwrap();
        assert!(!addrs.is_empty());
        assert!(
            addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 80),
            "{addrs:?}"
        );
    }

    #[tokio::test]
    async fn more_lookups_than_threads_allowed_queue_and_all_answer() {
        let port = Port::new(80).unwrap();
        let host = Host::Name("localhost".into());
        let lookups = (0..300).map(|_| resolve(&host, port));
        let answers = futures_util::future::join_all(lookups).await;
        assert!(answers.iter().all(Result::is_ok), "{answers:?}");
    }

    #[test]
    fn eai_codes_map_to_kinds_and_causes() {
        let cases = [
            (
                libc::EAI_NONAME,
                ResolveErrorKind::NotFound,
                "dns-not-found",
            ),
            (
                libc::EAI_NODATA,
                ResolveErrorKind::NoAddress,
                "dns-no-address",
            ),
            (
                EAI_ADDRFAMILY,
                ResolveErrorKind::NoAddress,
                "dns-no-address",
            ),
            (libc::EAI_AGAIN, ResolveErrorKind::Timeout, "dns-failure"),
            (
                libc::EAI_FAIL,
                ResolveErrorKind::ServerFailure,
                "dns-failure",
            ),
            (
                libc::EAI_MEMORY,
                ResolveErrorKind::Other(libc::EAI_MEMORY),
                "dns-failure",
            ),
        ];
        for (code, kind, label) in cases {
            assert_eq!(ResolveErrorKind::from_eai(code), kind);
            assert_eq!(kind.as_label(), label);
        }
        assert!(!ResolveErrorKind::NotFound.is_transient());
        assert!(ResolveErrorKind::Timeout.is_transient());
    }
}
