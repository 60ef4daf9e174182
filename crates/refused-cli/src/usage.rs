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

/// Parses targets given as arguments, one each. A host without a port followed by a port alone
/// is `nc`'s and telnet's `HOST PORT`, typed out of habit: said as such, with the one argument
/// to write, rather than as a host without its port.
pub fn parse_targets(texts: &[String]) -> Result<Vec<refused::Target>, UsageError> {
    texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            parse(text).map_err(|err| match texts.get(i + 1) {
                Some(port) => split_pair(text, port).unwrap_or(err),
                None => err,
            })
        })
        .collect()
}

/// The usage error for `HOST PORT` typed as two arguments, when they are that.
pub fn split_pair(host: &str, port: &str) -> Option<UsageError> {
    let joined = format!("{host}:{port}");
    let is_port = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
    let host_alone = host
        .parse::<refused::Target>()
        .is_err_and(|e| matches!(e.kind(), refused::TargetErrorKind::MissingPort(_)));
    (is_port && host_alone && joined.parse::<refused::Target>().is_ok()).then(|| {
        UsageError(format!(
            "`{host} {port}` is a host and its port as two arguments (as `nc` takes them): write `{joined}`"
        ))
    })
}

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
