#!/usr/bin/env bash
# Filtered hosts, side by side in one run: `refused scan` at its default settings, `refused scan
# -t 100ms` (a fixed 100 ms timeout: the floor the adaptive one should come near), and
# `nmap -sT --min-rate 20000`, in two network namespaces joined by a veth pair:
#   one host  every port (1-65535) of 10.79.0.2 dropped by nft but 10 that listen;
#   64 hosts  ports 1-1024 of 10.79.0.100-163 (64 addresses on the server's veth), all dropped;
#             also with `--no-ping` (nothing answers at all, so nothing can shorten the timeout).
# Checks that every tool found exactly the ports that listen, then prints median times (min-max)
# and the ratios: refused default / refused -t 100ms (the goal: at most 1.5), nmap / refused.
# Only the server's TCP ports are filtered: it answers ping, as most hosts do, and both refused
# and nmap (no `-Pn`) ping each host first and take its round trip as their first estimate.
#
#   sudo scripts/bench-scan-filtered.sh [RUNS]   (default 5; root: it makes namespaces; needs
#                                                 nmap, nft, ip, python3; builds the release
#                                                 binary)
#   sudo REFUSED_BIN=/path/to/refused scripts/bench-scan-filtered.sh   # time that build instead
#
# Everything it makes it removes on exit, failure or Ctrl-C included. Packets go only between
# its two namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
[ "$(id -u)" = 0 ] || { echo "run as root: the benchmark makes network namespaces" >&2; exit 2; }
for tool in nmap nft ip python3; do
  command -v "$tool" >/dev/null || { echo "$tool is needed (apt-get install $tool)" >&2; exit 2; }
done

# No `x` after the `rf`: the lab's sweep of stale namespaces (`rf<pid>x<n>`) leaves these alone.
client="rfscan$$c"
server="rfscan$$s"
work=$(mktemp -d /tmp/refused-bench-scan-filtered.XXXXXX)
listener=
OPEN_PORTS="22 80 443 3306 5432 8080 20011 33333 50505 65000"

cleanup() {
  set +e
  [ -n "$listener" ] && kill "$listener" 2>/dev/null && wait "$listener" 2>/dev/null
  ip netns del "$client" 2>/dev/null
  ip netns del "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "${REFUSED_BIN:-}" ]; then
  cargo build --release --quiet -p refused-cli
fi
bin=$(realpath "${REFUSED_BIN:-${CARGO_TARGET_DIR:-target}/release/refused}")

ip netns add "$client"
ip netns add "$server"
ip -n "$client" link add eth0 type veth peer name eth0 netns "$server"
ip -n "$client" addr add 10.79.0.1/24 dev eth0
ip -n "$server" addr add 10.79.0.2/24 dev eth0
for i in $(seq 100 163); do ip -n "$server" addr add "10.79.0.$i/24" dev eth0; done
for ns in "$client" "$server"; do
  ip -n "$ns" link set lo up
  ip -n "$ns" link set eth0 up
done
open_set=$(echo "$OPEN_PORTS" | tr ' ' ',')
ip netns exec "$server" nft -f - <<EOF
table inet bench {
  chain input {
    type filter hook input priority 0;
    ip daddr 10.79.0.2 tcp dport != { $open_set } drop
    ip daddr 10.79.0.100-10.79.0.163 tcp dport 1-1024 drop
  }
}
EOF
ip netns exec "$server" python3 - "$work/ready" $OPEN_PORTS <<'PY' &
import socket, sys, time
held = []
for port in sys.argv[2:]:
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("10.79.0.2", int(port))); s.listen(1024); held.append(s)
open(sys.argv[1], "w").write("ready")
time.sleep(3600)
PY
listener=$!
for _ in $(seq 50); do [ -e "$work/ready" ] && break; sleep 0.1; done
[ -e "$work/ready" ] || { echo "the listeners did not start" >&2; exit 3; }
# The link is up when the client can reach the server (the first packets of a fresh veth may be lost).
for _ in $(seq 50); do ip netns exec "$client" ping -c1 -W1 10.79.0.2 >/dev/null 2>&1 && break; sleep 0.1; done

