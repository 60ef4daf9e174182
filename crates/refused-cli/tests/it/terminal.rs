//! What a person sees in a real terminal: the binary runs in a pseudo-terminal of 80 columns,
//! and what it writes is replayed through a terminal emulator (vt100), so a display that wraps,
//! scrolls or leaves a progress bar behind shows as it would on screen.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{CommandBuilder, PtySize, native_pty_system};
use refused_lab::RefusedPort;

const COLUMNS: u16 = 80;
/// Tall enough that nothing scrolls off: copies a broken redraw leaves stay on the screen.
const ROWS: u16 = 200;

/// A `refused` running in a pseudo-terminal, with everything it writes collected.
struct Terminal {
    child: Box<dyn portable_pty::Child + Send + Sync>,
    writer: Box<dyn Write + Send>,
    output: Arc<Mutex<Vec<u8>>>,
    reader: std::thread::JoinHandle<()>,
}

impl Terminal {
    fn run(args: &[&str], no_color: bool) -> Self {
        Self::sized(args, no_color, ROWS)
    }

    fn sized(args: &[&str], no_color: bool, rows: u16) -> Self {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows,
                cols: COLUMNS,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
        let mut command = CommandBuilder::new(env!("CARGO_BIN_EXE_refused"));
        command.args(args);
        command.env("TERM", "xterm-256color");
        for name in ["NO_COLOR", "CLICOLOR_FORCE", "CLICOLOR", "REFUSED_TIMEOUT"] {
            command.env_remove(name);
        }
        if no_color {
            command.env("NO_COLOR", "1");
        }
        let child = pair.slave.spawn_command(command).unwrap();
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().unwrap();
        let writer = pair.master.take_writer().unwrap();
        let output = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&output);
        let reader = std::thread::spawn(move || {
            let _master = pair.master;
            let mut buf = [0u8; 4096];
            // Ends with EOF or EIO once the child (the last holder of the terminal) is gone.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Self {
            child,
            writer,
            output,
            reader,
        }
    }

    /// Waits until the output holds `text` (or the process ended, or a minute passed: then the
    /// assertions that follow say what is missing).
    fn wait_for(&mut self, text: &str) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            if String::from_utf8_lossy(&self.output.lock().unwrap()).contains(text) {
                return;
            }
            if self.child.try_wait().unwrap().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Types Ctrl-C: the terminal sends SIGINT to the foreground process.
    fn ctrl_c(&mut self) {
        self.writer.write_all(b"\x03").unwrap();
        self.writer.flush().unwrap();
    }

    /// Everything written so far.
    fn output(&self) -> Vec<u8> {
        self.output.lock().unwrap().clone()
    }

    /// Waits for the exit; returns the status and every byte written.
    fn finish(mut self) -> (u32, Vec<u8>) {
        let status = self.child.wait().unwrap();
        self.reader.join().unwrap();
        let output = self.output.lock().unwrap().clone();
        (status.exit_code(), output)
    }
}

/// The screen after replaying `bytes`.
fn screen(bytes: &[u8]) -> Vec<String> {
    screen_of(bytes, ROWS)
}

/// The screen of `rows` rows after replaying `bytes`.
fn screen_of(bytes: &[u8], rows: u16) -> Vec<String> {
    let nonzero = |n| std::num::NonZeroU16::new(n).unwrap();
    let mut parser = vt100::Parser::new(nonzero(rows), nonzero(COLUMNS), 0);
    parser.process(bytes);
    parser
        .screen()
        .rows(0, COLUMNS)
        .map(|row| row.trim_end().to_owned())
        .collect()
}

/// Whether the bytes hold a colour (SGR) sequence: `ESC [ ... m`.
fn has_colour(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    text.split('\x1b').skip(1).any(|seq| {
        seq.strip_prefix('[').is_some_and(|rest| {
            rest.chars()
                .find(|c| !(c.is_ascii_digit() || *c == ';'))
                .is_some_and(|end| end == 'm')
        })
    })
}

