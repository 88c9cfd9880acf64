#!/usr/bin/env bash
# The multi-host test fixture: N "hosts" on this machine, each a container of hub-test/host:12
# (scripts/setup/60-host-image.sh) running its own dockerd and libvirtd, joined by one Docker
# network that is their underlay. The hub reaches them only through their endpoints, with TLS or
# SSH:
#   Docker   tcp://IP:2376, client cert dir $dir/client (ca.pem cert.pem key.pem)
#   libvirt  qemu+tls://IP/system?pkipath=$dir/client (cacert.pem clientcert.pem clientkey.pem)
#   ssh      ssh://root@IP:22 (sshd; `docker system dial-stdio` reaches Docker, virt-ssh-helper
#            libvirt), SSH dir $dir/ssh: the client key id_ed25519 and known_hosts holding each
#            host's own host key (made here, never scanned)
#
#   scripts/test-hosts.sh up N     build hub-test/host:12 if its recipe changed, start hosts 1..N
#                                  (reuses running ones of the same recipe), wait until the three
#                                  daemons of each answer, print one line per host:
#                                  NAME IP DOCKER_ENDPOINT CERT_DIR LIBVIRT_URI SSH_ENDPOINT SSH_DIR
#   scripts/test-hosts.sh down     remove every host, the underlay network and the hosts' volumes
#
# Environment: HUB_TEST_HOSTS_DIR (the fixture folder: CA, certs, keys 0600; default
# /var/lib/hub-test/hosts), HUB_TEST_HOSTS_PREFIX (default hubmh: containers PREFIX-h1..,
# network PREFIX-underlay, whose Linux bridge has the same name), HUB_TEST_HOSTS_NET (the first
# three octets of the underlay /24, default 10.203.0; host i gets .(10+i)).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${HUB_TEST_HOSTS_DIR:-/var/lib/hub-test/hosts}
prefix=${HUB_TEST_HOSTS_PREFIX:-hubmh}
net=${HUB_TEST_HOSTS_NET:-10.203.0}
image=hub-test/host:12
underlay=$prefix-underlay
mark=io.hub.test-hosts=$prefix
log() { printf '\033[1mtest-hosts:\033[0m %s\n' "$*" >&2; }
die() { printf 'test-hosts: %s\n' "$*" >&2; exit 1; }

host_ip() { echo "$net.$((10 + $1))"; }

# make_cert NAME SUBJECT [IP]: a key (0600) and a certificate signed by the fixture's CA, for a
# server (with IP as its subjectAltName) or, without IP, for a client.
make_cert() {
    local out=$1 cn=$2 ip=${3:-} ext
    mkdir -p "$out"
    (umask 077 && openssl genrsa -out "$out/key.pem" 2048 2>/dev/null)
    openssl req -new -key "$out/key.pem" -subj "/CN=$cn" -out "$out/req.csr" 2>/dev/null
    ext=$(mktemp)
    if [ -n "$ip" ]; then
        printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n' "$ip" >"$ext"
    else
        printf 'extendedKeyUsage=clientAuth\n' >"$ext"
    fi
    openssl x509 -req -in "$out/req.csr" -CA "$dir/ca/ca.pem" -CAkey "$dir/ca/ca-key.pem" \
        -CAcreateserial -days 3650 -sha256 -extfile "$ext" -out "$out/cert.pem" 2>/dev/null
    rm -f "$ext" "$out/req.csr"
    cp "$dir/ca/ca.pem" "$out/ca.pem"
    chmod 0600 "$out/key.pem"
}

# make_ca DIR: a self-signed CA (its key 0600).
make_ca() {
    mkdir -p "$1"
    (umask 077 && openssl genrsa -out "$1/ca-key.pem" 2048 2>/dev/null)
    openssl req -x509 -new -key "$1/ca-key.pem" -sha256 -days 3650 -subj "/CN=$2" \
        -out "$1/ca.pem" 2>/dev/null
}