in_client="ip netns exec $client"
declare -A commands=(
  [one-default]="$in_client $bin scan 10.79.0.2 --json"
  [one-100ms]="$in_client $bin scan 10.79.0.2 -t 100ms --json"
  [one-nmap]="$in_client nmap -sT --min-rate 20000 -p- -n -oG - 10.79.0.2"
  [many-default]="$in_client $bin scan 10.79.0.100-163 -p 1-1024 --json"
  [many-100ms]="$in_client $bin scan 10.79.0.100-163 -p 1-1024 -t 100ms --json"
  [many-nmap]="$in_client nmap -sT --min-rate 20000 -p 1-1024 -n -oG - 10.79.0.100-163"
  [noping-default]="$in_client $bin scan 10.79.0.100-163 -p 1-1024 --no-ping --json"
)
order=(one-default one-100ms one-nmap many-default many-100ms many-nmap noping-default)

echo "== open ports found (one run each; expected: $OPEN_PORTS on 10.79.0.2, none on the 64 hosts)"
for name in "${order[@]}"; do
  ${commands[$name]} > "$work/$name.out" 2>/dev/null || true
done
python3 - "$work" "$OPEN_PORTS" "${order[@]}" <<'PY'
import json, re, sys
work, expected, names = sys.argv[1], sys.argv[2], sys.argv[3:]
expected = sorted(int(p) for p in expected.split())
def found(name):
    text = open(f"{work}/{name}.out").read()
    if name.endswith("nmap"):
        return sorted(int(m) for m in re.findall(r"(\d+)/open/tcp", text)), None
    doc = json.loads(text)
    filtered = sum(h["counts"]["filtered"] for h in doc["hosts"])
    return sorted(p["port"] for h in doc["hosts"] for p in h["open"]), filtered
ok = True
for name in names:
    want = expected if name.startswith("one") else []
    got, filtered = found(name)
    same = got == want
    ok &= same
    extra = f", {filtered} filtered" if filtered is not None else ""
    print(f"  {name:13} {len(got)} open{extra}: {'exact' if same else f'WRONG: {got}'}")
sys.exit(0 if ok else 1)
PY

echo "== $runs rounds, each running every command once (interleaved, the order rotating)"
for name in "${order[@]}"; do printf '%s\t%s\n' "$name" "${commands[$name]}"; done > "$work/commands"
python3 - "$work/commands" "$runs" <<'PY'
import statistics, subprocess, sys, time
commands = dict(line.rstrip("\n").split("\t", 1) for line in open(sys.argv[1]))
runs, names = int(sys.argv[2]), list(commands)
times = {name: [] for name in names}
for round in range(runs):
    shift = round % len(names)
    for name in names[shift:] + names[:shift]:
        start = time.perf_counter()
        subprocess.run(commands[name].split(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times[name].append(time.perf_counter() - start)
med = {name: statistics.median(t) for name, t in times.items()}
def cell(name):
    t = times[name]
    return f"{med[name]:.2f} s ({min(t):.2f}-{max(t):.2f})"
print(f"  {'case':36} {'refused':>19} {'refused -t 100ms':>19} {'nmap --min-rate 20000':>22} {'default/-t100ms':>16} {'nmap/default':>13}")
for case, fixed, peer, label in (
    ("one", "one", "one", "1 host x 65535 ports, 10 open"),
    ("many", "many", "many", "64 hosts x 1024 ports, all dropped"),
    ("noping", "many", None, "the same, refused --no-ping"),
):
    d, f = med[f"{case}-default"], med[f"{fixed}-100ms"]
    ratio = f"{med[peer + '-nmap'] / d:12.1f}x" if peer else f"{'-':>13}"
    nmap = cell(peer + "-nmap") if peer else "-"
    print(f"  {label:36} {cell(case + '-default'):>19} {cell(fixed + '-100ms'):>19} {nmap:>22} {d / f:15.2f}x {ratio}")
PY
