#!/usr/bin/env bash
# `ship demo` with the `ship` on PATH (ship-sample must sit next to it), checked from the outside:
#   ./run.sh good  → the rollout completed at 100 %, validated, handed over to Operate, and
#                  the mission's first checkpoint measured
#   ./run.sh bad   → the engine rolled it back (5 % errors on v2), with an incident signal
#   ./run.sh slow  → the engine rolled it back (v2's p99 above 2 × target)
#   ./run.sh broken-cart → 100 % reached, then post-deployment validation's smoke test found
#                  /cart broken: rolled back, with an incident signal
# Every scenario first goes through the pre-deployment gates (rehearsal in staging, flag
# evaluated there, migration linted, on-call notified and acknowledged).
set -euo pipefail
scenario="${1:-good}"
command -v ship >/dev/null || { echo "ship is not on PATH" >&2; exit 2; }
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT

set +e; ship demo --scenario "$scenario" --dir "$dir/ws"; code=$?; set -e
status=$(ship -C "$dir/ws" rollout status --json)
phase=$(printf '%s' "$status" | python3 -c 'import json,sys; r=json.load(sys.stdin)["rollouts"][0]; print(r["state"]["phase"]["phase"])')
echo "demo exit $code, rollout phase: $phase"
fail() { echo "FAILED: $*" >&2; exit 1; }
[ "$code" = 0 ] || fail "ship demo says the scenario did not end as expected"
contract="$(ls "$dir/ws/work/releases/"*-checkout-v2.md)"
grep -q '^\*\*Passed\*\* at' "$contract" || fail "the contract does not record passed pre-deployment checks"
case "$scenario" in
  good) [ "$phase" = completed ] || fail "expected completed, got $phase"
        grep -q '^status: shipped' "$contract" || fail "expected the release shipped (validated)"
        grep -q 'Result: \*\*passed\*\*' "$contract" || fail "no passed validation in the contract"
        grep -q '## Handoff to Operate' "$contract" || fail "no handoff recorded in the contract"
        grep -q '| checkout | operate |' "$dir/ws/STATUS.md" || fail "STATUS.md does not show checkout in operate"
        ls "$dir/ws/work/missions/checkout/reports/"*-launch.md >/dev/null || fail "no outcome report" ;;
  broken-cart)
        [ "$phase" = rolled-back ] || fail "expected rolled-back, got $phase"
        grep -q 'Result: \*\*failed\*\*' "$contract" || fail "no failed validation in the contract"
        ls "$dir/ws/work/signals/"*validation-failed*.md >/dev/null || fail "no incident signal" ;;
  *)    [ "$phase" = rolled-back ] || fail "expected rolled-back, got $phase"
        ls "$dir/ws/work/signals/"*rollback*.md >/dev/null || fail "no incident signal" ;;
esac
ship -C "$dir/ws" audit verify
ship -C "$dir/ws" release verify checkout-v2 >/dev/null || fail "the contract no longer verifies"
echo "demo ($scenario): the expected outcome happened"
