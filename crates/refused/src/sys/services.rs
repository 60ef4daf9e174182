//! Well-known services: which program usually listens on a port, and how it is started.

use std::path::Path;

/// A service people often run locally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    /// Its usual name.
    pub name: &'static str,
    /// Its usual ports.
    pub ports: &'static [u16],
    /// Command names (`/proc/PID/comm`) of its server processes.
    pub commands: &'static [&'static str],
    /// systemd units that start it, in the order to suggest them.
    pub units: &'static [&'static str],
}

const SERVICES: &[Service] = &[
    Service {
        name: "PostgreSQL",
        ports: &[5432],
        commands: &["postgres", "postmaster"],
        units: &["postgresql"],
    },
    Service {
        name: "Redis",
        ports: &[6379],
        commands: &["redis-server", "valkey-server"],
        units: &["redis-server", "redis", "valkey-server"],
    },
    Service {
        name: "MySQL",
        ports: &[3306],
        commands: &["mysqld", "mariadbd"],
        units: &["mariadb", "mysql", "mysqld"],
    },
    Service {
        name: "MongoDB",
        ports: &[27017],
        commands: &["mongod"],
        units: &["mongod"],
    },
    Service {
        name: "memcached",
        ports: &[11211],
        commands: &["memcached"],
        units: &["memcached"],
    },
    Service {
        name: "SSH",
        ports: &[22],
        commands: &["sshd"],
        units: &["ssh", "sshd"],
    },
    Service {
        name: "a web server",
        ports: &[80, 443],
        commands: &["nginx", "apache2", "httpd", "caddy"],
        units: &["nginx", "apache2", "httpd", "caddy"],
    },
    Service {
        name: "RabbitMQ",
        ports: &[5672],
        commands: &["beam.smp"],
        units: &["rabbitmq-server"],
    },
    Service {
        name: "Elasticsearch",
        ports: &[9200],
        commands: &["java"],
        units: &["elasticsearch"],
    },
    // Programs that sit on a port near another well-known one: at home there, never that
    // other service misplaced (a pooler in front of PostgreSQL, Prometheus' Alertmanager and
    // exporter). Debian's names are cut to /proc's 15 characters.
    Service {
        name: "PgBouncer",
        ports: &[6432],
        commands: &["pgbouncer"],
        units: &["pgbouncer"],
    },
    Service {
        name: "Prometheus",
        ports: &[9090],
        commands: &["prometheus"],
        units: &["prometheus"],
    },
    Service {
        name: "Alertmanager",
        ports: &[9093],
        commands: &["alertmanager", "prometheus-aler"],
        units: &["prometheus-alertmanager", "alertmanager"],
    },
    Service {
        name: "node_exporter",
        ports: &[9100],
        commands: &["node_exporter", "prometheus-node"],
        units: &["prometheus-node-exporter", "node_exporter"],
    },
];

/// Programs that listen beside an application rather than being it (a host's or container's
/// sshd, a metrics exporter, the host's resolver): never offered as the port a person meant.
const BESIDE_THE_APP: &[&str] = &[
    "sshd",
    "sshd-session",
    "dropbear",
    "node_exporter",
    "prometheus-node",
    "cadvisor",
    "dnsmasq",
    "systemd-resolve",
    "systemd",
    "rpcbind",
    "chronyd",
    "cupsd",
    "avahi-daemon",
    "containerd",
    "dockerd",
    "tailscaled",
];

/// Whether a program (`/proc/PID/comm`) listens beside an application rather than being it.
pub fn is_beside_the_app(command: &str) -> bool {
    BESIDE_THE_APP.contains(&command)
}

/// The service usually found on `port`.
pub fn by_port(port: u16) -> Option<&'static Service> {
    SERVICES.iter().find(|s| s.ports.contains(&port))
}

impl Service {
    /// Whether a process with this command name is one of this service's servers.
    pub fn is_command(&self, command: &str) -> bool {
        self.commands.contains(&command)
    }

    /// The systemd unit installed on this host that starts it, if any.
    pub fn installed_unit(&self) -> Option<&'static str> {
        const UNIT_DIRS: [&str; 4] = [
            "/etc/systemd/system",
            "/lib/systemd/system",
            "/usr/lib/systemd/system",
            "/run/systemd/system",
        ];
        self.units.iter().copied().find(|unit| {
            UNIT_DIRS
                .iter()
                .any(|dir| Path::new(dir).join(format!("{unit}.service")).exists())
        })
    }
}

/// TCP service names by port, from the text of `/etc/services` (`http 80/tcp www`).
pub fn parse_services(text: &str) -> std::collections::HashMap<u16, String> {
    let mut names = std::collections::HashMap::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default();
        let mut fields = line.split_whitespace();
        let (Some(name), Some(port)) = (fields.next(), fields.next()) else {
            continue;
        };
        let Some((port, "tcp")) = port.split_once('/') else {
            continue;
        };
        if let Ok(port) = port.parse() {
            names.entry(port).or_insert_with(|| name.to_owned());
        }
    }
    names
}

/// This host's `/etc/services`, or nothing when it has none.
pub fn service_names() -> std::collections::HashMap<u16, String> {
    std::fs::read_to_string("/etc/services")
        .map(|text| parse_services(&text))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tcp_names_from_etc_services() {
        let text =
            "# comment\nssh\t\t22/tcp\nhttp 80/tcp www # WWW\nntp 123/udp\nbad line\nx 99999/tcp\n";
        let names = parse_services(text);
        assert_eq!(names.get(&22).map(String::as_str), Some("ssh"));
        assert_eq!(names.get(&80).map(String::as_str), Some("http"));
        assert_eq!(names.get(&123), None);
        assert_eq!(names.len(), 2);
    }

    #[test]
    fn knows_the_common_database_ports() {
        assert_eq!(by_port(5432).map(|s| s.name), Some("PostgreSQL"));
        assert!(by_port(6379).unwrap().is_command("redis-server"));
        assert!(by_port(3306).unwrap().is_command("mariadbd"));
        assert!(by_port(8080).is_none());
    }
}
