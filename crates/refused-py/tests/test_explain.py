"""explain() on what the real client libraries raise, against no server and real servers."""

import asyncio
import socket

import pytest
import httpx
import psycopg
import aiohttp
import asyncpg
import pika
import pymongo
import pymysql
import redis
import requests
import sqlalchemy
import urllib3
from redis.backoff import NoBackoff
from redis.retry import Retry

import refused
from support import caught, full_queue, refused_port, tinyproxy

#: redis-py retries a failed connect with backoff by default: once is enough here.
NO_RETRY = Retry(NoBackoff(), 0)


def test_socket_create_connection():
    with refused_port(47633) as port:
        exc = caught(lambda: socket.create_connection(("127.0.0.1", port), timeout=2))
        assert type(exc) is ConnectionRefusedError
        assert refused.find_address(exc) == f"127.0.0.1:{port}"
        d = refused.explain(exc)
    assert d.cause == "no-listener" and d.target == f"127.0.0.1:{port}"


def test_a_bare_socket_connect_whose_frame_holds_the_address():
    with refused_port(47635) as port:
        address = ("127.0.0.1", port)
        sock = socket.socket()
        with sock:
            exc = caught(lambda: sock.connect(address))
        assert refused.explain(exc).cause == "no-listener"


def test_an_error_raised_while_handling_one_is_explained_through_its_context():
    with refused_port(47637) as port:
        try:
            try:
                socket.create_connection(("127.0.0.1", port))
            except ConnectionRefusedError:
                raise RuntimeError("the cache is down")
        except RuntimeError as exc:
            assert refused.find_address(exc) == f"127.0.0.1:{port}"


def test_what_is_not_a_connection_failure_is_not_explained():
    assert refused.explain(ValueError("nope")) is None
    assert refused.explain(FileNotFoundError(2, "No such file", "/etc/app.conf")) is None
    assert refused.explain(PermissionError(13, "Permission denied", "/var/run/app.pid")) is None
    assert refused.find_address(KeyError("host")) is None


def test_requests_connection_error():
    with refused_port(47653) as port:
        exc = caught(lambda: requests.get(f"http://127.0.0.1:{port}/health", timeout=2))
        assert isinstance(exc, requests.ConnectionError)
        # The request's URL: its scheme's probe is what the client met (credentials never).
        assert refused.find_address(exc) == f"http://127.0.0.1:{port}/health"
        assert refused.explain(exc).cause == "no-listener"


def test_urllib3_new_connection_error():
    with refused_port(47655) as port:
        pool = urllib3.PoolManager(retries=False)
        exc = caught(lambda: pool.request("GET", f"http://127.0.0.1:{port}/"))
        assert isinstance(exc, urllib3.exceptions.NewConnectionError)
        assert refused.find_address(exc) == f"http://127.0.0.1:{port}"
        assert refused.explain(exc).cause == "no-listener"


def test_httpx_connect_error():
    with refused_port(47657) as port:
        exc = caught(lambda: httpx.get(f"http://127.0.0.1:{port}/"))
        assert isinstance(exc, httpx.ConnectError)
        assert refused.find_address(exc) == f"http://127.0.0.1:{port}/"
        assert refused.explain(exc).cause == "no-listener"


def test_asyncio_open_connection():
    with refused_port(47673) as port:
        async def connect():
            await asyncio.open_connection("127.0.0.1", port)

        exc = caught(lambda: asyncio.run(connect()))
        assert isinstance(exc, ConnectionRefusedError)
        assert "Connect call failed" in str(exc)
        assert refused.find_address(exc) == f"127.0.0.1:{port}"
        assert refused.explain(exc).cause == "no-listener"


def test_aiohttp_client_connector_error():
    async def get(port):
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/"):
                pass

    with refused_port(47833) as port:
        exc = caught(lambda: asyncio.run(get(port)))
        assert isinstance(exc, aiohttp.ClientConnectorError)
        assert refused.find_address(exc) == f"127.0.0.1:{port}"
        assert refused.explain(exc).cause == "no-listener"


def test_asyncpg_without_a_server():
    with refused_port(47835) as port:
        connect = asyncpg.connect(host="127.0.0.1", port=port, user="app", timeout=2)
        exc = caught(lambda: asyncio.run(connect))
        assert isinstance(exc, OSError)
        assert refused.find_address(exc) == f"postgres://127.0.0.1:{port}"
        assert refused.explain(exc).cause == "no-listener"


