#!/usr/bin/env python3
"""How fast does a waiter notice a port that starts listening, and what does waiting cost?

Side by side in one run: `refused wait`, Debian's `wait-for-it`, and an `nc -z` loop at 0.1 s.
Each run starts the waiter, waits 2-4 s (random), starts listening on 127.0.0.1 and accepting
(as a server does: `refused` counts a connection ready once the program took it), and measures
the delay from listen() to the waiter's exit, and the CPU the waiter used per second of waiting
(its start included). Then, apart from its start: each waiter on a port that stays closed for
about 1 s and 6 s (`refused` ended by SIGTERM, the others by their own bound, so that their
children are waited for and counted), the difference per second, median of STEADY; and two
floors, small C programs built here with `cc`: one that does nothing but sleep 25 ms at a time (40
wakeups a second), and one that also asks the kernel at each wakeup what a gated poll of
`refused wait` asks (whether a SYN to 127.0.0.1:PORT would find a listener). Last, the three
single processes (refused and the two floors) are measured again from the kernel's own account of
their threads' time on a CPU (/proc/PID/task/*/schedstat, in ns), between 2 s and 12 s of one
run: no start in it, and no difference of two runs, so a precise ratio to the floors.

    scripts/bench-wait.py [RUNS [STEADY]]   (default 10 and 9; builds refused in release first)
    REFUSED_BIN=/path/to/refused scripts/bench-wait.py [RUNS [STEADY]]   (another build, not built here)
"""
import atexit, os, random, resource, shutil, signal, socket, statistics, subprocess, sys, tempfile, threading, time

runs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
steady_runs = int(sys.argv[2]) if len(sys.argv) > 2 else 9
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
refused = os.environ.get("REFUSED_BIN")
if not refused:
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "refused-cli"], cwd=root, check=True)
    # Where cargo put it: CARGO_TARGET_DIR when set (a worktree sharing a target dir), else ./target.
    refused = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target")), "release", "refused")

# As root, `refused wait` has the kernel tell it of new listeners (an eBPF program); `--no-bpf`
# polls, as it does for every other user. Without root the two are the same: one is measured.
tools = {
    "refused wait": lambda p: [refused, "wait", f"127.0.0.1:{p}", "--timeout", "30s", "--quiet"],
    "refused wait --no-bpf": lambda p: [refused, "wait", f"127.0.0.1:{p}", "--timeout", "30s", "--quiet", "--no-bpf"],
    "wait-for-it": lambda p: ["wait-for-it", "-q", "-t", "30", f"127.0.0.1:{p}"],
    "nc -z loop (0.1 s)": lambda p: ["sh", "-c", f"until nc -z 127.0.0.1 {p}; do sleep 0.1; done"],
}
if os.geteuid() != 0:
    print("not root: `refused wait` polls (no eBPF program), so `--no-bpf` is left out")
    del tools["refused wait --no-bpf"]
for name, needs in [("wait-for-it", "wait-for-it"), ("nc -z loop (0.1 s)", "nc")]:
    if not shutil.which(needs):
        print(f"skipping {name}: `{needs}` is not installed (apt-get install {needs if needs != 'nc' else 'netcat-openbsd'})")
        del tools[name]

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close(); return port

def serve(listener):
    """Accepts and holds every connection until the listener closes."""
    held = []
    try:
        while True:
            held.append(listener.accept()[0])
    except OSError:
        pass

def one(command):
    port = free_port()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    waiter = subprocess.Popen(command(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = time.monotonic()
    time.sleep(random.uniform(2.0, 4.0))
    listener = socket.socket(); listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port)); listener.listen(128)
    listening = time.monotonic()
    threading.Thread(target=serve, args=(listener,), daemon=True).start()
    code = waiter.wait()
    done = time.monotonic()
    listener.close()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert code == 0, f"{command(port)} exited {code}"
    return (done - listening) * 1e3, cpu / (done - started) * 100

# The same waiters on a closed port for about `s` seconds: (command, seconds before SIGTERM or
# None when it ends by itself).
bounded = {
    "refused wait": lambda p, s: (tools["refused wait"](p), s),
    "refused wait --no-bpf": lambda p, s: (tools["refused wait --no-bpf"](p), s),
    "wait-for-it": lambda p, s: (["wait-for-it", "-q", "-t", str(int(s)), f"127.0.0.1:{p}"], None),
    "nc -z loop (0.1 s)": lambda p, s: (["sh", "-c", f"i=0; until nc -z 127.0.0.1 {p} || [ $i -ge {int(s * 10)} ]; "
                                               "do sleep 0.1; i=$((i+1)); done"], None),
}

