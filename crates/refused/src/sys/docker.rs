//! Docker's own account of its containers, asked of its daemon on its unix socket (the Engine
//! API, as `docker ps -a` asks it): which stopped container publishes a port. A stopped
//! container leaves nothing in the kernel (no DNAT rule, no docker-proxy, no namespace), so a
//! port it published reads as one nothing listens on; only the daemon still knows it.
//!
//! Root and the members of the `docker` group may use the socket; for anyone else, and where no
//! daemon runs, the answer is an error and the diagnosis says nothing of containers.

use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;
use serde_json::Value;

/// The most containers asked about one by one (their port bindings): the stopped ones, newest
/// first, as `docker ps -a` lists them.
const MOST_ASKED: usize = 16;

/// The most an answer may hold: a daemon's list of thousands of containers stays far below.
const MOST_READ: usize = 4 << 20;

/// A container that is not running, and a port of this host it publishes when it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoppedContainer {
    /// Its name, without Docker's leading `/`.
    pub name: String,
    /// Its id, short (12 characters), as `docker ps` prints it.
    pub id: String,
    /// Docker's state: `exited`, `created`, `dead`.
    pub state: String,
    /// Docker's status text: `Exited (1) 3 minutes ago`.
    pub status: String,
    /// The container's port the host's port goes to.
    pub container_port: u16,
    /// Whose container it is: Docker's, or Podman's (`podman ps --all`).
    pub runtime: super::process::ContainerRuntime,
    /// The pod whose ports it holds, for a pod's infra container (Podman's): the pod is what
    /// starts and stops.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
}

impl std::fmt::Display for StoppedContainer {
    /// `Podman's container `gone` (719ae3283ad1) publishes it to its port 80 and is not
    /// running: Exited (3) 5 minutes ago`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let runtime = if self.runtime == super::process::ContainerRuntime::Podman {
            "Podman"
        } else {
            "Docker"
        };
        write!(
            f,
            "{runtime}'s container `{}` ({}) publishes it to its port {} and is not running: {}",
            self.name, self.id, self.container_port, self.status
        )
    }
}

/// A running container that a name means inside its Docker networks: its own name, or its
/// compose service's, which Docker's embedded DNS answers there and only there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedContainer {
    /// The container's name (`proj-db-1`).
    pub name: String,
    /// Its compose service (`db`), when compose made it.
    pub service: Option<String>,
    /// The TCP ports it publishes on this host.
    pub published: Vec<PublishedPort>,
}

/// A port of a container published on this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PublishedPort {
    /// The container's own port.
    pub inside: u16,
    /// The host's address it is bound to; `None`: every address.
    pub at: Option<IpAddr>,
    /// The host's port.
    pub port: u16,
}

impl std::fmt::Display for PublishedPort {
    /// `localhost:5433`, `192.168.1.5:5433`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.at {
            Some(ip) => std::net::SocketAddr::new(ip, self.port).fmt(f),
            None => write!(f, "localhost:{}", self.port),
        }
    }
}

/// The running containers that `name` means inside Docker's networks (a container's name or a
/// compose service's), asked of Docker's daemon by `until`. An error when there is no daemon or
/// its socket may not be used.
pub fn running_named(name: &str, until: Instant) -> io::Result<Vec<NamedContainer>> {
    let name = name.to_owned();
    in_time(until, move || running_named_now(&name, until))
}

fn running_named_now(name: &str, until: Instant) -> io::Result<Vec<NamedContainer>> {
    let list = get(&socket_path(), "/containers/json", until)?;
    Ok(list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|container| named(container, name))
        .collect())
}

