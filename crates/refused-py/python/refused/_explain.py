"""Explain the connection failures other libraries raise: find the failure in an exception's
chain and the address it was for, then ask ``refused.why``.

The address comes from the objects in the chain, with the scheme the client spoke (a request's
URL, psycopg's and asyncpg's ``postgres://``, redis-py's ``redis://``: the readiness probe then
meets what the client met, a TLS or HTTP failure, a standby, a loading dataset), never guessed
from text where an object holds it: the attribute ``install()`` (or ``refused.connect``) sets,
urllib3's failed connection (``.conn``), httpx's and requests' request URL, psycopg's connection
parameters, then the locals of the frames the failure went through (asyncpg's ``addr`` before
any other frame's, ``socket.create_connection``'s ``address``, asyncio's ``sock_connect``,
redis-py's connection object, pika's connection parameters). Message text is read last, and
only for libraries that keep the address nowhere else (pymongo's server selection, libpq's
message).
"""

from __future__ import annotations

import errno as _errno
import re
import socket
import time
from typing import Any, Dict, Iterator, Optional

__all__ = ["explain", "find_address", "is_connection_failure", "question", "target_text"]

#: The errnos of a connect that failed (as opposed to a read or a file error).
CONNECT_ERRNOS = frozenset(
    {
        _errno.ECONNREFUSED,
        _errno.ETIMEDOUT,
        _errno.EHOSTUNREACH,
        _errno.EHOSTDOWN,
        _errno.ENETUNREACH,
        _errno.ENETDOWN,
        _errno.EACCES,
        _errno.EPERM,
        _errno.EADDRNOTAVAIL,
        _errno.ECONNRESET,
        _errno.ECONNABORTED,
        _errno.ENOENT,
    }
)

#: Connection-failure classes of other libraries, by module prefix and class name (matched
#: along the class's MRO, so none of these libraries is imported here).
_LIBRARY_FAILURES = {
    ("urllib3", "NewConnectionError"),
    ("urllib3", "ConnectTimeoutError"),
    ("httpx", "ConnectError"),
    ("httpx", "ConnectTimeout"),
    # The proxy answered a CONNECT with an error ("500 Unable to connect"): the target failed.
    ("httpx", "ProxyError"),
    ("httpcore", "ProxyError"),
    ("httpcore", "ConnectError"),
    ("httpcore", "ConnectTimeout"),
    ("requests", "ConnectionError"),
    ("redis", "ConnectionError"),
    ("redis", "TimeoutError"),
    ("psycopg", "OperationalError"),
    ("psycopg2", "OperationalError"),
    # Raised when no server could be reached in time; its message names each one and why.
    ("pymongo", "ServerSelectionTimeoutError"),
    # asyncpg's own, of a server that took the connection and turned the client away: starting
    # up, shutting down or a standby that takes no clients (57P03), too many clients (53300).
    ("asyncpg", "CannotConnectNowError"),
    ("asyncpg", "TooManyConnectionsError"),
}

#: The diagnoses made, by what was asked (``question()``'s ``(target, proxy)``): when each was
#: made, and the diagnosis (``diagnosed()``).
_recent: Dict[tuple, tuple] = {}

_SCHEME_PORTS = {"http": 80, "https": 443, "postgres": 5432, "postgresql": 5432, "redis": 6379}


def explain(exc: BaseException, *, timeout: float = 3.0):
    """Diagnose the connection failure in ``exc``'s chain.

    ``exc`` may be a bare ``ConnectionRefusedError`` from ``socket``, requests'
    ``ConnectionError``, urllib3's ``NewConnectionError``, redis-py's ``ConnectionError``,
    psycopg's ``OperationalError``, httpx's ``ConnectError``, asyncio's "Connect call failed",
    asyncpg's ``CannotConnectNowError`` and ``TooManyConnectionsError``, aiohttp's
    ``ClientConnectorError``, SQLAlchemy's wrapping of a driver's error, pymongo's
    ``ServerSelectionTimeoutError``, pika's ``AMQPConnectionError``, or any exception raised
    while handling one of those. Returns the ``refused.Diagnosis`` of
    the address that failed, or ``None`` when the chain holds no connection failure or no
    address could be found for it.
    """
    asked = question(exc)
    if asked is None:
        return None
    from refused import why

    target, proxy = asked
    return why(target, timeout=timeout, proxy=proxy)


