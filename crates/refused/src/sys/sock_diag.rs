//! LISTEN sockets of this network namespace through netlink `sock_diag`, the source `ss` uses.
//!
//! Unlike `/proc/net/tcp` it gives a listener's backlog (`idiag_wqueue` of a LISTEN socket) and
//! whether an IPv6 listener is v6only (`INET_DIAG_SKV6ONLY`), and it needs no privilege. It is
//! also cheap: asked for LISTEN sockets only, the kernel walks its listening hash and skips the
//! established one, where reading `/proc/net/tcp` walks every connection of the host (~1.5 ms with
//! an idle table; far more with thousands of connections open).
//!
//! The netlink socket answers for the namespace it was created in: created on a thread that
//! entered another namespace (`setns`), it lists that namespace's listeners.

use std::io;

use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_REQUEST, NLMSG_ERROR, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP, SOCK_DIAG_BY_FAMILY};
use netlink_packet_sock_diag::inet::{
    ExtensionFlags, InetRequest, InetResponse, SocketId, StateFlags, nlas::Nla,
};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_SOCK_DIAG};

use super::interfaces::{self, LOOPBACK_INDEX};
use super::tables::{BoundDevice, Listener};

/// The TCP listeners of this network namespace (the calling thread's), IPv4 and IPv6.
pub fn tcp_listeners() -> io::Result<Vec<Listener>> {
    query(None)
}

/// The TCP listeners of the calling thread's namespace on `port` only. The kernel skips the
/// others itself (a dump request's source port is a filter for listeners), so the answer stays a
/// few sockets however many the namespace has.
pub fn tcp_listeners_on(port: u16) -> io::Result<Vec<Listener>> {
    query(Some(port))
}

/// `TCPF_BOUND_INACTIVE` (Linux 6.8): asked for, a dump walks the bind table for sockets bound
/// to a port that neither listen nor connect; older kernels ignore the bit and send none.
const TCPF_BOUND_INACTIVE: u32 = 1 << 13;

/// The TCP sockets of the calling thread's namespace on `port` that do not listen, which tell
/// what held a port where nothing listens now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortSockets {
    /// Sockets bound to the port that neither listen nor connect (`ss -B`, which iproute2 6.8
    /// added: `ss -ltn` does not list them): a program between `bind()` and `listen()`, or one
    /// that holds the port (a listener shut down with `shutdown(SHUT_RD)` is one again). Its
    /// connects are refused as if the port were free, but a server that binds it without
    /// `SO_REUSEADDR` fails with `EADDRINUSE`. Linux 6.8 and later; none before.
    pub bound: Vec<Listener>,
    /// Connections whose own end is on the port: a server's ends, which outlive its listening
    /// socket (a server that closed it and still serves, or ends closing after it stopped).
    pub connections: Vec<Connection>,
}

/// A connection's end on this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection {
    /// Its own address and port.
    pub local: std::net::SocketAddr,
    /// Its peer's.
    pub remote: std::net::SocketAddr,
    /// Whether a program still has it open.
    pub state: ConnectionState,
    /// Its inode, by which `/proc` names its holder; 0 once no program holds it.
    pub inode: u64,
}

/// Where a connection stands, as far as its holder goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// Established, or closed by the peer only (`CLOSE_WAIT`), or by a program that still has
    /// it: a program has it open.
    Open,
    /// Closed by this end (`FIN_WAIT1`, `FIN_WAIT2`, `CLOSING`, `LAST_ACK`, `TIME_WAIT`), and
    /// held by no program: the kernel finishes it alone, for about a minute at most
    /// (`TIME_WAIT` lasts 60 s).
    Closing,
}

/// The `TCPF_` bits of the states of [`ConnectionState`], from the kernel's `tcp_states.h`.
const TCPF_CONNECTIONS: u32 = 1 << 1 // ESTABLISHED
    | 1 << 4 // FIN_WAIT1
    | 1 << 5 // FIN_WAIT2
    | 1 << 6 // TIME_WAIT
    | 1 << 8 // CLOSE_WAIT
    | 1 << 9 // LAST_ACK
    | 1 << 11; // CLOSING

