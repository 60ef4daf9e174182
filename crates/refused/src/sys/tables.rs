//! The kernel's socket tables as text: `/proc/net/tcp`, `/proc/net/tcp6` and `/proc/net/unix`.
//!
//! Pure parsers (text in, rows out), tested on fixtures; the reading is in [`read_tcp_listeners`]
//! and [`read_unix_listeners`]. Any user may read these files, also another process's
//! `/proc/PID/net/tcp`, which shows the listeners of that process's network namespace.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::interfaces::LOOPBACK_INDEX;

/// `TCP_LISTEN` in the `st` column.
const TCP_LISTEN: u8 = 0x0A;
/// `__SO_ACCEPTCON` in the unix table's `Flags` column: the socket listens.
const SO_ACCEPTCON: u32 = 0x0001_0000;

/// A TCP socket in the LISTEN state (or an unconnected UDP socket, which receives what is
/// sent to its address: see `parse_udp_receivers`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listener {
    /// The bound address (`0.0.0.0` or `::` for every address).
    pub address: IpAddr,
    /// The bound port.
    pub port: u16,
    /// For an IPv6 listener, whether it refuses IPv4 (`IPV6_V6ONLY`); `None` when the source
    /// cannot tell (`/proc/net/tcp6` cannot, `sock_diag` can).
    pub v6only: Option<bool>,
    /// Connections waiting in the accept queue.
    pub queue: u32,
    /// The accept queue's limit (the `listen()` backlog, capped by `somaxconn`), where known.
    pub backlog: Option<u32>,
    /// The user that owns the socket.
    pub uid: u32,
    /// The socket's inode, which links it to the process holding it (`/proc/PID/fd`).
    pub inode: u64,
    /// The interface it is bound to (`SO_BINDTODEVICE`), where the source says (`sock_diag`
    /// does, `/proc/net/tcp` does not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<BoundDevice>,
}

/// The interface a listener is bound to (`SO_BINDTODEVICE`, socat's `so-bindtodevice`, a
/// server's "interface" setting): it takes only the connections that come in through it.
/// Serialized as the interface's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct BoundDevice {
    /// Its index.
    pub index: u32,
    /// Its name, when the interface could be listed.
    pub name: Option<String>,
    /// Its addresses.
    pub addresses: Vec<IpAddr>,
}

impl BoundDevice {
    /// Whether a connection from this host to `ip`, an address of this host, comes in through
    /// this interface: the kernel counts it as arriving through the interface that holds the
    /// address (`lo` for 127.0.0.0/8 and `::1`). An interface with no address of its own (a
    /// VRF's master, whose members hold them) or one that could not be listed is not judged.
    pub fn takes(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        // `lo` is not listed (its addresses are loopback's, bar an address added to it).
        if self.index == LOOPBACK_INDEX && self.addresses.is_empty() {
            return ip.is_loopback();
        }
        self.addresses.is_empty()
            || self.addresses.contains(&ip)
            || (self.index == LOOPBACK_INDEX && ip.is_loopback())
    }
}

impl std::fmt::Display for BoundDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.name {
            Some(name) => f.write_str(name),
            None => write!(f, "interface {}", self.index),
        }
    }
}

impl From<BoundDevice> for String {
    fn from(device: BoundDevice) -> Self {
        device.to_string()
    }
}

impl Listener {
    /// Whether a connection to `ip` (with this listener's port) would reach this listener: its
    /// address holds `ip`, and any interface it is bound to takes it.
    pub fn accepts(&self, ip: IpAddr) -> bool {
        self.holds(ip) && self.device.as_ref().is_none_or(|device| device.takes(ip))
    }

