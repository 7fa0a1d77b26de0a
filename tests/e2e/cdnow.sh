#!/usr/bin/env bash
# The CDNOW files with their presets (whitespace-separated, no order id): every purchase
# stored once, even when loaded twice, and revenue adds up to the file's dollar total.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
tessera=$1
dir="$2/../shared/data/cdnow"
if [ ! -f "$dir/CDNOW_master.txt" ]; then
  skip_or_fail "$dir is absent (the shared test data lives beside the project)"
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

# Predictive CLV from the command line: Fader, Hardie & Lee (2005) on the sample (39-week
# calibration, weeks, purchases per day): r = 0.243, alpha = 4.414, a = 0.793, b = 2.426,
# LL = -9582.4.
"$tessera" clv fit --model bgnbd --calibration-end 1997-09-30 --input "$dir/CDNOW_sample.txt" --mapping cdnow --format json >"$work/fit.json"
"$tessera" clv evaluate --model bgnbd --calibration-end 1997-09-30 --holdout-end 1998-06-30 --store "$work/sample.db" --format json >"$work/eval.json"
"$tessera" clv score --model bgnbd --calibration-end 1997-09-30 --store "$work/sample.db" >"$work/score.csv"
"$tessera" segments --store "$work/master.db" --as-of 1998-06-30 --window 18m --predict --format json >"$work/predicted.json"
python3 - "$work" <<'PY'
import csv, json, sys
w = sys.argv[1]
fit = json.load(open(f"{w}/fit.json"))
got = {p["name"]: p["value"] for p in fit["parameters"]}
for name, published in {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}.items():
    assert abs(got[name] - published) < 0.0005, (name, got[name], published)
assert abs(fit["log_likelihood"] - (-9582.4)) < 0.05, fit["log_likelihood"]
ev = json.load(open(f"{w}/eval.json"))
# 1,882 distinct (customer, day) purchases fall into weeks 40-78 of the sample.
assert ev["customers"] == 2357 and ev["actual_purchases"] == 1882, ev
assert sum(g["actual"] for g in ev["by_calibration_frequency"]) == 1882
assert 0.8 < ev["predicted_purchases"] / ev["actual_purchases"] < 1.1, ev["predicted_purchases"]
rows = list(csv.DictReader(open(f"{w}/score.csv", newline="")))
assert len(rows) == 2357, len(rows)
assert all(0 <= float(r["p_alive"]) <= 1 for r in rows)
assert all(float(r["predicted_clv"]) >= 0 for r in rows if r["predicted_clv"])
seg = json.load(open(f"{w}/predicted.json"))
assert seg["predictions"]["models"] == "bg_nbd+gamma_gamma", seg["predictions"]
assert all(s["avg_p_alive"] is None or 0 <= s["avg_p_alive"] <= 1 for s in seg["segments"])
print("clv ok: BG/NBD", {k: round(v, 3) for k, v in got.items()}, "LL", round(fit["log_likelihood"], 1))
PY
