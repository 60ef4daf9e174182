#!/usr/bin/env bash
# `refused why`, `check` and `wait` against a real Podman (Debian's podman 4.3, netavark),
# rootful and rootless, with the classic mistakes: `podman run -p 8080:80` for a program that
# listens on 3000; one that listens on the container's own 127.0.0.1; one whose program exits
# at once; one stopped with `podman stop`; a pod (`podman pod create -p 8085:80`) whose
# container listens on 3000. Rootful, conmon holds the ports and netavark's DNAT rules publish
# them; rootless (a user this script makes), rootlessport holds them and forwards through
# slirp4netns. Each runs in a network namespace of its own (Podman's rules, bridge and helpers
# stay in it), with Podman's state in a temporary folder; the image is a busybox-static root
# file system (no registry). Everything is removed at exit.
#
#   sudo scripts/real-podman.sh [REFUSED]    (default: target/release/refused, built here)
#
# Needs root, podman, runc or crun, slirp4netns, uidmap (newuidmap), catatonit (pods' infra
# containers) and busybox-static's .deb (fetched with `apt-get download`). Names can be set:
# PODMAN_NETNS (a namespace, default rpd<pid>), PODMAN_USER (the rootless user, default
# rpd<pid>), PODMAN_WORK (the folder, default a new one under /tmp).
set -euo pipefail
cd "$(dirname "$0")/.."
refused=${1:-}
if [ -z "$refused" ]; then
  cargo build --release --quiet -p refused-cli
  refused="${CARGO_TARGET_DIR:-target}/release/refused"
fi
refused=$(realpath "$refused")
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces, podman, a user)" >&2; exit 2; }
for tool in podman slirp4netns newuidmap catatonit; do
  command -v "$tool" >/dev/null || {
    echo "\`$tool\` is missing: apt-get install podman slirp4netns uidmap catatonit" >&2; exit 2; }
done
runtime=$(command -v crun || command -v runc) || { echo "no OCI runtime: apt-get install runc" >&2; exit 2; }

work=${PODMAN_WORK:-$(mktemp -d /tmp/refused-podman.XXXXXX)}
mkdir -p "$work"; chmod 755 "$work"
ns=${PODMAN_NETNS:-rpd$$}
user=${PODMAN_USER:-rpd$$}
tun_mode=$(stat -c %a /dev/net/tun 2>/dev/null || true)
# netavark keeps its lock and address database in /run/containers/networks whatever the
# settings: removed at exit when this run made it.
[ -e /run/containers ] && had_run_containers=1
cleanup() {
  set +e
  [ -n "${user_made:-}" ] && as_user podman rm -a -f -t 0 >/dev/null 2>&1
  [ -n "${user_made:-}" ] && as_user podman pod rm -a -f >/dev/null 2>&1
  in_ns podman rm -a -f -t 0 >/dev/null 2>&1
  in_ns podman pod rm -a -f >/dev/null 2>&1
  # What is left of conmon, rootlessport, slirp4netns and the containers, by pid: every process
  # whose command line names this run's folder, or that runs as the user.
  for pid in $(ps -eo pid=,args= | awk -v w="$work/" 'index($0, w) {print $1}') \
             $( [ -n "${user_made:-}" ] && ps -u "$user" -o pid= ); do
    kill -9 "$pid" 2>/dev/null
  done
  sleep 0.5
  grep " $work" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l
  ip netns del "$ns" 2>/dev/null
  [ -n "${user_made:-}" ] && userdel -r "$user" >/dev/null 2>&1
  [ -n "$tun_mode" ] && chmod "$tun_mode" /dev/net/tun
  [ -z "${had_run_containers:-}" ] && rm -rf /run/containers
  rm -rf "$work"
}
trap cleanup EXIT

# A root file system of busybox alone, from Debian's package.
(cd "$work" && apt-get download -qq busybox-static 2>/dev/null && dpkg-deb -x busybox-static_*.deb bb)
mkdir -p "$work/rootfs/bin"
cp "$work/bb/bin/busybox" "$work/rootfs/bin/"
for applet in sh httpd; do ln -s busybox "$work/rootfs/bin/$applet"; done
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .

