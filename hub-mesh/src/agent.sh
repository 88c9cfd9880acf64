#!/bin/sh
# The mesh agent: the first process of the lab's mesh container on one host (host network,
# NET_ADMIN, /dev/net/tun). It makes the lab's WireGuard interface (kernel, else wireguard-go),
# the VXLAN device over it and enslaves that to the lab's bridge, prints "hub-mesh ready", and
# removes both interfaces when it is stopped. `agent.sh clean` only removes them (after a crash).
# /mesh/env holds the names and addresses, /mesh/wg.conf (0600) the keys; neither is printed.
set -u
. /wg-link.sh
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
wg_link "$WG"
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
# The VPN's clients sit behind its gateway container (ROUTER, .3 on the primary).
for net in $ROUTES; do
    ip route replace "$net" via "$ROUTER" dev "$BRIDGE" || fail "could not route $net via $ROUTER"
done
echo "hub-mesh ready: $WG ($mode) $ADDR/$PLEN, $VX vni $VNI on $BRIDGE, mtu $LAB_MTU${ROUTES:+, $ROUTES via $ROUTER}"
wg_wait "$WG"
