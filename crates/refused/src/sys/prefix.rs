//! Networks as rules, routes and lists write them: `10.0.0.0/8`, `fd00::/8`, or an address
//! alone, a prefix of its whole length.

use std::net::IpAddr;

/// `10.0.0.0/8`, `fd00::/8` or `10.0.0.5` (a `/32`; `/128` for IPv6): the network and its
/// prefix length; `None` for any other text.
pub fn parse(word: &str) -> Option<(IpAddr, u32)> {
    if let Some((network, length)) = word.split_once('/') {
        return Some((network.parse().ok()?, length.parse().ok()?));
    }
    let address: IpAddr = word.parse().ok()?;
    Some((address, if address.is_ipv4() { 32 } else { 128 }))
}

/// Whether `network`/`length` holds `ip`: the same family, and the first `length` bits alike
/// (a length past the family's bits holds nothing).
pub fn holds(network: IpAddr, length: u32, ip: IpAddr) -> bool {
    match (network, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) if length <= 32 => {
            let mask = u32::MAX.checked_shl(32 - length).unwrap_or(0);
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) if length <= 128 => {
            let mask = u128::MAX.checked_shl(128 - length).unwrap_or(0);
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_and_addresses() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(parse("10.0.0.0/8"), Some((ip("10.0.0.0"), 8)));
        assert_eq!(parse("fd00::/8"), Some((ip("fd00::"), 8)));
        assert_eq!(parse("10.0.0.5"), Some((ip("10.0.0.5"), 32)));
        assert_eq!(parse("::1"), Some((ip("::1"), 128)));
        assert_eq!(parse("default"), None);
        assert_eq!(parse("10.0.0.0/x"), None);
        assert!(holds(ip("10.0.0.0"), 8, ip("10.200.1.1")));
        assert!(!holds(ip("10.0.0.0"), 8, ip("11.0.0.1")));
        assert!(holds(ip("0.0.0.0"), 0, ip("192.0.2.1")));
        assert!(!holds(ip("0.0.0.0"), 0, ip("::1")));
        assert!(holds(ip("fd00::"), 8, ip("fd49::2")));
        assert!(!holds(ip("10.0.0.0"), 33, ip("10.0.0.0")));
    }
}
