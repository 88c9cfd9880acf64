#!/usr/bin/env bash
# Builds hub-test/dnsmasq:latest, the baseline the netd bench compares against: Debian's
# dnsmasq (package dnsmasq-base, installed on the host by setup-host.sh) with the shared
# libraries ldd lists, in an otherwise empty root, imported with `docker import` (nothing is
# pulled). The image carries io.hub.recipe=HASH of this recipe and of the dnsmasq binary; a
# second run with the same inputs does nothing.
set -euo pipefail

name=hub-test/dnsmasq:latest
bin=/usr/sbin/dnsmasq
log() { printf '\033[1msetup:\033[0m %s\n' "$*"; }

if [ ! -x "$bin" ]; then
    echo "setup: $bin is missing; install dnsmasq-base (scripts/setup-host.sh does)" >&2
    exit 1
fi

build_dnsmasq() {
    local root=$1 lib
    mkdir -p "$root"/{usr/sbin,etc,tmp,var/run,var/lib/misc}
    chmod 1777 "$root/tmp"
    cp "$bin" "$root/usr/sbin/dnsmasq"
    for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
        >"$root/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
    printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
    : >"$root/etc/hosts"
}

hash=$( (declare -f build_dnsmasq; sha256sum "$bin") | sha256sum | cut -c1-16)
have=$(docker image inspect -f '{{ index .Config.Labels "io.hub.recipe" }}' "$name" 2>/dev/null || true)
if [ "$have" = "$hash" ]; then
    exit 0
fi
log "building $name (recipe $hash)"
work=$(mktemp -d /tmp/hub-dnsmasq.XXXXXX)
trap 'rm -rf "$work"' EXIT
build_dnsmasq "$work/root"
tar --numeric-owner -C "$work/root" -c . |
    docker import -c 'ENTRYPOINT ["/usr/sbin/dnsmasq", "--keep-in-foreground", "--log-facility=-"]' \
        -c "LABEL io.hub.recipe=$hash" - "$name" >/dev/null
log "built $name"
