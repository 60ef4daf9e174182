//! The proxy an HTTP client would go through for a target, read from the environment as curl,
//! wget, Python's requests and Go's `net/http` read it: `http_proxy` for `http://`,
//! `https_proxy` for `https://`, `all_proxy` for either, each also in capitals, and `no_proxy`
//! for the hosts that go direct. With a proxy set, the "connection refused" such a client
//! reports is the proxy's, not the target's: [`crate::diagnose::diagnose_through`] asks both.
//!
//! The variables are passed in (`std::env::var` in a program), so that a library never reads
//! the environment behind its caller's back.

use std::net::IpAddr;

use serde::Serialize;

use crate::target::{Host, Scheme, Target};

/// A proxy that a target's requests go through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Proxy {
    /// The variable it was read from (`http_proxy`, `HTTPS_PROXY`, `all_proxy`...); `None`
    /// for one the client was given ([`given`]).
    pub variable: Option<String>,
    /// Its URL as set, without credentials (`user:password@` is left out).
    pub url: String,
    /// `host:port` that clients connect to; `None` when the URL names none that can be
    /// connected to (no port, whose default clients disagree on, or text that is no URL).
    pub address: Option<String>,
}

impl Proxy {
    /// What to connect to, as a target (`tcp://host:port`: the connection a client makes to
    /// the proxy is plain TCP first, whatever it speaks over it).
    pub fn target(&self) -> Option<Target> {
        format!("tcp://{}", self.address.as_ref()?).parse().ok()
    }

    /// Where it comes from and who goes through it, in words: "`http_proxy` is set (URL):
    /// curl, wget, ... send this request through that proxy".
    pub fn said(&self) -> String {
        let Some(variable) = &self.variable else {
            return format!(
                "the client sends this request through the proxy {}",
                self.url
            );
        };
        let readers = match variable.as_str() {
            // curl reads only the lower-case one: a CGI program gets HTTP_PROXY from a request
            // header (httpoxy).
            "HTTP_PROXY" => "Python's requests and Go's net/http (curl reads only `http_proxy`)",
            _ => "curl, wget, Python's requests and Go's net/http",
        };
        format!(
            "`{variable}` is set ({}): {readers} send this request through that proxy",
            self.url
        )
    }
}

/// The proxy a client was given (`proxies=` of Python's requests, urllib3's `ProxyManager`):
/// its URL, as for [`for_target`]'s; `None` when `url` is empty.
pub fn given(url: &str) -> Option<Proxy> {
    let url = url.trim();
    if url.is_empty() {
        return None;
    }
    let (url, address) = read_url(url);
    Some(Proxy {
        variable: None,
        url,
        address,
    })
}

/// The proxy `target`'s requests go through, from the variables `var` gives; `None` for a
/// scheme that is not HTTP's, or when none is set, or `no_proxy` lets the host go direct.
pub fn for_target(target: &Target, var: impl Fn(&str) -> Option<String>) -> Option<Proxy> {
    let names: &[&str] = match target.scheme() {
        Scheme::Http => &["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"],
        Scheme::Https => &["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"],
        _ => return None,
    };
    let (variable, proxy) = names
        .iter()
        .find_map(|name| Some((*name, given(&var(name)?)?)))?;
    let host = target.host()?;
    let port = target.port()?.get();
    let no_proxy = var("no_proxy").or_else(|| var("NO_PROXY"));
    if no_proxy.is_some_and(|list| bypasses(&list, host, port)) {
        return None;
    }
    Some(Proxy {
        variable: Some(variable.to_owned()),
        ..proxy
    })
}

/// The URL without its credentials, and the `host:port` it names.
fn read_url(url: &str) -> (String, Option<String>) {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let shown = if scheme.is_empty() {
        format!("{host_port}{path}")
    } else {
        format!("{scheme}://{host_port}{path}")
    };
    // A port is needed: curl's default is 1080, Python's 80 (for http://), Go's by scheme.
    let (host, port) = match host_port.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => {
            (host, port)
        }
        _ => return (shown, None),
    };
    let known = matches!(
        scheme.to_ascii_lowercase().as_str(),
        "" | "http" | "https" | "socks4" | "socks4a" | "socks5" | "socks5h"
    );
    (shown, known.then(|| format!("{host}:{port}")))
}

/// Whether `no_proxy` (a comma-separated list: names, `.domain` suffixes, addresses, CIDR
/// networks, `host:port`, or `*`) lets `host` port `port` go direct.
fn bypasses(list: &str, host: &Host, port: u16) -> bool {
    // A name matches names and suffixes; an address, addresses and networks.
    let (name, ip) = match host {
        Host::Name(name) => (name.trim_end_matches('.').to_ascii_lowercase(), None),
        Host::Ip(ip) => (String::new(), Some(*ip)),
        Host::ScopedIpv6 { ip, .. } => (String::new(), Some(IpAddr::V6(*ip))),
    };
    list.split([',', ' ']).map(str::trim).any(|entry| {
        if entry == "*" {
            return true;
        }
        let entry = entry.trim_start_matches("*.").trim_start_matches('.');
        // `host:port` (requests): only that port; `[v6]` and `[v6]:port` too.
        let (entry, wanted) = split_port(entry);
        if entry.is_empty() || wanted.is_some_and(|p| p != port) {
            return false;
        }
        let entry = entry.to_ascii_lowercase();
        if let Some(ip) = ip {
            // An address, or a network (`10.0.0.0/8`).
            return crate::sys::prefix::parse(&entry)
                .is_some_and(|(network, length)| crate::sys::prefix::holds(network, length, ip));
        }
        name == entry || name.ends_with(&format!(".{entry}"))
    })
}

