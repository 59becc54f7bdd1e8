#!/usr/bin/env bash
# Past one machine: three `ship serve` replicas share one PostgreSQL, two ship proxies carry live
# traffic as one fleet, and the replica driving the rollout is killed (SIGKILL) in the middle of
# it. Another replica takes the rollout over and completes it: 5 % → 25 % → 50 % → 100 % on both
# proxies, no stage entered twice, one continuous hash-chained event log.
# Runs in a temporary copy of this folder, on free loopback ports, with a throw-away PostgreSQL
# cluster (Debian's `postgresql` package) under it; exits 0 only if all of that happened.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
for tool in ship ship-sample curl python3 ssh-keygen; do
  command -v "$tool" >/dev/null || { echo "$tool is not on PATH (from a checkout of shiploop: ./scripts/install.sh)" >&2; exit 2; }
done
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$pgbin/initdb" ] || { echo "PostgreSQL is missing (apt-get install -y postgresql)" >&2; exit 2; }

work="$(mktemp -d)"
chmod 711 "$work"   # the cluster's owner must reach its folder
pids=()
as_pg=()
[ "$(id -u)" = 0 ] && as_pg=(runuser -u postgres --)   # initdb refuses to run as root
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -d "$work/pg/data" ] && "${as_pg[@]}" "$pgbin/pg_ctl" -D "$work/pg/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
cp -R "$here/." "$work/"
cd "$work"
fail() {
  echo "FAILED: $*" >&2
  for f in serve-*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -15 "$f" >&2; }; done
  [ -n "${id:-}" ] && ship rollout status "$id" >&2 2>&1 | tail -25
  exit 1
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
. ./gates.sh

# PostgreSQL: a cluster of its own on a loopback port, its socket in the cluster's folder.
PG=$(free_port)
mkdir -p pg && [ "${#as_pg[@]}" -gt 0 ] && chown postgres pg
"${as_pg[@]}" "$pgbin/initdb" -D pg/data -U ship -A trust --no-sync >/dev/null
"${as_pg[@]}" "$pgbin/pg_ctl" -D pg/data -l pg/log -w \
  -o "-p $PG -k $work/pg -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
"${as_pg[@]}" "$pgbin/createdb" -h 127.0.0.1 -p "$PG" -U ship ship
# The state database for every ship command below: [state] url_env's variable (a password
# would go here, never in ship.toml).
export SHIP_STATE_URL="postgres://ship@127.0.0.1:$PG/ship"
echo "postgresql: 127.0.0.1:$PG (database ship)"

# Two versions of the service, and two ship proxies in front of both: one fleet.
S=$(free_port); C=$(free_port); P1=$(free_port); A1=$(free_port); P2=$(free_port); A2=$(free_port)
export SHIP_ADMIN_TOKEN="example-$(date +%s%N)"
ship-sample --version v1 --listen "127.0.0.1:$S" >/dev/null 2>&1 & pids+=($!)
ship-sample --version v2 --listen "127.0.0.1:$C" >/dev/null 2>&1 & pids+=($!)
for n in 1 2; do
  P=P$n; A=A$n
  ship proxy --stable "127.0.0.1:$S" --canary "127.0.0.1:$C" --weight 0 --sticky-header x-user-id \
    --listen "127.0.0.1:${!P}" --admin "127.0.0.1:${!A}" > "proxy-$n.log" 2>&1 & pids+=($!)
done
admin() { curl -sf -H "authorization: Bearer $SHIP_ADMIN_TOKEN" "http://127.0.0.1:$1$2"; }
for A in $A1 $A2; do
  for _ in $(seq 100); do admin "$A" /state >/dev/null && break; sleep 0.1; done
  admin "$A" /state >/dev/null || { cat proxy-*.log >&2; fail "a ship proxy did not start"; }
done
cat >> ship.toml <<TOML

[proxy]
listen = "127.0.0.1:$P1"
admin = "127.0.0.1:$A1"
sticky_header = "x-user-id"

[router.builtin]
# The weight goes to both proxies and is confirmed by both before a stage's clock starts; the
# builtin metric source sums both proxies' counts.
fleet = ["127.0.0.1:$A1", "127.0.0.1:$A2"]
TOML

ship init >/dev/null
ssh-keygen -q -t ed25519 -N '' -C alice@example.com -f alice.key
echo "alice@example.com namespaces=\"shiploop-release\" $(cut -d' ' -f1,2 alice.key.pub)" >> work/allowed_signers
staging_up
ship release new checkout-speedups --flag new-checkout >/dev/null
ship release submit checkout-speedups --as agent@example.com >/dev/null
ship release approve checkout-speedups --key alice.key >/dev/null
id=$(ls work/releases/ | grep -v _TEMPLATE | sed 's/\.md$//')

# Live traffic through both proxies.
ship load "http://127.0.0.1:$P1/checkout" --rate 150 --users 3000 --user-header x-user-id >/dev/null 2>&1 & pids+=($!)
ship load "http://127.0.0.1:$P2/checkout" --rate 150 --users 3000 --user-header x-user-id >/dev/null 2>&1 & pids+=($!)
sleep 2

# Three replicas: the same workspace and database, each its own API address.
export VIEWER="viewer-$(date +%s%N)" OPERATOR="operator-$(date +%s%N)"
export SHIP_API_TOKENS="viewer:$VIEWER,operator:$OPERATOR"
declare -A serve_pid serve_port
for r in 1 2 3; do
  serve_port[$r]=$(free_port)
  ship serve --listen "127.0.0.1:${serve_port[$r]}" > "serve-$r.log" 2>&1 & serve_pid[$r]=$!; pids+=($!)
