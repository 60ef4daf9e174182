"""install(): failures raised through socket and asyncio carry the address and a note with
the cause and the fix; the success path is untouched; uninstall() puts everything back."""

import asyncio
import socket
import subprocess
import sys

import pytest
import requests

import refused
from support import need, refused_port


@pytest.fixture
def installed():
    refused.install(timeout=1.0)
    yield
    refused.uninstall()


def notes(exc):
    return "\n".join(getattr(exc, "__notes__", []))


def test_install_and_uninstall_replace_and_restore():
    originals = (socket.socket.connect, socket.create_connection)
    assert not refused.installed()
    refused.install()
    try:
        assert refused.installed()
        assert socket.socket.connect is not originals[0]
        assert socket.create_connection is not originals[1]
        assert socket.create_connection.__wrapped__ is originals[1]
    finally:
        refused.uninstall()
    assert not refused.installed()
    assert (socket.socket.connect, socket.create_connection) == originals
    assert "connect" not in socket.socket.__dict__ or socket.socket.__dict__["connect"] is originals[0]


def test_create_connection_failure_gets_the_address_and_a_note(installed):
    with refused_port(47733) as port:
        with pytest.raises(ConnectionRefusedError) as caught:
            socket.create_connection(("127.0.0.1", port))
    e = caught.value
    assert e.address == ("127.0.0.1", port)
    text = notes(e)
    assert text.startswith(f"refused: no-listener: nothing listens on port {port}")
    assert "\n  fix: " in text
    assert e.diagnosis.cause == "no-listener"
    assert len(e.__notes__) == 1, "one diagnosis per failure, not one per layer"


def test_socket_connect_failure_gets_a_note(installed):
    with refused_port(47735) as port:
        sock = socket.socket()
        with sock, pytest.raises(ConnectionRefusedError) as caught:
            sock.connect(("127.0.0.1", port))
    assert caught.value.address == ("127.0.0.1", port)
    assert "refused: no-listener" in notes(caught.value)


def test_the_success_path_is_untouched(installed, listener):
    with socket.create_connection(("127.0.0.1", listener.port)) as sock:
        assert sock.recv(16) == b"hello\n"
    plain = socket.socket()
    plain.setblocking(False)
    with plain:
        # A non-blocking connect in progress is not a failure: no note, no diagnosis.
        try:
            plain.connect(("127.0.0.1", listener.port))
        except BlockingIOError as e:
            assert not hasattr(e, "__notes__")


def test_asyncio_sock_connect_gets_one_note_from_the_async_wrapper(installed):
    """asyncio's sock_connect calls socket.connect on a non-blocking socket: the note comes from
    the async wrapper (awaited), not from a blocking diagnosis inside the loop."""
    with refused_port(47739) as port:
        async def connect():
            loop = asyncio.get_running_loop()
            sock = socket.socket()
            sock.setblocking(False)
            with sock:
                await loop.sock_connect(sock, ("127.0.0.1", port))

        with pytest.raises(ConnectionRefusedError) as caught:
            asyncio.run(connect())
    assert caught.value.address == ("127.0.0.1", port)
    assert notes(caught.value).count("refused: no-listener") == 1


def test_requests_failure_carries_the_note_in_its_chain(installed):
    with refused_port(47737) as port:
        with pytest.raises(requests.ConnectionError) as caught:
            requests.get(f"http://127.0.0.1:{port}/", timeout=2)
    chain = []
    e = caught.value
    while e is not None:
        chain.append(e)
        e = e.__context__ or e.__cause__
    assert any("refused: no-listener" in notes(x) for x in chain)


def test_asyncio_open_connection_failure_gets_a_note(installed):
    with refused_port(47753) as port:
        async def connect():
            await asyncio.open_connection("127.0.0.1", port)

        with pytest.raises(ConnectionRefusedError) as caught:
            asyncio.run(connect())
    assert caught.value.address == ("127.0.0.1", port)
    assert notes(caught.value).startswith(f"refused: no-listener: nothing listens on port {port}")


def test_asyncio_localhost_with_two_addresses_is_diagnosed_once(lab):
    """asyncio folds the ::1 and 127.0.0.1 failures into one OSError without an errno; the
    lab's hosts file gives localhost both addresses."""
    lab.write_etc("hosts", "127.0.0.1 localhost\n::1 localhost\n")
    code = (
        "import asyncio, refused\n"
        "refused.install()\n"
        "try:\n"
        "    asyncio.run(asyncio.open_connection('localhost', 47759))\n"
        "except OSError as e:\n"
        "    print(e.errno, e.address, len(e.__notes__), e.__notes__[0].splitlines()[0])\n"
    )
    done = lab.python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("None ('localhost', 47759) 1 refused: no-listener: "), done.stdout


