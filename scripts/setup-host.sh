#!/usr/bin/env bash
# Prepares a Debian 12 host (as root) for Virtual Hub and its tests: installs the packages,
# starts dockerd, libvirtd and virtlogd when they do not answer, and builds the local images
# (nothing can be pulled). Idempotent: a second run finishes in seconds.
#
#   scripts/setup-host.sh            everything
#   HUB_SETUP_ONLY="docker images" scripts/setup-host.sh   only the named steps
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export DEBIAN_FRONTEND=noninteractive

if [ "$(id -u)" -ne 0 ]; then
    echo "setup-host.sh: run as root (it installs packages and starts daemons)" >&2
    exit 1
fi

log() { printf '\033[1msetup:\033[0m %s\n' "$*"; }
export -f log

# Every Debian package the hub and its tests use, installed in one apt run.
packages=(
    # containers
    docker.io iptables busybox-static debootstrap docker-compose
    # VMs
    qemu-system-x86 qemu-utils libvirt-daemon-system libvirt-clients
    fdisk syslinux syslinux-common dosfstools mtools
    # WireGuard (kernel module when the host has it, else wireguard-go)
    wireguard-tools wireguard-go
    # real DHCP and DNS clients and peers for tests and benches
    dnsutils isc-dhcp-client dnsmasq-base kea-admin dnsperf
    # ssh to VMs, network namespaces
    openssh-client iproute2 procps
    # TLS certificates of the multi-host fixture and of the second dockerd, captures on the
    # fixture's underlay, nsenter into the second dockerd's namespace
    openssl tcpdump util-linux
    # HTTP client for the VPN end-to-end test (busybox-static's wget crashes on Debian 12)
    curl
    # Graphviz's dot draws `hub graph --format dot`, groff renders `hub man`, in their tests
    graphviz groff-base
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    apt-get update -qq
    # Some machines carry qemu-utils from bookworm-backports, which breaks bookworm's
    # qemu-system-x86; take both from bookworm when qemu-system-x86 is missing.
    extra=()
    if printf '%s\n' "${missing[@]}" | grep -qx qemu-system-x86; then
        keep=()
        for p in "${missing[@]}"; do [ "$p" = qemu-utils ] || keep+=("$p"); done
        missing=("${keep[@]}")
        extra=(qemu-utils/bookworm --allow-downgrades)
    fi
    apt-get install -y -qq --no-install-recommends "${missing[@]}" "${extra[@]}" >/dev/null
fi

steps=${HUB_SETUP_ONLY:-$(cd "$here/setup" && ls ./*.sh | sed 's|^\./||; s|\.sh$||' | sort | tr '\n' ' ')}
for step in $steps; do
    log "$step"
    bash "$here/setup/$step.sh"
done
log "host ready"
