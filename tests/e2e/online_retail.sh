#!/usr/bin/env bash
# The UCI Online Retail data set end to end with its preset: 541,909 lines, 25,900 invoices,
# 4,372 customer ids, 3,836 cancellation invoices and two "adjust bad debt" invoices with a
# negative total (A563186, A563187: stored as returns); segment counts add up to the customers.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
tessera=$1
data="$2/../shared/data/online-retail/online_retail.csv.gz"
if [ ! -f "$data" ]; then
  skip_or_fail "$data is absent (the shared test data lives beside the project)"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export TESSERA_KEY="$work/owner.key" TESSERA_STORE="$work/store.db"
"$tessera" keys init >/dev/null
"$tessera" ingest "$data" --mapping online-retail --summary-json "$work/summary.json" --rejects "$work/rejects.csv" 2>"$work/log"

python3 - "$work" <<'PY'
import json, sys
w = sys.argv[1]
s = json.load(open(f"{w}/summary.json"))
def check(name, got, want):
    if got != want:
        sys.exit(f"{name}: got {got}, expected {want}")
check("rows read", s["rows_read"], 541909)
check("rows rejected", s["rows_rejected"], 0)
check("rows without customer id", s["rows_without_customer"], 135080)
check("orders stored (invoices)", s["orders_stored"], 25900)
check("cancellation invoices and negative totals", s["credits_stored"], 3836 + 2)
check("negative totals as returns", s["negative_purchases_as_returns"], 2)
check("customers", s["customers_new"], 4372)
print("summary ok:", s["orders_stored"], "invoices,", s["customers_new"], "customers")
PY

# All customers fall into the 13 months up to the last invoice; segments add up, and hold
# exactly the customers with an invoice that is not a cancellation (counted here from the file
# itself, not by Tessera).
"$tessera" segments --as-of 2011-12-09 --window 13m --format json >"$work/segments.json"
python3 - "$work" "$data" <<'PY'
import csv, gzip, json, sys
r = json.load(open(f"{sys.argv[1]}/segments.json"))
buyers = set()
with gzip.open(sys.argv[2], "rt", newline="", encoding="utf-8", errors="replace") as f:
    for row in csv.DictReader(f):
        if row["CustomerID"] and not row["InvoiceNo"].startswith("C"):
            buyers.add(row["CustomerID"])
total = sum(s["uuid_count"] for s in r["segments"])
share = sum(s["share_percent"] for s in r["segments"])
assert len(r["segments"]) == 9, r["segments"]
assert total == r["customer_count"], (total, r["customer_count"])
# Customers whose only invoices are cancellations have no purchase and no profile.
assert total == len(buyers), (total, len(buyers))
assert abs(share - 100.0) < 1e-9, share
assert r["currency"] == "GBP"
print("segments ok:", total, "customers in 9 segments, as counted from the file")
PY

# No customer id (raw, "17850.0", or normalized, "17850") and no invoice number of the file in
# the store, the log or the reject report. Ids that also occur in the file as something else
# (a stock code, a description) are left out: the store keeps those on purpose.
"$tessera" profiles --as-of 2011-12-09 --window 13m >"$work/profiles.csv" 2>>"$work/log"
python3 - "$data" "$work/needles" <<'PY'
import csv, gzip, sys
ids, other = set(), set()
with gzip.open(sys.argv[1], "rt", newline="", encoding="utf-8", errors="replace") as f:
    for row in csv.DictReader(f):
        if row["CustomerID"]:
            ids.update({row["CustomerID"], row["CustomerID"].split(".")[0]})
        ids.add(row["InvoiceNo"])
        other.update({row["StockCode"], row["Description"], row["Country"]})
text = "\n".join(other)
needles = sorted(i for i in ids if i not in text)
open(sys.argv[2], "w").write("\n".join(needles) + "\n")
print(len(needles), "identifiers to look for;", len(ids) - len(needles), "also occur as stock codes or descriptions")
assert len(needles) > 29000, len(needles)
PY
# The profile export is all numbers (a CLV of 16945.71 holds "16945"): no field of it is one.
awk -F, 'NR == FNR { n[$0]; next } { for (i = 1; i <= NF; i++) if ($i in n) { print "an identifier is a field of the profile export: " $i; bad = 1; exit } }
  END { exit bad }' "$work/needles" "$work/profiles.csv"
for f in "$work"/store.db* "$work/log" "$work/rejects.csv"; do
  # Whole words only: a five-digit id inside a longer number (135080 rows) is no leak.
  if grep -a -q -w -F -f "$work/needles" "$f"; then
    echo "a raw identifier appears in $(basename "$f"):"
    grep -a -o -w -F -f "$work/needles" "$f" | head -3 | sed 's/^/  /'
    exit 1
  fi
done
# The check itself finds them where they are.
(gzip -dc "$data" 2>/dev/null || true) | head -1000 >"$work/head.csv"
grep -q -w -F -f "$work/needles" "$work/head.csv"
echo "privacy ok"
