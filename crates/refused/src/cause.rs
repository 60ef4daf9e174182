//! The cause of a diagnosis: the contract's vocabulary (docs/contract.md), one root cause a
//! person must fix. `check` and `wait` name a probe's result with it too, where the probe alone
//! proves the cause.

use std::fmt;

use serde::Serialize;

/// The most likely root cause of a failed (or working) connection. The labels are a contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cause {
    /// It connects (warnings may still say one address or family failed).
    Reachable,
    /// TCP connects, but the protocol probe says the service is not ready.
    NotReady,
    /// The address is on this host and nothing listens on that port, nor anything that looks meant.
    NoListener,
    /// Nothing listens on that port, but a likely intended listener exists elsewhere.
    WrongPort,
    /// A listener has the port, bound to an address the target does not reach.
    ListeningOnOtherAddress,
    /// A listener has the port in the other address family only.
    ListeningOnOtherFamily,
    /// The port is listened on in another network namespace of this host.
    ListenerInOtherNamespace,
    /// The listener's accept queue is full.
    ListenQueueFull,
    /// A remote host answered with a reset.
    Closed,
    /// No answer at all within the timeout.
    Filtered,
    /// A rejection came back fast from the path or the host.
    Rejected,
    /// This host's own firewall stops the packets.
    BlockedLocally,
    /// Nobody has that address on the network.
    HostUnreachable,
    /// No route to that network from here.
    NetworkUnreachable,
    /// The name does not exist.
    DnsNotFound,
    /// The name exists but has no address record of a usable family.
    DnsNoAddress,
    /// The resolver failed.
    DnsFailure,
    /// No local ephemeral port is free.
    PortsExhausted,
    /// The unix socket path does not exist (or is not a socket).
    SocketMissing,
    /// The unix socket file exists but no process listens on it.
    SocketStale,
    /// The unix socket exists but this user may not connect to it.
    SocketPermissionDenied,
}

impl Cause {
    /// Every cause, in the contract's order (docs/contract.md).
    pub const ALL: [Self; 21] = [
        Self::Reachable,
        Self::NotReady,
        Self::NoListener,
        Self::WrongPort,
        Self::ListeningOnOtherAddress,
        Self::ListeningOnOtherFamily,
        Self::ListenerInOtherNamespace,
        Self::ListenQueueFull,
        Self::Closed,
        Self::Filtered,
        Self::Rejected,
        Self::BlockedLocally,
        Self::HostUnreachable,
        Self::NetworkUnreachable,
        Self::DnsNotFound,
        Self::DnsNoAddress,
        Self::DnsFailure,
        Self::PortsExhausted,
        Self::SocketMissing,
        Self::SocketStale,
        Self::SocketPermissionDenied,
    ];

    /// The kebab-case label of the contract.
    pub const fn as_label(self) -> &'static str {
        match self {
            Self::Reachable => "reachable",
            Self::NotReady => "not-ready",
            Self::NoListener => "no-listener",
            Self::WrongPort => "wrong-port",
            Self::ListeningOnOtherAddress => "listening-on-other-address",
            Self::ListeningOnOtherFamily => "listening-on-other-family",
            Self::ListenerInOtherNamespace => "listener-in-other-namespace",
            Self::ListenQueueFull => "listen-queue-full",
            Self::Closed => "closed",
            Self::Filtered => "filtered",
            Self::Rejected => "rejected",
            Self::BlockedLocally => "blocked-locally",
            Self::HostUnreachable => "host-unreachable",
            Self::NetworkUnreachable => "network-unreachable",
            Self::DnsNotFound => "dns-not-found",
            Self::DnsNoAddress => "dns-no-address",
            Self::DnsFailure => "dns-failure",
            Self::PortsExhausted => "ports-exhausted",
            Self::SocketMissing => "socket-missing",
            Self::SocketStale => "socket-stale",
            Self::SocketPermissionDenied => "socket-permission-denied",
        }
    }

    /// Whether the target can be used as it is.
    pub const fn is_reachable(self) -> bool {
        matches!(self, Self::Reachable)
    }

    /// How much a cause says when several addresses of one target failed differently: a cause
    /// backed by this host's own evidence (a listener elsewhere, a local rule) says more than
    /// one read from an outcome alone.
    pub(crate) const fn specificity(self) -> u8 {
        match self {
            Self::Reachable | Self::NotReady => 0,
            Self::DnsNotFound | Self::DnsNoAddress | Self::DnsFailure => 1,
            Self::Filtered | Self::NetworkUnreachable | Self::HostUnreachable => 2,
            Self::Closed | Self::Rejected | Self::NoListener | Self::PortsExhausted => 3,
            Self::SocketMissing | Self::SocketStale | Self::SocketPermissionDenied => 4,
            Self::WrongPort
            | Self::ListeningOnOtherAddress
            | Self::ListeningOnOtherFamily
            | Self::ListenerInOtherNamespace
            | Self::ListenQueueFull
            | Self::BlockedLocally => 5,
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_label())
    }
}

impl Serialize for Cause {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_designs_vocabulary() {
        let labels: Vec<&str> = Cause::ALL.iter().map(|c| c.as_label()).collect();
        assert_eq!(
            labels.join(" "),
            "reachable not-ready no-listener wrong-port listening-on-other-address \
             listening-on-other-family listener-in-other-namespace listen-queue-full closed \
             filtered rejected blocked-locally host-unreachable network-unreachable dns-not-found \
             dns-no-address dns-failure ports-exhausted socket-missing socket-stale \
             socket-permission-denied"
        );
    }
}
