#!/usr/bin/env python3
"""Traffic to two versions directly, as a router would split it: load.py STABLE CANARY
PER_SEC CANARY_SHARE — e.g. 200 requests a second, 5 % of them to the canary, until killed."""
import http.client, random, sys, threading, time

stable, canary, per_sec, share = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
THREADS = 8

def worker(n):
    conns, start, i = {}, time.monotonic(), 0
    while True:
        i += 1
        due = start + i * THREADS / per_sec
        time.sleep(max(0.0, due - time.monotonic()))
        target = canary if random.random() < share else stable
        try:
            c = conns.get(target) or http.client.HTTPConnection(*target.split(":"), timeout=5)
            conns[target] = c
            c.request("GET", "/checkout")
            c.getresponse().read()
        except Exception:
            conns.pop(target, None)

for n in range(THREADS):
    threading.Thread(target=worker, args=(n,), daemon=True).start()
while True:
    time.sleep(60)
