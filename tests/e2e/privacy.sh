#!/usr/bin/env bash
# No raw identifier from an input file appears in the store file, the log or the reject
# report: checked for every customer number, e-mail and order id of a generated export,
# plus malformed rows that carry personal values.
set -euo pipefail
tessera=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export TESSERA_KEY="$work/owner.key" TESSERA_STORE="$work/store.db"
"$tessera" keys init >/dev/null
"$tessera" generate --customers 3000 --months 12 --seed 7 --end 2025-06-30 --output "$work/orders.csv" 2>/dev/null
# Rows whose personal values are malformed: they are rejected, and must not be echoed.
cat >>"$work/orders.csv" <<'ROWS'
X-SECRET-1,,secret.person@,2025-01-01T00:00:00Z,SKU-1,Food > Cheese,1,1.00,EUR,Online Shop,Nord,online,completed
X-SECRET-2,K99999992,geheim@example.com,2025-13-01T00:00:00Z,SKU-1,Food > Cheese,1,1.00,EUR,Online Shop,Nord,online,completed
X-SECRET-3,K99999993,geheim3@example.com,2025-01-01T00:00:00Z,SKU-1,Food > Cheese,one,1.00,EUR,Online Shop,Nord,online,completed
ROWS
"$tessera" ingest "$work/orders.csv" --rejects "$work/rejects.csv" >"$work/log" 2>&1
grep -q 'rows rejected *3' "$work/log" || { echo "expected 3 rejected rows"; cat "$work/log"; exit 1; }
"$tessera" segments --as-of 2025-06-30 --window 12m >>"$work/log" 2>&1
"$tessera" profiles --as-of 2025-06-30 --window 12m >"$work/profiles.csv" 2>>"$work/log"

# Every identifier of the input, one per line (customer ids, e-mails, order ids).
python3 - "$work/orders.csv" "$work/needles" <<'PY'
import csv, sys
ids = set()
with open(sys.argv[1], newline="") as f:
    for row in csv.DictReader(f):
        for col in ("order_id", "customer_id", "email"):
            if row[col]:
                ids.add(row[col])
ids.update({"secret.person@", "geheim@example.com", "X-SECRET-1"})
open(sys.argv[2], "w").write("\n".join(sorted(ids)) + "\n")
print(len(ids), "identifiers to look for")
PY
for f in "$work"/store.db* "$work/log" "$work/rejects.csv" "$work/profiles.csv"; do
  if grep -a -F -f "$work/needles" "$f" >/dev/null; then
    echo "a raw identifier appears in $(basename "$f"):"
    grep -a -o -F -f "$work/needles" "$f" | head -3 | sed 's/^/  /'
    exit 1
  fi
done
# The same check finds identifiers when they are there (the check itself can fail).
grep -q -F -f "$work/needles" "$work/orders.csv"
echo "privacy ok: no identifier in store, log, reject report or profile export"
