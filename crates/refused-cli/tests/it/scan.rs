//! `refused scan`: usage errors on this host, output and JSON in the lab.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};

use refused_lab::{Lab, ListenSpec, SERVER_V4, Tool};
use serde_json::Value;

use crate::common::refused;

#[test]
fn bad_ports_and_hosts_are_usage_errors_naming_the_bad_part() {
    for (args, needle) in [
        (vec!["scan", "127.0.0.1", "-p", "80,http"], "`http`"),
        (vec!["scan", "127.0.0.1", "-p", "90-80"], "`90-80`"),
        (vec!["scan", "10.0.0.0/16"], "`--force`"),
        (vec!["scan", "10.0.0.0/40"], "`/40`"),
        (vec!["scan", "not a host"], "`not a host`"),
        (vec!["scan", "127.0.0.1", "--concurrency", "0"], "0"),
        // Loopback addresses: were a check missing, the scan would still stay on this host.
        (
            vec!["scan", "127.0.0.73-10"],
            "`10` is not a last octet from 73 to 255",
        ),
        (
            vec!["scan", "127.0-3.0.1"],
            "`127.0` is not an IPv4 address",
        ),
        (vec!["scan", "127.0.0.300"], "`127.0.0.300`"),
        (vec!["scan", "127.0.0.0/8", "--force"], "at most 65536"),
        (
            vec!["scan", "127.1.0.0/16", "127.2.0.0/16", "--force", "-p", "1"],
            "more than 65536 addresses, the most a scan takes (at `127.2.0.0/16`)",
        ),
        (
            vec!["scan", "127.1.0.0/23", "--force"],
            "512 addresses of 65535 ports is more than the 16777216 probes",
        ),
        (
            vec!["scan", "--hosts-file", "/nonexistent/hosts"],
            "cannot read `/nonexistent/hosts`: No such file",
        ),
        (vec!["scan"], "<HOST>"),
    ] {
        let output = refused().args(&args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

#[test]
fn a_bad_host_in_a_hosts_file_names_the_file_and_the_line() {
    let dir = refused_lab::Scratch::new("scan-hosts");
    let file = dir.file("hosts.txt", "127.0.0.1 # fine\n127.0.0.2\n127.0.0.9-3\n");
    let output = refused()
        .args(["scan", "-p", "1", "--hosts-file"])
        .arg(&file)
        .output()
        .unwrap();
    crate::common::assert_exit(&output, 2);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains(&format!(
            "`{}` line 3: invalid host `127.0.0.9-3`",
            file.display()
        )),
        "{stderr}"
    );

    let output = refused()
        .args(["scan", "-p", "1", "--hosts-file", "-"])
        .write_stdin("# nothing here\n\n")
        .output()
        .unwrap();
    crate::common::assert_exit(&output, 2);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("standard input names no host"), "{stderr}");
}

#[test]
fn ranges_blocks_and_a_hosts_file_on_stdin_are_scanned_once_each_in_order() {
    // Bound to 127.0.0.1 only: open there, closed on the other loopback addresses.
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let output = refused()
        .args(["scan", "127.0.0.1-3", "127.0.0.2/31", "-p", &port, "--json"])
        .args(["--hosts-file", "-"])
        .write_stdin("# more\n127.0.0.5 127.0.0.1\n127.0.0.6-7 # a range\n")
        .output()
        .unwrap();
    crate::common::assert_exit(&output, 0);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let hosts = report["hosts"].as_array().unwrap();
    let addresses: Vec<&str> = hosts
        .iter()
        .map(|h| h["address"].as_str().unwrap())
        .collect();
    assert_eq!(
        addresses,
        [
            "127.0.0.1",
            "127.0.0.2",
            "127.0.0.3",
            "127.0.0.5",
            "127.0.0.6",
            "127.0.0.7"
        ]
    );
    assert_eq!(hosts[0]["open"][0]["port"].to_string(), port);
    for host in &hosts[1..] {
        assert_eq!(host["counts"]["closed"], 1, "{host}");
    }
}

#[test]
fn our_own_open_port_shows_with_this_process() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let output = refused()
        .args(["scan", "127.0.0.1", "-p", &port, "--json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let open = &report["hosts"][0]["open"][0];
    assert_eq!(open["port"].to_string(), port);
    assert_eq!(open["pid"], std::process::id());
}

#[test]
fn a_remote_scan_lists_states_reasons_and_counts() {
    let Some(lab) = Lab::or_skip_needing(
        "a_remote_scan_lists_states_reasons_and_counts",
        &[Tool::Nft],
    ) else {
        return;
    };
    let _open = lab
        .server
        .run(|| ListenSpec::new(SocketAddr::from((SERVER_V4, 7005))).listen())
        .unwrap()
        .unwrap();
    lab.server
        .filter(
            "input",
            &[
                "tcp dport 7007 drop",
                "tcp dport 7008 reject with icmp type host-prohibited",
            ],
        )
        .unwrap();
    let scan = |args: &[&str]| {
        lab.client
            .command(env!("CARGO_BIN_EXE_refused"))
            .env("NO_COLOR", "1")
            .args(["scan", "10.77.0.2", "-p", "7000-7010", "--timeout", "300ms"])
            .args(args)
            .output()
            .unwrap()
    };
    let output = scan(&["--all"]);
    insta::with_settings!({ filters => vec![(r"in \d+(\.\d+)? (ms|s)", "in [TIME]")] }, {
        insta::assert_snapshot!("scan_remote_all", crate::common::render(&output));
    });

    let output = scan(&["--json"]);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let host = &report["hosts"][0];
    assert_eq!(host["counts"]["open"], 1);
    assert_eq!(host["counts"]["filtered"], 2);
    assert_eq!(host["counts"]["closed"], 8);
    assert_eq!(host["open"][0]["port"], 7005);
    assert!(host.get("ports").is_none(), "every port only with --all");

    let output = scan(&["--json", "--stream", "--all"]);
    let lines: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 12, "11 ports, then the summary");
    assert_eq!(lines[11]["kind"], "summary");
    let filtered: Vec<&Value> = lines[..11]
        .iter()
        .filter(|l| l["state"] == "filtered")
        .collect();
    assert_eq!(filtered.len(), 2);
}

#[test]
fn a_low_open_file_limit_slows_a_scan_but_never_fails_it() {
    let Some(lab) = Lab::or_skip_needing(
        "a_low_open_file_limit_slows_a_scan_but_never_fails_it",
        &[Tool::Nft],
    ) else {
        return;
    };
    lab.server
        .filter("input", &["tcp dport 7000-7299 drop"])
        .unwrap();
    // 300 silent ports, each holding a descriptor until its timeout, with 128 descriptors.
    let script = format!(
        "ulimit -n 128 && exec {} scan 10.77.0.2 -p 7000-7399 --timeout 200ms --json",
        env!("CARGO_BIN_EXE_refused")
    );
    let output = lab
        .client
        .command("sh")
        .args(["-c", &script])
        .output()
        .unwrap();
    crate::common::assert_exit(&output, 0);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let host = &report["hosts"][0];
    assert_eq!(host["counts"]["filtered"], 300, "{report}");
    assert_eq!(host["counts"]["closed"], 100, "{report}");
    assert!(report["max_in_flight"].as_u64().unwrap() <= 128, "{report}");
}

#[test]
fn a_closed_pipe_ends_a_streamed_scan_quietly() {
    use std::io::BufRead;
    // `refused scan 127.0.0.1 --json --stream --all | head -1`: the reader leaves after a line.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_refused"))
        .args([
            "scan",
            "127.0.0.1",
            "--json",
            "--stream",
            "--all",
            "-p",
            "1-65535",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let line: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(line["address"], "127.0.0.1");
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "",
        "a closed pipe is no error"
    );
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn one_port_is_one_port() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let output = refused()
        .args(["scan", "127.0.0.1", "-p", &port])
        .output()
        .unwrap();
    crate::common::assert_exit(&output, 0);
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.starts_with("127.0.0.1  1 port in "), "{stdout}");
}
