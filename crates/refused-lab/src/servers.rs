//! Real servers from Debian's packages, started by tests on loopback ports of their own:
//! PostgreSQL (`postgresql`), Redis (`redis-server`), MariaDB (`mariadb-server`) and a TLS server of OpenSSL's (`openssl
//! s_server`, with a certificate `openssl req -x509` made). Each is stopped and its files removed
//! when dropped. A test checks first that they are installed: `require(test, &[Tool::Postgres])`.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::tools::Tool;
use crate::{LabError, Netns, Scratch};

/// A port nobody listens on right now (bound, read, released).
pub fn free_port() -> Result<u16, LabError> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|err| LabError::Io("a free port".into(), err))
}

/// A server process, stopped (SIGTERM, then waited for) on drop.
#[derive(Debug)]
pub struct Server {
    child: Child,
    /// Where it listens (for a server on its unix socket alone, where it would: PostgreSQL
    /// names its socket for the port).
    pub addr: SocketAddr,
    /// Its files, removed (on drop, after the process is stopped).
    dir: Scratch,
}

impl Server {
    /// Its scratch folder, where PostgreSQL puts its unix socket.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
        }
        let _ = self.child.wait();
    }
}

fn scratch(name: &str) -> Result<Scratch, LabError> {
    Scratch::try_new(name)
        .map_err(|err| LabError::Io(format!("a scratch directory for {name}"), err))
}

fn not_started(tool: Tool, err: &std::io::Error) -> LabError {
    LabError::Tool {
        tool: tool.program().to_owned(),
        message: format!("{err} (install it: apt-get install {})", tool.package()),
    }
}

/// `redis-server`'s arguments for a throwaway server on 127.0.0.1:`port` (nothing saved).
pub fn redis_args(port: u16) -> Vec<String> {
    [
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Starts `redis-server` on a free loopback port, with `args` added (`--requirepass x`).
pub fn redis(args: &[&str]) -> Result<Server, LabError> {
    let port = free_port()?;
    let dir = scratch("redis")?;
    let child = Command::new("redis-server")
        .args(redis_args(port))
        .arg("--dir")
        .arg(dir.path())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|err| not_started(Tool::RedisServer, &err))?;
    Ok(Server {
        child,
        addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        dir,
    })
}

/// PostgreSQL refuses to run as root: as root, run it as the `postgres` user of the package.
/// In `netns` when given (`ip netns exec`), else in this namespace.
fn as_postgres(program: &Path, netns: Option<&Netns>) -> Result<Command, LabError> {
    let command = |program: &std::ffi::OsStr| {
        netns.map_or_else(|| Command::new(program), |netns| netns.command(program))
    };
    if !rustix::process::geteuid().is_root() {
        return Ok(command(program.as_os_str()));
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let ids = passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        match fields.as_slice() {
            ["postgres", _, uid, gid, ..] => Some(((*uid).to_owned(), (*gid).to_owned())),
            _ => None,
        }
    });
    let Some((uid, gid)) = ids else {
        return Err(LabError::Tool {
            tool: "postgres".into(),
            message: "no `postgres` user to run it as (apt-get install postgresql)".into(),
        });
    };
    let mut command = command("setpriv".as_ref());
    command
        .arg(format!("--reuid={uid}"))
        .arg(format!("--regid={gid}"))
        .arg("--clear-groups")
        .arg(program);
    Ok(command)
}

/// Where a PostgreSQL of [`postgres_with`] takes connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostgresListen {
    /// On 127.0.0.1, and its unix socket.
    Loopback,
    /// On its unix socket alone (`listen_addresses = ''`).
    SocketOnly,
}

/// Initialises a cluster in a scratch folder and starts PostgreSQL on a free loopback port
/// (trust authentication, no fsync; its unix socket in the same folder).
pub fn postgres() -> Result<Server, LabError> {
    postgres_with(None, PostgresListen::Loopback)
}

/// [`postgres`], run in `netns` (this namespace when `None`), listening as `listen` says.
pub fn postgres_with(netns: Option<&Netns>, listen: PostgresListen) -> Result<Server, LabError> {
    let bin = Tool::Postgres.path().ok_or_else(|| LabError::Tool {
        tool: "postgres".into(),
        message: "no /usr/lib/postgresql/*/bin/postgres (apt-get install postgresql)".into(),
    })?;
    let dir = scratch("postgres")?;
    if rustix::process::geteuid().is_root() {
        let _ = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(dir.path())
            .status();
    }
    let data = dir.join("data");
    let init = as_postgres(&bin.join("initdb"), None)?
        .arg("-D")
        .arg(&data)
        .args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "--no-instructions",
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|err| not_started(Tool::Postgres, &err))?;
    if !init.status.success() {
        return Err(LabError::Tool {
            tool: "initdb".into(),
            message: String::from_utf8_lossy(&init.stderr).trim().to_owned(),
        });
    }
    let port = free_port()?;
    let addresses = match listen {
        PostgresListen::Loopback => "listen_addresses=127.0.0.1",
        PostgresListen::SocketOnly => "listen_addresses=",
    };
    let child = as_postgres(&bin.join("postgres"), netns)?
        .arg("-D")
        .arg(&data)
        .args(["-p", &port.to_string(), "-c", addresses, "-c", "fsync=off"])
        .arg("-k")
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|err| not_started(Tool::Postgres, &err))?;
    Ok(Server {
        child,
        addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        dir,
    })
}

