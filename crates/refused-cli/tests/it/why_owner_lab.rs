//! `refused why` where its own attempt and the user's program are treated apart: a rule of the
//! output path that matches the socket's owner (iptables' `-m owner`, nft's `meta skuid` /
//! `skgid`, iptables-legacy's), and a name whose addresses one listener takes only one of
//! (`localhost` with a server on `[::1]`). Each connects for `refused why` and fails for
//! someone else: the report says so in a warning. Ports 42100-42199 are this file's.

use std::net::SocketAddr;

use refused_lab::{Lab, ListenSpec};
use serde_json::Value;

use crate::why_lab::{REFUSED, diagnosis, evidence, listen_on_client, why_alone as why};

/// `refused why --json TARGET` in the client namespace as uid and gid 65534 (`nobody`).
fn why_as_nobody(lab: &Lab, target: &str) -> Value {
    let mut as_nobody = lab.client.command_alone("setpriv");
    as_nobody.args(["--reuid=65534", "--regid=65534", "--clear-groups", REFUSED]);
    diagnosis(as_nobody, &["--timeout", "2s", target])
}

/// The one warning of a reachable report.
fn warning(report: &Value) -> &str {
    assert_eq!(report["cause"], "reachable", "{report}");
    let warnings = report["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{report}");
    warnings[0].as_str().unwrap()
}

fn names_rule(report: &Value, needle: &str) -> bool {
    evidence(report, "firewall-rule")
        .iter()
        .any(|rule| rule["rule"].as_str().unwrap().contains(needle))
}

/// The user's name for uid 65534, as `/etc/passwd` has it (`nobody` on Debian).
fn nobody() -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    passwd
        .lines()
        .find(|l| l.split(':').nth(2) == Some("65534"))
        .and_then(|l| l.split(':').next())
        .unwrap()
        .to_owned()
}

#[test]
fn a_rule_for_another_users_programs_is_a_warning_when_root_connects() {
    let Some(lab) =
        Lab::or_skip("a_rule_for_another_users_programs_is_a_warning_when_root_connects")
    else {
        return;
    };
    let c = &lab.client;
    let _app = listen_on_client(&lab, "127.0.0.1:42100".parse().unwrap());
    let _other = listen_on_client(&lab, "127.0.0.1:42101".parse().unwrap());
    c.iptables(&[
        "-A",
        "OUTPUT",
        "-p",
        "tcp",
        "--dport",
        "42100",
        "-m",
        "owner",
        "--uid-owner",
        "65534",
        "-j",
        "REJECT",
        "--reject-with",
        "tcp-reset",
    ])
    .unwrap();
    c.nft(
        "table inet owners {\n  chain output {\n    type filter hook output priority 0;\n    \
         meta skgid 65534 tcp dport 42101 drop\n  }\n}\n",
    )
    .unwrap();

    // The user's side: nobody's connect is refused at once, and the rules are not readable.
    let report = why_as_nobody(&lab, "127.0.0.1:42100");
    assert_eq!(report["attempts"][0]["outcome"], "refused", "{report}");
    assert_eq!(report["cause"], "blocked-locally", "{report}");

    // Root's side: it connects, and the rule that refuses nobody is named, with its fix.
    let report = why(&lab, &["127.0.0.1:42100"]);
    let said = warning(&report);
    let rejects = format!(
        "rejects connections to 127.0.0.1:42100 from programs of uid 65534 ({})",
        nobody()
    );
    for needle in [
        rejects.as_str(),
        "`tcp dport 42100 skuid 65534 reject with tcp reset` (table `ip filter`, chain `OUTPUT`)",
        "this check ran as root",
        "`iptables -D OUTPUT 1`",
    ] {
        assert!(said.contains(needle), "{needle}: {report}");
    }
    assert!(names_rule(&report, "skuid 65534"), "{report}");

    // nft's `meta skgid`: nobody's group's programs time out.
    let report = why(&lab, &["127.0.0.1:42101"]);
    let said = warning(&report);
    assert!(
        said.contains("drops connections to 127.0.0.1:42101 from programs of gid 65534"),
        "{report}"
    );
    assert!(
        said.contains("`meta skgid 65534 tcp dport 42101 drop`"),
        "{report}"
    );
    assert!(
        said.contains("nft delete rule inet owners output handle"),
        "{report}"
    );

    // A port no owner rule names has no warning.
    let _plain = listen_on_client(&lab, "127.0.0.1:42103".parse().unwrap());
    let report = why(&lab, &["127.0.0.1:42103"]);
    assert_eq!(report["warnings"], serde_json::json!([]), "{report}");
}

