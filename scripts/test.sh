#!/usr/bin/env bash
# Runs every test of the workspace against real Docker, libvirt/QEMU and WireGuard:
# prepares the host first (scripts/setup-host.sh), then format, lints and tests.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup-host.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --all-features -- -D warnings
echo "== cargo clippy, hub-core without default features"
cargo clippy -p hub-core --no-default-features --all-targets -- -D warnings
echo "== cargo build (the hub binary netd's image is made from)"
cargo build -p hub-cli
export HUB_BIN="$PWD/target/debug/hub"
echo "== cargo test"
cargo test --workspace --all-features --no-fail-fast 2>&1 | tee target/test-output.log
echo "== cargo test, hub-core without default features"
cargo test -p hub-core --no-default-features 2>&1 | tee -a target/test-output.log
echo "== cargo test, a downstream crate on hub-core's fakes and mocks (backends off)"
cargo test -p hub-downstream 2>&1 | tee -a target/test-output.log
