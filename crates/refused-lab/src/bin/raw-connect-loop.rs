//! The kernel's limit for a connect sweep, as a baseline for `scripts/bench-scan.sh`: a blocking
//! `connect()` to every port of one address, on one thread per core, nothing else. Prints the open
//! ports, one per line (self-connects, where the kernel connected a socket to itself, left out).
//!
//! Usage: `raw-connect-loop ADDRESS [THREADS]`

use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering};

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(Ok(ip)) = args.next().map(|a| a.parse::<IpAddr>()) else {
        eprintln!("usage: raw-connect-loop ADDRESS [THREADS]");
        std::process::exit(2);
    };
    let threads = args
        .next()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    let next = AtomicU32::new(1);
    let mut open: Vec<u16> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut open = Vec::new();
                    loop {
                        let start = next.fetch_add(256, Ordering::Relaxed);
                        if start > u32::from(u16::MAX) {
                            return open;
                        }
                        for port in start..(start + 256).min(u32::from(u16::MAX) + 1) {
                            let port = u16::try_from(port).unwrap_or(u16::MAX);
                            let addr = SocketAddr::new(ip, port);
                            if let Ok(stream) = TcpStream::connect(addr) {
                                if stream.local_addr().ok() != Some(addr) {
                                    open.push(port);
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    });
    open.sort_unstable();
    for port in open {
        println!("{port}");
    }
}
