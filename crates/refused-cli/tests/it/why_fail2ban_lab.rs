//! `refused why` where fail2ban banned the client, with fail2ban's own server and actions (its
//! Debian default, `iptables-multiport`: a chain `f2b-JAIL` whose rule rejects the banned
//! address with an ICMP port-unreachable, "Connection refused" to ssh). The fix is fail2ban's
//! unban, not the rule's deletion, which would leave its list behind.

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use refused_lab::{CLIENT_V4, Lab, ListenSpec, Netns, Scratch, Tool};

use crate::why_lab::{cause, why, why_alone};

/// fail2ban's server in `netns` with one jail, `sshd` on port 22, reading an empty log of its
/// own (nothing bans but the test), in the foreground (the namespace's drop ends it). Returns
/// its configuration folder and socket, for `fail2ban-client`.
fn fail2ban(netns: &Netns, dir: &Scratch) -> Vec<String> {
    let conf = dir.path().join("conf");
    let copied = Command::new("cp")
        .args(["-a", "/etc/fail2ban"])
        .arg(&conf)
        .status()
        .unwrap();
    assert!(copied.success());
    let _ = std::fs::remove_dir_all(conf.join("jail.d"));
    let (log, socket) = (dir.path().join("auth.log"), dir.path().join("f2b.sock"));
    std::fs::write(&log, "").unwrap();
    std::fs::write(
        conf.join("fail2ban.local"),
        format!(
            "[Definition]\nlogtarget = {}\nsocket = {}\npidfile = {}\ndbfile = :memory:\n",
            dir.path().join("f2b.log").display(),
            socket.display(),
            dir.path().join("f2b.pid").display()
        ),
    )
    .unwrap();
    std::fs::write(
        conf.join("jail.local"),
        format!(
            "[DEFAULT]\nbackend = polling\n[sshd]\nenabled = true\nport = 22\nlogpath = {}\n",
            log.display()
        ),
    )
    .unwrap();
    let (conf, socket) = (conf.display().to_string(), socket.display().to_string());
    netns
        .spawn("fail2ban-server", &["-f", "-x", "-c", &conf, "-s", &socket])
        .unwrap();
    let client = vec!["-c".to_owned(), conf, "-s".to_owned(), socket];
    let start = Instant::now();
    while f2b(netns, &client, &["ping"]).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "fail2ban did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    client
}

/// `fail2ban-client` of the server `client` names, with `args`.
fn f2b(netns: &Netns, client: &[String], args: &[&str]) -> Result<(), refused_lab::LabError> {
    let mut all: Vec<&str> = client.iter().map(String::as_str).collect();
    all.extend_from_slice(args);
    netns.exec("fail2ban-client", &all).map(drop)
}

/// The client banned in the server's jail `sshd`, something listening on port 22 there: the
/// ban is named as fail2ban's, with its unban; from a machine of its own, where the server's
/// rules cannot be read, the reject's fix says fail2ban may have banned it.
#[test]
fn a_fail2ban_ban_is_named_with_its_unban() {
    let test = "a_fail2ban_ban_is_named_with_its_unban";
    let Some(lab) = Lab::or_skip_needing(test, &[Tool::Fail2ban, Tool::Iptables]) else {
        return;
    };
    let dir = Scratch::new("fail2ban");
    let client = fail2ban(&lab.server, &dir);
    let client_ip = CLIENT_V4.to_string();
    f2b(&lab.server, &client, &["set", "sshd", "banip", &client_ip]).unwrap();
    let own = crate::why_hosts_lab::server_only_address(&lab);
    let addr = SocketAddr::from((own, 22));
    let _listener = lab
        .server
        .run(|| ListenSpec::new(addr).listen())
        .unwrap()
        .unwrap();

    let report = why(&lab, &[&addr.to_string()]);
    assert_eq!(cause(&report), "blocked-locally", "{report}");
    assert!(
        report["summary"]
            .as_str()
            .unwrap()
            .contains("chain `f2b-sshd`"),
        "{report}"
    );
    let fix = report["suggestions"][0].as_str().unwrap();
    assert!(
        fix.starts_with("fail2ban banned this client's address in its jail `sshd`"),
        "{report}"
    );
    assert!(
        fix.contains(&format!("fail2ban-client set sshd unbanip {CLIENT_V4}`")),
        "{report}"
    );

    let remote = why_alone(&lab, &[&addr.to_string()]);
    assert_eq!(cause(&remote), "rejected", "{remote}");
    let said = remote["suggestions"].to_string();
    assert!(
        said.contains("fail2ban-client set JAIL unbanip THIS-ADDRESS"),
        "{remote}"
    );
}
