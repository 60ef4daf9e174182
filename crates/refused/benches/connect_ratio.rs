//! `refused`'s connects against `std::net::TcpStream::connect`, interleaved, as ratios.
//!
//! A loopback listener accepts in the background. Each round times a batch of connects (each one
//! connect and close, timed alone) for every contender, in an order shuffled from round to
//! round, so a noisy moment of a shared machine falls on all of them alike, and so does what a
//! contender leaves behind for the next (in a rotating order each would always follow the same
//! one). A round's figure is the median of its batch, and a contender's ratio in that round is
//! its median over std's. The whole is repeated, and the report is the median of the repeats'
//! median ratios, with the lowest and highest of them.
//!
//! The rows marked `(ref)` are not `refused`, they say where its floors are: std's own connect
//! bounded by a timeout (`connect_timeout`, what a program that must not hang for two minutes
//! uses without `refused`); a non-blocking connect asked once whether it finished, then made
//! blocking (the least a blocking connect bounded by a timeout costs: a blocking connect has no
//! timeout of its own but the kernel's two minutes); tokio's own connect; std's connect with the
//! stream then registered with tokio's reactor (and deregistered when dropped), the least any
//! connect that hands back a tokio stream costs; and the same with the non-blocking connect an
//! async connect must make (it may not block the runtime's thread). The async rows are also
//! measured against tokio's connect, their peer: what an async program would call instead.
//!
//! The listener has a port outside the ephemeral range, as a server's usually is (8080, 5432): a
//! connect to a port inside it is checked for a socket the kernel connected to itself, one
//! `getsockname` more; `--ephemeral` measures that case (a listener bound to port 0).
//!
//! Run: `scripts/bench-connect.sh [ROUNDS [REPEATS]] [--ephemeral]` (or `cargo bench -p refused
//! --bench connect_ratio -- ROUNDS REPEATS`); `-- --only KEY N` makes N connects of one contender
//! alone, for `strace -c -f`.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use refused::{Dialer, RetryPolicy};
use socket2::{Domain, SockAddr, Socket, Type};

/// Connects per contender per round.
const BATCH: usize = 50;

#[derive(Clone, Copy)]
enum Contender {
    Std,
    StdText,
    StdTimeout,
    BlockingConnect,
    BlockingDialAddrs,
    BlockingFloor,
    AsyncConnect,
    AsyncDialAddrs,
    TokioConnect,
    TokioFloor,
    NonBlockingFloor,
}

impl Contender {
    const ALL: [Self; 11] = [
        Self::Std,
        Self::StdText,
        Self::StdTimeout,
        Self::BlockingConnect,
        Self::BlockingDialAddrs,
        Self::BlockingFloor,
        Self::AsyncConnect,
        Self::AsyncDialAddrs,
        Self::TokioConnect,
        Self::TokioFloor,
        Self::NonBlockingFloor,
    ];