/// The sockets of the calling thread's namespace on `port` that do not listen (see
/// [`PortSockets`]). The kernel has no port filter for bound sockets: it walks its whole bind
/// table, and its table of connections too (about 1 ms here with both empty, 65,536 and 262,144
/// buckets), so both families and both kinds are asked in one walk; the connections it filters
/// by their own port itself.
pub fn port_sockets(port: u16) -> io::Result<PortSockets> {
    let socket = open()?;
    let mut sockets = PortSockets::default();
    for answer in dump_both_families(&socket, TCPF_BOUND_INACTIVE | TCPF_CONNECTIONS, port)? {
        let header = &answer.header;
        if header.socket_id.source_port != port {
            continue;
        }
        let state = match header.state {
            TCP_CLOSE => {
                let mut bound = listener(&answer);
                // Not a listener: no queue, no backlog.
                bound.queue = 0;
                bound.backlog = None;
                sockets.bound.push(bound);
                continue;
            }
            // Half-closed by a program that still has it (`shutdown(SHUT_WR)`) is open too.
            TCP_ESTABLISHED | TCP_CLOSE_WAIT => ConnectionState::Open,
            _ if header.inode != 0 => ConnectionState::Open,
            _ => ConnectionState::Closing,
        };
        sockets.connections.push(Connection {
            local: std::net::SocketAddr::new(header.socket_id.source_address, port),
            remote: std::net::SocketAddr::new(
                header.socket_id.destination_address,
                header.socket_id.destination_port,
            ),
            state,
            inode: u64::from(header.inode),
        });
    }
    Ok(sockets)
}

/// `TCP_CLOSE_WAIT` and `TCP_CLOSE` of the kernel's `tcp_states.h` (a bound socket's state).
const TCP_CLOSE_WAIT: u8 = 8;
const TCP_CLOSE: u8 = 7;

/// `TCPDIAG_GETSOCK` of the kernel's `inet_diag.h`: the request from before
/// `SOCK_DIAG_BY_FAMILY`, which the kernel still serves. It has no protocol field (TCP is
/// implied), and its family 0 asks for both families in one walk of the tables, where a
/// `SOCK_DIAG_BY_FAMILY` request walks them once a family. Its answers are `inet_diag_msg`s as
/// `SOCK_DIAG_BY_FAMILY`'s are, under its own type.
const TCPDIAG_GETSOCK: u16 = 18;

/// The TCP sockets of both families in `states` (the kernel's `TCPF_` bits), in one walk;
/// connections only where their own port is `port` (bound sockets of every port).
fn dump_both_families(socket: &Socket, states: u32, port: u16) -> io::Result<Vec<InetResponse>> {
    // struct nlmsghdr (length, type, flags, sequence, port id), then struct inet_diag_req:
    // family (0: both), the two prefix lengths, the extensions (none), the socket id (its
    // source port, big-endian, then zeros: any), the states, idiag_dbs.
    const LENGTH: usize = 16 + 4 + 48 + 4 + 4;
    let mut request = Vec::with_capacity(LENGTH);
    request.extend_from_slice(&u32::try_from(LENGTH).unwrap_or(0).to_ne_bytes());
    request.extend_from_slice(&TCPDIAG_GETSOCK.to_ne_bytes());
    request.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    request.resize(16 + 4, 0);
    request.extend_from_slice(&port.to_be_bytes());
    request.resize(16 + 4 + 48, 0);
    request.extend_from_slice(&states.to_ne_bytes());
    request.extend_from_slice(&0u32.to_ne_bytes());
    Ok(inet_responses(exchange_bytes(socket, &request, true)?))
}

fn query(port: Option<u16>) -> io::Result<Vec<Listener>> {
    let socket = open()?;
    let mut listeners = dump(&socket, AF_INET, StateFlags::LISTEN, port)?;
    listeners.extend(dump(&socket, AF_INET6, StateFlags::LISTEN, port)?);
    name_devices(&mut listeners);
    Ok(listeners)
}

/// Gives the interfaces listeners are bound to their names and addresses, from this namespace's
/// list of interfaces, read only when a listener is bound to one.
fn name_devices(listeners: &mut [Listener]) {
    // `lo` is the same everywhere, and common (systemd-resolved's stub is `127.0.0.53%lo`):
    // named here, it costs no listing.
    for device in listeners.iter_mut().filter_map(|l| l.device.as_mut()) {
        if device.index == LOOPBACK_INDEX {
            device.name = Some("lo".to_owned());
        }
    }
    if listeners
        .iter()
        .all(|l| l.device.as_ref().is_none_or(|d| d.index == LOOPBACK_INDEX))
    {
        return;
    }
    let interfaces = interfaces::interfaces();
    for device in listeners.iter_mut().filter_map(|l| l.device.as_mut()) {
        if let Some(interface) = interfaces.iter().find(|i| i.index == device.index) {
            device.name = Some(interface.name.clone());
            device.addresses.clone_from(&interface.addresses);
        }
    }
}

