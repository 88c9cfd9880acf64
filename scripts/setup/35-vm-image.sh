#!/usr/bin/env bash
# Builds the Debian 12 cloud-init test image offline (nothing but Debian's archive is needed) at
# /var/cache/hub-test/debian-12.qcow2, following the recipe in ENVIRONMENT.md:
#   debootstrap minbase -> cloud-init installed in a chroot -> a raw MBR disk -> qcow2.
# Unlike ENVIRONMENT.md's recipe, the disk is made without loop devices or mounts: a FAT boot
# partition with SYSLINUX (installed on the image file with mtools), the kernel and the initrd,
# and an ext4 root labelled `root` that `mkfs.ext4 -d` fills from a directory.
#
# Cached: the image is keyed by the sha256 of this script (the recipe), stored next to it in
# debian-12.qcow2.recipe; a second run with the same recipe returns at once. The debootstrap
# root is cached too (keyed by the package part of the recipe only), so changing the disk
# layout does not download Debian again.
#
# Nothing half-made is left behind: the image is built under a temporary name and renamed at the
# end; on any failure the trap unmounts the chroot's /proc and removes the work files.
set -euo pipefail

cache=${HUB_TEST_CACHE:-/var/cache/hub-test}
image=$cache/debian-12.qcow2
stamp=$image.recipe
suite=bookworm
mirror=http://deb.debian.org/debian
include=systemd-sysv,udev,openssh-server,linux-image-cloud-amd64,ifupdown,isc-dhcp-client,iproute2,sudo,netbase
disk_mib=3072
boot_mib=64

recipe_key=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-64)
if [ -f "$image" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$recipe_key" ]; then
    exit 0
fi

mkdir -p "$cache"
work=$(mktemp -d "$cache/build.XXXXXX")
root_cache=$cache/debian-12-root
# Beside cloud-init: `locales` (without update-locale, cloud-init's locale module fails and
# `cloud-init status` reports an error on every boot) and `dbus` (without it systemd-logind does
# not run and the guest ignores the ACPI power button, so `virsh shutdown` does nothing).
chroot_packages="cloud-init locales dbus"
root_key=$(printf '%s\n' "$suite" "$mirror" "$include" "$chroot_packages" | sha256sum | cut -c1-64)

cleanup() {
    local rc=$?
    # Everything mounted under the work directory (the chroot's /proc, anything a failed
    # debootstrap left), innermost first, then the files.
    awk -v w="$work/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r |
        while read -r m; do umount -l "$m" 2>/dev/null || true; done
    rm -rf --one-file-system "$work"
    if [ "$rc" -ne 0 ]; then
        echo "35-vm-image: building $image failed (exit $rc); nothing was left behind" >&2
    fi
    return "$rc"
}
trap cleanup EXIT

# 1 + 2. The root file system: debootstrap, then cloud-init in a chroot (it fails to configure
# inside debootstrap because of a virtual dependency).
if [ -d "$root_cache" ] && [ "$(cat "$root_cache.key" 2>/dev/null)" = "$root_key" ]; then
    log "vm-image: reusing the cached root $root_cache" 2>/dev/null || true
else
    log "vm-image: debootstrap $suite (about a minute)" 2>/dev/null || true
    rm -rf "$root_cache" "$root_cache.key"
    root=$work/root
    debootstrap --variant=minbase --include="$include" "$suite" "$root" "$mirror" \
        >"$work/debootstrap.log" 2>&1 || { tail -30 "$work/debootstrap.log" >&2; exit 1; }
    mount -t proc proc "$root/proc"
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y -qq $chroot_packages \
        >"$work/cloud-init.log" 2>&1 || { tail -30 "$work/cloud-init.log" >&2; exit 1; }
    umount "$root/proc"
    chroot "$root" apt-get clean
    mv "$root" "$root_cache"
    echo "$root_key" >"$root_cache.key"
fi

# 3. The disk, without loop devices or mounts (containers and some CI sandboxes have none). The
# root tree is staged in a copy so the cache stays pristine.
fs=$work/fs
cp -a "$root_cache" "$fs"
echo 'LABEL=root / ext4 defaults 0 1' >"$fs/etc/fstab"
# Every VM gets its own identity: host keys come from the hub's seed (or cloud-init makes them),
# the machine id is made at first boot, the resolver comes from DHCP or network-config (not the
# build host's resolv.conf that debootstrap copied).
rm -f "$fs"/etc/ssh/ssh_host_*
: >"$fs/etc/machine-id"
: >"$fs/etc/resolv.conf"
# cloud-init's default locale (en_US.UTF-8) is not generated in a minbase root; C.UTF-8 always
# exists, so the locale module succeeds and `cloud-init status` reports a clean `done`.
printf 'locale: C.UTF-8\n' >"$fs/etc/cloud/cloud.cfg.d/01-hub-test-locale.cfg"
kernel=$(cd "$fs/boot" && ls vmlinuz-* | sort -V | tail -1)
initrd=$(cd "$fs/boot" && ls initrd.img-* | sort -V | tail -1)

# Partition 1, bootable FAT16 at 1 MiB: SYSLINUX, the kernel and the initrd, written with
# mtools. The FAT records its offset on the disk (-h, hidden sectors) so its boot sector finds
# ldlinux.sys there.
boot=$work/boot.img
truncate -s "${boot_mib}M" "$boot"
mkfs.fat -F 16 -n BOOT -h 2048 "$boot" >/dev/null
printf '%s\n' 'DEFAULT linux' 'PROMPT 0' 'TIMEOUT 0' 'LABEL linux' \
    '    LINUX /vmlinuz' '    INITRD /initrd.img' \
    '    APPEND root=LABEL=root rw console=ttyS0 net.ifnames=0' >"$work/syslinux.cfg"
mcopy -i "$boot" "$fs/boot/$kernel" ::/vmlinuz
mcopy -i "$boot" "$fs/boot/$initrd" ::/initrd.img
mcopy -i "$boot" "$work/syslinux.cfg" ::/syslinux.cfg
syslinux --install "$boot"

# Partition 2: the ext4 root, filled from the staged tree by mkfs itself.
part=$work/root.img
truncate -s "$((disk_mib - 1 - boot_mib))M" "$part"
mkfs.ext4 -q -L root -d "$fs" "$part"

raw=$work/disk.raw
truncate -s "${disk_mib}M" "$raw"
printf 'start=2048, size=%d, type=6, bootable\nstart=%d, type=83\n' \
    $((boot_mib * 2048)) $((2048 + boot_mib * 2048)) | sfdisk -q "$raw"
dd if="$boot" of="$raw" bs=1M seek=1 conv=notrunc status=none
dd if="$part" of="$raw" bs=1M seek=$((1 + boot_mib)) conv=notrunc,sparse status=none
dd if=/usr/lib/syslinux/mbr/mbr.bin of="$raw" bs=440 count=1 conv=notrunc status=none

# 4. qcow2 under a temporary name, then renamed: a reader never sees a half-written image.
qemu-img convert -O qcow2 "$raw" "$work/image.qcow2"
chmod 0644 "$work/image.qcow2"
mv "$work/image.qcow2" "$image"
echo "$recipe_key" >"$stamp"
log "vm-image: $image ready ($(du -h "$image" | cut -f1))" 2>/dev/null || true
