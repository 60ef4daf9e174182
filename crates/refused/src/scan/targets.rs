//! What to scan: an address, a name (all its addresses), a CIDR block, or a range of an IPv4
//! address's last octet (nmap's `10.0.0.10-73`).

use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use crate::resolve::{ResolveError, resolve_blocking};
use crate::target::{Host, Port};

/// The most addresses a CIDR block may hold without `force`: a /24, or a /120 of IPv6.
pub const MAX_BLOCK: u128 = 256;

/// The most addresses a scan takes, `force` or not: a /16. Each address keeps its own round-trip
/// estimate and every probe its state until the end, so memory grows with both.
pub const MAX_ADDRESSES: usize = 65_536;

/// Which address families to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Family {
    /// Both.
    #[default]
    Any,
    /// IPv4 only (`-4`).
    V4,
    /// IPv6 only (`-6`).
    V6,
}

impl Family {
    fn keeps(self, ip: IpAddr) -> bool {
        match self {
            Self::Any => true,
            Self::V4 => ip.is_ipv4(),
            Self::V6 => ip.is_ipv6(),
        }
    }
}

/// One host argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostSpec {
    /// An address.
    Address(IpAddr),
    /// A block: network address and prefix length.
    Block(IpAddr, u8),
    /// A range of the last octet: the first address and the last octet (`10.0.0.10-73`).
    Range(Ipv4Addr, u8),
    /// A name, resolved to all its addresses.
    Name(String),
}

/// A host argument that is not usable, naming the bad part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostSpecError {
    /// The text is not an address, a block or a name.
    #[error("invalid host `{input}`: {problem}")]
    Invalid {
        /// The argument.
        input: String,
        /// What is wrong.
        problem: String,
    },
    /// The block is larger than [`MAX_BLOCK`] addresses.
    #[error("`{input}` holds {count} addresses; more than {MAX_BLOCK} needs `--force`")]
    TooLarge {
        /// The argument.
        input: String,
        /// How many addresses it holds.
        count: u128,
    },
    /// The block is larger than [`MAX_ADDRESSES`], which even `force` does not allow.
    #[error("`{input}` holds {count} addresses; a scan takes at most {MAX_ADDRESSES}")]
    TooMany {
        /// The argument.
        input: String,
        /// How many addresses it holds.
        count: u128,
    },
    /// The name did not resolve.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// The name has no address of the family asked for.
    #[error("`{0}` has no address of the family asked for")]
    NoAddressOfFamily(String),
}

impl FromStr for HostSpec {
    type Err = HostSpecError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let invalid = |problem: &str| HostSpecError::Invalid {
            input: input.to_owned(),
            problem: problem.to_owned(),
        };
        let text = input.trim();
        if let Some((addr, len)) = text.split_once('/') {
            let addr: IpAddr = addr
                .trim_matches(['[', ']'])
                .parse()
                .map_err(|_| invalid(&format!("`{addr}` is not an IP address")))?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let len: u8 =
                len.parse().ok().filter(|l| *l <= max).ok_or_else(|| {
                    invalid(&format!("`/{len}` is not a prefix length (0-{max})"))
                })?;
            return Ok(Self::Block(addr, len));
        }
        if let Ok(addr) = text.trim_matches(['[', ']']).parse::<IpAddr>() {
            return Ok(Self::Address(addr));
        }
        // Digits, dots and hyphens only: an IPv4 form, never a name (no top-level domain is a
        // number), so `10.0.0.300` is an error here rather than a name sent to the resolver.
        if !text.is_empty()
            && text
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.' || c == '-')
        {
            return range(text).map_err(|problem| invalid(&problem));
        }
        let valid_name = !text.is_empty()
            && text.len() <= 253
            && text.split('.').all(|label| {
                !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if !valid_name {
            return Err(invalid("not an address, a CIDR block or a host name"));
        }
        Ok(Self::Name(text.to_owned()))
    }
}

impl HostSpec {
    /// The addresses to scan, in order: a block's from its first, a name's as the resolver gives
    /// them. `force` allows blocks larger than [`MAX_BLOCK`].
    pub fn addresses(&self, family: Family, force: bool) -> Result<Vec<IpAddr>, HostSpecError> {
        let addrs = match self {
            Self::Address(ip) => vec![*ip],
            Self::Block(ip, len) => block(*ip, *len, force)?,
            Self::Range(first, last) => {
                let [a, b, c, start] = first.octets();
                (start..=*last)
                    .map(|d| IpAddr::V4(Ipv4Addr::new(a, b, c, d)))
                    .collect()
            }
            Self::Name(name) => {
                let any_port = Port::new(1).unwrap_or_else(|| unreachable!("1 is a port"));
                resolve_blocking(&Host::Name(name.clone()), any_port)?
                    .into_iter()
                    .map(|a| a.ip())
                    .collect()
            }
        };
        let kept: Vec<IpAddr> = addrs.into_iter().filter(|ip| family.keeps(*ip)).collect();
        if kept.is_empty() {
            return Err(HostSpecError::NoAddressOfFamily(self.to_string()));
        }
        Ok(kept)
    }
}

impl std::fmt::Display for HostSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Address(ip) => ip.fmt(f),
            Self::Block(ip, len) => write!(f, "{ip}/{len}"),
            Self::Range(first, last) => write!(f, "{first}-{last}"),
            Self::Name(name) => name.fmt(f),
        }
    }
}

