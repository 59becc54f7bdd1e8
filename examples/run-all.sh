#!/usr/bin/env bash
# Runs every example's run.sh with the `ship` on PATH; fails if any example fails.
set -uo pipefail
cd "$(dirname "$0")"
passed=0; failed=0; failures=()
for run in */run.sh; do
  name="${run%/run.sh}"
  echo "=== example: $name"
  if bash "$run"; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("$name"); fi
done
[ "$failed" -eq 0 ] || echo "failed examples: ${failures[*]}"
echo "examples: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