    /// Whether its address holds `ip`, whatever interface it is bound to. An IPv4-mapped IPv6
    /// address (`::ffff:127.0.0.1`) is IPv4 on the wire, and is taken as such.
    pub fn holds(&self, ip: IpAddr) -> bool {
        match (self.address, ip.to_canonical()) {
            (IpAddr::V4(bound), IpAddr::V4(ip)) => bound.is_unspecified() || bound == ip,
            (IpAddr::V6(bound), IpAddr::V6(ip)) => bound.is_unspecified() || bound == ip,
            // A dual-stack `[::]` listener takes IPv4 too; `/proc` cannot say, so only a
            // listener known not to be v6only counts.
            (IpAddr::V6(bound), IpAddr::V4(_)) => {
                bound.is_unspecified() && self.v6only == Some(false)
            }
            (IpAddr::V4(_), IpAddr::V6(_)) => false,
        }
    }

    /// Whether the accept queue is at its limit, when the limit is known.
    pub fn is_queue_full(&self) -> bool {
        self.backlog
            .is_some_and(|backlog| self.queue >= backlog.max(1))
    }
}

/// A unix stream socket that listens on a path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnixListener {
    /// The path it is bound to (`@name` for the abstract namespace).
    pub path: PathBuf,
    /// The socket's inode.
    pub inode: u64,
}

/// A line of a table that did not parse, with its number (1-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line} of the socket table did not parse: `{text}`")]
pub struct TableError {
    /// The line number, counting the header.
    pub line: usize,
    /// The line itself.
    pub text: String,
}

/// Parses `/proc/net/tcp` or `/proc/net/tcp6` and returns the LISTEN sockets.
pub fn parse_tcp_listeners(text: &str) -> Result<Vec<Listener>, TableError> {
    parse_sockets(text, TCP_LISTEN)
}

/// `TCP_CLOSE` in the `st` column: an unconnected UDP socket, which receives what is sent to
/// its address and port (a DNS server's).
const UDP_UNCONNECTED: u8 = 0x07;

/// Parses `/proc/net/udp` or `/proc/net/udp6` and returns the unconnected sockets: those a
/// datagram to their address and port is delivered to (`queue` is then the receive queue).
pub fn parse_udp_receivers(text: &str) -> Result<Vec<Listener>, TableError> {
    parse_sockets(text, UDP_UNCONNECTED)
}

/// The sockets of a `/proc/net` table in the state `wanted`.
fn parse_sockets(text: &str, wanted: u8) -> Result<Vec<Listener>, TableError> {
    let mut listeners = Vec::new();
    for (index, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let bad = || TableError {
            line: index + 1,
            text: line.trim().to_owned(),
        };
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [_, local, _, state, queues, _, _, uid, _, inode, ..] = fields.as_slice() else {
            return Err(bad());
        };
        if u8::from_str_radix(state, 16).map_err(|_| bad())? != wanted {
            continue;
        }
        let (address, port) = parse_endpoint(local).ok_or_else(bad)?;
        let (_, rx) = queues.split_once(':').ok_or_else(bad)?;
        listeners.push(Listener {
            address,
            port,
            v6only: None,
            queue: u32::from_str_radix(rx, 16).map_err(|_| bad())?,
            backlog: None,
            uid: uid.parse().map_err(|_| bad())?,
            inode: inode.parse().map_err(|_| bad())?,
            device: None,
        });
    }
    Ok(listeners)
}

/// `0100007F:1F90` or 32 hex digits and a port. The kernel prints each 32-bit word of the
/// network-order address as a native integer, so the bytes come back with `to_ne_bytes`.
fn parse_endpoint(text: &str) -> Option<(IpAddr, u16)> {
    let (addr, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        let hex = addr.get(i * 8..i * 8 + 8)?;
        Some(u32::from_str_radix(hex, 16).ok()?.to_ne_bytes())
    };
    let ip = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some((ip, port))
}