/// The container of `listed` (an entry of `/containers/json`) when `name` is its name or its
/// compose service's (case as DNS reads it: any).
fn named(listed: &Value, name: &str) -> Option<NamedContainer> {
    let own = listed["Names"][0].as_str()?.trim_start_matches('/');
    let service = listed["Labels"]["com.docker.compose.service"].as_str();
    let means =
        own.eq_ignore_ascii_case(name) || service.is_some_and(|s| s.eq_ignore_ascii_case(name));
    // Docker's DNS answers names on networks of the user's (compose makes one); on the default
    // bridge, or the host's, no one resolves the container's name.
    let on_own_network = listed["NetworkSettings"]["Networks"]
        .as_object()
        .is_some_and(|networks| {
            networks
                .keys()
                .any(|n| !matches!(n.as_str(), "bridge" | "host" | "none"))
        });
    if !means || !on_own_network {
        return None;
    }
    let mut published: Vec<PublishedPort> = listed["Ports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|port| port["Type"] == "tcp")
        .filter_map(|port| {
            let private = u16::try_from(port["PrivatePort"].as_u64()?).ok()?;
            let public = u16::try_from(port["PublicPort"].as_u64()?).ok()?;
            // Bound to one address of the host: that one, else `localhost` reaches it.
            let at = port["IP"]
                .as_str()
                .and_then(|ip| ip.parse::<IpAddr>().ok())
                .filter(|ip| !ip.is_unspecified());
            Some(PublishedPort {
                inside: private,
                at,
                port: public,
            })
        })
        .collect();
    // Docker lists a port once for 0.0.0.0 and once for `::`.
    published.sort_unstable();
    published.dedup();
    Some(NamedContainer {
        name: clean(own),
        service: service.map(clean),
        published,
    })
}

/// A port of this host that Docker publishes for a running container, as its daemon lists it
/// (`docker ps`'s PORTS): the container behind a docker-proxy or dockerd's own socket on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publishing {
    /// The container's name.
    pub name: String,
    /// The host's address it is published on, as Docker lists it (`0.0.0.0`, `::`,
    /// `127.0.0.1`).
    pub ip: IpAddr,
    /// The container's own port.
    pub inside: u16,
    /// Whether it is published for UDP (`-p 8085:80/udp`), else TCP.
    pub udp: bool,
    /// The container's addresses on its networks (what a docker-proxy sends to).
    pub container_ips: Vec<IpAddr>,
}

/// The running containers that Docker publishes `port` of this host for, TCP or UDP, asked of
/// its daemon by `until`: one list, as `docker ps` asks it. An error when there is no daemon or
/// its socket may not be used.
pub fn running_publishing(port: u16, until: Instant) -> io::Result<Vec<Publishing>> {
    in_time(until, move || {
        let list = get(&socket_path(), "/containers/json", until)?;
        Ok(publishing_on(list.as_array().into_iter().flatten(), port))
    })
}

/// The ports published on `port` of this host by `containers` (entries of `/containers/json`).
fn publishing_on<'a>(containers: impl Iterator<Item = &'a Value>, port: u16) -> Vec<Publishing> {
    containers
        .flat_map(|container| publishing_port(container, port))
        .collect()
}

/// Whether `docker ps` (the daemon's list without `all`) shows `listed`: it runs, paused or
/// restarting.
fn is_running(listed: &Value) -> bool {
    matches!(
        listed["State"].as_str(),
        Some("running" | "paused" | "restarting")
    )
}

