"""``refused.install()``: every connection failure of this program explains itself.

It wraps ``socket.socket.connect``, ``socket.create_connection``, asyncio's ``sock_connect`` /
``create_connection`` and, when the program imported asyncpg, asyncpg's connect (whose server
may turn the client away after the connect: a standby, too many clients). A failure raised
through them gets ``.address`` (the one CPython leaves out) and a PEP 678 note with the cause
and the fix, so a traceback ends with::

    ConnectionRefusedError: [Errno 111] Connection refused
    refused: no-listener: nothing listens on port 8080 of 127.0.0.1 ...
      fix: start the service, or connect to the port it listens on

On success the wrappers do nothing but call the original (one Python call and a ``try``).
"""

from __future__ import annotations

import asyncio
import contextvars
import socket
import sys
import ssl
from typing import Any, Callable, Dict, Optional

from refused._explain import (
    diagnosed,
    find_address,
    forget,
    is_connection_failure,
    is_group,
    keep,
    recent,
    target_text,
)

__all__ = ["install", "uninstall", "installed", "note"]

#: What was replaced, to put back: (owner, attribute) -> original.
_originals: Dict[tuple, Any] = {}
#: Seconds a diagnosis may take, set by install().
_timeout = 1.0
#: Set while inside create_connection: the inner connect() records its address only, and the
#: outer call diagnoses the name once (not every address of it).
_outer = contextvars.ContextVar("refused_outer", default=False)
#: A retry loop's failures towards one target within this many seconds share one diagnosis
#: (`_explain.diagnosed`'s), instead of each paying one (up to `_timeout` for a filtered port).
_REUSE_FOR = 5.0


def install(*, timeout: float = 1.0, asyncio_loops: bool = True) -> None:
    """Make every connection failure raised from now on carry its address and, as a note, the
    cause and the fix. ``timeout`` bounds each diagnosis (a filtered port waits that long); the
    failures of a retry loop towards one target within 5 s share one diagnosis. With
    ``asyncio_loops``, asyncio's connects are wrapped too, and asyncpg's connect when the program
    imported asyncpg before this call (its server's "not accepting connections" or "too many
    clients" come after the connect). Calling it again only changes the timeout;
    ``uninstall()`` undoes it."""
    global _timeout
    _timeout = timeout
    if installed():
        return
    _replace(socket.socket, "connect", _wrap_connect)
    _replace(socket, "create_connection", _wrap_create_connection)
    if asyncio_loops:
        from asyncio import base_events, selector_events

        _replace(selector_events.BaseSelectorEventLoop, "sock_connect", _wrap_sock_connect)
        _replace(base_events.BaseEventLoop, "create_connection", _wrap_loop_create_connection)
        # asyncpg's one connect function (asyncpg.connect's and its pools'), when imported.
        connect_utils = sys.modules.get("asyncpg.connect_utils")
        if connect_utils is not None and callable(getattr(connect_utils, "_connect", None)):
            _replace(connect_utils, "_connect", _wrap_asyncpg_connect)


def uninstall() -> None:
    """Put back what ``install()`` replaced."""
    forget()
    for (owner, name), original in list(_originals.items()):
        setattr(owner, name, original)
    _originals.clear()


def installed() -> bool:
    """Whether ``install()`` is in effect."""
    return bool(_originals)


def note(diagnosis: Any) -> str:
    """The note added to a failure: the cause and summary, then each fix."""
    lines = [f"refused: {diagnosis.cause}: {diagnosis.summary}"]
    lines += [f"  fix: {s}" for s in diagnosis.suggestions]
    return "\n".join(lines)


def _replace(owner: Any, name: str, wrap: Callable[[Any], Any]) -> None:
    original = owner.__dict__.get(name, getattr(owner, name))
    _originals[(owner, name)] = original
    setattr(owner, name, wrap(getattr(owner, name)))


def _annotated(exc: BaseException) -> bool:
    return bool(getattr(exc, "_refused_note", False))


def _record(exc: BaseException, address: Any) -> None:
    if getattr(exc, "address", None) is None:
        try:
            exc.address = address
        except AttributeError:  # an exception type without a __dict__
            pass


def _add_note(exc: BaseException, diagnosis: Any) -> None:
    text = note(diagnosis)
    if hasattr(exc, "add_note"):
        exc.add_note(text)
    else:  # before 3.11 the notes are kept (PEP 678) but tracebacks do not show them
        exc.__notes__ = [*getattr(exc, "__notes__", []), text]
    exc._refused_note = True
    # What was asked, in the client's scheme where it was known: explain() asks it again.
    exc._refused_target = diagnosis.target
    try:
        exc.diagnosis = diagnosis
    except AttributeError:  # refused's own errors compute it lazily: fill the cache
        exc.__dict__["_diagnosis"] = diagnosis


def _wants_note(exc: BaseException) -> bool:
    return (
        (is_connection_failure(exc) or _failed_group(exc))
        and not isinstance(exc, ssl.SSLError)
        and not _annotated(exc)
    )


def _failed_group(exc: BaseException) -> bool:
    """A group of connect failures: ``create_connection(all_errors=True)``'s, one per address."""
    return is_group(exc) and any(is_connection_failure(e) for e in getattr(exc, "exceptions", ()))


