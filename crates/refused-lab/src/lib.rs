//! Test support for `refused`: sockets in known states on this host, and hosts made of network
//! namespaces for the causes that need more than loopback.
//!
//! A test dev-depends on this crate; nothing here is part of the product. See ARCHITECTURE.md
//! ("The lab") for how to write a lab test in a few lines.

mod lab;
mod netns;
mod scratch;
pub mod servers;
pub mod socket;
mod tools;
mod xdp;

pub use lab::{
    CLIENT_V4, CLIENT_V6, DnsZone, Family, Lab, NO_ROUTE_V4, NO_ROUTE_V6, PREFIX, SERVER_V4,
    SERVER_V6, UNUSED_V4, UNUSED_V6,
};
pub use netns::Netns;
pub use scratch::Scratch;
pub use socket::{FullQueue, ListenSpec, RefusedPort};
pub use tools::{NGINX_STREAM_MODULE, Tool, missing, require};
pub use xdp::XdpDrop;

/// Why the lab could not do something.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// Network namespaces need root.
    #[error("the lab needs root to create network namespaces (run as root, or in CI)")]
    NotRoot,
    /// A tool (`ip`, `nft`, `tc`, `dnsmasq`) failed or is missing (the message then names the
    /// package to install).
    #[error("`{tool}` failed: {message}")]
    Tool {
        /// The command line.
        tool: String,
        /// Its stderr, or why it could not start.
        message: String,
    },
    /// A file or namespace could not be used.
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
    /// This kernel lacks a feature.
    #[error("not supported here: {0}")]
    Unsupported(&'static str),
}