# The CA, the client cert (in Docker's and libvirt's file names) and a CA that signed nothing
# (for tests of a wrong CA); made once per fixture folder.
ensure_pki() {
    [ -f "$dir/client/clientkey.pem" ] && [ -f "$dir/wrong-ca/ca.pem" ] && return 0
    log "making the fixture's CA and client certificate in $dir"
    rm -rf "$dir/ca" "$dir/client" "$dir/wrong-ca" "$dir"/h*/
    mkdir -p "$dir" && chmod 0700 "$dir"
    make_ca "$dir/ca" "$prefix test CA"
    make_cert "$dir/client" "$prefix client"
    cp "$dir/client/ca.pem" "$dir/client/cacert.pem"
    cp "$dir/client/cert.pem" "$dir/client/clientcert.pem"
    cp "$dir/client/key.pem" "$dir/client/clientkey.pem" && chmod 0600 "$dir/client/clientkey.pem"
    make_ca "$dir/wrong-ca" "$prefix wrong CA"
}

# The tests' SSH client key, made once; host I's SSH host key (made once) and authorised client
# key; and known_hosts with the host keys of hosts 1..N, written whole.
ensure_ssh() {
    local n=$1 i k
    mkdir -p "$dir/ssh"
    [ -f "$dir/ssh/id_ed25519" ] ||
        ssh-keygen -q -t ed25519 -N '' -C "$prefix tests" -f "$dir/ssh/id_ed25519"
    : >"$dir/ssh/known_hosts.new"
    for i in $(seq 1 "$n"); do
        k=$dir/h$i/ssh_host_ed25519_key
        mkdir -p "$dir/h$i"
        [ -f "$k" ] || ssh-keygen -q -t ed25519 -N '' -C "$prefix-h$i" -f "$k"
        cp "$dir/ssh/id_ed25519.pub" "$dir/h$i/authorized_keys"
        echo "$(host_ip "$i") $(cut -d' ' -f1,2 "$k.pub")" >>"$dir/ssh/known_hosts.new"
    done
    mv "$dir/ssh/known_hosts.new" "$dir/ssh/known_hosts"
}

ssh_answers() {
    ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout=2 \
        -o UserKnownHostsFile="$dir/ssh/known_hosts" -o GlobalKnownHostsFile=/dev/null \
        -o IdentityFile="$dir/ssh/id_ed25519" -o IdentitiesOnly=yes -o ControlPath=none \
        -o LogLevel=ERROR -p 22 "root@$1" true </dev/null >/dev/null 2>&1
}

# The server cert of host I (its IP as subjectAltName), made once.
ensure_server_cert() {
    local d=$dir/h$1
    [ -f "$d/cert.pem" ] || make_cert "$d" "$prefix-h$1" "$(host_ip "$1")"
}

# The recipe of a running host: the image, this script, the CA. A host of another recipe is
# replaced.
recipe() {
    (docker image inspect -f '{{.Id}}' "$image"; cat "${BASH_SOURCE[0]}" "$here/test-hosts/start-host"
        cat "$dir/ca/ca.pem" "$dir/ssh/id_ed25519.pub" "$dir"/h*/ssh_host_ed25519_key.pub) |
        sha256sum | cut -c1-16
}

docker_answers() {
    docker --tlsverify --tlscacert "$dir/client/ca.pem" --tlscert "$dir/client/cert.pem" \
        --tlskey "$dir/client/key.pem" -H "tcp://$1:2376" version >/dev/null 2>&1
}
libvirt_uri() { echo "qemu+tls://$1/system?pkipath=$dir/client"; }
libvirt_answers() { virsh -c "$(libvirt_uri "$1")" list --all >/dev/null 2>&1; }

ensure_underlay() {
    docker network inspect "$underlay" >/dev/null 2>&1 && return 0
    docker network create --driver bridge --subnet "$net.0/24" --gateway "$net.1" \
        -o "com.docker.network.bridge.name=$underlay" --label "$mark" "$underlay" >/dev/null
}

