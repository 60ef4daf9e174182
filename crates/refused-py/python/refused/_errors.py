"""The exceptions ``refused`` raises: subclasses of the built-in ones, so that existing
``except ConnectionRefusedError:`` (or ``TimeoutError``, ``OSError``, ``socket.gaierror``)
clauses keep catching them, with the address, the attempts and the cause added."""

from __future__ import annotations

import socket
from typing import Any

__all__ = [
    "ConnectError",
    "ConnectionRefused",
    "Timeout",
    "Unreachable",
    "PermissionDenied",
    "ConnectionReset",
    "NameNotFound",
    "ResolverFailure",
    "InvalidTarget",
]


class ConnectError(OSError):
    """A connection that could not be made: an ``OSError`` that says where and why.

    ``str(e)`` is one sentence: "connection refused by 127.0.0.1:8080 (nothing accepted on that
    port), 1 attempt over 0.1 ms". Besides ``errno`` and ``strerror`` it has:

    - ``address``: ``(host, port)`` that failed (the address CPython leaves out), or the unix
      socket path;
    - ``attempts``: every connect attempt, a list of ``refused.Attempt``;
    - ``cause``: the failure's label (``refused``, ``timeout``, ``host-unreachable``,
      ``dns-not-found``, ...);
    - ``target``: the target as given;
    - ``diagnosis``: why, computed on first access (``refused.why(target)``).
    """

    address: Any = None
    attempts: list = []
    cause: str = "other"
    target: str = ""
    elapsed: float = 0.0
    #: How long the lazy diagnosis may take, in seconds.
    diagnosis_timeout: float = 3.0

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else super().__str__()

    @property
    def diagnosis(self):
        """The ``refused.Diagnosis`` of the target, run once, on first access."""
        cached = self.__dict__.get("_diagnosis")
        if cached is None:
            from refused import why

            cached = why(self.target, timeout=self.diagnosis_timeout)
            self.__dict__["_diagnosis"] = cached
        return cached


class ConnectionRefused(ConnectError, ConnectionRefusedError):
    """The connection was refused (``ECONNREFUSED``): a ``ConnectionRefusedError``."""


class Timeout(ConnectError, TimeoutError):
    """No answer in time (``ETIMEDOUT``): a ``TimeoutError``."""


class Unreachable(ConnectError):
    """No route to the host or its network (``EHOSTUNREACH``, ``ENETUNREACH``): an ``OSError``."""


class PermissionDenied(ConnectError, PermissionError):
    """A local policy or a remote admin-prohibited reject (``EACCES``, ``EPERM``)."""


class ConnectionReset(ConnectError, ConnectionResetError):
    """The connection was reset or aborted during the handshake."""


class NameNotFound(ConnectError, socket.gaierror):
    """The name does not exist, or has no address: a ``socket.gaierror`` whose ``errno`` is
    getaddrinfo's code (``socket.EAI_NONAME``, ``socket.EAI_NODATA``)."""


class ResolverFailure(ConnectError, socket.gaierror):
    """The resolver failed or did not answer (``socket.EAI_AGAIN``, ``socket.EAI_FAIL``)."""


class InvalidTarget(ValueError):
    """A target that does not parse; the message points at the bad part."""
