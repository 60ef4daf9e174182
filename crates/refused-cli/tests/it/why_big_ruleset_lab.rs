//! `refused why --json` on a host whose iptables ruleset is big (a Kubernetes node's: kube-proxy
//! in iptables mode), which is read by parts (`iptables-nft-save` for iptables' tables): the
//! answers are those of the same rules read from nft's JSON, on a host with few rules. The
//! padding crosses `firewall::BIG`. Ports 46300-46399 are this file's.

use std::io::Write;
use std::net::Ipv4Addr;
use std::process::Stdio;

use refused::internals::firewall;
use refused_lab::{CLIENT_V4, Lab};
use serde_json::Value;

use crate::why_lab::{blocked_by, why};

/// The client's rules, as iptables-save prints them: a REJECT in OUTPUT, a DNAT of one of its
/// ports to an address of the server's, `SERVER_ONLY` (where nothing listens), and kube-proxy's
/// chains for a service without endpoints (its REJECT) and for one whose endpoint is the server
/// (its DNAT, `-p tcp -m tcp` with no option), as kube-proxy writes them.
const RULES: &str = r#"*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
-A OUTPUT -p tcp -m tcp --dport 46371 -j REJECT --reject-with tcp-reset
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment "default/web:http has no endpoints" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-API - [0:0]
:KUBE-SEP-API - [0:0]
-A OUTPUT -d 10.77.0.1/32 -p tcp -m tcp --dport 46372 -j DNAT --to-destination SERVER_ONLY:46390
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-SERVICES -d 10.96.0.11/32 -p tcp -m comment --comment "default/api:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-API
-A KUBE-SVC-API -m comment --comment "default/api:http -> SERVER_ONLY:46391" -j KUBE-SEP-API
-A KUBE-SEP-API -p tcp -m comment --comment "default/api:http" -m tcp -j DNAT --to-destination SERVER_ONLY:46391
COMMIT
"#;

/// `iptables-restore ARGS` of `text` in the client.
fn restore(lab: &Lab, args: &[&str], text: &str) {
    let mut restore = lab.client.command("iptables-restore");
    restore.args(args).stdin(Stdio::piped());
    let mut child = restore.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
}

/// kube-proxy's REJECTs for `count` more services without endpoints, after the one asked about
/// (which keeps its position).
fn padding(count: usize) -> String {
    let rules: Vec<String> = (0..count)
        .map(|n| {
            let (hi, lo) = (n / 250, n % 250 + 1);
            format!(
                "-A KUBE-SERVICES -d 10.97.{hi}.{lo}/32 -p tcp -m comment --comment \"pad/svc-{n}:http has no endpoints\" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable\n"
            )
        })
        .collect();
    let text = format!("*filter\n{}", rules.concat());
    text + "COMMIT\n"
}

/// What must not change when the rules are read by parts: the cause, the evidence (but the
/// rule's text and nft's handle), the suggestions, and the summary with the rule's text left
/// out.
fn answer(report: &Value) -> Value {
    let mut answer = report.clone();
    let mut summary = report["summary"].as_str().unwrap().to_owned();
    for evidence in answer["evidence"].as_array_mut().unwrap() {
        if let Some(rule) = evidence.get("rule").and_then(Value::as_str) {
            summary = summary.replace(rule, "RULE");
        }
        let evidence = evidence.as_object_mut().unwrap();
        evidence.remove("rule");
        evidence.remove("handle");
    }
    let answer = answer.as_object_mut().unwrap();
    answer.insert("summary".to_owned(), summary.into());
    for varies in ["attempts", "elapsed_ms"] {
        answer.remove(varies);
    }
    Value::Object(answer.clone())
}

/// The client's [`RULES`], their DNATs to an address of the server's alone (other tests'
/// servers hold 10.77.0.2 too), which it returns, and nothing listening there.
fn with_rules(lab: &Lab) -> Ipv4Addr {
    let own = crate::why_hosts_lab::server_only_address(lab);
    restore(lab, &[], &RULES.replace("SERVER_ONLY", &own.to_string()));
    // The service range is routed to the lab's link (the REJECT comes before it is used).
    lab.client
        .ip(&["route", "add", "10.96.0.0/12", "dev", "eth0"])
        .unwrap();
    own
}

