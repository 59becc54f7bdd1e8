#!/usr/bin/env bash
# The whole test suite: installs what the tests need, then lint gates, unit and integration
# tests — README.md's console blocks (tests/readme_tour.rs) and every example under examples/ as
# its README says (tests/examples.rs) among them.
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
# The integration tests start their own servers on loopback (never the system services).
need=()
command -v ssh-keygen >/dev/null || need+=(openssh-client)
command -v curl >/dev/null || need+=(curl)
# The README tour's stand-in services and admin tokens.
command -v python3 >/dev/null || need+=(python3)
command -v openssl >/dev/null || need+=(openssl)
command -v prometheus >/dev/null || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null || need+=(prometheus-alertmanager)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
# The dashboard's browser test drives Debian's headless Chromium through ChromeDriver.
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
# The state store's PostgreSQL tests start a throw-away cluster with Debian's initdb and pg_ctl.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
if [ "${#need[@]}" -gt 0 ]; then apt_install --no-install-recommends "${need[@]}"; fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo build --workspace --locked
# The tests: cargo nextest runs the test binaries' tests side by side (.config/nextest.toml says
# how many and which may not share the machine); it does not run doc tests, cargo test does.
# Without nextest, cargo test runs them all, one binary after the other (slower, same tests).
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked
  cargo test --workspace --locked --doc
else
  echo "cargo-nextest is missing: running cargo test (slower; cargo install cargo-nextest --locked)" >&2
  cargo test --workspace --locked
fi
