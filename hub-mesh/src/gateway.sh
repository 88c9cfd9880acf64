#!/bin/sh
# The lab's VPN gateway in a lab over several hosts: the first process of the container
# `hub-vpn-<lab>`, on the lab network at the subnet's .3 on the primary, with NET_ADMIN,
# /dev/net/tun, forwarding on in its own network namespace, and its UDP port published by
# Docker. It makes the WireGuard interface (kernel, else wireguard-go) in that namespace and
# prints "hub-vpn ready". The interface lives and dies with the container's namespace, so a
# killed gateway leaves nothing on the host. Every host routes the VPN's subnet to .3.
# /vpn/env holds the names and addresses, /vpn/wg.conf (0600) the keys; neither is printed.
set -u
. /wg-link.sh
. /vpn/env
fail() { echo "hub-vpn: $*" >&2; exit 1; }
trap '[ -n "${wgpid:-}" ] && kill "$wgpid" 2>/dev/null; echo "hub-vpn: stopped"; exit 0' TERM INT
wg_link "$WG"
wg setconf "$WG" /vpn/wg.conf || fail "wg setconf $WG failed (is UDP port $PORT free?)"
ip addr add "$ADDR" dev "$WG" || fail "could not give $WG its address"
ip link set "$WG" mtu "$MTU" up || fail "could not bring $WG up"
echo "hub-vpn ready: $WG ($mode) $ADDR, port $PORT, mtu $MTU"
wg_wait "$WG"
