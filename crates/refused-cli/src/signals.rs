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
    /// `None` when they could not be installed: the signals keep their default action then.
    caught: Option<(Signal, Signal)>,
}

impl Signals {
    /// Installs the handlers; needs a tokio runtime's context.
    pub fn catch() -> Self {
        let caught = match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(interrupt), Ok(terminate)) => Some((interrupt, terminate)),
            _ => None,
        };
        Self { caught }
    }

    /// The exit status for the next signal, when it comes.
    pub async fn next(&mut self) -> u8 {
        let Some((interrupt, terminate)) = &mut self.caught else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = interrupt.recv() => EXIT_INTERRUPTED,
            _ = terminate.recv() => EXIT_TERMINATED,
        }
    }
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
