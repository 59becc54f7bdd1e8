#!/usr/bin/env python3
"""Measurements for ship from the two ship-sample instances' Prometheus counters:
   measure.py [SLOW_MS] [TARGET_MS]
The judge reads the running counters as they are (metrics.command.counts = "counter": only
their increase between ticks counts): requests, errors, and requests slower than the p99
trigger's limit and than the latency target, interpolated between the histogram's buckets as
Prometheus' histogram_quantile does. Post-deployment validation reads the error rate since the
previous call (state in measure.state)."""
import json, os, sys, urllib.request

def scrape(addr):
    ok = err = 0
    buckets = []   # (le, cumulative count)
    for line in urllib.request.urlopen(f"http://{addr}/metrics", timeout=2).read().decode().splitlines():
        if line.startswith("http_requests_total"):
            n = float(line.rsplit(" ", 1)[1])
            if 'code="500"' in line: err += n
            else: ok += n
        elif line.startswith("http_request_duration_seconds_bucket"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float("inf") if le == "+Inf" else float(le), float(line.rsplit(" ", 1)[1])))
    return ok, err, sorted(buckets)

def slower_than(limit, buckets):
    """Requests slower than `limit` seconds, linearly interpolated within its bucket."""
    total = buckets[-1][1] if buckets else 0
    below_le, below = 0.0, 0.0
    for le, n in buckets:
        if le >= limit:
            if le == float("inf"):
                return total - below
            within = below + (n - below) * (limit - below_le) / (le - below_le)
            return max(0.0, total - within)
        below_le, below = le, n
    return 0.0

slow_s = float(sys.argv[1]) / 1000 if len(sys.argv) > 1 and sys.argv[1] else None
target_s = float(sys.argv[2]) / 1000 if len(sys.argv) > 2 and sys.argv[2] else None
prev = json.load(open("measure.state")) if os.path.exists("measure.state") else {}
out, now = {}, {}
for version, addr in (("stable", os.environ["V1"]), ("canary", os.environ["V2"])):
    ok, err, buckets = scrape(addr)
    now[version] = [ok, err]
    out[f"{version}/requests"] = int(ok + err)
    out[f"{version}/errors"] = int(err)
    if version == "canary" and slow_s:
        out["canary/slow"] = round(slower_than(slow_s, buckets))
    if version == "canary" and target_s:
        out["canary/slow_target"] = round(slower_than(target_s, buckets))
    pok, perr = prev.get(version, [0, 0])
    total = (ok - pok) + (err - perr)
    out[f"{version}/error_rate"] = {"value": (err - perr) / total, "samples": int(total)} if total else None
out["canary/latency_p99"] = {"value": 0.01, "samples": 100}   # (validation's p99: not measured here)
out["canary/failed_instances"] = {"value": 0, "samples": 1}
json.dump(now, open("measure.state", "w"))
print(json.dumps(out))
