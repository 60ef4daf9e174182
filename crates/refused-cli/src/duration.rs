//! Durations on the command line: `500ms`, `3s`, `1.5s`, `2m`, `1h`, `1d`; a bare number is
//! seconds (as wait-for-it's `-t 15`).
//!
//! Every duration is at most [`MAX`]: past it a value is a typo, and a deadline computed from it
//! would overflow the clock. A `--timeout` of `0` means "no limit" in every command (as in
//! wait-for-it and wait4x); a command that must still pass a number to the library passes `MAX`.

use std::fmt;
use std::time::Duration;

/// The longest duration any option accepts: a week.
pub const MAX: Duration = Duration::from_secs(7 * 24 * 3600);
/// How [`MAX`] is written, for messages and help.
pub const MAX_TEXT: &str = "7d";

/// Parses a duration, naming the bad part when it cannot.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (examples: 500ms, 3s, 1.5s, 2m)"))?;
    let seconds = match unit.trim() {
        "" | "s" | "sec" | "secs" => value,
        "ms" => value / 1000.0,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        "d" => value * 86400.0,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}` (use ms, s, m, h or d)"
            ));
        }
    };
    // Compared as seconds first: a huge value is out of range for `Duration` itself.
    if !seconds.is_finite() || seconds > MAX.as_secs_f64() {
        return Err(format!("`{text}` is too long (at most {MAX_TEXT})"));
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("`{text}` is out of range"))
}

/// A `--timeout`: a limit, or none (`0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    /// At most this long.
    Limit(Duration),
    /// `0`: no limit of `refused`'s own.
    Unlimited,
}

impl Timeout {
    /// The limit, `None` when there is none.
    pub const fn limit(self) -> Option<Duration> {
        match self {
            Self::Limit(limit) => Some(limit),
            Self::Unlimited => None,
        }
    }

    /// The option's value as `--timeout` reads it back: `1500ms`, `0` for no limit.
    pub fn as_option(self) -> String {
        match self {
            Self::Limit(limit) if limit.subsec_nanos() == 0 => format!("{}s", limit.as_secs()),
            Self::Limit(limit) if limit.subsec_nanos() % 1_000_000 == 0 => {
                format!("{}ms", limit.as_millis())
            }
            // One division, correctly rounded: printed as the shortest decimal that reads back.
            #[expect(
                clippy::cast_precision_loss,
                reason = "a timeout's microseconds are far below 2^53"
            )]
            Self::Limit(limit) => format!("{}ms", limit.as_micros() as f64 / 1000.0),
            Self::Unlimited => "0".to_owned(),
        }
    }

    /// The limit, or [`MAX`] where the library needs a number.
    pub const fn or_max(self) -> Duration {
        match self {
            Self::Limit(limit) => limit,
            Self::Unlimited => MAX,
        }
    }
}

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Limit(limit) => refused::connect::HumanDuration(*limit).fmt(f),
            Self::Unlimited => f.write_str("no limit"),
        }
    }
}

/// Parses a `--timeout`: a duration, or `0` for no limit.
pub fn parse_timeout(text: &str) -> Result<Timeout, String> {
    let duration = parse_duration(text).map_err(|err| {
        if err.contains("too long") {
            format!("{err}; `0` means no limit")
        } else {
            err
        }
    })?;
    Ok(if duration.is_zero() {
        Timeout::Unlimited
    } else {
        Timeout::Limit(duration)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("3s"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
    }

    #[test]
    fn errors_name_the_bad_part() {
        assert!(
            parse_duration("3x")
                .unwrap_err()
                .contains("unknown unit `x`")
        );
        assert!(
            parse_duration("fast")
                .unwrap_err()
                .contains("`fast` is not a duration")
        );
        assert!(parse_duration("").is_err());
        assert!(parse_duration("1e400").is_err());
    }

    #[test]
    fn the_bound_is_a_week_and_named() {
        assert_eq!(parse_duration("7d"), Ok(MAX));
        assert_eq!(parse_duration("168h"), Ok(MAX));
        for huge in [
            "5000000000000000h",
            "8d",
            "604801",
            "99999999999999999999999999",
        ] {
            let err = parse_duration(huge).unwrap_err();
            assert!(err.contains("at most 7d"), "{huge}: {err}");
        }
    }

    #[test]
    fn a_zero_timeout_is_no_limit() {
        assert_eq!(parse_timeout("0"), Ok(Timeout::Unlimited));
        assert_eq!(parse_timeout("0s"), Ok(Timeout::Unlimited));
        assert_eq!(
            parse_timeout("2s"),
            Ok(Timeout::Limit(Duration::from_secs(2)))
        );
        assert_eq!(Timeout::Unlimited.or_max(), MAX);
        assert!(
            parse_timeout("9d")
                .unwrap_err()
                .contains("`0` means no limit")
        );
    }
}
