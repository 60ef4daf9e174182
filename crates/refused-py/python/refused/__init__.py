"""refused: a ``ConnectionRefusedError`` that says why.

Connect the way the best clients do, and when it fails, get the cause, the evidence and the
fix instead of ``[Errno 111] Connection refused``::

    import refused

    try:
        sock = refused.connect("localhost", 8080)
    except ConnectionRefusedError as e:      # refused.ConnectionRefused is one
        print(e)                             # connection refused by 127.0.0.1:8080 (...)
        print(e.diagnosis)                   # no-listener: nothing listens on port 8080 ...

    refused.install()   # every refused connection of this program now explains itself

Functions: ``connect``, ``why``, ``check``, ``wait``, ``scan`` (and their ``refused.aio``
twins), ``explain`` for the exceptions other libraries raise, ``install`` / ``uninstall``.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version as _version

from refused._errors import (
    ConnectError,
    ConnectionRefused,
    ConnectionReset,
    InvalidTarget,
    NameNotFound,
    PermissionDenied,
    ResolverFailure,
    Timeout,
    Unreachable,
)
from refused._explain import explain, find_address
from refused._install import install, installed, uninstall
from refused._refused import (
    Attempt,
    Diagnosis,
    Icmp,
    PortResult,
    ProbeReport,
    ScanReport,
    WaitResult,
    check,
    connect,
    scan,
    wait,
    why,
)
from refused import aio

try:
    __version__ = _version("refused")
except PackageNotFoundError:  # imported from a source tree, not installed
    __version__ = "0+unknown"

__all__ = [
    "Attempt",
    "ConnectError",
    "ConnectionRefused",
    "ConnectionReset",
    "Diagnosis",
    "Icmp",
    "InvalidTarget",
    "NameNotFound",
    "PermissionDenied",
    "PortResult",
    "ProbeReport",
    "ResolverFailure",
    "ScanReport",
    "Timeout",
    "Unreachable",
    "WaitResult",
    "aio",
    "check",
    "connect",
    "explain",
    "find_address",
    "install",
    "installed",
    "scan",
    "uninstall",
    "wait",
    "why",
]
