//! The lab's own tests: each building block does what the diagnosis tests will rely on.
//! They need root (network namespaces): outside CI they skip with a printed reason.

mod blocks;
mod dns;
