//! Rendering for people and programs: colours only on a terminal (`NO_COLOR` honoured, through
//! anstream), NDJSON for `--json`.

use std::io::Write;

use anstyle::{AnsiColor, Style};

/// Green, for what works.
pub const GOOD: Style = AnsiColor::Green.on_default().bold();
/// Red, for what does not.
pub const BAD: Style = AnsiColor::Red.on_default().bold();

/// Yellow, for warnings.
pub const WARN: Style = AnsiColor::Yellow.on_default().bold();
/// Dim, for section headings.
pub const DIM: Style = Style::new().dimmed();

/// Prints `error: MESSAGE` to stderr.
pub fn error(message: &str) {
    let mut stderr = anstream::stderr();
    // Nothing sensible is left to do if stderr itself fails.
    let _ = writeln!(stderr, "{BAD}error{BAD:#}: {message}");
}

/// Writes one JSON value on its own line to stdout.
pub fn json_line<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer(&mut stdout, value)?;
    stdout.write_all(b"\n")?;
    Ok(())
}
