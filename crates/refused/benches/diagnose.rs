//! `refused::diagnose` on local targets: the whole diagnosis, facts and rules, end to end in the
//! library (the target: under 50 ms). `scripts/bench-why.sh` times the built binary.
//!
//! Run: `cargo bench -p refused --bench diagnose`

use std::net::{Ipv4Addr, TcpListener};

use refused::Target;
use refused::diagnose::{Options, diagnose};
use refused_lab::RefusedPort;

fn main() {
    divan::main();
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

/// Nothing listens: every collector runs (socket tables, owners, other namespaces, rules).
#[divan::bench(sample_count = 200)]
fn no_listener(bencher: divan::Bencher) {
    let refusing = RefusedPort::v4().expect("a refused port");
    let target: Target = refusing.addr().to_string().parse().expect("a target");
    let runtime = runtime();
    let options = Options::default();
    bencher.bench_local(|| {
        runtime
            .block_on(diagnose(&target, &options))
            .expect("diagnosed")
    });
}

/// It connects: resolve `localhost`, one attempt per address, no host evidence needed.
#[divan::bench(sample_count = 200)]
fn reachable_localhost(bencher: divan::Bencher) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind loopback");
    let port = listener.local_addr().expect("local addr").port();
    // Accept and drop in the background, so the queue never fills.
    std::thread::spawn(move || listener.incoming().for_each(drop));
    let target: Target = format!("localhost:{port}").parse().expect("a target");
    let runtime = runtime();
    let options = Options::default();
    bencher.bench_local(|| {
        runtime
            .block_on(diagnose(&target, &options))
            .expect("diagnosed")
    });
}
