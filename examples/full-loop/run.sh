#!/usr/bin/env bash
# The whole Ship loop, end to end, with the `ship` and `ship-sample` on PATH and Prometheus:
#   verdicts → release contract → human approval → pre-deployment gates → progressive rollout
#   through ship's proxy → post-deployment validation → handoff to Operate (STATUS.md) →
#   outcome measurement against Prometheus (report + charts) → feedback signals.
# Runs in a temporary copy of this folder on free loopback ports; exits 0 only when STATUS.md
# shows the mission in Operate and the outcome report exists.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
PATH="$PATH:/usr/sbin"
for tool in ship ship-sample prometheus prometheus-alertmanager python3 curl ssh-keygen; do
  command -v "$tool" >/dev/null || { echo "$tool is missing (see README.md)" >&2; exit 2; }
done

work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
cp -R "$here/." "$work/"
cd "$work"
fail() { echo "FAILED: $*" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
. ./gates.sh
# Ports: the proxy (P) and its admin API (A), the stable (S) and canary (C) versions,
# Prometheus (PP) and Alertmanager (AP).
P=$(free_port); A=$(free_port); S=$(free_port); C=$(free_port); PP=$(free_port); AP=$(free_port)
# A port that was free when it was chosen may be taken by the time its server starts (another
# program on this machine — a test suite runs many at once): then that server says so and
# stops, and is started again on a port chosen afresh, in ship.toml and prometheus.yml too.
new_port() { # variable name: a fresh port for it
  local old=${!1} new; new=$(free_port)
  sed -i "s/127\.0\.0\.1:$old\b/127.0.0.1:$new/g" ship.toml prometheus/prometheus.yml 2>/dev/null || true
  printf -v "$1" '%s' "$new"
}
taken() { grep -qiE "address already in use|already accepts connections" "$1"; }
# start NAME LOG READY-URL PORT-VARS... -- COMMAND...: runs COMMAND (its arguments read the port
# variables when evaluated) until READY-URL answers, with new ports when one was taken.
start() {
  local name=$1 log=$2 ready=$3; shift 3
  local vars=(); while [ "$1" != -- ]; do vars+=("$1"); shift; done; shift
  for _ in 1 2 3; do
    eval "$* >'$log' 2>&1 &"; local pid=$!; pids+=($pid)
    for _ in $(seq 300); do
      curl -sf "$(eval echo "$ready")" >/dev/null 2>&1 && kill -0 "$pid" 2>/dev/null && return 0
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    taken "$log" || break
    echo "($name: a port was taken meanwhile: new ports, once more)" >&2
    kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
    for v in "${vars[@]}"; do new_port "$v"; done
  done
  cat "$log" >&2; fail "$name did not start"
}
today=$(date -u +%F)

cat >> ship.toml <<TOML

[proxy]
listen = "127.0.0.1:$P"
admin = "127.0.0.1:$A"
sticky_header = "x-user-id"
health_interval = "1s"

[[proxy.instances]]
version = "stable"
address = "127.0.0.1:$S"
command = "ship-sample --version v1 --listen 127.0.0.1:$S"

[[proxy.instances]]
version = "canary"
address = "127.0.0.1:$C"
command = "ship-sample --version v2 --listen 127.0.0.1:$C"

[metrics.prometheus]
url = "http://127.0.0.1:$PP"

[alerts]
kind = "alertmanager"
url = "http://127.0.0.1:$AP"
TOML
export SHIP_ADMIN_TOKEN="example-$(date +%s%N)"

# Prometheus scrapes both versions every second (in production: your existing Prometheus).
mkdir -p prometheus
cat > prometheus/prometheus.yml <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: checkout
    static_configs:
      - {targets: ['127.0.0.1:$S'], labels: {version: v1}}
      - {targets: ['127.0.0.1:$C'], labels: {version: v2}}
YAML
start prometheus prometheus/log 'http://127.0.0.1:$PP/-/ready' PP -- \
  prometheus --config.file=prometheus/prometheus.yml --storage.tsdb.path=prometheus/data \
  '--web.listen-address=127.0.0.1:$PP'
prom_pid=${pids[-1]}
# Alertmanager alone: no alert fires in this example, and validation confirms it.
mkdir -p alertmanager
printf 'route: {receiver: none}\nreceivers: [{name: none}]\n' > alertmanager/alertmanager.yml
start alertmanager alertmanager/log 'http://127.0.0.1:$AP/-/ready' AP -- \
  prometheus-alertmanager --config.file=alertmanager/alertmanager.yml --storage.path=alertmanager/data \
  '--web.listen-address=127.0.0.1:$AP' --cluster.listen-address=

echo "== 1. Release contract from the Build loop's PASS verdicts, approved by a human"
ship init >/dev/null
ssh-keygen -q -t ed25519 -N '' -C alice@example.com -f alice.key
echo "alice@example.com namespaces=\"shiploop-release\" $(cut -d' ' -f1,2 alice.key.pub)" >> work/allowed_signers
ship mission new checkout >/dev/null
# The mission's outcome contract: what must change in production, measured when.
cat > work/missions/checkout/OUTCOME-CONTRACT.md <<YAML
---
mission: checkout
metrics:
- name: success-ratio
  source: prometheus
  query: sum(rate(http_requests_total{code!~"5.."}[1m])) / sum(rate(http_requests_total[1m]))
  comparison: '>='
  target: 0.995
  baseline: 0.99
- name: checkout-p99-seconds
  source: prometheus
  query: histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[1m])))
  comparison: '<='
  target: 0.25
  baseline: 0.4
