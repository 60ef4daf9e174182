//! This namespace's loopback interface: whether `lo` is up, and which `disable_ipv6` sysctls
//! are on. Every connection to 127.0.0.0/8, to `::1` and to the namespace's own other addresses
//! goes through `lo`: a namespace made by `ip netns add` or `unshare -n` starts with it down
//! (no 127.0.0.1, no `::1`, own addresses unanswered), and with `lo`'s IPv6 off there is no `::1`.
//!
//! `lo`'s flags come from this namespace's interfaces (`interfaces`: rtnetlink, on a socket made
//! in the calling thread's namespace): `/sys/class/net` shows the namespace of whoever mounted
//! sysfs, which a thread that only entered a namespace (`setns`) does not remount. The sysctls under
//! `/proc/sys/net` are the calling thread's namespace's already.

use std::fs;
use std::io;

use serde::Serialize;

/// What was read of this namespace's loopback interface.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Loopback {
    /// Whether `lo` is up (`None`: its flags could not be read).
    pub up: Option<bool>,
    /// The `disable_ipv6` sysctls of this namespace that are 1, of `all`, `default` and `lo`.
    pub ipv6_disabled_by: Vec<Ipv6Switch>,
    /// The namespace's name, when `ip netns add` made it: `ip netns exec NAME` enters it.
    pub netns: Option<String>,
}

/// One `net.ipv6.conf.*.disable_ipv6` sysctl that governs `::1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "&'static str")]
pub enum Ipv6Switch {
    /// `all`: writing it writes every interface's own switch, `lo`'s included.
    All,
    /// `default`: the switch interfaces made later start with.
    Default,
    /// `lo`'s own: off, `lo` has no `::1`.
    Lo,
}

impl Ipv6Switch {
    /// Every switch, in the order they are read and named.
    pub const ALL: [Self; 3] = [Self::All, Self::Default, Self::Lo];

    /// The sysctl's name: `net.ipv6.conf.lo.disable_ipv6`.
    pub const fn sysctl(self) -> &'static str {
        match self {
            Self::All => "net.ipv6.conf.all.disable_ipv6",
            Self::Default => "net.ipv6.conf.default.disable_ipv6",
            Self::Lo => "net.ipv6.conf.lo.disable_ipv6",
        }
    }

    const fn file(self) -> &'static str {
        match self {
            Self::All => "/proc/sys/net/ipv6/conf/all/disable_ipv6",
            Self::Default => "/proc/sys/net/ipv6/conf/default/disable_ipv6",
            Self::Lo => "/proc/sys/net/ipv6/conf/lo/disable_ipv6",
        }
    }
}

impl From<Ipv6Switch> for &'static str {
    fn from(switch: Ipv6Switch) -> Self {
        switch.sysctl()
    }
}

/// Reads this namespace's loopback interface (the calling thread's namespace).
pub fn loopback() -> Loopback {
    Loopback {
        up: is_lo_up().ok(),
        ipv6_disabled_by: Ipv6Switch::ALL
            .into_iter()
            .filter(|switch| fs::read_to_string(switch.file()).is_ok_and(|v| v.trim() == "1"))
            .collect(),
        netns: super::netns::own_name(),
    }
}

/// Whether `lo` is up, from this namespace's interfaces.
fn is_lo_up() -> io::Result<bool> {
    super::interfaces::interfaces()
        .into_iter()
        .find(|interface| interface.name == "lo")
        .map(|lo| lo.up)
        .ok_or_else(|| io::Error::from_raw_os_error(libc::ENODEV))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_namespaces_loopback_is_read() {
        // Whatever its state, the kernel answers for `lo`: every namespace has one.
        assert!(is_lo_up().is_ok());
    }
}
