//! `refused`'s connects against `std::net::TcpStream::connect`, interleaved, as ratios.
//!
//! A loopback listener accepts in the background. Each round times a batch of connects (each one
//! connect and close, timed alone) for every contender, in an order that rotates from round to
//! round, so a noisy moment of a shared machine falls on all of them alike; a round's figure is
//! the median of its batch, and a contender's ratio in that round is its median over std's. The
//! whole is repeated, and the report is the median of the repeats' median ratios, with the
//! lowest and highest of them.
//!
//! Run: `scripts/bench-connect.sh [ROUNDS [REPEATS]]` (or `cargo bench -p refused --bench
//! connect_ratio -- ROUNDS REPEATS`); `-- --only KEY N` makes N connects of one contender alone,
//! for `strace -c -f`.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use refused::{Dialer, RetryPolicy};

/// Connects per contender per round.
const BATCH: usize = 50;

#[derive(Clone, Copy)]
enum Contender {
    Std,
    StdText,
    BlockingConnect,
    BlockingDialAddrs,
    AsyncConnect,
    AsyncDialAddrs,
}

impl Contender {
    const ALL: [Self; 6] = [
        Self::Std,
        Self::StdText,
        Self::BlockingConnect,
        Self::BlockingDialAddrs,
        Self::AsyncConnect,
        Self::AsyncDialAddrs,
    ];

    const fn key(self) -> &'static str {
        match self {
            Self::Std => "std",
            Self::StdText => "std-text",
            Self::BlockingConnect => "blocking",
            Self::BlockingDialAddrs => "blocking-addrs",
            Self::AsyncConnect => "async",
            Self::AsyncDialAddrs => "async-addrs",
        }
    }

    const fn name(self) -> &'static str {
        match self {
            Self::Std => "std::net::TcpStream::connect(addr)",
            Self::StdText => "std::net::TcpStream::connect(\"127.0.0.1:P\")",
            Self::BlockingConnect => "refused::blocking::connect(\"127.0.0.1:P\")",
            Self::BlockingDialAddrs => "refused::blocking::dial_addrs(&[addr])",
            Self::AsyncConnect => "refused::connect(\"127.0.0.1:P\").await",
            Self::AsyncDialAddrs => "Dialer::dial_addrs(&[addr]).await",
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let numbers: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let addr = listener();
    let bench = Bench::new(addr);
    // `--only KEY [N]`: N connects of one contender and nothing else, for `strace -c -f`.
    if let Some(at) = args.iter().position(|a| a == "--only") {
        let key = args.get(at + 1).map_or("", String::as_str);
        let Some(contender) = Contender::ALL.into_iter().find(|c| c.key() == key) else {
            eprintln!(
                "--only takes one of: std std-text blocking blocking-addrs async async-addrs"
            );
            std::process::exit(2);
        };
        for _ in 0..numbers.first().copied().unwrap_or(1000).div_ceil(BATCH) {
            bench.time_batch(contender);
        }
        return;
    }
    let rounds = numbers.first().copied().unwrap_or(200).max(1);
    let repeats = numbers.get(1).copied().unwrap_or(5).max(1);

    // A warm-up round: the thread's runtime, the allocator, the listener's thread.
    for contender in Contender::ALL {
        bench.time_batch(contender);
    }
    // Per repeat and contender: the median over the rounds of its ratio to std, and its median.
    let mut ratios = vec![Vec::with_capacity(repeats); Contender::ALL.len()];
    let mut typical = vec![Vec::with_capacity(repeats); Contender::ALL.len()];
    for _ in 0..repeats {
        let mut medians = vec![Vec::with_capacity(rounds); Contender::ALL.len()];
        for round in 0..rounds {
            for step in 0..Contender::ALL.len() {
                let which = (round + step) % Contender::ALL.len();
                medians[which].push(bench.time_batch(Contender::ALL[which]));
            }
        }
        for (index, own) in medians.iter().enumerate() {
            let mut per_round: Vec<f64> = own
                .iter()
                .zip(&medians[0])
                .map(|(m, b)| m.as_secs_f64() / b.as_secs_f64())
                .collect();
            ratios[index].push(median_f64(&mut per_round));
            typical[index].push(median(&mut own.clone()));
        }
    }

    println!(
        "{repeats} repeats of {rounds} rounds of {BATCH} connects to a loopback listener, interleaved"
    );
    println!(
        "(a round's figure is its batch's median; a repeat's ratio the median of its rounds' ratios)"
    );
    println!(
        "{:46} {:>9}   ratio to std: median (min-max of the repeats)",
        "", "median"
    );
    for (index, contender) in Contender::ALL.iter().enumerate() {
        let own = &mut ratios[index];
        let middle = median_f64(own);
        println!(
            "{:46} {:>6.1} µs   {:.3}× ({:.3}-{:.3})",
            contender.name(),
            median(&mut typical[index]).as_secs_f64() * 1e6,
            middle,
            own[0],
            own[own.len() - 1],
        );
    }
}

/// What the contenders connect with and to.
struct Bench {
    addr: SocketAddr,
    text: String,
    dialer: Dialer,
    runtime: tokio::runtime::Runtime,
}

impl Bench {
    fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            text: addr.to_string(),
            dialer: Dialer::new().retry(RetryPolicy::never()),
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime"),
        }
    }

    /// The median of a batch of connects (each a connect and a close).
    fn time_batch(&self, contender: Contender) -> Duration {
        let Self {
            addr,
            text,
            dialer,
            runtime,
        } = self;
        let addr = *addr;
        let mut samples = Vec::with_capacity(BATCH);
        match contender {
            Contender::Std => {
                for _ in 0..BATCH {
                    let start = Instant::now();
                    drop(TcpStream::connect(addr).expect("connect"));
                    samples.push(start.elapsed());
                }
            }
            Contender::StdText => {
                for _ in 0..BATCH {
                    let start = Instant::now();
                    drop(TcpStream::connect(text.as_str()).expect("connect"));
                    samples.push(start.elapsed());
                }
            }
            Contender::BlockingConnect => {
                for _ in 0..BATCH {
                    let start = Instant::now();
                    drop(refused::blocking::connect(text).expect("connect"));
                    samples.push(start.elapsed());
                }
            }
            Contender::BlockingDialAddrs => {
                for _ in 0..BATCH {
                    let start = Instant::now();
                    drop(refused::blocking::dial_addrs(dialer, &[addr]).expect("connect"));
                    samples.push(start.elapsed());
                }
            }
            // The whole batch runs in one task, as an async program's connects do.
            Contender::AsyncConnect => runtime.block_on(async {
                for _ in 0..BATCH {
                    let start = Instant::now();
                    drop(refused::connect(text).await.expect("connect"));
                    samples.push(start.elapsed());
                }
            }),
            Contender::AsyncDialAddrs => runtime.block_on(async {
                for _ in 0..BATCH {
                    let start = Instant::now();
                    drop(dialer.dial_addrs(&[addr]).await.expect("connect"));
                    samples.push(start.elapsed());
                }
            }),
        }
        median(&mut samples)
    }
}

fn median_f64(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

/// A listener that accepts and drops connections for the whole run, so the queue never fills.
fn listener() -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            drop(stream);
        }
    });
    addr
}
