//! The lab's DNS: NXDOMAIN, NODATA, several addresses, and a resolver that does not answer, as a
//! program run in the client namespace sees them through getaddrinfo.

use std::net::IpAddr;

use refused_lab::{DnsZone, Lab, SERVER_V4, SERVER_V6, Tool};

/// Resolves `name` inside the client namespace; `Ok(addresses)` or `Err(EAI code)`.
fn resolve(lab: &Lab, name: &str) -> Result<Vec<IpAddr>, i32> {
    let output = lab
        .client
        .command(env!("CARGO_BIN_EXE_lab-resolve"))
        .arg(name)
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    let mut words = text.split_whitespace();
    match words.next() {
        Some("ok") => Ok(words.map(|w| w.parse().unwrap()).collect()),
        Some("error") => Err(words.next().unwrap().parse().unwrap()),
        _ => panic!(
            "lab-resolve said {text:?}, stderr {:?}",
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

#[test]
fn the_lab_dns_answers_as_asked() {
    let Some(lab) = Lab::or_skip_needing("the_lab_dns_answers_as_asked", &[Tool::Dnsmasq]) else {
        return;
    };
    let zone = DnsZone::new()
        .host(
            "web.lab.test",
            &[IpAddr::V4(SERVER_V4), IpAddr::V6(SERVER_V6)],
        )
        .txt("txtonly.lab.test", "no address here");
    lab.start_dns(&zone).unwrap();

    let mut addrs = resolve(&lab, "web.lab.test").unwrap();
    addrs.sort();
    assert_eq!(addrs, [IpAddr::V4(SERVER_V4), IpAddr::V6(SERVER_V6)]);
    assert_eq!(resolve(&lab, "missing.lab.test"), Err(libc::EAI_NONAME));
    assert_eq!(resolve(&lab, "txtonly.lab.test"), Err(libc::EAI_NODATA));
    // The namespace's hosts file is honoured.
    assert_eq!(
        resolve(&lab, "localhost").map(|a| a.iter().all(IpAddr::is_loopback)),
        Ok(true)
    );
}

#[test]
fn a_silent_resolver_is_a_resolver_failure() {
    let Some(lab) = Lab::or_skip_needing("a_silent_resolver_is_a_resolver_failure", &[Tool::Nft])
    else {
        return;
    };
    lab.silent_dns().unwrap();
    assert_eq!(resolve(&lab, "anything.lab.test"), Err(libc::EAI_AGAIN));
}
