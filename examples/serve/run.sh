#!/usr/bin/env bash
# A rollout handed to `ship serve` and followed over its HTTP API, with the `ship` on PATH:
# the server starts, `ship rollout start --detach` submits the rollout after its gates, the
# API shows it move 5 % → 25 % → 50 % → 100 % and validate; SIGTERM stops the server cleanly.
# Runs in a temporary copy of this folder on free loopback ports; exits 0 only if the rollout
# completed, the release is shipped, and the API and /metrics said so.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
for tool in ship ship-sample curl python3 ssh-keygen; do
  command -v "$tool" >/dev/null || { echo "$tool is not on PATH" >&2; exit 2; }
done

work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
cp -R "$here/." "$work/"
cd "$work"
echo good > scenario
fail() { echo "FAILED: $*" >&2; [ -f serve.log ] && tail -20 serve.log >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
. ./gates.sh

PORT=$(free_port)
cat >> ship.toml <<TOML

[server]
listen = "127.0.0.1:$PORT"
TOML
# Tokens come from the environment (or server.tokens_file), never from ship.toml.
export VIEWER="viewer-$(date +%s%N)" OPERATOR="operator-$(date +%s%N)"
export SHIP_API_TOKENS="viewer:$VIEWER,operator:$OPERATOR"
api() { curl -sf -H "authorization: Bearer $VIEWER" "http://127.0.0.1:$PORT$1"; }

ship init >/dev/null
ssh-keygen -q -t ed25519 -N '' -C alice@example.com -f alice.key
echo "alice@example.com namespaces=\"shiploop-release\" $(cut -d' ' -f1,2 alice.key.pub)" >> work/allowed_signers
staging_up
ship release new checkout-speedups --flag new-checkout >/dev/null
ship release submit checkout-speedups --as agent@example.com >/dev/null
ship release approve checkout-speedups --key alice.key >/dev/null
id=$(ls work/releases/ | grep -v _TEMPLATE | sed 's/\.md$//')

echo "\$ ship serve &"
ship serve > serve.log 2>&1 & serve_pid=$!; pids+=($serve_pid)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null || fail "ship serve did not start"
head -1 serve.log

pass_gates checkout-speedups
echo "\$ ship rollout start checkout-speedups --detach"
ship rollout start checkout-speedups --detach

# Follow it over the API, as a CI job or an agent would.
last=""
for _ in $(seq 600); do
  state=$(api "/api/v1/rollouts/$id" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["phase"], r["stage"], r["weight"])' 2>/dev/null || echo "pending")
  status=$(api "/api/v1/releases/$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["contract"]["status"])')
  line="$state ($status)"
  [ "$line" != "$last" ] && echo "  api: $line"
  last="$line"
  case "$state" in rolled-back*|failed*) fail "the rollout ended $state";; esac
  [ "$status" = shipped ] && break
  sleep 0.2
done
[ "$status" = shipped ] || fail "the release never shipped: $last"

weights=$(awk '{print $1}' router/history.log | uniq | paste -sd' ' -)
echo "router history: $weights"
[ "$weights" = "5 25 50 100" ] || fail "expected weights 5 25 50 100, got $weights"
api /metrics | grep -E '^ship_(rollouts|ticks_total|decisions_total\{kind="complete"\})' | tee metrics.out
grep -q 'ship_rollouts{phase="completed"} 1' metrics.out || fail "/metrics does not count the completed rollout"
# A viewer cannot act; an operator's command on a finished rollout is a conflict.
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "authorization: Bearer $VIEWER" \
  -H 'content-type: application/json' -d '{"reason":"x"}' "http://127.0.0.1:$PORT/api/v1/rollouts/$id/pause")
[ "$code" = 403 ] || fail "a viewer's pause answered $code, not 403"

echo "\$ kill -TERM ship serve"
kill -TERM "$serve_pid"
wait "$serve_pid" || fail "ship serve did not exit 0 on SIGTERM"
tail -1 serve.log
ship audit verify
echo "serve: the expected outcome happened"