/// The ports of `listed` (an entry of `/containers/json`) published on `port` of this host.
fn publishing_port(listed: &Value, port: u16) -> Vec<Publishing> {
    let name = clean(
        listed["Names"][0]
            .as_str()
            .unwrap_or_default()
            .trim_start_matches('/'),
    );
    let container_ips: Vec<IpAddr> = listed["NetworkSettings"]["Networks"]
        .as_object()
        .into_iter()
        .flat_map(|networks| networks.values())
        .flat_map(|network| [&network["IPAddress"], &network["GlobalIPv6Address"]])
        .filter_map(|ip| ip.as_str()?.parse().ok())
        .collect();
    listed["Ports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["PublicPort"].as_u64() == Some(u64::from(port)))
        .filter_map(|p| {
            Some(Publishing {
                name: name.clone(),
                ip: p["IP"].as_str()?.parse().ok()?,
                inside: u16::try_from(p["PrivatePort"].as_u64()?).ok()?,
                udp: match p["Type"].as_str()? {
                    "tcp" => false,
                    "udp" => true,
                    _ => return None,
                },
                container_ips: container_ips.clone(),
            })
        })
        .collect()
}

/// The daemon's socket: `DOCKER_HOST` when it names a unix socket, else Docker's default. Not
/// `DOCKER_HOST` under `sudo` (root with `SUDO_UID`): a socket the user named would feed root's
/// diagnosis whatever it likes.
fn socket_path() -> PathBuf {
    let sudo = std::env::var_os("SUDO_UID").is_some() && super::host::is_root();
    std::env::var("DOCKER_HOST")
        .ok()
        .filter(|_| !sudo)
        .and_then(|host| host.strip_prefix("unix://").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/var/run/docker.sock"))
}

/// Runs `work` (a question to the daemon) on a thread of its own, and gives up at `until`: a
/// daemon that does not accept (its queue full) or answers slowly must not hold the diagnosis.
pub(super) fn in_time<T: Send + 'static>(
    until: Instant,
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("refused-runtime".to_owned())
        .spawn(move || {
            let _ = sender.send(work());
        })?;
    receiver
        .recv_timeout(until.saturating_duration_since(Instant::now()))
        .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?
}

/// Text the daemon sent, without control characters (a terminal's escapes).
pub(super) fn clean(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).collect()
}

/// A running container that asks for a port of this host (`-p`) for which Docker publishes
/// nothing: it runs in the host's network, where published ports are discarded, or only on
/// internal networks, or the daemon made no mapping for its binding (`[::1]` with IPv6 off).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnpublishedContainer {
    /// Its name, without Docker's leading `/`.
    pub name: String,
    /// Its id, short (12 characters).
    pub id: String,
    /// The container's port the host's port is asked for.
    pub container_port: u16,
    /// The host's address of its binding, as given (`::1`); absent for every address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    /// Why Docker publishes nothing: `host-network`, `internal-network` or `not-mapped`.
    pub reason: &'static str,
    /// The internal network, for `internal-network`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
}

impl std::fmt::Display for UnpublishedContainer {
    /// `Docker's container `app` (85b4a5212a67) asks for it (its port 80), and Docker publishes
    /// nothing: it runs in the host's network`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Docker's container `{}` ({}) asks for it (its port {}), and Docker publishes nothing: ",
            self.name, self.id, self.container_port
        )?;
        match (self.reason, &self.network) {
            ("host-network", _) => f.write_str("it runs in the host's network"),
            (_, Some(network)) => write!(f, "its network `{network}` is internal"),
            _ => f.write_str("the daemon lists no mapping of it"),
        }
    }
}

/// What Docker's daemon knows of a port of this host that no TCP socket listens on: the stopped
/// containers that publish it, the running ones that ask for it in vain, and what the running
/// ones publish on it (UDP), from the same list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotPublished {
    /// Containers that publish it and are not running.
    pub stopped: Vec<StoppedContainer>,
    /// Running containers that ask for it, for which Docker publishes nothing.
    pub unpublished: Vec<UnpublishedContainer>,
    /// The running containers' publishings of it, as [`running_publishing`] gives them.
    pub running: Vec<Publishing>,
}

/// The containers that publish TCP `port` of this host but are not running, the running ones
/// that ask for it while Docker publishes nothing, and what the running ones publish on it,
/// asked of Docker's daemon by `until` (one list, `docker ps -a`'s). An error when there is no
/// daemon or its socket may not be used.
pub fn stopped_publishing(port: u16, ips: &[IpAddr], until: Instant) -> io::Result<NotPublished> {
    let ips = ips.to_vec();
    in_time(until, move || stopped_publishing_now(port, &ips, until))
}

/// Whether `listed` (an entry of `/containers/json`) may hold a binding the kernel does not
/// show: stopped, or running with no port published at all (the host's network, an internal
/// one, a binding the daemon did not map).
fn may_not_publish(listed: &Value) -> bool {
    match listed["State"].as_str().unwrap_or_default() {
        "exited" | "created" | "dead" | "restarting" => true,
        "running" => !listed["Ports"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|port| port["PublicPort"].is_u64()),
        _ => false,
    }
}