done
for r in 1 2 3; do
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:${serve_port[$r]}/healthz" >/dev/null && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:${serve_port[$r]}/healthz" >/dev/null || fail "replica $r did not start"
done
echo "\$ ship serve --listen …   # three replicas: pids ${serve_pid[1]} ${serve_pid[2]} ${serve_pid[3]}"

pass_gates checkout-speedups
echo "\$ ship rollout start checkout-speedups --detach"
ship rollout start checkout-speedups --detach

api() { curl -sf -H "authorization: Bearer $VIEWER" "http://127.0.0.1:${serve_port[$1]}$2"; }
rollout() { api "$1" "/api/v1/rollouts/$id" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["phase"], r["stage_index"], r["weight"], r.get("driven_by") or "-")' 2>/dev/null || echo "none - - -"; }

# Wait until the rollout is in its second stage, then kill the replica that drives it.
victim=""
for _ in $(seq 300); do
  read -r phase stage weight holder < <(rollout 1)
  if [ "$phase" = progressing ] && [ "$stage" = 1 ] && [ "$holder" != - ]; then
    pid=${holder##*:}
    for r in 1 2 3; do [ "${serve_pid[$r]}" = "$pid" ] && victim=$r; done
    break
  fi
  case "$phase" in rolled-back|failed) fail "the rollout ended $phase";; esac
  sleep 0.2
done
[ -n "$victim" ] || fail "no replica was driving the rollout in its second stage ($phase $stage $weight $holder)"
echo "replica $victim (pid ${serve_pid[$victim]}) drives it at $weight %: kill -9"
kill -9 "${serve_pid[$victim]}"
killed_at=$(date +%s.%N)
survivor=1; [ "$victim" = 1 ] && survivor=2

# Follow it on a surviving replica's API until the release ships.
last=""; taken=""
for _ in $(seq 900); do
  read -r phase stage weight holder < <(rollout "$survivor")
  status=$(api "$survivor" "/api/v1/releases/$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["contract"]["status"])' 2>/dev/null || echo "?")
  line="$phase $weight % ($status) driven by $holder"
  [ "$line" != "$last" ] && echo "  replica $survivor's api: $line"
  last="$line"
  if [ -z "$taken" ] && [ "$holder" != - ] && [ "${holder##*:}" != "${serve_pid[$victim]}" ]; then
    taken=$(python3 -c "import time; print(round(time.time() - $killed_at, 1))")
  fi
  case "$phase" in rolled-back|failed) fail "the rollout ended $phase";; esac
  [ "$status" = shipped ] && break
  sleep 0.2
done
[ "$status" = shipped ] || fail "the release never shipped: $last"
echo "taken over within ${taken:-?} s of the kill"

for A in $A1 $A2; do
  w=$(admin "$A" /state | python3 -c 'import json,sys; print(json.load(sys.stdin)["weight"])')
  [ "$w" = 100 ] || fail "proxy $A carries $w %, not 100 %"
done
echo "both proxies: 100 % on v2"

# The event log, read from any replica: one takeover from the killed replica, every weight
# confirmed once and in order, and one hash chain.
after=0; : > events.json
while :; do
  page=$(api "$survivor" "/api/v1/events?release=$id&after=$after")
  echo "$page" >> events.json
  more=$(echo "$page" | python3 -c 'import json,sys; print(json.load(sys.stdin)["more"])')
  after=$(echo "$page" | python3 -c 'import json,sys; e=json.load(sys.stdin)["events"]; print(e[-1]["seq"] if e else 0)')
  [ "$more" = True ] || break
done
python3 - "${serve_pid[$victim]}" <<'PY' || fail "the event log is not what one continuous rollout leaves"
import json, sys
victim = sys.argv[1]
events = [e for line in open("events.json") for e in json.loads(line)["events"]]
kinds = [e["kind"] for e in events]
over = [e["data"] for e in events if e["kind"] == "lease-taken-over"]
assert any(o["from"].endswith(":" + victim) for o in over), f"no takeover from the killed replica: {over}"
# The weights the proxies carried: a confirmed call's, or an intent's that the next replica
# found in place (the killed one may have died between the call and its confirmation).
carried, intent = [], None
for e in events:
    if e["kind"] != "router" or e["data"].get("action") in ("roll-back", "promote"):
        continue
    d = e["data"]
    if d.get("phase") == "intent":
        intent = d.get("weight")
        continue
    w = d.get("weight") if d.get("phase") != "found" else (d.get("weight") if d.get("weight") == intent else None)
    intent = None
    if w is not None and (d.get("ok") or d.get("phase") == "found") and (not carried or carried[-1] != w):
        carried.append(w)
steps = carried
assert steps == [5, 25, 50, 100], f"weights carried: {steps}"
promoted = [e for e in events if e["kind"] == "router" and e["data"].get("action") == "promote" and e["data"].get("ok")]
assert len(promoted) == 1, f"promotions: {len(promoted)}"
holders = [e["data"]["holder"] for e in events if e["kind"] == "lease-acquired"] + [o["to"] for o in over]
print(f"event log: {len(events)} events, {kinds.count('decision')} decisions, "
      f"lease holders {sorted(set(holders))}, takeover from pid {victim}; weights {steps}, promoted once")
PY
echo "\$ ship audit verify"
ship audit verify
echo "ha-postgres: the expected outcome happened"
