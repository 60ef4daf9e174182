#!/usr/bin/env bash
# Times `refused why` on a host whose iptables ruleset is as big as a Kubernetes node's with
# kube-proxy in iptables mode (iptables-nft): RULES rules (default 20000) in kube-proxy's shape,
# loaded with the real iptables-nft-restore into a network namespace of the lab:
#   filter: OUTPUT/FORWARD -> KUBE-SERVICES (-m conntrack --ctstate NEW), one REJECT a service
#           without endpoints ("has no endpoints");
#   nat:    PREROUTING/OUTPUT -> KUBE-SERVICES -> KUBE-SVC-* (cluster IP and port) -> KUBE-SEP-*
#           (`-m statistic --mode random --probability` for all but the last endpoint) -> DNAT
#           to the endpoint, KUBE-MARK-MASQ, KUBE-POSTROUTING's masquerade, KUBE-NODEPORTS last.
# Every tenth service has no endpoints. The targets, asked from inside that namespace:
#   closed     127.0.0.1:46301, nothing listens (every rule is read for nothing: the worst case)
#   reject     10.96.0.2:80, a service with no endpoints: the KUBE-SERVICES REJECT
#   dnat       10.96.0.3:80, a service whose one endpoint is 10.244.1.2:46302 in another
#              namespace of the lab where nothing listens
#   nodeport   10.244.1.1:30080, the node's own address: the same service's NodePort
# For each: the wall time (hyperfine if installed, else a loop of RUNS), the maximum RSS of the
# process tree (`/usr/bin/time -f %M`: the largest of refused and the nft or iptables-save it
# runs), and the cause with the default `--timeout` (3 s) and with `--timeout 20s`.
#
#   sudo scripts/bench-big-ruleset.sh [RULES] [RUNS]      # builds the release binary
#   sudo REFUSED_BIN=/path/to/refused scripts/bench-big-ruleset.sh 20000   # time that binary
#
# Also times nft's and iptables-save's own listings of the same rules. Its namespaces are named
# bg6node<pid> and bg6ep<pid> and removed on exit, failure or Ctrl-C included (KEEP=1 keeps them,
# to look further; `ip netns del` them after). Every packet stays inside them.
set -euo pipefail
cd "$(dirname "$0")/.."
rules=${1:-20000}
runs=${2:-5}
[ "$(id -u)" = 0 ] || { echo "run as root: the benchmark makes network namespaces" >&2; exit 2; }
for tool in ip iptables-nft-restore iptables-nft-save nft python3; do
  command -v "$tool" >/dev/null || { echo "$tool is needed" >&2; exit 2; }
done
[ -x /usr/bin/time ] || { echo "/usr/bin/time (GNU time) is needed" >&2; exit 2; }

node="bg6node$$"
ep="bg6ep$$"
work=$(mktemp -d /tmp/refused-bench-big-ruleset.XXXXXX)
cleanup() {
  [ -n "${KEEP:-}" ] && { echo "kept $node $ep"; return; }
  set +e
  ip netns del "$node" 2>/dev/null
  ip netns del "$ep" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "${REFUSED_BIN:-}" ]; then
  cargo build --release --quiet -p refused-cli
fi
bin=$(realpath "${REFUSED_BIN:-${CARGO_TARGET_DIR:-target}/release/refused}")

# The node and one endpoint's namespace, joined by a veth pair; the service range routed to the
# endpoint's side (kube-proxy's DNAT happens before the packet leaves).
ip netns add "$node"
ip netns add "$ep"
ip -n "$node" link set lo up
ip -n "$ep" link set lo up
ip link add "bg6n$$" netns "$node" type veth peer name "bg6e$$" netns "$ep"
ip -n "$node" addr add 10.244.1.1/24 dev "bg6n$$"
ip -n "$ep" addr add 10.244.1.2/24 dev "bg6e$$"
ip -n "$node" link set "bg6n$$" up
ip -n "$ep" link set "bg6e$$" up
ip -n "$node" route add 10.96.0.0/12 via 10.244.1.2

# kube-proxy's iptables-mode tables, as iptables-save prints them.
python3 - "$rules" >"$work/rules" <<'EOF'
import hashlib, sys
want = int(sys.argv[1])
def chain(kind, name):
    return kind + "-" + hashlib.sha256(name.encode()).hexdigest()[:16].upper()
