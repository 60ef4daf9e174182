"""explain() asks what the client asked: the request's scheme and path, Postgres' startup,
Redis' PING. A service that accepts the connection and then fails the client (TLS, HTTP, a
standby, a loading dataset) is `not-ready`, as `refused why <scheme>://...` says, never a bare
connect's `reachable`."""

import asyncio
import time

import asyncpg
import httpx
import psycopg
import pytest
import redis
import requests
from redis.backoff import NoBackoff
from redis.retry import Retry

import refused
from support import caught, full_queue, postgres, redis_loading, refused_port, self_signed_https, silent_listener

#: Ports of this module's own servers (this engineer's part of the suite's range).
STANDBY_PORTS = (47987, 47989, 47991)
FULL_PORTS = (47975, 47977, 47979)
LOADING_PORT = 47993
UNIX_LOADING_PORT = 47893


def not_ready(exc, target):
    diagnosis = refused.explain(exc, timeout=2)
    assert diagnosis is not None, repr(exc)
    assert diagnosis.target == target, diagnosis.to_dict()
    assert diagnosis.cause == "not-ready", diagnosis.to_dict()
    assert diagnosis.suggestions, diagnosis.to_dict()
    return diagnosis


def test_https_to_a_port_that_speaks_plain_text(listener):
    url = f"https://127.0.0.1:{listener.port}/health"
    for call in (lambda: requests.get(url, timeout=2), lambda: httpx.get(url, timeout=2)):
        exc = caught(call)
        d = not_ready(exc, url)
        assert "TLS" in d.summary, d.summary


def test_https_to_a_self_signed_certificate():
    with self_signed_https() as port:
        url = f"https://localhost:{port}/"
        for call in (lambda: requests.get(url, timeout=2), lambda: httpx.get(url, timeout=2)):
            exc = caught(call)
            assert "CERTIFICATE_VERIFY_FAILED" in str(exc), exc
            d = not_ready(exc, url)
            assert "certificate" in d.summary, d.summary


def test_a_read_timeout_is_the_server_that_does_not_answer():
    with silent_listener() as port:
        url = f"http://127.0.0.1:{port}/slow"
        exc = caught(lambda: requests.get(url, timeout=(2, 0.3)))
        assert isinstance(exc, requests.ReadTimeout)
        d = not_ready(exc, url)
        assert "did not answer" in d.summary, d.summary


def test_the_request_urls_credentials_and_query_stay_out():
    with silent_listener() as port:
        exc = caught(lambda: requests.get(f"http://app:secret@127.0.0.1:{port}/q?token=abc", timeout=(2, 0.3)))
        assert refused.find_address(exc) == f"http://127.0.0.1:{port}/q"


def asyncpg_connect(port, **kwargs):
    """asyncpg.connect to 127.0.0.1:`port` as `postgres`, run to its end: what it raised."""
    return caught(lambda: asyncio.run(asyncpg.connect(host="127.0.0.1", port=port, user="postgres", **kwargs)))


def test_psycopg_and_asyncpg_to_a_standby_that_takes_no_clients():
    with postgres(STANDBY_PORTS, "hot_standby=off", standby=True) as port:
        # "starting up" (57P03 too) until it is in recovery, then "Hot standby mode is disabled".
        deadline = time.monotonic() + 30
        while True:
            exc = caught(lambda: psycopg.connect(host="127.0.0.1", port=port, user="postgres", connect_timeout=2))
            assert isinstance(exc, psycopg.OperationalError)
            if "Hot standby mode is disabled" in str(exc) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert "Hot standby mode is disabled" in str(exc), exc
        d = not_ready(exc, f"postgres://127.0.0.1:{port}")
        assert "not accepting connections" in d.summary, d.summary
        # asyncpg's own protocol error of the same answer (57P03), found in asyncpg's frames.
        exc = asyncpg_connect(port, timeout=2)
        assert isinstance(exc, asyncpg.exceptions.CannotConnectNowError), repr(exc)
        d = not_ready(exc, f"postgres://127.0.0.1:{port}")
        assert "not accepting connections" in d.summary, d.summary
        # install() notes it: asyncpg's connect is wrapped when the program imported it.
        refused.install(timeout=2)
        try:
            exc = asyncpg_connect(port, timeout=2)
        finally:
            refused.uninstall()
        notes = "\n".join(getattr(exc, "__notes__", []))
        assert notes.startswith("refused: not-ready: "), (repr(exc), notes)
        assert exc.diagnosis.target == f"postgres://127.0.0.1:{port}", exc.diagnosis.to_dict()