/// The sockets of `family` in `states`; `port`, when given, is the request's source port (a
/// filter for listeners, not for every table).
fn dump(
    socket: &Socket,
    family: u8,
    states: StateFlags,
    port: Option<u16>,
) -> io::Result<Vec<Listener>> {
    let mut socket_id = if family == AF_INET {
        SocketId::new_v4()
    } else {
        SocketId::new_v6()
    };
    // 0: every port.
    socket_id.source_port = port.unwrap_or(0);
    let request = InetRequest {
        family,
        protocol: IPPROTO_TCP,
        extensions: ExtensionFlags::empty(),
        states,
        socket_id,
    };
    let responses = ask(socket, request, NLM_F_REQUEST | NLM_F_DUMP)?;
    Ok(responses.iter().map(listener).collect())
}

/// `TCP_ESTABLISHED` and `TCP_SYN_RECV` of the kernel's `tcp_states.h`.
const TCP_ESTABLISHED: u8 = 1;
const TCP_SYN_RECV: u8 = 3;

/// Where the server's end of a connection to a listener of this host stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerEnd {
    /// Still on the listener's accept queue: the program has not taken it.
    Queued,
    /// Taken by the program's `accept()`: the socket's inode, by which `/proc` names its holder.
    Accepted(u64),
    /// No longer established (closed, or closing).
    Closed,
}

/// Where the server's end of the connection from `client` to `server` stands: until `accept()`
/// gives it a file, the server's end has no inode (and once it is closed, it has none again, but
/// is no longer established).
/// `Ok(None)`: the server's end is not in this namespace (a remote server, or gone).
pub fn server_end(
    client: std::net::SocketAddr,
    server: std::net::SocketAddr,
) -> io::Result<Option<ServerEnd>> {
    let socket = open()?;
    match ask(&socket, exact(server, client, 0), NLM_F_REQUEST) {
        Ok(responses) => Ok(responses.first().map(|r| {
            let open = matches!(r.header.state, TCP_ESTABLISHED | TCP_SYN_RECV);
            match (open, r.header.inode) {
                (false, _) => ServerEnd::Closed,
                (true, 0) => ServerEnd::Queued,
                (true, inode) => ServerEnd::Accepted(u64::from(inode)),
            }
        })),
        Err(err) if err.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(err) => Err(err),
    }
}

/// Asks the kernel, poll after poll, whether a connection to an address would find a TCP
/// listener, on one netlink socket kept open (no socket set-up per question).
///
/// Each question is one exact `sock_diag` request, not a dump: the kernel answers it with the
/// lookup it does for an incoming SYN (`__inet_lookup`: the established table, then the
/// listeners for that address and port, wildcard and dual-stack ones included, `SO_REUSEPORT`
/// groups and `sk_lookup` programs too), two hash lookups. A dump of the port's listeners
/// instead walks the whole listening hash (16,384 buckets here) once per family, which costs
/// more than the connect it would save (about 20 µs against 7 µs; 5 µs for this).
///
/// Only this network namespace is asked (the one the socket was created in): a port served
/// through NAT by another namespace or host has no listener here.
#[derive(Debug)]
pub struct ListenerLookup {
    socket: Socket,
    /// Each address's request, serialized once: a poll sends bytes and reads a header.
    requests: Vec<(std::net::SocketAddr, Vec<u8>)>,
    answer: Vec<u8>,
}

impl ListenerLookup {
    /// Opens the netlink socket, in the calling thread's namespace.
    pub fn new() -> io::Result<Self> {
        Ok(Self {
            socket: open()?,
            requests: Vec::new(),
            // An answer is one message: the socket found (under 200 bytes with no extension
            // asked), or an error with the request echoed.
            answer: Vec::with_capacity(4096),
        })
    }

