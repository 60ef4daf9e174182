//! Unix socket targets as `why`, `check` and `wait` see them: paths that do not fit, files that
//! are not sockets, sockets hidden by a directory, socket files replaced under a live server.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use refused_lab::{Lab, Scratch};
use serde_json::Value;

use crate::common::{assert_exit, refused};

/// A copy of the binary in `scratch`, where `nobody` may run it (the target dir may be under a
/// private home).
fn binary_in(scratch: &Scratch) -> PathBuf {
    let binary = scratch.join("refused");
    fs::copy(env!("CARGO_BIN_EXE_refused"), &binary).unwrap();
    binary
}

/// The built binary as a plain command, as another user's command is built.
fn plain() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_refused"));
    command.env("NO_COLOR", "1").env_remove("REFUSED_TIMEOUT");
    command
}

/// `binary` run as `nobody`, with no group (the caller checked that this is root).
fn as_nobody(binary: &Path) -> Command {
    let mut command = Command::new("setpriv");
    command
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(binary)
        .env("NO_COLOR", "1")
        .env_remove("REFUSED_TIMEOUT");
    command
}

fn json(output: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|err| {
        panic!(
            "{err}: {stdout:?} {:?}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn why_json(mut command: Command, path: &Path) -> Value {
    let output = command.args(["why", "--json"]).arg(path).output().unwrap();
    let report = json(&output);
    crate::schema::assert_valid(crate::schema::Schema::Why, &report);
    assert_eq!(output.status.code(), Some(1), "{report}");
    report
}

fn unix_evidence(report: &Value) -> &Value {
    report["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "unix-socket")
        .unwrap_or_else(|| panic!("no unix-socket evidence: {report}"))
}

#[test]
fn a_path_longer_than_sun_path_is_a_usage_error_for_every_command() {
    // 108 bytes: one more than `sun_path` holds with its closing NUL.
    let path = format!("/tmp/{}", "s".repeat(103));
    assert_eq!(path.len(), 108);
    for target in [path.clone(), format!("unix://{path}")] {
        for args in [
            vec!["why", &target],
            vec!["why", "--json", &target],
            vec!["check", &target],
            vec!["wait", "--timeout", "1s", &target],
        ] {
            let output = refused().args(&args).output().unwrap();
            assert_exit(&output, 2);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(
                stderr.contains("is 108 bytes long, over the limit of 107"),
                "{args:?}: {stderr}"
            );
            assert!(output.stdout.is_empty(), "{args:?}");
        }
    }
}

#[test]
fn what_is_not_a_socket_is_named_by_check_and_why() {
    let scratch = Scratch::new("not-a-socket");
    let dir = scratch.join("dir.sock");
    fs::create_dir(&dir).unwrap();
    let file = scratch.join("file.sock");
    fs::write(&file, "").unwrap();
    let fifo = scratch.join("fifo.sock");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());

    for (path, kind) in [(dir, "directory"), (file, "regular file"), (fifo, "fifo")] {
        let output = refused().arg("check").arg(&path).output().unwrap();
        assert_exit(&output, 1);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.contains(&format!("{} is a {kind}, not a socket", path.display())),
            "{stdout}"
        );

        let output = refused()
            .args(["check", "--json"])
            .arg(&path)
            .output()
            .unwrap();
        let report = json(&output);
        assert_eq!(report["state"], "down", "{report}");
        // The reason is `why`'s cause; the attempt's outcome stays what the kernel said.
        assert_eq!(report["reason"], "socket-missing", "{report}");
        assert_eq!(report["attempts"][0]["outcome"], "refused", "{report}");
        assert_eq!(report["attempts"][0]["errno"], 111, "{report}");

        let report = why_json(plain(), &path);
        assert_eq!(report["cause"], "socket-missing", "{report}");
        assert_eq!(unix_evidence(&report)["file_type"], kind, "{report}");
        assert!(
            report["summary"].as_str().unwrap().contains("not a socket"),
            "{report}"
        );
    }
}

#[test]
fn a_socket_in_a_directory_this_user_may_not_search_is_permission_denied() {
    let test = "a_socket_in_a_directory_this_user_may_not_search_is_permission_denied";
    if !Lab::root_or_skip(test) {
        return;
    }
    let scratch = Scratch::new("closed-dir");
    let binary = binary_in(&scratch);
    let closed = scratch.join("closed");
    fs::create_dir(&closed).unwrap();
    fs::set_permissions(&closed, fs::Permissions::from_mode(0o700)).unwrap();
    let socket = closed.join("app.sock");
    let _live = UnixListener::bind(&socket).unwrap();
    // The socket itself lets anyone in: only the directory stops `nobody`.
    fs::set_permissions(&socket, fs::Permissions::from_mode(0o777)).unwrap();

    let as_nobody = || as_nobody(&binary);
    let report = why_json(as_nobody(), &socket);
    assert_eq!(report["cause"], "socket-permission-denied", "{report}");
    assert_eq!(report["attempts"][0]["errno"], 13, "{report}");
    let facts = unix_evidence(&report);
    assert_eq!(facts["exists"], Value::Null, "{report}");
    let dir = &facts["closed_directory"];
    assert_eq!(dir["path"], closed.to_str().unwrap(), "{report}");
    assert_eq!(dir["mode"], "0700", "{report}");
    assert_eq!(dir["uid"], 0, "{report}");
    assert_eq!(dir["user"], "root", "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(
        summary.contains(&format!(
            "may not search directory {} (mode 0700, owner root)",
            closed.display()
        )),
        "{summary}"
    );
    let fixes = report["suggestions"].to_string();
    assert!(
        fixes.contains(&format!("sudo chmod o+x {}", closed.display())),
        "{fixes}"
    );

    // The human report says the same, cause first.
    let output = as_nobody().arg("why").arg(&socket).output().unwrap();
    assert_exit(&output, 1);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.starts_with("socket-permission-denied"), "{stdout}");
    assert!(
        !stdout.contains("not running"),
        "a live socket is not missing: {stdout}"
    );

    // Root may search it: the same socket is reachable.
    let output = Command::new(&binary)
        .arg("why")
        .arg(&socket)
        .output()
        .unwrap();
    assert_exit(&output, 0);
}

