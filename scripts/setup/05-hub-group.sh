#!/usr/bin/env bash
# Creates the `hub` group when the host has none: `hub serve` gives its unix socket (mode 0660)
# and the socket's folder to this group, so its members may use the API without being root.
set -euo pipefail
getent group hub >/dev/null || groupadd --system hub