    /// Whether a connection from this host to `addr` (an address of this host) would find a
    /// socket to take it: a listener, in practice. A v4-mapped IPv6 address is asked as IPv4,
    /// the way its packets go.
    pub fn is_taken(&mut self, addr: std::net::SocketAddr) -> io::Result<bool> {
        let index = self
            .requests
            .iter()
            .position(|(known, _)| *known == addr)
            .unwrap_or_else(|| {
                self.requests.push((addr, lookup_request(addr)));
                self.requests.len() - 1
            });
        self.socket.send(&self.requests[index].1, 0)?;
        self.answer.clear();
        let capacity = self.answer.capacity();
        let length = self.socket.recv(&mut self.answer, 0)?;
        if length > capacity {
            return Err(invalid("a sock_diag answer larger than the buffer"));
        }
        // One message: its header's type (bytes 4-5), and for an error its code (16-19).
        let field = |at: usize| {
            self.answer
                .get(at..at + 4)
                .map(|b| [b[0], b[1], b[2], b[3]])
        };
        let kind = field(4).map(|b| u16::from_ne_bytes([b[0], b[1]]));
        match kind {
            Some(SOCK_DIAG_BY_FAMILY) => Ok(true),
            Some(NLMSG_ERROR) => match field(16).map(i32::from_ne_bytes) {
                Some(code) if code == -libc::ENOENT => Ok(false),
                Some(code) if code < 0 => Err(io::Error::from_raw_os_error(-code)),
                _ => Err(invalid("sock_diag acknowledged instead of answering")),
            },
            _ => Err(invalid("an unexpected sock_diag answer")),
        }
    }
}

/// The exact request about the socket a SYN from this host to `addr` would reach.
fn lookup_request(addr: std::net::SocketAddr) -> Vec<u8> {
    let ip = addr.ip().to_canonical();
    // From this host to itself (the address is its own), from port 0: no established
    // connection matches, only a listener can.
    let request = exact(
        std::net::SocketAddr::new(ip, addr.port()),
        std::net::SocketAddr::new(ip, 0),
        arriving_through(ip),
    );
    serialized(SockDiagMessage::InetRequest(request), NLM_F_REQUEST)
}

/// The interface a connection from this host to its own address `ip` counts as arriving
/// through: the one that holds the address (the kernel routes it through `lo`, but gives it the
/// holder's index), `lo` for loopback. A listener bound to another interface
/// (`SO_BINDTODEVICE`) does not take it; one bound to this one does.
fn arriving_through(ip: std::net::IpAddr) -> u32 {
    if ip.is_loopback() {
        return LOOPBACK_INDEX;
    }
    interfaces::interfaces()
        .iter()
        .find(|interface| interface.addresses.contains(&ip))
        .map_or(LOOPBACK_INDEX, |interface| interface.index)
}

/// A request as the kernel reads it.
fn serialized(request: SockDiagMessage, flags: u16) -> Vec<u8> {
    let mut header = NetlinkHeader::default();
    header.flags = flags;
    let mut message = NetlinkMessage::new(header, request.into());
    message.finalize();
    let mut bytes = vec![0; message.buffer_len()];
    message.serialize(&mut bytes);
    bytes
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// A request for the one TCP socket the kernel's own lookup finds for these ends (no dump):
/// `local` is the socket's, `remote` its peer's; `interface_id` 0 for any.
fn exact(
    local: std::net::SocketAddr,
    remote: std::net::SocketAddr,
    interface_id: u32,
) -> InetRequest {
    InetRequest {
        family: if local.is_ipv4() { AF_INET } else { AF_INET6 },
        protocol: IPPROTO_TCP,
        extensions: ExtensionFlags::empty(),
        states: StateFlags::all(),
        socket_id: SocketId {
            source_port: local.port(),
            destination_port: remote.port(),
            source_address: local.ip(),
            destination_address: remote.ip(),
            interface_id,
            // INET_DIAG_NOCOOKIE: whichever socket the lookup finds.
            cookie: [0xff; 8],
        },
    }
}

/// Sends one inet request and reads its answers.
fn ask(socket: &Socket, request: InetRequest, flags: u16) -> io::Result<Vec<InetResponse>> {
    let answers = exchange(socket, SockDiagMessage::InetRequest(request), flags)?;
    Ok(inet_responses(answers))
}

/// The inet sockets among `answers`.
fn inet_responses(answers: Vec<SockDiagMessage>) -> Vec<InetResponse> {
    answers
        .into_iter()
        .filter_map(|answer| match answer {
            SockDiagMessage::InetResponse(response) => Some(*response),
            _ => None,
        })
        .collect()
}

/// A netlink socket for `sock_diag` requests, in the calling thread's namespace.
pub(super) fn open() -> io::Result<Socket> {
    let mut socket = Socket::new(NETLINK_SOCK_DIAG)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    Ok(socket)
}

/// Sends one request and reads every answer until the end of the dump (or the one answer, when
/// `flags` asks for no dump).
pub(super) fn exchange(
    socket: &Socket,
    request: SockDiagMessage,
    flags: u16,
) -> io::Result<Vec<SockDiagMessage>> {
    exchange_bytes(socket, &serialized(request, flags), flags & NLM_F_DUMP != 0)
}

/// Sends one serialized request and reads its answers, as [`exchange`].
fn exchange_bytes(socket: &Socket, request: &[u8], dump: bool) -> io::Result<Vec<SockDiagMessage>> {
    socket.send(request, 0)?;
    let mut answers = Vec::new();
    loop {
        let (mut data, _) = socket.recv_from_full()?;
        let mut offset = 0;
        while offset < data.len() {
            // An answer to `TCPDIAG_GETSOCK` is read as the same message under the newer type.
            let kind = offset + 4..offset + 6;
            if data.get(kind.clone()) == Some(&TCPDIAG_GETSOCK.to_ne_bytes()[..]) {
                data[kind].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
            }
            let message = NetlinkMessage::<SockDiagMessage>::deserialize(&data[offset..])
                .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err.to_string()))?;
            let length = message.header.length as usize;
            match message.payload {
                NetlinkPayload::InnerMessage(answer) => {
                    answers.push(answer);
                    if !dump {
                        return Ok(answers);
                    }
                }
                NetlinkPayload::Done(_) => return Ok(answers),
                NetlinkPayload::Error(err) => {
                    return Err(err.code.map_or_else(
                        || io::Error::other("sock_diag failed"),
                        |code| io::Error::from_raw_os_error(-code.get()),
                    ));
                }
                _ => {}
            }
            if length == 0 {
                break;
            }
            offset += length;
        }
    }
}

