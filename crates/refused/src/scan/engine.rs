//! The scan's workers: one thread per core, each with its own probes in flight and its own epoll.
//!
//! A probe is a non-blocking `connect()` checked once at once: on loopback the handshake (or the
//! reset) has already happened when the call returns, so the probe ends without touching epoll,
//! and a worker runs as fast as a blocking loop would. Probes that take a round trip are
//! registered with mio and waited for, up to the worker's share of the concurrency, each until
//! its host's timeout (shared by the workers, `timing`) says it is late.

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};
use rand::seq::SliceRandom;
use socket2::{Domain, Protocol, SockRef, Socket, Type};

use crate::connect::eyeballs::{finished, is_connected_to_itself};
use crate::sys::host::is_local_address;

use super::timing::{Deadlines, Sample, Timing};
use super::{
    Echo, HostReport, PortReport, PortSet, Progress, Reason, ScanError, ScanOptions, ScanReport,
    raise_open_file_limit,
};

/// Probes a worker takes from the shared list at a time.
const CHUNK: usize = 64;
/// Results a worker counts before telling the progress counter.
const PROGRESS_BATCH: u64 = 256;
/// Tries of a probe that failed for want of a local port (`EADDRNOTAVAIL`) before giving up.
const MAX_LOCAL_TRIES: u8 = 20;
/// Retries of a silent port in the second pass, once loss has been seen.
const LOSS_RETRIES: u8 = 3;
/// Round trips a worker measures before handing them to the shared estimate (a lock each time).
const SAMPLE_BATCH: usize = 64;
/// The longest a worker sleeps or waits on epoll before looking whether it was cancelled.
const CANCEL_CHECK: Duration = Duration::from_millis(50);

/// The probes, shared by the workers: index `i` is port `i % ports` of host `i / ports`.
struct Work<'a> {
    hosts: &'a [IpAddr],
    ports: &'a [u16],
    /// The probes of this pass, in the order to send them (all, shuffled; or a second pass's
    /// silent ones); `None`: all, in order.
    order: Option<Vec<usize>>,
    next: AtomicUsize,
    progress: &'a Progress,
    on_port: &'a (dyn Fn(IpAddr, PortReport) + Sync),
}

impl Work<'_> {
    fn total(&self) -> usize {
        self.hosts.len() * self.ports.len()
    }

    /// Probes in this pass.
    fn len(&self) -> usize {
        self.order.as_ref().map_or_else(|| self.total(), Vec::len)
    }

    /// The probe at a position of this pass.
    fn index(&self, position: usize) -> usize {
        self.order
            .as_ref()
            .map_or(position, |order| order[position])
    }

    /// The host (its index in `hosts`) of a probe.
    fn host(&self, index: usize) -> usize {
        index / self.ports.len()
    }

    fn addr(&self, index: usize) -> SocketAddr {
        let ports = self.ports.len();
        SocketAddr::new(self.hosts[index / ports], self.ports[index % ports])
    }

    fn take(&self) -> Option<Range<usize>> {
        let start = self.next.fetch_add(CHUNK, Ordering::Relaxed);
        let len = self.len();
        (start < len).then(|| start..(start + CHUNK).min(len))
    }
}

