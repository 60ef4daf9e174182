//! Integration tests of the built `refused` binary.

mod check;
mod common;