# start_host I RECIPE: (re)creates host I unless it runs with RECIPE.
start_host() {
    local i=$1 want=$2 name=$prefix-h$1 have
    have=$(docker inspect -f '{{.State.Running}} {{ index .Config.Labels "io.hub.recipe" }}' "$name" 2>/dev/null || true)
    [ "$have" = "true $want" ] && return 0
    docker rm -fv "$name" >/dev/null 2>&1 || true
    ensure_server_cert "$i"
    # The options tools/fresh-debian runs a "new machine" with (capabilities, seccomp and apparmor
    # unconfined, tun and kvm, the cgroups), and anonymous volumes for the engines' data (overlay2
    # cannot sit on overlay2); `down` removes them with the container. `--init`: an init that
    # reaps orphans, as a machine's has. QEMU processes that libvirtd daemonizes are reparented
    # to PID 1; without a reaper they stay zombies, and libvirtd waits for each to go away (its
    # first QEMU capability probe, done at the first `virsh define`, took 80 s).
    docker run -d --init --name "$name" --hostname "$name" --label "$mark" --label "io.hub.recipe=$want" \
        --network "$underlay" --ip "$(host_ip "$i")" \
        --cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined \
        --security-opt apparmor=unconfined --device /dev/net/tun --device /dev/kvm \
        -v /sys/fs/cgroup:/sys/fs/cgroup:rw --cgroupns=host \
        -v /var/lib/docker -v /var/lib/libvirt \
        -v "$dir/h$i":/fixture/server:ro -v "$here/test-hosts/start-host":/fixture/start-host:ro \
        -v /var/cache/hub-test:/var/cache/hub-test:ro \
        "$image" /fixture/start-host >/dev/null
}

wait_host() {
    local i=$1 ip
    ip=$(host_ip "$i")
    for _ in $(seq 1 240); do
        docker_answers "$ip" && libvirt_answers "$ip" && ssh_answers "$ip" && return 0
        if [ "$(docker inspect -f '{{.State.Running}}' "$prefix-h$i" 2>/dev/null)" != true ]; then
            docker logs --tail 30 "$prefix-h$i" >&2 || true
            die "host $prefix-h$i stopped while starting (its log is above)"
        fi
        sleep 0.5
    done
    docker exec "$prefix-h$i" tail -15 /var/log/dockerd.log /var/log/libvirtd.log /var/log/sshd.log >&2 || true
    die "host $prefix-h$i ($ip): dockerd on tcp://$ip:2376, libvirtd on $(libvirt_uri "$ip") or sshd on $ip:22 did not answer within 120 s (logs above)"
}

up() {
    local n=$1 want i
    [[ "$n" =~ ^[1-9]$ ]] || die "up N: N must be 1 to 9, not '$n'"
    # The image of this checkout's recipe (a no-op when it is built; another checkout may have
    # built its own under the same name).
    bash "$here/setup/60-host-image.sh" >&2 || die "building $image failed (see above)"
    [ -f /var/cache/hub-test/debian-12.qcow2 ] || mkdir -p /var/cache/hub-test
    ensure_pki
    ensure_ssh "$n"
    want=$(recipe)
    ensure_underlay
    for i in $(seq 1 "$n"); do start_host "$i" "$want"; done
    for i in $(seq 1 "$n"); do wait_host "$i"; done
    for i in $(seq 1 "$n"); do
        local ip
        ip=$(host_ip "$i")
        echo "$prefix-h$i $ip tcp://$ip:2376 $dir/client $(libvirt_uri "$ip") ssh://root@$ip:22 $dir/ssh"
    done
}

down() {
    local ids
    ids=$(docker ps -aq --filter "label=$mark")
    [ -z "$ids" ] || docker rm -fv $ids >/dev/null
    docker network rm "$underlay" >/dev/null 2>&1 || true
}

case "${1:-}" in
up) up "${2:-3}" ;;
down) down ;;
*) die "usage: $0 up N | down" ;;
esac