/// Parses `/proc/net/unix` and returns the stream sockets that listen on a path.
pub fn parse_unix_listeners(text: &str) -> Result<Vec<UnixListener>, TableError> {
    let mut listeners = Vec::new();
    for (index, line) in text.lines().enumerate().skip(1) {
        let bad = || TableError {
            line: index + 1,
            text: line.trim().to_owned(),
        };
        let mut fields = line.split_whitespace();
        let (
            Some(_num),
            Some(_refs),
            Some(_proto),
            Some(flags),
            Some(_kind),
            Some(_st),
            Some(inode),
        ) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        )
        else {
            if line.trim().is_empty() {
                continue;
            }
            return Err(bad());
        };
        let flags = u32::from_str_radix(flags, 16).map_err(|_| bad())?;
        // The path is the rest of the line; it may hold spaces.
        let path = after_fields(line, 7);
        if flags & SO_ACCEPTCON == 0 || path.is_empty() {
            continue;
        }
        listeners.push(UnixListener {
            path: PathBuf::from(path),
            inode: inode.parse().map_err(|_| bad())?,
        });
    }
    Ok(listeners)
}

/// The text after the first `count` whitespace-separated fields, without leading whitespace.
fn after_fields(line: &str, count: usize) -> &str {
    let mut rest = line;
    for _ in 0..count {
        rest = rest.trim_start();
        rest = &rest[rest.find(char::is_whitespace).unwrap_or(rest.len())..];
    }
    rest.trim_start()
}

/// The TCP listeners (IPv4 and IPv6) of the network namespace `proc_net` belongs to:
/// `/proc/net` for our own, `/proc/PID/net` for a process's.
pub fn read_tcp_listeners(proc_net: &Path) -> io::Result<Vec<Listener>> {
    read_table(proc_net, "tcp", parse_tcp_listeners)
}

/// The unconnected UDP sockets (IPv4 and IPv6) of this network namespace.
pub fn read_udp_receivers() -> io::Result<Vec<Listener>> {
    read_table(Path::new("/proc/net"), "udp", parse_udp_receivers)
}

fn read_table(
    proc_net: &Path,
    name: &str,
    parse: fn(&str) -> Result<Vec<Listener>, TableError>,
) -> io::Result<Vec<Listener>> {
    let mut listeners = Vec::new();
    for file in [name.to_owned(), format!("{name}6")] {
        let text = match std::fs::read_to_string(proc_net.join(&file)) {
            Ok(text) => text,
            // No IPv6 on this host: no tcp6 table.
            Err(err) if err.kind() == io::ErrorKind::NotFound && file.ends_with('6') => continue,
            Err(err) => return Err(err),
        };
        listeners.extend(parse(&text).map_err(io::Error::other)?);
    }
    Ok(listeners)
}

