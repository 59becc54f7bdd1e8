#!/usr/bin/env python3
"""Exports a trace for `ship judge replay` from Prometheus: per-interval request and error
counts of the stable and the new version, from the conventional http_requests_total counter.

  export-trace.py PROMETHEUS_URL START END STEP STABLE_SELECTOR CANARY_SELECTOR > trace.csv

START and END are Unix times (or anything Prometheus' query_range takes), STEP is in seconds,
the selectors are label matchers such as 'job="checkout",version="v1"'. Each row is the
increase over the STEP seconds before its time; t counts from the first row's start."""
import json, sys, urllib.parse, urllib.request

url, start, end, step, stable, canary = sys.argv[1:7]

def series(query):
    q = urllib.parse.urlencode({"query": query, "start": start, "end": end, "step": step})
    body = json.load(urllib.request.urlopen(f"{url.rstrip('/')}/api/v1/query_range?{q}", timeout=10))
    if body.get("status") != "success":
        sys.exit(f"Prometheus: {body.get('error')}")
    result = body["data"]["result"]
    return {float(t): float(v) for t, v in result[0]["values"]} if result else {}

window = f"{int(float(step))}s"
counts = {}
for version, sel in (("stable", stable), ("canary", canary)):
    counts[f"{version}_requests"] = series(f"sum(increase(http_requests_total{{{sel}}}[{window}]))")
    counts[f"{version}_errors"] = series(f'sum(increase(http_requests_total{{{sel},code=~"5.."}}[{window}])) or vector(0)')

times = sorted(counts["stable_requests"])
columns = ["stable_requests", "stable_errors", "canary_requests", "canary_errors"]
print("t," + ",".join(columns))
first = times[0] - float(step) if times else 0
for t in times:
    row = [round(counts[c].get(t, 0.0)) for c in columns]
    # increase() extrapolates: never more errors than requests in an interval.
    row[1], row[3] = min(row[1], row[0]), min(row[3], row[2])
    print(f"{t - first:g}," + ",".join(str(x) for x in row))
