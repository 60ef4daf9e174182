//! Where a port forwarder of this host sends what it accepts, read from its command line
//! (`/proc/PID/cmdline`, readable by every user): socat's `TCP:host:port`, ssh's `-L
//! port:host:hostport`, the pod or service of `kubectl port-forward`. With its backend down or
//! silent, a forwarder accepts the connection and then closes it or says nothing, whatever
//! the protocol: its backend is the story, not the service's readiness.

use std::net::{IpAddr, SocketAddr};

/// The command names (`/proc/PID/comm`) whose command lines [`forwarder`] reads.
pub const READ: [&str; 5] = ["socat", "ssh", "kubectl", "sshd", "sshd-session"];

/// A forwarder of this host and where it sends the connections it accepts on one port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarder {
    /// Its pid.
    pub pid: u32,
    /// Its command name.
    pub process: String,
    /// Where it sends them.
    pub to: Backend,
}

/// Where a forwarder sends a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// An address this host connects to: socat's `TCP:10.0.0.5:80`.
    Address(SocketAddr),
    /// A name and port that this host resolves and connects to: socat's `TCP:db:5432`.
    Name {
        /// The name.
        host: String,
        /// The port.
        port: u16,
    },
    /// A host and port that another host connects to, as it resolves them: ssh's `-L
    /// 9000:db:5432 bastion`, where `bastion` connects to `db:5432`.
    Through {
        /// The host that connects (ssh's destination, `user@host` as written).
        via: String,
        /// The host, as `via` names it.
        host: String,
        /// The port.
        port: u16,
    },
    /// The other end of an ssh session (`ssh -R PORT:HOST:HOSTPORT`): the session's process of
    /// sshd listens here, and the ssh client connects to `HOST:HOSTPORT` on its own side.
    Remote {
        /// The session's user, as sshd's process title names it (`sshd: alice@notty`).
        user: String,
    },
    /// A port of a Kubernetes pod, or of the pod behind a service or deployment: `kubectl
    /// port-forward -n shop svc/web 8080:80`. Its address is the cluster's to know.
    Kubernetes {
        /// The resource as written (`svc/web`, `pod/web-0`, `web-0`).
        resource: String,
        /// Its namespace, when the command names one (`-n`, `--namespace`).
        namespace: Option<String>,
        /// The pod's port, as written (a number or a port's name).
        port: String,
    },
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Address(addr) => write!(f, "{addr}"),
            Self::Name { host, port } => write!(f, "{host}:{port}"),
            Self::Through { via, host, port } => {
                write!(f, "{}:{port} as `{via}` sees it", bracketed(host))
            }
            Self::Remote { user } => {
                write!(f, "the client's side of `{user}`'s ssh session (`ssh -R`)")
            }
            Self::Kubernetes {
                resource,
                namespace,
                port,
            } => {
                write!(f, "port {port} of `{resource}`")?;
                match namespace {
                    Some(namespace) => write!(f, " (namespace `{namespace}`)"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// What process `pid`, named `process`, forwards its connections on `port` to; `None` when it
/// is not one of [`READ`], its command line cannot be read, or names no TCP backend for it.
pub fn forwarder(pid: u32, process: &str, port: u16) -> Option<Forwarder> {
    if !READ.contains(&process) {
        return None;
    }
    let args = super::process::command_line(pid)?;
    Some(Forwarder {
        pid,
        process: process.to_owned(),
        to: backend(process, &args, port)?,
    })
}

/// Where the command line `args` (the program's name first) of `process` sends what it
/// accepts on `port`.
pub fn backend(process: &str, args: &[String], port: u16) -> Option<Backend> {
    if matches!(process, "sshd" | "sshd-session") {
        return remote_forward(args.first()?);
    }
    let args = args.get(1..)?;
    match process {
        "socat" => socat(args, port),
        "ssh" => ssh(args, port),
        "kubectl" => kubectl(args, port),
        _ => None,
    }
}

/// An ssh session's process of sshd, by the title sshd gives it (`sshd: alice@notty`, `sshd:
/// alice@pts/0`, `sshd: root` for `ssh -N`; OpenSSH 9.8's `sshd-session: alice@notty`): a port
/// it listens on is a remote
/// forward of that session. The daemon's own (`sshd: /usr/sbin/sshd -D [listener] ...`) and the
/// privileged half (`sshd: alice [priv]`) forward nothing.
fn remote_forward(title: &str) -> Option<Backend> {
    let rest = title
        .strip_prefix("sshd: ")
        .or_else(|| title.strip_prefix("sshd-session: "))?;
    // `-N` (no command, no tty) leaves the title at the user alone: `sshd: root`.
    let user = rest.split_once('@').map_or(rest, |(user, _)| user);
    if user.is_empty() || user.contains([' ', '/']) {
        return None;
    }
    Some(Backend::Remote {
        user: user.to_owned(),
    })
}

/// socat's two addresses: `TCP-LISTEN:9000,fork,reuseaddr` (or `TCP4-LISTEN`, `TCP-L`...) on
/// `port`, and `TCP:host:port` (or `TCP4:`, `TCP6:`, `TCP-CONNECT:`), in either order.
fn socat(args: &[String], port: u16) -> Option<Backend> {
    fn address(arg: &str) -> Option<(String, &str)> {
        let (kind, rest) = arg.split_once(':')?;
        // Its options follow a comma: `TCP:10.0.0.5:80,connect-timeout=2`.
        let rest = rest.split(',').next().unwrap_or_default();
        Some((kind.to_ascii_uppercase(), rest))
    }
    let listens = args
        .iter()
        .map(String::as_str)
        .filter_map(address)
        .any(|(kind, rest)| {
            matches!(
                kind.as_str(),
                "TCP-LISTEN" | "TCP-L" | "TCP4-LISTEN" | "TCP4-L" | "TCP6-LISTEN" | "TCP6-L"
            ) && rest.parse() == Ok(port)
        });
    if !listens {
        return None;
    }
    let (host, to_port) = args
        .iter()
        .map(String::as_str)
        .filter_map(address)
        .find_map(|(kind, rest)| {
            matches!(
                kind.as_str(),
                "TCP" | "TCP4" | "TCP6" | "TCP-CONNECT" | "TCP4-CONNECT" | "TCP6-CONNECT"
            )
            .then(|| host_port(rest))
            .flatten()
        })?;
    Some(named(host, to_port))
}

/// ssh's local forward of `port`: `-L [bind:]port:host:hostport` (also `-Lspec`, and after
/// other flags, `-fNL spec`), through its destination, the first argument that is no option.
fn ssh(args: &[String], port: u16) -> Option<Backend> {
    // The options of ssh(1) that take a value.
    const VALUED: &str = "bceilmopBDEFIJLOPQRSwW";
    let mut forwards = Vec::new();
    let mut destination = None;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let Some(flags) = arg.strip_prefix('-').filter(|f| !f.is_empty()) else {
            if destination.is_none() {
                destination = Some(arg.clone());
            }
            // What follows the destination is the remote command.
            break;
        };
        for (at, flag) in flags.char_indices() {
            if VALUED.contains(flag) {
                let inline = &flags[at + flag.len_utf8()..];
                let value = if inline.is_empty() {
                    rest.next().cloned()
                } else {
                    Some(inline.to_owned())
                };
                if let (Some(value), 'L') = (value, flag) {
                    forwards.push(value);
                }
                break;
            }
        }
    }
    let via = destination?;
    forwards.iter().find_map(|spec| {
        let parts = split_outside_brackets(spec);
        let ([listen, host, to] | [_, listen, host, to]) = parts.as_slice() else {
            return None;
        };
        (listen.parse() == Ok(port)).then_some(())?;
        Some(Backend::Through {
            via: via.clone(),
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port: to.parse().ok()?,
        })
    })
}

/// `kubectl port-forward [-n NAMESPACE] RESOURCE [LOCAL:]REMOTE...`: the remote port of the
/// pair whose local port is `port` (`:80` takes a random one: then the only pair).
fn kubectl(args: &[String], port: u16) -> Option<Backend> {
    // kubectl's options that take a value as the next argument.
    const VALUED: [&str; 14] = [
        "-n",
        "--namespace",
        "--address",
        "--pod-running-timeout",
        "--kubeconfig",
        "--context",
        "--cluster",
        "--user",
        "-s",
        "--server",
        "--request-timeout",
        "--token",
        "--as",
        "-v",
    ];
    let mut namespace = None;
    let mut positional = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if let Some(value) = arg
            .strip_prefix("--namespace=")
            .or_else(|| arg.strip_prefix("-n").filter(|v| !v.is_empty()))
        {
            namespace = Some(value.trim_start_matches('=').to_owned());
        } else if VALUED.contains(&arg.as_str()) {
            let value = rest.next()?;
            if matches!(arg.as_str(), "-n" | "--namespace") {
                namespace = Some(value.clone());
            }
        } else if !arg.starts_with('-') {
            positional.push(arg.as_str());
        }
    }
    let at = positional.iter().position(|p| *p == "port-forward")?;
    let [resource, pairs @ ..] = &positional[at + 1..] else {
        return None;
    };
    let remote = pairs.iter().find_map(|pair| match pair.split_once(':') {
        Some((local, remote)) if local.parse() == Ok(port) => Some(remote),
        Some(("", remote)) if pairs.len() == 1 => Some(remote),
        None if pair.parse() == Ok(port) => Some(*pair),
        _ => None,
    })?;
    Some(Backend::Kubernetes {
        resource: (*resource).to_owned(),
        namespace,
        port: remote.to_owned(),
    })
}

/// `host:port` with an IPv6 host in brackets (`[::1]:80`).
fn host_port(text: &str) -> Option<(&str, u16)> {
    let (host, port) = text.rsplit_once(':')?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    Some((host, port.parse().ok()?))
}

/// An address when `host` is one, else a name.
fn named(host: &str, port: u16) -> Backend {
    match host.parse::<IpAddr>() {
        Ok(ip) => Backend::Address(SocketAddr::new(ip, port)),
        Err(_) => Backend::Name {
            host: host.to_owned(),
            port,
        },
    }
}

/// `a:b:[::1]:c` as `a`, `b`, `[::1]`, `c`.
fn split_outside_brackets(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut depth) = (0, 0u32);
    for (at, c) in text.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            ':' if depth == 0 => {
                parts.push(&text[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// An IPv6 host in brackets, as a `host:port` needs it.
fn bracketed(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn socat_sends_to_its_tcp_address() {
        let line = args(
            "socat TCP-LISTEN:9000,fork,reuseaddr,bind=127.0.0.1 TCP:10.249.5.1:8099,connect-timeout=3",
        );
        assert_eq!(
            backend("socat", &line, 9000),
            Some(Backend::Address("10.249.5.1:8099".parse().unwrap()))
        );
        // Another port of this host is not this forwarder's.
        assert_eq!(backend("socat", &line, 9001), None);
        // In either order, any case, a name, IPv6 in brackets, options before.
        assert_eq!(
            backend(
                "socat",
                &args("socat -d -d tcp:db:5432 tcp4-l:9000,fork"),
                9000
            ),
            Some(Backend::Name {
                host: "db".to_owned(),
                port: 5432
            })
        );
        assert_eq!(
            backend("socat", &args("socat TCP6-LISTEN:9000 TCP6:[::1]:80"), 9000),
            Some(Backend::Address("[::1]:80".parse().unwrap()))
        );
        // A unix socket or a program behind it: no TCP backend.
        assert_eq!(
            backend(
                "socat",
                &args("socat TCP-LISTEN:9000 UNIX-CONNECT:/run/x.sock"),
                9000
            ),
            None
        );
    }

    #[test]
    fn ssh_forwards_through_its_destination() {
        let through = |via: &str, host: &str, port| Backend::Through {
            via: via.to_owned(),
            host: host.to_owned(),
            port,
        };
        assert_eq!(
            backend(
                "ssh",
                &args("ssh -N -L 9000:db.internal:5432 deploy@bastion"),
                9000
            ),
            Some(through("deploy@bastion", "db.internal", 5432))
        );
        assert_eq!(
            backend(
                "ssh",
                &args("ssh -i key -p 2222 -fNL127.0.0.1:9000:[::1]:80 -L 9001:web:80 jump uptime"),
                9000
            ),
            Some(through("jump", "::1", 80))
        );
        assert_eq!(
            backend(
                "ssh",
                &args("ssh -L 9000:db:5432 -L 9001:web:80 jump"),
                9001
            ),
            Some(through("jump", "web", 80))
        );
        // A remote forward listens over there, not here.
        assert_eq!(
            backend("ssh", &args("ssh -R 9000:db:5432 jump"), 9000),
            None
        );
    }

    #[test]
    fn an_ssh_sessions_sshd_forwards_to_its_client() {
        let remote = |title: &str| backend("sshd", &[title.to_owned()], 9000);
        assert_eq!(
            remote("sshd: alice@notty"),
            Some(Backend::Remote {
                user: "alice".to_owned()
            })
        );
        assert!(remote("sshd: root@pts/0").is_some());
        assert!(remote("sshd: root").is_some());
        assert!(
            backend(
                "sshd-session",
                &["sshd-session: bob@notty".to_owned()],
                9000
            )
            .is_some()
        );
        for not_a_session in [
            "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups",
            "sshd: alice [priv]",
            "/usr/sbin/sshd -D",
        ] {
            assert_eq!(remote(not_a_session), None, "{not_a_session}");
        }
    }

    #[test]
    fn kubectl_names_the_pod_and_its_port() {
        let pod = |resource: &str, namespace: Option<&str>, port: &str| Backend::Kubernetes {
            resource: resource.to_owned(),
            namespace: namespace.map(str::to_owned),
            port: port.to_owned(),
        };
        assert_eq!(
            backend(
                "kubectl",
                &args("kubectl -n shop port-forward svc/web 8080:80 9090:metrics"),
                8080
            ),
            Some(pod("svc/web", Some("shop"), "80"))
        );
        assert_eq!(
            backend(
                "kubectl",
                &args(
                    "kubectl port-forward --address 0.0.0.0 --namespace=db pod/pg-0 5432 8080:80"
                ),
                5432
            ),
            Some(pod("pod/pg-0", Some("db"), "5432"))
        );
        assert_eq!(
            backend("kubectl", &args("kubectl port-forward web-0 :80"), 41234),
            Some(pod("web-0", None, "80"))
        );
        assert_eq!(
            backend("kubectl", &args("kubectl port-forward web-0 8080:80"), 9000),
            None
        );
        assert_eq!(backend("kubectl", &args("kubectl get pods"), 8080), None);
    }

    #[test]
    fn backends_read_as_a_person_writes_them() {
        let through = Backend::Through {
            via: "jump".to_owned(),
            host: "::1".to_owned(),
            port: 80,
        };
        assert_eq!(through.to_string(), "[::1]:80 as `jump` sees it");
        let pod = Backend::Kubernetes {
            resource: "svc/web".to_owned(),
            namespace: Some("shop".to_owned()),
            port: "80".to_owned(),
        };
        assert_eq!(pod.to_string(), "port 80 of `svc/web` (namespace `shop`)");
    }
}
