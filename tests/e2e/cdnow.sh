#!/usr/bin/env bash
# The CDNOW files with their presets (whitespace-separated, no order id): every purchase
# stored once, even when loaded twice, and revenue adds up to the file's dollar total.
set -euo pipefail
tessera=$1
dir="$2/../shared/data/cdnow"
if [ ! -f "$dir/CDNOW_master.txt" ]; then
  echo "SKIP: $dir is absent (the shared test data lives beside the project)"
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export TESSERA_KEY="$work/owner.key"
"$tessera" keys init >/dev/null

"$tessera" ingest "$dir/CDNOW_sample.txt" --mapping cdnow --store "$work/sample.db" --summary-json "$work/s1.json" -q
"$tessera" ingest "$dir/CDNOW_sample.txt" --mapping cdnow --store "$work/sample.db" --summary-json "$work/s2.json" -q
"$tessera" ingest "$dir/CDNOW_master.txt" --mapping cdnow-master --store "$work/master.db" --summary-json "$work/m.json" -q
"$tessera" segments --store "$work/master.db" --as-of 1998-06-30 --window 18m --format json >"$work/seg.json"
total=$(awk 'NR > 1 { s += $4 } END { printf "%.2f", s }' "$dir/CDNOW_master.txt")

python3 - "$work" "$total" <<'PY'
import json, sys
from decimal import Decimal
w, total = sys.argv[1], Decimal(sys.argv[2])
s1, s2, m = (json.load(open(f"{w}/{n}.json")) for n in ("s1", "s2", "m"))
assert (s1["orders_stored"], s1["customers_new"]) == (6919, 2357), s1
assert (s2["orders_stored"], s2["orders_already_stored"]) == (0, 6919), s2
assert (m["orders_stored"], m["customers_new"], m["rows_rejected"]) == (69659, 23570, 0), m
seg = json.load(open(f"{w}/seg.json"))
assert seg["customer_count"] == 23570, seg["customer_count"]
assert sum(s["uuid_count"] for s in seg["segments"]) == 23570
revenue = sum(Decimal(s["sum_clv"]) for s in seg["segments"])
assert revenue == total, (revenue, total)
print(f"cdnow ok: 69,659 purchases of 23,570 customers, revenue {revenue} USD to the cent")
PY
