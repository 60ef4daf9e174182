//! The allowlist: which targets the exporter may send packets to. Checked on the addresses a
//! name resolved to, which are then pinned for the probe, so a name cannot point past it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use serde::Deserialize;

use super::config::ConfigError;
use crate::scan::PortSet;

/// An IP network: an address and a prefix length (`10.0.0.0/8`, `::1/128`; a bare address is a
/// single host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

/// A CIDR block that did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a CIDR block (examples: 10.0.0.0/8, 127.0.0.1, fd00::/8)")]
pub struct CidrError(String);

impl Cidr {
    /// Whether `ip` is inside (an IPv4-mapped IPv6 address counts as its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            IpAddr::V4(_) => ip,
        };
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = || CidrError(text.to_owned());
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text.trim(), None),
        };
        let network: IpAddr = address.parse().map_err(|_| fail())?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(fail)?,
            None => max,
        };
        Ok(Self { network, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// A host name pattern: `db.internal` exactly, or `*.internal` (any name under it), without
/// regard to case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern(String);

impl HostPattern {
    fn matches(&self, name: &str) -> bool {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        match self.0.strip_prefix("*.") {
            Some(suffix) => name
                .strip_suffix(suffix)
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
            None => name == self.0,
        }
    }
}

/// One rule: a target is allowed when each of its addresses is in one of `cidrs` (if any), its
/// name matches one of `hosts` (if any), and its port is in `ports` (if given).
#[derive(Debug, Clone)]
pub struct AllowRule {
    cidrs: Vec<Cidr>,
    hosts: Vec<HostPattern>,
    ports: Option<PortSet>,
}

impl AllowRule {
    /// Any address in this block, any port (`--allow CIDR`).
    pub fn cidr(cidr: Cidr) -> Self {
        Self {
            cidrs: vec![cidr],
            hosts: Vec::new(),
            ports: None,
        }
    }

    fn allows(&self, name: Option<&str>, addr: SocketAddr) -> bool {
        let cidr_ok = self.cidrs.is_empty() || self.cidrs.iter().any(|c| c.contains(addr.ip()));
        let host_ok = self.hosts.is_empty()
            || name.is_some_and(|name| self.hosts.iter().any(|h| h.matches(name)));
        let port_ok = self
            .ports
            .as_ref()
            .is_none_or(|ports| ports.as_slice().binary_search(&addr.port()).is_ok());
        cidr_ok && host_ok && port_ok
    }
}

/// The rules; an address must be allowed by one of them.
#[derive(Debug, Clone)]
pub struct Allowlist {
    rules: Vec<AllowRule>,
    default: bool,
}

impl Allowlist {
    /// These rules only.
    pub fn new(rules: Vec<AllowRule>) -> Self {
        Self {
            rules,
            default: false,
        }
    }

    /// The default without configuration: `127.0.0.0/8` and `::1`.
    pub fn loopback() -> Self {
        Self {
            rules: vec![
                AllowRule::cidr(Cidr {
                    network: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)),
                    prefix: 8,
                }),
                AllowRule::cidr(Cidr {
                    network: IpAddr::V6(Ipv6Addr::LOCALHOST),
                    prefix: 128,
                }),
            ],
            default: true,
        }
    }

    /// Whether this is the loopback-only default.
    pub const fn is_default(&self) -> bool {
        self.default
    }

    pub(crate) fn extend(&mut self, rules: Vec<AllowRule>) {
        self.rules.extend(rules);
    }

    /// The first address no rule allows, if any. `name` is the target's host name (`None` for
    /// an address literal, which host patterns never match).
    pub fn first_denied(&self, name: Option<&str>, addrs: &[SocketAddr]) -> Option<SocketAddr> {
        addrs
            .iter()
            .copied()
            .find(|addr| !self.rules.iter().any(|rule| rule.allows(name, *addr)))
    }
}

/// One `allow:` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRule {
    cidr: Option<OneOrMany>,
    host: Option<OneOrMany>,
    ports: Option<PortsText>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(one) => vec![one],
            Self::Many(many) => many,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum PortsText {
    Number(u16),
    Text(String),
}

