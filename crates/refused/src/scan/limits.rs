//! The open-file limit: every probe in flight is a file descriptor.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Descriptors kept free for everything else (stdio, epoll, the runtime, libraries).
const MARGIN: u64 = 64;

/// The open-file limit after raising it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFileLimit {
    /// The soft limit now in force.
    pub soft: u64,
    /// The hard limit (only root may raise it, and not always).
    pub hard: Option<u64>,
}

impl OpenFileLimit {
    /// How many probes may be in flight without running out of descriptors.
    pub fn budget(self) -> usize {
        usize::try_from(self.soft.saturating_sub(MARGIN).max(1)).unwrap_or(usize::MAX)
    }
}

/// Raises this process's soft `RLIMIT_NOFILE` to its hard limit, and returns what is in force.
pub fn raise_open_file_limit() -> OpenFileLimit {
    let Rlimit { current, maximum } = getrlimit(Resource::Nofile);
    if let Some(maximum) = maximum {
        if current != Some(maximum) {
            let raised = Rlimit {
                current: Some(maximum),
                maximum: Some(maximum),
            };
            if setrlimit(Resource::Nofile, raised).is_ok() {
                return OpenFileLimit {
                    soft: maximum,
                    hard: Some(maximum),
                };
            }
        }
    }
    OpenFileLimit {
        soft: current.unwrap_or(1024),
        hard: maximum,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_keeps_a_margin() {
        let limit = raise_open_file_limit();
        assert_eq!(Some(limit.soft), limit.hard.or(Some(limit.soft)));
        assert_eq!(
            OpenFileLimit {
                soft: 1024,
                hard: None
            }
            .budget(),
            1024 - 64
        );
        assert_eq!(
            OpenFileLimit {
                soft: 10,
                hard: None
            }
            .budget(),
            1
        );
    }
}
