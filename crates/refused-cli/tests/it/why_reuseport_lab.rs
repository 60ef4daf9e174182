//! `refused why` to an `SO_REUSEPORT` group with one stuck member (two sockets on one port in
//! the lab's client, one `listen(0)` whose queue is full and never accepted, one that accepts):
//! the same answer every run, naming it, however the kernel's hash sent our connects.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use refused_lab::{Lab, ListenSpec};

use crate::why_lab::{cause, first_evidence, suggests, why};

#[test]
fn a_stuck_member_of_a_reuseport_group_is_the_answer_every_time() {
    let test = "a_stuck_member_of_a_reuseport_group_is_the_answer_every_time";
    let Some(lab) = Lab::or_skip(test) else {
        return;
    };
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 46650));
    let (stuck, serving) = lab
        .client
        .run(|| {
            let stuck = ListenSpec::new(addr).reuse_port().backlog(0).listen()?;
            let serving = ListenSpec::new(addr).reuse_port().listen()?;
            Ok::<_, std::io::Error>((stuck, serving))
        })
        .unwrap()
        .unwrap();
    // The serving member accepts and keeps every connection until the test ends.
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        while let Ok((stream, _)) = serving.accept() {
            kept.push(stream);
        }
    });
    // Connects from new ports until the stuck member's queue is over its backlog: those the
    // hash gives it queue there (one, with backlog 0), then time out.
    let queued: Vec<TcpStream> = lab
        .client
        .run(|| {
            (0..24)
                .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_millis(100)).ok())
                .collect()
        })
        .unwrap();
    assert!(!queued.is_empty());
    // Each run's connects are hashed anew: to the stuck member (a timeout), or to the serving
    // one with the probe's to either. The answer is one.
    for run in 0..3 {
        let report = why(&lab, &["--timeout", "3s", &addr.to_string()]);
        assert_eq!(cause(&report), "listen-queue-full", "run {run}: {report}");
        let summary = report["summary"].as_str().unwrap();
        assert!(
            summary.contains("in an SO_REUSEPORT group of 2 sockets")
                && summary.contains("about 1 in 2 connections to 127.0.0.1:46650"),
            "run {run}: {summary}"
        );
        assert!(
            !summary.contains("proxy") && !suggests(&report, "proxy"),
            "run {run}: {report}"
        );
        let listener = first_evidence(&report, "listener");
        assert_eq!(listener["queue"], 1, "run {run}: {report}");
        assert_eq!(listener["pid"], std::process::id(), "run {run}: {report}");
    }
    drop(stuck);
}
