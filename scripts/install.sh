#!/usr/bin/env bash
# Installs `ship` and `ship-sample` (the sample service the tour and the examples use) from this
# checkout into $SHIP_INSTALL_DIR (default ~/.cargo/bin), building them with cargo's progress shown.
# The first build on a 2-core machine takes several minutes; later ones are quick.
# SHIP_INSTALL_PROFILE=dev installs the debug build instead (the test suite uses it).
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${SHIP_INSTALL_PROFILE:-release}"
dir="${SHIP_INSTALL_DIR:-$HOME/.cargo/bin}"
command -v cargo >/dev/null || { echo "cargo is missing: install Rust from https://rustup.rs" >&2; exit 2; }
cargo build --profile "$profile" --locked -p shiploop-cli -p shiploop-sample
out="target/$profile"; [ "$profile" = dev ] && out="target/debug"
mkdir -p "$dir"
for bin in ship ship-sample; do
  install -m 0755 "$out/$bin" "$dir/$bin.new" && mv -f "$dir/$bin.new" "$dir/$bin"
done
echo "installed ship and ship-sample in $dir ($("$dir/ship" --version))"
case ":$PATH:" in
  *":$dir:"*) ;;
  *) echo "note: $dir is not on your PATH: export PATH=\"$dir:\$PATH\"" ;;
esac
