//! `tcp://`: the connection is accepted and stays open for a moment.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::Instant;

use super::Readiness;
use crate::sys::process::{self, Process};
use crate::sys::sock_diag::{self, ServerEnd};

/// How long a fresh connection must stay open: a port proxy (docker-proxy, kube-proxy userspace)
/// whose backend is down accepts and closes within a millisecond or two.
pub const DEFAULT_SETTLE: Duration = Duration::from_millis(5);

/// How long to wait for a listener of this host to take the connection off its accept queue
/// before settling: the settle counts from the program's `accept()`, not from the handshake
/// the kernel did alone, so a proxy that is slow to accept and then closes is still caught.
const ACCEPT_GRACE: Duration = Duration::from_millis(50);

/// Programs that forward the connections they accept to a backend, by `/proc/PID/comm` (cut to
/// 15 bytes, as the kernel keeps it): with nothing behind them they accept and then close, so
/// only the settle tells them from a service. Container runtimes' and VMs' port forwarders,
/// tunnels, TCP proxies, and the super-servers that hand a connection to a program they start.
const FORWARDERS: &[&str] = &[
    "docker-proxy",
    "rootlesskit",
    "rootlessport",
    "slirp4netns",
    "pasta",
    "passt",
    "gvproxy",
    "vpnkit",
    "kube-proxy",
    "kubectl",
    "socat",
    "ssh",
    "sshd",
    "sshd-session",
    "haproxy",
    "nginx",
    "envoy",
    "traefik",
    "stunnel",
    "stunnel4",
    "redir",
    "rinetd",
    "inetd",
    "xinetd",
    "systemd",
    "systemd-socket-",
];

/// Whether a program may forward what it accepts (see [`FORWARDERS`]); any `qemu-*` forwards
/// a guest's ports (`hostfwd`), whatever its architecture.
fn is_forwarder(command: &str) -> bool {
    FORWARDERS.contains(&command) || command.starts_with("qemu")
}

/// The two ends of a TCP connection: ours and the server's.
#[derive(Debug, Clone, Copy)]
pub struct Ends {
    /// Our address.
    pub client: SocketAddr,
    /// The server's address.
    pub server: SocketAddr,
}

/// Who took a connection off a listener of this host, as the settle's owner check found it.
#[derive(Debug, Clone)]
pub(crate) enum Acceptor {
    /// Not looked up (no owner check, not a listener of this host), or the look-up did not end
    /// within the settle (a busy host).
    Unknown,
    /// Looked up: no process `/proc` shows holds it (another user's, without root).
    Hidden,
    /// The process holding the accepted socket (the lowest pid).
    Program(Process),
}

/// What a settle found.
pub(super) struct Settled {
    /// Ready, or closed or reset at once.
    pub readiness: Readiness,
    /// Who accepted a connection that stayed open and silent for the whole settle (a service,
    /// or a forwarder waiting on its backend); `None` for any other end.
    pub held_open: Option<Acceptor>,
    /// The longer settle of a slow forwarder that then closed or reset the connection.
    pub closed_late: Option<Duration>,
}

