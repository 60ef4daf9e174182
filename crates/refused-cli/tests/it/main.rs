//! Integration tests of the built `refused` binary.

mod check;
mod check_lab;
mod common;
mod proxy;
mod scan;
mod serve;
mod wait;
mod why;
mod why_hosts_lab;
mod why_lab;
