//! Usage errors: a bad argument ends the command with one line naming its bad part, and exit
//! status 2. Commands return them with `?`; `main` prints them.

use std::fmt;
use std::str::FromStr;

/// A command line that cannot run as given.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Parses one argument (a `Target`, a scan's `HostSpec`); its parser's message, which names the
/// bad part, is the usage error.
pub fn parse<T>(text: &str) -> Result<T, UsageError>
where
    T: FromStr,
    T::Err: fmt::Display,
{
    text.parse()
        .map_err(|err: T::Err| UsageError(err.to_string()))
}
