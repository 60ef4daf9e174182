//! Polls that cost next to nothing: between real probes of a target of this host that failed
//! to connect, ask the kernel whether a connect could succeed now, and probe only when it could.
//!
//! A refused connect on loopback is cheap in the kernel (about 7 µs), but a probe is not: name
//! resolution, the dialer's bookkeeping, a socket made and dropped, timers set and cancelled,
//! the caller woken. Under load, where every wakeup finds cold caches, that cost 0.5-0.8% of a
//! core at 40 polls a second; a gated poll is one wakeup and one netlink round trip.
//! - TCP: the addresses the last probe tried are this host's, so the kernel can say whether a
//!   SYN to them would find a listener, with the lookup it does for a real SYN
//!   ([`ListenerLookup`]: one netlink round trip on a socket kept open, about 5 µs). No
//!   listener: the poll ends there, with nothing recorded. Once the pauses reach their cap,
//!   those polls run in a thread of their own up to the next real probe
//!   ([`Gate::polls_in_thread`]), where a wakeup touches far less than the runtime's; where
//!   the kernel can tell of new listeners ([`ListenEvents`]: root), that thread does not poll
//!   at all, but sleeps until a socket of the host starts to listen or the real probe is due.
//! - Unix socket: missing, or a stale file no socket is bound to, the path cannot start to
//!   work without a change to its directory (a server binds a new file), so the wait sleeps on
//!   inotify ([`EntryWatch`]) instead of polling: no wakeup at all until the directory changes.
//!
//! Neither is proof: a port of this host can be served with no listener of its own (a DNAT rule,
//! as Docker publishes ports with its userland proxy off; a listener in another namespace reached
//! through NAT; a listener bound to a VRF the lookup through `lo` does not enter); a unix socket
//! path can sit on a file system whose changes inotify does not see (NFS, another machine's side
//! of it), or a server of another network namespace sharing the directory can be bound to a file
//! that looks stale from here and `listen()` later. So a real probe is
//! made at least every [`REAL_PROBE_EVERY`] whatever the kernel says: such a target is noticed
//! within a second instead of one pause. Waiting for `down` is never gated: a connect that would
//! fail is what it waits for, and only a real one proves it.

use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::Goal;
use crate::connect::Address;
use crate::outcome::Outcome;
use crate::probe::ProbeReport;
use crate::sys::entry_watch::EntryWatch;
use crate::sys::host::is_local_address;
use crate::sys::listen_events::ListenEvents;
use crate::sys::sock_diag::ListenerLookup;
use crate::sys::unix_diag::{FileId, is_file_bound};
use crate::target::{Endpoint, Target};

/// The longest a gated target goes without a real probe: what a target the kernel cannot see
/// (served through NAT) waits at worst, and one refused connect a second costs nothing.
pub const REAL_PROBE_EVERY: Duration = Duration::from_secs(1);

/// The most targets of this process whose gated polls run in threads at once; the others poll
/// on the runtime (a wait on many targets would otherwise hold as many threads).
const POLL_THREADS: usize = 8;

/// The threads polling now.
static POLLING: AtomicUsize = AtomicUsize::new(0);

/// After the kernel told of a listen that the lookup did not find, how many lookups more, and
/// how far apart, the first: the tracepoint fires as the socket's state becomes `LISTEN`, a
/// moment before the socket is hashed where a SYN (and the lookup) finds it. Each waits four
/// times the one before (1, 4, 16 ms), so a listener slow to get there (its thread preempted, a
/// stalled virtual CPU) is still found within about 20 ms, not at the real probe.
const RECHECKS: u32 = 3;
const RECHECK_AFTER: Duration = Duration::from_millis(1);

/// What a poll should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Hold {
    /// Probe for real.
    Probe,
    /// Nothing can have changed: skip this poll.
    Quiet,
}

/// What one target's wait knows, between probes, to skip them.
#[derive(Debug)]
pub(super) struct Gate {
    kind: Kind,
    /// When the last real probe started.
    last_probe: Option<Instant>,
}

