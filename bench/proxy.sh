#!/usr/bin/env bash
# Proxy benchmark, one run on this machine, loopback only: wrk against
#   direct  — ship-sample v1 itself (no proxy, no split: the ceiling),
#   ship    — `ship proxy`, 5 % of requests to v2 (keyless requests split exactly 95/5),
#   nginx   — one upstream, `server v1 weight=95; server v2 weight=5; keepalive 64`,
#   haproxy — `balance roundrobin`, `weight 95` / `weight 5`, `http-reuse always`,
# with the same wrk parameters (-t2, `connections`, `seconds`, keep-alive) against the same two
# ship-sample processes. Each proxy gets the same number of workers, one per core: ship serves
# on $(nproc) threads (`ship proxy` does so on its own), nginx `worker_processes $(nproc)`,
# HAProxy `nbthread $(nproc)`; wrk, the proxy under test and ship-sample share those cores.
# Each target runs `rounds` times, interleaved (direct, ship, nginx, haproxy, direct, ...); the
# table shows each target's median round by requests/s, with that round's latencies, then the
# ratios ship/nginx and ship/HAProxy. "CPU µs/request" is the CPU time (user + system, from
# /proc) the proxy's processes used per request in that round (for direct: ship-sample v1's),
# then its two parts: user (the proxy's own code) and system (the kernel's work for its
# sockets); it moves less with other load than requests/s do. The load average is printed
# before and after: on a busy machine the wall-clock figures move with other load
# (bench/proxy-profile.sh counts instructions per request instead, which do not). Everything started here is stopped
# at exit. SHIP_BIN=<dir with ship and ship-sample> benches a kept build instead of building.
#   bench/proxy.sh [seconds] [connections] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-10}"; conns="${2:-64}"; rounds="${3:-3}"
for tool in wrk nginx haproxy; do
  if ! command -v "$tool" >/dev/null; then
    if [ "$(id -u)" = 0 ]; then apt-get install -y -qq wrk nginx haproxy >/dev/null; else echo "install $tool (apt-get install -y wrk nginx haproxy)" >&2; exit 2; fi
  fi
done
if [ -z "${SHIP_BIN:-}" ]; then
  cargo build --release --locked -q -p shiploop-cli -p shiploop-sample
fi
bin="${SHIP_BIN:-$PWD/target/release}" # SHIP_BIN: a directory with ship and ship-sample
workers=$(nproc)
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
A=$(free_port); B=$(free_port); P=$(free_port); M=$(free_port); N=$(free_port); H=$(free_port)
"$bin/ship-sample" --version v1 --listen "127.0.0.1:$A" >/dev/null & pids+=($!); v1=$!
"$bin/ship-sample" --version v2 --listen "127.0.0.1:$B" >/dev/null & pids+=($!)
SHIP_ADMIN_TOKEN="bench-$(date +%s%N)" "$bin/ship" proxy --stable "127.0.0.1:$A" --canary "127.0.0.1:$B" \
  --weight 5 --listen "127.0.0.1:$P" --admin "127.0.0.1:$M" >/dev/null & pids+=($!); ship=$!
