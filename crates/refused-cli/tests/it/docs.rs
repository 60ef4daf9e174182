//! `refused completions SHELL` and `refused man`: scripts the shells accept, pages groff reads
//! without a warning.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::common::{assert_exit, refused};

/// Runs `program args` with `input` on stdin; `None` when the program is not installed (a skip
/// outside CI, a failure in CI, where .ci/run installs it).
fn pipe_into(program: &str, args: &[&str], input: &[u8]) -> Option<std::process::Output> {
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            assert!(
                std::env::var_os("CI").is_none(),
                "`{program}` is missing in CI"
            );
            eprintln!("skipped: `{program}` is not installed");
            return None;
        }
        Err(err) => panic!("{program}: {err}"),
    };
    child.stdin.take().unwrap().write_all(input).unwrap();
    Some(child.wait_with_output().unwrap())
}

#[test]
fn the_bash_completion_script_is_valid_bash() {
    let output = refused().args(["completions", "bash"]).output().unwrap();
    assert_exit(&output, 0);
    let script = output.stdout;
    let text = String::from_utf8_lossy(&script);
    assert!(text.contains("complete -F _refused"), "{text}");
    for word in ["check", "wait", "scan", "why", "--timeout", "--color"] {
        assert!(text.contains(word), "{word}");
    }
    let checked = pipe_into("bash", &["-n"], &script).unwrap();
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
}

#[test]
fn every_shell_gets_a_script() {
    for (shell, marker) in [
        ("zsh", "#compdef refused"),
        ("fish", "complete -c refused"),
        ("powershell", "Register-ArgumentCompleter"),
        ("elvish", "edit:completion:arg-completer[refused]"),
    ] {
        let output = refused().args(["completions", shell]).output().unwrap();
        assert_exit(&output, 0);
        let text = String::from_utf8(output.stdout).unwrap();
        assert!(text.contains(marker), "{shell}: {text}");
        assert!(text.contains("wait"), "{shell}");
    }
    let output = refused().args(["completions", "tcsh"]).output().unwrap();
    assert_exit(&output, 2);
}

#[test]
fn the_manual_pages_render_without_warnings() {
    for page in [None, Some("wait"), Some("scan"), Some("check"), Some("why")] {
        let output = refused().arg("man").args(page).output().unwrap();
        assert_exit(&output, 0);
        let roff = output.stdout;
        let text = String::from_utf8_lossy(&roff);
        let name = page.map_or_else(|| "refused".to_owned(), |p| format!("refused-{p}"));
        assert!(text.contains(&format!(".TH {name} 1")), "{text}");
        // `-ww`: every warning; `-z`: no output, only the diagnostics.
        let Some(checked) = pipe_into("groff", &["-man", "-Tutf8", "-ww", "-z"], &roff) else {
            return;
        };
        assert!(checked.status.success());
        assert_eq!(String::from_utf8_lossy(&checked.stderr), "", "{name}");
    }
    let output = refused().args(["man", "nothing"]).output().unwrap();
    assert_exit(&output, 2);
}