impl RawRule {
    pub(crate) fn resolve(self, index: usize) -> Result<AllowRule, ConfigError> {
        let place = |field: &str| format!("allow[{index}].{field}");
        let cidrs = self
            .cidr
            .map(OneOrMany::into_vec)
            .unwrap_or_default()
            .iter()
            .map(|text| text.parse::<Cidr>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| ConfigError::invalid(place("cidr"), err.to_string()))?;
        let hosts = self
            .host
            .map(OneOrMany::into_vec)
            .unwrap_or_default()
            .into_iter()
            .map(|text| {
                let pattern = text.trim().trim_end_matches('.').to_ascii_lowercase();
                let bare = pattern.strip_prefix("*.").unwrap_or(&pattern);
                if bare.is_empty() || bare.contains('*') {
                    Err(ConfigError::invalid(
                        place("host"),
                        format!(
                            "`{text}` is not a host pattern (examples: db.internal, *.internal)"
                        ),
                    ))
                } else {
                    Ok(HostPattern(pattern))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let ports = match self.ports {
            None => None,
            Some(PortsText::Number(port)) => Some(PortSet::from_iter([port])),
            Some(PortsText::Text(text)) => Some(
                text.parse::<PortSet>()
                    .map_err(|err| ConfigError::invalid(place("ports"), err.to_string()))?,
            ),
        };
        if cidrs.is_empty() && hosts.is_empty() {
            return Err(ConfigError::invalid(
                format!("allow[{index}]"),
                "a rule needs `cidr` or `host` (for any address at all: cidr: [0.0.0.0/0, ::/0])",
            ));
        }
        Ok(AllowRule {
            cidrs,
            hosts,
            ports,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::config::Config;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn cidrs() {
        let net: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(net.contains("10.1.200.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.0.1".parse().unwrap()));
        assert!(!net.contains("::1".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("192.0.2.1".parse().unwrap()));
        let one: Cidr = "fd00::1".parse().unwrap();
        assert!(
            one.contains("fd00::1".parse().unwrap()) && !one.contains("fd00::2".parse().unwrap())
        );
        for bad in ["10.0.0.0/33", "10.0.0/8", "db", "::/129", ""] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn loopback_by_default() {
        let allow = Allowlist::loopback();
        assert_eq!(
            allow.first_denied(None, &[addr("127.0.0.1:80"), addr("[::1]:80")]),
            None
        );
        assert_eq!(allow.first_denied(None, &[addr("127.1.2.3:1")]), None);
        assert_eq!(
            allow.first_denied(
                Some("localhost"),
                &[addr("127.0.0.1:80"), addr("10.0.0.1:80")]
            ),
            Some(addr("10.0.0.1:80"))
        );
        assert!(allow.first_denied(None, &[addr("[::2]:80")]).is_some());
    }

    #[test]
    fn rules_combine_cidr_host_and_ports() {
        let text = "
allow:
  - cidr: 10.0.0.0/8
    ports: 5432,6379
  - host: '*.web.internal'
    ports: 443
  - host: exact.internal
    cidr: [192.0.2.0/24]
";
        let allow = Config::from_yaml(text).unwrap().allow;
        assert!(!allow.is_default());
        assert_eq!(allow.first_denied(None, &[addr("10.9.9.9:5432")]), None);
        assert!(allow.first_denied(None, &[addr("10.9.9.9:22")]).is_some());
        assert_eq!(
            allow.first_denied(Some("a.web.internal"), &[addr("203.0.113.5:443")]),
            None
        );
        assert_eq!(
            allow.first_denied(Some("A.B.Web.Internal."), &[addr("203.0.113.5:443")]),
            None
        );
        assert!(
            allow
                .first_denied(Some("web.internal"), &[addr("203.0.113.5:443")])
                .is_some()
        );
        assert!(
            allow
                .first_denied(Some("xweb.internal"), &[addr("203.0.113.5:443")])
                .is_some()
        );
        assert!(
            allow
                .first_denied(None, &[addr("203.0.113.5:443")])
                .is_some()
        );
        assert_eq!(
            allow.first_denied(Some("exact.internal"), &[addr("192.0.2.9:1")]),
            None
        );
        // The name matches, but it resolved outside the rule's block.
        assert!(
            allow
                .first_denied(Some("exact.internal"), &[addr("10.0.0.1:1")])
                .is_some()
        );
        // Loopback is no longer allowed once rules are given.
        assert!(
            allow
                .first_denied(None, &[addr("127.0.0.1:5432")])
                .is_some()
        );
    }

    #[test]
    fn bad_rules_name_their_place() {
        let cases = [
            ("allow:\n  - cidr: 10.0.0.0/40\n", "allow[0].cidr"),
            ("allow:\n  - ports: 80\n", "allow[0]: a rule needs"),
            (
                "allow:\n  - cidr: ::/0\n  - host: 'a.*.b'\n",
                "allow[1].host",
            ),
            (
                "allow:\n  - cidr: ::/0\n    ports: 80-x\n",
                "allow[0].ports",
            ),
        ];
        for (text, expected) in cases {
            let err = Config::from_yaml(text).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
        let err = Config::from_yaml("allow:\n  - cidr: ::/0\n    prot: 80\n").unwrap_err();
        assert!(err.to_string().contains("unknown field `prot`"), "{err}");
    }
}
