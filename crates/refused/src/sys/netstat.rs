//! The kernel's protocol counters of this network namespace (`/proc/net/netstat`), and the
//! reverse-path filter's settings: what shows that this host dropped packets it received.

use std::io;
use std::path::Path;

/// How many packets this namespace's reverse-path filter dropped so far: `TcpExt`'s
/// `IPReversePathFilter`, counted for every protocol (a reply that comes back by another
/// interface than the route to its sender leaves by, under `rp_filter = 1`).
pub fn reverse_path_drops() -> io::Result<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/net/netstat")?;
    counter(&text, "TcpExt", "IPReversePathFilter")
        .ok_or_else(|| io::Error::other("no IPReversePathFilter in /proc/net/netstat"))
}

/// One counter of `/proc/net/netstat`'s text: a line of names after `group:`, then a line of
/// values.
fn counter(text: &str, group: &str, name: &str) -> Option<u64> {
    let prefix = format!("{group}:");
    let mut lines = text.lines().filter(|line| line.starts_with(&prefix));
    let names = lines.next()?;
    let values = lines.next()?;
    let at = names.split_whitespace().position(|n| n == name)?;
    values.split_whitespace().nth(at)?.parse().ok()
}

/// This namespace's conntrack table as `/proc` writes it; `None` where it cannot be read (no
/// root, conntrack built without its `/proc` file).
pub fn conntrack_table() -> Option<String> {
    std::fs::read_to_string("/proc/thread-self/net/nf_conntrack").ok()
}

/// Whether conntrack saw a reply to a TCP connection of ours to `to` (an entry of
/// this namespace's table whose original direction goes there and whose state is past the
/// SYN: `SYN_RECV` or later). Conntrack sees a reply before the routing decision that a
/// reverse-path filter makes, so a reply it saw and the socket never got was dropped here.
/// `None` when the table cannot be read (no root, conntrack not built with its `/proc` file)
/// or holds no entry for it (conntrack tracks nothing in a namespace no rule asks it to).
/// `table` is [`conntrack_table`]'s.
pub fn reply_seen(table: &str, to: std::net::SocketAddr) -> Option<bool> {
    let (dst, dport) = (format!("dst={}", to.ip()), format!("dport={}", to.port()));
    let mut found = None;
    for line in table.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.get(2) != Some(&"tcp") {
            continue;
        }
        // The original direction's tuple comes first.
        let first_dst = words.iter().find(|w| w.starts_with("dst="));
        let first_dport = words.iter().find(|w| w.starts_with("dport="));
        if first_dst != Some(&dst.as_str()) || first_dport != Some(&dport.as_str()) {
            continue;
        }
        let state = words.get(5).copied().unwrap_or_default();
        let replied = state != "SYN_SENT" && !words.contains(&"[UNREPLIED]");
        found = Some(found.unwrap_or(false) || replied);
    }
    found
}

/// The interfaces whose IPv4 reverse-path filter is strict (`rp_filter` 1): the larger of
/// `all`'s and the interface's own value is the one in force.
pub fn strict_reverse_path() -> Vec<String> {
    strict_in(Path::new("/proc/sys/net/ipv4/conf"))
}

fn strict_in(conf: &Path) -> Vec<String> {
    let read = |name: &str| -> u8 {
        std::fs::read_to_string(conf.join(name).join("rp_filter"))
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    let all = read("all");
    let Ok(entries) = std::fs::read_dir(conf) else {
        return Vec::new();
    };
    let mut strict: Vec<String> = entries
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| name != "all" && name != "default" && name != "lo")
        .filter(|name| all.max(read(name)) == 1)
        .collect();
    strict.sort();
    strict
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counter_is_read_by_its_name() {
        let text = "TcpExt: SyncookiesSent IPReversePathFilter PruneCalled\n\
                    TcpExt: 0 17 3\n\
                    IpExt: InNoRoutes\n\
                    IpExt: 5\n";
        assert_eq!(counter(text, "TcpExt", "IPReversePathFilter"), Some(17));
        assert_eq!(counter(text, "IpExt", "InNoRoutes"), Some(5));
        assert_eq!(counter(text, "TcpExt", "Missing"), None);
        assert_eq!(counter("", "TcpExt", "IPReversePathFilter"), None);
    }

    #[test]
    fn a_reply_conntrack_saw_is_told_from_an_unreplied_syn() {
        let to = |port: u16| std::net::SocketAddr::new("10.249.3.2".parse().unwrap(), port);
        let replied = "ipv4     2 tcp      6 57 SYN_RECV src=10.249.1.2 dst=10.249.3.2 sport=41000 dport=46580 src=10.249.3.2 dst=10.249.1.2 sport=46580 dport=41000 mark=0 zone=0 use=2\n";
        let unreplied = "ipv4     2 tcp      6 117 SYN_SENT src=10.249.1.2 dst=10.249.3.2 sport=41002 dport=46580 [UNREPLIED] src=10.249.3.2 dst=10.249.1.2 sport=46580 dport=41002 mark=0 zone=0 use=2\n";
        let other = "ipv4     2 tcp      6 57 SYN_RECV src=10.249.1.2 dst=10.249.3.9 sport=41000 dport=46580 src=10.249.3.9 dst=10.249.1.2 sport=46580 dport=41000 mark=0 zone=0 use=2\n";
        assert_eq!(reply_seen(replied, to(46580)), Some(true));
        assert_eq!(reply_seen(unreplied, to(46580)), Some(false));
        assert_eq!(
            reply_seen(&format!("{unreplied}{replied}"), to(46580)),
            Some(true)
        );
        assert_eq!(reply_seen(other, to(46580)), None);
        assert_eq!(reply_seen(replied, to(46581)), None);
    }

    #[test]
    fn this_hosts_counter_is_read() {
        reverse_path_drops().unwrap();
    }

    #[test]
    fn strict_interfaces_take_all_into_account() {
        let conf = std::env::temp_dir().join(format!("refused-rp-{}", std::process::id()));
        for (name, value) in [
            ("all", "0"),
            ("default", "1"),
            ("lo", "0"),
            ("eth0", "1"),
            ("wg0", "2"),
            ("eth1", "0"),
        ] {
            std::fs::create_dir_all(conf.join(name)).unwrap();
            std::fs::write(conf.join(name).join("rp_filter"), value).unwrap();
        }
        assert_eq!(strict_in(&conf), ["eth0"]);
        std::fs::write(conf.join("all").join("rp_filter"), "1").unwrap();
        assert_eq!(strict_in(&conf), ["eth0", "eth1"]);
        std::fs::remove_dir_all(&conf).unwrap();
    }
}
