#!/usr/bin/env bash
# Builds hub-test/host:12, the image of the multi-host test fixture's "hosts" (scripts/test-hosts.sh
# starts them): a Debian 12 root with Docker Engine, libvirtd + QEMU, WireGuard's tools and sshd,
# the packages a real lab host runs and nothing of the hub. The image holds no SSH host key:
# test-hosts.sh gives each host its own. Recipe from ENVIRONMENT.md ("Several hosts
# on one machine"): `debootstrap --variant=minbase`, then `apt-get install --no-install-recommends`
# in a chroot (debootstrap's --include cannot configure libvirt: systemd-container and polkitd want
# dbus and logind), then the users and groups libvirt's maintainer scripts would have made.
#
# Cached: the image carries io.hub.recipe=HASH of this script; a second run with the same script
# does nothing (one `docker image inspect`). A failed build leaves no image and no work files.
set -euo pipefail

name=hub-test/host:12
mirror=${HUB_DEBIAN_MIRROR:-http://deb.debian.org/debian}
packages="docker.io libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils iproute2 iptables wireguard-tools wireguard-go procps openssh-server"
log() { printf '\033[1msetup:\033[0m %s\n' "$*"; }

hash=$( (cat "${BASH_SOURCE[0]}"; echo "$mirror") | sha256sum | cut -c1-16)
have=$(docker image inspect -f '{{ index .Config.Labels "io.hub.recipe" }}' "$name" 2>/dev/null || true)
if [ "$have" = "$hash" ]; then
    exit 0
fi

work=$(mktemp -d /tmp/hub-host-image.XXXXXX)
cleanup() {
    local rc=$?
    awk -v w="$work/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r |
        while read -r m; do umount -l "$m" 2>/dev/null || true; done
    rm -rf --one-file-system "$work"
    [ "$rc" -eq 0 ] || echo "60-host-image: building $name failed (exit $rc); see the log lines above" >&2
    return "$rc"
}
trap cleanup EXIT

root=$work/root
log "building $name (recipe $hash, about two minutes)"
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -30 "$work/debootstrap.log" >&2; exit 1; }
cp /etc/resolv.conf "$root/etc/resolv.conf"
# No service starts inside the chroot.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
mount -t proc proc "$root/proc"
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y -qq --no-install-recommends $packages \
    >"$work/apt.log" 2>&1 || { tail -30 "$work/apt.log" >&2; exit 1; }
umount "$root/proc"
# The users and groups libvirtd and QEMU run as (the packages' scripts may not have made them
# in a chroot without systemd).
chroot "$root" sh -c 'getent group kvm >/dev/null || groupadd -r kvm
    getent group libvirt >/dev/null || groupadd -r libvirt
    getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
    getent passwd libvirt-qemu >/dev/null || useradd -r -g libvirt-qemu -G kvm -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu'
chroot "$root" apt-get clean
# openssh-server's scripts made host keys: every host would share them. Each host gets its own.
rm -rf "$root"/var/lib/apt/lists/* "$root/usr/sbin/policy-rc.d" "$root"/etc/ssh/ssh_host_*
: >"$root/etc/resolv.conf"
tar --numeric-owner -C "$root" -c . |
    docker import -c 'CMD ["bash"]' -c "LABEL io.hub.recipe=$hash" - "$name" >/dev/null
log "built $name"
