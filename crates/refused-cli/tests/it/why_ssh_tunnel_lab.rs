//! `refused why` at the server's end of a real `ssh -R` (OpenSSH's sshd in the lab's server,
//! ssh in its client): sshd listens for the session and closes each connection a round trip
//! later when the client's side refuses. Not `reachable`, and not "wait for it": the session's
//! other end, which cannot be tried from here.

use std::process::Command;
use std::time::{Duration, Instant};

use refused_lab::{Lab, SERVER_V4, Scratch, Tool};

use crate::why_lab::{REFUSED, cause, diagnosis};

/// `refused why --json http://missing.lab.test/` in the lab's client with `all_proxy` set to
/// `proxy`.
pub(crate) fn why_through(lab: &Lab, proxy: &str) -> serde_json::Value {
    let output = lab
        .client
        .command(REFUSED)
        .env("all_proxy", proxy)
        .args(["why", "--json", "http://missing.lab.test/"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    crate::schema::assert_valid(crate::schema::Schema::Why, &report);
    report
}

/// sshd in the lab's server on its port 22, for key logins as root, and ssh in the client with
/// `args` (`-R ...`, `-D ...`) logged in there.
fn ssh_to_server(lab: &Lab, dir: &Scratch, args: &[&str]) {
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
    let key = path("client_key");
    let login = format!("root@{SERVER_V4}");
    #[rustfmt::skip]
    let mut all = vec![
        "-N", "-i", &key, "-o", "StrictHostKeyChecking=no",
        "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
        "-o", "ExitOnForwardFailure=yes",
    ];
    all.extend_from_slice(args);
    all.push(&login);
    lab.client.spawn("ssh", &all).unwrap();
}

/// Waits until `netns` listens on `listening` (`127.0.0.1:7051`).
fn until_listening(netns: &refused_lab::Netns, listening: &str) {
    let listening = format!("{listening} ");
    let start = Instant::now();
    loop {
        let table = netns.exec("ss", &["-ltn"]).unwrap();
        if String::from_utf8_lossy(&table.stdout).contains(&listening) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "ssh did not listen on {listening}"
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
    ssh_to_server(&lab, &dir, &["-R", "127.0.0.1:7051:127.0.0.1:7052"]);
    until_listening(&lab.server, "127.0.0.1:7051");
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

/// `all_proxy=socks5h://` at a real SOCKS5 proxy (`ssh -D`): it takes clients without a
/// password and looks the name up itself, so this host's failed lookup (NXDOMAIN from the lab's
/// resolver) is not what the client meets: the proxy's answer, the lookup a warning. curl got a
/// 200 through such a proxy where `why` said `dns-not-found`.
#[test]
fn a_socks5h_proxy_looks_the_name_up_itself() {
    let test = "a_socks5h_proxy_looks_the_name_up_itself";
    let Some(lab) = Lab::or_skip_needing(test, &[Tool::Sshd, Tool::Dnsmasq]) else {
        return;
    };
    let _names = lab.half_working_names().unwrap();
    let dir = Scratch::new("ssh-socks");
    ssh_to_server(&lab, &dir, &["-D", "127.0.0.1:7061"]);
    until_listening(&lab.client, "127.0.0.1:7061");
    let report = why_through(&lab, "socks5h://127.0.0.1:7061");
    assert_eq!(cause(&report), "reachable", "{report}");
    assert_eq!(report["proxy"]["diagnosed"], "proxy", "{report}");
    assert!(
        report["summary"]
            .as_str()
            .unwrap()
            .contains("speaks SOCKS5 without a password and looks the name up itself"),
        "{report}"
    );
    let warning = report["warnings"][0].as_str().unwrap();
    assert!(
        warning.starts_with("this host cannot look the name up (dns-not-found"),
        "{report}"
    );
}
