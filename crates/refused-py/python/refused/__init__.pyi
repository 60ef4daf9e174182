"""Type stubs of the `refused` package (the extension module's functions and classes)."""

import socket
from typing import Any, Optional, Sequence, Union

from refused import aio as aio
from refused._errors import (
    ConnectError as ConnectError,
    ConnectionRefused as ConnectionRefused,
    ConnectionReset as ConnectionReset,
    InvalidTarget as InvalidTarget,
    NameNotFound as NameNotFound,
    PermissionDenied as PermissionDenied,
    ResolverFailure as ResolverFailure,
    Timeout as Timeout,
    Unreachable as Unreachable,
)

__version__: str

class Attempt:
    """One connect attempt to one address."""

    @property
    def address(self) -> str: ...
    @property
    def outcome(self) -> str: ...
    @property
    def errno(self) -> Optional[int]: ...
    @property
    def started(self) -> float: ...
    @property
    def elapsed(self) -> float: ...
    @property
    def try_number(self) -> int: ...
    @property
    def icmp(self) -> Optional[Icmp]: ...
    def to_dict(self) -> dict[str, Any]: ...

class Icmp:
    """The ICMP error a router or the host sent back for a connect (read by `why` only)."""

    @property
    def type(self) -> int: ...
    @property
    def code(self) -> int: ...
    @property
    def from_(self) -> Optional[str]: ...
    @property
    def v6(self) -> bool: ...
    def to_dict(self) -> dict[str, Any]: ...

class Diagnosis:
    """Why a target does (not) connect: the cause, the evidence and the fix."""

    @property
    def target(self) -> str: ...
    @property
    def cause(self) -> str: ...
    @property
    def reachable(self) -> bool: ...
    @property
    def summary(self) -> str: ...
    @property
    def attempts(self) -> list[Attempt]: ...
    @property
    def evidence(self) -> list[dict[str, Any]]: ...
    @property
    def suggestions(self) -> list[str]: ...
    @property
    def warnings(self) -> list[str]: ...
    @property
    def unseen(self) -> list[dict[str, Any]]: ...
    @property
    def elapsed(self) -> float: ...
    def to_dict(self) -> dict[str, Any]: ...
    def to_json(self) -> str: ...

class ProbeReport:
    """One probe of one target; true when ready."""

    @property
    def target(self) -> str: ...
    @property
    def ready(self) -> bool: ...
    @property
    def state(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def summary(self) -> str: ...
    @property
    def readiness(self) -> str: ...
    @property
    def denied(self) -> bool: ...
    @property
    def attempts(self) -> list[Attempt]: ...
    @property
    def elapsed(self) -> float: ...
    def to_dict(self) -> dict[str, Any]: ...
    def __bool__(self) -> bool: ...

class WaitResult:
    """How a wait ended; true when its condition was met."""

    @property
    def satisfied(self) -> bool: ...
    @property
    def done(self) -> list[bool]: ...
    @property
    def reports(self) -> list[Optional[ProbeReport]]: ...
    @property
    def elapsed(self) -> float: ...
    def __bool__(self) -> bool: ...

class PortResult:
    """One port of one address."""

    @property
    def address(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def state(self) -> str: ...
    @property
    def reason(self) -> str: ...

class ScanReport:
    """What a scan found."""

    @property
    def ports(self) -> list[PortResult]: ...
    @property
    def open(self) -> list[PortResult]: ...
    @property
    def elapsed(self) -> float: ...
    def to_dict(self) -> dict[str, Any]: ...

def connect(
    target: str,
    port: Optional[int] = None,
    *,
    timeout: float = 3.0,
    retries: int = 0,
    backoff: float = 0.1,
    backoff_max: float = 5.0,
) -> socket.socket:
    """Connect to a TCP target; a failure raises a subclass of the built-in exception."""

def why(
    target: str, *, timeout: float = 3.0, proxy: Union[None, bool, str] = None
) -> Diagnosis:
    """Diagnose a target: the cause, the evidence and the fix. For ``http://`` and
    ``https://``, ``proxy`` is the proxy the client goes through: ``None``/``True`` the
    environment's, ``False`` none, or its URL."""

def check(*targets: str, timeout: float = 3.0) -> list[ProbeReport]:
    """Probe each target once (connect, then its scheme's readiness check)."""

def wait(
    *targets: str,
    timeout: Optional[float] = 30.0,
    any: bool = False,
    down: bool = False,
    interval: float = 0.025,
    bpf: bool = True,
) -> WaitResult:
    """Wait until the targets are ready (or down); ``bpf=False``: poll, never load the eBPF
    program that tells a root wait of new listeners."""

def scan(
    host: str,
    ports: Union[str, int, Sequence[int]] = "1-1024",
    *,
    timeout: float = 1.0,
    concurrency: Optional[int] = None,
) -> ScanReport:
    """Scan ports of a host: open, closed or filtered, with the reason."""

def explain(exc: BaseException, *, timeout: float = 3.0) -> Optional[Diagnosis]:
    """Diagnose the connection failure in an exception's chain (any library's)."""

def find_address(exc: BaseException) -> Optional[str]:
    """The target whose connect failed in an exception's chain, in the scheme the client
    spoke (``http://host:port/path``, ``postgres://host:port``, ``redis://host:port``)."""

def install(*, timeout: float = 1.0, asyncio_loops: bool = True) -> None:
    """Make every connection failure carry its address and a note with the cause and fix."""

def uninstall() -> None:
    """Undo install()."""

def installed() -> bool:
    """Whether install() is in effect."""

__all__: list[str]
