//! Integration tests of the library against real sockets on loopback.

mod connect;
mod probe;
mod scan;
#[cfg(feature = "serve")]
mod serve;
mod wait;
