//! Integration tests of the built `refused` binary.

mod args;
mod check;
mod check_lab;
mod common;
mod compat;
mod deadline_lab;
mod docs;
mod proxy;
mod readme;
mod scan;
mod schema;
mod serve;
mod terminal;
mod unix;
mod wait;
mod why;
mod why_firewall_lab;
mod why_held_path_lab;
mod why_hosts_lab;
mod why_icmp_lab;
mod why_lab;
mod why_loopback_lab;
mod why_netns;
mod why_path_lab;
mod why_real_hosts_lab;
mod why_service_lab;
