//! Rule tests of the fixes for a listener in another namespace (`namespaced`): each container
//! runtime's own way in, and a namespace entered through a process of it (audit h31).

use super::*;
use crate::diagnose::evidence::ContainerRuntime;

fn in_other_namespace(foreign: HeldListener) -> Finding {
    let f = Facts {
        foreign: vec![foreign],
        ..one(
            "127.0.0.1:7000",
            tried("127.0.0.1:7000", Outcome::Refused, 0),
        )
    };
    let finding = infer(&f).unwrap();
    assert_eq!(
        finding.cause,
        Cause::ListenerInOtherNamespace,
        "{finding:?}"
    );
    finding
}

fn foreign(runtime: Option<ContainerRuntime>) -> HeldListener {
    HeldListener {
        container: runtime,
        netns: Some(Namespace::Unnamed(4_026_532_999)),
        netns_pid: Some(4242),
        pid: Some(777),
        ..listening("0.0.0.0:7000", "app")
    }
}

#[test]
fn each_runtime_lets_the_port_in_its_own_way() {
    for (runtime, fix) in [
        (ContainerRuntime::Docker, "docker run -p 7000:7000"),
        (ContainerRuntime::Podman, "podman run -p 7000:7000"),
        (ContainerRuntime::Containerd, "nerdctl run -p 7000:7000"),
        (
            ContainerRuntime::Kubernetes,
            "kubectl port-forward pod/NAME 7000:7000",
        ),
        (
            ContainerRuntime::Lxc,
            "lxc config device add NAME port7000 proxy",
        ),
    ] {
        let finding = in_other_namespace(foreign(Some(runtime)));
        assert!(
            finding.suggestions[0].contains(fix),
            "{runtime}: {finding:?}"
        );
        // A Kubernetes word for an LXC container, or the reverse, sends a person astray.
        let other = if runtime == ContainerRuntime::Lxc {
            "Service"
        } else {
            "lxc "
        };
        assert!(
            !finding.suggestions[0].contains(other),
            "{runtime}: {finding:?}"
        );
    }
}

#[test]
fn a_namespace_is_entered_through_a_process_of_it() {
    // The holder is the namespace's own process.
    let own = HeldListener {
        pid: Some(4242),
        ..foreign(None)
    };
    let finding = in_other_namespace(own);
    assert!(
        finding.suggestions[0].contains("nsenter -t 4242 -n")
            && !finding.suggestions[0].contains("runs in another"),
        "{finding:?}"
    );
    // The holder made the socket there from its own namespace.
    let finding = in_other_namespace(foreign(None));
    assert!(
        finding.suggestions[0].contains("nsenter -t 4242 -n")
            && finding.suggestions[0]
                .contains("app (pid 777), which holds the socket, runs in another"),
        "{finding:?}"
    );
}

#[test]
fn a_service_of_its_own_namespace_is_named_with_private_network() {
    let unit = HeldListener {
        service_unit: Some("app.service".to_owned()),
        ..foreign(None)
    };
    let finding = in_other_namespace(unit);
    assert!(
        finding.suggestions[0].starts_with("app.service runs in a network namespace of its own")
            && finding.suggestions[0].contains("PrivateNetwork=no"),
        "{finding:?}"
    );
    assert!(
        finding.suggestions[1].contains("JoinsNamespaceOf=app.service"),
        "{finding:?}"
    );
    assert!(
        finding.suggestions[2].contains("nsenter -t 4242 -n"),
        "{finding:?}"
    );
    // Without a unit, nothing of systemd is said.
    let finding = in_other_namespace(foreign(None));
    assert!(
        !finding
            .suggestions
            .iter()
            .any(|s| s.contains("PrivateNetwork")),
        "{finding:?}"
    );
}
