-- wrk reporter for bench/proxy.sh: one line on stdout after the run,
--   RESULT <requests/s> <p50 µs> <p99 µs> <p99.9 µs> <errors>
-- (wrk's --latency table stops at p99; the latency object has every percentile).
-- errors: connect, read, write and timeout errors plus non-2xx/3xx answers.
done = function(summary, latency, requests)
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.timeout + e.status
  io.write(string.format("RESULT %.1f %d %d %d %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), errors))
end