pub fn run(
    hosts: &[IpAddr],
    ports: &PortSet,
    options: &ScanOptions,
    progress: &Progress,
    on_port: &(dyn Fn(IpAddr, PortReport) + Sync),
) -> Result<ScanReport, ScanError> {
    let started = Instant::now();
    let total = hosts.len() * ports.len();
    // In random order, as nmap does: answers from closed ports come early and set the timeout
    // for everything else, even when a long run of filtered ports comes first in port order.
    // On this host every answer is there at once, and port order is kinder to the kernel's
    // port tables.
    let remote: Vec<usize> = (0..hosts.len())
        .filter(|h| !is_local_address(hosts[*h]))
        .collect();
    let order = (!remote.is_empty()).then(|| {
        let mut order: Vec<usize> = (0..total).collect();
        order.shuffle(&mut rand::rng());
        order
    });
    let mut work = Work {
        hosts,
        ports: ports.as_slice(),
        order,
        next: AtomicUsize::new(0),
        progress,
        on_port,
    };
    progress.total.store(total as u64, Ordering::Relaxed);
    let budget = raise_open_file_limit().budget();
    let concurrency = options.concurrency.unwrap_or(budget).clamp(1, budget);

    let mut reasons: Vec<Option<Reason>> = vec![None; total];
    let mut stats = Stats::default();
    // One estimate per host for the whole scan: a second pass starts from what the first learned.
    let timing = Timing::new(hosts.len(), options.min_timeout, options.timeout);
    let stop = AtomicBool::new(false);
    let loss_seen = std::thread::scope(|scope| {
        if options.echo == Echo::Seed && !remote.is_empty() {
            // Beside the workers, not before them: the first probes go out at once, and their
            // deadlines move when the replies come in.
            scope.spawn(|| super::echo::seed(hosts, &remote, &timing, options.timeout, &stop));
        }
        let loss_seen = pass(
            &work,
            options,
            &timing,
            concurrency,
            &mut reasons,
            &mut stats,
        );
        stop.store(true, Ordering::Relaxed);
        loss_seen
    })?;

    // Some answers came only on a retry: packets are being lost, so a port without an answer may
    // be an open port whose SYN-ACK was lost twice. Ask those ports again, harder.
    let silent: Vec<usize> = (0..total)
        .filter(|i| reasons[*i].is_none_or(|r| r == Reason::NoResponse))
        .collect();
    if loss_seen && !silent.is_empty() && !progress.is_cancelled() {
        progress
            .total
            .fetch_add(silent.len() as u64, Ordering::Relaxed);
        work.order = Some(silent);
        work.next = AtomicUsize::new(0);
        let harder = ScanOptions {
            retries: LOSS_RETRIES,
            ..options.clone()
        };
        pass(
            &work,
            &harder,
            &timing,
            concurrency,
            &mut reasons,
            &mut stats,
        )?;
    }

    // A cancelled scan leaves ports it never finished: they are left out, not called filtered.
    let interrupted = progress.is_cancelled();
    let ports = ports.as_slice();
    let hosts = hosts
        .iter()
        .enumerate()
        .map(|(h, address)| HostReport {
            address: *address,
            ports: ports
                .iter()
                .enumerate()
                .filter_map(|(p, port)| {
                    let reason = match reasons[h * ports.len() + p] {
                        Some(reason) => reason,
                        None if interrupted => return None,
                        None => Reason::NoResponse,
                    };
                    let report = PortReport {
                        port: *port,
                        state: reason.state(),
                        reason,
                    };
                    // Silent ports were held back until no further pass could change them.
                    if reason == Reason::NoResponse {
                        on_port(*address, report);
                    }
                    Some(report)
                })
                .collect(),
        })
        .collect();
    Ok(ScanReport {
        hosts,
        elapsed: started.elapsed(),
        connects: stats.connects,
        self_connects: stats.self_connects,
        max_in_flight: stats.max_in_flight,
        interrupted,
    })
}

#[derive(Default)]
struct Stats {
    connects: u64,
    self_connects: u64,
    max_in_flight: usize,
}

/// One pass of workers over the work list; returns whether a probe answered only on a retry.
fn pass(
    work: &Work<'_>,
    options: &ScanOptions,
    timing: &Timing,
    concurrency: usize,
    reasons: &mut [Option<Reason>],
    stats: &mut Stats,
) -> Result<bool, ScanError> {
    let workers = options
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .clamp(1, concurrency)
        .min(work.len().div_ceil(CHUNK));
    let per_worker = (concurrency / workers).max(1);
    let interval = options
        .rate
        .filter(|r| *r > 0)
        .map(|rate| Duration::from_secs_f64(workers as f64 / f64::from(rate)));

    let outcomes: Vec<io::Result<Worker<'_>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(move || {
                    let mut worker =
                        Worker::new(options, timing, work.hosts.len(), per_worker, interval)?;
                    worker.run(work)?;
                    Ok(worker)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(io::Error::other("a scan worker panicked")))
            })
            .collect()
    });
    let mut loss_seen = false;
    let mut in_flight = 0;
    for worker in outcomes {
        let worker = worker?;
        for (index, reason) in worker.results {
            reasons[index] = Some(reason);
        }
        stats.connects += worker.connects;
        stats.self_connects += worker.self_connects;
        in_flight += worker.max_in_flight;
        loss_seen |= worker.loss_seen;
    }
    stats.max_in_flight = stats.max_in_flight.max(in_flight);
    Ok(loss_seen)
}

#[derive(Debug, Clone, Copy)]
struct Probe {
    index: usize,
    /// Sends without an answer so far.
    silent: u8,
    /// Starts that failed for want of a local port.
    local: u8,
}

struct Flight {
    probe: Probe,
    stream: mio::net::TcpStream,
    started: Instant,
    generation: u32,
}

