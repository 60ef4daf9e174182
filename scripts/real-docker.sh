#!/usr/bin/env bash
# `refused why` against a real Docker, the classic mistake: `docker run -p 8080:80` for a
# program that listens on 3000. Debian's dockerd and containerd (docker.io) run in a network
# namespace of their own (their iptables rules, bridge and docker-proxy stay in it), with their
# state under a temporary folder; the image is a busybox-static root file system imported from
# Debian's package (no registry). Then `refused why` asks, as a user would, from the Docker host
# (localhost: docker-proxy; its own address: the DOCKER chain's DNAT) and from another
# namespace joined to it by a veth (the DNAT of a remote host); and a second container whose
# program listens on its own 127.0.0.1 (`-p 8081:80`); and a third, as it should be, whose port
# the host's DOCKER-USER chain drops for other hosts; a fourth, whose program exits at once; and
# a compose service's, whose name `db` is tried from the host. Everything is removed at exit.
#
#   sudo scripts/real-docker.sh [REFUSED]    (default: target/release/refused, built here)
#   sudo DOCKERD_ARGS=--userland-proxy=false scripts/real-docker.sh    (no docker-proxy: DNAT alone)
#
# Needs root, docker.io (dockerd, containerd, runc, docker-proxy), busybox-static's .deb (fetched
# with `apt-get download`), and cgroups mounted as Docker wants them.
set -euo pipefail
cd "$(dirname "$0")/.."
refused=${1:-}
if [ -z "$refused" ]; then
  cargo build --release --quiet -p refused-cli
  refused="${CARGO_TARGET_DIR:-target}/release/refused"
fi
refused=$(realpath "$refused")
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces, dockerd)" >&2; exit 2; }
for tool in dockerd containerd docker-proxy docker; do
  command -v "$tool" >/dev/null || { echo "\`$tool\` is missing: apt-get install docker.io" >&2; exit 2; }
done

work=$(mktemp -d /tmp/refused-docker.XXXXXX)
host=rdk$$ client=rdc$$
cleanup() {
  set +e
  [ -S "$work/docker.sock" ] && DOCKER_HOST="unix://$work/docker.sock" docker rm -f web local ok gone proj-db-1 >/dev/null 2>&1
  [ -S "$work/docker.sock" ] && DOCKER_HOST="unix://$work/docker.sock" docker network rm proj_default >/dev/null 2>&1
  pid=$(cat "$work/docker.pid" 2>/dev/null)
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  fi
  # dockerd, containerd, the shims and the container, whatever is left of them.
  pkill -9 -f "$work/" 2>/dev/null; sleep 1
  # dockerd's bind mounts (its data root, the containers' network namespaces), deepest first.
  grep " $work" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l
  ip netns del "$host" 2>/dev/null; ip netns del "$client" 2>/dev/null
  rm -rf "/etc/netns/$host"
  rm -rf "$work"
}
trap cleanup EXIT

# A root file system of busybox alone, from Debian's package.
(cd "$work" && apt-get download -qq busybox-static 2>/dev/null && dpkg-deb -x busybox-static_*.deb bb)
mkdir -p "$work/rootfs/bin"
cp "$work/bb/bin/busybox" "$work/rootfs/bin/"
ln -s busybox "$work/rootfs/bin/httpd"
ln -s busybox "$work/rootfs/bin/sh"
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .

# The Docker host: a namespace of its own. nsenter --net, not `ip netns exec`, which remounts
# /sys and hides the cgroup mounts dockerd needs.
ip netns add "$host"; ip netns add "$client"
ip -n "$host" link set lo up; ip -n "$client" link set lo up
ip link add "v$host" netns "$host" type veth peer name "v$client" netns "$client"
ip -n "$host" addr add 10.97.0.1/24 dev "v$host"; ip -n "$host" link set "v$host" up
ip -n "$client" addr add 10.97.0.2/24 dev "v$client"; ip -n "$client" link set "v$client" up
in_host() { nsenter --net="/run/netns/$host" "$@"; }
in_host containerd --root "$work/containerd" --state "$work/containerd-state" \
  --address "$work/containerd.sock" >"$work/containerd.log" 2>&1 &