filt, nat, chains, nodeports = [], [], [], []
count = 0
def svc(i, endpoints, nodeport=None):
    global count
    ip = f"10.{96 + i // 65536}.{i // 256 % 256}.{i % 256}"
    name = f"ns{i % 50}/svc-{i}:http"
    if not endpoints:
        filt.append(f'-A KUBE-SERVICES -d {ip}/32 -p tcp -m comment --comment "{name} has no endpoints" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable')
        count += 1
        return
    svc_chain = chain("KUBE-SVC", name)
    chains.append(svc_chain)
    nat.append(f'-A KUBE-SERVICES -d {ip}/32 -p tcp -m comment --comment "{name} cluster IP" -m tcp --dport 80 -j {svc_chain}')
    nat.append(f'-A {svc_chain} ! -s 10.244.0.0/16 -d {ip}/32 -p tcp -m comment --comment "{name} cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ')
    count += 2
    if nodeport:
        nodeports.append(f'-A KUBE-NODEPORTS -p tcp -m comment --comment "{name}" -m tcp --dport {nodeport} -j {svc_chain}')
        count += 1
    for n, (addr, port) in enumerate(endpoints):
        sep = chain("KUBE-SEP", f"{name}{addr}")
        chains.append(sep)
        left = len(endpoints) - n
        stat = f" -m statistic --mode random --probability {1 / left:.11f}" if left > 1 else ""
        nat.append(f'-A {svc_chain} -m comment --comment "{name} -> {addr}:{port}"{stat} -j {sep}')
        nat.append(f'-A {sep} -s {addr}/32 -m comment --comment "{name}" -j KUBE-MARK-MASQ')
        nat.append(f'-A {sep} -p tcp -m comment --comment "{name}" -m tcp -j DNAT --to-destination {addr}:{port}')
        count += 3
# The targets first: 10.96.0.2 has no endpoints, 10.96.0.3 one endpoint in the lab.
svc(2, [])
svc(3, [("10.244.1.2", 46302)], nodeport=30080)
i = 4
while count < want:
    svc(i, [] if i % 10 == 0 else [(f"10.245.{i // 256 % 256}.{i % 256}", 8080), (f"10.246.{i // 256 % 256}.{i % 256}", 8080)])
    i += 1
print("*filter")
for c in ("INPUT", "FORWARD", "OUTPUT"):
    print(f":{c} ACCEPT [0:0]")
print(":KUBE-SERVICES - [0:0]")
print('-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES')
print('-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES')
print("\n".join(filt))
print("COMMIT")
print("*nat")
for c in ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"):
    print(f":{c} ACCEPT [0:0]")
for c in ["KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-MARK-MASQ", "KUBE-POSTROUTING"] + chains:
    print(f":{c} - [0:0]")
print('-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES')
print('-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES')
print('-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING')
print("-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000")
print("-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN")
print("-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0")
print('-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully')
print("\n".join(nat + nodeports))
print('-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS')
print("COMMIT")
EOF
ip netns exec "$node" iptables-nft-restore "$work/rules"
loaded=$(ip netns exec "$node" iptables-nft-save | grep -c '^-A ')
echo "== $loaded rules loaded by iptables-nft-restore in $node ($(wc -c <"$work/rules") bytes of iptables-save text)"

x=(ip netns exec "$node")
rss() { /usr/bin/time -f %M -o "$work/rss" "$@" >/dev/null 2>&1 || true; echo "$(( $(tail -n 1 "$work/rss") / 1024 )) MB"; }
wall() {
  if command -v hyperfine >/dev/null; then
    hyperfine -N -i --style basic --runs "$runs" --export-json "$work/h.json" "$*" >/dev/null 2>&1
    python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print("%.3f s median (min %.3f, max %.3f, %d runs)" % (r["median"], r["min"], r["max"], len(r["times"])))' "$work/h.json"
  else
    local start end
    start=$(date +%s.%N)
    for _ in $(seq "$runs"); do "$@" >/dev/null 2>&1 || true; done
    end=$(date +%s.%N)
    python3 -c "print(f'{($end - $start) / $runs:.3f} s mean ($runs runs)')"
  fi
}
cause() {
  "${x[@]}" "$bin" why --json "$@" 2>/dev/null | python3 -c '
import json, sys
r = json.load(sys.stdin)
rule = next((e for e in r["evidence"] if e["kind"] == "firewall-rule"), None)
unseen = [u["what"] for u in r.get("unseen", [])]
print(r["cause"], "|", r["summary"][:150])
print("    evidence:", ", ".join(e["kind"] for e in r["evidence"]))
if rule: print("    rule:", rule["chain"], rule.get("position"), rule["tool"])
if unseen: print("    unseen:", "; ".join(unseen)[:200])'
}

echo "== nft's and iptables-save's own listings"
echo "nft -j list ruleset:       $(wall "${x[@]}" nft -j list ruleset), $(rss "${x[@]}" nft -j list ruleset)"
echo "nft -a -s list ruleset:    $(wall "${x[@]}" nft -a -s list ruleset), $(rss "${x[@]}" nft -a -s list ruleset)"
echo "iptables-nft-save:         $(wall "${x[@]}" iptables-nft-save), $(rss "${x[@]}" iptables-nft-save)"
for target in closed:127.0.0.1:46301 reject:10.96.0.2:80 dnat:10.96.0.3:80 nodeport:10.244.1.1:30080; do
  name=${target%%:*} addr=${target#*:}
  echo "== why $addr ($name)"
  echo "wall:  $(wall "${x[@]}" "$bin" why --timeout 20s "$addr")"
  echo "rss:   $(rss "${x[@]}" "$bin" why --timeout 20s "$addr")"
  echo "cause (--timeout 20s): $(cause --timeout 20s "$addr")"
  echo "cause (default 3 s):   $(cause "$addr")"
done
