#!/usr/bin/env bash
# "What would ship have done with last Tuesday's incident?" — an incident recorded by real
# Prometheus, exported as a trace of per-interval counts, replayed through ship's judge.
#   ./run.sh   → v2 served 5 % of 200 req/s and failed 10 % of them (v1: 1 %); the judge would
#                have rolled it back within seconds, and says after how many failed requests
# Needs ship and ship-sample on PATH, prometheus, python3, curl. Runs in a temporary copy of
# this folder on free loopback ports; exits 0 only if the expected outcome happened.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
PATH="$PATH:/usr/sbin"
for tool in ship ship-sample prometheus python3 curl; do
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
V1=127.0.0.1:$(free_port); V2=127.0.0.1:$(free_port); PROM=127.0.0.1:$(free_port)

# Last Tuesday: v1 fails 1 % of requests, the new v2 10 %, at random.
ship-sample --version v1 --listen "$V1" --error-rate 0.01 --random-errors --seed 7 >/dev/null & pids+=($!)
ship-sample --version v2 --listen "$V2" --error-rate 0.10 --random-errors --seed 8 >/dev/null & pids+=($!)
mkdir -p prometheus
cat > prometheus/prometheus.yml <<YAML
global: {scrape_interval: 1s}
scrape_configs:
  - job_name: checkout
    static_configs:
      - {targets: ['$V1'], labels: {version: v1}}
      - {targets: ['$V2'], labels: {version: v2}}
YAML
prometheus --config.file=prometheus/prometheus.yml --storage.tsdb.path=prometheus/data \
  --web.listen-address="$PROM" >prometheus/log 2>&1 & pids+=($!)
for _ in $(seq 150); do curl -sf "http://$PROM/-/ready" >/dev/null && break; sleep 0.2; done
curl -sf "http://$PROM/-/ready" >/dev/null || fail "prometheus did not start"

start=$(date +%s)
python3 load.py "$V1" "$V2" 200 0.05 & pids+=($!)
echo "recording 90 s of the incident in Prometheus (200 req/s, 5 % to v2)…"
sleep 92
end=$(date +%s)

echo "\$ export-trace.py http://$PROM $start $end 5 'job=\"checkout\",version=\"v1\"' 'job=\"checkout\",version=\"v2\"' > trace.csv"
python3 export-trace.py "http://$PROM" "$start" "$end" 5 \
  'job="checkout",version="v1"' 'job="checkout",version="v2"' > trace.csv
head -4 trace.csv; echo "  … $(($(wc -l < trace.csv) - 1)) intervals of 5 s"

ship init >/dev/null
echo "\$ ship judge replay trace.csv"
ship judge replay trace.csv
verdict=$(ship judge replay trace.csv --json)
python3 - "$verdict" <<'PY' || fail "the judge should have rolled v2 back within the first minute"
import json, sys
v = json.loads(sys.argv[1])
assert v["verdict"] == "rollback", v
assert v["trigger"] == "error-rate", v
assert v["at"] <= 60, v
assert "above the 1 pp margin with 99 % confidence" in v["detail"], v
print(f"the judge would have rolled v2 back at t={v['at']:g} s, after {v['canary_errors_before_decision']} failed canary requests")
PY
echo "judge-replay: the expected outcome happened"
