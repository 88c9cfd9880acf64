#!/usr/bin/env bash
# Starts dockerd when nothing answers on /var/run/docker.sock, and waits until it does.
set -euo pipefail
if docker version >/dev/null 2>&1; then exit 0; fi
setsid dockerd >/var/log/dockerd.log 2>&1 </dev/null &
for _ in $(seq 1 120); do
    docker version >/dev/null 2>&1 && exit 0
    sleep 0.5
done
echo "dockerd did not answer within 60 s; see /var/log/dockerd.log" >&2
tail -20 /var/log/dockerd.log >&2
exit 1
