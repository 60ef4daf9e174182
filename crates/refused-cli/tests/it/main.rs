//! Integration tests of the built `refused` binary.

mod check;
mod check_lab;
mod common;
mod deadline_lab;
mod scan;
mod wait;
mod why;
mod why_lab;