/// `entry` and the port it names, if any (`host:8080`, `[::1]:8080`; a bare IPv6 address has
/// no port).
fn split_port(entry: &str) -> (&str, Option<u16>) {
    if let Some(inner) = entry.strip_prefix('[') {
        return match inner.split_once(']') {
            Some((addr, rest)) => (addr, rest.strip_prefix(':').and_then(|p| p.parse().ok())),
            None => (entry, None),
        };
    }
    match entry.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => match port.parse() {
            Ok(port) => (host, Some(port)),
            Err(_) => (entry, None),
        },
        _ => (entry, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy(target: &str, vars: &[(&str, &str)]) -> Option<Proxy> {
        let target: Target = target.parse().unwrap();
        for_target(&target, |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn the_schemes_variable_then_all_proxy_lower_case_first() {
        let vars = [
            ("http_proxy", "http://10.0.0.1:3128"),
            ("HTTP_PROXY", "http://10.0.0.2:3128"),
            ("HTTPS_PROXY", "http://10.0.0.3:8443"),
            ("all_proxy", "socks5h://10.0.0.4:1080"),
        ];
        let http = proxy("http://api:8080/health", &vars).unwrap();
        assert_eq!(http.variable.as_deref(), Some("http_proxy"));
        assert_eq!(http.address.as_deref(), Some("10.0.0.1:3128"));
        let https = proxy("https://api", &vars).unwrap();
        assert_eq!(https.variable.as_deref(), Some("HTTPS_PROXY"));
        assert_eq!(https.address.as_deref(), Some("10.0.0.3:8443"));
        let only_all = proxy("https://api", &vars[3..]).unwrap();
        assert_eq!(only_all.variable.as_deref(), Some("all_proxy"));
        assert_eq!(only_all.address.as_deref(), Some("10.0.0.4:1080"));
        // Not HTTP: no client of those reads them.
        assert_eq!(proxy("redis://cache", &vars), None);
        assert_eq!(proxy("cache:6379", &vars), None);
        // Set but empty is unset.
        assert_eq!(proxy("http://api", &[("http_proxy", " ")]), None);
    }

    #[test]
    fn credentials_are_never_shown_and_a_port_is_needed() {
        let p = proxy(
            "http://api",
            &[("http_proxy", "http://bob:s3cret@proxy.corp:8080/")],
        )
        .unwrap();
        assert_eq!(p.url, "http://proxy.corp:8080/");
        assert_eq!(p.address.as_deref(), Some("proxy.corp:8080"));
        assert_eq!(
            p.target().unwrap().to_string(),
            "tcp://proxy.corp:8080".to_owned()
        );
        let bare = proxy("http://api", &[("http_proxy", "proxy.corp:3128")]).unwrap();
        assert_eq!(bare.address.as_deref(), Some("proxy.corp:3128"));
        // No port: clients disagree on the default; nothing to connect to is claimed.
        let portless = proxy("http://api", &[("http_proxy", "http://u:p@proxy.corp")]).unwrap();
        assert_eq!(portless.url, "http://proxy.corp");
        assert_eq!(portless.address, None);
        assert_eq!(portless.target(), None);
        let odd = proxy("http://api", &[("http_proxy", "ftp://proxy:21")]).unwrap();
        assert_eq!(odd.address, None);
    }

    #[test]
    fn a_given_proxy_is_said_as_the_clients() {
        let p = given("http://u:p@10.0.0.1:3128").unwrap();
        assert_eq!(p.variable, None);
        assert_eq!(p.address.as_deref(), Some("10.0.0.1:3128"));
        assert_eq!(
            p.said(),
            "the client sends this request through the proxy http://10.0.0.1:3128"
        );
        assert_eq!(given(" "), None);
        let env = proxy("http://api", &[("HTTP_PROXY", "http://10.0.0.2:3128")]).unwrap();
        assert!(
            env.said()
                .starts_with("`HTTP_PROXY` is set (http://10.0.0.2:3128): Python's requests")
        );
    }

    #[test]
    fn no_proxy_lets_names_suffixes_addresses_networks_and_ports_go_direct() {
        let with = |no_proxy: &str, target: &str| {
            proxy(
                target,
                &[
                    ("http_proxy", "http://10.0.0.1:3128"),
                    ("no_proxy", no_proxy),
                ],
            )
            .is_none()
        };
        assert!(with("*", "http://anything:80"));
        assert!(with("localhost,127.0.0.1", "http://localhost:3000"));
        assert!(with("localhost,127.0.0.1", "http://127.0.0.1:3000"));
        assert!(!with("localhost,127.0.0.1", "http://[::1]:3000"));
        assert!(with(".corp.example", "http://api.corp.example"));
        assert!(with("corp.example", "http://api.corp.example"));
        assert!(with("*.corp.example", "http://api.corp.example"));
        assert!(!with("corp.example", "http://notcorp.example"));
        assert!(with("API.Corp.Example", "http://api.corp.example."));
        assert!(with("10.0.0.0/8", "http://10.1.2.3:8080"));
        assert!(!with("10.0.0.0/8", "http://11.1.2.3:8080"));
        assert!(with("fd00::/8", "http://[fd49::2]:8080"));
        assert!(with("::1", "http://[::1]:8080"));
        assert!(with("api:8080", "http://api:8080"));
        assert!(!with("api:8080", "http://api:9090"));
        assert!(with("[::1]:8080", "http://[::1]:8080"));
        assert!(!with("", "http://api"));
        // NO_PROXY in capitals counts when the lower-case one is unset.
        assert!(
            proxy(
                "http://api",
                &[("http_proxy", "http://10.0.0.1:3128"), ("NO_PROXY", "api")]
            )
            .is_none()
        );
    }
}