fn stopped_publishing_now(port: u16, ips: &[IpAddr], until: Instant) -> io::Result<NotPublished> {
    let socket = socket_path();
    let list = get(&socket, "/containers/json?all=1", until)?;
    let mut found = NotPublished {
        running: publishing_on(
            list.as_array()
                .into_iter()
                .flatten()
                .filter(|c| is_running(c)),
            port,
        ),
        ..NotPublished::default()
    };
    let candidates = list
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| may_not_publish(c));
    for container in candidates.take(MOST_ASKED) {
        // An id is hex; anything else is not put in a request's path.
        let Some(id) = container["Id"]
            .as_str()
            .filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit()))
        else {
            continue;
        };
        let Ok(inspected) = get(&socket, &format!("/containers/{id}/json"), until) else {
            continue;
        };
        if container["State"] == "running" {
            if let Some(mut unpublished) = unpublished(container, &inspected, port, ips) {
                if unpublished.reason == "not-mapped" {
                    unpublished.network = internal_network(&socket, &inspected, until);
                    if unpublished.network.is_some() {
                        unpublished.reason = "internal-network";
                    }
                }
                found.unpublished.push(unpublished);
            }
        } else if let Some(stopped) = publishing(container, &inspected, port, ips) {
            found.stopped.push(stopped);
        }
    }
    Ok(found)
}

/// A running container of `listed`, as `inspected`, that asks for `port` (its
/// `HostConfig.PortBindings`) where `ips` reach it, or on the other family's loopback for
/// loopback; its reason `host-network` or, until its networks are asked, `not-mapped`.
fn unpublished(
    listed: &Value,
    inspected: &Value,
    port: u16,
    ips: &[IpAddr],
) -> Option<UnpublishedContainer> {
    let loopback = ips.iter().any(IpAddr::is_loopback);
    let (container_port, host_ip) = binding(inspected, port, |bound| {
        bound_at(bound, ips) || (loopback && bound.is_loopback())
    })?;
    let host_network = inspected["HostConfig"]["NetworkMode"] == "host";
    let name = listed["Names"][0].as_str().unwrap_or_default();
    Some(UnpublishedContainer {
        name: clean(name.trim_start_matches('/')),
        id: clean(&listed["Id"].as_str()?.chars().take(12).collect::<String>()),
        container_port,
        host_ip: (!host_ip.is_empty()).then(|| clean(&host_ip)),
        reason: if host_network {
            "host-network"
        } else {
            "not-mapped"
        },
        network: None,
    })
}

/// The first of the networks of `inspected` that Docker's daemon says is internal
/// (`--internal`: it publishes no port of it).
fn internal_network(socket: &std::path::Path, inspected: &Value, until: Instant) -> Option<String> {
    let networks = inspected["NetworkSettings"]["Networks"].as_object()?;
    networks.iter().find_map(|(name, network)| {
        let id = network["NetworkID"]
            .as_str()
            .filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit()))?;
        let described = get(socket, &format!("/networks/{id}"), until).ok()?;
        (described["Internal"] == true).then(|| clean(name))
    })
}

/// Whether a binding's host address `bound` takes a connection to one of `ips`: the very
/// address, or that family's wildcard.
fn bound_at(bound: IpAddr, ips: &[IpAddr]) -> bool {
    ips.iter()
        .any(|ip| bound == *ip || (bound.is_unspecified() && bound.is_ipv4() == ip.is_ipv4()))
}

/// The container's port and the host's address (as given, empty for every address) of the
/// TCP binding of `port` in `inspected`'s `HostConfig.PortBindings` whose address `takes`.
fn binding(inspected: &Value, port: u16, takes: impl Fn(IpAddr) -> bool) -> Option<(u16, String)> {
    let bindings = inspected["HostConfig"]["PortBindings"].as_object()?;
    bindings.iter().find_map(|(inside, hosts)| {
        let (number, protocol) = inside.split_once('/')?;
        if protocol != "tcp" {
            return None;
        }
        let host = hosts.as_array()?.iter().find(|host| {
            let ip = host["HostIp"].as_str().unwrap_or_default();
            host["HostPort"]
                .as_str()
                .and_then(|p| p.parse::<u16>().ok())
                == Some(port)
                && (ip.is_empty() || ip.parse::<IpAddr>().is_ok_and(&takes))
        })?;
        Some((
            number.parse().ok()?,
            host["HostIp"].as_str().unwrap_or_default().to_owned(),
        ))
    })
}

