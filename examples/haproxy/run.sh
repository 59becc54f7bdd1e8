#!/usr/bin/env bash
# A rollout through real HAProxy, weights over its runtime API.
#   ./run.sh good   → 5 % → 25 % → 50 % → 100 %: HAProxy ends serving only v2 — also after a restart
#   ./run.sh bad    → v2 answers 8 % errors: rollback, HAProxy serves only v1
# Needs ship and ship-sample on PATH, haproxy, python3, curl, ssh-keygen. Runs in a temporary
# copy of this folder on free loopback ports; exits 0 only if the expected outcome happened.
set -euo pipefail
scenario="${1:-good}"
case "$scenario" in good|bad) ;; *) echo "usage: $0 good|bad" >&2; exit 2;; esac
here="$(cd "$(dirname "$0")" && pwd)"
PATH="$PATH:/usr/sbin"
for tool in ship ship-sample haproxy python3 curl ssh-keygen; do
  command -v "$tool" >/dev/null || { echo "$tool is missing (see README.md)" >&2; exit 2; }
done

work="$(mktemp -d)"
pids=(); hp=""
cleanup() { for p in "${pids[@]}" $hp; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
cp -R "$here/." "$work/"
cd "$work"
fail() { echo "FAILED: $*" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
. ./gates.sh
export V1=127.0.0.1:$(free_port) V2=127.0.0.1:$(free_port)
FRONT=127.0.0.1:$(free_port)
sed -i "s|@FRONT@|$FRONT|g" ship.toml

v2_flags=""; [ "$scenario" = bad ] && v2_flags="--error-rate 0.08"
ship-sample --version v1 --listen "$V1" >/dev/null & pids+=($!)
ship-sample --version v2 --listen "$V2" $v2_flags >/dev/null & pids+=($!)

# HAProxy: backend checkout with v1 at weight 100 and v2 at 0; weights are read back from the
# server-state-file at start, which ship rewrites after every change.
mkdir -p haproxy
cat > haproxy/haproxy.cfg <<CFG
global
  stats socket $work/haproxy/admin.sock mode 600 level admin
  server-state-file $work/haproxy/servers.state
defaults
  mode http
  timeout connect 2s
  timeout client 10s
  timeout server 10s
  load-server-state-from-file global
frontend fe
  bind $FRONT
  default_backend checkout
backend checkout
  balance roundrobin
  server stable $V1 weight 100
  server canary $V2 weight 0
CFG
start_haproxy() {
  rm -f haproxy/admin.sock
  haproxy -db -f haproxy/haproxy.cfg >haproxy/log 2>&1 & hp=$!
  for _ in $(seq 100); do [ -S haproxy/admin.sock ] && curl -sf "http://$FRONT/healthz" >/dev/null && return 0; sleep 0.1; done
  cat haproxy/log >&2; fail "haproxy did not start"
}
served() { for _ in $(seq 30); do curl -s "http://$FRONT/checkout" | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])'; done | sort -u | paste -sd' ' -; }
start_haproxy
ship load "http://$FRONT/checkout" --rate 400 --users 5000 --user-header x-user-id >/dev/null & pids+=($!)

ship init >/dev/null
ssh-keygen -q -t ed25519 -N '' -C alice@example.com -f alice.key
echo "alice@example.com namespaces=\"shiploop-release\" $(cut -d' ' -f1,2 alice.key.pub)" >> work/allowed_signers
staging_up
ship release new checkout-speedups --flag new-checkout >/dev/null
ship release submit checkout-speedups --as agent@example.com >/dev/null
ship release approve checkout-speedups --key alice.key >/dev/null
python3 measure.py >/dev/null   # start counting from here

pass_gates checkout-speedups

echo "\$ ship rollout start checkout-speedups   # scenario: $scenario"
set +e; ship rollout start checkout-speedups; code=$?; set -e
now=$(served); echo "HAProxy now serves: $now"
if [ "$scenario" = good ]; then
  grep -q '^status: shipped' work/releases/*-checkout-speedups.md || fail "expected the release shipped: validated after 100 %"
  [ "$code" = 0 ] || fail "expected exit 0, got $code"
  [ "$now" = v2 ] || fail "HAProxy should serve only v2, serves: $now"
  kill "$hp"; wait "$hp" 2>/dev/null || true
  start_haproxy
  now=$(served); echo "after a HAProxy restart: $now"
  [ "$now" = v2 ] || fail "after a restart HAProxy serves $now: the weights were not kept"
else
  [ "$code" = 1 ] || fail "expected exit 1 (rolled back), got $code"
  [ "$now" = v1 ] || fail "HAProxy should serve only v1, serves: $now"
fi
echo "server state kept for reloads:"; grep -E "stable|canary" haproxy/servers.state | awk '{print "  " $4 " weight " $8}'
ship audit verify
echo "haproxy ($scenario): the expected outcome happened"
