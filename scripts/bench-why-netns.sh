#!/usr/bin/env bash
# Times `refused why` on a host shaped like a busy container host: 50 other network namespaces
# (25 named under /run/netns, like `ip netns add`, 10 of them with a process that listens and 15
# with no process; 25 unnamed with a process in each, like containers, 10 of them listening) and
# 10,000 open loopback connections. The target is a local port nothing listens on anywhere, the
# worst case: every namespace is searched.
# Prints hyperfine's table and the median. DESIGN.md's target: under 50 ms.
#
#   sudo scripts/bench-why-netns.sh [RUNS]     # root: it makes namespaces; builds the release binary
#   sudo REFUSED_BIN=/path/to/refused scripts/bench-why-netns.sh   # time that binary instead
#
# Also times the parts: `nft -j list ruleset` (the firewall collector's subprocess), and `why` run
# as `nobody` (no setns: every namespace read through /proc/PID/net/tcp).
# Everything it makes it removes on exit, failure or Ctrl-C included. Packets stay on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-30}
[ "$(id -u)" = 0 ] || { echo "run as root: the benchmark makes network namespaces" >&2; exit 2; }
for tool in hyperfine ip unshare python3 nft setpriv; do
  command -v "$tool" >/dev/null || { echo "$tool is needed" >&2; exit 2; }
done

NAMESPACES=50
CONNECTIONS=10000
# Ports of this script only (the target must have no listener in any namespace of the host).
SINK_PORT=43001
TARGET_PORT=43999
LISTEN_BASE=43100
prefix="rfbench$$n"
work=$(mktemp -d /tmp/refused-bench-why-netns.XXXXXX)
pids=()
named=()

cleanup() {
  set +e
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  for name in "${named[@]}"; do ip netns del "$name" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# REFUSED_BIN: time another build (an older one, to compare) instead of building this one.
if [ -z "${REFUSED_BIN:-}" ]; then
  cargo build --release --quiet -p refused-cli
fi
bin=${REFUSED_BIN:-${CARGO_TARGET_DIR:-target}/release/refused}

# A listener that blocks forever once it listens (the socket is made before it reports ready).
cat >"$work/listen.py" <<'EOF'
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(16)
open(sys.argv[2], "w").close()
time.sleep(1e9)
EOF
# 10,000 loopback connections: the server side in one process, the client side in another, so
# neither passes the open-file limit (20,000 on our machines). The clients bind source addresses
# 127.0.0.2-127.0.0.16 and ports 43200-43899, not ephemeral ports: other programs that bind a
# fixed port meanwhile must not find it taken.
cat >"$work/connections.py" <<'EOF'
import ctypes, itertools, os, resource, signal, socket, sys, time
port, count, ready = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
server = socket.socket(); server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", port)); server.listen(4096)
sources = itertools.product((f"127.0.0.{i}" for i in range(2, 17)), range(43200, 43900))
child = os.fork()
if child == 0:
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: end with the parent
    server.close()
    clients = []
    for source in itertools.islice(sources, count):
        # SO_REUSEADDR: this script's former connections may be in TIME_WAIT on these ports.
        client = socket.socket(); client.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        client.bind(source)
        client.connect(("127.0.0.1", port)); clients.append(client)
    time.sleep(1e9)
server.settimeout(1)
accepted = []
while len(accepted) < count:
    try:
        accepted.append(server.accept()[0])
    except socket.timeout:
        if os.waitpid(child, os.WNOHANG) != (0, 0):
            sys.exit("the client side failed")
server.close()  # only the connections remain: no listener on the sink port
open(ready, "w").close()
os.waitpid(child, 0)
EOF

# wait_for FILE PID: until PID made FILE; fails if PID ended first.
wait_for() {
  for _ in $(seq 2000); do
    [ -e "$1" ] && return 0
    kill -0 "$2" 2>/dev/null || { echo "process $2 ended before making $1" >&2; exit 3; }
    sleep 0.01
  done
  echo "timed out waiting for $1" >&2; exit 3
}

echo "setting up: $NAMESPACES namespaces, $CONNECTIONS loopback connections" >&2
for i in $(seq 1 "$NAMESPACES"); do
  port=$((LISTEN_BASE + i))
  listens=$(( i % 5 < 2 ))  # 20 of the 50
  if [ $((i % 2)) = 0 ]; then
    # Named, like `ip netns add`: a process that listens, or no process at all.
    name="$prefix$i"
    ip netns add "$name"
    named+=("$name")
    ip netns exec "$name" ip link set lo up
    if [ "$listens" = 1 ]; then
      ip netns exec "$name" python3 "$work/listen.py" "$port" "$work/ready$i" &
      pids+=($!)
      wait_for "$work/ready$i" $!
    fi
  elif [ "$listens" = 1 ]; then
    # Unnamed, with a process in it, like a container.
    unshare --net python3 "$work/listen.py" "$port" "$work/ready$i" &
    pids+=($!)
    wait_for "$work/ready$i" $!
  else
    unshare --net sleep infinity &
    pids+=($!)
  fi
done
python3 "$work/connections.py" "$SINK_PORT" "$CONNECTIONS" "$work/connected" &
pids+=($!)
wait_for "$work/connected" $!
sleep 0.5  # let every unshare finish entering its namespace

echo "namespaces: $(find /proc/[0-9]*/ns/net -maxdepth 0 -printf '%l\n' 2>/dev/null | sort -u | wc -l) with a process, $(ip netns list | wc -l) named; TCP sockets on the host: $(wc -l </proc/net/tcp)" >&2
cause=$("$bin" why --json "127.0.0.1:$TARGET_PORT" | python3 -c 'import json, sys; print(json.load(sys.stdin)["cause"])' || true)
[ "$cause" = no-listener ] || { echo "why 127.0.0.1:$TARGET_PORT says \`$cause\`, not no-listener: is the port taken?" >&2; exit 3; }
# The namespaces are searched: the listeners in an unnamed and in a named one are found.
for port in $((LISTEN_BASE + 1)) $((LISTEN_BASE + 10)); do
  cause=$("$bin" why --json "127.0.0.1:$port" | python3 -c 'import json, sys; print(json.load(sys.stdin)["cause"])' || true)
  [ "$cause" = listener-in-other-namespace ] || { echo "why 127.0.0.1:$port says \`$cause\`, not listener-in-other-namespace" >&2; exit 3; }
done

# In the background, waited for: a signal then ends the script (and the trap kills hyperfine) at
# once, where bash would run the trap only after a foreground command ends.
hyperfine -N --warmup 5 --runs "$runs" --ignore-failure \
  --export-json "$work/why.json" --export-markdown "$work/why.md" \
  -n "why 127.0.0.1:$TARGET_PORT (root)" "$bin why 127.0.0.1:$TARGET_PORT" \
  -n "why 127.0.0.1:$TARGET_PORT (nobody)" "setpriv --reuid=nobody --regid=nogroup --clear-groups $bin why 127.0.0.1:$TARGET_PORT" \
  -n "nft -j list ruleset" "nft -j list ruleset" &
pids+=($!)
wait $!
cat "$work/why.md"
python3 - "$work/why.json" <<'EOF'
import json, sys
for result in json.load(open(sys.argv[1]))["results"]:
    print(f"median {result['median'] * 1000:7.1f} ms  {result['command']}")
EOF