- name: new-version-error-rate
  source: builtin
  query: canary/error_rate
  comparison: '<='
  target: 0.01
measurement_schedule:
- name: launch
  date: $today
- name: week-1
  date: $(date -u -d '+7 days' +%F)
- name: day-30
  date: $(date -u -d '+30 days' +%F)
---
# Outcome contract: checkout

## Why this mission exists

Checkout was slow at p99; the new page should be faster without losing reliability.
YAML
ship release new checkout-speedups --mission checkout --flag new-checkout
ship release submit checkout-speedups --as agent@example.com >/dev/null
ship release approve checkout-speedups --key alice.key >/dev/null
echo "approved by alice; the agent that submitted it could not have"

echo "== 2. Pre-deployment gates"
staging_up
start "ship proxy" proxy.log 'http://127.0.0.1:$P/checkout' P A S C -- ship proxy
# Prometheus scrapes the versions where they run now (their ports may have moved).
kill -HUP "$prom_pid"
ship load "http://127.0.0.1:$P/checkout" --rate 400 --users 5000 --user-header x-user-id >/dev/null & pids+=($!)
sleep 2
pass_gates checkout-speedups

echo "== 3-4. Progressive rollout and post-deployment validation"
echo "\$ ship rollout start checkout-speedups"
ship rollout start checkout-speedups || fail "the rollout should complete and validate"
grep -q '^status: shipped' work/releases/*-checkout-speedups.md || fail "the release is not shipped"

echo "== Exit criteria and handoff to Operate"
echo "\$ ship handoff checkout-speedups"
ship handoff checkout-speedups || fail "the handoff should pass"
grep -q '| checkout | operate |' STATUS.md || fail "STATUS.md does not show checkout in operate"
sed -n '/ship:begin missions/,/ship:end missions/p' STATUS.md

echo "== 5-6. Outcome measurement and feedback signals"
sleep 3   # a few more scrapes since the rollout ended
echo "\$ ship operate tick"
ship operate tick || fail "the first tick should measure the launch checkpoint"
report="work/missions/checkout/reports/$today-launch.md"
[ -f "$report" ] || fail "no outcome report $report"
ls "work/missions/checkout/reports/"
ls work/missions/checkout/reports/*.svg >/dev/null || fail "no charts next to the report"
sed -n '/^| metric/,/^$/p' "$report"
echo "\$ ship operate tick   # again: nothing left to measure today"
ship operate tick | tee tick2.out
grep -q "launch: already measured" tick2.out || fail "the second tick should measure nothing"
echo "\$ ship status"
ship status
ship audit verify
echo "full-loop: the expected outcome happened (mission in Operate, outcome report written)"