/// Waits `settle` (cut to the deadline) for the peer to close or reset; silence or data is ready.
/// With the ends of a TCP connection to a listener of this host, the settle starts when the
/// program accepted it, and with `owner_check`, a program found in `/proc` that is no port
/// forwarder ends it early: only a forwarder accepts and then closes for want of a backend.
pub(super) async fn settle<S: AsyncRead + Unpin>(
    mut stream: S,
    settle: Duration,
    deadline: Instant,
    ends: Option<Ends>,
    owner_check: bool,
) -> Settled {
    let ended = |readiness| Settled {
        readiness,
        held_open: None,
        closed_late: None,
    };
    if settle.is_zero() {
        return ended(Readiness::Ready(String::new()));
    }
    let mut accepted = None;
    if let Some(ends) = ends {
        match until_accepted(ends, deadline).await {
            Accept::NotYet => {
                // Rootful Podman's conmon holds a published port only to reserve it, and never
                // accepts: a connection that no DNAT rule sent on waits in its queue for ever.
                // Asked whatever the owner check (`wait` turns it off after such an answer):
                // only after the accept grace ran out, which a served port never reaches.
                // Read here (only the reservers' descriptors, after a grace a served port
                // never reaches), not on a thread of the blocking pool: the first such thread
                // changed the ignored signals `wait -- CMD` hands its command (glibc's own
                // real-time ones; `signals_started_ignored_stay_ignored_through_the_exec`).
                if let Some(reserver) = reserver(ends) {
                    return ended(Readiness::NotReady(format!(
                        "{} (pid {}) holds the port and never accepts: it only reserves it for a container",
                        reserver.command, reserver.pid
                    )));
                }
                return ended(Readiness::Ready(format!(
                    "the program has not accepted the connection within {} ms (the kernel holds it in the queue)",
                    ACCEPT_GRACE.as_millis()
                )));
            }
            Accept::OutOfTime => {
                return ended(Readiness::NotReady(format!(
                    "{TIME_RAN_OUT} the program accepted the connection"
                )));
            }
            Accept::Now(inode) => accepted = inode.filter(|_| owner_check),
        }
    }
    let start = Instant::now();
    let full = start + settle;
    let until = full.min(deadline);
    let mut byte = [0u8; 1];
    let mut acceptor = Acceptor::Unknown;
    let read = {
        let read = tokio::time::timeout_at(until, stream.read(&mut byte));
        tokio::pin!(read);
        let mut settled = None;
        if let Some(inode) = accepted {
            // Looked up beside the settle, which it can only shorten: a walk of `/proc` takes
            // about a millisecond on a quiet host and may take longer than the settle on a busy
            // one.
            let mut holder = tokio::task::spawn_blocking(move || holder(inode));
            tokio::select! {
                // A close that came meanwhile is seen first.
                biased;
                read = &mut read => {
                    if read.is_ok() || until < full {
                        return judge(read, until < full, settle, acceptor);
                    }
                    // Silent for the whole settle: whether a slow forwarder accepted it, which
                    // closes later, is still asked (briefly), or its close would be missed.
                    let asked = tokio::time::timeout_at(deadline.min(Instant::now() + HOLDER_WAIT), &mut holder);
                    match asked.await {
                        Ok(Ok(Some(program))) => acceptor = Acceptor::Program(program),
                        Ok(Ok(None)) => acceptor = Acceptor::Hidden,
                        _ => {}
                    }
                    settled = Some(read);
                }
                holder = &mut holder => match holder {
                    Ok(Some(program)) if !is_forwarder(&program.command) => {
                        return ended(Readiness::Ready(format!(
                            "accepted by {} (pid {}), not a port forwarder",
                            program.command, program.pid
                        )));
                    }
                    Ok(Some(program)) => acceptor = Acceptor::Program(program),
                    Ok(None) => acceptor = Acceptor::Hidden,
                    Err(_) => {}
                },
            }
        }
        match settled {
            Some(read) => read,
            None => read.await,
        }
    };
    // An ssh tunnel's end (ssh for `-L`, sshd for `-R`) asks the other end of its session to
    // connect, a round trip away, and closes when that fails; rootless Podman's rootlessport
    // asks its child inside the container's namespace: each is watched for longer.
    let slow = match &acceptor {
        Acceptor::Program(p) => slow_settle(&p.command),
        _ => None,
    };
    if let Some(slow) = slow.filter(|slow| read.is_err() && until == full && settle < *slow) {
        let longer = start + slow;
        let until = longer.min(deadline);
        let read = tokio::time::timeout_at(until, stream.read(&mut byte)).await;
        let mut settled = judge(read, until < longer, slow, acceptor);
        if matches!(settled.readiness, Readiness::NotReady(_)) && until == longer {
            settled.closed_late = Some(slow);
        }
        return settled;
    }
    judge(read, until < full, settle, acceptor)
}

/// How long a connection that `command` accepted must stay open, where its close comes later
/// than a settle's: ssh's tunnels' ends, and rootlessport.
fn slow_settle(command: &str) -> Option<Duration> {
    if TUNNELS.contains(&command) {
        Some(TUNNEL_SETTLE)
    } else if command == "rootlessport" {
        Some(ROOTLESSPORT_SETTLE)
    } else {
        None
    }
}

/// How long the owner of a connection that stayed silent for the whole settle is still waited
/// for, to know whether a slow forwarder (see [`slow_settle`]) accepted it.
const HOLDER_WAIT: Duration = Duration::from_millis(100);

/// How long a connection rootless Podman's `rootlessport` accepted must stay open: it hands
/// each to its child in the container's namespace, which connects to the container's port, and
/// closes ours when that fails, 185 to 196 ms later with podman 4.3.1 (Debian 12), even for a
/// refusal; about twice that.
const ROOTLESSPORT_SETTLE: Duration = Duration::from_millis(400);

