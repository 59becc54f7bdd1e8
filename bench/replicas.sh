#!/usr/bin/env bash
# Three `ship serve` replicas on one PostgreSQL share N rollouts; one replica is killed with
# SIGKILL every KILL_EVERY seconds for KILL_FOR seconds (and started again at once, so three
# stay up); then: every rollout completed, no stage entered twice, every move recorded by the
# replica that held the rollout's lease, `ship audit verify`, and the takeover times.
#
#   bench/replicas.sh [N=1000] [KILL_EVERY=30] [KILL_FOR=300]
#
# Environment: HOSTS=separate (default: each replica in its own UTS namespace with its own
# host name, as on three machines, and a new name for each restart, as a replacement machine
# would have — a dead replica's leases are taken over only when they expire, state.lease_ttl) or HOSTS=same (one host name: a dead pid's leases are taken over at
# once); STAGE (90s, each of the three stages), TICK (5s); SKIP_BUILD=1 uses the release
# builds as they are; KEEP=1 keeps the run's folder.
#
# The rollouts' providers cost ship as little as a real setup can: the command router runs
# `true` (called only when a stage changes), the command metric source `cat metrics.json` (one
# fixed healthy document) — a process per tick, the same for every replica, so what differs
# between runs is ship's own work: leases, the shared store, takeovers.
set -euo pipefail

N=${1:-1000}
KILL_EVERY=${2:-30}
KILL_FOR=${3:-300}
HOSTS=${HOSTS:-separate}
STAGE=${STAGE:-90s}
TICK=${TICK:-5s}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHIP=$ROOT/target/release/ship
BENCH=$ROOT/bench/controller/target/release/bench-controller

echo "# bench/replicas.sh $N $KILL_EVERY $KILL_FOR (HOSTS=$HOSTS STAGE=$STAGE TICK=$TICK) — $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "- machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/{print $2}') GiB RAM, load average $(cut -d' ' -f1-3 /proc/loadavg)"

if [ -z "${SKIP_BUILD:-}" ]; then
  (cd "$ROOT" && cargo build --release -q -p shiploop-cli)
  (cd "$ROOT/bench/controller" && cargo build --release -q)
fi

# On tmpfs when there is one: the contracts ship serve rewrites and the throw-away cluster.
OUT=$(mktemp -d "$( [ -d /dev/shm ] && echo /dev/shm || echo /tmp)/ship-replicas-XXXXXX")
chmod 755 "$OUT"
W=$OUT/ws
PIDS=()
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PG_DIR=$OUT/pg
mkdir -p "$PG_DIR"
pg() { # a PostgreSQL binary, as the postgres user when root (initdb refuses root)
  if [ "$(id -u)" = 0 ]; then (cd "$PG_DIR" && runuser -u postgres -- "$PG_BIN/$1" "${@:2}"); else "$PG_BIN/$1" "${@:2}"; fi
}
cleanup() {
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  pg pg_ctl -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  [ -n "${KEEP:-}" ] || rm -rf "$OUT"
}
trap cleanup EXIT
[ "$(id -u)" = 0 ] && chown postgres:postgres "$PG_DIR"
pg initdb -D "$PG_DIR/data" -U ship --auth=trust -E UTF8 --no-locale --no-sync >/dev/null
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# The settings of the tests' throw-away clusters (no fsync: a benchmark of ship, not of disks).
pg pg_ctl -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
  -o "-p $PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" start >/dev/null
pg createdb -h 127.0.0.1 -p "$PORT" -U ship ship
URL=postgres://ship@127.0.0.1:$PORT/ship
echo "- PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT (fsync off), stages $STAGE each, tick $TICK, lease_ttl 15 s (default)"

"$BENCH" replicas-setup --dir "$W" --n "$N" --url "$URL" --stage "$STAGE" --tick "$TICK"

BASE=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
STARTS=0
start_replica() { # slot: started in the background; its pid in PIDS[slot]; log replica-<slot>-<pid>.log
  local slot=$1 tmp=$OUT/starting-$1.log log
  STARTS=$((STARTS + 1))
  # The log is opened here, before the replica starts: renamed once its pid is known, it stays
  # the replica's (the child's own redirection could come after the rename).
  exec {log}>"$tmp"
  if [ "$HOSTS" = separate ]; then
    # unshare and sh exec: the pid is ship's.
    # A new host name for each start: the replica that replaces a dead one cannot tell that
    # the dead one's pid is gone (another machine), so its leases run out their TTL.
    unshare --uts sh -c "hostname replica-$slot-$STARTS && exec '$SHIP' -C '$W' --json serve --listen 127.0.0.1:$((BASE + slot))" >&"$log" 2>&1 &
  else
    "$SHIP" -C "$W" --json serve --listen "127.0.0.1:$((BASE + slot))" >&"$log" 2>&1 &
  fi
  PIDS[$slot]=$!
  exec {log}>&-
  mv "$tmp" "$OUT/replica-$slot-${PIDS[$slot]}.log"
}
for slot in 0 1 2; do start_replica "$slot"; done
T0=$(date +%s)
sleep 1
for slot in 0 1 2; do
  kill -0 "${PIDS[$slot]}" 2>/dev/null || { echo "replica $slot did not start:"; cat "$OUT"/replica-"$slot"-*.log; exit 1; }
done
echo "- replicas started: ${PIDS[*]}"

: >"$OUT/kills.log"
k=0
while [ $(( (k + 1) * KILL_EVERY )) -le "$KILL_FOR" ]; do
  k=$((k + 1))
  sleep $(( T0 + k * KILL_EVERY - $(date +%s) )) 2>/dev/null || true
  slot=$(( (k - 1) % 3 ))
  pid=${PIDS[$slot]}
  kill -9 "$pid" 2>/dev/null || echo "  replica $slot (pid $pid) had already exited"
  echo "$(date +%s%3N) $pid" >>"$OUT/kills.log"
  wait "$pid" 2>/dev/null || true
  start_replica "$slot"
  echo "  +$(( $(date +%s) - T0 )) s: killed replica $slot (pid $pid), started pid ${PIDS[$slot]}"
done

"$BENCH" replicas-wait --dir "$W" --timeout "${WAIT:-900}" || echo "  not every rollout ended in time"
echo "- all ended $(( $(date +%s) - T0 )) s after the replicas started"
for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
PIDS=()

echo "- ship audit verify: $("$SHIP" -C "$W" audit verify 2>&1 | tail -1)"
echo
status=0
"$BENCH" replicas-check --dir "$W" --logs "$OUT" --kills "$OUT/kills.log" || status=$?
echo "- errors logged by the replicas: $(cat "$OUT"/replica-*.log | grep -c '"event":"error"' || true)"
grep -h '"event":"error"' "$OUT"/replica-*.log | head -3 | cut -c1-240 || true
echo "- load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $status