def test_sqlalchemy_over_psycopg_and_pymysql():
    # SQLAlchemy wraps the driver's error in its own OperationalError.
    with refused_port(47837) as port:
        for url, target in (
            (f"postgresql+psycopg://app@127.0.0.1:{port}/db", f"postgres://127.0.0.1:{port}"),
            (f"mysql+pymysql://app@127.0.0.1:{port}/db", f"mysql://127.0.0.1:{port}"),
        ):
            engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": 2})
            exc = caught(engine.connect)
            assert isinstance(exc, sqlalchemy.exc.OperationalError), url
            assert refused.find_address(exc) == target, url
            assert refused.explain(exc).cause == "no-listener"


def test_pymysql_without_a_server():
    with refused_port(47839) as port:
        exc = caught(lambda: pymysql.connect(host="127.0.0.1", port=port, connect_timeout=2))
        assert isinstance(exc, pymysql.err.OperationalError)
        # Asked as MySQL: a server that greets with an error (too many connections, a host
        # it has no account for) is told apart from a refusal.
        assert refused.find_address(exc) == f"mysql://127.0.0.1:{port}"


def test_pymongo_server_selection_names_the_server():
    with refused_port(47853) as port:
        client = pymongo.MongoClient(f"mongodb://127.0.0.1:{port}/", serverSelectionTimeoutMS=300)
        exc = caught(lambda: client.admin.command("ping"))
        client.close()
        assert isinstance(exc, pymongo.errors.ServerSelectionTimeoutError)
        assert refused.find_address(exc) == f"127.0.0.1:{port}"
        assert refused.explain(exc).cause == "no-listener"


def test_pymongo_messages_name_the_server_whatever_its_error():
    for message, target in (
        ("db.example:27017: [Errno -2] Name or service not known, Timeout: 30s", "db.example:27017"),
        ("10.0.0.5:27017: timed out (configured timeouts: ...)", "10.0.0.5:27017"),
        ("[fd00::5]:27017: [Errno 111] Connection refused", "[fd00::5]:27017"),
    ):
        exc = pymongo.errors.ServerSelectionTimeoutError(message)
        assert refused.find_address(exc) == target, message
    # Only pymongo's own messages are read so: another that quotes a file and line is not.
    refusal = ConnectionRefusedError(111, "see loader.py:12: [Errno 13] Permission denied")
    assert refused.find_address(refusal) is None


def test_exceptions_that_misbehave_are_not_explained_and_do_not_break_explain():
    class Odd(ConnectionRefusedError):
        exceptions = 5

        @property
        def exception(self):
            raise RuntimeError("no")

        def __str__(self):
            raise RuntimeError("no message either")

    assert refused.find_address(Odd(111, "refused")) is None


def test_pika_keeps_the_address_in_its_parameters():
    parameters = pika.ConnectionParameters(host="127.0.0.1", port=47855, connection_attempts=1)
    with refused_port(47855) as port:
        exc = caught(lambda: pika.BlockingConnection(parameters))
        assert isinstance(exc, pika.exceptions.AMQPConnectionError)
        assert refused.find_address(exc) == f"127.0.0.1:{port}"
        assert refused.explain(exc).cause == "no-listener"


def test_redis_without_a_server():
    with refused_port(47675) as port:
        client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=2, retry=NO_RETRY)
        exc = caught(client.ping)
        assert isinstance(exc, redis.ConnectionError)
        assert refused.find_address(exc) == f"redis://127.0.0.1:{port}"
        assert refused.explain(exc).cause == "no-listener"


def test_redis_next_to_the_real_server_is_the_wrong_port(redis_server):
    assert redis.Redis(host="127.0.0.1", port=redis_server).ping() is True
    with refused_port(redis_server + 1) as port:
        exc = caught(redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=2, retry=NO_RETRY).ping)
        d = refused.explain(exc)
    assert d.cause == "wrong-port", d.summary
    assert str(redis_server) in d.summary and "redis-server" in d.summary


def test_psycopg_without_a_server():
    with refused_port(47677) as port:
        exc = caught(lambda: psycopg.connect(host="127.0.0.1", port=port, user="postgres", connect_timeout=2))
        assert isinstance(exc, psycopg.OperationalError)
        # From the failed connection's parameters, not from the message.
        from refused._explain import _from_attributes

        assert _from_attributes(exc) == f"postgres://127.0.0.1:{port}"
        assert refused.find_address(exc) == f"postgres://127.0.0.1:{port}"
        assert refused.explain(exc).cause == "no-listener"


