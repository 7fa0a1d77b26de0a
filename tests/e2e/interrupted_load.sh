#!/usr/bin/env bash
# A load killed with SIGKILL leaves the store as it was or with whole batches only, and
# running it again gives exactly the result of an uninterrupted load.
set -euo pipefail
tessera=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export TESSERA_KEY="$work/owner.key"
"$tessera" keys init >/dev/null
"$tessera" generate --customers 20000 --months 24 --seed 11 --end 2025-06-30 --output "$work/orders.csv" 2>/dev/null

"$tessera" ingest "$work/orders.csv" --store "$work/reference.db" --quiet --batch-size 500
"$tessera" segments --store "$work/reference.db" --as-of 2025-06-30 --format json >"$work/reference.json"
"$tessera" profiles --store "$work/reference.db" --as-of 2025-06-30 | sort >"$work/reference.csv"
total=$("$tessera" status --store "$work/reference.db" | awk '$1=="orders"{print $2}')

fail() { echo "$*"; exit 1; }
# Killed with SIGKILL at known points: once 0, 1, 5 and 20 batches are committed (the loader
# kills itself there, TESSERA_TEST_KILL_AFTER_BATCHES), and once more from outside at a moment
# that lands wherever it does (also inside a batch's transaction).
for target in 0 1 5 20 outside; do
  rm -f "$work"/killed.db*
  if [ "$target" = outside ]; then
    "$tessera" ingest "$work/orders.csv" --store "$work/killed.db" --quiet --batch-size 500 &
    pid=$!
    sleep 0.4
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  else
    rc=0
    TESSERA_TEST_KILL_AFTER_BATCHES=$target "$tessera" ingest "$work/orders.csv" --store "$work/killed.db" --quiet --batch-size 500 2>/dev/null || rc=$?
    [ "$rc" = 137 ] || fail "the load was not killed after $target batches (exit $rc)"
  fi
  # The store opens after the kill, and holds whole batches only: exactly the committed ones.
  [ -f "$work/killed.db" ] || fail "no store after a kill (target $target)"
  "$tessera" status --store "$work/killed.db" >"$work/status" 2>&1 || fail "status fails after a kill (target $target): $(cat "$work/status")"
  stored=$(awk '$1=="orders"{print $2}' "$work/status")
  if [ "$target" = outside ]; then
    [ "$stored" = "$total" ] || [ $((stored % 500)) = 0 ] || fail "partial batch: $stored orders after a kill from outside"
  else
    [ "$stored" = $((target * 500)) ] || fail "$stored orders after a kill once $target batches were committed, not $((target * 500))"
  fi
  "$tessera" ingest "$work/orders.csv" --store "$work/killed.db" --quiet --batch-size 500
  "$tessera" segments --store "$work/killed.db" --as-of 2025-06-30 --format json >"$work/resumed.json"
  "$tessera" profiles --store "$work/killed.db" --as-of 2025-06-30 | sort >"$work/resumed.csv"
  cmp -s "$work/reference.json" "$work/resumed.json" || { echo "segments differ after kill (target $target)"; diff "$work/reference.json" "$work/resumed.json" | head; exit 1; }
  cmp -s "$work/reference.csv" "$work/resumed.csv" || fail "profiles differ after kill (target $target)"
  echo "killed at $target: $stored orders kept, the re-run equals the uninterrupted load"
done
[ "$total" -gt $((20 * 500)) ] || fail "the input is too small for the kill points ($total orders)"
