//! The programs that tests need from Debian's packages. A test names the ones it needs
//! ([`require`], [`crate::Lab::or_skip_needing`]); when one is missing it skips outside CI with
//! one line naming the package to install, and fails in CI, where `.ci/run` installs them all.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::LabError;

/// A program from a Debian package that some tests need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// `ip` (iproute2): the lab's namespaces, links, addresses and routes.
    Ip,
    /// `nft` (nftables): the lab's firewalls, packet loss and silent resolver.
    Nft,
    /// `dnsmasq` (dnsmasq-base): the lab's DNS server.
    Dnsmasq,
    /// `redis-server`: a real Redis.
    RedisServer,
    /// PostgreSQL's `initdb` and `postgres` (postgresql): a real PostgreSQL. Debian keeps them
    /// in `/usr/lib/postgresql/NN/bin`, off `PATH`.
    Postgres,
    /// `iptables` (iptables; iptables-nft on Debian 12).
    Iptables,
    /// `ufw`: the uncomplicated firewall, run inside a lab namespace.
    Ufw,
    /// `docker-proxy` (docker.io; Docker's own packages install it too): Docker's userland port
    /// proxy, run alone (no Docker daemon) in front of a namespace that plays the container.
    DockerProxy,
    /// `firewalld` (with `firewall-cmd` and, through its dependencies, `dbus-daemon`): run
    /// inside a lab namespace alone, on a D-Bus of its own ([`crate::Netns::firewalld`]).
    Firewalld,
    /// `tinyproxy`: a real HTTP proxy, for `why` through `http_proxy`.
    Tinyproxy,
    /// `openssl`: certificates as `openssl req -x509` makes them, served by `openssl s_server`.
    Openssl,
    /// `mariadbd` and `mariadb-install-db` (mariadb-server): a real MariaDB, for `mysql://`.
    Mariadb,
    /// `fail2ban-server` and `fail2ban-client` (fail2ban): its bans, as its actions write them.
    Fail2ban,
    /// `sshd` (openssh-server, which brings `ssh` and `ssh-keygen`): real ssh tunnels.
    Sshd,
    /// `haproxy`: a real load balancer, whose own answers (a 503 without a backend) `why` reads.
    Haproxy,
    /// `nginx` with its stream module (libnginx-mod-stream, for `ssl_preread`): a real web
    /// server and proxy, whose deliberate closes and rate limits `why` reads.
    Nginx,
    /// `ipset`: iptables' sets, as a blocklist or an allow list matches them.
    Ipset,
}

impl Tool {
    /// Every tool, in the order the README's install command lists their packages.
    pub const ALL: [Self; 17] = [
        Self::Ip,
        Self::Nft,
        Self::Dnsmasq,
        Self::RedisServer,
        Self::Postgres,
        Self::Iptables,
        Self::Ufw,
        Self::DockerProxy,
        Self::Firewalld,
        Self::Tinyproxy,
        Self::Openssl,
        Self::Mariadb,
        Self::Fail2ban,
        Self::Sshd,
        Self::Haproxy,
        Self::Nginx,
        Self::Ipset,
    ];

    /// The program's name.
    pub fn program(self) -> &'static str {
        match self {
            Self::Ip => "ip",
            Self::Nft => "nft",
            Self::Dnsmasq => "dnsmasq",
            Self::RedisServer => "redis-server",
            Self::Postgres => "initdb",
            Self::Iptables => "iptables",
            Self::Ufw => "ufw",
            Self::DockerProxy => "docker-proxy",
            Self::Firewalld => "firewalld",
            Self::Tinyproxy => "tinyproxy",
            Self::Openssl => "openssl",
            Self::Mariadb => "mariadbd",
            Self::Fail2ban => "fail2ban-server",
            Self::Sshd => "sshd",
            Self::Haproxy => "haproxy",
            Self::Nginx => "nginx",
            Self::Ipset => "ipset",
        }
    }

    /// The Debian package that installs it.
    pub fn package(self) -> &'static str {
        match self {
            Self::Ip => "iproute2",
            Self::Nft => "nftables",
            Self::Dnsmasq => "dnsmasq-base",
            Self::RedisServer => "redis-server",
            Self::Postgres => "postgresql",
            Self::Iptables => "iptables",
            Self::Ufw => "ufw",
            Self::DockerProxy => "docker.io",
            Self::Firewalld => "firewalld",
            Self::Tinyproxy => "tinyproxy",
            Self::Openssl => "openssl",
            Self::Mariadb => "mariadb-server",
            Self::Fail2ban => "fail2ban",
            Self::Sshd => "openssh-server",
            Self::Haproxy => "haproxy",
            Self::Nginx => "nginx libnginx-mod-stream",
            Self::Ipset => "ipset",
        }
    }

    /// The tool a program name belongs to, if it is one of these.
    pub fn of_program(program: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|tool| {
            tool.program() == program || (*tool == Self::Postgres && program == "postgres")
        })
    }

    /// Where the program is: found on `PATH` (as `Command::new` and `ip netns exec` look for
    /// it); for PostgreSQL, the newest `/usr/lib/postgresql/NN/bin` that has both `initdb` and
    /// `postgres` (the folder, not a program); nginx only with its stream module.
    pub fn path(self) -> Option<PathBuf> {
        match self {
            Self::Postgres => postgres_bin(),
            Self::Nginx => on_path("nginx").filter(|_| Path::new(NGINX_STREAM_MODULE).is_file()),
            _ => on_path(self.program()),
        }
    }

    /// Whether it is installed here.
    pub fn is_installed(self) -> bool {
        self.path().is_some()
    }
}

