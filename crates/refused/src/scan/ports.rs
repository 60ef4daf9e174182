//! Port lists: `22`, `22,80,443`, `8000-8100`, `1-65535`, or a mix.

use std::fmt;
use std::str::FromStr;

/// A set of TCP ports, in ascending order, without repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSet(Vec<u16>);

impl PortSet {
    /// Every port, 1-65535.
    pub fn all() -> Self {
        Self((1..=u16::MAX).collect())
    }

    /// The ports, ascending.
    pub fn as_slice(&self) -> &[u16] {
        &self.0
    }

    /// How many ports.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<u16> for PortSet {
    fn from_iter<I: IntoIterator<Item = u16>>(iter: I) -> Self {
        let mut ports: Vec<u16> = iter.into_iter().filter(|p| *p != 0).collect();
        ports.sort_unstable();
        ports.dedup();
        Self(ports)
    }
}

/// A port list that did not parse, naming the bad part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid port list `{input}`: {problem}")]
pub struct PortSetError {
    /// The whole list as given.
    pub input: String,
    /// What is wrong, naming the bad part.
    pub problem: String,
}

impl FromStr for PortSet {
    type Err = PortSetError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let fail = |problem: String| PortSetError {
            input: input.to_owned(),
            problem,
        };
        let number = |text: &str| -> Result<u16, PortSetError> {
            match text.trim().parse::<u16>() {
                Ok(0) => Err(fail("port `0` cannot be scanned".to_owned())),
                Ok(port) => Ok(port),
                Err(_) => Err(fail(format!("`{}` is not a port (1-65535)", text.trim()))),
            }
        };
        let mut ports = Vec::new();
        for part in input.split(',') {
            let part = part.trim();
            if part.is_empty() {
                return Err(fail(
                    "an empty item (two commas, or a comma at an end)".to_owned(),
                ));
            }
            match part.split_once('-') {
                Some((low, high)) => {
                    // `-1024` and `1024-` as nmap reads them: from 1, up to 65535.
                    let low = if low.trim().is_empty() {
                        1
                    } else {
                        number(low)?
                    };
                    let high = if high.trim().is_empty() {
                        u16::MAX
                    } else {
                        number(high)?
                    };
                    if low > high {
                        return Err(fail(format!("the range `{part}` runs backwards")));
                    }
                    ports.extend(low..=high);
                }
                None => ports.push(number(part)?),
            }
        }
        Ok(ports.into_iter().collect())
    }
}

impl fmt::Display for PortSet {
    /// Ranges where the ports run on: `22,80,8000-8100`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut i = 0;
        while i < self.0.len() {
            let start = self.0[i];
            let mut end = start;
            while i + 1 < self.0.len() && self.0[i + 1] == end + 1 {
                i += 1;
                end = self.0[i];
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if start == end {
                write!(f, "{start}")?;
            } else {
                write!(f, "{start}-{end}")?;
            }
            i += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lists_ranges_and_mixes() {
        let set: PortSet = "443, 22,8000-8003,22".parse().unwrap();
        assert_eq!(set.as_slice(), [22, 443, 8000, 8001, 8002, 8003]);
        assert_eq!(set.to_string(), "22,443,8000-8003");
        assert_eq!("1-65535".parse::<PortSet>().unwrap(), PortSet::all());
        assert_eq!("-3".parse::<PortSet>().unwrap().as_slice(), [1, 2, 3]);
        assert_eq!(
            "65534-".parse::<PortSet>().unwrap().as_slice(),
            [65534, 65535]
        );
    }

    #[test]
    fn errors_name_the_bad_part() {
        for (input, needle) in [
            ("80,http", "`http`"),
            ("70000", "`70000`"),
            ("0", "`0`"),
            ("90-80", "`90-80`"),
            ("80,,81", "empty"),
            ("", "empty"),
        ] {
            let err = input.parse::<PortSet>().unwrap_err();
            assert!(err.to_string().contains(needle), "{input}: {err}");
        }
    }

    proptest! {
        #[test]
        fn display_parses_back(ports in proptest::collection::vec(1u16.., 0..50)) {
            let set: PortSet = ports.into_iter().collect();
            if !set.is_empty() {
                prop_assert_eq!(set.to_string().parse::<PortSet>().unwrap(), set);
            }
        }

        #[test]
        fn never_panics(input in ".{0,40}") {
            let _ = input.parse::<PortSet>();
        }
    }
}
