//! `wait` in the lab: a port of this host served only through NAT, which no listener of this
//! host's kernel shows, so the gate's lookup says "nothing there" until the real probe every
//! second connects anyway.

use std::net::TcpListener;
use std::time::Duration;

use refused::Target;
use refused::wait::{WaitOptions, wait};
use refused_lab::{CLIENT_V4, Lab, SERVER_V4, Tool};

/// The client's own address, port 7000, goes to the server's port 7001 (DNAT in the client's
/// output hook: how Docker publishes a port to its own host with the userland proxy off). The
/// server starts listening after the wait began, so only a real probe can notice it.
#[test]
fn a_port_served_only_through_nat_is_still_noticed() {
    let Some(lab) = Lab::or_skip_needing(
        "a_port_served_only_through_nat_is_still_noticed",
        &[Tool::Nft],
    ) else {
        return;
    };
    lab.client
        .nft(&format!(
            "table ip lab_nat {{\n  chain output {{\n    type nat hook output priority -100;\n    \
             ip daddr {CLIENT_V4} tcp dport 7000 dnat to {SERVER_V4}:7001\n  }}\n}}\n"
        ))
        .unwrap();
    let target: Target = format!("{CLIENT_V4}:7000").parse().unwrap();
    let options = WaitOptions {
        timeout: Some(Duration::from_secs(10)),
        ..WaitOptions::default()
    };
    let result = std::thread::scope(|scope| {
        let server = scope.spawn(|| {
            std::thread::sleep(Duration::from_millis(300));
            lab.server
                .run(|| TcpListener::bind((SERVER_V4, 7001)))
                .unwrap()
                .unwrap()
        });
        let result = lab
            .client
            .run(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(wait(&[target], &options, |_| {}))
            })
            .unwrap();
        (result, server.join().unwrap())
    })
    .0;
    assert!(result.satisfied, "{:?}", result.targets[0].last);
    let state = &result.targets[0];
    // Refused at first; polls skipped while the kernel showed no listener on the port; then a
    // real probe through the rule.
    assert!(state.skipped > 0, "{state:?}");
    assert!(state.probes >= 2, "{state:?}");
    assert!(state.last.as_ref().is_some_and(|r| r.readiness.is_ready()));
}