fn listener(response: &InetResponse) -> Listener {
    let header = &response.header;
    let v6only = response.nlas.iter().find_map(|nla| match nla {
        Nla::SkV6Only(v6only) => Some(*v6only),
        _ => None,
    });
    Listener {
        address: header.socket_id.source_address,
        port: header.socket_id.source_port,
        v6only: if header.family == AF_INET6 {
            v6only
        } else {
            None
        },
        queue: header.recv_queue,
        backlog: Some(header.send_queue),
        uid: header.uid,
        inode: u64::from(header.inode),
        // A listener's `idiag_if` is the interface it is bound to (0: none).
        device: (header.socket_id.interface_id != 0).then(|| BoundDevice {
            index: header.socket_id.interface_id,
            name: None,
            addresses: Vec::new(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use socket2::{Domain, Protocol, Socket as RawSocket, Type};
    use std::net::{Ipv6Addr, SocketAddr as InetAddr};

    /// A socket bound and never made to listen is found on its port (Linux 6.8 and later),
    /// with its inode for its owner; a listener on the port is not among them.
    #[test]
    fn a_socket_bound_without_listening_is_found() {
        let bound = RawSocket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
        bound
            .bind(&InetAddr::from(([127, 0, 0, 1], 0)).into())
            .unwrap();
        let port = bound.local_addr().unwrap().as_socket().unwrap().port();
        // The same port over IPv6 (taken, as a dual-stack server takes it): one walk finds
        // both families.
        let bound6 = RawSocket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP)).unwrap();
        bound6.set_only_v6(true).unwrap();
        let v6_bound = bound6.bind(&InetAddr::from((Ipv6Addr::LOCALHOST, port)).into());
        let found = port_sockets(port).unwrap().bound;
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        let mut numbers = release
            .trim()
            .split(['.', '-'])
            .map(|n| n.parse::<u32>().unwrap_or(0));
        let (major, minor) = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
        if (major, minor) < (6, 8) {
            assert!(found.is_empty(), "{found:?}");
            return;
        }
        let mut addresses: Vec<_> = found.iter().map(|b| b.address).collect();
        addresses.sort_unstable();
        let mut expected = vec![std::net::IpAddr::from([127, 0, 0, 1])];
        // Where the host has no IPv6 (or another program took the port there), IPv4 alone.
        if v6_bound.is_ok() {
            expected.push(Ipv6Addr::LOCALHOST.into());
        }
        assert_eq!(addresses, expected, "{found:?}");
        assert!(
            found.iter().all(|b| b.backlog.is_none() && b.inode > 0),
            "{found:?}"
        );
        bound.listen(1).unwrap();
        drop(bound6);
        assert!(port_sockets(port).unwrap().bound.is_empty());
    }

    /// A server's ends of its connections outlive its listening socket: held while it keeps
    /// them, closing (no inode) once it closed them first; the client's ends, whose own port is
    /// another, are not the port's.
    #[test]
    fn a_servers_connections_are_found_on_its_port() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let _kept_client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (kept, _) = listener.accept().unwrap();
        let closed_client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (closed, _) = listener.accept().unwrap();
        drop(listener);
        // The server closes first: its end goes to FIN_WAIT2, then TIME_WAIT once the client
        // closes too.
        drop(closed);
        drop(closed_client);
        let found = port_sockets(port).unwrap();
        assert!(found.bound.is_empty(), "{found:?}");
        let inode = {
            use std::os::fd::AsRawFd;
            let link = std::fs::read_link(format!("/proc/self/fd/{}", kept.as_raw_fd())).unwrap();
            let link = link.to_string_lossy().into_owned();
            link.trim_start_matches("socket:[")
                .trim_end_matches(']')
                .parse::<u64>()
                .unwrap()
        };
        let mut states: Vec<_> = found
            .connections
            .iter()
            .map(|c| (c.state, c.inode))
            .collect();
        states.sort_by_key(|(_, inode)| std::cmp::Reverse(*inode));
        assert_eq!(
            states,
            [
                (ConnectionState::Open, inode),
                (ConnectionState::Closing, 0)
            ],
            "{found:?}"
        );
        assert!(found.connections.iter().all(|c| c.local.port() == port));
    }

    /// A listener bound to an interface (`SO_BINDTODEVICE`) is taken for a connection to that
    /// interface's address and not for one to loopback, as the kernel takes a real SYN; the
    /// dump names the interface.
    #[test]
    fn a_listener_bound_to_an_interface_is_found_through_its_address_only() {
        let Some(lab) = refused_lab::Lab::or_skip(
            "a_listener_bound_to_an_interface_is_found_through_its_address_only",
        ) else {
            return;
        };
        let (taken, dumped) = lab
            .client
            .run(|| {
                let listener = refused_lab::ListenSpec::new(InetAddr::from(([0, 0, 0, 0], 0)))
                    .device("eth0")
                    .listen()
                    .unwrap();
                let port = listener.local_addr().unwrap().port();
                let mut lookup = ListenerLookup::new().unwrap();
                let taken = [
                    InetAddr::from((refused_lab::CLIENT_V4, port)),
                    InetAddr::from(([127, 0, 0, 1], port)),
                ]
                .map(|addr| lookup.is_taken(addr).unwrap());
                (taken, tcp_listeners_on(port).unwrap())
            })
            .unwrap();
        assert_eq!(taken, [true, false]);
        let device = dumped[0].device.as_ref().unwrap();
        assert_eq!(device.name.as_deref(), Some("eth0"));
        assert!(device.takes(refused_lab::CLIENT_V4.into()));
    }

    #[test]
    fn sees_our_own_listener_with_its_backlog_and_v6only() {
        let socket = RawSocket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP)).unwrap();
        socket.set_only_v6(true).unwrap();
        socket
            .bind(&InetAddr::from((Ipv6Addr::LOCALHOST, 0)).into())
            .unwrap();
        socket.listen(7).unwrap();
        let port = socket.local_addr().unwrap().as_socket().unwrap().port();

        let listeners = tcp_listeners().unwrap();
        let ours = listeners
            .iter()
            .find(|l| l.port == port && l.address == Ipv6Addr::LOCALHOST)
            .unwrap_or_else(|| panic!("port {port} not among {listeners:?}"));
        assert_eq!(ours.backlog, Some(7));
        assert_eq!(ours.v6only, Some(true));
        assert_eq!(ours.queue, 0);
    }

    #[test]
    fn asks_the_kernel_for_one_port() {
        let bind = |addr: InetAddr| {
            let socket = RawSocket::new(Domain::for_address(addr), Type::STREAM, None).unwrap();
            if addr.is_ipv6() {
                socket.set_only_v6(true).unwrap();
            }
            socket.bind(&addr.into()).unwrap();
            socket.listen(3).unwrap();
            socket
        };
        let v4 = bind(InetAddr::from(([127, 0, 0, 1], 0)));
        let port = v4.local_addr().unwrap().as_socket().unwrap().port();
        let _v6 = bind(InetAddr::from((Ipv6Addr::LOCALHOST, port)));
        let _other = bind(InetAddr::from(([127, 0, 0, 1], 0)));

        let on_port = tcp_listeners_on(port).unwrap();
        assert_eq!(on_port.len(), 2, "{on_port:?}");
        assert!(
            on_port
                .iter()
                .all(|l| l.port == port && l.backlog == Some(3))
        );
        assert!(tcp_listeners().unwrap().len() > on_port.len());
    }
}

