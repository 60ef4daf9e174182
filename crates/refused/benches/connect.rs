//! `refused::connect` on the success path against `std::net::TcpStream::connect`, both to a
//! loopback listener that accepts in the background.
//!
//! Run: `cargo bench -p refused --bench connect`

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::OnceLock;

use refused::{Dialer, RetryPolicy};

fn main() {
    divan::main();
}

/// A listener that accepts and drops connections for the whole run, so the queue never fills.
fn listener() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                drop(stream);
            }
        });
        addr
    })
}

#[divan::bench(sample_count = 3000)]
fn std_connect(bencher: divan::Bencher) {
    let addr = listener();
    bencher.bench_local(|| TcpStream::connect(addr).expect("connect"));
}

#[divan::bench(sample_count = 3000)]
fn refused_blocking_dial_addrs(bencher: divan::Bencher) {
    let addr = listener();
    let dialer = Dialer::new().retry(RetryPolicy::never());
    bencher.bench_local(|| refused::blocking::dial_addrs(&dialer, &[addr]).expect("connect"));
}

#[divan::bench(sample_count = 3000)]
fn refused_async_dial_addrs(bencher: divan::Bencher) {
    let addr = listener();
    let dialer = Dialer::new().retry(RetryPolicy::never());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    bencher.bench_local(|| {
        runtime.block_on(async { dialer.dial_addrs(&[addr]).await.expect("connect") })
    });
}
