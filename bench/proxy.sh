#!/usr/bin/env bash
# Proxy benchmark: wrk against (a) ship-sample directly, (b) ship's proxy at a 5 % split,
# (c) nginx configured for the same 5 % split — one run, this machine, loopback only.
# Prints a table with requests/s, p50, p99 and the ratios ship/nginx and ship/direct.
# Each target runs `rounds` times, interleaved (direct, ship, nginx, direct, ...), and the
# table shows the median round: on a small shared machine one run moves with other load.
#   bench/proxy.sh [seconds] [connections] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-10}"; conns="${2:-64}"; rounds="${3:-3}"
for tool in wrk nginx; do
  if ! command -v "$tool" >/dev/null; then
    if [ "$(id -u)" = 0 ]; then apt-get install -y -qq wrk nginx >/dev/null; else echo "install $tool (apt-get install -y wrk nginx)" >&2; exit 2; fi
  fi
done
cargo build --release --locked -q -p shiploop-cli -p shiploop-sample
bin="$PWD/target/release"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
A=$(free_port); B=$(free_port); P=$(free_port); M=$(free_port); N=$(free_port)
"$bin/ship-sample" --version v1 --listen "127.0.0.1:$A" >/dev/null & pids+=($!)
"$bin/ship-sample" --version v2 --listen "127.0.0.1:$B" >/dev/null & pids+=($!)
SHIP_ADMIN_TOKEN="bench-$(date +%s%N)" "$bin/ship" proxy --stable "127.0.0.1:$A" --canary "127.0.0.1:$B" \
  --weight 5 --listen "127.0.0.1:$P" --admin "127.0.0.1:$M" >/dev/null & pids+=($!)
mkdir -p "$work/logs"
cat > "$work/nginx.conf" <<CONF
worker_processes auto;
daemon off;
pid $work/nginx.pid;
error_log $work/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/body; proxy_temp_path $work/proxy; fastcgi_temp_path $work/fcgi;
  uwsgi_temp_path $work/uwsgi; scgi_temp_path $work/scgi;
  upstream stable { server 127.0.0.1:$A; keepalive 64; }
  upstream canary { server 127.0.0.1:$B; keepalive 64; }
  split_clients "\${remote_addr}\${request_id}" \$backend { 5% canary; * stable; }
  server {
    listen 127.0.0.1:$N;
    location / { proxy_pass http://\$backend; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
CONF
nginx -c "$work/nginx.conf" -p "$work" & pids+=($!)
sleep 1

run() { # name url → "rps p50_ms p99_ms"
  local out; out=$(wrk -t2 -c"$conns" -d"${secs}s" --latency "$2")
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  to_ms() { python3 -c "import sys; v=sys.argv[1]; u=v.lstrip('0123456789.'); n=float(v[:len(v)-len(u)]); print(round(n*{'us':0.001,'ms':1,'s':1000}[u],3))" "$1"; }
  echo "$1 $rps $(to_ms "$p50") $(to_ms "$p99")"
}
results=()
for _ in $(seq "$rounds"); do
  results+=("$(run direct "http://127.0.0.1:$A/")" "$(run ship "http://127.0.0.1:$P/")" "$(run nginx "http://127.0.0.1:$N/")")
done
python3 - "$secs" "$conns" "$rounds" "${results[@]}" <<'PY'
import sys, statistics
secs, conns, rounds = sys.argv[1:4]
runs = [r.split() for r in sys.argv[4:]]
rows = []
for name in ("direct", "ship", "nginx"):
    mine = [r for r in runs if r[0] == name]
    # The median round by throughput, with that round's latencies.
    mine.sort(key=lambda r: float(r[1]))
    rows.append(mine[len(mine) // 2])
print(f"wrk -t2 -c{conns} -d{secs}s --latency, loopback, 5 % to canary (ship and nginx), median of {rounds} interleaved rounds")
print(f"| target | requests/s | p50 ms | p99 ms |")
print(f"|---|---:|---:|---:|")
for name, rps, p50, p99 in rows:
    print(f"| {name} | {float(rps):,.0f} | {p50} | {p99} |")
d, s, n = ({"rps": float(r[1]), "p99": float(r[3])} for r in rows)
print()
for name in ("ship", "nginx"):
    print(f"{name} rounds, requests/s: " + ", ".join(f"{float(r[1]):,.0f}" for r in runs if r[0] == name))
print(f"ship/nginx throughput {s['rps']/n['rps']:.2f}x, p99 {s['p99']/n['p99']:.2f}x; ship/direct throughput {s['rps']/d['rps']:.2f}x")
PY