# Podman's settings for each: state in the folder, cgroupfs (no systemd needed), the runtime
# found, modest limits (Podman asks for more open files and processes than a container of a
# host with lower hard limits may be given, and runc then fails to start it).
settings() {  # DIR
  mkdir -p "$1"
  cat >"$1/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$1/events.log"
runtime = "$(basename "$runtime")"
tmp_dir = "$1/tmp"
[network]
network_config_dir = "$1/net"
EOF
  cat >"$1/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$1/root"
runroot = "$1/run"
EOF
}
settings "$work/rootful"
ip netns add "$ns"; ip -n "$ns" link set lo up
# nsenter --net, not `ip netns exec`, which remounts /sys and hides the cgroup mounts.
in_ns() {
  CONTAINERS_CONF="$work/rootful/containers.conf" \
    CONTAINERS_STORAGE_CONF="$work/rootful/storage.conf" nsenter --net="/run/netns/$ns" "$@"
}

# The rootless user, with its subordinate ids; slirp4netns opens /dev/net/tun as that user.
useradd -m -d "$work/home" -s /bin/sh "$user"; user_made=1
grep -q "^$user:" /etc/subuid || echo "$user:200000:65536" >>/etc/subuid
grep -q "^$user:" /etc/subgid || echo "$user:200000:65536" >>/etc/subgid
settings "$work/rootless"
mkdir -p "$work/xdg"; chmod 700 "$work/xdg"
chown -R "$user:" "$work/rootless" "$work/xdg"
chmod o+rw /dev/net/tun
as_user() {
  nsenter --net="/run/netns/$ns" runuser -u "$user" -- env XDG_RUNTIME_DIR="$work/xdg" \
    HOME="$work/home" CONTAINERS_CONF="$work/rootless/containers.conf" \
    CONTAINERS_STORAGE_CONF="$work/rootless/storage.conf" "$@"
}

in_ns podman import -q "$work/rootfs.tar" localhost/bb >/dev/null
as_user podman import -q - localhost/bb <"$work/rootfs.tar" >/dev/null
in_ns podman version --format 'Podman {{.Client.Version}}'

# The same mistakes, rootful on 808x, rootless on 908x.
mistakes() {  # RUN PREFIX
  local run=$1 p=$2
  $run podman run -d --name web -p "${p}80:80" localhost/bb /bin/httpd -f -p 3000 >/dev/null
  $run podman run -d --name local -p "${p}81:80" localhost/bb /bin/httpd -f -p 127.0.0.1:80 >/dev/null
  $run podman run -d --name ok -p "${p}82:80" localhost/bb /bin/httpd -f -p 80 >/dev/null
  $run podman run -d --name gone -p "${p}83:80" localhost/bb /bin/sh -c 'exit 3' >/dev/null
  $run podman run -d --name stopped -p "${p}84:80" localhost/bb /bin/httpd -f -p 80 >/dev/null
  $run podman stop -t 0 stopped >/dev/null 2>&1
  $run podman pod create --name pod1 -p "${p}85:80" >/dev/null
  $run podman run -d --pod pod1 --name inpod localhost/bb /bin/httpd -f -p 3000 >/dev/null
}
mistakes in_ns 80
mistakes as_user 90
sleep 1
echo "rootful:"; in_ns podman ps -a --format '  {{.Names}}: {{.Command}} {{.Ports}} {{.Status}}'
echo "rootless ($user):"; as_user podman ps -a --format '  {{.Names}}: {{.Command}} {{.Ports}} {{.Status}}'

cd "$work"
ask() {  # WHO RUN ARGS...
  local who=$1 run=$2; shift 2
  echo; echo "$who\$ refused $*"
  $run "$refused" "$@" || true
}
# Root asks of its own rootful containers, in the environment its podman was given.
ask '#' in_ns why localhost:8080
ask '#' in_ns why localhost:8081
ask '#' in_ns why localhost:8083
ask '#' in_ns why localhost:8084
ask '#' in_ns why localhost:8085
ask '#' in_ns check localhost:8080 localhost:8082 localhost:8083
ask '#' in_ns wait --timeout 3s localhost:8080

# The user asks of their rootless ones; root asks of the user's.
ask '$' as_user why localhost:9080
ask '$' as_user why http://localhost:9081
ask '$' as_user why localhost:9083
ask '$' as_user check localhost:9080 localhost:9082
ask '$' as_user wait --timeout 3s localhost:9080
ask '#' "nsenter --net=/run/netns/$ns" why localhost:9080
ask '#' "nsenter --net=/run/netns/$ns" why localhost:9085