#[cfg(test)]
mod lookup_tests {
    use super::ListenerLookup;
    use socket2::{Domain, Socket, Type};
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

    fn bound(addr: SocketAddr, v6only: bool) -> Socket {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None).unwrap();
        if addr.is_ipv6() {
            socket.set_only_v6(v6only).unwrap();
        }
        socket.bind(&addr.into()).unwrap();
        socket
    }

    fn port(socket: &Socket) -> u16 {
        socket.local_addr().unwrap().as_socket().unwrap().port()
    }

    /// The kernel answers as for a SYN: a bound socket is not a listener, a listener on another
    /// address of the port does not take the connection, a wildcard or dual-stack one does.
    #[test]
    fn finds_the_listener_a_connection_would_reach() {
        let mut lookup = ListenerLookup::new().unwrap();
        let v4 = |port| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let v6 = |port| SocketAddr::from((Ipv6Addr::LOCALHOST, port));

        let socket = bound(v4(0), false);
        let p = port(&socket);
        assert!(!lookup.is_taken(v4(p)).unwrap(), "bound, not listening");
        socket.listen(8).unwrap();
        assert!(lookup.is_taken(v4(p)).unwrap());
        assert!(
            !lookup.is_taken(v6(p)).unwrap(),
            "an IPv4 listener takes no IPv6"
        );
        assert!(
            !lookup
                .is_taken(SocketAddr::from(([127, 0, 0, 2], p)))
                .unwrap()
        );
        // A v4-mapped address goes as IPv4.
        let mapped = SocketAddr::from((Ipv4Addr::LOCALHOST.to_ipv6_mapped(), p));
        assert!(lookup.is_taken(mapped).unwrap());

        let wildcard = bound(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)), false);
        wildcard.listen(8).unwrap();
        let p = port(&wildcard);
        assert!(lookup.is_taken(v4(p)).unwrap());
        assert!(
            lookup
                .is_taken(SocketAddr::from(([127, 0, 0, 2], p)))
                .unwrap()
        );

        let dual = bound(SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)), false);
        dual.listen(8).unwrap();
        let p = port(&dual);
        assert!(lookup.is_taken(v4(p)).unwrap(), "dual-stack takes IPv4");
        assert!(lookup.is_taken(v6(p)).unwrap());

        let v6only = bound(v6(0), true);
        v6only.listen(8).unwrap();
        let p = port(&v6only);
        assert!(lookup.is_taken(v6(p)).unwrap());
        assert!(!lookup.is_taken(v4(p)).unwrap());
        drop(v6only);
        assert!(!lookup.is_taken(v6(p)).unwrap(), "closed");
    }
}

#[cfg(test)]
mod accept_tests {
    use super::{ServerEnd, server_end};
    use std::net::{TcpListener, TcpStream};
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn a_connection_is_accepted_once_the_program_takes_it() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let server = listener.local_addr().unwrap();
        let stream = TcpStream::connect(server).unwrap();
        let client = stream.local_addr().unwrap();
        assert_eq!(server_end(client, server).unwrap(), Some(ServerEnd::Queued));
        let (accepted, _) = listener.accept().unwrap();
        // The inode is the accepted socket's own, the one `/proc/PID/fd` links to.
        let fd = std::os::fd::AsRawFd::as_raw_fd(&accepted);
        let inode = std::fs::metadata(format!("/proc/self/fd/{fd}"))
            .unwrap()
            .ino();
        assert_eq!(
            server_end(client, server).unwrap(),
            Some(ServerEnd::Accepted(inode))
        );
        drop(accepted);
        assert_eq!(server_end(client, server).unwrap(), Some(ServerEnd::Closed));
        drop(listener);
        let elsewhere = "127.0.0.1:9".parse().unwrap();
        assert_eq!(server_end(client, elsewhere).unwrap(), None);
    }
}
