//! Evidence collectors: what this host's kernel and configuration say, each readable alone.
//!
//! Everything here reads the host (`/proc`, netlink, `nft`); the parsers are pure functions
//! tested on fixtures. What cannot be read without root comes back as an error or an explicit
//! "not seen", never as an empty answer.

pub mod addresses;
pub mod entry_watch;
pub mod firewall;
pub mod host;
pub mod netns;
pub mod process;
pub mod route;
pub mod services;
pub mod sock_diag;
pub mod tables;
pub mod unix_diag;
pub mod unix_path;

/// This namespace's TCP listeners: through `sock_diag` (with backlog and v6only), or, where
/// netlink is not allowed, from `/proc/net/tcp{,6}`.
pub fn own_tcp_listeners() -> std::io::Result<Vec<tables::Listener>> {
    sock_diag::tcp_listeners()
        .or_else(|_| tables::read_tcp_listeners(std::path::Path::new("/proc/net")))
}