#[test]
fn wait_redraws_its_lines_in_place_at_80_columns_with_and_without_colour() {
    let first = RefusedPort::v4().unwrap();
    let second = RefusedPort::v4().unwrap();
    let targets = [first.addr().to_string(), second.addr().to_string()];
    for no_color in [false, true] {
        // 1.5 s of live display, redrawn every 100 ms, then the timeout's report.
        let terminal = Terminal::run(
            &["wait", &targets[0], &targets[1], "--timeout", "1500ms"],
            no_color,
        );
        let (status, bytes) = terminal.finish();
        assert_eq!(status, 1, "{}", String::from_utf8_lossy(&bytes));
        let rows = screen(&bytes);
        let shown = rows.join("\n");
        for target in &targets {
            // Each target's live line is on the screen once, however many times it was redrawn:
            // each line fits in 80 columns, and the cursor moves are not stripped with colours.
            let live: Vec<&String> = rows
                .iter()
                .filter(|row| {
                    row.split_once(' ').is_some_and(|(spin, rest)| {
                        ["|", "/", "-", "\\"].contains(&spin) && rest.starts_with(target.as_str())
                    })
                })
                .collect();
            assert_eq!(live.len(), 1, "NO_COLOR={no_color}, {target}:\n{shown}");
            assert!(live[0].contains("connection refused"), "{shown}");
        }
        assert!(shown.contains("timeout"), "{shown}");
        assert_eq!(
            has_colour(&bytes),
            !no_color,
            "colours follow NO_COLOR: {}",
            String::from_utf8_lossy(&bytes)
        );
    }
}

#[test]
fn more_targets_than_rows_draw_a_screenful_and_a_count() {
    let ports: Vec<RefusedPort> = (0..8).map(|_| RefusedPort::v4().unwrap()).collect();
    let targets: Vec<String> = ports.iter().map(|p| p.addr().to_string()).collect();
    let mut args = vec!["wait", "--timeout", "60s"];
    args.extend(targets.iter().map(String::as_str));
    // Six rows: the cursor cannot go up past the top, so at most five lines are redrawn.
    let mut terminal = Terminal::sized(&args, true, 6);
    terminal.wait_for("more targets");
    // Let a few redraws happen before looking.
    std::thread::sleep(Duration::from_millis(500));
    let rows = screen_of(&terminal.output(), 6);
    terminal.ctrl_c();
    let (status, _) = terminal.finish();
    assert_eq!(status, 130);
    let shown = rows.join("\n");
    for (i, target) in targets.iter().enumerate() {
        let count = rows
            .iter()
            .filter(|row| row.contains(target.as_str()))
            .count();
        assert_eq!(count, usize::from(i < 4), "{target}:\n{shown}");
    }
    assert_eq!(
        rows.iter()
            .filter(|row| row.contains("and 4 more targets (0 done)"))
            .count(),
        1,
        "{shown}"
    );
}

#[test]
fn ctrl_c_during_a_scan_clears_the_bar_and_prints_what_was_found() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let open = listener.local_addr().unwrap().port();
    // Ports from the open one up, slowed by `--rate` so that the scan outlasts the second after
    // which the bar appears; the open port is the first one probed.
    let last = open.saturating_add(3000);
    let count = u32::from(last - open) + 1;
    let rate = (count / 10).max(1).to_string();
    let ports = format!("{open}-{last}");
    for no_color in [false, true] {
        let mut terminal = Terminal::run(
            &["scan", "127.0.0.1", "-p", &ports, "--rate", &rate],
            no_color,
        );
        terminal.wait_for("probes [");
        terminal.ctrl_c();
        let (status, bytes) = terminal.finish();
        let rows = screen(&bytes);
        let shown = rows.join("\n");
        assert_eq!(status, 130, "{shown}");
        assert!(
            !shown.contains("probes ["),
            "the progress bar is left on the screen:\n{shown}"
        );
        assert!(shown.contains("interrupted"), "{shown}");
        assert!(
            shown.contains(&format!("of {count} ports")),
            "how far it got: {shown}"
        );
        let open_row = rows
            .iter()
            .find(|row| row.starts_with(&format!("{open}/tcp")))
            .unwrap_or_else(|| panic!("the open port found so far is printed:\n{shown}"));
        assert!(open_row.contains("open"), "{shown}");
    }
}