#[derive(Debug)]
enum Kind {
    /// Every poll probes: `--down`, or the kernel could not be asked.
    Off,
    Tcp {
        /// Opened at the first gated poll, kept for the whole wait.
        lookup: Option<ListenerLookup>,
        /// The addresses the last probe tried, when it failed to connect and all are this
        /// host's; empty: not gated.
        local: Vec<SocketAddr>,
        /// The kernel's word of each new listener, for the polls in a thread.
        events: Events,
    },
    Unix {
        path: PathBuf,
        /// Set while the path is missing or stale: the watch of the entry that must change.
        watch: Option<EntryWatch>,
        /// The stale file last found with no socket bound to it: it stays so (a socket can
        /// only bind by making a new file), so the next real probe need not list every unix
        /// socket again.
        stale: Option<StaleFile>,
    },
}

impl Gate {
    /// A gate for `target`, closed until a real probe says what to wait for. With
    /// `listen_events`, its polls in a thread sleep until the kernel tells of a new listener
    /// where it can ([`ListenEvents`]).
    pub(super) fn new(target: &Target, goal: Goal, listen_events: bool) -> Self {
        let kind = match (goal, target.endpoint()) {
            (Goal::Down, _) => Kind::Off,
            (Goal::Ready, Endpoint::Tcp { .. }) => Kind::Tcp {
                lookup: None,
                local: Vec::new(),
                events: if listen_events {
                    Events::Untried
                } else {
                    Events::Off
                },
            },
            (Goal::Ready, Endpoint::Unix(path)) => Kind::Unix {
                path: path.clone(),
                watch: None,
                stale: None,
            },
        };
        Self {
            kind,
            last_probe: None,
        }
    }

    /// Whether the poll due now should probe. For a unix socket path that is gated, waits
    /// first (no wakeup) until its directory changes, the real probe is due, or `deadline`.
    pub(super) async fn hold(&mut self, deadline: Option<Instant>) -> Hold {
        let Some(last) = self.last_probe else {
            return Hold::Probe;
        };
        let due = last + REAL_PROBE_EVERY;
        if Instant::now() >= due {
            return Hold::Probe;
        }
        match &mut self.kind {
            Kind::Off => Hold::Probe,
            Kind::Tcp { lookup, local, .. } => {
                if local.is_empty() {
                    return Hold::Probe;
                }
                let Some(lookup) = lookup else {
                    return Hold::Probe;
                };
                for addr in local.iter() {
                    match lookup.is_taken(*addr) {
                        Ok(false) => {}
                        Ok(true) => return Hold::Probe,
                        Err(_) => {
                            // Not allowed here (a seccomp filter, an old kernel): connect.
                            self.kind = Kind::Off;
                            return Hold::Probe;
                        }
                    }
                }
                Hold::Quiet
            }
            Kind::Unix { watch, .. } => {
                let Some(entry) = watch else {
                    return Hold::Probe;
                };
                let until = deadline.map_or(due, |d| d.min(due));
                tokio::select! {
                    changed = entry.changed() => {
                        if changed.is_err() {
                            self.kind = Kind::Off;
                        }
                    }
                    () = tokio::time::sleep_until(until) => {}
                }
                Hold::Probe
            }
        }
    }