struct Worker<'a> {
    poll: Poll,
    events: Events,
    slots: Vec<Option<Flight>>,
    free: Vec<usize>,
    generation: u32,
    /// The timeouts, shared with the other workers.
    timing: &'a Timing,
    /// The probes in flight, by host, oldest first.
    deadlines: Deadlines,
    /// The earliest deadline of a probe in flight, as the timeouts were when last looked at.
    next_deadline: Option<Instant>,
    /// Probes `deadlines` found late, to finish.
    expired: Vec<(usize, u32)>,
    /// Round trips not yet handed to `timing`.
    samples: Vec<Sample>,
    retry: VecDeque<Probe>,
    chunk: Range<usize>,
    in_flight: usize,
    cap: usize,
    interval: Option<Duration>,
    next_start: Instant,
    retries: u8,
    unreported: u64,
    results: Vec<(usize, Reason)>,
    connects: u64,
    self_connects: u64,
    max_in_flight: usize,
    /// A probe answered after a silent try: packets are being lost.
    loss_seen: bool,
}

enum Step {
    Done(Reason),
    /// No answer: try again, or call it filtered.
    Silent,
    /// No local port (or descriptor) was free: start it again.
    Again,
    /// The kernel connected the socket to itself (local port = target port, on this host): this
    /// says nothing of the port. Start it again: the next connect gets another local port.
    SelfConnect,
    Pending(mio::net::TcpStream),
}

impl<'a> Worker<'a> {
    fn new(
        options: &ScanOptions,
        timing: &'a Timing,
        hosts: usize,
        cap: usize,
        interval: Option<Duration>,
    ) -> io::Result<Self> {
        Ok(Self {
            poll: Poll::new()?,
            events: Events::with_capacity(1024),
            slots: Vec::new(),
            free: Vec::new(),
            generation: 0,
            timing,
            deadlines: Deadlines::new(hosts),
            next_deadline: None,
            expired: Vec::new(),
            samples: Vec::new(),
            retry: VecDeque::new(),
            chunk: 0..0,
            in_flight: 0,
            cap,
            interval,
            next_start: Instant::now(),
            retries: options.retries,
            unreported: 0,
            results: Vec::new(),
            connects: 0,
            self_connects: 0,
            max_in_flight: 0,
            loss_seen: false,
        })
    }

