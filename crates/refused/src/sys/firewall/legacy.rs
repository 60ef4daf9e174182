//! iptables-legacy: rules that live in the kernel's `x_tables`, which `nft` does not show.
//!
//! `/proc/net/ip_tables_names` and `ip6_tables_names` list the legacy tables that exist (with
//! iptables-nft only, they are empty: nftables does not register `x_tables` tables); reading them
//! needs root. A table can exist with nothing in it (`iptables-legacy -L` creates it), so the
//! rules are counted with `iptables-legacy-save` before anything is said.

use std::io;
use std::process::Command;

/// The legacy tables of one family, and what is in them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyTables {
    /// `iptables-legacy` or `ip6tables-legacy`.
    pub command: &'static str,
    /// The tables (`filter`, `nat`).
    pub tables: Vec<String>,
    /// Rules and non-ACCEPT policies in them; `None` when `COMMAND-save` could not list them.
    pub rules: Option<usize>,
}

impl LegacyTables {
    /// Whether they may hold something that stops or translates a packet.
    pub fn may_matter(&self) -> bool {
        !self.tables.is_empty() && self.rules != Some(0)
    }
}

/// The legacy tables of this namespace, both families (`Err`: not readable, as without root).
pub fn find() -> io::Result<Vec<LegacyTables>> {
    let mut found = Vec::new();
    for (file, command) in [
        ("/proc/net/ip_tables_names", "iptables-legacy"),
        ("/proc/net/ip6_tables_names", "ip6tables-legacy"),
    ] {
        let tables = match std::fs::read_to_string(file) {
            Ok(text) => parse_names(&text),
            // No x_tables in this kernel: no legacy tables.
            Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
            Err(err) => return Err(err),
        };
        if tables.is_empty() {
            continue;
        }
        let rules = Command::new(format!("{command}-save"))
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| count_rules(&String::from_utf8_lossy(&out.stdout)));
        found.push(LegacyTables {
            command,
            tables,
            rules,
        });
    }
    Ok(found)
}

/// The table names of `/proc/net/ip_tables_names`, one a line.
pub fn parse_names(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Rules (`-A` lines) and policies other than ACCEPT (`:CHAIN DROP [0:0]`) in
/// `iptables-save` output.
pub fn count_rules(save: &str) -> usize {
    save.lines()
        .filter(|line| {
            line.starts_with("-A ")
                || (line.starts_with(':')
                    && line
                        .split_whitespace()
                        .nth(1)
                        .is_some_and(|policy| policy != "ACCEPT" && policy != "-"))
        })
        .count()
}