    /// The polls of a gated TCP target from now to its next real probe, every `period`, made in
    /// a thread of the runtime's blocking pool: there a poll wakes a small loop (a sleep, the
    /// netlink question), where on the runtime it wakes the runtime's drivers and polls the
    /// wait's futures, whose larger footprint meets cold caches at every wakeup (measured
    /// interleaved, 40 polls a second cost a median 0.20% of a core so against 0.26%). The
    /// runtime sleeps meanwhile, woken once a second for the real probe.
    ///
    /// Returns the polls skipped, once a probe is due (a listener appeared, the real probe's
    /// time came, or the kernel could not be asked) or `deadline` came; `None`, having done
    /// nothing, when this gate does not poll so (its polls are real probes, or wait on
    /// inotify) or [`POLL_THREADS`] threads poll already.
    pub(super) async fn polls_in_thread(
        &mut self,
        period: Duration,
        deadline: Option<Instant>,
    ) -> Option<u32> {
        let last = self.last_probe?;
        let Kind::Tcp {
            lookup,
            local,
            events,
        } = &mut self.kind
        else {
            return None;
        };
        if local.is_empty() {
            return None;
        }
        // The lookup is there whenever `local` is set (`probed` opens it first).
        let slot = PollThread::take()?;
        let mut asked = lookup.take()?;
        let times = Times {
            period,
            due: (last + REAL_PROBE_EVERY).into_std(),
            deadline: deadline.map(Instant::into_std),
        };
        let addrs = local.clone();
        let mut listening = std::mem::replace(events, Events::Off);
        // The loop stops once this future is dropped (the wait ended): woken at once where it
        // sleeps on the kernel's events, at its next poll otherwise.
        let slot = slot.waking(!matches!(listening, Events::Off));
        let stop = Arc::clone(&slot.stop);
        let polled = tokio::task::spawn_blocking(move || {
            let polled = quiet_polls(&mut asked, &addrs, times, &stop, listening.open());
            (asked, listening, polled)
        })
        .await;
        drop(slot);
        match polled {
            Ok((asked, listening, (skipped, Ok(_)))) => {
                *lookup = Some(asked);
                *events = listening;
                Some(skipped)
            }
            // Not allowed here (a seccomp filter, an old kernel), or the thread failed:
            // connect.
            Ok((_, _, (skipped, Err(_)))) => {
                self.kind = Kind::Off;
                Some(skipped)
            }
            Err(_) => {
                self.kind = Kind::Off;
                Some(0)
            }
        }
    }

    /// Takes in a real probe that started at `started`: whether the next polls may be gated.
    pub(super) fn probed(&mut self, report: &ProbeReport, started: Instant) {
        self.last_probe = Some(started);
        let failed = report.readiness.is_connect_failure();
        match &mut self.kind {
            Kind::Off => {}
            Kind::Tcp { lookup, local, .. } => {
                let tried: Vec<SocketAddr> = report
                    .attempts
                    .iter()
                    .filter_map(|attempt| match &attempt.address {
                        Address::Inet(addr) => Some(*addr),
                        Address::Unix(_) => None,
                    })
                    .collect();
                // A resolver failure tried nothing: no address to ask about. A link-local IPv6
                // address belongs to one interface, and its listeners are bound to it: the
                // lookup through `lo` would not see them.
                let gated =
                    failed && !tried.is_empty() && (tried == *local || tried.iter().all(|a| {
                        is_local_address(a.ip())
                            && !matches!(a, SocketAddr::V6(v6) if v6.ip().is_unicast_link_local())
                    }));
                if !gated {
                    local.clear();
                    return;
                }
                if lookup.is_none() {
                    let Ok(opened) = ListenerLookup::new() else {
                        self.kind = Kind::Off;
                        return;
                    };
                    *lookup = Some(opened);
                }
                *local = tried;
            }
            Kind::Unix { path, watch, stale } => {
                *watch = None;
                let Some(attempt) = report.attempts.first().filter(|_| failed) else {
                    return;
                };
                let state = match (attempt.outcome, attempt.errno) {
                    (_, Some(libc::ENOENT | libc::ENOTDIR)) => Entry::Missing,
                    (Outcome::Refused, _) => Entry::Stale,
                    // Denied, a full queue, a datagram socket...: probe as usual.
                    _ => return,
                };
                // Watch first, then look: a change after the look is an event, one before it
                // is seen by the look.
                let Ok(entry) = EntryWatch::nearest(path) else {
                    return;
                };
                if state.is_still(path, stale) {
                    *watch = Some(entry);
                }
            }
        }
    }
}

/// Whether the kernel tells of new listeners ([`ListenEvents`]) to a gate's polls in a thread.
#[derive(Debug)]
enum Events {
    /// Not asked yet: the program is loaded at the first polls in a thread, there.
    Untried,
    /// The program, and the process's one slot for it (dropped after it: detached, then given
    /// back).
    Open {
        events: ListenEvents,
        _slot: ProgramSlot,
    },
    /// Not wanted, not to be had here (no root, an old kernel, a seccomp filter), or another
    /// target of this process has the program: poll.
    Off,
}

