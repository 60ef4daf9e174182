#!/usr/bin/env bash
# Times `refused why` end to end (process start included) on local targets, with hyperfine.
# DESIGN.md's target: under 50 ms. Packets go to 127.0.0.1 only.
#
#   scripts/bench-why.sh            # builds the release binary first
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "hyperfine is needed: apt-get install hyperfine" >&2; exit 2; }
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-target}/release/refused

# A port that refuses (bound by nobody: picked, then released) and a listener that accepts and
# keeps each connection until its client closes it, as a server does (one that closes at once
# is a port proxy with nothing behind it to `why`: `not-ready`, not `reachable`).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
closed=$(free_port)
python3 -c '
import selectors, socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0)); s.listen(128); print(s.getsockname()[1], flush=True)
sel = selectors.DefaultSelector(); sel.register(s, selectors.EVENT_READ)
while True:
    for key, _ in sel.select():
        if key.fileobj is s:
            sel.register(s.accept()[0], selectors.EVENT_READ)
        elif not key.fileobj.recv(4096):
            sel.unregister(key.fileobj); key.fileobj.close()
' > /tmp/refused-bench-why.port &
server=$!
trap 'kill $server 2>/dev/null' EXIT
sleep 0.3
open=$(cat /tmp/refused-bench-why.port)

hyperfine -N --warmup 10 --ignore-failure --export-markdown /dev/stdout \
  -n "why (no listener)" "$bin why 127.0.0.1:$closed" \
  -n "why (reachable)" "$bin why 127.0.0.1:$open" \
  -n "check (no listener)" "$bin check 127.0.0.1:$closed"