def test_psycopg_and_asyncpg_to_a_server_with_too_many_clients():
    with postgres(FULL_PORTS, "max_connections=1", "superuser_reserved_connections=0") as port:
        with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres"):
            exc = caught(lambda: psycopg.connect(host="127.0.0.1", port=port, user="postgres", connect_timeout=2))
            assert "too many clients" in str(exc), exc  # 53300
            d = not_ready(exc, f"postgres://127.0.0.1:{port}")
            assert "too many clients" in d.summary, d.summary
            exc = asyncpg_connect(port, timeout=2)
            assert isinstance(exc, asyncpg.exceptions.TooManyConnectionsError), repr(exc)
            d = not_ready(exc, f"postgres://127.0.0.1:{port}")
            assert "too many clients" in d.summary, d.summary


def test_asyncpgs_refusals_and_timeouts_are_asked_as_postgres():
    # asyncio's frames name the address bare; asyncpg's, above them, the client's scheme.
    with refused_port(48213) as port:
        exc = asyncpg_connect(port, timeout=2)
        assert isinstance(exc, ConnectionRefusedError), repr(exc)
        assert refused.find_address(exc) == f"postgres://127.0.0.1:{port}"
        assert refused.explain(exc, timeout=2).cause == "no-listener"
        # Under install() too: its note and explain() ask the same target.
        refused.install(timeout=2)
        try:
            exc = asyncpg_connect(port, timeout=2)
        finally:
            refused.uninstall()
        assert exc.diagnosis.target == f"postgres://127.0.0.1:{port}", exc.diagnosis.to_dict()
        assert refused.find_address(exc) == f"postgres://127.0.0.1:{port}"
    with full_queue(48215) as port:
        # asyncpg's own timeout: a TimeoutError whose frames hold `host` and `port` as given.
        exc = asyncpg_connect(port, timeout=1)
        assert isinstance(exc, TimeoutError), repr(exc)
        assert refused.find_address(exc) == f"postgres://127.0.0.1:{port}"


def test_redis_busy_loading_its_dataset():
    with redis_loading(LOADING_PORT) as port:
        client = redis.Redis(host="127.0.0.1", port=port, retry=Retry(NoBackoff(), 0))
        exc = caught(client.ping)
        assert isinstance(exc, redis.BusyLoadingError)
        d = not_ready(exc, f"redis://127.0.0.1:{port}")
        assert "LOADING" in d.summary, d.summary


def test_redis_busy_loading_its_dataset_over_its_unix_socket(tmp_path):
    # redis-py's unix socket connection is asked as Redis over the socket (`redis+unix://`):
    # a bare `unix://` connect would find it `reachable`.
    path = str(tmp_path / "redis.sock")
    with redis_loading(UNIX_LOADING_PORT, unix_socket=path):
        client = redis.Redis(unix_socket_path=path, retry=Retry(NoBackoff(), 0))
        exc = caught(client.ping)
        assert isinstance(exc, redis.BusyLoadingError)
        d = not_ready(exc, f"redis+unix://{path}")
        assert "LOADING" in d.summary, d.summary


def test_refusals_keep_their_cause_with_the_scheme():
    from support import refused_port

    with refused_port(47995) as port:
        for call, target in (
            (lambda: requests.get(f"http://127.0.0.1:{port}/", timeout=2), f"http://127.0.0.1:{port}/"),
            (lambda: psycopg.connect(host="127.0.0.1", port=port, connect_timeout=2), f"postgres://127.0.0.1:{port}"),
            (redis.Redis(host="127.0.0.1", port=port, retry=Retry(NoBackoff(), 0)).ping, f"redis://127.0.0.1:{port}"),
        ):
            d = refused.explain(caught(call), timeout=2)
            assert (d.target, d.cause) == (target, "no-listener"), d.to_dict()


def test_a_connection_object_without_a_host_gives_no_target():
    # Some frames' `self` is a library object with the attributes and no address in them: it
    # is passed over, never a scheme before nothing (`redis://None` would be a name to resolve).
    from refused._explain import _from_connection

    assert _from_connection(redis.Connection(host="", port=6379)) is None
    assert _from_connection(redis.Connection(host="127.0.0.1", port=6379)) == "redis://127.0.0.1:6379"
