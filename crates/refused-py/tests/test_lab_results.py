"""In the lab (root; CI): what the results carry beyond cause and outcome, read from real
packets between two namespaces of our own: an attempt's ICMP error (`Attempt.icmp`), a listener
bound to an interface (evidence `device`), and Redis in protected mode turning a client off
loopback away (`ProbeReport.denied`).

Ports: 42300-42399 (inside the test's own namespaces; `why` also looks at the host's others)."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import textwrap

import pytest

from support import PAIR_CLIENT, PAIR_SERVER, cli_why, need

REJECTED_PORT = 42310
DEVICE_PORT = 42311
REDIS_PORT = 42320


def run_json(ns, code: str) -> dict:
    """Runs `code` with this interpreter (the installed wheel) inside `ns`; its last line of
    output is JSON."""
    done = ns.python(textwrap.dedent(code))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_an_attempt_carries_the_icmp_error_the_host_sent_back(pair, cli):
    need(shutil.which("nft") is not None, "nft is not installed (apt-get install nftables)")
    # The server rejects the port with ICMP administratively prohibited (type 3, code 13).
    rules = (
        "add table inet rfpy\n"
        "add chain inet rfpy input { type filter hook input priority 0; policy accept; }\n"
        f"add rule inet rfpy input tcp dport {REJECTED_PORT} reject with icmpx type admin-prohibited\n"
    )
    done = subprocess.run(["ip", "netns", "exec", pair.server.name, "nft", "-f", "-"], input=rules,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    target = f"{PAIR_SERVER}:{REJECTED_PORT}"
    ours = run_json(pair.client, f"""
        import json, refused
        d = refused.why({target!r}, timeout=3)
        a = d.attempts[0]
        i = a.icmp
        try:
            refused.connect({target!r}, timeout=2)
            connect_icmp = "connected"
        except refused.ConnectError as e:
            connect_icmp = [x.icmp for x in e.attempts]
        print(json.dumps({{
            "cause": d.cause, "outcome": a.outcome, "repr": repr(i),
            "icmp": [i.type, i.code, i.from_, i.v6], "attempt": a.to_dict(),
            "document": d.to_dict()["attempts"][0], "icmp_dict": i.to_dict(),
            "connect_icmp": connect_icmp, "isinstance": isinstance(i, refused.Icmp),
        }}))
    """)
    assert ours["icmp"] == [3, 13, PAIR_SERVER, False], ours
    assert ours["isinstance"], ours
    assert ours["repr"] == f"<Icmp ICMP type 3 code 13 from {PAIR_SERVER}>", ours
    expected = {"type": 3, "code": 13, "from": PAIR_SERVER}
    assert ours["icmp_dict"] == expected
    assert ours["attempt"]["icmp"] == expected, ours
    assert ours["document"]["icmp"] == expected, ours
    # The CLI's document says the same.
    theirs = cli_why(cli, target, prefix=("ip", "netns", "exec", pair.client.name))
    assert theirs["attempts"][0]["icmp"] == expected, theirs
    # A plain connect does not read the error queue: no ICMP is claimed there.
    assert ours["connect_icmp"] == [None], ours


def test_an_attempt_without_an_icmp_error_has_none(listener):
    import refused

    d = refused.why(listener.target, timeout=2)
    assert d.reachable
    assert d.attempts[0].icmp is None
    assert "icmp" not in d.attempts[0].to_dict()


def test_a_listener_bound_to_an_interface_shows_its_device(pair):
    ours = run_json(pair.client, f"""
        import json, socket, refused
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
        s.bind(("0.0.0.0", {DEVICE_PORT}))
        s.listen()
        d = refused.why("127.0.0.1:{DEVICE_PORT}", timeout=3)
        there = refused.why("{PAIR_CLIENT}:{DEVICE_PORT}", timeout=3)
        print(json.dumps({{"cause": d.cause, "evidence": d.evidence, "summary": d.summary,
                          "document": d.to_dict()["evidence"], "there": there.cause}}))
    """)
    assert ours["cause"] == "listening-on-other-address", ours
    listeners = [e for e in ours["evidence"] if e["kind"] == "listener"]
    assert listeners and listeners[0]["device"] == "eth0", ours
    assert listeners[0]["port"] == DEVICE_PORT, ours
    assert ours["document"] == ours["evidence"]
    assert "bound to interface eth0 (SO_BINDTODEVICE)" in ours["summary"], ours
    # Through the interface's own address it connects.
    assert ours["there"] == "reachable", ours


@pytest.fixture
def protected_redis(pair):
    """Debian's redis-server in the server namespace, on every address, protected mode on and no
    password: loopback is let in, a client off loopback is answered `-DENIED`."""
    binary = shutil.which("redis-server")
    need(binary is not None, "redis-server is not installed (apt-get install redis-server)")
    workdir = tempfile.mkdtemp(prefix="refused-py-redis-protected-")
    proc = subprocess.Popen(
        ["ip", "netns", "exec", pair.server.name, binary, "--port", str(REDIS_PORT), "--bind", "* -::*",
         "--protected-mode", "yes", "--save", "", "--appendonly", "no", "--dir", workdir],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        up = run_json(pair.server, f"""
            import json, refused
            print(json.dumps(bool(refused.wait("redis://127.0.0.1:{REDIS_PORT}", timeout=15))))
        """)
        assert up, "redis-server did not start"
        yield f"redis://{PAIR_SERVER}:{REDIS_PORT}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def test_redis_in_protected_mode_denies_a_client_off_loopback(pair, protected_redis):
    target = protected_redis
    ours = run_json(pair.client, f"""
        import asyncio, json, redis, refused
        try:
            redis.Redis(host="{PAIR_SERVER}", port={REDIS_PORT}, socket_connect_timeout=3).ping()
            client = "ping answered"
        except redis.RedisError as e:
            client = type(e).__name__ + ": " + str(e)
        r = refused.check({target!r}, timeout=3)[0]
        a = asyncio.run(refused.aio.check({target!r}, timeout=3))[0]
        w = refused.wait({target!r}, timeout=0.5)
        d = refused.why({target!r}, timeout=5)
        def report(r):
            return {{"ready": r.ready, "bool": bool(r), "state": r.state, "reason": r.reason,
                    "readiness": r.readiness, "denied": r.denied, "summary": r.summary,
                    "repr": repr(r), "dict": r.to_dict()}}
        print(json.dumps({{"client": client, "check": report(r), "aio": report(a),
                          "wait": [bool(w), report(w.reports[0])],
                          "why": [d.cause, d.summary, d.suggestions]}}))
    """)
    # The real client library is turned away: this is what the user saw.
    assert "DENIED" in ours["client"], ours
    denial = ("refuses this client by its configuration: DENIED Redis is running in protected mode "
              "because protected mode is enabled and no password is set for the default user")
    for report in (ours["check"], ours["aio"], ours["wait"][1]):
        assert report["denied"] is True, report
        assert report["readiness"] == "not-ready", report
        assert (report["ready"], report["bool"], report["state"], report["reason"]) == (
            False, False, "down", "not-ready"), report
        assert report["summary"] == denial, report
        assert report["repr"] == f"<ProbeReport {target} {denial}>", report
        assert report["dict"]["summary"] == denial and report["dict"]["reason"] == "not-ready", report
    assert ours["wait"][0] is False
    cause, summary, fixes = ours["why"]
    assert cause == "not-ready" and summary.endswith(denial), ours["why"]
    assert any("requirepass" in f for f in fixes) and not any("wait" in f for f in fixes), fixes

    # Over loopback, on the server's own host, the same server is ready and denies nobody.
    there = run_json(pair.server, f"""
        import json, refused
        r = refused.check("redis://127.0.0.1:{REDIS_PORT}", timeout=3)[0]
        print(json.dumps([r.ready, r.readiness, r.denied]))
    """)
    assert there == [True, "ready", False]


def test_a_failed_probe_is_neither_ready_nor_denied():
    import refused

    from support import refused_port

    with refused_port(42330) as port:
        report = refused.check(f"redis://127.0.0.1:{port}", timeout=2)[0]
    assert (report.readiness, report.denied, report.reason) == ("failed", False, "refused")
