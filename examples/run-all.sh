#!/usr/bin/env bash
# Runs every example's run.sh with the `ship` on PATH; fails if any example fails.
set -uo pipefail
cd "$(dirname "$0")"
passed=0; failed=0; failures=()
# An example whose run.sh takes scenarios lists them in a SCENARIOS file, one per line.
for run in */run.sh; do
  name="${run%/run.sh}"
  scenarios=("")
  [ -f "$name/SCENARIOS" ] && mapfile -t scenarios < "$name/SCENARIOS"
  for sc in "${scenarios[@]}"; do
    label="$name${sc:+ $sc}"
    echo "=== example: $label"
    if bash "$run" $sc; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("$label"); fi
  done
done
[ "$failed" -eq 0 ] || echo "failed examples: ${failures[*]}"
echo "examples: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