/// A socket reached through a link (a rootless Podman or Docker socket under `/run/user/UID`,
/// linked from a public place): the directory that stops `nobody` is the link target's, found
/// as the kernel walks the link, not the link's own, which anyone may search (audit h19); and
/// the root group is never the group to join.
#[test]
fn a_socket_behind_a_link_names_the_directory_the_link_leads_into() {
    let test = "a_socket_behind_a_link_names_the_directory_the_link_leads_into";
    if !Lab::root_or_skip(test) {
        return;
    }
    let scratch = Scratch::new("link-closed");
    let binary = binary_in(&scratch);
    let (private, public) = (scratch.join("private"), scratch.join("pub"));
    fs::create_dir(&private).unwrap();
    fs::create_dir(&public).unwrap();
    fs::set_permissions(&private, fs::Permissions::from_mode(0o700)).unwrap();
    fs::set_permissions(&public, fs::Permissions::from_mode(0o755)).unwrap();
    let socket = private.join("app.sock");
    let _live = UnixListener::bind(&socket).unwrap();
    fs::set_permissions(&socket, fs::Permissions::from_mode(0o666)).unwrap();
    let absolute = public.join("link-private.sock");
    std::os::unix::fs::symlink(&socket, &absolute).unwrap();
    let relative = public.join("relative.sock");
    std::os::unix::fs::symlink("../private/app.sock", &relative).unwrap();

    for link in [&absolute, &relative] {
        let report = why_json(as_nobody(&binary), link);
        assert_eq!(report["cause"], "socket-permission-denied", "{report}");
        let dir = &unix_evidence(&report)["closed_directory"];
        assert_eq!(dir["path"], private.to_str().unwrap(), "{report}");
        assert_eq!(dir["through_link"], link.to_str().unwrap(), "{report}");
        let summary = report["summary"].as_str().unwrap();
        assert!(
            summary.contains(&format!(
                "may not search directory {} (mode 0700, owner root), where the link {} leads",
                private.display(),
                link.display()
            )),
            "{summary}"
        );
        let fixes = report["suggestions"].to_string();
        assert!(
            fixes.contains(&format!("sudo chmod o+x {}", private.display()))
                && !fixes.contains(&public.display().to_string())
                && !fixes.contains("usermod"),
            "{fixes}"
        );
    }

    // A socket only root and its group `root` may write, in an open directory: run as root, or
    // a group of the service's own; never `usermod -aG root`.
    let open = scratch.join("rootgroup.sock");
    let _root_group = UnixListener::bind(&open).unwrap();
    fs::set_permissions(&open, fs::Permissions::from_mode(0o660)).unwrap();
    let report = why_json(as_nobody(&binary), &open);
    assert_eq!(report["cause"], "socket-permission-denied", "{report}");
    let fixes = report["suggestions"].to_string();
    assert!(
        !fixes.contains("usermod") && fixes.contains("a group of its own"),
        "{fixes}"
    );
}

