//! The terminal on stderr: its size, and lines clipped to its width, so that a display redrawn
//! in place never wraps (a wrapped line takes two rows, and moving the cursor up by one row per
//! line would then leave copies behind).

use std::borrow::Cow;

use unicode_width::UnicodeWidthChar;

/// Columns and rows of the terminal on stderr, if it is one that says.
pub fn stderr_size() -> Option<(usize, usize)> {
    let size = rustix::termios::tcgetwinsize(std::io::stderr()).ok()?;
    (size.ws_col > 0 && size.ws_row > 0)
        .then(|| (usize::from(size.ws_col), usize::from(size.ws_row)))
}

/// Whether colours go to stderr (`--color`, `NO_COLOR`, a terminal or not).
pub fn stderr_has_color() -> bool {
    anstream::AutoStream::choice(&std::io::stderr()) != anstream::ColorChoice::Never
}

/// Clips `line` to `width` visible columns. Escape sequences (colours) take no column and are
/// kept; a reset follows a cut, so a style never leaks to the next line. Control characters
/// (a newline in a server's message) become spaces: a line stays one row.
pub fn clip(line: &str, width: usize) -> Cow<'_, str> {
    let clean = !line.chars().any(|c| c.is_control() && c != '\x1b');
    if clean && visible_width(line) <= width {
        return Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len());
    let mut used = 0;
    let mut chars = line.chars().peekable();
    let mut cut = false;
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            out.push(c);
            // CSI: `ESC [`, parameters, then one final byte in `@`..=`~`.
            if chars.peek() == Some(&'[') {
                out.extend(chars.next());
                for c in chars.by_ref() {
                    out.push(c);
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            continue;
        }
        let c = if c.is_control() { ' ' } else { c };
        let w = c.width().unwrap_or(0);
        if used + w > width {
            cut = true;
            break;
        }
        used += w;
        out.push(c);
    }
    if cut && out.contains('\x1b') {
        out.push_str("\x1b[0m");
    }
    Cow::Owned(out)
}

/// Columns a line takes, escape sequences aside.
pub fn visible_width(line: &str) -> usize {
    let mut width = 0;
    let mut in_escape = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if in_escape {
            if ('@'..='~').contains(&c) {
                in_escape = false;
            }
            continue;
        }
        if c == '\x1b' && chars.peek() == Some(&'[') {
            chars.next();
            in_escape = true;
            continue;
        }
        width += c.width().unwrap_or(0);
    }
    width
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_lines_are_kept_whole() {
        assert!(matches!(clip("ready", 80), Cow::Borrowed("ready")));
        assert_eq!(clip("\x1b[1mok\x1b[0m", 2), "\x1b[1mok\x1b[0m");
    }

    #[test]
    fn long_lines_are_cut_at_the_width_counting_only_visible_characters() {
        let line = format!("\x1b[32m{}\x1b[0m tail", "x".repeat(100));
        let clipped = clip(&line, 79);
        assert_eq!(visible_width(&clipped), 79);
        assert!(clipped.starts_with("\x1b[32m"));
        assert!(clipped.ends_with("\x1b[0m"), "{clipped:?}");
        assert_eq!(clip("abcdef", 3), "abc");
    }

    #[test]
    fn wide_characters_take_two_columns_and_controls_become_spaces() {
        assert_eq!(clip("日本語", 5), "日本");
        assert_eq!(clip("a\nb", 10), "a b");
        assert_eq!(visible_width("日本"), 4);
    }
}