impl Events {
    /// The events, loading the program the first time.
    fn open(&mut self) -> Option<&mut ListenEvents> {
        if matches!(self, Self::Untried) {
            *self = ProgramSlot::take(&ATTACHED)
                .and_then(|slot| {
                    Some(Self::Open {
                        events: ListenEvents::open().ok()?,
                        _slot: slot,
                    })
                })
                .unwrap_or(Self::Off);
        }
        match self {
            Self::Open { events, .. } => Some(events),
            Self::Untried | Self::Off => None,
        }
    }
}

/// Whether a gate of this process has the program attached. One at a time: the program runs at
/// every change of state of every TCP socket of the host (about 34 ns each, ten a connection,
/// measured with `kernel.bpf_stats_enabled`), so each one attached adds to every connection's
/// cost while the wait lasts; the other targets of a wait poll.
static ATTACHED: AtomicBool = AtomicBool::new(false);

/// The one slot of `attached`, held while a program is attached; given back when dropped.
#[derive(Debug)]
struct ProgramSlot(&'static AtomicBool);

impl ProgramSlot {
    fn take(attached: &'static AtomicBool) -> Option<Self> {
        attached
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| Self(attached))
    }
}

impl Drop for ProgramSlot {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// One of the [`POLL_THREADS`] counted by `polling`: given back, and its loop told to stop,
/// when dropped.
struct PollThread {
    stop: Arc<Stop>,
    polling: &'static AtomicUsize,
}

/// Tells a loop of [`quiet_polls`] to stop. A loop that sleeps on the kernel's events sleeps up to
/// the real probe's time, a second, and would hold its program attached, and a runtime's
/// shutdown (which waits for its blocking pool), that long: an `eventfd` written with the flag
/// wakes it.
#[derive(Debug, Default)]
struct Stop {
    flag: AtomicBool,
    /// Written once stopped; `None` where the loop polls (it sees the flag at its next poll) or
    /// none could be made.
    wake: Option<OwnedFd>,
}

impl Stop {
    /// A stop that wakes a loop sleeping on the kernel's events.
    fn waking() -> Self {
        use rustix::event::{EventfdFlags, eventfd};
        Self {
            flag: AtomicBool::new(false),
            wake: eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK).ok(),
        }
    }

    fn set(&self) {
        self.flag.store(true, Ordering::Release);
        if let Some(wake) = &self.wake {
            let _ = rustix::io::write(wake, &1u64.to_ne_bytes());
        }
    }

    fn is_set(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    /// What a sleep on the kernel's events also wakes for.
    fn wake(&self) -> Option<BorrowedFd<'_>> {
        self.wake.as_ref().map(AsFd::as_fd)
    }
}

impl PollThread {
    fn take() -> Option<Self> {
        Self::take_from(&POLLING)
    }

    fn take_from(polling: &'static AtomicUsize) -> Option<Self> {
        polling
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < POLL_THREADS).then_some(n + 1)
            })
            .ok()?;
        Some(Self {
            stop: Arc::default(),
            polling,
        })
    }

    /// With a stop that wakes a loop sleeping on the kernel's events, when it may.
    fn waking(mut self, events: bool) -> Self {
        if events {
            self.stop = Arc::new(Stop::waking());
        }
        self
    }
}

impl Drop for PollThread {
    fn drop(&mut self) {
        self.stop.set();
        self.polling.fetch_sub(1, Ordering::AcqRel);
    }
}

/// When [`quiet_polls`] polls and stops.
#[derive(Debug, Clone, Copy)]
struct Times {
    /// Between polls.
    period: Duration,
    /// From then on the next poll is a real probe's: it ends the loop instead.
    due: std::time::Instant,
    /// The wait's end: the loop ends then, between polls if need be.
    deadline: Option<std::time::Instant>,
}

/// Why [`quiet_polls`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QuietEnd {
    /// A SYN to one of the addresses would find a listener now.
    Taken,
    /// A poll came at or after the real probe's time.
    Due,
    /// The deadline came.
    Deadline,
    /// Told to stop.
    Stopped,
}