/// The kinds of a report's evidence.
fn kinds(report: &Value) -> Vec<String> {
    report["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_big_ruleset_read_by_parts_gives_the_same_answers() {
    let Some(lab) = Lab::or_skip("a_big_ruleset_read_by_parts_gives_the_same_answers") else {
        return;
    };
    let own = with_rules(&lab);
    let targets = [
        format!("{own}:46371"),
        format!("{CLIENT_V4}:46372"),
        "10.96.0.10:80".to_owned(),
        "10.96.0.11:80".to_owned(),
    ];
    let ask = |target: &str| why(&lab, &["--timeout", "10s", target]);
    let small: Vec<Value> = targets.iter().map(|t| ask(t)).collect();

    // The REJECT in OUTPUT: blocked-locally, rule 1 of OUTPUT.
    let reject = blocked_by(&small[0]);
    assert_eq!(
        (&reject["chain"], &reject["position"]),
        (&"OUTPUT".into(), &1.into())
    );
    assert_eq!(reject["rule"], "tcp dport 46371 reject with tcp reset");
    // The DNAT to the server, where nothing listens: that namespace's evidence.
    assert_eq!(small[1]["cause"], "no-listener", "{}", small[1]);
    assert!(
        kinds(&small[1]).contains(&"dnat".to_owned()),
        "{}",
        small[1]
    );
    assert!(
        kinds(&small[1]).contains(&"namespace".to_owned()),
        "{}",
        small[1]
    );
    // kube-proxy's REJECT, rule 1 of KUBE-SERVICES, reached from OUTPUT.
    let kube = blocked_by(&small[2]);
    assert_eq!(kube["chain"], "KUBE-SERVICES", "{}", small[2]);
    assert_eq!(kube["position"], 1);
    assert_eq!(kube["path"], serde_json::json!(["OUTPUT", "KUBE-SERVICES"]));

    // kube-proxy's DNAT to the service's endpoint, where nothing listens: that namespace's
    // evidence, the rule named in its KUBE-SEP chain.
    assert_eq!(small[3]["cause"], "no-listener", "{}", small[3]);
    assert!(
        kinds(&small[3]).contains(&"namespace".to_owned()),
        "{}",
        small[3]
    );
    let dnat = crate::why_lab::first_evidence(&small[3], "dnat");
    assert_eq!(dnat["chain"], "KUBE-SEP-API", "{}", small[3]);
    assert_eq!(
        dnat["path"],
        serde_json::json!(["OUTPUT", "KUBE-SERVICES", "KUBE-SVC-API", "KUBE-SEP-API"])
    );

    // A Kubernetes node's count of rules: read by parts.
    restore(&lab, &["--noflush"], &padding(firewall::BIG));
    let big: Vec<Value> = targets.iter().map(|t| ask(t)).collect();
    for (small, big) in small.iter().zip(&big) {
        assert_eq!(answer(small), answer(big), "\n{small}\n{big}");
    }
    // The rules as iptables-save prints them (they were read so), still deleted by position.
    assert_eq!(
        blocked_by(&big[0])["rule"],
        "-A OUTPUT -p tcp -m tcp --dport 46371 -j REJECT --reject-with tcp-reset"
    );
    assert!(
        blocked_by(&big[2])["rule"]
            .as_str()
            .unwrap()
            .starts_with("-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp"),
        "{}",
        big[2]
    );
    // kube-proxy's reject: the Service is what to fix (and its name shows, in the comment that
    // iptables-save keeps), not a rule its next sync writes again.
    assert!(
        big[2]["suggestions"]
            .to_string()
            .contains("kubectl get endpointslices"),
        "{}",
        big[2]
    );
    assert!(
        big[2]["summary"]
            .as_str()
            .unwrap()
            .contains("default/web:http has no endpoints"),
        "{}",
        big[2]
    );
}
