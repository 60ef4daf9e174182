#!/usr/bin/env bash
# refused's connects against `std::net::TcpStream::connect` on the success path, interleaved in
# one run: `refused::blocking::connect` and `blocking::dial_addrs` (goal: within 5% of std),
# `refused::connect` and `Dialer::dial_addrs` (goal: within 10%). Rounds of 50 connects
# per contender, in an order shuffled each round; ROUNDS rounds make a repeat, and each line
# reads: the median connect, then the median over the REPEATS of each repeat's median ratio to
# std, with the lowest and highest of them. Rows marked `(ref)` are floors and peers, not
# refused (see crates/refused/benches/connect_ratio.rs). Packets go to 127.0.0.1 only.
#
#   scripts/bench-connect.sh [ROUNDS [REPEATS]] [--ephemeral]   (default 200 rounds, 5 repeats)
#
# The listener's port is outside the ephemeral range, as a server's usually is; `--ephemeral`
# binds it to port 0 instead, a port inside it, where refused checks each connect for a socket
# the kernel connected to itself (one `getsockname` more).
#
# The release build of the bench is made first. For syscall counts, one contender alone
# (`--only` with no key lists the keys):
#   cargo bench -p refused --bench connect_ratio --no-run   # prints the executable's path
#   strace -f -c BENCH --bench --only blocking 1000
set -euo pipefail
cd "$(dirname "$0")/.."
flags=() numbers=()
for arg in "$@"; do
  case $arg in --*) flags+=("$arg") ;; *) numbers+=("$arg") ;; esac
done
rounds=${numbers[0]:-200}
repeats=${numbers[1]:-5}
echo "$(nproc) cores, Linux $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg) before the run"
cargo bench --quiet -p refused --bench connect_ratio -- "$rounds" "$repeats" "${flags[@]}"
