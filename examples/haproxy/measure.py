#!/usr/bin/env python3
"""Measurements for ship from the two ship-sample instances' Prometheus counters, since the
previous call (state in measure.state): error rate per version and request counts."""
import json, os, urllib.request

def counters(addr):
    ok = err = 0
    for line in urllib.request.urlopen(f"http://{addr}/metrics", timeout=2).read().decode().splitlines():
        if line.startswith("http_requests_total"):
            n = float(line.rsplit(" ", 1)[1])
            if 'code="500"' in line: err += n
            else: ok += n
    return ok, err

prev = json.load(open("measure.state")) if os.path.exists("measure.state") else {}
out, now = {}, {}
for version, addr in (("stable", os.environ["V1"]), ("canary", os.environ["V2"])):
    ok, err = counters(addr)
    now[version] = [ok, err]
    pok, perr = prev.get(version, [0, 0])
    total = (ok - pok) + (err - perr)
    out[f"{version}/error_rate"] = {"value": (err - perr) / total, "samples": int(total)} if total else None
out["canary/latency_p99"] = {"value": 0.01, "samples": 100}   # (not measured in this example)
out["canary/failed_instances"] = {"value": 0, "samples": 1}
json.dump(now, open("measure.state", "w"))
print(json.dumps(out))
