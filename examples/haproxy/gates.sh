# Pre-deployment gates, the way a real release goes through them (sourced by run.sh):
#   staging_up     dates the flag registry from today, starts a staging copy — ship-sample v1
#                  and v2 behind its own `ship proxy` — and points [staging], [flags] and
#                  [oncall] of ship.toml at it
#   pass_gates R   `ship rehearse R` (rollback practised in staging, the release's feature flag
#                  evaluated there), `ship check R` (notifies on-call), the on-call person's
#                  `ship oncall ack`, then `ship check R`, which must pass
# Uses run.sh's free_port, fail and pids.
staging_up() {
  local s1 s2 listen admin attempt up=""
  # The registry's flag dated from today in this copy: whatever day the example runs, its flag
  # is neither overdue nor from the future.
  sed -i -e "s/^  created: .*/  created: $(date -u -d '-14 days' +%F)/" \
    -e "s/^  cleanup_by: .*/  cleanup_by: $(date -u -d '+26 days' +%F)/" work/flags.yaml
  export STAGING_TOKEN="staging-$(date +%s%N)"
  # Ports free when chosen may be taken before the servers bind them (other programs start
  # too): then the copy is started again on ports chosen afresh, at most three times.
  for attempt in 1 2 3; do
    s1=$(free_port); s2=$(free_port); listen=$(free_port); admin=$(free_port)
    local started=()
    ship-sample --version v1 --listen "127.0.0.1:$s1" >/dev/null 2>&1 & started+=($!)
    ship-sample --version v2 --listen "127.0.0.1:$s2" --flag new-checkout=on >/dev/null 2>&1 & started+=($!)
    ship proxy --stable "127.0.0.1:$s1" --canary "127.0.0.1:$s2" --weight 0 \
      --listen "127.0.0.1:$listen" --admin "127.0.0.1:$admin" --token-env STAGING_TOKEN \
      > staging-proxy.log 2>&1 & started+=($!)
    pids+=("${started[@]}")
    for _ in $(seq 100); do
      # Up: all three alive (not one that lost its port to another program), both ports ours.
      kill -0 "${started[@]}" 2>/dev/null || break
      curl -sf "http://127.0.0.1:$listen/checkout" >/dev/null 2>&1 &&
        curl -sf -H "authorization: Bearer $STAGING_TOKEN" "http://127.0.0.1:$admin/state" >/dev/null 2>&1 &&
        { up=1; break; }
      sleep 0.1
    done
    [ -n "$up" ] && break
    cat staging-proxy.log >&2; echo "(staging did not start, attempt $attempt: new ports)" >&2
    kill "${started[@]}" 2>/dev/null || true; wait "${started[@]}" 2>/dev/null || true
  done
  [ -n "$up" ] || fail "staging did not start"
  cat >> ship.toml <<TOML

[staging]
router = "builtin"
admin = "127.0.0.1:$admin"
token_env = "STAGING_TOKEN"
url = "http://127.0.0.1:$listen/checkout"

[flags]
staging_http = "http://127.0.0.1:$listen/flags/{flag}"

[oncall]
team = "checkout-oncall"
notify_command = "echo {message} >> oncall-inbox.txt"
TOML
}

pass_gates() {
  local release="$1"
  echo "\$ ship rehearse $release"
  ship rehearse "$release" || fail "the rollback rehearsal failed"
  ship check "$release" >/dev/null || true   # the first check notifies on-call
  [ -s oncall-inbox.txt ] || fail "on-call was not notified"
  echo "on-call inbox: $(cat oncall-inbox.txt)"
  ship oncall ack "$release" --as bob@example.com
  echo "\$ ship check $release"
  # Right after start, a metrics backend may not have a whole window yet (the monitoring gate
  # says "no data"): wait for it, as a person would.
  local ok=""
  for _ in $(seq 20); do
    if ship check "$release" > check.out; then ok=1; break; fi
    sleep 1
  done
  cat check.out
  [ -n "$ok" ] || fail "the pre-deployment gates should pass"
}