#[test]
fn a_rule_for_everyone_but_root_names_the_user_who_ran_sudo() {
    let Some(lab) = Lab::or_skip("a_rule_for_everyone_but_root_names_the_user_who_ran_sudo") else {
        return;
    };
    let c = &lab.client;
    let _app = listen_on_client(&lab, "127.0.0.1:42102".parse().unwrap());
    c.iptables(&[
        "-A",
        "OUTPUT",
        "-p",
        "tcp",
        "--dport",
        "42102",
        "-m",
        "owner",
        "!",
        "--uid-owner",
        "0",
        "-j",
        "REJECT",
        "--reject-with",
        "tcp-reset",
    ])
    .unwrap();
    // `! --uid-owner 0` names no one but root: without `sudo`'s word, no one is asked about.
    let report = why(&lab, &["127.0.0.1:42102"]);
    assert_eq!(report["warnings"], serde_json::json!([]), "{report}");
    // Run through `sudo` by uid 65534: that user's programs are refused.
    let mut sudo = c.command_alone(REFUSED);
    sudo.env("SUDO_UID", "65534");
    let report = diagnosis(sudo, &["--timeout", "5s", "127.0.0.1:42102"]);
    let said = warning(&report);
    assert!(
        said.contains(&format!("programs of uid 65534 ({})", nobody())),
        "{report}"
    );
    assert!(said.contains("`tcp dport 42102 skuid != 0"), "{report}");
    assert!(names_rule(&report, "skuid != 0"), "{report}");
}

#[test]
fn an_iptables_legacy_owner_rule_is_a_warning_when_root_connects() {
    let Some(lab) = Lab::or_skip("an_iptables_legacy_owner_rule_is_a_warning_when_root_connects")
    else {
        return;
    };
    let c = &lab.client;
    c.use_legacy_iptables().unwrap();
    let _app = listen_on_client(&lab, "127.0.0.1:42110".parse().unwrap());
    c.iptables(&[
        "-A",
        "OUTPUT",
        "-p",
        "tcp",
        "--dport",
        "42110",
        "-m",
        "owner",
        "--uid-owner",
        "65534",
        "-j",
        "DROP",
    ])
    .unwrap();
    let report = why(&lab, &["127.0.0.1:42110"]);
    let said = warning(&report);
    assert!(
        said.contains("drops connections to 127.0.0.1:42110 from programs of uid 65534"),
        "{report}"
    );
    assert!(said.contains("`iptables-legacy -D OUTPUT 1`"), "{report}");
    assert!(said.contains("their programs time out"), "{report}");
}

#[test]
fn localhost_with_one_family_refused_is_a_warning_naming_the_listener() {
    let Some(lab) =
        Lab::or_skip("localhost_with_one_family_refused_is_a_warning_naming_the_listener")
    else {
        return;
    };
    lab.client
        .write_etc("hosts", "::1 localhost\n127.0.0.1 localhost\n")
        .unwrap();
    // A server on [::1] only: ::1 connects, 127.0.0.1 is refused.
    let _v6 = listen_on_client(&lab, "[::1]:42120".parse().unwrap());
    let report = why(&lab, &["localhost:42120"]);
    let attempts = report["attempts"].as_array().unwrap();
    assert_eq!(attempts[0]["outcome"], "connected", "{report}");
    assert_eq!(attempts[1]["outcome"], "refused", "{report}");
    let said = warning(&report);
    for needle in [
        "`localhost` also gives 127.0.0.1, and 127.0.0.1:42120 was refused",
        "listens on [::1]:42120 (IPv6 only)",
        "connect to [::1]:42120 instead",
    ] {
        assert!(said.contains(needle), "{needle}: {report}");
    }
    // On `[::]` with IPV6_V6ONLY: the option is named.
    let addr: SocketAddr = "[::]:42121".parse().unwrap();
    let _dual = lab
        .client
        .run(|| ListenSpec::new(addr).v6only(true).listen())
        .unwrap()
        .unwrap();
    let said = warning(&why(&lab, &["localhost:42121"])).to_owned();
    assert!(said.contains("127.0.0.1:42121 was refused"), "{said}");
    assert!(said.contains("IPV6_V6ONLY"), "{said}");
    // Both families taken: no warning.
    let dual: SocketAddr = "[::]:42122".parse().unwrap();
    let _both = lab
        .client
        .run(|| ListenSpec::new(dual).v6only(false).listen())
        .unwrap()
        .unwrap();
    let report = why(&lab, &["localhost:42122"]);
    assert_eq!(report["warnings"], serde_json::json!([]), "{report}");
}
