//! Test support for `refused`: listeners in known states, and (soon) hosts made of network namespaces.