# Two floors, in C so that no interpreter's work is counted: a loop that only sleeps 25 ms at a
# time (what 40 wakeups a second cost here), and one that also asks the kernel, at each wakeup, the
# question a gated poll of `refused wait` asks (an exact sock_diag lookup of 127.0.0.1:PORT on a
# netlink socket kept open): the cheapest program polling that way. Without a C compiler, the
# first floor is a Python sleep loop (which counts the interpreter's work too) and the second is
# left out.
FLOORS_C = r"""
#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
int main(int argc, char **argv) {
    int wakeups = atoi(argv[1]), port = argc > 2 ? atoi(argv[2]) : 0;
    struct timespec pause = {0, 25000000};
    struct { struct nlmsghdr header; struct inet_diag_req_v2 request; } ask;
    memset(&ask, 0, sizeof ask);
    ask.header.nlmsg_len = sizeof ask;
    ask.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    ask.header.nlmsg_flags = NLM_F_REQUEST;
    ask.request.sdiag_family = AF_INET;
    ask.request.sdiag_protocol = IPPROTO_TCP;
    ask.request.idiag_states = ~0U;
    ask.request.id.idiag_dport = htons(port);
    inet_pton(AF_INET, "127.0.0.1", ask.request.id.idiag_src);
    inet_pton(AF_INET, "127.0.0.1", ask.request.id.idiag_dst);
    ask.request.id.idiag_if = 1;
    ask.request.id.idiag_cookie[0] = ask.request.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
    int diag = port ? socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG) : -1;
    char answer[4096];
    for (int i = 0; i < wakeups; i++) {
        nanosleep(&pause, 0);
        if (diag >= 0 && (send(diag, &ask, sizeof ask, 0) < 0 || recv(diag, answer, sizeof answer, 0) < 0))
            return 1;
    }
    return 0;
}
"""
def build_floors():
    """The C floors' program, or None without a C compiler."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        return None
    directory = tempfile.mkdtemp(prefix="bench-wait-")
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    source, program = os.path.join(directory, "floors.c"), os.path.join(directory, "floors")
    with open(source, "w") as f:
        f.write(FLOORS_C)
    subprocess.run([cc, "-O2", "-o", program, source], check=True)
    return program

floors = build_floors()
if floors:
    bounded["floor"] = lambda p, s: ([floors, str(int(s * 40))], None)
    bounded["same polls in C"] = lambda p, s: ([floors, str(int(s * 40)), str(p)], None)
else:
    print("no C compiler: the floor is a Python sleep loop, and the same polls in C are left out")
    bounded["floor"] = lambda p, s: ([sys.executable, "-c", f"import time\nfor _ in range({int(s * 40)}): time.sleep(0.025)"], None)

def cpu_over(name, seconds):
    """CPU and time of a waiter on a closed port for about `seconds`."""
    command, kill_after = bounded[name](free_port(), seconds)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    waiter = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if kill_after is not None:
        time.sleep(kill_after)
        waiter.send_signal(signal.SIGTERM)
    waiter.wait()
    elapsed = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), elapsed

def per_second(name):
    (short, short_time), (long, long_time) = cpu_over(name, 1.0), cpu_over(name, 6.0)
    return (long - short) / (long_time - short_time) * 100

results = {name: [] for name in tools}
for _ in range(runs):                     # interleaved, so a noisy moment hits every tool alike
    for name, command in tools.items():
        results[name].append(one(command))
steady = {name: [] for name in [*tools, *(n for n in bounded if n not in tools)]}
for _ in range(steady_runs):              # shuffled each time: no waiter always follows another
    for name in random.sample(list(steady), len(steady)):
        steady[name].append(per_second(name))

def on_cpu_ns(pid):
    """Time on a CPU of every thread of `pid`, in ns, and how many times they were switched in."""
    ns = switches = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                fields = f.read().split()
            ns += int(fields[0])
            switches += int(fields[2])
        except (FileNotFoundError, ProcessLookupError):
            pass                              # a thread that just ended
    return ns, switches

def kernel_account(name, settle=2.0, span=10.0):
    """% of a core and wakeups a second of a single-process waiter, from `settle` to `settle + span`."""
    command, _ = bounded[name](free_port(), settle + span + 5)
    waiter = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(settle)
    (ns0, sw0), t0 = on_cpu_ns(waiter.pid), time.monotonic()
    time.sleep(span)
    (ns1, sw1), t1 = on_cpu_ns(waiter.pid), time.monotonic()
    waiter.kill(); waiter.wait()
    return (ns1 - ns0) / (t1 - t0) / 1e7, (sw1 - sw0) / (t1 - t0)

accounted = [n for n in ("refused wait", "refused wait --no-bpf", "floor", "same polls in C") if n in bounded and (n in tools or not n.startswith("refused"))]
kernel = {name: [] for name in accounted}
if floors:
    for _ in range(3):
        for name in random.sample(accounted, len(accounted)):
            kernel[name].append(kernel_account(name))

print(f"{runs} runs each; delay = from listen() to the waiter's exit")
print(f"{'waiter':22} {'median delay':>13} {'max delay':>10} {'CPU while waiting':>18} {'apart from start':>17}")
base = statistics.median(d for d, _ in results["refused wait"])
for name, samples in results.items():
    delays = [d for d, _ in samples]
    cpu = statistics.median(c for _, c in samples)
    print(f"{name:22} {statistics.median(delays):10.1f} ms {max(delays):7.1f} ms {cpu:14.2f} % of a core"
          f" {statistics.median(steady[name]):10.2f} %   ({statistics.median(delays) / base:.0f}x)")
floor = statistics.median(steady["floor"])
print(f"floor: a process that only sleeps 25 ms at a time costs {floor:.2f} % of a core"
      " (40 wakeups a second, apart from its start)")
if "same polls in C" in steady:
    print(f"same polls in C: that loop asking the kernel refused's question at each wakeup costs"
          f" {statistics.median(steady['same polls in C']):.2f} %")
print(f"apart from start, {steady_runs} runs of each, in a shuffled order: median (min-max)")
for name, samples in steady.items():
    print(f"  {name:22} {statistics.median(samples):.3f} % ({min(samples):.3f}-{max(samples):.3f})")
if floors:
    print("the kernel's account (schedstat), 10 s of steady waiting, 3 runs each: median (min-max)")
    for name, samples in kernel.items():
        cpu = [c for c, _ in samples]
        wakeups = statistics.median(w for _, w in samples)
        print(f"  {name:22} {statistics.median(cpu):.3f} % ({min(cpu):.3f}-{max(cpu):.3f}),"
              f" {wakeups:.0f} wakeups/s, {statistics.median(cpu) * 1e4 / wakeups:.0f} us each")
