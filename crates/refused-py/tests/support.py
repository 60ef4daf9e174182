"""Test support: real sockets on loopback, real Redis and PostgreSQL servers, lab namespaces.

Ports: this suite owns 47500-47999 (each engineer of the project has a range, and `why` looks at
every namespace of the host, so a port someone else listens on would change a diagnosis).
Refused ports are bound but not listening, which guarantees the refusal. Ports of "nothing
listens" tests are kept two digits away from the servers' ports, which `why` would otherwise
name as the port meant (one digit off counts as near).
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Iterator, Optional

import pytest

IN_CI = os.environ.get("CI") == "true"

#: The servers' ports, the first free one taken; the wrong-port tests refuse on the next one.
REDIS_PORTS = (47910, 47930, 47950)
POSTGRES_PORTS = (47920, 47940, 47960)


def need(condition: bool, reason: str) -> None:
    """Skip with a reason outside CI; in CI (root, every tool installed) a skip is a failure."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI must run this test: {reason}")
    pytest.skip(reason)


@contextlib.contextmanager
def refused_port(port: int) -> Iterator[int]:
    """A loopback port that refuses: bound, so nobody else takes it, but not listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    try:
        yield port
    finally:
        sock.close()


class Listener:
    """A loopback TCP server that accepts, answers each connection with `hello\\n`, and closes."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind((host, 0))
        self.sock.listen(512)
        self.host = host
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def target(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            with conn:
                with contextlib.suppress(OSError):
                    conn.sendall(b"hello\n")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._thread.join(timeout=5)


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


@contextlib.contextmanager
def full_queue(port: int) -> Iterator[int]:
    """A listener on `port` that never accepts, with its accept queue full: a connect to it
    gets no answer (the SYN is dropped), so it times out."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(0)  # Linux queues backlog + 1 connections: one client fills it
    clients = []
    try:
        for _ in range(2):
            client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            client.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                client.connect(("127.0.0.1", port))
            clients.append(client)
        yield port
    finally:
        for client in clients:
            client.close()
        server.close()


def _start(what: str, command, target, ports) -> "tuple[subprocess.Popen, int]":
    """Starts a server on the first of `ports` where it comes up. Our range lies inside the
    ephemeral port range, so any connection on the host may hold a port of it for a while: a
    server that cannot bind exits, and the next port is tried."""
    import refused

    for port in ports:
        proc = subprocess.Popen(
            command(port), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            if refused.wait(target(port), timeout=0.5):
                return proc, port
        proc.kill()
        proc.wait()
    raise RuntimeError(f"{what} did not start on any of the ports {list(ports)}")


@pytest.fixture(scope="module")
def redis_server() -> Iterator[int]:
    """A real redis-server on 127.0.0.1, on the first free port of REDIS_PORTS (nothing saved)."""
    binary = shutil.which("redis-server")
    need(binary is not None, "redis-server is not installed (apt-get install redis-server)")
    workdir = tempfile.mkdtemp(prefix="refused-py-redis-")
    proc, port = _start(
        "redis-server",
        lambda port: [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", workdir],
        lambda port: f"redis://127.0.0.1:{port}",
        REDIS_PORTS,
    )
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def _postgres_bin() -> Optional[Path]:
    root = Path("/usr/lib/postgresql")
    versions = sorted(p / "bin" for p in root.glob("*") if (p / "bin" / "postgres").exists()) if root.exists() else []
    return versions[-1] if versions else None


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[int]:
    """A real PostgreSQL on 127.0.0.1 (a port of POSTGRES_PORTS), trust authentication, run as the
    `postgres` user when we are root (it refuses to run as root)."""
    with postgres(POSTGRES_PORTS) as port:
        yield port


@contextlib.contextmanager
def postgres(ports, *settings: str, standby: bool = False) -> Iterator[int]:
    """A real PostgreSQL on 127.0.0.1, on the first of `ports` where it comes up, with the
    `-c` `settings` given. A `standby` (`standby.signal`, no primary) waits for WAL for ever:
    with `hot_standby=off` it turns every client away (57P03), so it is waited for by its
    port alone."""
    bin_dir = _postgres_bin()
    need(bin_dir is not None, "no /usr/lib/postgresql/*/bin/postgres (apt-get install postgresql)")
    workdir = Path(tempfile.mkdtemp(prefix="refused-py-pg-"))
    prefix: list = []
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(workdir, entry.pw_uid, entry.pw_gid)
        prefix = ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--clear-groups"]
    data = workdir / "data"
    subprocess.run(
        [*prefix, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync", "--no-instructions"],
        check=True,
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )
    if standby:
        subprocess.run([*prefix, "touch", str(data / "standby.signal")], check=True)
    options = [arg for setting in settings for arg in ("-c", setting)]
    proc, port = _start(
        "postgres",
        lambda port: [*prefix, str(bin_dir / "postgres"), "-D", str(data), "-p", str(port),
                      "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-k", str(workdir), *options],
        lambda port: f"127.0.0.1:{port}" if standby else f"postgres://postgres@127.0.0.1:{port}/postgres",
        ports,
    )
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def redis_loading(port: int, unix_socket: Optional[str] = None) -> Iterator[int]:
    """A real redis-server on 127.0.0.1:`port` (and on `unix_socket`, when given) loading a
    dataset of 100,000 keys slowly (50 µs a key: about 5 s), answering `-LOADING` meanwhile
    (redis-py's `BusyLoadingError`)."""
    binary = shutil.which("redis-server")
    need(binary is not None, "redis-server is not installed (apt-get install redis-server)")
    workdir = tempfile.mkdtemp(prefix="refused-py-redis-")
    common = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", workdir]
    import redis

    import refused

    procs = []
    try:
        # Make the dataset (DEBUG POPULATE), save it, and start again loading it.
        procs.append(subprocess.Popen([*common, "--enable-debug-command", "local"], stdout=subprocess.DEVNULL))
        assert refused.wait(f"redis://127.0.0.1:{port}", timeout=30), "redis-server did not start"
        client = redis.Redis(host="127.0.0.1", port=port)
        client.execute_command("DEBUG", "POPULATE", 100000)
        client.save()
        client.close()
        procs[0].terminate()
        procs[0].wait(timeout=10)
        procs.append(subprocess.Popen(
            [*common, "--key-load-delay", "50", "--loading-process-events-interval-bytes", "1024",
             *(["--unixsocket", unix_socket] if unix_socket else [])],
            stdout=subprocess.DEVNULL,
        ))
        assert refused.wait(f"127.0.0.1:{port}", timeout=30), "redis-server did not start again"
        yield port
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def tinyproxy(port: int) -> Iterator[str]:
    """Debian's tinyproxy on 127.0.0.1:`port`, for loopback clients: its URL."""
    binary = shutil.which("tinyproxy")
    need(binary is not None, "tinyproxy is not installed (apt-get install tinyproxy)")
    import refused

    workdir = Path(tempfile.mkdtemp(prefix="refused-py-tinyproxy-"))
    config = workdir / "tinyproxy.conf"
    config.write_text(f"Port {port}\nListen 127.0.0.1\nAllow 127.0.0.1\nTimeout 5\nMaxClients 20\nLogLevel Critical\n")
    proc = subprocess.Popen([binary, "-d", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert refused.wait(f"127.0.0.1:{port}", timeout=10), "tinyproxy did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def silent_listener() -> Iterator[int]:
    """A loopback port whose listener never accepts: the connect succeeds (the kernel queues it)
    and nothing is ever said on it (an HTTP client's read times out)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    with sock:
        yield sock.getsockname()[1]


@contextlib.contextmanager
def self_signed_https() -> Iterator[int]:
    """A loopback HTTPS server (200 to every request) whose certificate is self-signed, made by
    Debian's `openssl`: no client trusts it."""
    import ssl

    binary = shutil.which("openssl")
    need(binary is not None, "openssl is not installed (apt-get install openssl)")
    workdir = Path(tempfile.mkdtemp(prefix="refused-py-tls-"))
    subprocess.run(
        [binary, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-days", "1",
         "-keyout", str(workdir / "key.pem"), "-out", str(workdir / "cert.pem")],
        check=True, capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(workdir / "cert.pem", workdir / "key.pem")
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(16)

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                conn.settimeout(5)
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(4096)
                    tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        with contextlib.suppress(OSError):
            server.shutdown(socket.SHUT_RDWR)
        server.close()
        thread.join(timeout=5)
        shutil.rmtree(workdir, ignore_errors=True)


class Namespace:
    """A lab network namespace (`ip netns`), with its own /etc files and only `lo` up."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.etc = Path("/etc/netns") / name

    def write_etc(self, filename: str, text: str) -> None:
        self.etc.mkdir(parents=True, exist_ok=True)
        (self.etc / filename).write_text(text)

    def run(self, *argv: str, check: bool = False, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["ip", "netns", "exec", self.name, *argv],
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
        )

    def python(self, code: str) -> subprocess.CompletedProcess:
        return self.run(sys.executable, "-c", code)


@pytest.fixture
def lab() -> Iterator[Namespace]:
    """A namespace of our own: names resolve from its hosts file only (a name not in it is
    NXDOMAIN, and no packet leaves), and no route but loopback."""
    need(os.geteuid() == 0, "lab namespaces need root (ip netns add)")
    need(shutil.which("ip") is not None, "iproute2 is not installed (apt-get install iproute2)")
    name = f"rfpy{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    ns = Namespace(name)
    try:
        ns.write_etc("hosts", "127.0.0.1 localhost\n")
        ns.write_etc("nsswitch.conf", "hosts: files\n")
        ns.write_etc("resolv.conf", "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
        ns.run("ip", "link", "set", "lo", "up", check=True)
        yield ns
    finally:
        subprocess.run(["ip", "netns", "delete", name], capture_output=True)
        shutil.rmtree(ns.etc, ignore_errors=True)


#: The pair's addresses, on the veth between its two namespaces (nothing else sees them).
PAIR_CLIENT = "10.79.0.1"
PAIR_SERVER = "10.79.0.2"


class Pair:
    """Two lab namespaces joined by a veth (`eth0` in each): `client` at PAIR_CLIENT, `server`
    at PAIR_SERVER, and loopback up in both."""

    def __init__(self, client: Namespace, server: Namespace) -> None:
        self.client = client
        self.server = server


def _namespace(name: str) -> Namespace:
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    ns = Namespace(name)
    ns.write_etc("hosts", "127.0.0.1 localhost\n")
    ns.write_etc("nsswitch.conf", "hosts: files\n")
    ns.write_etc("resolv.conf", "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    ns.run("ip", "link", "set", "lo", "up", check=True)
    return ns


@pytest.fixture
def pair() -> Iterator[Pair]:
    """A client and a server namespace of our own, joined by a veth: what crosses it is a real
    packet between two hosts (a router's or a host's ICMP errors, a Redis client off loopback)."""
    need(os.geteuid() == 0, "lab namespaces need root (ip netns add)")
    need(shutil.which("ip") is not None, "iproute2 is not installed (apt-get install iproute2)")
    tag = uuid.uuid4().hex[:7]
    made = []
    try:
        for side in "cs":
            made.append(_namespace(f"rfpy{tag}{side}"))
        client, server = made
        subprocess.run(
            ["ip", "link", "add", f"rfpy{tag}c", "netns", client.name, "type", "veth",
             "peer", "name", f"rfpy{tag}s", "netns", server.name],
            check=True, capture_output=True,
        )
        for ns, side, address in ((client, "c", PAIR_CLIENT), (server, "s", PAIR_SERVER)):
            ns.run("ip", "link", "set", f"rfpy{tag}{side}", "name", "eth0", check=True)
            ns.run("ip", "addr", "add", f"{address}/24", "dev", "eth0", check=True)
            ns.run("ip", "link", "set", "eth0", "up", check=True)
        yield Pair(client, server)
    finally:
        for ns in made:
            subprocess.run(["ip", "netns", "delete", ns.name], capture_output=True)
            shutil.rmtree(ns.etc, ignore_errors=True)


@pytest.fixture(scope="session")
def cli() -> str:
    """The `refused` command built from this repository: $REFUSED_BIN, else target/debug."""
    candidates = [os.environ.get("REFUSED_BIN", "")]
    repo = Path(__file__).resolve().parents[3]
    target_dir = Path(os.environ.get("CARGO_TARGET_DIR", repo / "target"))
    candidates += [str(target_dir / "debug" / "refused"), str(target_dir / "release" / "refused")]
    found = next((c for c in candidates if c and os.access(c, os.X_OK)), None)
    need(found is not None, "the refused CLI is not built (cargo build -p refused-cli, or set REFUSED_BIN)")
    return found


def comparable(document: dict, program: Optional[str] = None) -> dict:
    """A diagnosis document without what differs between two runs: timings (fields and in
    sentences), the path the CLI names itself by in its suggestions (the library says
    `refused`), and the CLI's `schema_version`, which it adds to the library's document."""

    def strip(value):
        if isinstance(value, dict):
            return {
                k: strip(v) for k, v in value.items() if k not in ("elapsed_ms", "started_ms", "schema_version")
            }
        if isinstance(value, list):
            return [strip(v) for v in value]
        if isinstance(value, str):
            if program:
                value = value.replace(program, "refused")
            # Durations inside sentences ("connected in 0.1 ms") differ from run to run.
            return re.sub(r"\b\d+(\.\d+)? (ms|s)\b", "<duration>", value)
        return value

    return strip(json.loads(json.dumps(document)))


def same_as_cli(ours, theirs, cli: str) -> bool:
    """Whether two diagnoses, ours and the CLI's (callables), say the same. The host changes
    between two runs (a process of another user exits, and its sockets' owner cannot be read
    for a moment): a difference counts only when it shows twice in a row."""
    for _ in range(2):
        a, b = comparable(ours()), comparable(theirs(), program=cli)
        if a == b:
            return True
    assert a == b
    return False


def cli_why(cli: str, target: str, *, prefix: tuple = ()) -> dict:
    done = subprocess.run([*prefix, cli, "why", target, "--json"], capture_output=True, text=True, timeout=60)
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout)


def settle() -> None:
    """Lets a closed listener's socket leave the tables before a diagnosis reads them."""
    time.sleep(0.01)


def caught(call):
    """What `call()` raised (it must raise)."""
    try:
        call()
    except BaseException as exc:  # noqa: BLE001 - the point is to look at whatever it raised
        return exc
    raise AssertionError("it did not fail")
