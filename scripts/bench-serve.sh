#!/usr/bin/env bash
# `refused serve` against Debian's prometheus-blackbox-exporter, side by side in one run: probes
# per second and the p50/p99 latency of a `tcp_connect` probe of a loopback listener (wrk, the
# same load for both, interleaved), peak RSS; then a load check on `refused serve`: every probe
# answered, descriptors back to their baseline. Packets go to 127.0.0.1 only.
#
#   scripts/bench-serve.sh [SECONDS] [CONNECTIONS]     # default 10 s, 32 connections
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
connections=${2:-32}
for tool in wrk prometheus-blackbox-exporter; do
  command -v $tool >/dev/null || { echo "$tool is needed: apt-get install $tool" >&2; exit 2; }
done
cargo build --release --quiet -p refused-cli -p refused-lab --bin refused --bin hold-listener
bin=${CARGO_TARGET_DIR:-target}/release
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

"$bin/hold-listener" > "$work/hold.port" & pids+=($!)
cp crates/refused/src/serve/testdata/blackbox-debian.yml "$work/blackbox.yml"
ours=$(free_port); theirs=$(free_port)
"$bin/refused" serve --listen "127.0.0.1:$ours" --config "$work/blackbox.yml" 2>/dev/null & ours_pid=$!; pids+=($ours_pid)
prometheus-blackbox-exporter --config.file="$work/blackbox.yml" --web.listen-address="127.0.0.1:$theirs" \
  >/dev/null 2>&1 & theirs_pid=$!; pids+=($theirs_pid)
sleep 1
target=127.0.0.1:$(cat "$work/hold.port")
path="/probe?module=tcp_connect&target=$target"
curl -sf "127.0.0.1:$ours$path" | grep -q '^probe_success 1' || { echo "refused serve: probe failed" >&2; exit 1; }
curl -sf "127.0.0.1:$theirs$path" | grep -q '^probe_success 1' || { echo "blackbox: probe failed" >&2; exit 1; }

fds() { ls "/proc/$1/fd" | wc -l; }
rss() { awk '/^VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
hwm() { awk '/^VmHWM/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
fds_before=$(fds $ours_pid); rss_before=$(rss $ours_pid)

# wrk's summary: requests/s, p50 and p99 (in its units), total requests, non-2xx.
run() { # NAME PORT
  wrk -t1 -c"$connections" -d"${seconds}s" --latency "http://127.0.0.1:$2$path" > "$work/$1.out"
  local rps p50 p99 total bad
  rps=$(awk '/^Requests\/sec/ {print $2}' "$work/$1.out")
  p50=$(awk '$1=="50%" {print $2}' "$work/$1.out")
  p99=$(awk '$1=="99%" {print $2}' "$work/$1.out")
  total=$(awk '/requests in/ {print $1}' "$work/$1.out")
  bad=$(awk '/Non-2xx/ {print $NF}' "$work/$1.out"); bad=${bad:-0}
  echo "$1 $rps $p50 $p99 $total $bad"
}
results=()
for round in 1 2; do
  results+=("$(run "refused-serve" "$ours")")
  results+=("$(run "blackbox_exporter-0.23" "$theirs")")
done

echo
echo "| exporter (tcp_connect, $connections connections, ${seconds} s x 2) | probes/s | p50 | p99 | peak RSS |"
echo "|---|---|---|---|---|"
for name in refused-serve blackbox_exporter-0.23; do
  pid=$ours_pid; [ "$name" = refused-serve ] || pid=$theirs_pid
  printf '%s\n' "${results[@]}" | awk -v n="$name" -v m="$(hwm $pid)" '
    $1==n { rps+=$2; k++; p50=p50 " " $3; p99=p99 " " $4 }
    END { printf "| %s | %.0f |%s |%s | %s MB |\n", n, rps/k, p50, p99, m }'
done

# Load check: every request wrk sent to refused serve was a probe that answered 200, and the
# exporter's counter agrees; its descriptors come back to where they were.
sent=$(printf '%s\n' "${results[@]}" | awk '$1=="refused-serve" {s+=$5; b+=$6} END {print s, b}')
counted=$(curl -s "127.0.0.1:$ours/metrics" | awk -F' ' '/^refused_serve_probes_total\{module="tcp_connect",result="success"\}/ {print $2}')
sleep 1
echo
echo "refused serve: $((${sent% *})) requests sent by wrk (non-2xx: ${sent#* }), $counted successful probes counted (1 more: the check above)"
echo "refused serve: descriptors $fds_before before, $(fds $ours_pid) after; RSS $rss_before MB before, $(rss $ours_pid) MB after, $(hwm $ours_pid) MB peak"
