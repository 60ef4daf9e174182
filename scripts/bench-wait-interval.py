#!/usr/bin/env python3
"""What `refused wait`'s polling costs at each `--interval`, beside a bare sleep at the same period.

A local port that stays closed: `refused wait` polls it at its cap (`--interval`), each poll one
wakeup of its polling thread and one netlink question (would a SYN to the port find a listener?).
For 25, 40 and 50 ms, the waiter and a C program that only sleeps that long at a time are each
measured from the kernel's own account of their threads' time on a CPU
(/proc/PID/task/*/schedstat), over 10 s of steady waiting after 2 s, in ROUNDS interleaved
rounds (shuffled), and printed as median (min-max) % of a core, wakeups a second and the cost of
one. The median notice of a port that starts listening is about half the interval (see
scripts/bench-wait.py for it measured).

    scripts/bench-wait-interval.py [ROUNDS]   (default 3; builds refused in release first)
    REFUSED_BIN=/path/to/refused scripts/bench-wait-interval.py [ROUNDS]
"""
import os, random, shutil, socket, statistics, subprocess, sys, tempfile, time

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
refused = os.environ.get("REFUSED_BIN")
if not refused:
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "refused-cli"], cwd=root, check=True)
    refused = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target")), "release", "refused")
cc = shutil.which("cc") or shutil.which("gcc")
if not cc:
    sys.exit("needs a C compiler (apt-get install build-essential) for the bare sleep")
intervals = [25, 40, 50]

SLEEPER = r"""
#include <stdlib.h>
#include <time.h>
int main(int argc, char **argv) {
    struct timespec pause = {0, atol(argv[1]) * 1000000L};
    for (;;) nanosleep(&pause, 0);
}
"""
directory = tempfile.mkdtemp(prefix="bench-wait-interval-")
sleeper = os.path.join(directory, "sleeper")
with open(sleeper + ".c", "w") as f:
    f.write(SLEEPER)
subprocess.run([cc, "-O2", "-o", sleeper, sleeper + ".c"], check=True)

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close(); return port

def on_cpu(pid):
    """ns on a CPU and switches in, summed over the threads of `pid`."""
    ns = switches = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                fields = f.read().split()
            ns += int(fields[0]); switches += int(fields[2])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return ns, switches

def account(command, settle=2.0, span=10.0):
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(settle)
    (ns0, sw0), t0 = on_cpu(process.pid), time.monotonic()
    time.sleep(span)
    (ns1, sw1), t1 = on_cpu(process.pid), time.monotonic()
    process.kill(); process.wait()
    return (ns1 - ns0) / (t1 - t0) / 1e7, (sw1 - sw0) / (t1 - t0)

cases = {}
for ms in intervals:
    cases[f"refused wait --interval {ms}ms"] = lambda ms=ms: [
        refused, "wait", f"127.0.0.1:{free_port()}", "--timeout", "60s", "--quiet", "--interval", f"{ms}ms"]
    cases[f"sleep {ms} ms at a time (C)"] = lambda ms=ms: [sleeper, str(ms)]
results = {name: [] for name in cases}
for _ in range(rounds):
    for name in random.sample(list(cases), len(cases)):
        results[name].append(account(cases[name]()))
shutil.rmtree(directory, ignore_errors=True)

print(f"the kernel's account (schedstat), 10 s of steady waiting, {rounds} rounds: median (min-max)")
for name, samples in results.items():
    cpu = [c for c, _ in samples]
    wakeups = statistics.median(w for _, w in samples)
    print(f"  {name:30} {statistics.median(cpu):.3f} % ({min(cpu):.3f}-{max(cpu):.3f}),"
          f" {wakeups:.0f} wakeups/s, {statistics.median(cpu) * 1e4 / wakeups:.0f} us each")
