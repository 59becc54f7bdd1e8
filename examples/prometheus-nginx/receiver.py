#!/usr/bin/env python3
"""A webhook receiver: appends each CloudEvent's type to events.log, checking the HMAC-SHA256
signature with $HOOK_SECRET.   receiver.py PORT"""
import hashlib, hmac, http.server, json, os, sys

secret = os.environ["HOOK_SECRET"].encode()

class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        want = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        ok = hmac.compare_digest(want, self.headers.get("x-ship-signature", ""))
        with open("events.log", "a") as f:
            f.write(f"{json.loads(body)['type']} {'signed' if ok else 'BAD-SIGNATURE'}\n")
        self.send_response(200 if ok else 401)
        self.end_headers()

    def log_message(self, *a):
        pass

http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
