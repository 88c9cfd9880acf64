#!/bin/sh
# The mesh agent: the first process of the lab's mesh container on one host (host network,
# NET_ADMIN, /dev/net/tun). It makes the lab's WireGuard interface (kernel, else wireguard-go),
# the VXLAN device over it and enslaves that to the lab's bridge, prints "hub-mesh ready", and
# removes both interfaces when it is stopped. `agent.sh clean` only removes them (after a crash).
# /mesh/env holds the names and addresses, /mesh/wg.conf (0600) the keys; neither is printed.
set -u
if [ "${1:-}" = clean ]; then
    WG=$2 VX=$3
else
    . /mesh/env
fi

clean() {
    for net in ${ROUTES:-}; do ip route del "$net" via "$ROUTER" dev "$BRIDGE" 2>/dev/null; done
    ip link del "$VX" 2>/dev/null
    [ -n "${wgpid:-}" ] && kill "$wgpid" 2>/dev/null && wait "$wgpid" 2>/dev/null
    ip link del "$WG" 2>/dev/null
    return 0
}
fail() { echo "hub-mesh: $*" >&2; clean; exit 1; }

if [ "${1:-}" = clean ]; then
    clean
    echo "hub-mesh: cleaned $WG $VX"
    exit 0
fi

trap 'clean; echo "hub-mesh: stopped, $WG and $VX removed"; exit 0' TERM INT
# Interfaces a killed agent left behind are made again from scratch.
clean
ip link show "$BRIDGE" >/dev/null 2>&1 || fail "the lab bridge $BRIDGE does not exist on this host"
if ip link add "$WG" type wireguard 2>/dev/null; then
    mode=kernel
else
    mode=wireguard-go
    mkdir -p /var/run/wireguard
    WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 wireguard-go -f "$WG" >/dev/null 2>&1 &
    wgpid=$!
    i=0
    until wg show "$WG" >/dev/null 2>&1; do
        i=$((i + 1))
        [ "$i" -le 100 ] || fail "wireguard-go did not make $WG within 10 s"
        kill -0 "$wgpid" 2>/dev/null || fail "wireguard-go exited before making $WG"
        sleep 0.1
    done
fi
wg setconf "$WG" /mesh/wg.conf || fail "wg setconf $WG failed"
ip addr add "$ADDR/$PLEN" dev "$WG" || fail "could not give $WG its address"
ip link set "$WG" mtu "$WG_MTU" up || fail "could not bring $WG up"
ip link add "$VX" type vxlan id "$VNI" local "$ADDR" dstport 4789 ||
    fail "could not make the VXLAN device $VX"
for peer in $PEERS; do
    bridge fdb append 00:00:00:00:00:00 dev "$VX" dst "$peer" || fail "fdb entry for $peer failed"
done
ip link set "$VX" mtu "$LAB_MTU" || fail "could not set the MTU of $VX"
ip link set "$VX" master "$BRIDGE" || fail "could not enslave $VX to $BRIDGE"
ip link set "$VX" up || fail "could not bring $VX up"
# What only the primary reaches (the VPN's clients) goes to it across the segment.
for net in $ROUTES; do
    ip route replace "$net" via "$ROUTER" dev "$BRIDGE" || fail "could not route $net via $ROUTER"
done
echo "hub-mesh ready: $WG ($mode) $ADDR/$PLEN, $VX vni $VNI on $BRIDGE, mtu $LAB_MTU${ROUTES:+, $ROUTES via $ROUTER}"
while :; do
    if [ -n "${wgpid:-}" ]; then
        wait "$wgpid"
        kill -0 "$wgpid" 2>/dev/null || fail "wireguard-go for $WG exited"
    else
        sleep 3600 &
        wait $!
    fi
done