    fn run(&mut self, work: &Work<'_>) -> io::Result<()> {
        loop {
            if work.progress.is_cancelled() {
                // Probes in flight close with their sockets; their ports stay unknown.
                break;
            }
            self.fill(work);
            if self.in_flight == 0 {
                if self.retry.is_empty() && self.chunk.is_empty() && !self.refill(work) {
                    break;
                }
                // Only the rate holds probes back: wait for the next start.
                if let Some(wait) = self.next_start.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait.min(CANCEL_CHECK));
                }
                continue;
            }
            let now = Instant::now();
            // Another worker's answers may shorten the timeouts meanwhile: looked at again
            // within `CANCEL_CHECK` at the latest.
            let mut wait = self
                .next_deadline
                .map_or(CANCEL_CHECK, |at| at.saturating_duration_since(now));
            if self.interval.is_some() && self.has_work() {
                wait = wait.min(self.next_start.saturating_duration_since(now));
            }
            match self
                .poll
                .poll(&mut self.events, Some(wait.min(CANCEL_CHECK)))
            {
                Ok(()) => {}
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
            let ready: Vec<usize> = self.events.iter().map(|e| e.token().0).collect();
            for slot in ready {
                self.answer(work, slot);
            }
            self.flush();
            self.expire(work);
        }
        self.flush();
        work.progress
            .done
            .fetch_add(self.unreported, Ordering::Relaxed);
        Ok(())
    }

    fn has_work(&self) -> bool {
        !self.retry.is_empty() || !self.chunk.is_empty()
    }

    fn refill(&mut self, work: &Work<'_>) -> bool {
        if work.progress.is_cancelled() {
            return false;
        }
        match work.take() {
            Some(chunk) => {
                self.chunk = chunk;
                true
            }
            None => false,
        }
    }

    /// Starts probes while there is room (and the rate allows).
    fn fill(&mut self, work: &Work<'_>) {
        while self.in_flight < self.cap {
            if let Some(interval) = self.interval {
                let now = Instant::now();
                if now < self.next_start {
                    return;
                }
                // Unused time does not pile up into a burst: at most one interval of credit.
                let earliest = now.checked_sub(interval).unwrap_or(now);
                self.next_start = self.next_start.max(earliest) + interval;
            }
            let probe = if let Some(probe) = self.retry.pop_front() {
                probe
            } else {
                if self.chunk.is_empty() && !self.refill(work) {
                    return;
                }
                let index = work.index(self.chunk.start);
                self.chunk.start += 1;
                Probe {
                    index,
                    silent: 0,
                    local: 0,
                }
            };
            let started = Instant::now();
            let step = self.start(work.addr(probe.index));
            self.step(work, probe, started, step);
        }
    }

    fn step(&mut self, work: &Work<'_>, mut probe: Probe, started: Instant, step: Step) {
        match step {
            Step::Done(reason) => {
                if matches!(reason, Reason::SynAck | Reason::ConnRefused) {
                    self.samples
                        .push((work.host(probe.index), started.elapsed()));
                    if self.samples.len() >= SAMPLE_BATCH {
                        self.flush();
                    }
                    self.loss_seen |= probe.silent > 0;
                }
                self.record(work, probe.index, reason);
            }
            Step::Silent => {
                if probe.silent < self.retries {
                    probe.silent += 1;
                    self.retry.push_back(probe);
                } else {
                    self.record(work, probe.index, Reason::NoResponse);
                }
            }
            Step::SelfConnect => {
                self.self_connects += 1;
                probe.local += 1;
                if probe.local > MAX_LOCAL_TRIES {
                    // Only a port nobody listens on can be taken as a local port: closed.
                    self.record(work, probe.index, Reason::ConnRefused);
                } else {
                    self.retry.push_front(probe);
                }
            }
            Step::Again => {
                probe.local += 1;
                if probe.local > MAX_LOCAL_TRIES {
                    self.record(work, probe.index, Reason::NoResponse);
                } else {
                    if probe.local > 2 {
                        // Out of local ports: let some close before trying again.
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    self.retry.push_back(probe);
                }
            }
            Step::Pending(mut stream) => {
                let slot = self.free.pop().unwrap_or_else(|| {
                    self.slots.push(None);
                    self.slots.len() - 1
                });
                if self
                    .poll
                    .registry()
                    .register(&mut stream, Token(slot), Interest::WRITABLE)
                    .is_err()
                {
                    self.free.push(slot);
                    self.retry.push_back(probe);
                    return;
                }
                self.generation = self.generation.wrapping_add(1);
                let host = work.host(probe.index);
                self.deadlines.push(host, started, (slot, self.generation));
                let deadline = started + self.timing.timeout(host);
                self.next_deadline = Some(self.next_deadline.map_or(deadline, |d| d.min(deadline)));
                self.slots[slot] = Some(Flight {
                    probe,
                    stream,
                    started,
                    generation: self.generation,
                });
                self.in_flight += 1;
                self.max_in_flight = self.max_in_flight.max(self.in_flight);
            }
        }
    }

    fn record(&mut self, work: &Work<'_>, index: usize, reason: Reason) {
        self.results.push((index, reason));
        self.unreported += 1;
        if self.unreported >= PROGRESS_BATCH {
            work.progress
                .done
                .fetch_add(self.unreported, Ordering::Relaxed);
            self.unreported = 0;
        }
        // A silent port may still answer in a later pass: it is told at the end.
        if reason == Reason::NoResponse {
            return;
        }
        let addr = work.addr(index);
        (work.on_port)(
            addr.ip(),
            PortReport {
                port: addr.port(),
                state: reason.state(),
                reason,
            },
        );
    }

    /// One connect, checked once before any waiting.
    fn start(&mut self, addr: SocketAddr) -> Step {
        let socket = match Socket::new(
            Domain::for_address(addr),
            Type::STREAM.nonblocking(),
            Some(Protocol::TCP),
        ) {
            Ok(socket) => socket,
            Err(err) => {
                // Out of descriptors (another thread, a lower limit than measured): hold fewer.
                if matches!(err.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) {
                    self.cap = self.in_flight.max(1);
                }
                return Step::Again;
            }
        };
        self.connects += 1;
        match socket.connect(&addr.into()) {
            Ok(()) => return connected(&SockRef::from(&socket), addr.port()),
            Err(err) if err.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(err) => return failed(&err),
        }
        match finished(&SockRef::from(&socket)) {
            Some(Ok(())) => connected(&SockRef::from(&socket), addr.port()),
            Some(Err(err)) => failed(&err),
            None => Step::Pending(mio::net::TcpStream::from_std(std::net::TcpStream::from(
                socket,
            ))),
        }
    }

    fn answer(&mut self, work: &Work<'_>, slot: usize) {
        let Some(flight) = self.slots.get(slot).and_then(Option::as_ref) else {
            return;
        };
        let step = match finished(&SockRef::from(&flight.stream)) {
            None => return,
            Some(Ok(())) => connected(
                &SockRef::from(&flight.stream),
                work.addr(flight.probe.index).port(),
            ),
            Some(Err(err)) => failed(&err),
        };
        if let Some(flight) = self.take(slot) {
            self.finish(work, flight, step);
        }
    }

    fn finish(&mut self, work: &Work<'_>, flight: Flight, step: Step) {
        let Flight {
            probe,
            stream,
            started,
            ..
        } = flight;
        // Closing the socket also takes it out of epoll.
        drop(stream);
        self.step(work, probe, started, step);
    }

    fn take(&mut self, slot: usize) -> Option<Flight> {
        let flight = self.slots.get_mut(slot)?.take()?;
        self.free.push(slot);
        self.in_flight -= 1;
        Some(flight)
    }

    /// Hands the round trips measured so far to the shared estimate.
    fn flush(&mut self) {
        self.timing.record(&self.samples);
        self.samples.clear();
    }

    /// Probes whose time is up get no answer.
    fn expire(&mut self, work: &Work<'_>) {
        let slots = &self.slots;
        self.next_deadline = self.deadlines.expire(
            Instant::now(),
            self.timing,
            |(slot, generation)| {
                slots[slot]
                    .as_ref()
                    .is_some_and(|f| f.generation == generation)
            },
            &mut self.expired,
        );
        let mut expired = std::mem::take(&mut self.expired);
        for (slot, _) in expired.drain(..) {
            if let Some(flight) = self.take(slot) {
                self.finish(work, flight, Step::Silent);
            }
        }
        self.expired = expired;
    }
}

