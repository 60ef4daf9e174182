//! Outcomes: what one connect attempt to one socket address ended in.
//!
//! Classified from the OS error number, never from message text: std folds `EPERM` and `EACCES`
//! into one `ErrorKind`, and the message is localised and unstable.

use std::fmt;
use std::io;

/// What a single connect attempt to one address ended in. The labels are part of the contract
/// (docs/contract.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The handshake completed.
    Connected,
    /// A reset answered the SYN (`ECONNREFUSED`): nothing accepted on that port, or a firewall
    /// rejected with a reset or port-unreachable.
    Refused,
    /// No answer before the attempt's timeout (`ETIMEDOUT`, or our own timer).
    Timeout,
    /// `EHOSTUNREACH` / `EHOSTDOWN`: neighbour discovery failed, or an ICMP host/admin-prohibited.
    HostUnreachable,
    /// `ENETUNREACH` / `ENETDOWN`: no route to the network.
    NetworkUnreachable,
    /// `EACCES` / `EPERM`: a local policy (firewall, `SELinux`) or an IPv6 admin-prohibited reject.
    PermissionDenied,
    /// `EADDRNOTAVAIL`: no free local port, or the address family is not usable here.
    AddressUnavailable,
    /// The connection was reset or aborted during the handshake.
    Reset,
    /// `EMFILE` / `ENFILE`: this process or the system ran out of file descriptors.
    TooManyOpenFiles,
    /// Anything else, with the errno when there was one.
    Other(Option<i32>),
}

impl Outcome {
    /// Every outcome, in the contract's order (`Other` stands for every errno it holds): the
    /// published JSON schemas list exactly these labels.
    pub const ALL: [Self; 10] = [
        Self::Connected,
        Self::Refused,
        Self::Timeout,
        Self::HostUnreachable,
        Self::NetworkUnreachable,
        Self::PermissionDenied,
        Self::AddressUnavailable,
        Self::Reset,
        Self::TooManyOpenFiles,
        Self::Other(None),
    ];

    /// Classifies an I/O error from `connect()`.
    pub fn from_io_error(err: &io::Error) -> Self {
        match err.raw_os_error() {
            Some(errno) => Self::from_errno(errno),
            None if err.kind() == io::ErrorKind::TimedOut => Self::Timeout,
            // Made by us, not the kernel: a socket the kernel connected to itself.
            None if err.kind() == io::ErrorKind::ConnectionRefused => Self::Refused,
            None => Self::Other(None),
        }
    }

    /// Classifies an errno value.
    pub fn from_errno(errno: i32) -> Self {
        match errno {
            libc::ECONNREFUSED => Self::Refused,
            libc::ETIMEDOUT => Self::Timeout,
            libc::EHOSTUNREACH | libc::EHOSTDOWN => Self::HostUnreachable,
            libc::ENETUNREACH | libc::ENETDOWN => Self::NetworkUnreachable,
            libc::EACCES | libc::EPERM => Self::PermissionDenied,
            libc::EADDRNOTAVAIL => Self::AddressUnavailable,
            libc::ECONNRESET | libc::ECONNABORTED | libc::EPIPE => Self::Reset,
            libc::EMFILE | libc::ENFILE => Self::TooManyOpenFiles,
            other => Self::Other(Some(other)),
        }
    }

