//! One network namespace: a host of the lab. Deleted when dropped, with its veths, its
//! `/etc/netns/NAME` files and the processes the lab started in it.

use std::fs;
use std::io::Write;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;

use crate::LabError;
use crate::tools::installed;

/// A named network namespace (`ip netns add NAME`).
#[derive(Debug)]
pub struct Netns {
    name: String,
    children: Mutex<Vec<Child>>,
}

impl Netns {
    /// Creates the namespace with its loopback up.
    pub(crate) fn create(name: String) -> Result<Self, LabError> {
        ip(&["netns", "add", &name])?;
        let netns = Self {
            name,
            children: Mutex::new(Vec::new()),
        };
        netns.ip(&["link", "set", "lo", "up"])?;
        Ok(netns)
    }

    /// The namespace's name, for `ip netns exec NAME`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n NAME ARGS...`.
    pub fn ip(&self, args: &[&str]) -> Result<(), LabError> {
        let mut full = vec!["-n", &self.name];
        full.extend_from_slice(args);
        ip(&full)
    }

    /// A veth pair: `name` here, `peer_name` in `peer` (both down, without addresses).
    pub fn veth(&self, name: &str, peer: &Self, peer_name: &str) -> Result<(), LabError> {
        self.ip(&[
            "link",
            "add",
            name,
            "type",
            "veth",
            "peer",
            "name",
            peer_name,
            "netns",
            peer.name(),
        ])
    }

    /// A command that runs inside the namespace (`ip netns exec NAME PROGRAM`), which also sees
    /// this namespace's `/etc/netns/NAME/hosts` and `resolv.conf` in place of `/etc`'s.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }

    /// A command that runs inside the namespace as on a machine of its own: it sees only its own
    /// processes (a new pid namespace and `/proc`) and no named namespace (an empty `/run/netns`),
    /// so the lab's other namespaces are remote hosts to it, as real ones are. [`Netns::command`]
    /// instead sees the whole machine, the way a program on a host sees its containers.
    pub fn command_alone(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        const HIDE_NAMED: &str = "for d in /run/netns /run/docker/netns; do \
            if [ -d \"$d\" ]; then mount -t tmpfs -o size=64k lab-alone \"$d\" || exit 125; fi; \
            done; exec \"$@\"";
        let mut cmd = self.command("unshare");
        cmd.args([
            "--pid",
            "--fork",
            "--mount-proc",
            "sh",
            "-c",
            HIDE_NAMED,
            "sh",
        ])
        .arg(program);
        cmd
    }

    /// Runs a shell-free command inside the namespace and checks it succeeded.
    pub fn exec(&self, program: &str, args: &[&str]) -> Result<Output, LabError> {
        installed(program)?;
        let output = self
            .command(program)
            .args(args)
            .output()
            .map_err(|err| not_run(program, &err))?;
        check(program, args, &output)?;
        Ok(output)
    }

    /// Starts a long-running process in the namespace; it is killed when the namespace drops.
    pub fn spawn(&self, program: &str, args: &[&str]) -> Result<(), LabError> {
        installed(program)?;
        let child = self
            .command(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|err| not_run(program, &err))?;
        self.hold(child);
        Ok(())
    }