def _diagnose_into(exc: BaseException, target: Optional[str]) -> None:
    """Diagnoses `target` and adds the note; never lets a diagnosis problem hide `exc`."""
    if target is None or not _wants_note(exc):
        return
    try:
        # A connect's target, asked direct (the environment's proxy is for HTTP clients).
        diagnosis, _ = diagnosed((target, False), timeout=_timeout, within=_REUSE_FOR)
    except Exception:  # the user's error matters more than ours
        return
    _add_note(exc, diagnosis)


async def _adiagnose_into(exc: BaseException, target: Optional[str]) -> None:
    if target is None or not _wants_note(exc):
        return
    await _anote(exc, target)


async def _anote(exc: BaseException, target: str) -> None:
    """`_diagnose_into`'s diagnosis and note, awaited (with `why` on the library's runtime)."""
    asked = (target, False)
    found = recent(asked, _REUSE_FOR)
    if found is not None:
        diagnosis = found[0]
    else:
        from refused import aio

        try:
            diagnosis = await aio.why(target, timeout=_timeout, proxy=False)
        except Exception:  # the user's error matters more than ours
            return
        keep(asked, diagnosis)
    _add_note(exc, diagnosis)


def _socket_target(sock: socket.socket, address: Any) -> Optional[str]:
    if sock.family == socket.AF_UNIX and isinstance(address, (str, bytes)):
        path = address.decode(errors="replace") if isinstance(address, bytes) else address
        return f"unix://{path}" if path.startswith("/") else None
    if isinstance(address, tuple) and len(address) >= 2:
        return target_text(address[0], address[1])
    return None


def _wrap_connect(original: Callable[..., Any]) -> Callable[..., Any]:
    def connect(self: socket.socket, address: Any) -> None:
        try:
            return original(self, address)
        except OSError as exc:
            _record(exc, address)
            # A non-blocking socket belongs to an event loop (asyncio's sock_connect calls this):
            # diagnosing here would stall the loop; its async wrapper diagnoses instead.
            if not _outer.get() and self.gettimeout() != 0.0:
                _diagnose_into(exc, _socket_target(self, address))
            raise

    connect.__wrapped__ = original  # type: ignore[attr-defined]
    connect.__doc__ = original.__doc__
    return connect


def _wrap_create_connection(original: Callable[..., Any]) -> Callable[..., Any]:
    def create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        token = _outer.set(True)
        try:
            return original(address, *args, **kwargs)
        except Exception as exc:
            # An OSError, or with all_errors=True (3.11+) a group of each address's: both are
            # the name's failure, which `why` asks of every address again.
            if isinstance(exc, OSError) or _failed_group(exc):
                _record(exc, address)
                _outer.reset(token)
                token = None
                _diagnose_into(exc, target_text(address[0], address[1]))
            raise
        finally:
            if token is not None:
                _outer.reset(token)

    create_connection.__wrapped__ = original  # type: ignore[attr-defined]
    create_connection.__doc__ = original.__doc__
    return create_connection


def _wrap_sock_connect(original: Callable[..., Any]) -> Callable[..., Any]:
    async def sock_connect(self: asyncio.AbstractEventLoop, sock: socket.socket, address: Any) -> None:
        try:
            return await original(self, sock, address)
        except OSError as exc:
            _record(exc, address)
            if not _outer.get():
                await _adiagnose_into(exc, _socket_target(sock, address))
            raise

    sock_connect.__wrapped__ = original  # type: ignore[attr-defined]
    return sock_connect


def _wrap_loop_create_connection(original: Callable[..., Any]) -> Callable[..., Any]:
    async def create_connection(
        self: asyncio.AbstractEventLoop, protocol_factory: Any, host: Any = None, port: Any = None, **kwargs: Any
    ) -> Any:
        token = _outer.set(True)
        try:
            return await original(self, protocol_factory, host, port, **kwargs)
        except Exception as exc:
            # An OSError, or with all_errors=True (3.12+) a group of each address's.
            if not isinstance(exc, OSError) and not _failed_group(exc):
                raise
            _outer.reset(token)
            token = None
            if host is not None and port is not None:
                _record(exc, (host, port))
                # "Multiple exceptions: ..." has no errno; it is a connect failure all the same.
                failed = is_connection_failure(exc) or _failed_group(exc) or exc.errno is None
                if failed and not _annotated(exc) and not isinstance(exc, ssl.SSLError):
                    await _anote(exc, _loop_target(protocol_factory, host, port))
            raise
        finally:
            if token is not None:
                _outer.reset(token)

    create_connection.__wrapped__ = original  # type: ignore[attr-defined]
    return create_connection


def _loop_target(protocol_factory: Any, host: Any, port: Any) -> Optional[str]:
    """``host:port``, or ``postgres://host:port`` for asyncpg's connections (its protocol
    factories are its own), so that `why` asks what the client asked."""
    hostport = target_text(host, port)
    if hostport and str(getattr(protocol_factory, "__module__", "")).startswith("asyncpg"):
        return f"postgres://{hostport}"
    return hostport


def _wrap_asyncpg_connect(original: Callable[..., Any]) -> Callable[..., Any]:
    async def _connect(*args: Any, **kwargs: Any) -> Any:
        try:
            return await original(*args, **kwargs)
        except Exception as exc:
            # A server that took the connection and turned the client away (57P03, 53300):
            # raised after asyncio's create_connection returned, so noted here.
            if _wants_note(exc):  # else the address is looked for in vain
                await _adiagnose_into(exc, find_address(exc))
            raise

    _connect.__wrapped__ = original  # type: ignore[attr-defined]
    return _connect
