#!/usr/bin/env bash
# Instructions per proxied request of ship's proxy, from callgrind: a figure that does not move
# with other load on the machine (wall-clock wrk numbers do), for before/after comparisons.
#
# Starts ship-sample v1/v2 and `ship proxy` (95/5, under `valgrind --tool=callgrind`) on free
# loopback ports, warms up, zeroes the counters, runs wrk for `seconds`, dumps, and prints the
# proxy's instructions per request and the functions that cost the most (inclusive and self).
#   bench/proxy-profile.sh [seconds] [connections] [bin dir]
# The bin dir (default target/release, built here) holds `ship` and `ship-sample`; give another
# one to profile a kept copy of an older build. The callgrind output stays in $PROFILE_OUT
# (default a temp dir, printed) for callgrind_annotate.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-5}"; conns="${2:-16}"; bin="${3:-}"
for tool in wrk valgrind callgrind_control callgrind_annotate; do
  command -v "$tool" >/dev/null || { echo "install $tool (apt-get install -y wrk valgrind)" >&2; exit 2; }
done
if [ -z "$bin" ]; then
  cargo build --release --locked -q -p shiploop-cli -p shiploop-sample
  bin="$PWD/target/release"
fi
out="${PROFILE_OUT:-$(mktemp -d)}"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
A=$(free_port); B=$(free_port); P=$(free_port); M=$(free_port)
"$bin/ship-sample" --version v1 --listen "127.0.0.1:$A" >/dev/null & pids+=($!)
"$bin/ship-sample" --version v2 --listen "127.0.0.1:$B" >/dev/null & pids+=($!)
SHIP_ADMIN_TOKEN="bench-$(date +%s%N)" valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out" \
  "$bin/ship" proxy --stable "127.0.0.1:$A" --canary "127.0.0.1:$B" --weight 5 \
  --listen "127.0.0.1:$P" --admin "127.0.0.1:$M" >/dev/null 2>"$out/valgrind.log" & pids+=($!)
vg=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$P/" >/dev/null 2>&1 && break; sleep 0.2; done
wrk -t2 -c"$conns" -d2s "http://127.0.0.1:$P/" >/dev/null # warm-up: connections, pools, buckets
callgrind_control -z "$vg" >/dev/null
res=$(wrk -t2 -c"$conns" -d"${secs}s" "http://127.0.0.1:$P/")
callgrind_control -d "$vg" >/dev/null
requests=$(awk '/requests in/ {print $1}' <<<"$res")
dump=$(ls -t "$out"/callgrind.out.* | head -1)
total=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1}')
echo "callgrind: $requests requests in ${secs}s (wrk -t2 -c$conns), $total instructions"
echo "instructions per request: $((total / requests))"
echo "profile: $dump"
echo; echo "top inclusive:"
callgrind_annotate --inclusive=yes "$dump" 2>/dev/null | sed -n '/file:function/,$p' | sed -n 2,40p | cut -c1-200
echo; echo "top self:"
callgrind_annotate "$dump" 2>/dev/null | sed -n '/file:function/,$p' | sed -n 2,40p | cut -c1-200
