//! `refused why` at the server's end of a real `ssh -R` (OpenSSH's sshd in the lab's server,
//! ssh in its client): sshd listens for the session and closes each connection a round trip
//! later when the client's side refuses. Not `reachable`, and not "wait for it": the session's
//! other end, which cannot be tried from here.

use std::process::Command;
use std::time::{Duration, Instant};

use refused_lab::{Lab, SERVER_V4, Scratch, Tool};

use crate::why_lab::{REFUSED, cause, diagnosis};

/// sshd in the lab's server on its port 22, for key logins as root; ssh in the client with
/// `-R 127.0.0.1:port:127.0.0.1:to` (nothing listens on `to` in the client). Returns when
/// the server listens on `port`.
fn remote_forward(lab: &Lab, dir: &Scratch, port: u16, to: u16) {
    let path = |name: &str| dir.path().join(name).display().to_string();
    for key in ["host_key", "client_key"] {
        let made = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f", &path(key)])
            .status()
            .unwrap();
        assert!(made.success());
    }
    std::fs::copy(path("client_key.pub"), path("authorized_keys")).unwrap();
    std::fs::write(
        path("sshd_config"),
        format!(
            "ListenAddress {SERVER_V4}\nHostKey {}\nAuthorizedKeysFile {}\nPidFile {}\nUsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\n",
            path("host_key"),
            path("authorized_keys"),
            path("sshd.pid")
        ),
    )
    .unwrap();
    // sshd's privilege separation folder, which Debian's service makes at its start.
    std::fs::create_dir_all("/run/sshd").unwrap();
    let sshd = Tool::Sshd.path().unwrap();
    let sshd = sshd.to_str().unwrap();
    lab.server
        .spawn(
            sshd,
            &["-D", "-f", &path("sshd_config"), "-E", &path("sshd.log")],
        )
        .unwrap();
    let target = format!("{SERVER_V4}:22");
    let up = lab
        .client
        .command(REFUSED)
        .args(["wait", "--quiet", "--timeout", "10s", &target])
        .status()
        .unwrap();
    assert!(
        up.success(),
        "sshd did not start: {:?}",
        std::fs::read_to_string(path("sshd.log"))
    );
    let forward = format!("127.0.0.1:{port}:127.0.0.1:{to}");
    #[rustfmt::skip]
    let args = [
        "-N", "-i", &path("client_key"), "-o", "StrictHostKeyChecking=no",
        "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
        "-o", "ExitOnForwardFailure=yes", "-R", &forward, &format!("root@{SERVER_V4}"),
    ];
    lab.client.spawn("ssh", &args).unwrap();
    let listening = format!("127.0.0.1:{port} ");
    let start = Instant::now();
    loop {
        let table = lab.server.exec("ss", &["-ltn"]).unwrap();
        if String::from_utf8_lossy(&table.stdout).contains(&listening) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "ssh -R did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `ssh -R 7051:127.0.0.1:7052` whose target refuses on the client's side: asked as plain TCP
/// and as `http://` on the server, the session's other end is named (sshd's title gives its
/// user), with where to look; plain TCP read `reachable` (sshd closes after the 5 ms settle).
#[test]
fn an_ssh_remote_forward_to_nothing_is_the_sessions_other_end() {
    let test = "an_ssh_remote_forward_to_nothing_is_the_sessions_other_end";
    let Some(lab) = Lab::or_skip_needing(test, &[Tool::Sshd]) else {
        return;
    };
    let dir = Scratch::new("ssh-tunnel");
    remote_forward(&lab, &dir, 7051, 7052);
    for target in ["127.0.0.1:7051", "http://127.0.0.1:7051/"] {
        let report = diagnosis(lab.server.command(REFUSED), &["--timeout", "5s", target]);
        assert_eq!(cause(&report), "not-ready", "{report}");
        let summary = report["summary"].as_str().unwrap();
        assert!(
            summary.ends_with("forwards it to the client's side of `root`'s ssh session (`ssh -R`), which the ssh client connects to on its own machine: it cannot be tried from here"),
            "{report}"
        );
        let fix = report["suggestions"][0].as_str().unwrap();
        assert!(
            fix.starts_with("sshd forwards port 7051 back through an ssh session of `root`"),
            "{report}"
        );
    }
}