/// The container of `listed` (an entry of `/containers/json`) as one that publishes `port`,
/// from `inspected` (its `/containers/ID/json`): its `HostConfig.PortBindings`, which outlive
/// the run (`NetworkSettings.Ports` empties when it stops).
fn publishing(
    listed: &Value,
    inspected: &Value,
    port: u16,
    ips: &[IpAddr],
) -> Option<StoppedContainer> {
    // Bound where the connection went: every address (`HostIp` empty), that family's
    // wildcard, or the very address tried.
    let (container_port, _) = binding(inspected, port, |bound| bound_at(bound, ips))?;
    let name = listed["Names"][0].as_str().unwrap_or_default();
    Some(StoppedContainer {
        name: clean(name.trim_start_matches('/')),
        id: clean(&listed["Id"].as_str()?.chars().take(12).collect::<String>()),
        state: clean(listed["State"].as_str().unwrap_or_default()),
        status: clean(listed["Status"].as_str().unwrap_or_default()),
        container_port,
        runtime: super::process::ContainerRuntime::Docker,
        pod: None,
    })
}

/// `GET path` of the daemon's API on `socket`, its JSON body: HTTP/1.0, so that the daemon
/// closes the connection after the answer and the body is everything after the head.
fn get(socket: &std::path::Path, path: &str, until: Instant) -> io::Result<Value> {
    let left = until
        .checked_duration_since(Instant::now())
        .filter(|left| !left.is_zero())
        .ok_or_else(|| io::Error::from(io::ErrorKind::TimedOut))?;
    let mut stream = UnixStream::connect(socket)?;
    stream.set_write_timeout(Some(left))?;
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n").as_bytes())?;
    // Each read bounded by what is left of `until`, not by a timeout of its own: a daemon
    // that sends a byte now and then does not stretch the answer past it.
    let mut answer = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let left = until
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
            .ok_or_else(|| io::Error::from(io::ErrorKind::TimedOut))?;
        stream.set_read_timeout(Some(left))?;
        let read = stream.read(&mut chunk)?;
        if read == 0 {
            break;
        }
        answer.extend_from_slice(&chunk[..read]);
        if answer.len() > MOST_READ {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "too long an answer",
            ));
        }
    }
    body(&answer)
}

