#!/usr/bin/env bash
# Starts virtlogd and libvirtd when libvirt's QEMU driver does not answer, and waits until it
# does. The probe is `virsh list --all` (30 ms), not `virsh version` (4 s here: it probes the
# QEMU binary every time), so that a second run takes no time. There is no systemd here: the daemons run detached, output to a log file and
# stdin from /dev/null, so they never hold the caller's terminal or CI's pipes open.
set -euo pipefail
uri=qemu:///system
answers() { virsh -c "$uri" list --all >/dev/null 2>&1; }

# /dev/kvm as udev makes it on Debian (root:kvm 0660). Without udev it stays root 0600: libvirt
# then finds KVM "not available now" for its QEMU user, unlike when it probed QEMU's
# capabilities, and probes them again on every call (4 s each: 32 s per `virsh define`). VMs
# still run under TCG (domain type qemu); this only keeps libvirt's capability cache valid.
if [ -c /dev/kvm ] && getent group kvm >/dev/null &&
    [ "$(stat -c '%G %a' /dev/kvm)" != "kvm 660" ]; then
    chgrp kvm /dev/kvm && chmod 0660 /dev/kvm
fi

if answers; then exit 0; fi

mkdir -p /var/log/libvirt /var/run/libvirt
# virtlogd collects QEMU's output; libvirtd refuses to start domains without it.
if ! pgrep -x virtlogd >/dev/null; then
    setsid virtlogd -d >/var/log/virtlogd.log 2>&1 </dev/null || true
fi
if ! pgrep -x libvirtd >/dev/null; then
    setsid libvirtd -d >/var/log/libvirtd.log 2>&1 </dev/null
fi
for _ in $(seq 1 120); do
    answers && exit 0
    sleep 0.5
done
echo "libvirtd did not answer on $uri within 60 s; see /var/log/libvirtd.log" >&2
tail -20 /var/log/libvirtd.log >&2 || true
exit 1
