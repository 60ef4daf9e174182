#!/usr/bin/env bash
# Runs a command as on a fresh machine without the lab's packages, to check that the tests
# needing them skip with a line naming the package (and fail with CI=true):
#
#   scripts/without-lab-packages.sh cargo nextest run --workspace --success-output final
#   CI=true scripts/without-lab-packages.sh cargo nextest run --workspace    # fails instead
#
# nft, dnsmasq, redis-server, iptables, ufw and docker-proxy are left off PATH (a folder of links to the rest);
# as root, /usr/lib/postgresql (initdb, postgres) is hidden under an empty tmpfs in a private
# mount namespace. Nothing on the host changes.
set -euo pipefail
[ $# -gt 0 ] || { sed -n '2,10p' "$0" >&2; exit 2; }
hide='^(nft|dnsmasq|redis-.*|iptables.*|ip6tables.*|ufw|docker-proxy|initdb|pg_ctl|postgres)$'
bin=$(mktemp -d "${TMPDIR:-/tmp}/without-lab-packages.XXXXXX")
trap 'rm -rf "$bin"' EXIT
IFS=: read -ra dirs <<<"$PATH"
for dir in "${dirs[@]}"; do
  [ -d "$dir" ] || continue
  for file in "$dir"/*; do
    name=${file##*/}
    [[ $name =~ $hide ]] && continue
    [ -e "$bin/$name" ] || ln -s "$file" "$bin/$name"
  done
done
if [ "$(id -u)" = 0 ] && [ -d /usr/lib/postgresql ]; then
  PATH=$bin unshare --mount --propagation private \
    sh -c 'mount -t tmpfs none /usr/lib/postgresql && exec "$@"' sh "$@"
else
  PATH=$bin "$@"
fi
