#!/usr/bin/env bash
# Installs ship and its sample service from this checkout (scripts/install.sh: into
# $SHIP_INSTALL_DIR, default ~/.cargo/bin, with cargo's progress shown — the first build takes a
# few minutes on 2 cores), then runs `ship demo` with the arguments given (--scenario bad|slow
# to see an automatic rollback, --dir PATH to keep the workspace somewhere you choose).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install.sh >&2
exec "${SHIP_INSTALL_DIR:-$HOME/.cargo/bin}/ship" demo "$@"
