//! SIGINT and SIGTERM, caught for the whole run of `why`, `check` and `wait`: a process that is
//! PID 1 (an init container) has no default action for them, so without a handler it would
//! ignore them until its timeout.

use std::future::Future;
use std::process::ExitCode;

use tokio::signal::unix::{Signal, SignalKind, signal};

/// Exit status after Ctrl-C (128 + SIGINT), as shells report it.
pub const EXIT_INTERRUPTED: u8 = 130;
/// Exit status after SIGTERM (128 + SIGTERM).
pub const EXIT_TERMINATED: u8 = 143;

/// The handlers, installed.
pub struct Signals {
    /// `None` for a signal that is not caught: one this process was started with ignored (`sh
    /// -c 'refused wait ... -- cmd &'`, `nohup`), which stays ignored, for `refused` and for the
    /// command it `exec`s, as it would have been for the command run alone; or one whose handler
    /// could not be installed, which keeps its default action.
    interrupt: Option<Signal>,
    terminate: Option<Signal>,
}

impl Signals {
    /// Installs the handlers of the signals not ignored; needs a tokio runtime's context.
    pub fn catch() -> Self {
        let ignored = ignored_signals();
        let catch = |number: u32, kind: SignalKind| {
            let bit = 1u64 << (number - 1);
            (ignored & bit == 0).then(|| signal(kind).ok()).flatten()
        };
        Self {
            interrupt: catch(2, SignalKind::interrupt()),
            terminate: catch(15, SignalKind::terminate()),
        }
    }

    /// The exit status for the next signal, when it comes.
    pub async fn next(&mut self) -> u8 {
        async fn recv(signal: Option<&mut Signal>) {
            match signal {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            () = recv(self.interrupt.as_mut()) => EXIT_INTERRUPTED,
            () = recv(self.terminate.as_mut()) => EXIT_TERMINATED,
        }
    }
}

/// The signals this process was started with ignored: `SigIgn` of `/proc/self/status`, a mask
/// whose bit `n - 1` is signal `n` (none when it cannot be read).
fn ignored_signals() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| parse_ignored(&status))
        .unwrap_or(0)
}

fn parse_ignored(status: &str) -> Option<u64> {
    let mask = status.lines().find_map(|l| l.strip_prefix("SigIgn:"))?;
    u64::from_str_radix(mask.trim(), 16).ok()
}

/// Runs a command that has nothing to clean up until it ends or a signal comes (then 130 or
/// 143). The handlers are installed before the command starts.
pub async fn or_signalled(
    command: impl Future<Output = anyhow::Result<ExitCode>>,
) -> anyhow::Result<ExitCode> {
    let mut signals = Signals::catch();
    tokio::select! {
        biased;
        code = signals.next() => Ok(ExitCode::from(code)),
        result = command => result,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ignored_mask_is_read_from_the_status() {
        let status =
            "Name:\trefused\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000004002\nSigCgt:\t0\n";
        assert_eq!(parse_ignored(status), Some(0x4002));
        assert_eq!(parse_ignored("Name:\tx\n"), None);
    }
}
