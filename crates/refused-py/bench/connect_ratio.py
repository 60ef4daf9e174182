"""How refused.connect compares with socket.create_connection on the success path.

Connects to a loopback listener (served by a separate process, so accepting costs this one
nothing) many times with each, interleaved, and prints the ratio of the best timings; then the
same for socket.create_connection with refused.install() in effect against without. Timings are
of this process's CPU time (user and system): on a shared machine, wall time mostly measures the
other processes. Run it with the installed package (a release build: `maturin build --release`):

    python crates/refused-py/bench/connect_ratio.py [--number 2000] [--repeat 15]

Both sides close with SO_LINGER 0 (a reset, no TIME_WAIT), so a long run does not run out of
ephemeral ports; the cost is the same on both sides.
"""

from __future__ import annotations

import argparse
import socket
import struct
import subprocess
import sys
import time
import timeit

import refused

SERVER = r"""
import socket, sys
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(4096)
print(server.getsockname()[1], flush=True)
while True:
    conn, _ = server.accept()
    conn.close()
"""

LINGER_0 = struct.pack("ii", 1, 0)


def close(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_0)
    sock.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=2000, help="connects per timing")
    parser.add_argument("--repeat", type=int, default=15, help="timings per contender")
    args = parser.parse_args()

    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())
        address = ("127.0.0.1", port)

        def stdlib() -> None:
            close(socket.create_connection(address))

        def ours() -> None:
            close(refused.connect("127.0.0.1", port))

        contenders = {"socket.create_connection": stdlib, "refused.connect": ours}
        per_connect = measure(contenders, args.number, args.repeat)
        base, mine = per_connect["socket.create_connection"], per_connect["refused.connect"]
        for name, seconds in per_connect.items():
            print(f"{name:<28} {seconds * 1e6:8.1f} µs CPU per connect (best of {args.repeat} x {args.number})")
        print(f"ratio refused.connect / socket.create_connection: {mine / base:.3f}")

        refused.install()
        try:
            installed = measure({"installed": stdlib}, args.number, args.repeat)["installed"]
        finally:
            refused.uninstall()
        plain = measure({"plain": stdlib}, args.number, args.repeat)["plain"]
        print(f"ratio socket.create_connection with install() / without: {installed / plain:.3f}")
    finally:
        server.kill()
        server.wait()


def measure(contenders: dict, number: int, repeat: int) -> dict:
    """Seconds per call of each contender: the fastest of the timings (timeit's advice: the
    slower ones measure the machine's other load, not the code), the timings interleaved so
    that a noisy moment falls on both."""
    timings: dict = {name: [] for name in contenders}
    for _ in range(repeat):
        for name, call in contenders.items():
            timings[name].append(timeit.timeit(call, timer=time.process_time, number=number) / number)
    return {name: min(values) for name, values in timings.items()}


if __name__ == "__main__":
    main()
