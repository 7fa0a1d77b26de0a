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

chunks() { sqlite3 "file:$1?mode=ro" 'SELECT COUNT(*) FROM order_chunks' 2>/dev/null || echo 0; }
interrupted=0
# Kill before any batch, and after the 1st, 5th and 20th committed batch (polled), and once
# more at a fixed delay.
for target in 0 1 5 20 -1; do
  rm -f "$work"/killed.db*
  "$tessera" ingest "$work/orders.csv" --store "$work/killed.db" --quiet --batch-size 500 &
  pid=$!
  if [ "$target" = -1 ]; then
    sleep 0.5
  else
    for _ in $(seq 2000); do
      [ -f "$work/killed.db" ] && [ "$(chunks "$work/killed.db")" -ge "$target" ] && break
      sleep 0.005
    done
  fi
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if [ -f "$work/killed.db" ] && "$tessera" status --store "$work/killed.db" >"$work/status" 2>/dev/null; then
    stored=$(awk '$1=="orders"{print $2}' "$work/status")
    # Whole batches only: every committed batch holds exactly 500 orders (the last batch of
    # a finished load may hold fewer).
    if [ "$stored" != "$total" ]; then
      if [ $((stored % 500)) != 0 ]; then echo "partial batch: $stored orders after kill (target $target)"; exit 1; fi
      if [ "$stored" -gt 0 ]; then interrupted=$((interrupted + 1)); fi
    fi
  fi
  "$tessera" ingest "$work/orders.csv" --store "$work/killed.db" --quiet --batch-size 500
  "$tessera" segments --store "$work/killed.db" --as-of 2025-06-30 --format json >"$work/resumed.json"
  "$tessera" profiles --store "$work/killed.db" --as-of 2025-06-30 | sort >"$work/resumed.csv"
  cmp -s "$work/reference.json" "$work/resumed.json" || { echo "segments differ after kill (target $target)"; diff "$work/reference.json" "$work/resumed.json" | head; exit 1; }
  cmp -s "$work/reference.csv" "$work/resumed.csv" || { echo "profiles differ after kill (target $target)"; exit 1; }
done
echo "resumed loads equal the uninterrupted one; $interrupted kills landed mid-write"
if [ "$interrupted" -lt 2 ]; then echo "only $interrupted kills landed while batches were being written"; exit 1; fi