/// Initialises a MariaDB data folder in a scratch folder (`mariadb-install-db`: root without a
/// password, `root@localhost`, `root@127.0.0.1` and `root@::1`) and starts `mariadbd` on
/// `addr` (in `netns` when given), with `args` added (`--max-connect-errors=2`,
/// `--init-file=...`); its unix socket is `sock` in [`Server::dir`]. As root it runs as the
/// package's `mysql` user. A test waits for it to listen (`refused wait mysql://...`). Unless
/// `args` has `--skip-name-resolve`, it looks up its clients' addresses: write the namespace's
/// `hosts` and `resolv.conf` first ([`Netns::write_etc`]), so that no lookup leaves the lab.
pub fn mariadb(netns: Option<&Netns>, addr: SocketAddr, args: &[&str]) -> Result<Server, LabError> {
    let dir = scratch("mariadb")?;
    let root = rustix::process::geteuid().is_root();
    let user: &[&str] = if root { &["--user=mysql"] } else { &[] };
    if root {
        let _ = Command::new("chown")
            .args(["mysql:mysql"])
            .arg(dir.path())
            .status();
    }
    let data = dir.join("data");
    let init = Command::new("mariadb-install-db")
        .arg("--no-defaults")
        .args(user)
        .arg(format!("--datadir={}", data.display()))
        .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
        // Its own temporary tables: two at once in /tmp remove each other's.
        .arg(format!("--tmpdir={}", dir.path().display()))
        .stdin(Stdio::null())
        .output()
        .map_err(|err| not_started(Tool::Mariadb, &err))?;
    if !init.status.success() {
        return Err(LabError::Tool {
            tool: "mariadb-install-db".into(),
            message: String::from_utf8_lossy(&init.stderr).trim().to_owned(),
        });
    }
    let program = Tool::Mariadb.path().ok_or_else(|| LabError::Tool {
        tool: "mariadbd".into(),
        message: "not on PATH (apt-get install mariadb-server)".into(),
    })?;
    let mut command = netns.map_or_else(|| Command::new(&program), |n| n.command(&program));
    let child = command
        .arg("--no-defaults")
        .args(user)
        .arg(format!("--datadir={}", data.display()))
        .arg(format!("--socket={}", dir.join("sock").display()))
        .arg(format!("--pid-file={}", dir.join("pid").display()))
        .arg(format!("--log-error={}", dir.join("error.log").display()))
        .arg(format!("--tmpdir={}", dir.path().display()))
        .arg(format!("--port={}", addr.port()))
        .arg(format!("--bind-address={}", addr.ip()))
        .args(["--innodb-buffer-pool-size=16M", "--skip-log-bin"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|err| not_started(Tool::Mariadb, &err))?;
    Ok(Server { child, addr, dir })
}

/// What kind of self-signed certificate [`openssl_server`] makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelfSigned {
    /// What `openssl req -x509` makes by default: `CA:TRUE` (OpenSSL's `v3_ca` section).
    Ca,
    /// A server's own: `basicConstraints = critical,CA:FALSE`.
    Leaf,
}

/// Makes a self-signed certificate for `localhost` (`CN=localhost`, subject alternative name
/// `DNS:localhost`) with `openssl req -x509`, and serves it with `openssl s_server -www` (an
/// HTTP 200 to any request) on a free loopback port, listening when this returns. The
/// certificate is `cert.pem` in [`Server::dir`], for a `--cacert`.
pub fn openssl_server(kind: SelfSigned) -> Result<Server, LabError> {
    let dir = scratch("openssl")?;
    let mut req = Command::new("openssl");
    req.args([
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
    ])
    .args([
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=DNS:localhost",
    ]);
    if kind == SelfSigned::Leaf {
        req.args(["-addext", "basicConstraints=critical,CA:FALSE"]);
    }
    let made = req
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .stdin(Stdio::null())
        .output()
        .map_err(|err| not_started(Tool::Openssl, &err))?;
    if !made.status.success() {
        return Err(LabError::Tool {
            tool: "openssl req".into(),
            message: String::from_utf8_lossy(&made.stderr).trim().to_owned(),
        });
    }
    let port = free_port()?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let child = Command::new("openssl")
        .args(["s_server", "-quiet", "-www", "-accept"])
        .arg(addr.to_string())
        .arg("-cert")
        .arg(dir.join("cert.pem"))
        .arg("-key")
        .arg(dir.join("key.pem"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|err| not_started(Tool::Openssl, &err))?;
    let server = Server { child, addr, dir };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_err() {
        if std::time::Instant::now() > deadline {
            return Err(LabError::Tool {
                tool: "openssl s_server".into(),
                message: format!("not listening on {addr} after 10 s"),
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Ok(server)
}