/// A link to a stale socket: removing the link would leave the socket file, so the file named
/// is the one the link leads to.
#[test]
fn a_link_to_a_stale_socket_names_the_socket_file_to_remove() {
    let scratch = Scratch::new("link-stale");
    let socket = scratch.join("stale.sock");
    drop(UnixListener::bind(&socket).unwrap());
    let socket = fs::canonicalize(&socket).unwrap();
    fs::create_dir(scratch.join("pub")).unwrap();
    let link = scratch.join("pub/link-stale.sock");
    std::os::unix::fs::symlink("../stale.sock", &link).unwrap();

    let report = why_json(plain(), &link);
    assert_eq!(report["cause"], "socket-stale", "{report}");
    assert_eq!(
        unix_evidence(&report)["link_target"],
        socket.to_str().unwrap(),
        "{report}"
    );
    let summary = report["summary"].as_str().unwrap();
    assert!(
        summary.starts_with(&format!(
            "{} is a link to {}, a socket file, but no process listens on it",
            link.display(),
            socket.display()
        )),
        "{summary}"
    );
    let fixes = report["suggestions"].to_string();
    assert!(
        fixes.contains(&format!(
            "remove the socket file {} first (removing the link {} leaves it)",
            socket.display(),
            link.display()
        )),
        "{fixes}"
    );
}

/// A listener that does not accept (an overloaded php-fpm): its queue full, a connect fails at
/// once (`EAGAIN`); `check` says the queue is full, as `why` does, not "an unexpected error"
/// (audit h19).
#[test]
fn check_says_a_full_listen_queue_is_full() {
    let scratch = Scratch::new("full-queue");
    let path = scratch.join("full.sock");
    let listener = UnixListener::bind(&path).unwrap();
    // Backlog 0 queues one connection, which nobody accepts: the next finds the queue full.
    rustix::net::listen(&listener, 0).unwrap();
    let _queued = UnixStream::connect(&path).unwrap();

    let output = plain()
        .args(["check", "--json"])
        .arg(&path)
        .output()
        .unwrap();
    assert_exit(&output, 1);
    let line = json(&output);
    crate::schema::assert_valid(crate::schema::Schema::Check, &line);
    assert_eq!(line["reason"], "listen-queue-full", "{line}");
    assert_eq!(line["attempts"][0]["errno"], 11, "{line}");
    let summary = line["summary"].as_str().unwrap();
    assert!(
        summary.contains("its listen queue is full") && !summary.contains("unexpected"),
        "{summary}"
    );
    let output = plain().arg("check").arg(&path).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&format!(
            "connection not accepted by {} (its listen queue is full: the server does not accept connections fast enough)",
            path.display()
        )),
        "{stdout}"
    );
}

