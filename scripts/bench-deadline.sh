#!/usr/bin/env bash
# How far past `--timeout` `refused why`, `check` and `wait` end (DESIGN.md: within 100 ms),
# against a resolver that never answers, a dropped port and a full accept queue, in a lab of
# network namespaces (root; iproute2, nftables). Prints the median and maximum overshoot.
# Packets stay inside the lab's namespaces.
#
#   sudo scripts/bench-deadline.sh [RUNS] [TIMEOUT_MS]     (default 10 runs, 1000 ms)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "the lab needs root" >&2; exit 2; }
cargo build --release --quiet -p refused-cli -p refused-lab --bin refused --bin deadline-overshoot
target=${CARGO_TARGET_DIR:-target}/release
"$target/deadline-overshoot" "$target/refused" "${1:-10}" "${2:-1000}"