def test_psycopg_connect_timeout_is_explained_from_psycopgs_own_attempt():
    # psycopg 3 times the connect out in Python: no libpq connection, the address in its frame.
    with full_queue(47997) as port:
        exc = caught(lambda: psycopg.connect(host="127.0.0.1", port=port, user="postgres", connect_timeout=1))
        assert isinstance(exc, psycopg.errors.ConnectionTimeout)
        assert refused.find_address(exc) == f"postgres://127.0.0.1:{port}"
        assert refused.explain(exc, timeout=1).cause == "listen-queue-full"


def test_psycopg_connects_to_hostaddr_when_it_is_set():
    # `host` names the server (TLS, .pgpass); libpq connects to `hostaddr`.
    from refused._explain import _from_conninfo

    with refused_port(47999) as port:
        exc = caught(lambda: psycopg.connect(f"host=localhost hostaddr=127.0.0.1 port={port} connect_timeout=2"))
        assert exc.pgconn.host == b"localhost" and exc.pgconn.hostaddr == b"127.0.0.1"
        assert refused.find_address(exc) == f"postgres://127.0.0.1:{port}"
    assert _from_conninfo({"host": "db,db2", "hostaddr": "", "port": "6432,6433"}) == "postgres://db:6432"
    assert _from_conninfo({"host": "/run/postgresql"}) == "unix:///run/postgresql/.s.PGSQL.5432"


def test_psycopg_next_to_the_real_server_is_the_wrong_port(postgres_server):
    with psycopg.connect(host="127.0.0.1", port=postgres_server, user="postgres", dbname="postgres") as conn:
        assert conn.execute("select 1").fetchone() == (1,)
    with refused_port(postgres_server + 1) as port:
        exc = caught(lambda: psycopg.connect(host="127.0.0.1", port=port, user="postgres", connect_timeout=2))
        d = refused.explain(exc)
    assert d.cause == "wrong-port", d.summary
    assert str(postgres_server) in d.summary and "postgres" in d.summary


def test_check_speaks_each_real_servers_protocol(redis_server, postgres_server):
    cache, db = refused.check(
        f"redis://127.0.0.1:{redis_server}",
        f"postgres://postgres@127.0.0.1:{postgres_server}/postgres",
    )
    assert cache.ready and db.ready, (cache.summary, db.summary)
    assert [cache.state, db.state] == ["up", "up"]


def test_a_request_through_a_proxy_that_refuses_is_explained_at_the_proxy(listener, monkeypatch):
    # The refusal requests and httpx report is the proxy's, not the target's (which answers).
    url = f"http://{listener.target}/health"
    with refused_port(47857) as proxy_port:
        proxy = f"http://user:secret@127.0.0.1:{proxy_port}"
        calls = [
            ("requests, proxies=", lambda: requests.get(url, timeout=2, proxies={"http": proxy})),
            ("httpx, Client(proxy=)", lambda: httpx.Client(proxy=proxy, trust_env=False).get(url)),
        ]
        for name, call in calls:
            exc = caught(call)
            diagnosis = refused.explain(exc)
            document = diagnosis.to_dict()
            assert diagnosis.cause == "no-listener", (name, document)
            assert document["proxy"]["address"] == f"127.0.0.1:{proxy_port}", (name, document)
            assert document["proxy"]["diagnosed"] == "proxy", (name, document)
            assert document["proxy"]["variable"] is None, (name, document)
            assert "secret" not in str(document), (name, document)
        # The environment's proxy, which requests and httpx read.
        monkeypatch.setenv("http_proxy", proxy)
        monkeypatch.delenv("no_proxy", raising=False)
        monkeypatch.delenv("NO_PROXY", raising=False)
        for name, call in [
            ("requests, http_proxy", lambda: requests.get(url, timeout=2)),
            ("httpx, http_proxy", lambda: httpx.get(url)),
        ]:
            exc = caught(call)
            document = refused.explain(exc).to_dict()
            assert document["cause"] == "no-listener", (name, document)
            assert document["proxy"]["address"] == f"127.0.0.1:{proxy_port}", (name, document)
            assert document["summary"].startswith("`http_proxy` is set"), (name, document)
        # Bypassed by no_proxy: the request went direct, and so does the diagnosis.
        monkeypatch.setenv("no_proxy", "127.0.0.1")
        with refused_port(47859) as down:
            exc = caught(lambda: httpx.get(f"http://127.0.0.1:{down}/"))
            document = refused.explain(exc).to_dict()
            assert document["cause"] == "no-listener", document
            assert "proxy" not in document, document
            assert document["attempts"][0]["address"] == f"127.0.0.1:{down}", document


