#!/usr/bin/env bash
# A progressive rollout driven by user commands, with the `ship` on PATH.
#   ./run.sh good   → canary 5 % → 25 % → 50 % → 100 %, exit 0
#   ./run.sh bad    → errors jump at 25 %: automatic rollback to 0 % and an incident signal
# Runs in a temporary copy of this folder; exits 0 only if the expected outcome happened.
set -euo pipefail
scenario="${1:-good}"
case "$scenario" in good|bad) ;; *) echo "usage: $0 good|bad" >&2; exit 2;; esac
here="$(cd "$(dirname "$0")" && pwd)"
command -v ship >/dev/null || { echo "ship is not on PATH (from a checkout of shiploop: ./scripts/install.sh)" >&2; exit 2; }
command -v ssh-keygen >/dev/null || { echo "ssh-keygen is missing (apt-get install -y openssh-client)" >&2; exit 2; }
for tool in ship-sample curl; do   # the staging copy for the rollback rehearsal
  command -v "$tool" >/dev/null || { echo "$tool is not on PATH" >&2; exit 2; }
done

work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
cp -R "$here/." "$work/"
cd "$work"
echo "$scenario" > scenario
fail() { echo "FAILED: $*" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
. ./gates.sh

ship init >/dev/null
ssh-keygen -q -t ed25519 -N '' -C alice@example.com -f alice.key
echo "alice@example.com namespaces=\"shiploop-release\" $(cut -d' ' -f1,2 alice.key.pub)" >> work/allowed_signers
staging_up
ship release new checkout-speedups --flag new-checkout >/dev/null
ship release submit checkout-speedups --as agent@example.com >/dev/null
ship release approve checkout-speedups --key alice.key >/dev/null

pass_gates checkout-speedups

echo "\$ ship rollout start checkout-speedups   # scenario: $scenario"
set +e; ship rollout start checkout-speedups; code=$?; set -e
weights=$(awk '{print $1}' router/history.log | uniq | paste -sd' ' -)
echo "router history: $weights"

if [ "$scenario" = good ]; then
  grep -q '^status: shipped' work/releases/*-checkout-speedups.md || fail "expected the release shipped: validated after 100 %"
  [ "$code" = 0 ] || fail "expected exit 0, got $code"
  [ "$weights" = "5 25 50 100" ] || fail "expected weights 5 25 50 100, got $weights"
  [ "$(cat router/weight)" = 100 ] || fail "the router should end at 100 %"
else
  [ "$code" = 1 ] || fail "expected exit 1 (rolled back), got $code"
  [ "$weights" = "5 25 0" ] || fail "expected weights 5 25 0, got $weights"
  [ "$(cat router/weight)" = 0 ] || fail "the router should end at 0 %"
  signal=$(ls work/signals/*.md 2>/dev/null | head -1)
  [ -n "$signal" ] || fail "no incident signal in work/signals/"
  grep -q "type: incident" "$signal" || fail "$signal is not an incident signal"
  echo "incident signal: ${signal#./}"
  sed -n '/^# Incident/,/^Decided/p' "$signal"
fi
ship audit verify
ship rollout status checkout-speedups
echo "command-router ($scenario): the expected outcome happened"