/// The JSON body of an HTTP answer whose status is 200.
fn body(answer: &[u8]) -> io::Result<Value> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| invalid("no end of the head"))?;
    let head = String::from_utf8_lossy(&answer[..split]);
    let status = head.split_whitespace().nth(1).unwrap_or_default();
    if status != "200" {
        return Err(invalid(&format!("the daemon answered {status}")));
    }
    serde_json::from_slice(&answer[split + 4..]).map_err(|err| invalid(&err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_stopped_container_publishes_the_ports_of_its_bindings_where_they_are_bound() {
        let listed = json!({
            "Id": "2ae5270659a7070daed0d56bad18da6ffbc15333dcbd9cf3526bab1059aa12fa",
            "Names": ["/web\u{1b}[31m"],
            "State": "exited",
            "Status": "Exited (1) 3 minutes ago"
        });
        // As Docker 20.10 and 28 write them: the host's IP empty or set, several per port.
        let inspected = json!({"HostConfig": {"PortBindings": {
            "53/udp": [{"HostIp": "", "HostPort": "8080"}],
            "80/tcp": [{"HostIp": "", "HostPort": "8080"}, {"HostIp": "::", "HostPort": "8080"}],
            "443/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8443"}]
        }}});
        let v4: &[IpAddr] = &["127.0.0.1".parse().unwrap()];
        let lan: &[IpAddr] = &["192.168.1.5".parse().unwrap()];
        let web = publishing(&listed, &inspected, 8080, v4).unwrap();
        assert_eq!(
            web,
            StoppedContainer {
                // The daemon's text, without its control characters.
                name: "web[31m".into(),
                id: "2ae5270659a7".into(),
                state: "exited".into(),
                status: "Exited (1) 3 minutes ago".into(),
                container_port: 80,
                runtime: crate::sys::process::ContainerRuntime::Docker,
                pod: None,
            }
        );
        let at = |port, ips| publishing(&listed, &inspected, port, ips).map(|c| c.container_port);
        assert_eq!(at(8443, v4), Some(443));
        // Bound to 127.0.0.1 alone: starting it does not open the LAN address.
        assert_eq!(at(8443, lan), None);
        assert_eq!(at(8080, lan), Some(80));
        assert_eq!(at(9000, v4), None);
        // No bindings (`-P` unused, or none at all): nothing published.
        assert_eq!(
            publishing(&listed, &json!({"HostConfig": {}}), 8080, v4),
            None
        );
        assert_eq!(
            publishing(
                &listed,
                &json!({"HostConfig": {"PortBindings": null}}),
                8080,
                v4
            ),
            None
        );
    }

    #[test]
    fn a_name_means_a_container_or_its_compose_service_on_a_network_of_its_own() {
        let listed = json!({
            "Id": "5b097b060b19aa",
            "Names": ["/proj-db-1"],
            "Labels": {"com.docker.compose.service": "db", "com.docker.compose.project": "proj"},
            "Ports": [
                {"IP": "0.0.0.0", "PrivatePort": 5432, "PublicPort": 5433, "Type": "tcp"},
                {"IP": "::", "PrivatePort": 5432, "PublicPort": 5433, "Type": "tcp"},
                {"IP": "192.168.1.5", "PrivatePort": 8080, "PublicPort": 8081, "Type": "tcp"},
                {"PrivatePort": 9187, "Type": "tcp"},
                {"IP": "0.0.0.0", "PrivatePort": 53, "PublicPort": 53, "Type": "udp"}
            ],
            "NetworkSettings": {"Networks": {"proj_default": {}}}
        });
        let expected = NamedContainer {
            name: "proj-db-1".into(),
            service: Some("db".into()),
            published: vec![
                PublishedPort {
                    inside: 5432,
                    at: None,
                    port: 5433,
                },
                PublishedPort {
                    inside: 8080,
                    at: Some("192.168.1.5".parse().unwrap()),
                    port: 8081,
                },
            ],
        };
        assert_eq!(named(&listed, "db"), Some(expected.clone()));
        assert_eq!(named(&listed, "DB"), Some(expected.clone()));
        assert_eq!(named(&listed, "proj-db-1"), Some(expected.clone()));
        assert_eq!(named(&listed, "web"), None);
        assert_eq!(expected.published[0].to_string(), "localhost:5433");
        assert_eq!(expected.published[1].to_string(), "192.168.1.5:8081");
        // `docker run --name cache` on the default bridge: Docker's DNS does not answer it.
        let mut plain = json!({"Names": ["/cache"], "Labels": {}, "Ports": [],
            "NetworkSettings": {"Networks": {"bridge": {}}}});
        assert_eq!(named(&plain, "cache"), None);
        // On a network of the user's, it does.
        plain["NetworkSettings"]["Networks"] = json!({"backend": {}});
        assert_eq!(
            named(&plain, "cache"),
            Some(NamedContainer {
                name: "cache".into(),
                service: None,
                published: Vec::new()
            })
        );
    }

    #[test]
    fn a_running_container_publishes_its_ports_on_the_addresses_docker_lists() {
        // As Docker 20.10 lists `-p 127.0.0.1:8084:80` and `-p 8085:80/udp`.
        let listed = json!({
            "Names": ["/local"],
            "Ports": [
                {"IP": "127.0.0.1", "PrivatePort": 80, "PublicPort": 8084, "Type": "tcp"},
                {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8085, "Type": "udp"},
                {"PrivatePort": 9000, "Type": "tcp"}
            ],
            "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.3", "GlobalIPv6Address": ""}}}
        });
        let at_8084 = publishing_port(&listed, 8084);
        assert_eq!(
            at_8084,
            vec![Publishing {
                name: "local".into(),
                ip: "127.0.0.1".parse().unwrap(),
                inside: 80,
                udp: false,
                container_ips: vec!["172.17.0.3".parse().unwrap()],
            }]
        );
        let at_8085 = publishing_port(&listed, 8085);
        assert!(at_8085.len() == 1 && at_8085[0].udp);
        // Exposed, not published: no port of the host.
        assert!(publishing_port(&listed, 9000).is_empty());
    }

    #[test]
    fn the_running_containers_of_docker_ps_a_are_those_docker_ps_lists() {
        let container = |name: &str, state: &str| {
            json!({
                "Names": [format!("/{name}")],
                "State": state,
                "Ports": [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8085, "Type": "udp"}],
                "NetworkSettings": {"Networks": {}}
            })
        };
        let all = [
            container("up", "running"),
            container("held", "paused"),
            container("again", "restarting"),
            container("gone", "exited"),
            container("new", "created"),
        ];
        let running: Vec<String> = publishing_on(all.iter().filter(|c| is_running(c)), 8085)
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(running, ["up", "held", "again"]);
    }

    #[test]
    fn a_running_container_that_publishes_nothing_is_found_by_its_bindings() {
        // As Docker 20.10 lists and inspects `--network host -p 8093:80`, and `-p
        // '[::1]:8087:80'` with IPv6 off (no mapping: `Ports` has no `PublicPort`).
        let listed = |name: &str, ports: Value| {
            json!({"Id": "85b4a5212a67ccfa08f7", "Names": [format!("/{name}")], "State": "running",
                "Ports": ports})
        };
        let host = listed("hostnet", json!([]));
        let six = listed("six7", json!([{"PrivatePort": 80, "Type": "tcp"}]));
        let web = listed(
            "web",
            json!([{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}]),
        );
        assert!(may_not_publish(&host) && may_not_publish(&six));
        assert!(!may_not_publish(&web));
        let inspected = |mode: &str, host_ip: &str, port: &str| {
            json!({"HostConfig": {"NetworkMode": mode,
                "PortBindings": {"80/tcp": [{"HostIp": host_ip, "HostPort": port}]}}})
        };
        let v4: &[IpAddr] = &["127.0.0.1".parse().unwrap()];
        let found = unpublished(&host, &inspected("host", "", "8093"), 8093, v4).unwrap();
        assert_eq!(
            (
                found.name.as_str(),
                found.id.as_str(),
                found.reason,
                found.container_port
            ),
            ("hostnet", "85b4a5212a67", "host-network", 80)
        );
        assert_eq!(found.host_ip, None);
        // `::1` for 127.0.0.1: both are `localhost`.
        let found = unpublished(&six, &inspected("default", "::1", "8087"), 8087, v4).unwrap();
        assert_eq!(found.reason, "not-mapped");
        assert_eq!(found.host_ip.as_deref(), Some("::1"));
        // Another port, or an address the connection did not go to: not this one.
        assert_eq!(
            unpublished(&host, &inspected("host", "", "8093"), 8094, v4),
            None
        );
        let lan: &[IpAddr] = &["192.168.1.5".parse().unwrap()];
        assert_eq!(
            unpublished(&six, &inspected("default", "::1", "8087"), 8087, lan),
            None
        );
    }

    #[test]
    fn the_body_is_read_only_from_a_200() {
        let ok = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n[{\"Id\":\"a\"}]";
        assert_eq!(body(ok).unwrap(), json!([{"Id": "a"}]));
        let denied = b"HTTP/1.0 403 Forbidden\r\n\r\n{\"message\":\"no\"}";
        assert!(body(denied).is_err());
        assert!(body(b"HTTP/1.0 200 OK\r\n").is_err());
        assert!(body(b"HTTP/1.0 200 OK\r\n\r\n{not json").is_err());
    }
}
