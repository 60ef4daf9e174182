"""Each exception class is caught by the built-in `except` it promises, with the right errno,
address and cause, for real sockets."""

import errno
import socket

import pytest

import refused
from support import full_queue, refused_port


def test_a_refused_port_raises_connection_refused_error_with_the_address():
    with refused_port(47533) as port:
        with pytest.raises(ConnectionRefusedError) as caught:
            refused.connect("127.0.0.1", port)
    e = caught.value
    assert type(e) is refused.ConnectionRefused
    assert isinstance(e, refused.ConnectError) and isinstance(e, OSError)
    assert e.errno == errno.ECONNREFUSED
    assert e.address == ("127.0.0.1", port)
    assert e.cause == "refused"
    assert e.target == f"127.0.0.1:{port}"
    assert [(a.address, a.outcome, a.errno) for a in e.attempts] == [(f"127.0.0.1:{port}", "refused", errno.ECONNREFUSED)]
    # The one sentence of the Rust error, with the address CPython leaves out.
    assert str(e).startswith(f"connection refused by 127.0.0.1:{port} (nothing accepted on that port), 1 attempt over ")


def test_the_diagnosis_is_computed_on_first_access_only():
    with refused_port(47535) as port:
        with pytest.raises(refused.ConnectionRefused) as caught:
            refused.connect(f"127.0.0.1:{port}")
        e = caught.value
        assert "_diagnosis" not in e.__dict__
        diagnosis = e.diagnosis
        assert e.diagnosis is diagnosis
    assert diagnosis.cause == "no-listener"
    assert str(port) in diagnosis.summary


def test_retries_try_again_and_keep_every_attempt():
    with refused_port(47537) as port:
        with pytest.raises(ConnectionRefusedError) as caught:
            refused.connect("127.0.0.1", port, retries=2, backoff=0.001, backoff_max=0.002)
    assert [a.try_number for a in caught.value.attempts] == [1, 2, 3]
    assert "3 attempts" in str(caught.value)


def test_a_full_accept_queue_times_out_as_timeout_error():
    with full_queue(47544) as port:
        with pytest.raises(TimeoutError) as caught:
            refused.connect("127.0.0.1", port, timeout=0.3)
        e = caught.value
        assert type(e) is refused.Timeout
        assert e.errno == errno.ETIMEDOUT
        assert e.address == ("127.0.0.1", port)
        assert e.cause == "timeout"
        e.diagnosis_timeout = 0.3
        assert e.diagnosis.cause == "listen-queue-full"


def test_an_invalid_target_is_a_value_error_naming_the_bad_part():
    with pytest.raises(ValueError) as caught:
        refused.connect("127.0.0.1:99999")
    assert isinstance(caught.value, refused.InvalidTarget)
    assert "99999" in str(caught.value)
    with pytest.raises(ValueError, match="timeout"):
        refused.connect("127.0.0.1:1", timeout=-1)


def test_an_existing_except_clause_keeps_working():
    """The classic code, unchanged but for the call."""
    with refused_port(47553) as port:
        try:
            refused.connect("localhost", port)
        except ConnectionRefusedError as e:
            message = f"could not connect: {e}"
        else:
            message = "connected"
    assert message.startswith("could not connect: connection refused by ")
    assert f":{port}" in message


def test_name_not_found_is_a_gaierror_in_the_lab(lab):
    """A name that does not exist, inside a namespace whose hosts file is its only source."""
    done = lab.python(
        "import refused, socket\n"
        "try:\n"
        "    refused.connect('no-such-host.invalid', 80)\n"
        "except socket.gaierror as e:\n"
        "    print(type(e).__name__, e.errno == socket.EAI_NONAME, e.address, e.cause, e.attempts)\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[0] == "NameNotFound True ('no-such-host.invalid', 80) dns-not-found []"


def test_unreachable_is_an_os_error_in_the_lab(lab):
    """No route in a namespace with loopback only: ENETUNREACH at once."""
    done = lab.python(
        "import refused, errno\n"
        "try:\n"
        "    refused.connect('192.0.2.1', 80, timeout=1)\n"
        "except OSError as e:\n"
        "    print(type(e).__name__, e.errno == errno.ENETUNREACH, e.address, e.cause)\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Unreachable True ('192.0.2.1', 80) network-unreachable"
