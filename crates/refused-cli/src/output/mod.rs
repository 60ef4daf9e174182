//! Rendering for people and programs: colours only on a terminal (`NO_COLOR` honoured, through
//! anstream; `--color` overrides), NDJSON for `--json`.

pub mod term;

use std::io::Write;

use anstyle::{AnsiColor, Style};

use crate::args::ColorWhen;

/// Green, for what works.
pub const GOOD: Style = AnsiColor::Green.on_default().bold();
/// Red, for what does not.
pub const BAD: Style = AnsiColor::Red.on_default().bold();

/// Yellow, for warnings.
pub const WARN: Style = AnsiColor::Yellow.on_default().bold();
/// Dim, for section headings.
pub const DIM: Style = Style::new().dimmed();

/// Applies `--color` to every stream anstream writes afterwards.
pub fn set_color(when: ColorWhen) {
    let choice = match when {
        ColorWhen::Auto => anstream::ColorChoice::Auto,
        ColorWhen::Always => anstream::ColorChoice::Always,
        ColorWhen::Never => anstream::ColorChoice::Never,
    };
    choice.write_global();
}

/// Prints `error: MESSAGE` to stderr.
pub fn error(message: &str) {
    let mut stderr = anstream::stderr();
    // Nothing sensible is left to do if stderr itself fails.
    let _ = writeln!(stderr, "{BAD}error{BAD:#}: {message}");
}

/// For `check` and `wait`, which connect directly: a note about the first of `targets` whose
/// requests an HTTP client would send through a proxy of the environment (`http_proxy`...),
/// where the answer that client gets is the proxy's.
pub fn direct_note(command: &str, targets: &[refused::Target]) -> Option<String> {
    targets.iter().find_map(|target| {
        let proxy = refused::proxy::for_target(target, |name| std::env::var(name).ok())?;
        let text = target.to_string();
        let quoted = shlex::try_quote(&text).ok()?;
        Some(format!(
            "note: {}; `{command}` connects to {target} directly (`refused why {quoted}` asks both)",
            proxy.said()
        ))
    })
}

/// The version of the JSON contract, in every document and NDJSON line as `schema_version`
/// (the schemas in `schemas/` describe it; docs/contract.md says what may change within one).
pub const SCHEMA_VERSION: u32 = 1;

/// What every JSON line carries before the value's own fields.
#[derive(serde::Serialize)]
struct Versioned<'a, T> {
    schema_version: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(flatten)]
    value: &'a T,
}

/// Writes a command's one JSON document (`why`, `scan`), with its `schema_version`.
pub fn json_document<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    write_json(&Versioned {
        schema_version: SCHEMA_VERSION,
        kind: None,
        value,
    })
}

/// Writes one NDJSON line (`check`, `wait`, `scan --stream`): `schema_version`, then `kind`,
/// which says which of the command's line shapes it is, then the value's fields.
pub fn json_line<T: serde::Serialize>(kind: &'static str, value: &T) -> anyhow::Result<()> {
    write_json(&Versioned {
        schema_version: SCHEMA_VERSION,
        kind: Some(kind),
        value,
    })
}

/// Writes one JSON value on its own line to stdout, in one write: a reader never sees half a
/// line, and a closed pipe comes back as the `io::Error` it is (`BrokenPipe`), not wrapped in a
/// serialisation error.
fn write_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    let mut line = serde_json::to_vec(value)?;
    line.push(b'\n');
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&line)?;
    stdout.flush()?;
    Ok(())
}

/// Whether an error is stdout closed under us (`refused ... | head -1`): the reader has all it
/// wants, so the command ends quietly.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
