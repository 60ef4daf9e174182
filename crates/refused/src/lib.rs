//! `refused` finds out why a TCP connection is refused, and connects the way the best clients do.
//!
//! The pieces, from the bottom up:
//! - [`Target`]: what to reach, parsed from `host:port`, `[::1]:5432` or a URL;
//! - [`Outcome`]: what one connect attempt to one address ended in, classified from the errno;
//! - [`resolve`]: the system resolver, with its failure kinds kept apart;
//! - [`Dialer`] and [`connect()`]: happy eyeballs, timeouts, retry with backoff, and a
//!   [`ConnectError`] that keeps every attempt;
//! - [`diagnose`]: why a target does not connect, as one [`Cause`](diagnose::Cause) with the
//!   evidence ([`sys`] reads it from this host) and what to do.
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
// A library returns values: it never prints, exits or unwraps (tests may unwrap).
#![deny(clippy::print_stdout, clippy::print_stderr, clippy::exit)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod connect;
pub mod diagnose;
pub mod outcome;
pub mod probe;
pub mod resolve;
pub mod scan;
#[cfg(feature = "serve")]
pub mod serve;
pub mod sys;
pub mod target;
pub mod wait;

pub use connect::{
    Attempt, Backoff, ConnectError, ConnectErrorKind, Connected, Dialer, Jitter, RetryPolicy,
    blocking, connect,
};
pub use outcome::Outcome;
pub use resolve::{ResolveError, ResolveErrorKind};
pub use target::{Endpoint, Host, Port, Scheme, Target, TargetError, TargetErrorKind};