def test_httpx_through_a_proxy_that_cannot_reach_the_target():
    # Debian's tinyproxy answers the CONNECT with "500 Unable to connect": httpx's ProxyError.
    # The proxy is up, so the target is diagnosed (through it), with the proxy as a warning.
    with tinyproxy(47983) as proxy, refused_port(47969) as down:
        url = f"https://127.0.0.1:{down}/"
        exc = caught(lambda: httpx.Client(proxy=proxy, trust_env=False).get(url))
        assert isinstance(exc, httpx.ProxyError) and "Unable to connect" in str(exc), exc
        document = refused.explain(exc, timeout=2).to_dict()
    assert document["target"] == url, document
    assert document["cause"] == "no-listener", document
    assert document["proxy"]["address"] == "127.0.0.1:47983", document
    assert document["proxy"]["diagnosed"] == "direct", document


def test_a_request_through_a_proxy_is_asked_without_its_credentials_or_query(listener):
    url = f"http://bob:pw@{listener.target}/health?token=abc#top"
    with refused_port(47861) as proxy_port:
        exc = caught(
            lambda: requests.get(url, timeout=2, proxies={"http": f"http://127.0.0.1:{proxy_port}"})
        )
        document = refused.explain(exc).to_dict()
    assert document["target"] == f"http://{listener.target}/health", document
    assert "pw" not in str(document) and "token" not in str(document), document


def test_a_group_of_failures_to_different_targets_is_its_first_failure_alone(listener):
    # asyncio's TaskGroup (or any code) may group failures of different connections: the first
    # is explained with its own target and proxy, never one member's target through another's
    # proxy (the httpx request went through a dead proxy; the requests one went direct).
    from refused._explain import question

    with refused_port(48233) as down, refused_port(48235) as proxy_port:
        direct = caught(lambda: requests.get(f"http://127.0.0.1:{down}/health", timeout=2))
        proxied = caught(
            lambda: httpx.Client(proxy=f"http://127.0.0.1:{proxy_port}", trust_env=False).get(f"http://{listener.target}/")
        )
        group = caught(lambda: _raise(_group("two services", [direct, proxied])))
        assert refused.find_address(group) == f"http://127.0.0.1:{down}/health"
        assert question(group) == (f"http://127.0.0.1:{down}/health", False)
        document = refused.explain(group, timeout=2).to_dict()
        assert (document["target"], document["cause"]) == (f"http://127.0.0.1:{down}/health", "no-listener"), document
        assert "proxy" not in document, document
        # The other way round, the proxied request is the one explained, through its proxy.
        group = caught(lambda: _raise(_group("two services", [ValueError("bad config"), proxied, direct])))
        assert question(group) == (f"http://{listener.target}/", f"http://127.0.0.1:{proxy_port}")


def _group(message, exceptions):
    import builtins

    group = getattr(builtins, "ExceptionGroup", None)
    if group is None:
        pytest.skip("exception groups are Python 3.11's")
    return group(message, exceptions)


def _raise(exc):
    raise exc


def test_a_client_that_does_not_trust_the_environment_is_asked_direct(monkeypatch):
    # http_proxy is set and dead; the clients were told not to read it, and went direct: the
    # diagnosis is the target's, with no word of a proxy the client never went through.
    with refused_port(48241) as proxy_port, refused_port(48243) as down:
        monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{proxy_port}")
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy_port}")
        monkeypatch.delenv("no_proxy", raising=False)
        monkeypatch.delenv("NO_PROXY", raising=False)
        url = f"http://127.0.0.1:{down}/health"
        session = requests.Session()
        session.trust_env = False
        for name, call in [
            ("requests, trust_env = False", lambda: session.get(url, timeout=2)),
            ("httpx, Client(trust_env=False)", lambda: httpx.Client(trust_env=False).get(url)),
        ]:
            exc = caught(call)
            document = refused.explain(exc, timeout=2).to_dict()
            assert (document["target"], document["cause"]) == (url, "no-listener"), (name, document)
            assert "proxy" not in document, (name, document)
            assert document["attempts"][0]["address"] == f"127.0.0.1:{down}", (name, document)
        # The same clients trusting it went through it: the proxy's refusal.
        for name, call in [
            ("requests", lambda: requests.get(url, timeout=2)),
            ("httpx", lambda: httpx.Client().get(url)),
        ]:
            document = refused.explain(caught(call), timeout=2).to_dict()
            assert document["proxy"]["address"] == f"127.0.0.1:{proxy_port}", (name, document)
