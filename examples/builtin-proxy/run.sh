#!/usr/bin/env bash
# A progressive rollout through ship's built-in proxy, with the `ship` and `ship-sample` on PATH.
#   ./run.sh good   → canary 5 % → 25 % → 50 % → 100 % of live traffic, exit 0
#   ./run.sh bad    → v2 answers 5 % of requests with 500: automatic rollback, incident signal
# Runs in a temporary copy of this folder, on free loopback ports; exits 0 only if the expected
# outcome happened.
set -euo pipefail
scenario="${1:-good}"
case "$scenario" in good|bad) ;; *) echo "usage: $0 good|bad" >&2; exit 2;; esac
here="$(cd "$(dirname "$0")" && pwd)"
for tool in ship ship-sample; do
  command -v "$tool" >/dev/null || { echo "$tool is not on PATH (from a checkout of shiploop: ./scripts/install.sh)" >&2; exit 2; }
done
command -v ssh-keygen >/dev/null || { echo "ssh-keygen is missing (apt-get install -y openssh-client)" >&2; exit 2; }

work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
cp -R "$here/." "$work/"
cd "$work"
fail() { echo "FAILED: $*" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
. ./gates.sh
P=$(free_port); A=$(free_port); S=$(free_port); C=$(free_port)
v2_flags=""; [ "$scenario" = bad ] && v2_flags="--error-rate 0.05"
cat >> ship.toml <<TOML

[proxy]
listen = "127.0.0.1:$P"
admin = "127.0.0.1:$A"
sticky_header = "x-user-id"
health_interval = "1s"
resource_interval = "1s"

[[proxy.instances]]
version = "stable"
address = "127.0.0.1:$S"
command = "ship-sample --version v1 --listen 127.0.0.1:$S"

[[proxy.instances]]
version = "canary"
address = "127.0.0.1:$C"
command = "ship-sample --version v2 --listen 127.0.0.1:$C $v2_flags"
TOML
export SHIP_ADMIN_TOKEN="example-$(date +%s%N)"

ship init >/dev/null
ssh-keygen -q -t ed25519 -N '' -C alice@example.com -f alice.key
echo "alice@example.com namespaces=\"shiploop-release\" $(cut -d' ' -f1,2 alice.key.pub)" >> work/allowed_signers
staging_up
ship release new checkout-speedups --flag new-checkout >/dev/null
ship release submit checkout-speedups --as agent@example.com >/dev/null
ship release approve checkout-speedups --key alice.key >/dev/null

admin() { curl -sf -H "authorization: Bearer $SHIP_ADMIN_TOKEN" "http://127.0.0.1:$A$1"; }
# A port that was free when it was chosen, above, may be taken by the time the proxy and the
# versions start (another program on this machine — a test suite runs many at once): then the
# proxy says so and stops, and is started again on ports chosen afresh, at most three times.
new_port() { # variable name: a fresh port for it, in ship.toml too
  local old=${!1} new; new=$(free_port)
  sed -i "s/127\.0\.0\.1:$old\b/127.0.0.1:$new/g" ship.toml
  printf -v "$1" '%s' "$new"
}
start_proxy() {
  for _ in 1 2 3; do
    ship proxy > "proxy-$1.log" 2>&1 & proxy_pid=$!; pids+=($proxy_pid)
    for _ in $(seq 100); do
      admin /state >/dev/null && return 0
      kill -0 "$proxy_pid" 2>/dev/null || break
      sleep 0.1
    done
    grep -qE "already accepts connections|[Aa]ddress already in use" "proxy-$1.log" || break
    cat "proxy-$1.log" >&2; echo "(a port was taken meanwhile: new ports, once more)" >&2
    kill "$proxy_pid" 2>/dev/null || true; wait "$proxy_pid" 2>/dev/null || true
    for v in P A S C; do new_port "$v"; done
  done
  cat "proxy-$1.log" >&2; fail "ship proxy did not start"
}
echo "\$ ship proxy &"
start_proxy 1
cat proxy-1.log
ship load "http://127.0.0.1:$P/checkout" --rate 400 --users 5000 --user-header x-user-id >/dev/null & pids+=($!)
sleep 2

pass_gates checkout-speedups

echo "\$ ship rollout start checkout-speedups   # scenario: $scenario"
set +e; ship rollout start checkout-speedups; code=$?; set -e
weight=$(admin /state | python3 -c 'import json,sys; print(json.load(sys.stdin)["weight"])')
phase=$(ship rollout status checkout-speedups --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"]["phase"]["phase"])')
echo "rollout phase: $phase, proxy weight: $weight %"
admin "/measure?window=30" | python3 -c '
import json, sys
m = json.load(sys.stdin)
for k in ("stable/requests", "stable/errors", "canary/requests", "canary/errors", "stable/error_rate", "canary/error_rate", "canary/latency_p99", "canary/memory_rss_bytes", "canary/cpu_cores"):
    print(f"  {k}: {m.get(k)}")'

if [ "$scenario" = good ]; then
  grep -q '^status: shipped' work/releases/*-checkout-speedups.md || fail "expected the release shipped: validated after 100 %"
  [ "$code" = 0 ] || fail "expected exit 0, got $code"
  [ "$phase" = completed ] || fail "expected phase completed, got $phase"
  [ "$weight" = 100 ] || fail "the proxy should end at 100 %"
  # The proxy keeps the weight the rollout set across a restart.
  kill "$proxy_pid"; wait "$proxy_pid" 2>/dev/null || true
  for _ in $(seq 50); do admin /state >/dev/null 2>&1 || break; sleep 0.1; done
  start_proxy 2
  weight=$(admin /state | python3 -c 'import json,sys; print(json.load(sys.stdin)["weight"])')
  [ "$weight" = 100 ] || fail "after a restart the proxy serves $weight %, not the 100 % the rollout set"
  echo "restarted proxy still serves 100 % to v2"
else
  [ "$code" = 1 ] || fail "expected exit 1 (rolled back), got $code"
  [ "$phase" = rolled-back ] || fail "expected phase rolled-back, got $phase"
  [ "$weight" = 0 ] || fail "the proxy should end at 0 %"
  signal=$(ls work/signals/*.md 2>/dev/null | head -1)
  [ -n "$signal" ] || fail "no incident signal in work/signals/"
  grep -q "type: incident" "$signal" || fail "$signal is not an incident signal"
  echo "incident signal: ${signal#./}"
fi
ship rollout status checkout-speedups --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
rss = [f for d in s.get("decisions", []) for f in d.get("findings", []) if "memory_rss_bytes" in json.dumps(f)]
sys.exit(0 if rss else "no decision mentions canary/memory_rss_bytes: resource usage was not checked")' \
  || fail "resource usage was not part of the decisions"
ship audit verify
echo "builtin-proxy ($scenario): the expected outcome happened"
