//! Integration tests of the built `refused` binary.

mod args;
mod check;
mod check_lab;
mod common;
mod compat;
mod docs;
mod scan;
mod terminal;
mod wait;
mod why;
mod why_lab;
