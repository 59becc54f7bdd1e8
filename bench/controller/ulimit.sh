#!/usr/bin/env bash
# One `ship serve` under `ulimit -n 1024` drives N rollouts (SQLite, the command router running
# `true`, the command metric source `cat metrics.json` — a process per tick, so the server
# needs descriptors for its children too): every rollout must complete, no decision may carry
# a metric or router error, and `ship_provider_errors_total{provider="controller"}` counts the
# server's own trouble, never charged to a release.
#
#   bench/controller/ulimit.sh [N=1000] [LIMIT=1024]      (STAGE=60s TICK=10s, SKIP_BUILD=1)
set -euo pipefail
N=${1:-1000}
LIMIT=${2:-1024}
STAGE=${STAGE:-60s}
TICK=${TICK:-10s}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SHIP=$ROOT/target/release/ship
BENCH=$ROOT/bench/controller/target/release/bench-controller
if [ -z "${SKIP_BUILD:-}" ]; then
  (cd "$ROOT" && cargo build --release -q -p shiploop-cli)
  (cd "$ROOT/bench/controller" && cargo build --release -q)
fi
echo "# bench/controller/ulimit.sh $N $LIMIT (STAGE=$STAGE TICK=$TICK) — $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "- machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), load average $(cut -d' ' -f1-3 /proc/loadavg)"
OUT=$(mktemp -d /tmp/ship-ulimit-XXXXXX)
PID=
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$OUT"; }
trap cleanup EXIT
W=$OUT/ws
"$BENCH" replicas-setup --dir "$W" --n "$N" --stage "$STAGE" --tick "$TICK"
TOKEN=bench-viewer-token-0123456789
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
T0=$(date +%s)
(ulimit -n "$LIMIT"; SHIP_API_TOKENS="viewer:$TOKEN" exec "$SHIP" -C "$W" --json serve --listen "127.0.0.1:$PORT") >"$OUT/serve.log" 2>&1 &
PID=$!
mv "$OUT/serve.log" "$OUT/replica-0-$PID.log"
echo "- ship serve pid $PID, open-files limit $(grep 'open files' /proc/$PID/limits | awk '{print $4}')"
MAXFD=0
( while kill -0 "$PID" 2>/dev/null; do
    n=$(ls /proc/$PID/fd 2>/dev/null | wc -l); echo "$n"; sleep 2
  done ) >"$OUT/fds" &
SAMPLER=$!
"$BENCH" replicas-wait --dir "$W" --timeout "${WAIT:-1200}" || echo "  not every rollout ended in time"
echo "- all ended $(( $(date +%s) - T0 )) s after the server started"
curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/metrics" | grep -E '^ship_provider_errors_total|^ship_errors_total|^ship_serve_errors' || true
kill -TERM "$PID"; wait "$PID" 2>/dev/null || true
PID=
wait "$SAMPLER" 2>/dev/null || true
MAXFD=$(sort -n "$OUT/fds" | tail -1)
echo "- open files of ship serve: max $MAXFD (sampled every 2 s; limit $LIMIT)"
echo "- errors logged by the server: $(grep -c '"event":"error"' "$OUT"/replica-0-*.log || true)"
grep -h '"event":"error"' "$OUT"/replica-0-*.log | head -3 | cut -c1-240 || true
: >"$OUT/kills.log"
echo
"$BENCH" replicas-check --dir "$W" --logs "$OUT" --kills "$OUT/kills.log"
