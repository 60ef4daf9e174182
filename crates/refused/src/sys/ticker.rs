//! A periodic kernel timer (`timerfd`) read through tokio's reactor: one wakeup a tick.
//!
//! tokio's timer wheel costs more for a pause repeated 40 times a second, which is what a gated
//! wait is: each new timer earlier than the driver's next wakeup wakes the driver on the spot
//! (an `eventfd` write and an extra `epoll_wait`), and a timer that crosses one of the wheel's
//! 64 ms boundaries wakes the thread once at the boundary to move it down a level (38% of 25 ms
//! pauses). A `timerfd` fires once, where it should, and nothing is re-registered between ticks:
//! measured beside a spawned task re-arming one `Sleep`, 53 µs against 70 µs of CPU a tick.

use std::io;
use std::os::fd::OwnedFd;
use std::time::Duration;

use rustix::time::{
    Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create,
    timerfd_settime,
};
use tokio::io::unix::AsyncFd;

/// A timer that ticks every `period`, the first tick one period after it was made.
#[derive(Debug)]
pub struct Ticker {
    fd: AsyncFd<OwnedFd>,
}

impl Ticker {
    /// Starts the timer. Must be called within a tokio runtime. Runs on the real clock: under
    /// tokio's paused clock (tests) it does not follow the virtual time.
    pub fn new(period: Duration) -> io::Result<Self> {
        let fd = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        // A zero `it_value` would disarm it.
        let period = Timespec::try_from(period.max(Duration::from_nanos(1)))
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        timerfd_settime(
            &fd,
            TimerfdTimerFlags::empty(),
            &Itimerspec {
                it_interval: period,
                it_value: period,
            },
        )?;
        Ok(Self {
            fd: super::register(fd)?,
        })
    }

    /// Waits for the next tick (returns at once for ticks already past, all of them together).
    pub async fn tick(&mut self) -> io::Result<()> {
        let mut expirations = [0u8; 8];
        loop {
            let mut ready = self.fd.readable().await?;
            match rustix::io::read(self.fd.get_ref(), &mut expirations) {
                // A read takes every expiration: nothing is left to read until the next one,
                // which the kernel signals anew (one `read` a tick, not a second that fails).
                Ok(_) => {
                    ready.clear_ready();
                    return Ok(());
                }
                Err(rustix::io::Errno::AGAIN) => ready.clear_ready(),
                Err(err) => return Err(err.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ticks come, one period apart at least (the kernel never fires early).
    #[tokio::test]
    async fn ticks_every_period() {
        let period = Duration::from_millis(5);
        // Before the timer is armed: the third tick is three periods after arming, and so at
        // least three after this (taken after, it could be a hair less).
        let started = std::time::Instant::now();
        let mut ticker = Ticker::new(period).unwrap();
        for _ in 0..3 {
            tokio::time::timeout(Duration::from_secs(10), ticker.tick())
                .await
                .expect("a tick within 10 s")
                .unwrap();
        }
        assert!(started.elapsed() >= 3 * period);
    }
}
