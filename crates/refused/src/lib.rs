//! `refused` finds out why a TCP connection is refused, and connects the way the best clients do.
//!
//! The pieces, from the bottom up:
//! - [`Target`]: what to reach, parsed from `host:port`, `[::1]:5432` or a URL;
//! - [`Outcome`]: what one connect attempt to one address ended in, classified from the errno;
//! - [`resolve`]: the system resolver, with its failure kinds kept apart;
//! - [`Dialer`] and [`connect()`]: happy eyeballs, timeouts, retry with backoff, and a
//!   [`ConnectError`] that keeps every attempt;
//! - [`diagnose`]: why a target does not connect, as one [`Cause`] with the
//!   evidence (read from this host: socket tables, processes, namespaces, firewall) and what
//!   to do;
//! - [`wait`], [`probe`] and [`scan`]: readiness, and every port's state with its owner.
//!
//! ```no_run
//! # async fn demo() {
//! match refused::connect("localhost:5432").await {
//!     Ok(_stream) => println!("connected"),
//!     // "connection refused by 127.0.0.1:5432 (nothing accepted on that port), 3 attempts over 0.3 s"
//!     Err(err) => eprintln!("{err}"),
//! }
//! # }
//! ```
#![deny(missing_docs)]
#![warn(unnameable_types)]
// A library returns values: it never prints, exits or unwraps (tests may unwrap).
#![deny(clippy::print_stdout, clippy::print_stderr, clippy::exit)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod cause;
pub mod connect;
pub mod diagnose;
pub mod outcome;
pub mod probe;
pub mod proxy;
pub mod resolve;
pub mod scan;
#[cfg(feature = "serve")]
pub mod serve;
mod sys;
pub mod target;
pub mod wait;

pub use cause::Cause;
pub use connect::{
    Attempt, Backoff, ConnectError, ConnectErrorKind, Connected, Dialer, IcmpError, IcmpVersion,
    Jitter, RetryPolicy, blocking, connect,
};
pub use outcome::Outcome;
pub use resolve::{ResolveError, ResolveErrorKind};
pub use target::{Endpoint, Host, Port, Scheme, Target, TargetError, TargetErrorKind};

/// How the host is read (the parsers of its text, the firewall evaluator), for the fuzz targets
/// in `fuzz/` and the lab's tests: not part of the API, and free to change.
#[doc(hidden)]
pub mod internals {
    pub use crate::sys::firewall;
    pub use crate::sys::tables::{
        TableError, UnixListener, parse_tcp_listeners, parse_unix_listeners,
    };
}
