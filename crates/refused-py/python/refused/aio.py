"""The ``asyncio`` twins of ``refused``'s calls: awaitables that never block the event loop
(the work runs on the library's own tokio runtime; cancelling the task cancels it).

The runtime's threads never touch Python: each call's work signals an eventfd the event loop
watches, and the result is made into Python objects here, in the loop's thread."""

from __future__ import annotations

import asyncio
import socket
from typing import Optional, Sequence, Tuple, Union

from refused import _refused
from refused._refused import Diagnosis, ProbeReport, ScanReport, WaitResult

__all__ = ["connect", "open_connection", "why", "check", "wait", "scan"]


async def _done(pending: "_refused.Pending"):
    """The result of work started on the runtime, once its eventfd says it is in. Cancelled,
    the work is dropped (its connects closed)."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    fd = pending.fileno()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        loop.remove_reader(fd)
        pending.cancel()
    return pending.take()


async def connect(
    target: str,
    port: Optional[int] = None,
    *,
    timeout: float = 3.0,
    retries: int = 0,
    backoff: float = 0.1,
    backoff_max: float = 5.0,
) -> socket.socket:
    """Connect as ``refused.connect`` does; the socket is non-blocking, for asyncio."""
    return await _done(_refused.aio_connect(
        target, port, timeout=timeout, retries=retries, backoff=backoff, backoff_max=backoff_max
    ))


async def open_connection(
    target: str,
    port: Optional[int] = None,
    *,
    timeout: float = 3.0,
    retries: int = 0,
    **kwargs,
) -> Tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """``asyncio.open_connection`` through ``refused``: the connect's failures raise
    ``refused.ConnectionRefused`` and the others; ``kwargs`` go to ``asyncio.open_connection``."""
    sock = await connect(target, port, timeout=timeout, retries=retries)
    return await asyncio.open_connection(sock=sock, **kwargs)


async def why(
    target: str, *, timeout: float = 3.0, proxy: Union[None, bool, str] = None
) -> Diagnosis:
    """Diagnose ``target`` as ``refused.why`` does."""
    return await _done(_refused.aio_why(target, timeout=timeout, proxy=proxy))


async def check(*targets: str, timeout: float = 3.0) -> list[ProbeReport]:
    """Probe each target once, as ``refused.check`` does."""
    return await _done(_refused.aio_check(*targets, timeout=timeout))


async def wait(
    *targets: str,
    timeout: Optional[float] = 30.0,
    any: bool = False,
    down: bool = False,
    interval: float = 0.025,
    bpf: bool = True,
) -> WaitResult:
    """Wait for the targets as ``refused.wait`` does."""
    return await _done(_refused.aio_wait(
        *targets, timeout=timeout, any=any, down=down, interval=interval, bpf=bpf
    ))


async def scan(
    host: str,
    ports: Union[str, int, Sequence[int]] = "1-1024",
    *,
    timeout: float = 1.0,
    concurrency: Optional[int] = None,
) -> ScanReport:
    """Scan as ``refused.scan`` does."""
    return await _done(_refused.aio_scan(host, ports, timeout=timeout, concurrency=concurrency))