/// Asks the kernel every period whether a SYN to any of `addrs` would find a listener, until
/// one would, a poll falls due for a real probe, the deadline, or `stop`: the polls skipped,
/// and why it ended (or the lookup's error). The polls keep the period, as the runtime's would
/// (a period longer than a second makes every poll a real probe's).
///
/// With `events`, it asks only when the kernel tells of a new listener somewhere on this host
/// (and [`RECHECKS`] times more, from [`RECHECK_AFTER`] on, when the lookup did not find it), and
/// otherwise sleeps to the real probe's time or the deadline, after one look first (a listener
/// from before the program has no record); `stop` wakes it there (see [`Stop`]). A ring that
/// fails leaves the periodic polls.
fn quiet_polls(
    lookup: &mut ListenerLookup,
    addrs: &[SocketAddr],
    times: Times,
    stop: &Stop,
    mut events: Option<&mut ListenEvents>,
) -> (u32, std::io::Result<QuietEnd>) {
    let mut skipped = 0;
    let mut next = std::time::Instant::now() + times.period;
    let mut rechecks = 0;
    // A listener that started between the caller's last look and the program's attaching is in
    // no record of the ring (later ones are, between two calls too): look once before sleeping.
    let mut look_first = events.is_some();
    loop {
        let now = std::time::Instant::now();
        let told = match events.as_deref_mut() {
            _ if look_first => {
                look_first = false;
                false
            }
            Some(listening) if rechecks == 0 => {
                let until = times.deadline.map_or(times.due, |d| d.min(times.due));
                let told = listening.wait(until.saturating_duration_since(now), stop.wake());
                if told.is_err() {
                    events = None;
                }
                told.unwrap_or(false)
            }
            _ => {
                if rechecks > 0 {
                    rechecks -= 1;
                    next = now + RECHECK_AFTER * 4u32.pow(RECHECKS - rechecks - 1);
                }
                let wake = times.deadline.map_or(next, |deadline| next.min(deadline));
                std::thread::sleep(wake.saturating_duration_since(now));
                false
            }
        };
        if told {
            rechecks = RECHECKS;
        }
        if stop.is_set() {
            return (skipped, Ok(QuietEnd::Stopped));
        }
        let now = std::time::Instant::now();
        if times.deadline.is_some_and(|deadline| now >= deadline) {
            return (skipped, Ok(QuietEnd::Deadline));
        }
        if now >= times.due {
            return (skipped, Ok(QuietEnd::Due));
        }
        for addr in addrs {
            match lookup.is_taken(*addr) {
                Ok(false) => {}
                Ok(true) => return (skipped, Ok(QuietEnd::Taken)),
                Err(err) => return (skipped, Err(err)),
            }
        }
        skipped += 1;
        // A thread that woke late polls on from now, not in a burst to catch up.
        next = (next + times.period).max(std::time::Instant::now());
    }
}

/// Why a unix socket path does not connect, in the two cases only a change to its directory can
/// end.
#[derive(Debug, Clone, Copy)]
enum Entry {
    /// Nothing at the path (or a directory of it is missing).
    Missing,
    /// A socket file no socket is bound to: its server is gone.
    Stale,
}

impl Entry {
    /// Whether the path is still so (the last probe may be a moment old). `stale` remembers the
    /// stale file found last.
    fn is_still(self, path: &Path, stale: &mut Option<StaleFile>) -> bool {
        let found = std::fs::symlink_metadata(path);
        match self {
            Self::Missing => found.is_err_and(|err| {
                err.kind() == std::io::ErrorKind::NotFound
                    || err.raw_os_error() == Some(libc::ENOTDIR)
            }),
            // Not a symbolic link (the file it leads to changes in another directory), a
            // socket, and no socket of this namespace bound to it. One of another namespace
            // (a container sharing the directory) may be, and listen later: the real probe
            // every second finds it.
            Self::Stale => found.is_ok_and(|metadata| {
                let file = StaleFile::of(&metadata);
                let is_stale = std::os::unix::fs::FileTypeExt::is_socket(&metadata.file_type())
                    && (*stale == Some(file)
                        || is_file_bound(file.id, path).is_ok_and(|bound| !bound));
                *stale = is_stale.then_some(file);
                is_stale
            }),
        }
    }
}

