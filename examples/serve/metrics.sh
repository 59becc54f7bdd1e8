#!/bin/sh
# Stand-in for a metrics query. The judge reads request counts since the stage began ({since}
# seconds ago: here the same numbers at every tick) and post-deployment validation the window's
# error rate and p99. Healthy numbers, except that in the "bad" scenario the new version starts
# failing once it reaches the early-adopters stage.
# $1 stage, $2 weight.
set -eu
scenario=$(cat scenario 2>/dev/null || echo good)
canary_errors=24 rate=0.002            # 24 of 12,000 requests: 0.2 %
if [ "$scenario" = bad ] && [ "$1" != canary ]; then canary_errors=840 rate=0.07; fi
cat <<JSON
{
  "canary/requests": 12000, "canary/errors": $canary_errors,
  "stable/requests": 228000, "stable/errors": 456,
  "canary/slow": 0, "canary/slow_target": 12,
  "canary/error_rate": {"value": $rate, "samples": 1200},
  "stable/error_rate": {"value": 0.002, "samples": 24000},
  "canary/latency_p99": {"value": 0.180, "samples": 1200},
  "canary/failed_instances": {"value": 0, "samples": 3},
  "alerts/critical_security": 0
}
JSON