def diagnosed(asked: tuple, *, timeout: float, within: float) -> tuple:
    """``why``'s diagnosis of ``asked`` (``question()``'s ``(target, proxy)``), and its age in
    seconds: one made less than ``within`` seconds ago for the same question, else made now
    (age ``None``). ``install()`` (5 s) and the pytest plugin (10 s) share these, so that a
    retry loop, or a suite whose database is down, does not wait out a diagnosis per failure."""
    found = recent(asked, within)
    if found is not None:
        return found
    from refused import why

    target, proxy = asked
    diagnosis = why(target, timeout=timeout, proxy=proxy)
    keep(asked, diagnosis)
    return diagnosis, None


def recent(asked: tuple, within: float) -> Optional[tuple]:
    """The diagnosis of ``asked`` made less than ``within`` seconds ago and its age, or ``None``."""
    made = _recent.get(asked)
    if made is not None:
        age = time.monotonic() - made[0]
        if age < within:
            return made[1], age
    return None


def keep(asked: tuple, diagnosis: Any) -> None:
    """Keeps ``diagnosis`` as the one of ``asked``, made now."""
    if len(_recent) > 256:  # a program that fails towards many targets: forget the old ones
        _recent.clear()
    _recent[asked] = (time.monotonic(), diagnosis)


def forget() -> None:
    """Forgets every diagnosis kept."""
    _recent.clear()


def question(exc: BaseException) -> Optional[tuple]:
    """What ``explain`` asks ``why`` about ``exc``: the target and ``why``'s ``proxy`` argument
    (``True``: the environment's, ``False``: none, or the proxy's URL); ``None`` when there
    is nothing to ask. ``diagnosed()`` keys its diagnoses by it."""
    chain = _failed_chain(exc)
    target = None if chain is None else _address_in(chain)
    if target is None:
        return None
    proxied = _through_proxy(chain)
    if proxied is not None:
        url, proxy = proxied
        # The proxy's failure is the one the client met: `why` asks it, and the target.
        return url, True if proxy is None else proxy
    # The address the failure names was connected to directly.
    return target, False


def _through_proxy(chain: list) -> Optional[tuple]:
    """For a failed request that went through a proxy: the request's URL, and the proxy's
    (``None``: the environment's, which ``why`` reads as the client did); ``None`` for a
    direct connection. ``chain``: the failure's, as ``_failed_chain`` gives it."""
    from urllib.parse import urlsplit
    from urllib.request import getproxies_environment, proxy_bypass_environment

    try:
        url = next((u for u in map(_http_url, chain) if u is not None), None)
        # What `why` is asked: never the URL's credentials, query or fragment.
        target = _from_url(url) if url is not None else None
        if url is None or target is None:
            return None
        parts = urlsplit(url)
        # The environment's, as requests and httpx (trust_env) read it.
        proxies = getproxies_environment()
        from_env = proxies.get(parts.scheme) or proxies.get("all")
        if from_env and proxy_bypass_environment(parts.hostname or "", proxies):
            from_env = None
        env = urlsplit(from_env) if from_env else None
        pooled = False
        for e in chain:
            # urllib3 (and requests through it) keep the proxy on the connection or its pool
            # (in the instance: urllib3 2's `pool` property of a connection error warns).
            for name in ("conn", "pool"):
                holder = e.__dict__.get(name) if hasattr(e, "__dict__") else None
                pooled = pooled or type(holder).__module__.startswith("urllib3")
                proxy = getattr(holder, "proxy", None)
                host = getattr(proxy, "host", None)
                if isinstance(host, str) and host:
                    same = env is not None and (env.hostname, env.port) == (host, proxy.port)
                    # The environment's, said as such by `why`; else the one it was given.
                    return target, None if same else str(proxy)
        # httpx keeps it on its transport's connection pool (httpcore's proxy), the
        # environment's as well as a `Client(proxy=...)`.
        found = next((p for p in map(_httpx_proxy, chain) if p is not None), None)
        if found is not None:
            scheme, host, port = found
            same = env is not None and (env.hostname, env.port) == (host, port)
            hostport = target_text(host, port) or (f"[{host}]" if ":" in host else host)
            return target, None if same else f"{scheme}://{hostport}"
        # urllib3's pool without a proxy, httpx's transport without a proxy pool: the client
        # went direct, whatever the environment says (requests' `trust_env = False`, httpx's
        # `Client(trust_env=False)`, a `proxies=` or `mounts` of its own).
        if pooled or any(type(e).__module__.startswith("httpx") for e in chain):
            return None
    except Exception:  # another library's object that misbehaves: no proxy to tell of
        return None
    return (target, None) if from_env else None


