//! Evidence collectors: what this host's kernel and configuration say, each readable alone.
//!
//! Everything here reads the host (`/proc`, netlink, `nft`); the parsers are pure functions
//! tested on fixtures. What cannot be read without root comes back as an error or an explicit
//! "not seen", never as an empty answer.

pub mod firewall;
pub mod host;
pub mod netns;
pub mod process;
pub mod services;
pub mod sock_diag;
pub mod tables;
