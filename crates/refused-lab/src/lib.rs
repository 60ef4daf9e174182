//! Test support for `refused`: sockets in known states on this host, and hosts made of network
//! namespaces for the causes that need more than loopback.
//!
//! A test dev-depends on this crate; nothing here is part of the product.

pub mod socket;

pub use socket::{FullQueue, ListenSpec, RefusedPort};