mkdir -p "$work/logs"
cat > "$work/nginx.conf" <<CONF
worker_processes $workers;
daemon off;
pid $work/nginx.pid;
error_log $work/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/body; proxy_temp_path $work/proxy; fastcgi_temp_path $work/fcgi;
  uwsgi_temp_path $work/uwsgi; scgi_temp_path $work/scgi;
  upstream split { server 127.0.0.1:$A weight=95; server 127.0.0.1:$B weight=5; keepalive 64; }
  server {
    listen 127.0.0.1:$N;
    location / { proxy_pass http://split; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
CONF
nginx -c "$work/nginx.conf" -p "$work" & pids+=($!); nginx=$!
cat > "$work/haproxy.cfg" <<CONF
global
  nbthread $workers
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend bench
  bind 127.0.0.1:$H
  default_backend split
backend split
  balance roundrobin
  http-reuse always
  server v1 127.0.0.1:$A weight 95
  server v2 127.0.0.1:$B weight 5
CONF
haproxy -db -f "$work/haproxy.cfg" >"$work/logs/haproxy.log" 2>&1 & pids+=($!); haproxy=$!
for port in $A $B $P $N $H; do # every target answers before the first round
  for _ in $(seq 50); do curl -fs -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.2; done
done

ticks() { # CPU time (user, system: clock ticks) of the given processes and their children
  local p all=()
  for p in "$@"; do all+=("$p"); while read -r c; do all+=("$c"); done < <(pgrep -P "$p" || true); done
  for p in "${all[@]}"; do cut -d' ' -f14,15 "/proc/$p/stat" 2>/dev/null || true; done | awk '{u += $1; s += $2} END {print u + 0, s + 0}'
}
hz=$(getconf CLK_TCK)
run() { # name url pid... → "name rps p50_us p99_us p999_us errors cpu_us user_us sys_us" (CPU per request)
  local name="$1" url="$2" out u0 s0 u1 s1; shift 2
  read -r u0 s0 < <(ticks "$@")
  out=$(wrk -t2 -c"$conns" -d"${secs}s" -s bench/proxy-wrk.lua "$url")
  read -r u1 s1 < <(ticks "$@")
  awk -v n="$name" -v u=$((u1 - u0)) -v sy=$((s1 - s0)) -v hz="$hz" -v s="$secs" \
    '$1=="RESULT" {k = hz * $2 * s / 1e6; print n, $2, $3, $4, $5, $6, (u + sy) / k, u / k, sy / k}' <<<"$out"
}
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
results=()
for _ in $(seq "$rounds"); do
  results+=("$(run direct "http://127.0.0.1:$A/" "$v1")" "$(run ship "http://127.0.0.1:$P/" "$ship")")
  results+=("$(run nginx "http://127.0.0.1:$N/" "$nginx")" "$(run haproxy "http://127.0.0.1:$H/" "$haproxy")")
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
python3 - "$secs" "$conns" "$rounds" "$workers" "$load_before" "$load_after" "${results[@]}" <<'PY'
import sys
secs, conns, rounds, workers, before, after = sys.argv[1:7]
runs = [r.split() for r in sys.argv[7:]]
names = ("direct", "ship", "nginx", "haproxy")
rows = {}
for name in names:
    mine = sorted((r for r in runs if r[0] == name), key=lambda r: float(r[1]))
    rows[name] = mine[len(mine) // 2]  # the median round by throughput, with its latencies
ms = lambda us: f"{int(us) / 1000:.2f}"
print(f"wrk -t2 -c{conns} -d{secs}s, loopback, 95/5 split (direct: v1 only), {workers} workers per proxy, "
      f"median of {rounds} interleaved rounds (CPU: the proxy's, direct: v1's); load average {before} before, {after} after")
print("| target | requests/s | p50 ms | p99 ms | p99.9 ms | errors | CPU µs/request | user µs | system µs |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for name in names:
    _, rps, p50, p99, p999, err, cpu, user, system = rows[name]
    print(f"| {name} | {float(rps):,.0f} | {ms(p50)} | {ms(p99)} | {ms(p999)} | {err} | {float(cpu):.1f} | {float(user):.1f} | {float(system):.1f} |")
print()
for name in names[1:]:
    print(f"{name} rounds, requests/s: " + ", ".join(f"{float(r[1]):,.0f}" for r in runs if r[0] == name))
rps = {n: float(rows[n][1]) for n in names}
p99 = {n: float(rows[n][3]) for n in names}
print(f"ship/nginx throughput {rps['ship']/rps['nginx']:.2f}x, p99 {p99['ship']/p99['nginx']:.2f}x; "
      f"ship/haproxy throughput {rps['ship']/rps['haproxy']:.2f}x, p99 {p99['ship']/p99['haproxy']:.2f}x; "
      f"ship/direct throughput {rps['ship']/rps['direct']:.2f}x")
PY