def _httpx_proxy(e: BaseException) -> Optional[tuple]:
    """The proxy of the httpx request ``e`` failed in, as ``(scheme, host, port)``: httpcore's
    proxy pool (``_proxy_url``: never credentials, which it keeps in a header), found in the
    frames of httpx's transport or of the pool itself."""
    tb = e.__traceback__
    while tb is not None:
        frame, tb = tb.tb_frame, tb.tb_next
        if not str(frame.f_globals.get("__name__", "")).startswith(("httpx", "httpcore")):
            continue
        holder = frame.f_locals.get("self")
        for candidate in (holder, getattr(holder, "_pool", None)):
            proxy_url = getattr(candidate, "_proxy_url", None)
            scheme, host = getattr(proxy_url, "scheme", None), getattr(proxy_url, "host", None)
            if isinstance(scheme, bytes) and isinstance(host, bytes) and host:
                port = getattr(proxy_url, "port", None)
                if not isinstance(port, int):
                    port = {b"http": 80, b"https": 443}.get(scheme)
                return scheme.decode(), host.decode(), port
    return None


def _request_url(e: BaseException) -> Any:
    """The URL of the request that failed (httpx's ``httpx.URL``, requests' string)."""
    try:
        request = getattr(e, "request", None)
    except RuntimeError:  # httpx's ConnectError.request, when unset
        return None
    return getattr(request, "url", None)


def _http_url(e: BaseException) -> Optional[str]:
    """The `http://` or `https://` URL of the request that failed, as text."""
    url = _request_url(e)
    text = str(url) if url is not None else ""
    return text if text.startswith(("http://", "https://")) else None


def find_address(exc: BaseException) -> Optional[str]:
    """The target whose connect failed somewhere in ``exc``'s chain, or ``None``: in the
    scheme the client spoke where its objects say it (``"http://host:port/path"`` of requests,
    httpx and urllib3, ``"postgres://host:port"`` of psycopg and asyncpg, ``"redis://host:port"``
    of redis-py), so that ``why`` asks what the client asked; else ``"host:port"``,
    ``"[::1]:5432"``, ``"unix:///path"``."""
    chain = _failed_chain(exc)
    return None if chain is None else _address_in(chain)


