#!/usr/bin/env python3
"""Steady traffic through the proxy: 4 threads, 5,000 users (x-user-id), until killed.
   load.py http://127.0.0.1:PORT/path"""
import http.client, sys, threading, time, urllib.parse

url = urllib.parse.urlparse(sys.argv[1])

def worker(n):
    conn, i = None, n
    while True:
        i += 4
        try:
            if conn is None:
                conn = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
            conn.request("GET", url.path or "/", headers={"x-user-id": f"user-{i % 5000}"})
            conn.getresponse().read()
        except Exception:
            conn = None
            time.sleep(0.05)
        time.sleep(0.005)

for n in range(4):
    threading.Thread(target=worker, args=(n,), daemon=True).start()
while True:
    time.sleep(60)
