#!/bin/sh
# Stand-in for a metrics query: healthy numbers, except that in the "bad" scenario the new
# version starts failing once it reaches the early-adopters stage.
# $1 stage, $2 weight.
set -eu
scenario=$(cat scenario 2>/dev/null || echo good)
canary_errors=0.002
if [ "$scenario" = bad ] && [ "$1" != canary ]; then canary_errors=0.07; fi
cat <<JSON
{
  "canary/error_rate": {"value": $canary_errors, "samples": 1200},
  "stable/error_rate": {"value": 0.002, "samples": 24000},
  "canary/latency_p99": {"value": 0.180, "samples": 1200},
  "canary/failed_instances": {"value": 0, "samples": 3},
  "alerts/critical_security": 0
}
JSON