def _failed_chain(exc: BaseException) -> Optional[list]:
    """The chain of the failure to explain in ``exc``'s, that failure first (walked once when
    it holds no exception group); ``None`` when it holds no connection failure.

    That failure is ``exc``, unless the chain holds an exception group. A group of one name's
    attempts (``socket.create_connection(all_errors=True)``: an error for each address, which
    ``why NAME:PORT`` tries again) is explained as that name; any other (asyncio's
    ``TaskGroup``: failures of different connections, maybe to different targets) by its first
    member that holds a connection failure, alone: its target and its proxy, never one
    member's target with another's proxy."""
    try:
        chain = list(_chain(exc))
        seen: set = set()
        while True:
            group = next((e for e in chain if is_group(e)), None)
            if group is None or id(group) in seen:
                break
            seen.add(id(group))
            if _group_target(group) is not None:
                chain = chain if group is chain[0] else list(_chain(group))
                break
            members = [m for m in getattr(group, "exceptions", ()) if isinstance(m, BaseException)]
            first = next((m for m in members if any(map(is_connection_failure, _chain(m)))), None)
            if first is None:
                break
            chain = list(_chain(first))
        return chain if any(is_connection_failure(e) for e in chain) else None
    except Exception:  # another library's exception that misbehaves: nothing to say
        return None


def _address_in(chain: list) -> Optional[str]:
    """The target of the failure whose chain ``chain`` is (``_failed_chain``'s)."""
    if is_group(chain[0]):  # one name's group: the name asked
        try:
            return _group_target(chain[0])
        except Exception:  # another library's object that misbehaves: nothing to say
            return None
    for finder in (_from_attributes, _from_frames, _from_text):
        for e in chain:
            try:
                found = finder(e)
            except Exception:  # another library's object that misbehaves: look further
                continue
            if found is not None:
                return _with_scheme(found, chain) if finder is _from_attributes else found
    return None


def _with_scheme(found: str, chain: list) -> str:
    """``found`` (an address ``install()`` recorded on the inner ``OSError``: ``host:port``)
    in the scheme the client spoke, when its frames say it for the same address (redis-py's
    ``redis://host:port``): the service's own answer (``LOADING``, protected mode) is then
    asked, as without ``install()``."""
    if "://" in found:
        return found
    for e in chain:
        try:
            framed = _from_frames(e)
        except Exception:  # another library's object that misbehaves: look further
            continue
        if framed is not None and "://" in framed and framed.split("://", 1)[1].rstrip("/") == found:
            return framed
    return found


def is_group(exc: BaseException) -> bool:
    """Whether ``exc`` is an exception group (3.11's, or the ``exceptiongroup`` backport's)."""
    return any(cls.__name__ == "BaseExceptionGroup" for cls in type(exc).__mro__)


def _group_target(group: BaseException) -> Optional[str]:
    """The one target a group's failures were for: what ``install()`` recorded on it, or the
    ``address`` of ``socket.create_connection``, when that is where it was raised."""
    found = _from_attributes(group)
    if found is not None:
        return found
    tb = group.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is not None and _module(tb.tb_frame) == "socket":
        return _from_address(tb.tb_frame.f_locals.get("address"))
    return None


def is_connection_failure(exc: BaseException) -> bool:
    """Whether ``exc`` itself is a failed connect (not an error raised later on a connection)."""
    if isinstance(exc, (BlockingIOError, InterruptedError)):
        return False
    if isinstance(exc, socket.gaierror):
        return True
    if isinstance(exc, OSError):
        # A file's error carries its file name; a socket's does not (EACCES, ENOENT are both).
        if exc.errno in CONNECT_ERRNOS and exc.filename is None:
            return True
        if isinstance(exc, TimeoutError):
            return True
        try:
            message = str(exc)
        except Exception:  # a __str__ that fails: not a message to read
            message = ""
        # asyncio's own: "Connect call failed ('127.0.0.1', 8080)", "Multiple exceptions: ..."
        if message.startswith(("Connect call failed", "Multiple exceptions: [Errno")):
            return True
    for cls in type(exc).__mro__:
        module = cls.__module__.split(".")[0]
        if (module, cls.__name__) in _LIBRARY_FAILURES:
            return True
    return False


