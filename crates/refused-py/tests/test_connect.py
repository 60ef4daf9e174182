"""refused.connect on the success path: a real, usable socket; the GIL is released meanwhile."""

import socket
import threading

import pytest

import refused
from support import Listener, full_queue


def test_connect_returns_a_connected_blocking_socket(listener):
    sock = refused.connect("127.0.0.1", listener.port)
    with sock:
        assert isinstance(sock, socket.socket)
        assert sock.family == socket.AF_INET and sock.type == socket.SOCK_STREAM
        assert sock.getpeername() == ("127.0.0.1", listener.port)
        assert sock.gettimeout() is None
        assert sock.makefile("rb").readline() == b"hello\n"


def test_connect_takes_a_url_and_a_scheme_brings_its_port(listener):
    with refused.connect(f"http://127.0.0.1:{listener.port}/health") as sock:
        assert sock.getpeername()[1] == listener.port


def test_connect_to_ipv6_literal_with_a_port_argument():
    try:
        server = Listener("::1")
    except OSError as err:
        pytest.skip(f"IPv6 loopback is not usable here: {err}")
    try:
        with refused.connect("::1", server.port) as sock:
            assert sock.family == socket.AF_INET6
            assert sock.getpeername()[:2] == ("::1", server.port)
    finally:
        server.close()


def test_localhost_falls_back_across_families(listener):
    """Happy eyeballs: localhost may give ::1 first; the IPv4 listener is reached all the same."""
    with refused.connect("localhost", listener.port) as sock:
        assert sock.getpeername() == ("127.0.0.1", listener.port)


def test_the_gil_is_released_while_connect_waits():
    """A Python thread runs while connect waits on a port that never answers."""
    ticks = 0
    stop = threading.Event()

    def count():
        nonlocal ticks
        while not stop.is_set():
            ticks += 1

    with full_queue(47555) as port:
        thread = threading.Thread(target=count)
        thread.start()
        try:
            with pytest.raises(TimeoutError):
                refused.connect("127.0.0.1", port, timeout=0.3)
            during = ticks
        finally:
            stop.set()
            thread.join()
    # The counting thread only runs when the GIL is free; with it held for the whole wait it
    # would get at most a switch interval (5 ms) of work in.
    assert during > 1000, during


def test_ctrl_c_interrupts_a_connect_that_gets_no_answer():
    """A connect waiting on a port that never answers takes Ctrl-C within its signal check,
    not after its whole timeout: the KeyboardInterrupt comes from `connect` itself."""
    import signal
    import subprocess
    import sys
    import time

    with full_queue(47971) as port:
        code = (
            "import refused, signal, sys, time\n"
            # A shell's background job inherits SIGINT ignored, and Python then leaves it so.
            "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
            "print('connecting', flush=True)\n"
            "try:\n"
            f"    refused.connect('127.0.0.1', {port}, timeout=8)\n"
            "except KeyboardInterrupt:\n"
            "    print('interrupted in connect', flush=True)\n"
            "    sys.exit(3)\n"
        )
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline() == "connecting\n"
            time.sleep(0.3)
            sent = time.monotonic()
            proc.send_signal(signal.SIGINT)
            stdout, stderr = proc.communicate(timeout=30)
            took = time.monotonic() - sent
        finally:
            proc.kill()
            proc.wait()
    assert proc.returncode == 3, (stdout, stderr)
    assert stdout == "interrupted in connect\n", (stdout, stderr)
    assert took < 1.0, took