#[test]
fn a_socket_file_replaced_under_a_live_server_is_stale_and_names_the_server() {
    let scratch = Scratch::new("replaced");
    let path = scratch.join("app.sock");
    // The server binds and listens; then its file is deleted and a second instance binds the
    // path and exits, leaving its own file: the first still listens, on the deleted file.
    let server = UnixListener::bind(&path).unwrap();
    fs::remove_file(&path).unwrap();
    let second = UnixListener::bind(&path).unwrap();
    drop(second);

    let report = why_json(plain(), &path);
    assert_eq!(report["cause"], "socket-stale", "{report}");
    let facts = unix_evidence(&report);
    assert_eq!(facts["file_type"], "socket", "{report}");
    assert_eq!(facts["listening"], false, "{report}");
    let earlier = &facts["earlier_listeners"][0];
    assert_eq!(earlier["pid"], std::process::id(), "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(
        summary.contains("still listens on an earlier file of that name"),
        "{summary}"
    );
    assert!(
        report["suggestions"][0]
            .as_str()
            .unwrap()
            .starts_with("restart "),
        "{report}"
    );

    // A regular file put in its place: not a socket, and nothing said about listening.
    fs::remove_file(&path).unwrap();
    fs::write(&path, "").unwrap();
    let report = why_json(plain(), &path);
    assert_eq!(report["cause"], "socket-missing", "{report}");
    let facts = unix_evidence(&report);
    assert_eq!(facts["file_type"], "regular file", "{report}");
    assert_eq!(facts["listening"], Value::Null, "{report}");
    drop(server);

    // A socket file whose server is gone, with no other listener of that name.
    fs::remove_file(&path).unwrap();
    drop(UnixListener::bind(&path).unwrap());
    let report = why_json(plain(), &path);
    assert_eq!(report["cause"], "socket-stale", "{report}");
    assert_eq!(unix_evidence(&report)["listening"], false, "{report}");
    assert!(
        unix_evidence(&report).get("earlier_listeners").is_none(),
        "{report}"
    );
}

#[test]
fn a_live_socket_is_listened_on_by_its_own_file() {
    let scratch = Scratch::new("live");
    let path = scratch.join("app.sock");
    let _server = UnixListener::bind(&path).unwrap();
    let output = plain().args(["why", "--json"]).arg(&path).output().unwrap();
    let report = json(&output);
    assert_exit(&output, 0);
    assert_eq!(report["cause"], "reachable", "{report}");
    assert_eq!(unix_evidence(&report)["listening"], true, "{report}");
}

#[test]
fn a_datagram_socket_is_not_a_stream_server() {
    let scratch = Scratch::new("datagram");
    let path = scratch.join("log.sock");
    let _datagram = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    let report = why_json(plain(), &path);
    assert_eq!(report["cause"], "socket-missing", "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(summary.contains("socket of another type"), "{summary}");
}

#[test]
fn a_stale_socket_this_user_may_not_write_is_stale_not_permission_denied() {
    let test = "a_stale_socket_this_user_may_not_write_is_stale_not_permission_denied";
    if !Lab::root_or_skip(test) {
        return;
    }
    let scratch = Scratch::new("perm-stale");
    let binary = binary_in(&scratch);
    let path = scratch.join("permstale.sock");
    // A root server bound it, made it private, and exited: the file stays, nobody listens.
    drop(UnixListener::bind(&path).unwrap());
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();

    for (who, command) in [("nobody", as_nobody(&binary)), ("root", plain())] {
        let report = why_json(command, &path);
        assert_eq!(report["cause"], "socket-stale", "{who}: {report}");
        assert_eq!(
            unix_evidence(&report)["listening"],
            false,
            "{who}: {report}"
        );
        let summary = report["summary"].as_str().unwrap();
        assert!(
            summary.contains("no process listens on it"),
            "{who}: {summary}"
        );
        let fixes = report["suggestions"].to_string();
        assert!(!fixes.contains("run as root"), "{who}: {fixes}");
        assert!(fixes.contains("start the service again"), "{who}: {fixes}");
    }
    // Nobody's connect itself was denied: the attempt says so, and the summary too.
    let report = why_json(as_nobody(&binary), &path);
    assert_eq!(report["attempts"][0]["errno"], 13, "{report}");
    assert!(
        report["summary"]
            .as_str()
            .unwrap()
            .contains("its mode 0600 would not let this user connect"),
        "{report}"
    );

    // A live socket of that mode, with the same user: still permission denied.
    fs::remove_file(&path).unwrap();
    let _live = UnixListener::bind(&path).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    let report = why_json(as_nobody(&binary), &path);
    assert_eq!(report["cause"], "socket-permission-denied", "{report}");
    assert_eq!(unix_evidence(&report)["listening"], true, "{report}");
    assert!(
        report["suggestions"].to_string().contains("run as root"),
        "{report}"
    );
}

#[test]
fn check_names_what_the_path_is_for_a_user_who_may_not_write_it() {
    let test = "check_names_what_the_path_is_for_a_user_who_may_not_write_it";
    if !Lab::root_or_skip(test) {
        return;
    }
    let scratch = Scratch::new("not-a-socket-nobody");
    let binary = binary_in(&scratch);
    let dir = scratch.join("dir.sock");
    fs::create_dir(&dir).unwrap();
    let file = scratch.join("file.sock");
    fs::write(&file, "").unwrap();
    let fifo = scratch.join("fifo.sock");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());

    for (path, kind) in [(dir, "directory"), (file, "regular file"), (fifo, "fifo")] {
        let output = as_nobody(&binary).arg("check").arg(&path).output().unwrap();
        assert_exit(&output, 1);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.contains(&format!("{} is a {kind}, not a socket", path.display())),
            "{stdout}"
        );
        assert!(!stdout.contains("may not open"), "{stdout}");

        let output = as_nobody(&binary)
            .args(["check", "--json"])
            .arg(&path)
            .output()
            .unwrap();
        let report = json(&output);
        assert_eq!(report["state"], "down", "{report}");
        // What the path is proves the cause (`why`'s word); the attempt keeps the kernel's
        // answer: it denied this user before it looked for a socket.
        assert_eq!(report["reason"], "socket-missing", "{report}");
        assert_eq!(
            report["attempts"][0]["outcome"], "permission-denied",
            "{report}"
        );
        assert_eq!(report["attempts"][0]["errno"], 13, "{report}");

        let report = why_json(as_nobody(&binary), &path);
        assert_eq!(report["cause"], "socket-missing", "{report}");
    }
}