def test_the_one_liner_ends_with_the_cause_and_the_fix():
    """The issue's own check, in a fresh interpreter."""
    with refused_port(47757) as port:
        code = f"import refused, socket; refused.install(); socket.create_connection(('127.0.0.1', {port}))"
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    tail = done.stderr.rstrip().splitlines()
    at = next(i for i, line in enumerate(tail) if line.startswith("ConnectionRefusedError: [Errno 111]"))
    assert tail[at + 1].startswith(f"refused: no-listener: nothing listens on port {port}")
    assert tail[at + 2].startswith("  fix: ")


def test_a_retry_loops_failures_share_one_diagnosis(installed):
    # Each failure still carries the note; the diagnosis behind it is made once for the loop,
    # not once per attempt (up to the install timeout each, for a filtered port).
    with refused_port(47741) as port:
        caught = []
        for _ in range(10):
            try:
                socket.create_connection(("127.0.0.1", port))
            except ConnectionRefusedError as exc:
                caught.append(exc)
    assert len(caught) == 10
    assert all("refused: no-listener" in notes(e) for e in caught)
    assert all(e.diagnosis is caught[0].diagnosis for e in caught)


def test_create_connection_with_all_errors_is_the_name_asked(lab):
    """`socket.create_connection(all_errors=True)` (3.11+) raises a group of every address's
    error: explained, and noted by install(), as the name and port asked (which `why` tries at
    every address), not as the first address ([::1])."""
    need(sys.version_info >= (3, 11), "all_errors is Python 3.11's")
    lab.write_etc("hosts", "127.0.0.1 localhost\n::1 localhost\n")
    code = (
        "import socket, refused\n"
        "def group():\n"
        "    try:\n"
        "        socket.create_connection(('localhost', 48231), all_errors=True)\n"
        "    except ExceptionGroup as e:\n"
        "        return e\n"
        "e = group()\n"
        "print(len(e.exceptions), refused.find_address(e), refused.explain(e, timeout=1).cause)\n"
        "refused.install(timeout=1)\n"
        "e = group()\n"
        "print(e.address, e.__notes__[0].splitlines()[0].split(':')[1].strip())\n"
        "print(refused.find_address(e), e.diagnosis.target, [a.address for a in e.diagnosis.attempts])\n"
        # asyncio's TaskGroup: its member, asyncio's create_connection failure, has the note.
        "import asyncio\n"
        "async def main():\n"
        "    async with asyncio.TaskGroup() as tasks:\n"
        "        tasks.create_task(asyncio.open_connection('localhost', 48237))\n"
        "try:\n"
        "    asyncio.run(main())\n"
        "except ExceptionGroup as e:\n"
        "    print(refused.find_address(e), e.exceptions[0].__notes__[0].split(':')[1].strip())\n"
    )
    done = lab.python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "2 localhost:48231 no-listener",
        "('localhost', 48231) no-listener",
        "localhost:48231 localhost:48231 ['[::1]:48231', '127.0.0.1:48231']",
        "localhost:48237 no-listener",
    ], done.stdout


def test_asyncios_retry_loop_shares_one_diagnosis_too(installed):
    # asyncio's create_connection goes through the one cache of diagnoses as socket's does.
    with refused_port(48245) as port:
        caught = []
        for _ in range(3):
            try:
                asyncio.run(asyncio.open_connection("127.0.0.1", port))
            except ConnectionRefusedError as exc:
                caught.append(exc)
    assert len(caught) == 3
    assert all("refused: no-listener" in notes(e) for e in caught)
    assert all(e.diagnosis is caught[0].diagnosis for e in caught)


def test_redis_failures_keep_their_scheme_under_install(installed):
    # install() records the inner connect's address (host:port) on its OSError; the client's
    # scheme, from redis-py's connection in the frames, still decides what `why` asks.
    import redis

    with refused_port(47799) as port:
        client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=2)
        with pytest.raises(redis.exceptions.ConnectionError) as caught:
            client.ping()
    assert refused.find_address(caught.value) == f"redis://127.0.0.1:{port}"