    /// The kebab-case label used in JSON, metrics and docs.
    pub const fn as_label(self) -> &'static str {
        match self {
            Self::Connected => "connected",
            Self::Refused => "refused",
            Self::Timeout => "timeout",
            Self::HostUnreachable => "host-unreachable",
            Self::NetworkUnreachable => "network-unreachable",
            Self::PermissionDenied => "permission-denied",
            Self::AddressUnavailable => "address-unavailable",
            Self::Reset => "reset",
            Self::TooManyOpenFiles => "too-many-open-files",
            Self::Other(_) => "other",
        }
    }

    /// The errno behind this outcome, where one is known.
    pub const fn errno(self) -> Option<i32> {
        match self {
            Self::Connected => None,
            Self::Refused => Some(libc::ECONNREFUSED),
            Self::Timeout => Some(libc::ETIMEDOUT),
            Self::HostUnreachable => Some(libc::EHOSTUNREACH),
            Self::NetworkUnreachable => Some(libc::ENETUNREACH),
            Self::PermissionDenied => Some(libc::EACCES),
            Self::AddressUnavailable => Some(libc::EADDRNOTAVAIL),
            Self::Reset => Some(libc::ECONNRESET),
            Self::TooManyOpenFiles => Some(libc::EMFILE),
            Self::Other(errno) => errno,
        }
    }

    /// Whether the attempt succeeded.
    pub const fn is_connected(self) -> bool {
        matches!(self, Self::Connected)
    }

    /// A short reason a person can read, for the parenthesis after an outcome.
    pub const fn explanation(self) -> &'static str {
        match self {
            Self::Connected => "the handshake completed",
            Self::Refused => "nothing accepted on that port",
            Self::Timeout => "no answer: packets dropped, or the host is down",
            Self::HostUnreachable => "no host answered for that address, or a firewall rejected",
            Self::NetworkUnreachable => "no route to that network",
            Self::PermissionDenied => "a local policy or a firewall forbade it",
            Self::AddressUnavailable => "no local port or address was free for it",
            Self::Reset => "the peer reset the connection",
            Self::TooManyOpenFiles => "this process ran out of file descriptors",
            Self::Other(_) => "an unexpected error",
        }
    }

    /// The `io::ErrorKind` that code expecting `io::Error` would see for this outcome.
    pub const fn io_error_kind(self) -> io::ErrorKind {
        match self {
            Self::Connected | Self::Other(_) | Self::TooManyOpenFiles => io::ErrorKind::Other,
            Self::Refused => io::ErrorKind::ConnectionRefused,
            Self::Timeout => io::ErrorKind::TimedOut,
            Self::HostUnreachable => io::ErrorKind::HostUnreachable,
            Self::NetworkUnreachable => io::ErrorKind::NetworkUnreachable,
            Self::PermissionDenied => io::ErrorKind::PermissionDenied,
            Self::AddressUnavailable => io::ErrorKind::AddrNotAvailable,
            Self::Reset => io::ErrorKind::ConnectionReset,
        }
    }

    /// How telling this outcome is when several attempts failed differently: the error reported
    /// for the whole connect is the attempt with the highest rank (a refusal says more than a
    /// timeout on another address, since it proves the host is there).
    pub(crate) const fn rank(self) -> u8 {
        match self {
            Self::Connected => 10,
            Self::Refused => 9,
            Self::Reset => 8,
            Self::PermissionDenied => 7,
            Self::TooManyOpenFiles => 6,
            Self::AddressUnavailable => 5,
            Self::Timeout => 4,
            Self::HostUnreachable => 3,
            Self::NetworkUnreachable => 2,
            Self::Other(_) => 1,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_label())
    }
}

impl serde::Serialize for Outcome {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, SocketAddr, TcpStream};

    #[test]
    fn labels_are_the_contract() {
        let all = [
            (Outcome::Connected, "connected"),
            (Outcome::Refused, "refused"),
            (Outcome::Timeout, "timeout"),
            (Outcome::HostUnreachable, "host-unreachable"),
            (Outcome::NetworkUnreachable, "network-unreachable"),
            (Outcome::PermissionDenied, "permission-denied"),
            (Outcome::AddressUnavailable, "address-unavailable"),
            (Outcome::Reset, "reset"),
            (Outcome::TooManyOpenFiles, "too-many-open-files"),
            (Outcome::Other(Some(libc::EPROTO)), "other"),
        ];
        assert_eq!(
            Outcome::ALL.map(Outcome::as_label),
            all.map(|(_, label)| label),
            "ALL lists every outcome, in order"
        );
        for (outcome, label) in all {
            assert_eq!(outcome.as_label(), label);
            assert_eq!(
                serde_json::to_string(&outcome).unwrap(),
                format!("\"{label}\"")
            );
        }
    }

    #[test]
    fn classified_from_errno() {
        let cases = [
            (libc::ECONNREFUSED, Outcome::Refused),
            (libc::ETIMEDOUT, Outcome::Timeout),
            (libc::EHOSTUNREACH, Outcome::HostUnreachable),
            (libc::EHOSTDOWN, Outcome::HostUnreachable),
            (libc::ENETUNREACH, Outcome::NetworkUnreachable),
            (libc::ENETDOWN, Outcome::NetworkUnreachable),
            (libc::EACCES, Outcome::PermissionDenied),
            (libc::EPERM, Outcome::PermissionDenied),
            (libc::EADDRNOTAVAIL, Outcome::AddressUnavailable),
            (libc::ECONNRESET, Outcome::Reset),
            (libc::ECONNABORTED, Outcome::Reset),
            (libc::EMFILE, Outcome::TooManyOpenFiles),
            (libc::ENFILE, Outcome::TooManyOpenFiles),
            (libc::EPROTO, Outcome::Other(Some(libc::EPROTO))),
        ];
        for (errno, outcome) in cases {
            let err = io::Error::from_raw_os_error(errno);
            assert_eq!(Outcome::from_io_error(&err), outcome, "errno {errno}");
        }
    }

    #[test]
    fn classified_without_errno() {
        let timed_out = io::Error::new(io::ErrorKind::TimedOut, "deadline");
        assert_eq!(Outcome::from_io_error(&timed_out), Outcome::Timeout);
        let other = io::Error::other("odd");
        assert_eq!(Outcome::from_io_error(&other), Outcome::Other(None));
    }

    #[test]
    fn real_refusal_from_a_bound_socket_that_does_not_listen() {
        // Bound but not listening: the port is ours, so nobody else can start listening on it.
        let bound =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        bound
            .bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
            .unwrap();
        let addr = bound.local_addr().unwrap().as_socket().unwrap();
        let err = TcpStream::connect(addr).unwrap_err();
        assert_eq!(Outcome::from_io_error(&err), Outcome::Refused);
        assert_eq!(err.raw_os_error(), Outcome::Refused.errno());
    }
}
