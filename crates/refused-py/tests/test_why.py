"""why, check, wait and scan against real sockets; why's to_dict() is the CLI's JSON."""

import json
import os
import socket
import threading
import time

import pytest

import refused
from support import Listener, cli_why, need, refused_port, same_as_cli


def test_why_names_no_listener_with_evidence_and_fix():
    with refused_port(47557) as port:
        d = refused.why(f"127.0.0.1:{port}")
    assert d.cause == "no-listener"
    assert not d.reachable
    assert d.target == f"127.0.0.1:{port}"
    assert f"port {port}" in d.summary
    assert [(a.address, a.outcome) for a in d.attempts] == [(f"127.0.0.1:{port}", "refused")]
    assert d.suggestions and any("ss -ltnp" in s for s in d.suggestions)
    assert str(d).startswith("no-listener: ")
    assert repr(d) == f"<Diagnosis no-listener 127.0.0.1:{port}>"


def test_why_reachable(listener):
    d = refused.why(listener.target)
    assert d.cause == "reachable" and d.reachable


def test_to_dict_is_the_documents_of_the_json_and_the_cli(cli):
    with refused_port(47573) as port:
        target = f"127.0.0.1:{port}"
        ours = refused.why(target)
        assert same_as_cli(lambda: refused.why(target).to_dict(), lambda: cli_why(cli, target), cli)
    assert ours.to_dict() == json.loads(ours.to_json())
    assert set(ours.to_dict()) >= {"target", "cause", "summary", "attempts", "evidence", "suggestions", "unseen"}


def test_to_dict_matches_the_cli_for_a_reachable_target(cli, listener):
    assert same_as_cli(lambda: refused.why(listener.target).to_dict(), lambda: cli_why(cli, listener.target), cli)


def test_an_invalid_target_is_a_value_error():
    with pytest.raises(ValueError, match="port"):
        refused.why("127.0.0.1:http")


def test_check_reports_each_target_in_order(listener):
    with refused_port(47577) as port:
        up, down = refused.check(listener.target, f"127.0.0.1:{port}", timeout=1.0)
    assert up and up.ready and up.state == "up" and up.reason == "reachable"
    assert not down and down.state == "down" and down.reason == "refused"
    assert down.summary.startswith(f"connection refused by 127.0.0.1:{port}")
    assert down.to_dict()["target"] == f"127.0.0.1:{port}"
    assert [a.outcome for a in down.attempts] == ["refused"]


def test_check_needs_a_target():
    with pytest.raises(ValueError, match="targets"):
        refused.check()


def test_wait_notices_a_service_that_starts_later():
    # A port picked free and released, so the wait knows it before anything listens there.
    probe = Listener()
    port = probe.port
    probe.close()
    late = socket.socket()
    late.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)

    def listen_later():
        time.sleep(0.2)
        late.bind(("127.0.0.1", port))
        late.listen(8)

    thread = threading.Thread(target=listen_later)
    thread.start()
    try:
        result = refused.wait(f"127.0.0.1:{port}", timeout=10.0)
    finally:
        thread.join()
        late.close()
    assert result and result.satisfied and result.done == [True]
    assert result.reports[0].ready


def bpf_objects():
    """The eBPF objects this process holds (a program, its link, its ring buffer)."""
    names = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            names.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            pass
    return [name for name in names if name.startswith("anon_inode:bpf")]


def test_a_root_wait_is_told_of_listeners_unless_bpf_is_off():
    need(os.geteuid() == 0, "the eBPF program that tells a wait of new listeners needs root")
    for bpf in (True, False):
        probe = Listener()
        port = probe.port
        probe.close()
        late = socket.socket()
        late.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        held = []

        def listen_later():
            # The program is loaded once the wait polls in its thread (about 75 ms in, on an
            # idle host): looked for until it is there, not at a fixed time a slower host
            # would miss; without it, 0.5 s of a wait that polls.
            until = time.monotonic() + (5.0 if bpf else 0.5)
            while time.monotonic() < until and not held:
                held.extend(bpf_objects())
                time.sleep(0.01)
            late.bind(("127.0.0.1", port))
            late.listen(8)

        thread = threading.Thread(target=listen_later)
        thread.start()
        try:
            result = refused.wait(f"127.0.0.1:{port}", timeout=10.0, bpf=bpf)
        finally:
            thread.join()
            late.close()
        assert result and result.done == [True]
        assert bool(held) == bpf, (bpf, held)
    assert not bpf_objects()


def test_wait_times_out_and_says_why():
    with refused_port(47583) as port:
        result = refused.wait(f"127.0.0.1:{port}", timeout=0.2)
    assert not result and result.done == [False]
    assert result.reports[0].reason == "refused"


def test_wait_any_and_down(listener):
    with refused_port(47587) as port:
        assert refused.wait(listener.target, f"127.0.0.1:{port}", any=True, timeout=5.0)
        assert refused.wait(f"127.0.0.1:{port}", down=True, timeout=5.0)


def test_scan_finds_the_open_port_and_the_closed_one(listener):
    with refused_port(47593) as port:
        report = refused.scan("127.0.0.1", [listener.port, port])
    states = {(p.port, p.state, p.reason) for p in report.ports}
    assert states == {(listener.port, "open", "syn-ack"), (port, "closed", "conn-refused")}
    assert [p.port for p in report.open] == [listener.port]
    assert report.to_dict()["hosts"][0]["address"] == "127.0.0.1"


def test_scan_rejects_bad_ports():
    with pytest.raises(ValueError, match="ports"):
        refused.scan("127.0.0.1", "70000")


def test_ctrl_c_interrupts_a_wait_for_ever():
    """The GIL is released while waiting, yet a signal still gets through: the wait takes it
    back now and then to run Python's signal handlers."""
    import signal
    import subprocess
    import sys

    with refused_port(47597) as port:
        code = (
            "import refused, signal, sys\n"
            # A shell's background job inherits SIGINT ignored, and Python then leaves it so.
            "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
            "print('waiting', flush=True)\n"
            f"refused.wait('127.0.0.1:{port}', timeout=None)\n"
        )
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline() == "waiting\n"
            time.sleep(0.2)
            proc.send_signal(signal.SIGINT)
            _, stderr = proc.communicate(timeout=30)
        finally:
            proc.kill()
            proc.wait()
    # CPython ends an uncaught KeyboardInterrupt by killing itself with SIGINT.
    assert proc.returncode == -signal.SIGINT
    assert stderr.rstrip().endswith("KeyboardInterrupt"), stderr