/// Where Debian's libnginx-mod-stream puts nginx's stream module (`load_module` it).
pub const NGINX_STREAM_MODULE: &str = "/usr/lib/nginx/modules/ngx_stream_module.so";

/// Whether every tool in `tools` is installed. When one is not: outside CI, prints one line
/// (`skipping TEST: ... (apt-get install PACKAGE...)`) and returns `false`, so the test returns
/// at once; under CI (`CI` set), where everything must run, panics with the same reason.
///
/// # Panics
///
/// Under CI, when a tool is missing.
pub fn require(test: &str, tools: &[Tool]) -> bool {
    match missing(tools) {
        None => true,
        Some(reason) => {
            skip(test, &reason);
            false
        }
    }
}

/// Why `tools` cannot all be used, naming what to install; `None` when they can.
pub fn missing(tools: &[Tool]) -> Option<String> {
    let absent: Vec<Tool> = tools
        .iter()
        .copied()
        .filter(|t| !t.is_installed())
        .collect();
    not_installed(&absent)
}

/// The one line that says which of `absent` to install.
fn not_installed(absent: &[Tool]) -> Option<String> {
    if absent.is_empty() {
        return None;
    }
    let programs: Vec<String> = absent
        .iter()
        .map(|t| format!("`{}`", t.program()))
        .collect();
    let packages: Vec<&str> = absent.iter().map(|t| t.package()).collect();
    Some(format!(
        "{} not installed (apt-get install {})",
        programs.join(", "),
        packages.join(" ")
    ))
}

/// Fails at once, naming the package, when `program` is one of the tools and is missing: run
/// through `ip netns exec`, a missing program is otherwise a bare "No such file" from `ip`, or,
/// for a server spawned in the background, no error at all.
pub(crate) fn installed(program: &str) -> Result<(), LabError> {
    let Some(tool) = Tool::of_program(program) else {
        return Ok(());
    };
    match missing(&[tool]) {
        Some(message) => Err(LabError::Tool {
            tool: program.to_owned(),
            message,
        }),
        None => Ok(()),
    }
}

/// Skips a test that cannot run here, or fails it under CI (`CI` set), where everything must run.
pub(crate) fn skip(test: &str, reason: &dyn std::fmt::Display) {
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: required in CI: {reason}"
    );
    // Straight to the stream, past libtest's capture of `eprintln!`, so the reason shows in a
    // plain `cargo test` run.
    let _ = writeln!(std::io::stderr(), "skipping {test}: {reason}");
}

fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// Where Debian keeps PostgreSQL's server binaries (`/usr/lib/postgresql/NN/bin`), newest first.
fn postgres_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, bin)| {
            is_executable(&bin.join("initdb")) && is_executable(&bin.join("postgres"))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_is_found_by_its_program_name() {
        for tool in Tool::ALL {
            assert_eq!(Tool::of_program(tool.program()), Some(tool));
        }
        assert_eq!(Tool::of_program("postgres"), Some(Tool::Postgres));
        assert_eq!(Tool::of_program("sh"), None);
    }

    #[test]
    fn the_reason_names_each_program_and_its_package() {
        assert_eq!(missing(&[]), None);
        assert_eq!(not_installed(&[]), None);
        assert_eq!(
            not_installed(&[Tool::Nft]).as_deref(),
            Some("`nft` not installed (apt-get install nftables)")
        );
        assert_eq!(
            not_installed(&[Tool::Dnsmasq, Tool::Postgres]).as_deref(),
            Some("`dnsmasq`, `initdb` not installed (apt-get install dnsmasq-base postgresql)")
        );
    }
}
