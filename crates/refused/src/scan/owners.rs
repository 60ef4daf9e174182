//! Who is behind a scan's ports: the service name `/etc/services` gives each port and, for this
//! host's own addresses, the process that listens there, read as `diagnose` reads them (the
//! socket tables, then one walk of `/proc/PID/fd`).

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use crate::sys::{self, host, process, services};

pub use crate::sys::process::Process;

/// Service names by port, and the processes listening on this host's scanned addresses.
#[derive(Debug, Clone, Default)]
pub struct PortOwners {
    services: HashMap<u16, String>,
    processes: HashMap<(IpAddr, u16), Process>,
}

impl PortOwners {
    /// Reads them for these addresses: processes only for the addresses of this host (and
    /// only those this user may see: other users' processes need root).
    pub fn of(addresses: impl IntoIterator<Item = IpAddr>) -> Self {
        let local: Vec<IpAddr> = addresses
            .into_iter()
            .filter(|ip| host::is_local_address(*ip))
            .collect();
        let mut processes = HashMap::new();
        if !local.is_empty() {
            let listeners = sys::own_tcp_listeners().unwrap_or_default();
            let inodes: HashSet<u64> = listeners.iter().map(|l| l.inode).collect();
            let owners = process::owners(&inodes);
            for ip in local {
                for listener in listeners.iter().filter(|l| l.accepts(ip)) {
                    if let Some(owner) = owners.get(listener.inode) {
                        processes.insert((ip, listener.port), owner.clone());
                    }
                }
            }
        }
        Self {
            services: services::service_names(),
            processes,
        }
    }

    /// The port's service name (`http`, `postgresql`...).
    pub fn service(&self, port: u16) -> Option<&str> {
        self.services.get(&port).map(String::as_str)
    }

    /// The process listening on `address`:`port`, if `address` is this host's and it was seen.
    pub fn process(&self, address: IpAddr, port: u16) -> Option<&Process> {
        self.processes.get(&(address, port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, TcpListener};

    #[test]
    fn our_own_listener_is_ours_and_a_remote_address_has_no_process() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let documentation = IpAddr::from([192, 0, 2, 1]);
        let owners = PortOwners::of([IpAddr::from(Ipv4Addr::LOCALHOST), documentation]);
        let process = owners.process(Ipv4Addr::LOCALHOST.into(), port).unwrap();
        assert_eq!(process.pid, std::process::id());
        assert!(owners.process(documentation, port).is_none());
    }
}