def target_text(host: Any, port: Any) -> Optional[str]:
    """``host:port`` as a target, bracketing an IPv6 literal; ``None`` when either is missing."""
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if not host or port in (None, ""):
        return None
    try:
        port = int(port)
    except (TypeError, ValueError):
        return None
    host = str(host)
    if ":" in host and not host.startswith("["):
        host = f"[{host.split('%')[0]}]"
    return f"{host}:{port}"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception reachable from it: causes, contexts, the exceptions other
    libraries wrap in ``args``, ``reason`` (urllib3) or ``exceptions`` (groups)."""
    seen: set[int] = set()
    queue = [exc]
    while queue:
        e = queue.pop(0)
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        nested = [e.__cause__, e.__context__]
        # urllib3's `reason`, pika's `.exception` (the socket's error), the exceptions wrapped
        # in `args` and in groups' `exceptions`: attributes of other libraries, which may be
        # properties that raise, or not what they seem.
        for name in ("reason", "exception", "args", "exceptions"):
            try:
                value = getattr(e, name, None)
                nested += list(value) if isinstance(value, (tuple, list)) else [value]
            except Exception:
                continue
        queue += [n for n in nested if isinstance(n, BaseException)]


def _from_attributes(e: BaseException) -> Optional[str]:
    # What refused itself set: refused.connect's errors and install()'s annotation.
    target = e.__dict__.get("target") if hasattr(e, "__dict__") else None
    if isinstance(target, str) and target and type(e).__module__.startswith("refused"):
        return target
    # What install() asked `why` about: in the client's scheme where it knew it (asyncpg's).
    asked = e.__dict__.get("_refused_target") if hasattr(e, "__dict__") else None
    if isinstance(asked, str) and asked:
        return asked
    address = e.__dict__.get("address") if hasattr(e, "__dict__") else None
    found = _from_address(address)
    if found is not None:
        return found
    # urllib3 2 keeps the connection as `.conn`, urllib3 1 as `.pool`.
    for name in ("conn", "pool"):
        found = _from_connection(getattr(e, name, None))
        if found is not None:
            return found
    # httpx's and requests' request.
    url = _request_url(e)
    if url is not None:
        found = _from_url(url)
        if found is not None:
            return found
    # psycopg 3 keeps the failed connection's libpq object, with its parameters.
    found = _from_connection(getattr(e, "pgconn", None))
    if found is not None:
        return found
    return None


def _from_address(address: Any) -> Optional[str]:
    """A `socket` address: `(host, port)`, `(host, port, flow, scope)` or a unix path."""
    if isinstance(address, tuple) and len(address) in (2, 4):
        return target_text(address[0], address[1])
    if isinstance(address, (str, bytes)) and address:
        path = address.decode(errors="replace") if isinstance(address, bytes) else address
        if path.startswith("/"):
            return f"unix://{path}"
        if path.startswith(("unix://", "tcp://")) or re.fullmatch(r".+:\d+", path):
            return path
    return None


def _from_connection(conn: Any) -> Optional[str]:
    """An object with `host` and `port` (urllib3's HTTPConnection, redis-py's Connection,
    psycopg's PGconn), or `path` for a unix socket connection."""
    if conn is None or isinstance(conn, (str, bytes, int, tuple)):
        return None
    try:
        host = getattr(conn, "host", None)
        port = getattr(conn, "port", None)
        path = getattr(conn, "path", None)
    except Exception:  # a closed psycopg connection raises on access
        return None
    # Only plain values: other objects answer any attribute (a pymongo Database gives a
    # collection named `host`), and some refuse even bool().
    plain = (str, bytes, type(None))
    if not isinstance(host, plain) or not isinstance(port, (int, *plain)):
        return None
    if not isinstance(path, (str, bytes)):
        path = None
    if isinstance(path, (str, bytes)) and path and not host:
        found = _from_address(path)
        # redis-py's unix socket connection: asked as Redis over its socket, so that a server
        # loading its dataset (`BusyLoadingError`) is `not-ready`, not a connect's `reachable`.
        if found is not None and found.startswith("unix:///") and _scheme_of(conn) == "redis":
            return f"redis+{found}"
        return found
    if isinstance(host, bytes) and host.startswith(b"/") or isinstance(host, str) and host.startswith("/"):
        # libpq's host may be a unix socket directory: the socket is .s.PGSQL.PORT in it.
        directory = host.decode() if isinstance(host, bytes) else host
        port_text = port.decode() if isinstance(port, bytes) else str(port or 5432)
        return f"unix://{directory.rstrip('/')}/.s.PGSQL.{port_text}"
    if port is None and host:
        scheme = getattr(conn, "scheme", None)
        port = _SCHEME_PORTS.get(scheme) if isinstance(scheme, str) else None
    scheme = _scheme_of(conn)
    if scheme == "postgres":
        # libpq connects to `hostaddr` when it is set; `host` then only names the server.
        try:
            hostaddr = getattr(conn, "hostaddr", None)
        except Exception:  # an older libpq has none
            hostaddr = None
        if isinstance(hostaddr, (str, bytes)) and hostaddr:
            host = hostaddr
    hostport = target_text(host, port)
    return f"{scheme}://{hostport}" if scheme and hostport else hostport


def _from_url(url: Any) -> Optional[str]:
    """A request URL (httpx.URL or requests' string) as ``scheme://host:port/path``, so that
    the scheme's readiness probe asks what the client asked (a TLS handshake, the path's HTTP
    status); never its credentials, query or fragment."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(str(url))
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host:
        return None
    if port is None:
        port = _SCHEME_PORTS.get(parts.scheme)
    hostport = target_text(host, port)
    if hostport and parts.scheme in ("http", "https"):
        return f"{parts.scheme}://{hostport}{parts.path}"
    return hostport


def _scheme_of(conn: Any) -> Optional[str]:
    """The scheme whose readiness probe speaks what a library's connection object spoke:
    psycopg's libpq connection `postgres`, redis-py's `redis`, PyMySQL's and aiomysql's
    `mysql`, urllib3's `http` or `https`;
    ``None`` for any other (its target stays ``host:port``: a connect only)."""
    classes = type(conn).__mro__
    library = classes[0].__module__.split(".")[0]
    if library.startswith("psycopg"):  # psycopg.pq, or psycopg_binary's
        return "postgres"
    if library == "redis":
        return "redis"
    if library in ("pymysql", "aiomysql"):
        return "mysql"
    if library == "urllib3":
        # urllib3 1's pools say it; urllib3 2's connections by their class.
        scheme = getattr(conn, "scheme", None)
        if scheme in ("http", "https"):
            return scheme
        return "https" if any(c.__name__.startswith("HTTPS") for c in classes) else "http"
    return None


def _from_frames(e: BaseException) -> Optional[str]:
    """The locals of the frames the failure was raised through, innermost first."""
    tb = e.__traceback__
    frames = []
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    frames.reverse()
    # asyncpg keeps the address it connects to as `addr` in its own frames, above asyncio's
    # that name it bare: the client's scheme, wherever the failure came from (a refusal in
    # asyncio's frames, a standby's 57P03 in asyncpg's).
    for frame in frames:
        if _module(frame).startswith("asyncpg"):
            found = _from_asyncpg(frame.f_locals.get("addr"))
            if found is not None:
                return found
    for frame in frames:
        local = frame.f_locals
        module = _module(frame)
        if module.startswith("asyncpg"):  # its `host` and `port` arguments: lists, or None
            continue
        # psycopg 3 resolves names and times connects out in Python, before any libpq
        # connection exists: its `connect` holds the attempt it made (and all the parameters).
        if module.startswith("psycopg"):
            for name in ("attempt", "params"):
                found = _from_conninfo(local.get(name))
                if found is not None:
                    return found
        # socket.create_connection's `address` (the name asked for) before its `sa` (the last
        # address tried); asyncio's sock_connect `address`; redis-py's `socket_address`.
        for name in ("address", "sa", "addr", "socket_address"):
            found = _from_address(local.get(name)) if isinstance(local.get(name), tuple) else None
            if found is not None:
                return found
        found = target_text(local.get("host"), local.get("port"))
        if found is not None and isinstance(local.get("host"), (str, bytes)):
            return found
        # pika's ConnectionParameters, passed as `parameters`.
        for name in ("self", "parameters"):
            found = _from_connection(local.get(name))
            if found is not None:
                return found
    return None


def _module(frame: Any) -> str:
    return str(frame.f_globals.get("__name__", ""))


def _from_asyncpg(addr: Any) -> Optional[str]:
    """asyncpg's `addr`: `(host, port)`, asked as ``postgres://host:port``, or its unix
    socket's path."""
    if isinstance(addr, tuple) and len(addr) == 2:
        hostport = target_text(addr[0], addr[1])
        return f"postgres://{hostport}" if hostport else None
    if isinstance(addr, str) and addr.startswith("/"):
        return f"unix://{addr}"
    return None


def _from_conninfo(params: Any) -> Optional[str]:
    """psycopg's connection parameters as a dict (``{'host': 'db', 'port': '5432',
    'hostaddr': '10.0.0.5'}``): ``postgres://`` its `hostaddr` (where libpq connects when it is
    set) or its `host`, the first of a list; a `host` that is a directory is its unix socket."""
    if not isinstance(params, dict):
        return None
    first = [str(params.get(key) or "").split(",")[0].strip() for key in ("hostaddr", "host", "port")]
    hostaddr, host, port = first
    port = port or "5432"
    if not hostaddr and host.startswith("/"):
        return f"unix://{host.rstrip('/')}/.s.PGSQL.{port}"
    hostport = target_text(hostaddr or host, port)
    return f"postgres://{hostport}" if hostport else None


_TEXT_PATTERNS = (
    # asyncio: "Connect call failed ('127.0.0.1', 8080)" (IPv6 adds flow and scope).
    re.compile(r"Connect call failed \('(?P<host>[^']+)', (?P<port>\d+)"),
    # psycopg / libpq: 'connection to server at "127.0.0.1", port 5432 failed'.
    re.compile(r'server at "(?P<host>[^"]+)"(?: \([^)]*\))?, port (?P<port>\d+) failed'),
    # redis-py: "Error 111 connecting to localhost:6379."
    re.compile(r"connecting to (?P<host>\[?[\w.:-]+?\]?):(?P<port>\d+)\."),
    # urllib3 pools: "HTTPConnectionPool(host='localhost', port=8080)".
    re.compile(r"host='(?P<host>[^']+)', port=(?P<port>\d+)"),
)

#: pymongo's server selection names each server and its error: "localhost:27017: [Errno 111]
#: Connection refused", "db:27017: [Errno -2] Name or service not known", "10.0.0.5:27017: timed
#: out". Read from pymongo's errors only: other messages have `file.py:12: [Errno 13]` too.
_PYMONGO_SERVER = re.compile(
    r"(?P<host>\[[0-9A-Fa-f:.%\w]+\]|[\w.-]+):(?P<port>\d+): (?:\[Errno -?\d+\]|timed out)"
)


def _from_text(e: BaseException) -> Optional[str]:
    """The last resort, for libraries that keep the address in their message only."""
    message = str(e)
    patterns = _TEXT_PATTERNS
    if type(e).__module__.split(".")[0] == "pymongo":
        patterns = (_PYMONGO_SERVER,)
    for pattern in patterns:
        match = pattern.search(message)
        if match:
            return target_text(match.group("host").strip("[]"), match.group("port"))
    return None