    const fn key(self) -> &'static str {
        match self {
            Self::Std => "std",
            Self::StdText => "std-text",
            Self::StdTimeout => "std-timeout",
            Self::BlockingConnect => "blocking",
            Self::BlockingDialAddrs => "blocking-addrs",
            Self::BlockingFloor => "blocking-floor",
            Self::AsyncConnect => "async",
            Self::AsyncDialAddrs => "async-addrs",
            Self::TokioConnect => "tokio",
            Self::TokioFloor => "tokio-floor",
            Self::NonBlockingFloor => "non-blocking-floor",
        }
    }

    const fn name(self) -> &'static str {
        match self {
            Self::Std => "std::net::TcpStream::connect(addr)",
            Self::StdText => "std::net::TcpStream::connect(\"127.0.0.1:P\")",
            Self::StdTimeout => "(ref) std's connect_timeout(addr, 10 s)",
            Self::BlockingConnect => "refused::blocking::connect(\"127.0.0.1:P\")",
            Self::BlockingDialAddrs => "refused::blocking::dial_addrs(&[addr])",
            Self::BlockingFloor => "(ref) non-blocking connect, made blocking",
            Self::AsyncConnect => "refused::connect(\"127.0.0.1:P\").await",
            Self::AsyncDialAddrs => "Dialer::dial_addrs(&[addr]).await",
            Self::TokioConnect => "(ref) tokio::net::TcpStream::connect(addr)",
            Self::TokioFloor => "(ref) std connect, tokio registration",
            Self::NonBlockingFloor => "(ref) non-blocking connect, tokio registration",
        }
    }

    /// What it is measured against besides std's connect to a `SocketAddr`: the same call of
    /// std with the same argument (a text), or for an async connect tokio's own, the connect
    /// any tokio program makes.
    const fn peer(self) -> Option<Self> {
        match self {
            Self::BlockingConnect => Some(Self::StdText),
            Self::AsyncConnect
            | Self::AsyncDialAddrs
            | Self::TokioConnect
            | Self::TokioFloor
            | Self::NonBlockingFloor => Some(Self::TokioConnect),
            _ => None,
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let numbers: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let addr = listener(args.iter().any(|a| a == "--ephemeral"));
    let bench = Bench::new(addr);
    // `--only KEY [N]`: N connects of one contender and nothing else, for `strace -c -f`.
    if let Some(at) = args.iter().position(|a| a == "--only") {
        let key = args.get(at + 1).map_or("", String::as_str);
        let Some(contender) = Contender::ALL.into_iter().find(|c| c.key() == key) else {
            let keys: Vec<&str> = Contender::ALL.iter().map(|c| c.key()).collect();
            eprintln!("--only takes one of: {}", keys.join(" "));
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
    report(&bench, rounds, repeats);
}

/// Measures `repeats` repeats of `rounds` rounds, and prints the table.
fn report(bench: &Bench, rounds: usize, repeats: usize) {
    // Per repeat and contender: the median over the rounds of its ratio to std, and its median.
    let mut ratios = vec![Vec::with_capacity(repeats); Contender::ALL.len()];
    // The same, to its peer (tokio's connect for the async rows).
    let mut to_peer = vec![Vec::with_capacity(repeats); Contender::ALL.len()];
    let mut typical = vec![Vec::with_capacity(repeats); Contender::ALL.len()];
    // Seeded: a run's orders can be had again.
    let mut rng = StdRng::seed_from_u64(14);
    let mut order: Vec<usize> = (0..Contender::ALL.len()).collect();
    for _ in 0..repeats {
        let mut medians = vec![Vec::with_capacity(rounds); Contender::ALL.len()];
        for _ in 0..rounds {
            order.shuffle(&mut rng);
            for &which in &order {
                medians[which].push(bench.time_batch(Contender::ALL[which]));
            }
        }
        let ratio_of = |own: &[Duration], base: &[Duration]| {
            let mut per_round: Vec<f64> = own
                .iter()
                .zip(base)
                .map(|(m, b)| m.as_secs_f64() / b.as_secs_f64())
                .collect();
            median_f64(&mut per_round)
        };
        for (index, own) in medians.iter().enumerate() {
            ratios[index].push(ratio_of(own, &medians[0]));
            if let Some(peer) = Contender::ALL[index].peer() {
                let at = Contender::ALL
                    .iter()
                    .position(|c| c.key() == peer.key())
                    .expect("the peer is a contender");
                to_peer[index].push(ratio_of(own, &medians[at]));
            }
            typical[index].push(median(&mut own.clone()));
        }
    }

    let range = ephemeral_range();
    let port = bench.addr.port();
    let inside = range.is_none_or(|(low, high)| (low..=high).contains(&port));
    println!(
        "{repeats} repeats of {rounds} rounds of {BATCH} connects to a loopback listener, interleaved"
    );
    println!(
        "(its port {port} is {} the ephemeral range{})",
        if inside { "inside" } else { "outside" },
        range.map_or_else(String::new, |(low, high)| format!(", {low}-{high}"))
    );
    println!(
        "(a round's figure is its batch's median; a repeat's ratio the median of its rounds' ratios)"
    );
    println!(
        "{:46} {:>9}   ratio to std: median (min-max of the repeats)   to its peer (*)",
        "", "median"
    );
    for (index, contender) in Contender::ALL.iter().enumerate() {
        let to_peer_text = match contender.peer() {
            Some(peer) => format!("{} of {}", spread(&mut to_peer[index]), peer.key()),
            None => String::new(),
        };
        let line = format!(
            "{:46} {:>6.1} µs   {:28}   {to_peer_text}",
            contender.name(),
            median(&mut typical[index]).as_secs_f64() * 1e6,
            spread(&mut ratios[index]),
        );
        println!("{}", line.trim_end());
    }
    println!(
        "(*) its peer: std's connect with the same argument (std-text: a text), tokio's for async"
    );
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
        let mut time = |connect: &mut dyn FnMut()| {
            let start = Instant::now();
            connect();
            samples.push(start.elapsed());
        };
        match contender {
            Contender::Std => {
                for _ in 0..BATCH {
                    time(&mut || drop(TcpStream::connect(addr).expect("connect")));
                }
            }
            Contender::StdText => {
                for _ in 0..BATCH {
                    time(&mut || drop(TcpStream::connect(text.as_str()).expect("connect")));
                }
            }
            Contender::StdTimeout => {
                let connect = || TcpStream::connect_timeout(&addr, Duration::from_secs(10));
                for _ in 0..BATCH {
                    time(&mut || drop(connect().expect("connect")));
                }
            }
            Contender::BlockingConnect => {
                for _ in 0..BATCH {
                    time(&mut || drop(refused::blocking::connect(text).expect("connect")));
                }
            }
            Contender::BlockingDialAddrs => {
                for _ in 0..BATCH {
                    time(&mut || {
                        drop(refused::blocking::dial_addrs(dialer, &[addr]).expect("connect"));
                    });
                }
            }
            // What a connect bounded by a timeout cannot do without, in a thread it may block:
            // a non-blocking connect, asked once whether it finished, and the stream made
            // blocking again.
            Contender::BlockingFloor => {
                let peer = SockAddr::from(addr);
                for _ in 0..BATCH {
                    time(&mut || {
                        let socket = connect_non_blocking(&peer);
                        rustix::io::ioctl_fionbio(&socket, false).expect("FIONBIO");
                        drop(TcpStream::from(socket));
                    });
                }
            }
            Contender::AsyncConnect => runtime.block_on(async {
                for _ in 0..BATCH {
                    let start = Instant::now();
                    drop(refused::connect(text).await.expect("connect"));
                    samples.push(start.elapsed());
                    between_connects().await;
                }
            }),
            Contender::AsyncDialAddrs => runtime.block_on(async {
                for _ in 0..BATCH {
                    let start = Instant::now();
                    drop(dialer.dial_addrs(&[addr]).await.expect("connect"));
                    samples.push(start.elapsed());
                    between_connects().await;
                }
            }),
            Contender::TokioConnect => runtime.block_on(async {
                for _ in 0..BATCH {
                    let start = Instant::now();
                    drop(tokio::net::TcpStream::connect(addr).await.expect("connect"));
                    samples.push(start.elapsed());
                    between_connects().await;
                }
            }),
            // Left blocking (tokio asks for a non-blocking socket): the stream is only dropped,
            // and making it non-blocking would be one call more than the floor.
            Contender::TokioFloor => runtime.block_on(async {
                for _ in 0..BATCH {
                    let start = Instant::now();
                    let stream = TcpStream::connect(addr).expect("connect");
                    drop(tokio::net::TcpStream::from_std(stream).expect("register"));
                    samples.push(start.elapsed());
                    between_connects().await;
                }
            }),
            // What an async connect cannot do without: a non-blocking connect, asked once
            // whether it finished (a second `connect()`), and the registration.
            Contender::NonBlockingFloor => runtime.block_on(async {
                let peer = SockAddr::from(addr);
                for _ in 0..BATCH {
                    let start = Instant::now();
                    let stream = TcpStream::from(connect_non_blocking(&peer));
                    drop(tokio::net::TcpStream::from_std(stream).expect("register"));
                    samples.push(start.elapsed());
                    between_connects().await;
                }
            }),
        }
        median(&mut samples)
    }
}

/// A non-blocking connect to a loopback listener, asked once (by connecting again) whether it
/// finished, as `refused` asks: on loopback it always has.
fn connect_non_blocking(peer: &SockAddr) -> Socket {
    let socket = Socket::new(Domain::IPV4, Type::STREAM.nonblocking(), None).expect("socket");
    let in_progress = socket.connect(peer).expect_err("in progress");
    assert_eq!(in_progress.raw_os_error(), Some(libc::EINPROGRESS));
    socket.connect(peer).expect("connected");
    socket
}

/// What an async program does between connects, untimed: it yields, and the runtime turns its
/// reactor, which frees the registrations of the streams dropped since. A batch that never
/// yields would pile up every dropped registration, growing the cost of each connect.
async fn between_connects() {
    tokio::task::yield_now().await;
}

/// The median of the repeats' ratios, with the lowest and highest.
fn spread(ratios: &mut [f64]) -> String {
    let middle = median_f64(ratios);
    format!(
        "{middle:.3}× ({:.3}-{:.3})",
        ratios[0],
        ratios[ratios.len() - 1]
    )
}

fn median_f64(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

/// The kernel's ephemeral port range, connects' local ports.
fn ephemeral_range() -> Option<(u16, u16)> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut parts = text.split_whitespace().map(str::parse);
    Some((parts.next()?.ok()?, parts.next()?.ok()?))
}

/// A listener that accepts for the whole run, so its queue never fills, and leaves no
/// `TIME_WAIT` behind: a run makes more connects than there are ephemeral ports, and with
/// thousands of sockets in `TIME_WAIT` every connect pays for a long search of the port range
/// (the same for every contender, which would flatten the ratios), and a port reused while the
/// server's side still waits on it costs a lost SYN and a second's retransmission. So the
/// listener's sockets close with a reset (`SO_LINGER` 0, inherited by the accepted ones), and
/// only after the client has closed its side: the last `HELD` are kept, far longer than a
/// contender keeps its stream, so the reset never races a connect still being checked.
///
/// Its port is outside the ephemeral range (the first free one below it), unless `ephemeral`.
fn listener(ephemeral: bool) -> SocketAddr {
    const HELD: usize = 64;
    // Far more than std's 128: on a busy 2-core machine the accepting thread can fall hundreds
    // of connects behind, and a full queue drops the SYN (a second's stall). The kernel caps it
    // at `net.core.somaxconn`.
    const QUEUE: i32 = 4096;
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    socket.set_linger(Some(Duration::ZERO)).expect("SO_LINGER");
    let below = ephemeral_range().map_or(0, |(low, _)| low);
    let ports = (1024..below).rev().take(if ephemeral { 0 } else { 1000 });
    let bound = ports.chain([0]).any(|port| {
        socket
            .bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)).into())
            .is_ok()
    });
    assert!(bound, "bind loopback");
    socket.listen(QUEUE).expect("listen");
    let listener = TcpListener::from(socket);
    let addr = listener.local_addr().expect("local addr");
    std::thread::spawn(move || {
        let mut held = VecDeque::with_capacity(HELD + 1);
        for stream in listener.incoming() {
            held.push_back(stream);
            if held.len() > HELD {
                drop(held.pop_front());
            }
        }
    });
    addr
}
