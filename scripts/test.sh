#!/usr/bin/env bash
# The whole test suite: installs what the tests need, then lint gates, unit and integration
# tests, and every example under examples/ with the freshly built `ship` on PATH.
# In CI (CI=true) a missing tool or server is installed or the run fails; nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    echo "missing: $* — install with: sudo apt-get install -y $*" >&2
    exit 1
  fi
}
command -v ssh-keygen >/dev/null || apt_install openssh-client

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo build --workspace --locked
cargo test --workspace --locked
PATH="$PWD/target/debug:$PATH" examples/run-all.sh
