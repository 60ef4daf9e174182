"""The asyncio twins: the same answers, and the event loop keeps running meanwhile."""

import asyncio
import subprocess
import sys

import pytest

import refused
from support import full_queue, refused_port


def test_aio_why_check_wait_scan(listener):
    async def main():
        with refused_port(47773) as port:
            d = await refused.aio.why(f"127.0.0.1:{port}")
            reports = await refused.aio.check(listener.target, f"127.0.0.1:{port}")
            waited = await refused.aio.wait(f"127.0.0.1:{port}", timeout=0.2)
            scanned = await refused.aio.scan("127.0.0.1", [listener.port, port])
        return d, reports, waited, scanned

    d, reports, waited, scanned = asyncio.run(main())
    assert d.cause == "no-listener"
    assert [r.ready for r in reports] == [True, False]
    assert not waited and waited.reports[0].reason == "refused"
    assert [p.port for p in scanned.open] == [listener.port]


def test_aio_connect_raises_the_same_exceptions():
    async def main():
        with refused_port(47775) as port:
            with pytest.raises(ConnectionRefusedError) as caught:
                await refused.aio.connect("127.0.0.1", port)
        return caught.value, port

    e, port = asyncio.run(main())
    assert type(e) is refused.ConnectionRefused and e.address == ("127.0.0.1", port)


def test_aio_open_connection_streams(listener):
    async def main():
        reader, writer = await refused.aio.open_connection("127.0.0.1", listener.port)
        line = await reader.readline()
        writer.close()
        await writer.wait_closed()
        return line

    assert asyncio.run(main()) == b"hello\n"


def test_the_event_loop_runs_while_a_connect_waits():
    async def main(port):
        ticks = 0

        async def tick():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.005)
                ticks += 1

        ticker = asyncio.create_task(tick())
        with pytest.raises(TimeoutError):
            await refused.aio.connect("127.0.0.1", port, timeout=0.3)
        ticker.cancel()
        return ticks

    with full_queue(47777) as port:
        ticks = asyncio.run(main(port))
    # Blocked, the loop would not have ticked at all before the connect gave up.
    assert ticks >= 5, ticks


def test_cancelling_the_task_cancels_the_wait():
    async def main(port):
        task = asyncio.create_task(refused.aio.wait(f"127.0.0.1:{port}", timeout=None))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with refused_port(47779) as port:
        asyncio.run(main(port))


def test_a_program_that_awaits_a_call_then_exits_ends_cleanly_every_time():
    """The result reaches the event loop without a runtime thread taking the GIL. One that did
    (``call_soon_threadsafe`` from the runtime, as pyo3-async-runtimes does) crashed about one
    exit in twelve here: the interpreter finalized while that thread waited for the GIL. Sixty
    such programs, three at a time; and as many that exit while a call still runs (cancelled)."""
    with refused_port(47781) as port:
        done = (
            "import asyncio\n"
            "from refused import aio\n"
            f"print(asyncio.run(aio.why('127.0.0.1:{port}', timeout=1.0)).cause)\n"
        )
        cut = (
            "import asyncio\n"
            "from refused import aio\n"
            "try:\n"
            f"    asyncio.run(asyncio.wait_for(aio.wait('127.0.0.1:{port}', timeout=None), 0.05))\n"
            "except asyncio.TimeoutError:\n"
            "    print('cut')\n"
        )
        for code, expected in [(done, "no-listener\n"), (cut, "cut\n")]:
            for _ in range(20):
                runs = [
                    subprocess.Popen(
                        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
                    )
                    for _ in range(3)
                ]
                try:
                    for run in runs:
                        out, err = run.communicate(timeout=60)
                        assert (run.returncode, out) == (0, expected), err
                finally:
                    for run in runs:
                        run.kill()
                        run.wait()


def test_a_forked_child_gets_a_runtime_of_its_own():
    """``multiprocessing`` forks: the child has none of the parent's runtime threads, so it
    starts its own (the inherited one would never run anything)."""
    with refused_port(47783) as port:
        code = (
            "import asyncio, os, refused\n"
            "from refused import aio\n"
            f"target = '127.0.0.1:{port}'\n"
            "refused.why(target, timeout=1.0)\n"
            "pid = os.fork()\n"
            "if pid == 0:\n"
            "    print(refused.why(target, timeout=1.0).cause, asyncio.run(aio.why(target, timeout=1.0)).cause)\n"
            "    os._exit(0)\n"
            "print(os.waitpid(pid, 0)[1])\n"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "no-listener no-listener\n0\n"), done.stderr


def test_cancelling_a_scan_stops_its_threads(lab):
    """The scan runs on threads of its own: a cancelled ``aio.scan`` tells them to stop, and its
    sockets close at once instead of when a scan of every port, each dropped, would end. In a lab
    namespace whose loopback drops every TCP packet (nftables)."""
    lab.run("nft", "add table inet lab", check=True)
    lab.run("nft", "add chain inet lab input { type filter hook input priority 0 ; }", check=True)
    lab.run("nft", "add rule inet lab input tcp dport 1-65535 drop", check=True)
    code = (
        "import asyncio, os\n"
        "from refused import aio\n"
        "fds = lambda: len(os.listdir('/proc/self/fd'))\n"
        "async def main():\n"
        "    await aio.check('127.0.0.1:1', timeout=0.05)\n"  # the runtime started: its fds counted
        "    base = fds()\n"
        "    task = asyncio.ensure_future(aio.scan('127.0.0.1', '1-65535', timeout=2.0, concurrency=200))\n"
        "    await asyncio.sleep(0.5)\n"
        "    during = fds()\n"
        "    task.cancel()\n"
        "    try:\n"
        "        await task\n"
        "    except asyncio.CancelledError:\n"
        "        pass\n"
        "    for _ in range(60):\n"
        "        await asyncio.sleep(0.05)\n"
        "        if fds() <= base + 5:\n"
        "            break\n"
        "    print(during - base > 50, fds() <= base + 5)\n"
        "asyncio.run(main())\n"
    )
    done = lab.python(code)
    assert (done.returncode, done.stdout) == (0, "True True\n"), done.stderr
