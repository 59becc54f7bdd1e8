#!/usr/bin/env bash
# Builds ship and its sample service (cargo's progress shows: the first build takes a few
# minutes), then runs `ship demo` (pass --scenario bad|slow to see an automatic rollback,
# --dir PATH to keep the workspace somewhere you choose).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p shiploop-cli -p shiploop-sample
exec ./target/release/ship demo "$@"
