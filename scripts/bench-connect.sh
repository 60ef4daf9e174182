#!/usr/bin/env bash
# refused's connects against `std::net::TcpStream::connect` on the success path, interleaved in
# one run: `refused::blocking::connect` and `blocking::dial_addrs` (goal: within 5% of std),
# `refused::connect` and `Dialer::dial_addrs` (goal: within 10%). Rounds of 50 connects
# per contender, in an order shuffled each round; ROUNDS rounds make a repeat, and each line
# reads: the median connect, then the median over the REPEATS of each repeat's median ratio to
# std, with the lowest and highest of them. Rows marked `(ref)` are floors and peers, not
# refused (see crates/refused/benches/connect_ratio.rs). Packets go to 127.0.0.1 only.
#
#   scripts/bench-connect.sh [ROUNDS [REPEATS]]   (default 200 rounds, 5 repeats)
#
# The release build of the bench is made first. For syscall counts, one contender alone
# (`--only` with no key lists the keys):
#   cargo bench -p refused --bench connect_ratio --no-run   # prints the executable's path
#   strace -f -c BENCH --bench --only blocking 1000
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-200}
repeats=${2:-5}
echo "$(nproc) cores, Linux $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg) before the run"
cargo bench --quiet -p refused --bench connect_ratio -- "$rounds" "$repeats"
