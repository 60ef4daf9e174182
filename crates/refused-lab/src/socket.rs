//! Sockets in known states on this host: a port guaranteed to refuse, a listener whose accept
//! queue is full, a listener bound exactly as a test asks.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};

use socket2::{Domain, Protocol, Socket, Type};

/// How a test listener is bound.
#[derive(Debug, Clone, Copy)]
pub struct ListenSpec {
    /// The address to bind (port 0 for any free port).
    pub addr: SocketAddr,
    /// `listen()` backlog.
    pub backlog: i32,
    /// For an IPv6 socket: accept IPv6 only (`true`) or IPv4-mapped too (`false`).
    pub v6only: bool,
    /// The interface to bind the socket to (`SO_BINDTODEVICE`): it then takes only the
    /// connections that come in through it.
    pub device: Option<&'static str>,
    /// Join the `SO_REUSEPORT` group on the address: several sockets listen on it, and the
    /// kernel hands each new connection to one of them by a hash of its addresses and ports.
    pub reuse_port: bool,
}

impl ListenSpec {
    /// Binds `addr` with a backlog of 128, v6only for IPv6 addresses.
    pub const fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            backlog: 128,
            v6only: true,
            device: None,
            reuse_port: false,
        }
    }

    /// Joins the address's `SO_REUSEPORT` group (see [`ListenSpec::reuse_port`]).
    #[must_use]
    pub const fn reuse_port(mut self) -> Self {
        self.reuse_port = true;
        self
    }

    /// Binds the socket to an interface (`SO_BINDTODEVICE`, needs root).
    #[must_use]
    pub const fn device(mut self, device: &'static str) -> Self {
        self.device = Some(device);
        self
    }

    /// Sets the backlog.
    #[must_use]
    pub const fn backlog(mut self, backlog: i32) -> Self {
        self.backlog = backlog;
        self
    }

    /// Sets v6only.
    #[must_use]
    pub const fn v6only(mut self, v6only: bool) -> Self {
        self.v6only = v6only;
        self
    }

    /// Binds and listens. Nothing accepts: the caller accepts on the returned listener, or not.
    pub fn listen(self) -> io::Result<TcpListener> {
        let socket = Socket::new(
            Domain::for_address(self.addr),
            Type::STREAM,
            Some(Protocol::TCP),
        )?;
        if self.addr.is_ipv6() {
            socket.set_only_v6(self.v6only)?;
        }
        socket.set_reuse_address(true)?;
        if self.reuse_port {
            socket.set_reuse_port(true)?;
        }
        if let Some(device) = self.device {
            socket.bind_device(Some(device.as_bytes()))?;
        }
        socket.bind(&self.addr.into())?;
        socket.listen(self.backlog)?;
        Ok(socket.into())
    }
}

/// A port that refuses for as long as this value lives: bound, never listening, so no other
/// program can start listening on it meanwhile (a closed port picked at random could be taken).
#[derive(Debug)]
pub struct RefusedPort {
    socket: Socket,
    addr: SocketAddr,
}

impl RefusedPort {
    /// A refusing port on 127.0.0.1.
    pub fn v4() -> io::Result<Self> {
        Self::on(IpAddr::V4(Ipv4Addr::LOCALHOST))
    }

    /// A refusing port on the given local address.
    pub fn on(ip: IpAddr) -> io::Result<Self> {
        let addr = SocketAddr::new(ip, 0);
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.bind(&addr.into())?;
        let addr = socket
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("bound socket has no inet address"))?;
        Ok(Self { socket, addr })
    }

    /// Holds `addr` (a specific port) bound without listening.
    pub fn at(addr: SocketAddr) -> io::Result<Self> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        if addr.is_ipv6() {
            socket.set_only_v6(true)?;
        }
        socket.bind(&addr.into())?;
        Ok(Self { socket, addr })
    }

    /// The refusing address.
    pub const fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port.
    pub const fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The socket, bound and not listening.
    pub const fn socket(&self) -> &Socket {
        &self.socket
    }
}

/// A listener with a backlog of 0 whose queue was filled by connections nobody accepts: new SYNs
/// are dropped, so a connect to it times out (Linux drops a SYN when the accept queue is full).
#[derive(Debug)]
pub struct FullQueue {
    listener: TcpListener,
    _queued: Vec<TcpStream>,
}

impl FullQueue {
    /// Listens on 127.0.0.1 and fills the queue.
    pub fn v4() -> io::Result<Self> {
        Self::on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
    }

    /// Listens on `addr` with the smallest backlog and fills the queue.
    pub fn on(addr: SocketAddr) -> io::Result<Self> {
        Self::with_backlog(addr, 0)
    }

    /// Listens on `addr` with `backlog` and fills the queue.
    pub fn with_backlog(addr: SocketAddr, backlog: i32) -> io::Result<Self> {
        let listener = ListenSpec::new(addr).backlog(backlog).listen()?;
        let target = listener.local_addr()?;
        // With backlog 0 the kernel queues one connection (the queue is full when its length
        // exceeds the backlog); a second is queued while the first completes. Fill until a
        // connect no longer completes at once.
        let mut queued = Vec::new();
        for _ in 0..backlog + 4 {
            match TcpStream::connect_timeout(&target, std::time::Duration::from_millis(200)) {
                Ok(stream) => queued.push(stream),
                Err(_) => break,
            }
        }
        Ok(Self {
            listener,
            _queued: queued,
        })
    }

    /// The address whose queue is full.
    pub fn addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The listening socket (never accepted on).
    pub const fn listener(&self) -> &TcpListener {
        &self.listener
    }
}
