#!/usr/bin/env bash
# Release contract and signed human approval, end to end, with the `ship` on PATH.
# Works from a copy of this folder anywhere: it runs in a temporary copy and changes nothing here.
# Exits 0 only if every step had the expected outcome.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
command -v ship >/dev/null || { echo "ship is not on PATH (from a checkout of shiploop: ./scripts/install.sh)" >&2; exit 2; }
command -v ssh-keygen >/dev/null || { echo "ssh-keygen is missing (apt-get install -y openssh-client)" >&2; exit 2; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -R "$here/." "$work/"
cd "$work"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
fail() { echo "FAILED: $*" >&2; exit 1; }
# expect CODE CMD…: runs CMD, shows its output, and fails unless it exits with CODE.
expect() {
  local want=$1; shift
  step "$@"
  set +e; "$@" >out.txt 2>&1; local got=$?; set -e
  cat out.txt
  [ "$got" = "$want" ] || fail "expected exit $want, got $got: $*"
}

expect 0 ship init
expect 0 ship release new checkout-speedups --mission checkout
grep -q "changes (2): v-pass-1, v-pass-2" out.txt || fail "release new should take exactly the two PASS verdicts"
grep -q "excluded (1): v-fail-1 (FAIL)" out.txt || fail "the FAIL verdict should be listed as excluded"

# An automated agent submits; a human (alice) approves with her SSH key.
ssh-keygen -q -t ed25519 -N '' -C agent@example.com -f agent.key
ssh-keygen -q -t ed25519 -N '' -C alice@example.com -f alice.key
echo "agent@example.com namespaces=\"shiploop-release\" $(cut -d' ' -f1,2 agent.key.pub)" >> work/allowed_signers
echo "alice@example.com namespaces=\"shiploop-release\" $(cut -d' ' -f1,2 alice.key.pub)" >> work/allowed_signers

expect 0 ship release submit checkout-speedups --as agent@example.com
expect 1 ship release approve checkout-speedups --key agent.key
grep -q "cannot approve their own release" out.txt || fail "self-approval must be refused"

step "ship release digest checkout-speedups | ssh-keygen -Y sign -f alice.key -n shiploop-release > alice.sig"
ship release digest checkout-speedups | tee msg.txt
ssh-keygen -Y sign -f alice.key -n shiploop-release < msg.txt > alice.sig 2>/dev/null
expect 0 ship release approve checkout-speedups --signature alice.sig
expect 0 ship release verify checkout-speedups
step "ssh-keygen -Y verify -f work/allowed_signers -I alice@example.com -n shiploop-release -s alice.sig < msg.txt"
ssh-keygen -Y verify -f work/allowed_signers -I alice@example.com -n shiploop-release -s alice.sig < msg.txt

# Someone edits the approved release notes afterwards: the approval no longer holds.
contract=$(ls work/releases/*-checkout-speedups.md)
step "sed -i 's/^- Customers can save a card/- Customers can save cards/' $contract"
sed -i 's/^- Customers can save a card/- Customers can save cards/' "$contract"
expect 1 ship release verify checkout-speedups
grep -q "modified after approval" out.txt || fail "verify must say the contract was modified after approval"
grep -q 'section "Release notes' out.txt || fail "verify must name the modified section"

expect 0 ship release list
echo
echo "release-approval: every step had the expected outcome"
