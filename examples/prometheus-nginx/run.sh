#!/usr/bin/env bash
# A rollout through real nginx, measured by real Prometheus, with Alertmanager and a webhook.
#   ./run.sh good   → 5 % → 25 % → 50 % → 100 %: nginx ends serving only v2, exit 0
#   ./run.sh bad    → v2 answers 5 % errors (Prometheus sees it): rollback, nginx serves only v1
# Needs ship and ship-sample on PATH, nginx, prometheus, prometheus-alertmanager, python3, curl,
# ssh-keygen. Runs in a temporary copy of this folder on free loopback ports; exits 0 only if
# the expected outcome happened.
set -euo pipefail
scenario="${1:-good}"
case "$scenario" in good|bad) ;; *) echo "usage: $0 good|bad" >&2; exit 2;; esac
here="$(cd "$(dirname "$0")" && pwd)"
PATH="$PATH:/usr/sbin"
for tool in ship ship-sample nginx prometheus prometheus-alertmanager python3 curl ssh-keygen; do
  command -v "$tool" >/dev/null || { echo "$tool is missing (see README.md)" >&2; exit 2; }
done

work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
cp -R "$here/." "$work/"
cd "$work"
fail() { echo "FAILED: $*" >&2; [ -f nginx/logs/error.log ] && tail -5 nginx/logs/error.log >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
. ./gates.sh
wait_http() { for _ in $(seq 150); do curl -sf "$1" >/dev/null && return 0; sleep 0.2; done; fail "$2 did not start"; }
V1=127.0.0.1:$(free_port); V2=127.0.0.1:$(free_port); FRONT=127.0.0.1:$(free_port)
STATUS=127.0.0.1:$(free_port); PROM=127.0.0.1:$(free_port); AM=127.0.0.1:$(free_port)
HOOK=127.0.0.1:$(free_port)
export HOOK_SECRET="example-$(date +%s%N)"

# The two versions of the service.
v2_flags=""; [ "$scenario" = bad ] && v2_flags="--error-rate 0.05"
ship-sample --version v1 --listen "$V1" >/dev/null & pids+=($!)
ship-sample --version v2 --listen "$V2" $v2_flags >/dev/null & pids+=($!)

# Prometheus scraping both every second; Alertmanager alone; the webhook receiver.
mkdir -p prometheus alertmanager nginx/logs
cat > prometheus/prometheus.yml <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: checkout
    # The version is a target label (as relabelled pod labels are), so \`up\` has it too.
    static_configs:
      - {targets: ['$V1'], labels: {version: v1}}
      - {targets: ['$V2'], labels: {version: v2}}
YAML
prometheus --config.file=prometheus/prometheus.yml --storage.tsdb.path=prometheus/data \
  --web.listen-address="$PROM" >prometheus/log 2>&1 & pids+=($!)
printf 'route: {receiver: none}\nreceivers: [{name: none}]\n' > alertmanager/alertmanager.yml
prometheus-alertmanager --config.file=alertmanager/alertmanager.yml --storage.path=alertmanager/data \
  --web.listen-address="$AM" --cluster.listen-address= >alertmanager/log 2>&1 & pids+=($!)
python3 receiver.py "${HOOK#*:}" & pids+=($!)

# nginx: the include ship owns starts with everything on v1 (ship rewrites it at every step).
cat > nginx/ship-checkout.conf <<CONF
upstream ship_checkout_stable { server $V1; }
upstream ship_checkout_canary { server $V2; }
split_clients "\$http_x_user_id" \$ship_checkout_upstream { * ship_checkout_stable; }
server { listen $STATUS; location = /ship-weight { return 200 "0\n"; } }
CONF
cat > nginx/nginx.conf <<CONF
daemon off;
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 512; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body; proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fcgi; uwsgi_temp_path $work/nginx/uwsgi; scgi_temp_path $work/nginx/scgi;
  include $work/nginx/ship-checkout.conf;
  server {
    listen $FRONT;
    location / { proxy_pass http://\$ship_checkout_upstream; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
CONF
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" & pids+=($!)

sed -i -e "s|@V1@|$V1|g" -e "s|@V2@|$V2|g" -e "s|@FRONT@|$FRONT|g" -e "s|@STATUS@|$STATUS|g" \
  -e "s|@PROM@|$PROM|g" -e "s|@AM@|$AM|g" -e "s|@HOOK@|$HOOK|g" \
  -e "s|@NGINX_CONF@|$work/nginx/nginx.conf|g" -e "s|@NGINX_PREFIX@|$work/nginx|g" ship.toml
wait_http "http://$PROM/-/ready" prometheus
wait_http "http://$AM/-/ready" alertmanager
wait_http "http://$FRONT/checkout" nginx
ship load "http://$FRONT/checkout" --rate 400 --users 5000 --user-header x-user-id >/dev/null & pids+=($!)
sleep 4   # a few scrapes, so the first window has data

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
served=$(for _ in $(seq 30); do curl -s "http://$FRONT/checkout" | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])'; done | sort -u | paste -sd' ' -)
echo "nginx now serves: $served"
echo "webhook receiver got:"; sed 's/^/  /' events.log
grep -q BAD-SIGNATURE events.log && fail "a webhook arrived with a bad signature"
grep -q "release.approval-needed" events.log || fail "no approval-needed event"
grep -q "rollout.started" events.log || fail "no started event"
if [ "$scenario" = good ]; then
  grep -q '^status: shipped' work/releases/*-checkout-speedups.md || fail "expected the release shipped: validated after 100 %"
  [ "$code" = 0 ] || fail "expected exit 0, got $code"
  [ "$served" = v2 ] || fail "nginx should serve only v2, serves: $served"
  grep -q "rollout.completed" events.log || fail "no completed event"
else
  [ "$code" = 1 ] || fail "expected exit 1 (rolled back), got $code"
  [ "$served" = v1 ] || fail "nginx should serve only v1, serves: $served"
  grep -q "rollout.rolled-back" events.log || fail "no rolled-back event"
  status=$(ship rollout status checkout-speedups --json)   # (not piped into grep -q: pipefail)
  grep -q "above the 1 pp margin with 99 % confidence" <<<"$status" || fail "the decision does not show the counts Prometheus measured"
fi
ship audit verify
echo "prometheus-nginx ($scenario): the expected outcome happened"
