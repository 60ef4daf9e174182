#!/usr/bin/env bash
# A full 65,535-port connect sweep of 127.0.0.1, side by side in one run:
#   refused scan, nmap -sT (no ping, no DNS), RustScan (without its nmap step), and a raw
#   blocking connect loop on one thread per core (the kernel's limit).
# Checks that every tool found the same open ports, then prints median times, ratios to the raw
# loop, and the peak memory of one sweep each. Packets go to 127.0.0.1 only.
#
#   scripts/bench-scan.sh [RUNS]      (default 10; needs hyperfine, nmap, python3; installs
#                                      RustScan with `cargo install rustscan` when missing)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10}
for tool in hyperfine nmap python3; do
  command -v "$tool" >/dev/null || { echo "$tool is needed (apt-get install $tool)" >&2; exit 2; }
done
if ! command -v rustscan >/dev/null; then
  echo "installing RustScan (cargo install rustscan --locked)..." >&2
  cargo install rustscan --locked --quiet
fi
cargo build --release --quiet -p refused-cli -p refused-lab --bin refused --bin raw-connect-loop
refused=target/release/refused
raw=target/release/raw-connect-loop
work=$(mktemp -d)

# A few listeners, so there is something to find: low, high and ephemeral-range ports.
python3 - "$work/ports" <<'PY' &
import socket, sys, time
held = []
for port in (0, 0, 0):
    s = socket.socket(); s.bind(("127.0.0.1", port)); s.listen(128); held.append(s)
for port in (8765, 18080):
    try:
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port)); s.listen(128); held.append(s)
    except OSError:
        pass
open(sys.argv[1], "w").write(" ".join(str(s.getsockname()[1]) for s in held))
time.sleep(3600)
PY
listeners=$!
trap 'kill $listeners 2>/dev/null; rm -rf "$work"' EXIT
sleep 0.5

declare -A commands=(
  [refused]="$refused scan 127.0.0.1 --json"
  [nmap]="nmap -sT -p- -n -Pn -oG - 127.0.0.1"
  [rustscan]="rustscan -a 127.0.0.1 -r 1-65535 -g --ulimit 10000"
  [raw]="$raw 127.0.0.1"
)
order=(raw refused nmap rustscan)

echo "== open ports found (one run each)"
for tool in "${order[@]}"; do
  ${commands[$tool]} > "$work/$tool.out" 2>/dev/null || true
done
python3 - "$work" "${order[@]}" <<'PY'
import json, re, sys
work, tools = sys.argv[1], sys.argv[2:]
def ports(tool):
    text = open(f"{work}/{tool}.out").read()
    if tool == "refused":
        return sorted(p["port"] for p in json.loads(text)["hosts"][0]["open"])
    if tool == "nmap":
        return sorted(int(m) for m in re.findall(r"(\d+)/open/tcp", text))
    if tool == "rustscan":
        m = re.search(r"\[([\d,\s]*)\]", text)
        return sorted(int(p) for p in m.group(1).split(",") if p.strip()) if m else []
    return sorted(int(line) for line in text.split())
found = {tool: ports(tool) for tool in tools}
reference = found["raw"]
for tool, got in found.items():
    extra, missed = sorted(set(got) - set(reference)), sorted(set(reference) - set(got))
    verdict = "same as the raw loop" if not extra and not missed else f"extra {extra} missed {missed}"
    print(f"  {tool:9} {len(got)} open: {verdict}")
PY

echo "== full sweep of 127.0.0.1, $runs runs each"
args=()
for tool in "${order[@]}"; do args+=(-n "$tool" "${commands[$tool]}"); done
hyperfine -N --runs "$runs" --warmup 1 --ignore-failure --style none \
  --export-json "$work/times.json" "${args[@]}" >/dev/null
python3 - "$work/times.json" <<'PY'
import json, sys
results = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
raw = results["raw"]["median"]
print(f"  {'tool':9} {'median':>9} {'min':>9} {'max':>9}  vs raw loop")
for name in ("raw", "refused", "nmap", "rustscan"):
    r = results[name]
    print(f"  {name:9} {r['median']*1e3:7.0f}ms {r['min']*1e3:7.0f}ms {r['max']*1e3:7.0f}ms  {r['median']/raw:5.2f}x")
PY

echo "== peak resident memory of one sweep"
for tool in "${order[@]}"; do
  /usr/bin/time -f "%M" -o "$work/mem" ${commands[$tool]} >/dev/null 2>&1 || true
  awk -v tool="$tool" '{ printf "  %-9s %6.1f MB\n", tool, $1 / 1024 }' "$work/mem"
done