/// `10.0.0.10-73`: a range of the last octet, the only range form (nmap's octet ranges elsewhere,
/// `10.0-3.0.1`, and its comma lists are not taken).
fn range(text: &str) -> Result<HostSpec, String> {
    let Some((first, last)) = text.split_once('-') else {
        return Err(format!("`{text}` is not an IPv4 address"));
    };
    let first: Ipv4Addr = first.parse().map_err(|_| {
        format!("`{first}` is not an IPv4 address (a range is of the last octet: `10.0.0.10-73`)")
    })?;
    let start = first.octets()[3];
    let last: u8 = last
        .parse()
        .ok()
        .filter(|last| *last >= start)
        .ok_or_else(|| format!("`{last}` is not a last octet from {start} to 255"))?;
    Ok(HostSpec::Range(first, last))
}

fn block(ip: IpAddr, len: u8, force: bool) -> Result<Vec<IpAddr>, HostSpecError> {
    let (bits, base) = match ip {
        IpAddr::V4(v4) => (32u32, u128::from(u32::from(v4))),
        IpAddr::V6(v6) => (128u32, u128::from(v6)),
    };
    let host_bits = bits - u32::from(len);
    let count = 1u128.checked_shl(host_bits).unwrap_or(u128::MAX);
    if count > MAX_ADDRESSES as u128 {
        return Err(HostSpecError::TooMany {
            input: format!("{ip}/{len}"),
            count,
        });
    }
    if count > MAX_BLOCK && !force {
        return Err(HostSpecError::TooLarge {
            input: format!("{ip}/{len}"),
            count,
        });
    }
    let network = base & !(count.wrapping_sub(1));
    let to_ip = |n: u128| match ip {
        IpAddr::V4(_) => IpAddr::V4(u32::try_from(n).unwrap_or(u32::MAX).into()),
        IpAddr::V6(_) => IpAddr::V6(n.into()),
    };
    Ok((0..count).map(|i| to_ip(network + i)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_addresses_blocks_and_names() {
        assert_eq!(
            "127.0.0.1".parse(),
            Ok(HostSpec::Address("127.0.0.1".parse().unwrap()))
        );
        assert_eq!(
            "[::1]".parse(),
            Ok(HostSpec::Address("::1".parse().unwrap()))
        );
        assert_eq!(
            "10.0.0.0/24".parse(),
            Ok(HostSpec::Block("10.0.0.0".parse().unwrap(), 24))
        );
        assert_eq!(
            "db-1.lab.test".parse(),
            Ok(HostSpec::Name("db-1.lab.test".into()))
        );
    }

    #[test]
    fn blocks_list_their_addresses_from_the_network_address() {
        let spec: HostSpec = "127.0.0.5/30".parse().unwrap();
        let addrs = spec.addresses(Family::Any, false).unwrap();
        let text: Vec<String> = addrs.iter().map(ToString::to_string).collect();
        assert_eq!(text, ["127.0.0.4", "127.0.0.5", "127.0.0.6", "127.0.0.7"]);
        let v6: HostSpec = "fd00::/127".parse().unwrap();
        assert_eq!(v6.addresses(Family::Any, false).unwrap().len(), 2);
    }

    #[test]
    fn large_blocks_need_force_and_none_holds_more_than_a_scan_takes() {
        let spec: HostSpec = "10.0.0.0/23".parse().unwrap();
        let err = spec.addresses(Family::Any, false).unwrap_err();
        assert!(err.to_string().contains("512 addresses"), "{err}");
        assert_eq!(spec.addresses(Family::Any, true).unwrap().len(), 512);
        let sixteen: HostSpec = "10.1.0.0/16".parse().unwrap();
        assert_eq!(
            sixteen.addresses(Family::Any, true).unwrap().len(),
            MAX_ADDRESSES
        );
        for too_many in [
            "10.0.0.0/15",
            "10.0.0.0/8",
            "0.0.0.0/0",
            "fd00::/64",
            "::/0",
        ] {
            let spec: HostSpec = too_many.parse().unwrap();
            let err = spec.addresses(Family::Any, true).unwrap_err();
            assert!(
                matches!(err, HostSpecError::TooMany { .. })
                    && err.to_string().contains("at most 65536"),
                "{too_many}: {err}"
            );
        }
    }

    #[test]
    fn a_range_of_the_last_octet_lists_its_addresses() {
        let spec: HostSpec = "10.0.0.10-73".parse().unwrap();
        assert_eq!(spec, HostSpec::Range(Ipv4Addr::new(10, 0, 0, 10), 73));
        assert_eq!(spec.to_string(), "10.0.0.10-73");
        let addrs = spec.addresses(Family::Any, false).unwrap();
        assert_eq!(addrs.len(), 64);
        assert_eq!(addrs[0].to_string(), "10.0.0.10");
        assert_eq!(addrs[63].to_string(), "10.0.0.73");
        let one: HostSpec = "10.0.0.7-7".parse().unwrap();
        assert_eq!(one.addresses(Family::Any, false).unwrap().len(), 1);
        let whole: HostSpec = "10.0.0.0-255".parse().unwrap();
        assert_eq!(whole.addresses(Family::Any, false).unwrap().len(), 256);
        assert!(whole.addresses(Family::V6, false).is_err(), "IPv4 only");
        // A name with a hyphen stays a name.
        assert_eq!(
            "web-1.lab.test".parse(),
            Ok(HostSpec::Name("web-1.lab.test".into()))
        );
    }

    #[test]
    fn a_bad_range_names_its_bad_part() {
        for (input, needle) in [
            ("10.0.0.73-10", "`10` is not a last octet from 73 to 255"),
            ("10.0.0.10-256", "`256` is not a last octet"),
            ("10.0.0.10-", "`` is not a last octet"),
            ("10.0.0.10-10.0.0.20", "`10.0.0.20` is not a last octet"),
            (
                "10.0-3.0.1",
                "`10.0` is not an IPv4 address (a range is of the last octet",
            ),
            ("10.0.0.300", "`10.0.0.300` is not an IPv4 address"),
            ("10.0.0", "`10.0.0` is not an IPv4 address"),
        ] {
            let err = input.parse::<HostSpec>().unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains(needle) && text.contains(&format!("`{input}`")),
                "{input}: {err}"
            );
        }
    }

    #[test]
    fn families_filter_and_errors_name_the_bad_part() {
        let spec: HostSpec = "127.0.0.1".parse().unwrap();
        assert!(spec.addresses(Family::V6, false).is_err());
        for (input, needle) in [
            ("10.0.0.0/33", "`/33`"),
            ("300.1.1.1/8", "`300.1.1.1`"),
            ("a..b", "not an address"),
            ("", "not an address"),
        ] {
            let err = input.parse::<HostSpec>().unwrap_err();
            assert!(err.to_string().contains(needle), "{input}: {err}");
        }
    }
}