    /// Loads an nftables ruleset into the namespace (`nft -f -`).
    pub fn nft(&self, ruleset: &str) -> Result<(), LabError> {
        installed("nft")?;
        let mut child = self
            .command("nft")
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|err| not_run("nft", &err))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(ruleset.as_bytes())
                .map_err(|err| not_run("nft", &err))?;
        }
        let output = child
            .wait_with_output()
            .map_err(|err| not_run("nft", &err))?;
        check("nft", &["-f", "-"], &output)
    }

    /// Adds filter rules on a hook (`input` or `output`) in a table of their own, for example
    /// `filter("input", &["tcp dport 7001 drop"])` or
    /// `filter("output", &["tcp dport 5432 reject with icmp type admin-prohibited"])`.
    pub fn filter(&self, hook: &str, rules: &[&str]) -> Result<(), LabError> {
        let mut ruleset = format!(
            "table inet lab_{hook} {{\n  chain {hook} {{\n    type filter hook {hook} priority 0;\n"
        );
        for rule in rules {
            ruleset.push_str("    ");
            ruleset.push_str(rule);
            ruleset.push('\n');
        }
        ruleset.push_str("  }\n}\n");
        self.nft(&ruleset)
    }

    /// `iptables ARGS...` inside the namespace (on Debian, iptables-nft: its rules show in
    /// nft's ruleset, as on a real host).
    pub fn iptables(&self, args: &[&str]) -> Result<(), LabError> {
        self.exec("iptables", args).map(drop)
    }

    /// `ip6tables ARGS...` inside the namespace.
    pub fn ip6tables(&self, args: &[&str]) -> Result<(), LabError> {
        self.exec("ip6tables", args).map(drop)
    }

    /// `ufw ARGS...` inside the namespace, enabling ufw there first: its configuration is
    /// copied to `/etc/netns/NAME/`, which `ip netns exec` binds over `/etc`, so the host's own
    /// ufw stays as it is.
    pub fn ufw(&self, args: &[&str]) -> Result<(), LabError> {
        let dir = self.etc_dir();
        if !dir.join("ufw").exists() {
            let default = dir.join("default");
            fs::create_dir_all(&default)
                .map_err(|err| LabError::Io(default.display().to_string(), err))?;
            let copy = |from: &str, to: PathBuf| {
                let output = Command::new("cp")
                    .arg("-a")
                    .arg(from)
                    .arg(&to)
                    .output()
                    .map_err(|err| not_run("cp", &err))?;
                check("cp", &["-a", from, &to.display().to_string()], &output)
            };
            copy("/etc/ufw", dir.join("ufw"))?;
            copy("/etc/default/ufw", default.join("ufw"))?;
            self.exec("ufw", &["--force", "enable"])?;
        }
        self.exec("ufw", args).map(drop)
    }

    /// Starts firewalld inside the namespace, with its default zone (Debian's `public`: ssh and
    /// dhcpv6-client open, every other port rejected with `icmpx admin-prohibited`), and waits
    /// until it has loaded its rules (`firewall-cmd --state`, ~0.5 s). It never touches the
    /// machine's own: its configuration is a copy in `/etc/netns/NAME/firewalld`, which `ip netns
    /// exec` binds over `/etc/firewalld`; its D-Bus system bus is a `dbus-daemon` of its own on
    /// an abstract socket, and abstract sockets belong to the network namespace (the bus's
    /// configuration sits in the copied folder, where firewalld ignores it); `/run` is a tmpfs
    /// of its own (its temporary files). Both processes are stopped when the namespace drops.
    /// [`Netns::firewall_cmd`] talks to it.
    pub fn firewalld(&self) -> Result<(), LabError> {
        installed("firewalld")?;
        let config = self.copy_of_etc("firewalld")?;
        let bus = config.join("lab-dbus.conf");
        fs::write(&bus, FIREWALLD_BUS)
            .map_err(|err| LabError::Io(bus.display().to_string(), err))?;
        self.keep(
            self.command("dbus-daemon")
                .args(["--nofork", "--nopidfile"])
                .arg("--config-file=/etc/firewalld/lab-dbus.conf"),
            "dbus-daemon",
        )?;
        self.keep(
            self.command("sh").args([
                "-c",
                "mount -t tmpfs -o size=1m,mode=755 refused-lab /run && \
                 exec firewalld --nofork --nopid --log-target console",
            ]),
            "firewalld",
        )?;
        let start = std::time::Instant::now();
        loop {
            let state = self.firewall_cmd_output(&["--state"])?;
            if state.status.success() {
                return Ok(());
            }
            if start.elapsed() > std::time::Duration::from_secs(20) {
                return Err(LabError::Tool {
                    tool: "firewalld".into(),
                    message: format!(
                        "not running within 20 s: {}",
                        String::from_utf8_lossy(&state.stderr).trim()
                    ),
                });
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// `firewall-cmd ARGS...` inside the namespace, talking to the firewalld that
    /// [`Netns::firewalld`] started there; checks it succeeded.
    pub fn firewall_cmd(&self, args: &[&str]) -> Result<(), LabError> {
        let output = self.firewall_cmd_output(args)?;
        check("firewall-cmd", args, &output)
    }

    fn firewall_cmd_output(&self, args: &[&str]) -> Result<Output, LabError> {
        self.command("firewall-cmd")
            .args(args)
            .env("DBUS_SYSTEM_BUS_ADDRESS", FIREWALLD_BUS_ADDRESS)
            .stdin(Stdio::null())
            .output()
            .map_err(|err| not_run("firewall-cmd", &err))
    }

    /// Keeps a child of this namespace, to be killed when the namespace drops.
    fn hold(&self, child: std::process::Child) {
        self.children
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(child);
    }

    /// Starts `command` (of this namespace) in the background, on firewalld's D-Bus, and keeps
    /// it to be killed when the namespace drops.
    fn keep(&self, command: &mut Command, program: &str) -> Result<(), LabError> {
        let child = command
            .env("DBUS_SYSTEM_BUS_ADDRESS", FIREWALLD_BUS_ADDRESS)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|err| not_run(program, &err))?;
        self.hold(child);
        Ok(())
    }

    /// `/etc/NAME` copied into `/etc/netns/NAME/` of this namespace, which `ip netns exec`
    /// binds over `/etc`: the copy, for this namespace's commands alone to change.
    fn copy_of_etc(&self, name: &str) -> Result<std::path::PathBuf, LabError> {
        let dir = self.etc_dir();
        fs::create_dir_all(&dir).map_err(|err| LabError::Io(dir.display().to_string(), err))?;
        let copy = dir.join(name);
        let (from, target) = (format!("/etc/{name}"), copy.display().to_string());
        let output = Command::new("cp")
            .args(["-a", &from, &target])
            .output()
            .map_err(|err| not_run("cp", &err))?;
        check("cp", &["-a", &from, &target], &output)?;
        Ok(copy)
    }

    /// Makes `iptables`, `ip6tables` and their `-save` / `-restore` the legacy ones inside the
    /// namespace, as on a host whose alternatives choose iptables-legacy (Ubuntu 20.04, say):
    /// `/etc/alternatives` is copied to `/etc/netns/NAME/`, which `ip netns exec` binds over
    /// `/etc`, and its iptables links point at the `-legacy` commands. ufw, run afterwards, then
    /// writes its rules to the legacy tables. Call it before [`Netns::ufw`].
    pub fn use_legacy_iptables(&self) -> Result<(), LabError> {
        installed("iptables-legacy")?;
        let alternatives = self.copy_of_etc("alternatives")?;
        for family in ["iptables", "ip6tables"] {
            for suffix in ["", "-save", "-restore"] {
                let link = alternatives.join(format!("{family}{suffix}"));
                let legacy = format!("/usr/sbin/{family}-legacy{suffix}");
                let _ = fs::remove_file(&link);
                std::os::unix::fs::symlink(&legacy, &link)
                    .map_err(|err| LabError::Io(link.display().to_string(), err))?;
            }
        }
        Ok(())
    }

    /// Attaches an XDP program that drops every packet to `device` of this namespace (generic
    /// mode); it stays attached while the value lives. `Unsupported` where the kernel refuses
    /// to load or attach it (no BPF syscall, no XDP).
    pub fn xdp_drop(&self, device: &str) -> Result<crate::xdp::XdpDrop, LabError> {
        self.run(|| crate::xdp::attach_drop(device))?
            .map_err(|_| LabError::Unsupported("loading an XDP program (bpf(2))"))
    }

    /// Sets a sysctl inside the namespace (`net.ipv4.ip_local_port_range`, say).
    pub fn sysctl(&self, key: &str, value: &str) -> Result<(), LabError> {
        self.exec("sysctl", &["-q", "-w", &format!("{key}={value}")])
            .map(drop)
    }

    /// Runs `work` on a thread that has entered this namespace: sockets it creates (listeners,
    /// clients) live in the namespace and stay there when handed back to the caller.
    pub fn run<T: Send>(&self, work: impl FnOnce() -> T + Send) -> Result<T, LabError> {
        let path = format!("/run/netns/{}", self.name);
        let file = fs::File::open(&path).map_err(|err| LabError::Io(path.clone(), err))?;
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    rustix::thread::move_into_link_name_space(
                        file.as_fd(),
                        Some(rustix::thread::LinkNameSpaceType::Network),
                    )
                    .map_err(|err| LabError::Io(path.clone(), err.into()))?;
                    Ok(work())
                })
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// Writes `/etc/netns/NAME/FILE`, which `ip netns exec` binds over `/etc/FILE`.
    pub fn write_etc(&self, file: &str, contents: &str) -> Result<(), LabError> {
        let dir = self.etc_dir();
        fs::create_dir_all(&dir).map_err(|err| LabError::Io(dir.display().to_string(), err))?;
        let path = dir.join(file);
        fs::write(&path, contents).map_err(|err| LabError::Io(path.display().to_string(), err))
    }

    fn etc_dir(&self) -> PathBuf {
        PathBuf::from("/etc/netns").join(&self.name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let children = self
            .children
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for child in children.iter_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = fs::remove_dir_all(self.etc_dir());
        // Deleting the namespace deletes its veth ends, addresses, routes and rules.
        let _ = ip(&["netns", "del", &self.name]);
    }
}

/// The address of the D-Bus system bus of a namespace's firewalld: an abstract socket, which
/// only that network namespace sees.
const FIREWALLD_BUS_ADDRESS: &str = "unix:abstract=refused-lab-firewalld";

/// That bus's configuration: root alone, who may own and call any name, and no activation (a
/// system bus would try to start polkit for each call firewalld checks).
const FIREWALLD_BUS: &str = r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:abstract=refused-lab-firewalld</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="root"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"#;

/// Runs `ip ARGS...`, checking it succeeded.
pub(crate) fn ip(args: &[&str]) -> Result<(), LabError> {
    installed("ip")?;
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(|err| not_run("ip", &err))?;
    check("ip", args, &output)
}

/// A tool that could not be started or talked to (missing, say).
fn not_run(tool: &str, err: &std::io::Error) -> LabError {
    LabError::Tool {
        tool: tool.to_owned(),
        message: err.to_string(),
    }
}

fn check(program: &str, args: &[&str], output: &Output) -> Result<(), LabError> {
    if output.status.success() {
        return Ok(());
    }
    Err(LabError::Tool {
        tool: format!("{program} {}", args.join(" ")),
        message: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
    })
}
