#!/usr/bin/env bash
# Builds the local test images (nothing can be pulled on the test machines):
#   hub-test/busybox:latest  busybox-static in an empty root (sh, httpd, udhcpc, wget, nc, ip)
#   hub-test/debian:latest   debootstrap minbase bookworm with dig, dhclient, ip, curl, ps
# Each image carries the label io.hub.recipe=HASH of its recipe (the build function's text and
# its inputs); an image whose label matches is kept, so a second run takes a second or two.
set -euo pipefail

: "${HUB_DEBIAN_MIRROR:=http://deb.debian.org/debian}"

work=
# A failed build leaves no half-made root behind.
trap '[ -z "$work" ] || rm -rf "$work"' EXIT

log() { printf '\033[1msetup:\033[0m %s\n' "$*"; }

# The recipe label of an image, or nothing when the image does not exist.
image_recipe() {
    docker image inspect -f '{{ index .Config.Labels "io.hub.recipe" }}' "$1" 2>/dev/null || true
}

build_busybox() {
    local root=$1
    mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,www,proc,sys,dev,var/run,usr/share/udhcpc}
    chmod 1777 "$root/tmp"
    cp /bin/busybox "$root/bin/busybox"
    # Absolute symlinks for every applet, made by busybox itself inside the root.
    chroot "$root" /bin/busybox --install -s
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
        >"$root/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
    printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
    echo 'hub-test busybox' >"$root/www/index.html"
    # udhcpc configures the interface through this script (busybox's own example).
    cp /usr/share/doc/busybox-static/examples/udhcp/simple.script \
        "$root/usr/share/udhcpc/default.script"
    chmod 0755 "$root/usr/share/udhcpc/default.script"
}

build_debian() {
    local root=$1
    debootstrap --variant=minbase \
        --include=dnsutils,isc-dhcp-client,iproute2,curl,procps \
        bookworm "$root" "$HUB_DEBIAN_MIRROR" >"$root.log" 2>&1 || {
        tail -30 "$root.log" >&2
        return 1
    }
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
}

# ensure_image NAME BUILD_FUNCTION CMD EXTRA_INPUT: builds NAME unless its recipe label matches.
ensure_image() {
    local name=$1 fn=$2 cmd=$3 extra=$4
    local hash
    hash=$( (declare -f "$fn"; echo "$cmd"; echo "$extra") | sha256sum | cut -c1-16)
    if [ "$(image_recipe "$name")" = "$hash" ]; then
        return 0
    fi
    log "building $name (recipe $hash)"
    work=$(mktemp -d /tmp/hub-image.XXXXXX)
    "$fn" "$work/root"
    tar --numeric-owner -C "$work/root" -c . |
        docker import -c "CMD $cmd" -c "LABEL io.hub.recipe=$hash" - "$name" >/dev/null
    rm -rf "$work"
    work=
    log "built $name"
}

ensure_image hub-test/busybox:latest build_busybox '["sh"]' "$(sha256sum /bin/busybox)"
ensure_image hub-test/debian:latest build_debian '["bash"]' "$HUB_DEBIAN_MIRROR"
