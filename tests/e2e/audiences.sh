#!/usr/bin/env bash
# Audiences from the command line: count (with a pointed parse error), save, list, export
# (refused below the owner's minimum size), and `tessera match` back to the CRM rows and to a
# Meta upload list; no raw identifier in the audience index or the export.
set -euo pipefail
tessera=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export TESSERA_KEY="$work/owner.key" TESSERA_STORE="$work/store.db"
"$tessera" keys init >/dev/null
"$tessera" generate --customers 2000 --months 14 --seed 3 --end 2025-06-30 --categories 100 \
  --output "$work/orders.csv" 2>/dev/null
"$tessera" ingest "$work/orders.csv" 2>"$work/err"
# Before the first snapshot there is nothing to index: ingest says nothing of it.
if grep -q "audience index" "$work/err"; then cat "$work/err"; exit 1; fi
"$tessera" snapshots create --as-of 2025-06-30 --window 12m >/dev/null 2>"$work/err"
grep -q "Updated the audience index (snapshot 1)" "$work/err" || { cat "$work/err"; exit 1; }
# The CLI kept the index up to date: the next audience command does not rebuild it.
"$tessera" audience count 'orders >= 1' >/dev/null 2>"$work/err"
if grep -q "built the audience index" "$work/err"; then echo "rebuilt after snapshots create"; exit 1; fi
# Nor after a load (which changes the store, not the snapshot).
printf 'order_id,customer_id,ordered_at,amount,currency\nE2E-1,e2e-new-customer,2025-06-01,5.00,EUR\n' >"$work/more.csv"
"$tessera" ingest "$work/more.csv" 2>"$work/err"
grep -q "Updated the audience index" "$work/err" || { cat "$work/err"; exit 1; }
"$tessera" ingest -q "$work/more.csv" 2>"$work/err"   # -q: silent
[ ! -s "$work/err" ] || { cat "$work/err"; exit 1; }
"$tessera" audience count 'orders >= 1' >/dev/null 2>"$work/err"
if grep -q "built the audience index" "$work/err"; then echo "rebuilt after ingest"; exit 1; fi

"$tessera" audience count -q --format json 'segment in ["VIPs", "loyal"] and bought("Food")' >"$work/count.json"
set +e
"$tessera" audience count -q 'segment = "VIPs" and clvv > 100' 2>"$work/err"
rc=$?
set -e
[ "$rc" = 2 ] || { echo "expected exit 2 for a bad expression, got $rc"; exit 1; }
grep -q "column 22: unknown field 'clvv' (did you mean 'clv'?)" "$work/err" || { cat "$work/err"; exit 1; }
grep -Eq '^ {23}\^$' "$work/err" || { echo "caret missing"; cat "$work/err"; exit 1; }

"$tessera" audience save -q food 'segment in ["VIPs", "loyal"] and bought("Food")' >/dev/null
"$tessera" audience save -q few 'segment = "champions" and orders >= 12' >/dev/null
"$tessera" audience list --format json >"$work/list.json"
set +e
"$tessera" audience export -q few -o "$work/few.csv" 2>"$work/err"
rc=$?
set -e
[ "$rc" = 1 ] && [ ! -e "$work/few.csv" ] || { echo "a small audience was exported"; exit 1; }
grep -q "fewer than the minimum export size 100" "$work/err"
"$tessera" audience export -q food -o "$work/food.csv"
"$tessera" match -q --crm "$work/orders.csv" --audience "$work/food.csv" -o "$work/rows.csv"
"$tessera" match -q --crm "$work/orders.csv" --audience "$work/food.csv" --format meta -o "$work/meta.csv"

python3 - "$work" <<'PY'
import csv, hashlib, json, sys
w = sys.argv[1]
count = json.load(open(f"{w}/count.json"))
listing = {a["name"]: a for a in json.load(open(f"{w}/list.json"))}
assert listing["food"]["size"] == count["size"] > 100, (listing, count["size"])
assert sum(s["customers"] for s in count["segments"]) == count["size"]
exported = [r["uuid"] for r in csv.DictReader(open(f"{w}/food.csv", newline=""))]
assert len(exported) == len(set(exported)) == count["size"], len(exported)
rows = list(csv.DictReader(open(f"{w}/rows.csv", newline="")))
people = {(r["customer_id"] or r["email"]) for r in rows}
assert len(people) == count["size"], (len(people), count["size"])
emails = {r["email"].strip().lower() for r in rows if r["email"]}
meta = [r["email"] for r in csv.DictReader(open(f"{w}/meta.csv", newline=""))]
assert set(meta) == {hashlib.sha256(e.encode()).hexdigest() for e in emails}, "meta hashes"
print(f"audiences ok: {count['size']} customers exported, matched back to {len(rows)} CRM rows, "
      f"{len(meta)} hashed e-mails")
PY

# No raw identifier in the audience index or the export.
python3 - "$work/orders.csv" "$work/needles" <<'PY'
import csv, sys
ids = set()
for row in csv.DictReader(open(sys.argv[1], newline="")):
    for col in ("customer_id", "email"):
        if row[col]:
            ids.add(row[col])
open(sys.argv[2], "w").write("\n".join(sorted(ids)) + "\n")
PY
for f in "$work/store.db.audience" "$work/food.csv"; do
  if grep -a -q -F -f "$work/needles" "$f"; then echo "a raw identifier appears in $f"; exit 1; fi
done
echo "audience privacy ok"