#[test]
fn check_says_a_missing_path_does_not_exist() {
    let scratch = Scratch::new("missing");
    let path = scratch.join("gone.sock");
    let output = plain().arg("check").arg(&path).output().unwrap();
    assert_exit(&output, 1);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&format!(
            "no socket at {} (the path does not exist)",
            path.display()
        )),
        "{stdout}"
    );

    let output = plain()
        .args(["check", "--json"])
        .arg(&path)
        .output()
        .unwrap();
    assert_exit(&output, 1);
    let report = json(&output);
    // The cause's word, as for a name that does not resolve; the attempt keeps the errno.
    assert_eq!(report["reason"], "socket-missing", "{report}");
    assert_eq!(report["attempts"][0]["outcome"], "other", "{report}");
    assert_eq!(report["attempts"][0]["errno"], 2, "{report}");

    let report = why_json(plain(), &path);
    assert_eq!(report["cause"], "socket-missing", "{report}");
}

/// PostgreSQL's socket, whose server says it is starting up (a fake of one socket: a real
/// server cannot be held in that state): `why` says not ready, as for its port, and `check` is
/// down, where a connect alone called it up.
#[test]
fn postgres_s_socket_that_is_starting_up_is_not_ready() {
    use std::io::{Read, Write};
    let scratch = refused_lab::Scratch::new("pg-socket-starting");
    let socket = scratch.path().join(".s.PGSQL.5432");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let body = "SFATAL\0C57P03\0Mthe database system is starting up\0\0";
    let mut reply = vec![b'E'];
    reply.extend_from_slice(&u32::try_from(body.len() + 4).unwrap().to_be_bytes());
    reply.extend_from_slice(body.as_bytes());
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(&reply);
        }
    });
    let target = format!("unix://{}", socket.display());
    let output = crate::common::refused()
        .args(["why", "--json", &target])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["cause"], "not-ready", "{report}");
    assert!(
        report["summary"]
            .as_str()
            .unwrap()
            .ends_with("the PostgreSQL server behind it is not ready: the database system is starting up (57P03)"),
        "{report}"
    );
    crate::schema::assert_valid(crate::schema::Schema::Why, &report);
    let output = crate::common::refused()
        .args(["check", &target])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
}