/// The unix listeners of this network namespace.
pub fn read_unix_listeners() -> io::Result<Vec<UnixListener>> {
    let text = std::fs::read_to_string("/proc/net/unix")?;
    parse_unix_listeners(&text).map_err(io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = include_str!("../../tests/fixtures/proc_net_tcp");
    const TCP6: &str = include_str!("../../tests/fixtures/proc_net_tcp6");
    const UNIX: &str = include_str!("../../tests/fixtures/proc_net_unix");

    #[test]
    fn reads_ipv4_listeners_and_skips_other_states() {
        let listeners = parse_tcp_listeners(TCP).unwrap();
        let seen: Vec<(String, u16, u32, u32, u64)> = listeners
            .iter()
            .map(|l| (l.address.to_string(), l.port, l.queue, l.uid, l.inode))
            .collect();
        assert_eq!(
            seen,
            [
                ("127.0.0.1".to_owned(), 5432, 0, 104, 23_456),
                ("0.0.0.0".to_owned(), 22, 0, 0, 111),
                ("10.77.0.1".to_owned(), 8080, 3, 1000, 98_765),
            ]
        );
    }

    /// `/proc/net/udp` of a host running systemd-resolved (its stub on 127.0.0.53:53) with a
    /// connected socket (st 01) beside it, which receives from its peer only.
    #[test]
    fn reads_unconnected_udp_sockets() {
        let udp = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
             \x20 1: 3500007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   991        0 17016 2 0000000000000000 0\n\
             \x20 2: 0100007F:A3C2 0100007F:0035 01 00000000:00000000 00:00000000 00000000  1000        0 22001 2 0000000000000000 0\n";
        let receivers = parse_udp_receivers(udp).unwrap();
        let seen: Vec<(String, u16, u32, u64)> = receivers
            .iter()
            .map(|r| (r.address.to_string(), r.port, r.uid, r.inode))
            .collect();
        assert_eq!(seen, [("127.0.0.53".to_owned(), 53, 991, 17_016)]);
    }

    #[test]
    fn reads_ipv6_listeners() {
        let listeners = parse_tcp_listeners(TCP6).unwrap();
        let seen: Vec<(IpAddr, u16)> = listeners.iter().map(|l| (l.address, l.port)).collect();
        assert_eq!(
            seen,
            [
                (IpAddr::V6(Ipv6Addr::UNSPECIFIED), 22),
                (IpAddr::V6(Ipv6Addr::LOCALHOST), 6379),
                ("fd00:77::2".parse().unwrap(), 443),
            ]
        );
        assert!(
            listeners
                .iter()
                .all(|l| l.v6only.is_none() && l.backlog.is_none())
        );
    }

    #[test]
    fn a_broken_line_is_an_error_naming_it() {
        let text = format!("{TCP}   9: 0100007F:ZZZZ 00000000:0000 0A\n");
        let err = parse_tcp_listeners(&text).unwrap_err();
        assert_eq!(err.line, 6);
        assert!(err.text.starts_with("9: 0100007F:ZZZZ"), "{err}");
    }

    #[test]
    fn reads_listening_unix_sockets_with_their_paths() {
        let listeners = parse_unix_listeners(UNIX).unwrap();
        let paths: Vec<&str> = listeners.iter().map(|l| l.path.to_str().unwrap()).collect();
        assert_eq!(
            paths,
            [
                "/run/postgresql/.s.PGSQL.5432",
                "@/tmp/.X11-unix/X0",
                "/tmp/with space.sock"
            ]
        );
    }

    #[test]
    fn the_path_is_what_follows_the_inode_even_when_its_digits_came_before() {
        // Inode 1: its digit is in the flags column too, before the path.
        let text = "Num RefCount Protocol Flags Type St Inode Path\n\
                    0000000000000000: 00000002 00000000 00010000 0001 01 1 /run/a b.sock\n";
        let listeners = parse_unix_listeners(text).unwrap();
        assert_eq!(listeners.len(), 1);
        assert_eq!(listeners[0].path, PathBuf::from("/run/a b.sock"));
        assert_eq!(listeners[0].inode, 1);
    }

    #[test]
    fn a_listener_accepts_the_addresses_its_binding_covers() {
        let listener = |address: &str, v6only| Listener {
            address: address.parse().unwrap(),
            port: 80,
            v6only,
            queue: 0,
            backlog: None,
            uid: 0,
            inode: 1,
            device: None,
        };
        let v4: IpAddr = "127.0.0.1".parse().unwrap();
        let v6: IpAddr = "::1".parse().unwrap();
        assert!(listener("0.0.0.0", None).accepts(v4));
        assert!(!listener("0.0.0.0", None).accepts(v6));
        assert!(listener("127.0.0.1", None).accepts(v4));
        assert!(!listener("127.0.0.2", None).accepts(v4));
        assert!(listener("::", Some(false)).accepts(v4));
        assert!(!listener("::", Some(true)).accepts(v4));
        assert!(!listener("::", None).accepts(v4));
        assert!(listener("::", None).accepts(v6));
        assert!(!listener("::1", Some(false)).accepts(v4));
    }

    #[test]
    fn the_parsers_never_panic_on_junk() {
        for junk in [
            "",
            "\n\n",
            "header\n:",
            "h\n 0: : : :: : : : : :",
            "h\n\u{0}\u{ffff}",
        ] {
            let _ = parse_tcp_listeners(junk);
            let _ = parse_unix_listeners(junk);
        }
    }
}