/// Programs that hold a listening socket for a port and never accept on it: rootful Podman's
/// `conmon`, which reserves each port a container publishes (netavark's DNAT rules send the
/// connections on before they reach it).
const RESERVERS: &[&str] = &["conmon"];

/// The program holding the listener that queued a connection to `ends.server`, when it is one
/// that never accepts (see [`RESERVERS`]).
fn reserver(ends: Ends) -> Option<Process> {
    let server = ends.server;
    let listeners = crate::sys::own_tcp_listeners_on(server.port()).ok()?;
    let inodes: std::collections::HashSet<u64> = listeners
        .iter()
        .filter(|l| l.holds(server.ip()))
        .map(|l| l.inode)
        .collect();
    // Only the reservers' own descriptors: not every process's, which `owners` walks.
    process::servers(RESERVERS)
        .into_iter()
        .find(|s| {
            s.sockets
                .as_ref()
                .is_some_and(|held| held.iter().any(|inode| inodes.contains(inode)))
        })
        .map(|s| s.process)
}

/// The ends of ssh tunnels (see [`TUNNEL_SETTLE`]): ssh's `-L`, sshd's session for `-R`
/// (`sshd-session` from OpenSSH 9.8).
const TUNNELS: &[&str] = &["ssh", "sshd", "sshd-session"];

/// How long a connection an ssh tunnel's end accepted must stay open: that end closes it when
/// the other end of the session fails to connect, a round trip of the session later.
const TUNNEL_SETTLE: Duration = Duration::from_millis(150);

/// How a settle that saw nothing (no accept, no close, no data) before the time ran out begins:
/// a silence, which [`Readiness::is_silence`] tells apart from a close or a reset.
pub(super) const TIME_RAN_OUT: &str = "the time ran out before";

/// The process holding an accepted socket (the lowest pid: a forking server's parent, until it
/// closes its copy), if `/proc` shows it (another user's process does not show without root).
fn holder(inode: u64) -> Option<Process> {
    let owners = process::owners(&std::collections::HashSet::from([inode]));
    owners.get(inode).cloned()
}

/// What the read of the settle says. `cut`: the deadline came before the settle's end;
/// `acceptor`: who accepted, for a connection held open in silence to the end.
fn judge(
    read: Result<std::io::Result<usize>, tokio::time::error::Elapsed>,
    cut: bool,
    settle: Duration,
    acceptor: Acceptor,
) -> Settled {
    let readiness = match read {
        // The time ran out before the connection had stayed open for the settle: not proven.
        Err(_) if cut => Readiness::NotReady(format!(
            "{TIME_RAN_OUT} the connection had stayed open {} ms",
            settle.as_millis()
        )),
        Err(_) => {
            return Settled {
                readiness: Readiness::Ready(String::new()),
                held_open: Some(acceptor),
                closed_late: None,
            };
        }
        Ok(Ok(0)) => Readiness::NotReady(
            "the connection was closed right after it was accepted (a port proxy with nothing behind it?)"
                .to_owned(),
        ),
        Ok(Ok(_)) => Readiness::Ready("it sent data at once".to_owned()),
        Ok(Err(err)) => Readiness::NotReady(format!(
            "the connection was reset right after it was accepted ({err})"
        )),
    };
    Settled {
        readiness,
        held_open: None,
        closed_late: None,
    }
}

enum Accept {
    /// Taken by the program (with its socket's inode), or not knowable (a server of another
    /// host): settle now.
    Now(Option<u64>),
    /// Still on the listener's queue after the grace.
    NotYet,
    /// Still on the queue when the deadline came, before the grace's end.
    OutOfTime,
}

async fn until_accepted(ends: Ends, deadline: Instant) -> Accept {
    let grace = Instant::now() + ACCEPT_GRACE;
    let until = grace.min(deadline);
    let mut pause = Duration::from_micros(250);
    loop {
        match sock_diag::server_end(ends.client, ends.server) {
            Ok(Some(ServerEnd::Queued)) => {}
            Ok(Some(ServerEnd::Accepted(inode))) => return Accept::Now(Some(inode)),
            Ok(Some(ServerEnd::Closed) | None) | Err(_) => return Accept::Now(None),
        }
        if Instant::now() >= until {
            // The deadline came first: the grace did not run out, nothing is proven.
            return if until < grace {
                Accept::OutOfTime
            } else {
                Accept::NotYet
            };
        }
        tokio::time::sleep_until((Instant::now() + pause).min(until)).await;
        pause = (pause * 2).min(Duration::from_millis(4));
    }
}