sleep 2
in_host dockerd --containerd "$work/containerd.sock" --data-root "$work/data" \
  --exec-root "$work/exec" --pidfile "$work/docker.pid" -H "unix://$work/docker.sock" \
  --storage-driver vfs ${DOCKERD_ARGS:-} >"$work/dockerd.log" 2>&1 &
export DOCKER_HOST="unix://$work/docker.sock"
for _ in $(seq 50); do docker version >/dev/null 2>&1 && break; sleep 0.2; done
docker version --format 'Docker {{.Server.Version}}'
docker import "$work/rootfs.tar" refused-busybox >/dev/null
docker run -d -q --name web -p 8080:80 refused-busybox /bin/httpd -f -p 3000 >/dev/null
# The other classic: the program listens on the container's own loopback.
docker run -d -q --name local -p 8081:80 refused-busybox /bin/httpd -f -p 127.0.0.1:80 >/dev/null
# A program as it should be, whose port the host's DOCKER-USER chain (where Docker says to put
# one's own rules) drops for every other host.
docker run -d -q --name ok -p 8082:80 refused-busybox /bin/httpd -f -p 80 >/dev/null
# A compose service's container (compose's label, as `docker compose up` sets it), whose name
# `db` a client on this host tries: Docker's DNS answers it inside the container network only.
docker network create proj_default >/dev/null
docker run -d -q --name proj-db-1 --label com.docker.compose.service=db -p 5433:80 \
  --network proj_default --network-alias db refused-busybox /bin/httpd -f -p 80 >/dev/null
# A program that exits at once: its container stops, and takes its DNAT rule and docker-proxy
# with it; only Docker's daemon still knows it publishes 8083.
docker run -d -q --name gone -p 8083:80 refused-busybox /bin/sh -c 'exit 3' >/dev/null
ok_ip=$(docker inspect -f '{{.NetworkSettings.IPAddress}}' ok)
in_host iptables -I DOCKER-USER -d "$ok_ip" -p tcp --dport 80 -j DROP
sleep 1
docker ps --format '{{.Names}}: {{.Command}} {{.Ports}}'

cd "$work"
echo; echo "\$ refused why localhost:8080            # on the Docker host: docker-proxy"
in_host "$refused" why localhost:8080 || true
echo; echo "\$ refused why 10.97.0.1:8080            # on the Docker host, its own address: DNAT"
in_host "$refused" why 10.97.0.1:8080 || true
echo; echo "\$ refused why 10.97.0.1:8080            # from another host"
nsenter --net="/run/netns/$client" "$refused" why 10.97.0.1:8080 || true

echo; echo "\$ refused why localhost:8081            # a program on the container's 127.0.0.1"
in_host "$refused" why localhost:8081 || true

echo; echo "\$ refused why 10.97.0.1:8082            # from another host: DOCKER-USER drops it"
nsenter --net="/run/netns/$client" "$refused" why --timeout 3s 10.97.0.1:8082 || true

echo; echo "\$ refused why localhost:8083            # a container that exited"
in_host "$refused" why localhost:8083 || true

# Names are asked of a dnsmasq of the host's namespace that knows none and asks no one (no
# query leaves the namespace): `db` does not exist, as on a real host outside the network.
mkdir -p "/etc/netns/$host"
echo "nameserver 127.0.0.1" > "/etc/netns/$host/resolv.conf"
ip netns exec "$host" dnsmasq --keep-in-foreground --no-resolv --no-hosts --local='/#/' \
  --listen-address=127.0.0.1 --bind-interfaces --pid-file="$work/dnsmasq.pid" &
sleep 0.5
echo; echo "\$ refused why db:80                      # a compose service's name, from the host"
ip netns exec "$host" "$refused" why db:80 || true
