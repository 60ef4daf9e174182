//! Evidence collectors: what this host's kernel and configuration say, each readable alone.
//!
//! Everything here reads the host (`/proc`, netlink, `nft`); the parsers are pure functions
//! tested on fixtures. What cannot be read without root comes back as an error or an explicit
//! "not seen", never as an empty answer.

pub mod addresses;
pub mod conntrack;
pub mod docker;
pub mod dropper;
pub mod entry_watch;
pub mod firewall;
pub mod forwarder;
pub mod host;
pub mod interfaces;
pub mod listen_events;
pub mod loopback;
pub mod netns;
pub mod netstat;
pub mod podman;
pub mod prefix;
pub mod process;
pub mod resolv;
pub mod route;
pub mod services;
pub mod sock_diag;
pub mod tables;
pub mod ticker;
pub mod unix_diag;
pub mod unix_hidden;
pub mod unix_path;

/// This namespace's TCP listeners: through `sock_diag` (with backlog and v6only), or, where
/// netlink is not allowed, from `/proc/net/tcp{,6}`.
pub fn own_tcp_listeners() -> std::io::Result<Vec<tables::Listener>> {
    sock_diag::tcp_listeners()
        .or_else(|_| tables::read_tcp_listeners(std::path::Path::new("/proc/net")))
}

/// The TCP sockets of this namespace on `port` that do not listen (see
/// [`sock_diag::port_sockets`]); an error where netlink cannot be asked (a seccomp filter).
pub fn own_port_sockets(port: u16) -> std::io::Result<sock_diag::PortSockets> {
    sock_diag::port_sockets(port)
}

/// [`own_tcp_listeners`] on `port` alone: the kernel picks them (`sock_diag`'s filter), or, where
/// it cannot be asked, the table is read and filtered here.
pub fn own_tcp_listeners_on(port: u16) -> std::io::Result<Vec<tables::Listener>> {
    sock_diag::tcp_listeners_on(port).or_else(|_| {
        let all = tables::read_tcp_listeners(std::path::Path::new("/proc/net"))?;
        Ok(all.into_iter().filter(|l| l.port == port).collect())
    })
}

/// Hands a descriptor to tokio's reactor. `AsyncFd::new` is deprecated because a type whose
/// `as_raw_fd` could change or close its descriptor early breaks the reactor (tokio#8587), and
/// its replacement is `unsafe`; an `OwnedFd` keeps one descriptor, open, for as long as it lives,
/// which is the whole contract, so the safe call is kept rather than `unsafe` in this crate.
#[expect(
    deprecated,
    reason = "OwnedFd meets AsyncFd::register's contract; no unsafe here"
)]
fn register(
    fd: std::os::fd::OwnedFd,
) -> std::io::Result<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>> {
    tokio::io::unix::AsyncFd::new(fd)
}