/// A completed handshake: open, unless the kernel connected the socket to itself.
fn connected(socket: &SockRef<'_>, port: u16) -> Step {
    // Close with a reset: no TIME_WAIT left behind per open port.
    let _ = socket.set_linger(Some(Duration::ZERO));
    if is_connected_to_itself(socket, port) {
        return Step::SelfConnect;
    }
    Step::Done(Reason::SynAck)
}

/// What a connect's error says of the port.
fn failed(err: &io::Error) -> Step {
    match err.raw_os_error() {
        Some(libc::ECONNREFUSED | libc::ECONNRESET) => Step::Done(Reason::ConnRefused),
        Some(libc::EHOSTUNREACH | libc::EHOSTDOWN) => Step::Done(Reason::HostUnreach),
        Some(libc::ENETUNREACH | libc::ENETDOWN) => Step::Done(Reason::NetUnreach),
        Some(libc::EACCES | libc::EPERM) => Step::Done(Reason::AdminProhibited),
        Some(libc::EADDRNOTAVAIL | libc::EAGAIN) => Step::Again,
        _ => Step::Silent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    /// A socket bound to a port and connected to that same port connects to itself (TCP
    /// simultaneous open): what the kernel sometimes does to a scan of its ephemeral range.
    #[test]
    fn a_socket_connected_to_itself_is_not_an_open_port() {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
        socket
            .bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
            .unwrap();
        let own = socket.local_addr().unwrap();
        socket.connect(&own).unwrap();
        let port = own.as_socket().unwrap().port();
        assert!(matches!(
            connected(&SockRef::from(&socket), port),
            Step::SelfConnect
        ));

        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let stream = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(matches!(
            connected(&SockRef::from(&stream), port),
            Step::Done(Reason::SynAck)
        ));
    }

    #[test]
    fn errors_map_to_nmaps_reasons() {
        let reason = |errno| match failed(&io::Error::from_raw_os_error(errno)) {
            Step::Done(reason) => Some(reason),
            _ => None,
        };
        assert_eq!(reason(libc::ECONNREFUSED), Some(Reason::ConnRefused));
        assert_eq!(reason(libc::EHOSTUNREACH), Some(Reason::HostUnreach));
        assert_eq!(reason(libc::ENETUNREACH), Some(Reason::NetUnreach));
        assert_eq!(reason(libc::EACCES), Some(Reason::AdminProhibited));
        assert_eq!(reason(libc::EADDRNOTAVAIL), None);
        assert_eq!(reason(libc::ETIMEDOUT), None);
    }
}