/// libpq's classic: the client looks for PostgreSQL's socket in one folder, the server (real,
/// Debian's) put it in another: the missing path is sent where a socket of its name listens.
#[test]
fn a_missing_postgres_socket_is_sent_to_the_folder_where_it_listens() {
    let test = "a_missing_postgres_socket_is_sent_to_the_folder_where_it_listens";
    if !refused_lab::require(test, &[refused_lab::Tool::Postgres]) {
        return;
    }
    let pg = refused_lab::servers::postgres().unwrap();
    let name = format!(".s.PGSQL.{}", pg.addr.port());
    let real = pg.dir().join(&name);
    // The server may take a moment to make its socket.
    let started = std::time::Instant::now();
    while !real.exists() && started.elapsed() < std::time::Duration::from_secs(20) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let scratch = Scratch::new("pg-socket-elsewhere");
    let asked = scratch.path().join(&name);
    let output = refused()
        .args(["why", "--json", &format!("unix://{}", asked.display())])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["cause"], "socket-missing", "{report}");
    assert!(
        report["summary"].as_str().unwrap().contains(&format!(
            "but a socket of that name listens at {}",
            real.display()
        )),
        "{report}"
    );
    assert!(
        report["suggestions"]
            .to_string()
            .contains(&format!("psql -h {}", pg.dir().display())),
        "{report}"
    );
    crate::schema::assert_valid(crate::schema::Schema::Why, &report);
}

/// A `postgres://` URL of a unix socket, as libpq reads one (`?host=/folder`, or the folder
/// percent-encoded as the host), reaches the real server's socket and asks it as PostgreSQL.
#[test]
fn postgres_urls_of_its_socket_folder_reach_the_socket() {
    let test = "postgres_urls_of_its_socket_folder_reach_the_socket";
    if !refused_lab::require(test, &[refused_lab::Tool::Postgres]) {
        return;
    }
    let pg = refused_lab::servers::postgres().unwrap();
    let (folder, port) = (pg.dir().display().to_string(), pg.addr.port());
    let encoded = folder.replace('/', "%2F");
    for target in [
        format!("postgres:///postgres?host={folder}&port={port}"),
        format!("postgresql://postgres@{encoded}:{port}/postgres"),
    ] {
        let output = refused()
            .args(["wait", "--timeout", "20s", &target])
            .output()
            .unwrap();
        assert_exit(&output, 0);
        let output = refused().args(["check", &target]).output().unwrap();
        assert_exit(&output, 0);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.contains("accepting connections"),
            "{target}: {stdout}"
        );
    }
}

/// requests-unixsocket's `http+unix://` (an app's API on a socket, Docker's `/_ping`) gets an
/// HTTP request, with `Host: localhost` as curl's `--unix-socket` sends, not only a connect:
/// `check` says the status, and `why` names an HTTP server that answers 503 as not ready (both
/// said "accepts connections").
#[test]
fn an_http_unix_target_is_asked_over_http() {
    use std::io::{BufRead, BufReader, Write};
    let scratch = Scratch::new("http-unix");
    let path = scratch.join("app.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let (hosts, seen) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(&stream);
            let mut head = Vec::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push(line.trim_end().to_owned());
            }
            let ping = head.first().is_some_and(|l| l.starts_with("GET /_ping "));
            if let Some(host) = head.iter().find_map(|l| l.strip_prefix("host: ")) {
                let _ = hosts.send(host.to_owned());
            }
            let status = if ping {
                "200 OK"
            } else {
                "503 Service Unavailable"
            };
            let _ = (&stream).write_all(
                format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .as_bytes(),
            );
        }
    });
    let encoded = path.display().to_string().replace('/', "%2F");

    let ping = format!("http+unix://{encoded}/_ping");
    let output = refused().args(["check", &ping]).output().unwrap();
    assert_exit(&output, 0);
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(said.contains("HTTP 200 OK"), "{said}");
    assert_eq!(seen.recv().unwrap(), "localhost");

    let health = format!("http+unix://{encoded}/health");
    let output = refused().args(["why", "--json", &health]).output().unwrap();
    assert_exit(&output, 1);
    let report = json(&output);
    assert_eq!(report["cause"], "not-ready", "{report}");
    assert!(
        report["summary"]
            .as_str()
            .unwrap()
            .contains("the HTTP server behind it is not ready: HTTP 503"),
        "{report}"
    );
}
