#!/usr/bin/env bash
# A tour of the Ship loop so far: builds `ship` and runs the release-approval example with it.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q -p shiploop-cli
PATH="$PWD/target/release:$PATH" examples/release-approval/run.sh
