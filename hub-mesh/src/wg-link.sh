# Sourced by the mesh agent and the VPN gateway: WireGuard interfaces the same way in both.
# The caller defines fail().

# wg_link NAME: makes WireGuard interface NAME, the kernel's, else wireguard-go's (its pid in
# $wgpid); sets $mode to kernel or wireguard-go.
wg_link() {
    if ip link add "$1" type wireguard 2>/dev/null; then
        mode=kernel
        return 0
    fi
    mode=wireguard-go
    mkdir -p /var/run/wireguard
    WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 wireguard-go -f "$1" >/dev/null 2>&1 &
    wgpid=$!
    i=0
    until wg show "$1" >/dev/null 2>&1; do
        i=$((i + 1))
        [ "$i" -le 100 ] || fail "wireguard-go did not make $1 within 10 s"
        kill -0 "$wgpid" 2>/dev/null || fail "wireguard-go exited before making $1"
        sleep 0.1
    done
}

# wg_wait NAME: waits for ever (signals end it through the caller's trap), failing when
# wireguard-go for NAME exits.
wg_wait() {
    while :; do
        if [ -n "${wgpid:-}" ]; then
            wait "$wgpid"
            kill -0 "$wgpid" 2>/dev/null || fail "wireguard-go for $1 exited"
        else
            sleep 3600 &
            wait $!
        fi
    done
}