/// Which file a stale socket is: its inode and device, and its change time, since a file made
/// anew can get the inode number of one just removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StaleFile {
    id: FileId,
    changed: (i64, i64),
}

impl StaleFile {
    fn of(metadata: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Self {
            id: FileId::of(metadata),
            changed: (metadata.ctime(), metadata.ctime_nsec()),
        }
    }
}

#[cfg(test)]
mod tests {
    use refused_lab::RefusedPort;

    use super::*;

    const PERIOD: Duration = Duration::from_millis(5);

    fn in_(time: Duration) -> std::time::Instant {
        std::time::Instant::now() + time
    }

    fn times(due: Duration, deadline: Option<Duration>) -> Times {
        Times {
            period: PERIOD,
            due: in_(due),
            deadline: deadline.map(in_),
        }
    }

    /// A port that starts listening ends the polls, told so by the kernel.
    #[test]
    fn quiet_polls_end_when_a_listener_appears() {
        let port = Arc::new(RefusedPort::v4().unwrap());
        let mut lookup = ListenerLookup::new().unwrap();
        let stop = Stop::default();
        let late = Arc::clone(&port);
        let listener = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            late.socket().listen(16).unwrap();
        });
        let far = times(Duration::from_secs(60), None);
        let (skipped, end) = quiet_polls(&mut lookup, &[port.addr()], far, &stop, None);
        assert_eq!(end.unwrap(), QuietEnd::Taken);
        assert!(
            skipped >= 1,
            "the port was closed at first: {skipped} polls skipped"
        );
        listener.join().unwrap();
    }

    /// With nothing listening they end at the first poll due for a real probe, or at the
    /// deadline, whichever comes first; told to stop, at the next wakeup.
    #[test]
    fn quiet_polls_end_when_due_at_the_deadline_or_stopped() {
        let port = RefusedPort::v4().unwrap();
        let addrs = [port.addr()];
        let mut lookup = ListenerLookup::new().unwrap();
        let stop = Stop::default();

        let due = times(10 * PERIOD, Some(Duration::from_secs(60)));
        let (skipped, end) = quiet_polls(&mut lookup, &addrs, due, &stop, None);
        assert_eq!(end.unwrap(), QuietEnd::Due);
        assert!(std::time::Instant::now() >= due.due);
        assert!((1..10).contains(&skipped), "{skipped} polls in 10 periods");

        // A period longer than the time to the real probe: the poll keeps its period.
        let long = Times {
            period: 20 * PERIOD,
            ..times(PERIOD, None)
        };
        let started = std::time::Instant::now();
        let (skipped, end) = quiet_polls(&mut lookup, &addrs, long, &stop, None);
        assert_eq!((skipped, end.unwrap()), (0, QuietEnd::Due));
        assert!(started.elapsed() >= long.period);

        let cut = times(Duration::from_secs(60), Some(3 * PERIOD));
        let (_, end) = quiet_polls(&mut lookup, &addrs, cut, &stop, None);
        assert_eq!(end.unwrap(), QuietEnd::Deadline);
        assert!(std::time::Instant::now() >= cut.deadline.unwrap());

        stop.set();
        let far = times(Duration::from_secs(60), None);
        let (skipped, end) = quiet_polls(&mut lookup, &addrs, far, &stop, None);
        assert_eq!((skipped, end.unwrap()), (0, QuietEnd::Stopped));
    }

    /// Told by the kernel: a listener on the port ends the polls at once; one on another port
    /// does not. Root only (the eBPF program).
    #[test]
    fn quiet_polls_told_of_listeners_end_on_the_ports_own() {
        if !refused_lab::Lab::root_or_skip("quiet_polls_told_of_listeners_end_on_the_ports_own") {
            return;
        }
        let mut events = ListenEvents::open().unwrap();
        let mut lookup = ListenerLookup::new().unwrap();
        let stop = Stop::default();
        let port = Arc::new(RefusedPort::v4().unwrap());
        let other = RefusedPort::v4().unwrap();

        other.socket().listen(16).unwrap();
        let due = times(Duration::from_millis(300), None);
        let (_, end) = quiet_polls(&mut lookup, &[port.addr()], due, &stop, Some(&mut events));
        assert_eq!(end.unwrap(), QuietEnd::Due);

        let late = Arc::clone(&port);
        let listener = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            late.socket().listen(16).unwrap();
        });
        let far = times(Duration::from_secs(60), None);
        let (skipped, end) =
            quiet_polls(&mut lookup, &[port.addr()], far, &stop, Some(&mut events));
        assert_eq!(end.unwrap(), QuietEnd::Taken);
        // No periodic polls: a wakeup per listener of the host, a few rechecks at most.
        assert!(skipped < 20, "{skipped} polls skipped in 50 ms");
        listener.join().unwrap();
    }

    /// A port that started listening before the program was attached is in no record of the
    /// ring: the polls look once before they sleep, rather than at the real probe's time.
    /// Root only (the eBPF program).
    #[test]
    fn quiet_polls_told_of_listeners_find_one_from_before_the_program() {
        if !refused_lab::Lab::root_or_skip(
            "quiet_polls_told_of_listeners_find_one_from_before_the_program",
        ) {
            return;
        }
        let port = RefusedPort::v4().unwrap();
        port.socket().listen(16).unwrap();
        let mut events = ListenEvents::open().unwrap();
        let mut lookup = ListenerLookup::new().unwrap();
        let stop = Stop::default();
        let started = std::time::Instant::now();
        let due = times(Duration::from_secs(5), None);
        let (_, end) = quiet_polls(&mut lookup, &[port.addr()], due, &stop, Some(&mut events));
        assert_eq!(end.unwrap(), QuietEnd::Taken);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }

    /// Told to stop while it sleeps on the kernel's events, the loop ends at once, not at the
    /// real probe's time. Root only (the eBPF program).
    #[test]
    fn quiet_polls_told_of_listeners_stop_at_once() {
        if !refused_lab::Lab::root_or_skip("quiet_polls_told_of_listeners_stop_at_once") {
            return;
        }
        let mut events = ListenEvents::open().unwrap();
        let mut lookup = ListenerLookup::new().unwrap();
        let port = RefusedPort::v4().unwrap();
        let stop = Arc::new(Stop::waking());
        let stopper = Arc::clone(&stop);
        let started = std::time::Instant::now();
        let setter = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            stopper.set();
        });
        let due = times(Duration::from_secs(5), None);
        let (_, end) = quiet_polls(&mut lookup, &[port.addr()], due, &stop, Some(&mut events));
        assert_eq!(end.unwrap(), QuietEnd::Stopped);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        setter.join().unwrap();
    }

    /// One program slot a process: taken once, and again once given back.
    #[test]
    fn one_program_at_a_time() {
        // A flag of its own: the process's may be taken by another test's wait.
        static ATTACHED: AtomicBool = AtomicBool::new(false);
        let first = ProgramSlot::take(&ATTACHED).unwrap();
        assert!(ProgramSlot::take(&ATTACHED).is_none());
        drop(first);
        assert!(ProgramSlot::take(&ATTACHED).is_some());
    }

    /// No more than [`POLL_THREADS`] at once; a slot given back can be taken again.
    #[test]
    fn poll_threads_are_bounded() {
        // A counter of its own: the process's may be in use by another test's wait.
        static POLLING: AtomicUsize = AtomicUsize::new(0);
        let mut taken = Vec::new();
        while let Some(slot) = PollThread::take_from(&POLLING) {
            taken.push(slot);
            assert!(taken.len() <= POLL_THREADS);
        }
        assert_eq!(taken.len(), POLL_THREADS);
        let stop = Arc::clone(&taken[0].stop);
        taken.pop();
        assert!(PollThread::take_from(&POLLING).is_some());
        drop(taken);
        assert!(stop.is_set(), "a slot given back stops its loop");
    }
}
