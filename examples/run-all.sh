#!/usr/bin/env bash
# Runs every example the way its README says: each command of the README's ```sh block(s), from
# the example's folder, with the `ship` on PATH. A README command that fails fails the run, so
# what a README tells a reader to run is what the test suite runs.
set -uo pipefail
cd "$(dirname "$0")"
passed=0; failed=0; failures=()
for readme in */README.md; do
  name="${readme%/README.md}"
  # The commands: lines of ```sh blocks, without their comments.
  mapfile -t commands < <(awk '/^```sh$/{f=1;next} /^```/{f=0} f' "$readme" | sed 's/[[:space:]]*#.*$//' | grep -v '^[[:space:]]*$')
  if [ "${#commands[@]}" -eq 0 ]; then
    echo "=== example $name: its README has no \`\`\`sh block of commands to run" >&2
    failed=$((failed + 1)); failures+=("$name (no commands)"); continue
  fi
  for cmd in "${commands[@]}"; do
    label="$name: $cmd"
    echo "=== example $label"
    if (cd "$name" && bash -c "$cmd"); then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("$label"); fi
  done
done
[ "$failed" -eq 0 ] || printf 'failed example: %s\n' "${failures[@]}"
echo "examples: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
