//! This namespace's connection tracking table: how many entries it holds against its limit,
//! and how many packets conntrack dropped for want of room (`/proc/net/stat/nf_conntrack`, and
//! the `nf_conntrack_max` sysctl, which anyone may read). A full table drops the first packet of
//! every new connection before any rule sees it (`nf_conntrack: table full, dropping packet`
//! in the kernel's log): the busy NAT gateway's and Kubernetes node's classic.

/// conntrack's counters of this namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConntrackStats {
    /// Entries in the table now (`entries`: the namespace's count, the same on every line).
    pub count: u64,
    /// Packets dropped because no entry could be made for them (`drop`, summed over the CPUs):
    /// the table was full and no entry could be evicted (only connections not yet "assured"
    /// are), or an entry could not be inserted.
    pub dropped: u64,
    /// Entries evicted early to make room for new ones (`early_drop`, summed over the CPUs).
    pub early_dropped: u64,
}

/// What conntrack dropped while some connections were tried, and how full its table was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConntrackDrops {
    /// Packets it dropped meanwhile (the rise of [`ConntrackStats::dropped`]).
    pub dropped: u64,
    /// Entries it evicted meanwhile to make room (the rise of [`ConntrackStats::early_dropped`]).
    pub early_dropped: u64,
    /// Entries in the table afterwards.
    pub count: u64,
    /// The table's limit (`nf_conntrack_max`; 0: none, or not read).
    pub max: u64,
}

impl ConntrackDrops {
    /// What conntrack did since `before`, read now; `None` where it cannot be read.
    pub fn since(before: ConntrackStats) -> Option<Self> {
        let after = stats()?;
        Some(Self {
            dropped: after.dropped.saturating_sub(before.dropped),
            early_dropped: after.early_dropped.saturating_sub(before.early_dropped),
            count: after.count,
            max: max().unwrap_or(0),
        })
    }

    /// Whether the table is full, or within a twentieth of its limit (entries expire between
    /// the drop and this read): no entry can be made for a new connection.
    pub fn is_full(&self) -> bool {
        self.max > 0 && self.count >= self.max - self.max / 20
    }
}

/// This namespace's counters; `None` where conntrack is not loaded (no file).
pub fn stats() -> Option<ConntrackStats> {
    let text = std::fs::read_to_string("/proc/thread-self/net/stat/nf_conntrack").ok()?;
    parse_stats(&text)
}

/// The table's limit (`net.netfilter.nf_conntrack_max`; 0 is no limit). On recent kernels
/// it is the first namespace's (the host's), and only readable in the others, while the count
/// is each namespace's own.
pub fn max() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/net/netfilter/nf_conntrack_max")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The table of another namespace, `ns` (through a process of it, or from inside a named one,
/// as root), with everything its conntrack dropped since it was made.
pub fn table_in(ns: &super::netns::Other) -> Option<ConntrackDrops> {
    let stats = parse_stats(&super::netns::read_net_file(ns, "stat/nf_conntrack").ok()?)?;
    Some(ConntrackDrops {
        dropped: stats.dropped,
        early_dropped: stats.early_dropped,
        count: stats.count,
        max: max().unwrap_or(0),
    })
}

/// `/proc/net/stat/nf_conntrack`'s text: a line of names, then one line of hexadecimal values
/// per CPU.
fn parse_stats(text: &str) -> Option<ConntrackStats> {
    let mut lines = text.lines();
    let names: Vec<&str> = lines.next()?.split_whitespace().collect();
    let column = |name: &str| names.iter().position(|n| *n == name);
    let (entries, drop, early_drop) = (column("entries")?, column("drop")?, column("early_drop")?);
    let mut stats = ConntrackStats {
        count: 0,
        dropped: 0,
        early_dropped: 0,
    };
    let mut cpus = 0;
    for line in lines {
        let values: Vec<u64> = line
            .split_whitespace()
            .map(|v| u64::from_str_radix(v, 16))
            .collect::<Result<_, _>>()
            .ok()?;
        stats.count = *values.get(entries)?;
        stats.dropped += values.get(drop)?;
        stats.early_dropped += values.get(early_drop)?;
        cpus += 1;
    }
    (cpus > 0).then_some(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    // As a 6.18 kernel writes it, on two CPUs, with a table of 40 entries that dropped 1 + 5
    // packets.
    const FULL: &str = "entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart
00000028  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000001 00000000 00000000  00000000 00000000 00000000 00000000
00000028  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000005 00000002 00000000  00000000 00000000 00000000 00000000
";

    #[test]
    fn the_counters_are_summed_over_the_cpus() {
        assert_eq!(
            parse_stats(FULL),
            Some(ConntrackStats {
                count: 40,
                dropped: 6,
                early_dropped: 2,
            })
        );
    }

    #[test]
    fn a_file_without_the_columns_or_values_says_nothing() {
        assert_eq!(parse_stats(""), None);
        assert_eq!(parse_stats(FULL.lines().next().unwrap()), None);
        assert_eq!(parse_stats("entries found\n00000001 00000002\n"), None);
        assert_eq!(
            parse_stats("entries drop early_drop\n0000000g 00000000 00000000\n"),
            None
        );
    }

    #[test]
    fn a_table_is_full_at_its_limit_or_near_it() {
        let drops = |count, max| ConntrackDrops {
            dropped: 1,
            early_dropped: 0,
            count,
            max,
        };
        assert!(drops(40, 40).is_full());
        assert!(drops(38, 40).is_full());
        assert!(!drops(37, 40).is_full());
        assert!(drops(250_000, 262_144).is_full());
        assert!(!drops(200_000, 262_144).is_full());
        assert!(!drops(40, 0).is_full());
    }

    #[test]
    fn this_hosts_counters_are_read_where_conntrack_is_loaded() {
        if std::path::Path::new("/proc/net/stat/nf_conntrack").exists() {
            assert!(stats().is_some());
            assert!(max().is_some());
        }
    }
}
