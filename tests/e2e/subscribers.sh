#!/usr/bin/env bash
# Non-order data: a mobile operator's subscribers loaded with `tessera ingest --kind people`
# beside a retailer's orders, from generated files that share a known set of people.
#  - The operator's store (people only, no orders) counts its subscribers by attribute exactly
#    as the generator's truth says; a snapshot of a store without orders works.
#  - Both stores keep match tokens (both are parties); under one key (a test-only shortcut:
#    real parties match through PSI, never by comparing tokens) the tokens the two stores share
#    are exactly the generator's shared people, by identifier kind and by attribute value.
#  - Loading again changes nothing; a changed value replaces the old one; a load killed after a
#    batch, run again, gives the uninterrupted result.
#  - A retailer's CRM extract adds attributes and order-less customers: countable, never buyers
#    (segments unchanged).
#  - Bad input: an empty file, a header only, rows without identifier, duplicates, conflicting
#    values, huge values, identifiers as values, hostile mappings; rejects name file, line,
#    column and reason, never the value; no raw identifier reaches a store.
#  - PostgreSQL (when TESSERA_TEST_POSTGRES_URL is set): the same counts as SQLite.
# Usage: subscribers.sh BIN SRC
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bin=$1
work=$(mktemp -d)
databases=()
cleanup() {
  for db in "${databases[@]}"; do
    PGOPTIONS='-c client_min_messages=warning' psql "$TESSERA_TEST_POSTGRES_URL" -qAtc \
      "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
export XDG_CACHE_HOME="$work/cache" TESSERA_KEY="$work/owner.key"
fail() { echo "FAIL: $*"; exit 1; }
size() { "$bin" audience count -q --format json "$@" | python3 -c 'import json,sys; print(json.load(sys.stdin)["size"])'; }
json() { python3 -c "import json,sys; print(eval(sys.argv[1], {}, {'j': json.load(open(sys.argv[2]))}))" "$@"; }

"$bin" keys init >/dev/null
"$bin" party init --name "Frischmarkt" --store r.db >/dev/null 2>&1
"$bin" party init --name "Telco" --store t.db >/dev/null 2>&1

# Two parties that share 1,500 people; 40% of the retailer's customers gave a phone number.
"$bin" generate --customers 3000 --months 12 --seed 7 --end 2025-06-30 --categories 60 \
  --phone-share 0.4 -o orders.csv 2>/dev/null
"$bin" generate --kind subscribers --subscribers 4000 --customers 3000 --shared 1500 --seed 7 \
  --phone-share 0.4 --truth truth.json -o subscribers.csv 2>gen.err
grep -q "4000 subscribers, 1500 of them customers of the retailer's export" gen.err || { cat gen.err; fail "generate"; }
head -1 orders.csv | grep -q ',status,phone$' || fail "no phone column"
[ "$(head -1 subscribers.csv)" = "customer_id,phone,email,age_band,region,device,tariff" ] || fail "header"
# Same seed, same people.
"$bin" generate --kind subscribers --subscribers 4000 --customers 3000 --shared 1500 --seed 7 \
  --phone-share 0.4 -o again.csv 2>/dev/null
cmp -s subscribers.csv again.csv || fail "the same seed gave another file"

"$bin" ingest orders.csv --store r.db -q
"$bin" ingest subscribers.csv --store t.db --kind people --mapping subscribers \
  --summary-json t.json 2>t.err
grep -q "new customers .* 4,000  (no orders)" t.err || { cat t.err; fail "people summary"; }
[ "$(json 'j["people_new"], j["rows_rejected"], j["attribute_values"], j["kind"]' t.json)" = \
  "(4000, 0, 16000, 'people')" ] || fail "summary: $(cat t.json)"
[ "$(json 'j["attributes"]' t.json)" = "['age_band', 'device', 'tariff', 'home_region']" ] || fail "attributes: $(cat t.json)"

# The overlap, by identifier kind and by attribute value, is the generator's truth.
python3 - <<'PY'
import json, sqlite3
truth = json.load(open("truth.json"))
r = sqlite3.connect("r.db"); t = sqlite3.connect("t.db")
def tokens(db, kind):
    return {tok: c for c, tok in db.execute(
        "SELECT customer_idx, token FROM customer_match_tokens WHERE kind = ?", (ord(kind),))}
for kind, key in (("e", "by_email"), ("p", "by_phone")):
    retailer = tokens(r, kind)
    shared = [c for tok, c in tokens(t, kind).items() if tok in retailer]
    assert len(shared) == truth["shared"][key], (kind, len(shared), truth["shared"])
    values = {}
    for c, name, value in t.execute("SELECT customer_idx, name, value FROM customer_attributes"):
        values.setdefault(c, {})[name] = value
    for column, name in (("age_band", "age_band"), ("tariff", "tariff"), ("region", "home_region"),
                         ("device", "device")):
        counted = {}
        for c in shared:
            v = values[c][name]
            counted[v] = counted.get(v, 0) + 1
        expected = {v: n["shared_" + key] for v, n in truth["attributes"][column].items()
                    if n["shared_" + key]}
        assert counted == expected, (column, key, counted, expected)
def shared_customers(kind):
    retailer = tokens(r, kind)
    return {c for tok, c in tokens(t, kind).items() if tok in retailer}
both = len(shared_customers("e") & shared_customers("p"))
assert both == truth["shared"]["by_email_and_phone"], both
print(f"overlap as the truth says: {truth['shared']}")
PY

# The operator's store has no orders: a snapshot works, and the audience index counts its people.
"$bin" snapshots create --store t.db --as-of 2025-06-30 --window 12m -q >/dev/null 2>snap.err || { cat snap.err; fail "snapshot of a store without orders"; }
for value in 18-24 25-34 65+; do
  [ "$(size --store t.db "age_band = \"$value\"")" = "$(json "j['attributes']['age_band']['$value']['subscribers']" truth.json)" ] \
    || fail "age_band = $value"
done
[ "$(size --store t.db 'home_region = "Süd" and tariff in ["Max", "Unlimited"]')" -gt 0 ] || fail "two attributes"
[ "$(size --store t.db 'orders >= 0')" = 0 ] || fail "order-less people are buyers"
"$bin" segments --store t.db --as-of 2025-06-30 --window 12m --format json >t.segments.json 2>/dev/null
[ "$(json 'j["customer_count"]' t.segments.json)" = 0 ] || fail "segments count people without orders"

# Loading again changes nothing; a changed tariff replaces the old one.
before=$(size --store t.db 'tariff = "Max"')
"$bin" ingest subscribers.csv --store t.db --kind people --mapping subscribers -q --summary-json t2.json
[ "$(json 'j["people_new"], j["attribute_values_changed"], j["match_tokens"]' t2.json)" = "(0, 0, 0)" ] || fail "second load: $(cat t2.json)"
[ "$(size --store t.db 'tariff = "Max"')" = "$before" ] || fail "a second load changed a count"
first_max=$(awk -F, '$7 == "Max" {print $1; exit}' subscribers.csv)
printf 'customer_id,tariff\n%s,Unlimited\n' "$first_max" >change.csv
"$bin" ingest change.csv --store t.db --kind people --mapping people -q --summary-json t3.json
[ "$(json 'j["attribute_values_changed"], j["people_new"]' t3.json)" = "(1, 0)" ] || fail "change: $(cat t3.json)"
[ "$(size --store t.db 'tariff = "Max"')" = "$((before - 1))" ] || fail "the changed value"

# A load killed after its first batch leaves whole batches; run again, the uninterrupted result.
set +e
(TESSERA_TEST_KILL_AFTER_BATCHES=1 "$bin" ingest subscribers.csv --store k.db --kind people \
  --mapping subscribers --batch-size 1000 -q) 2>/dev/null
rc=$?
set -e
[ "$rc" = 137 ] || fail "the load was not killed (exit $rc)"
[ "$("$bin" status --store k.db | awk '$1 == "customers" {print $2}')" = 1000 ] || fail "not one whole batch"
"$bin" ingest subscribers.csv --store k.db --kind people --mapping subscribers --batch-size 1000 -q
"$bin" ingest subscribers.csv --store w.db --kind people --mapping subscribers -q
python3 - <<'PY'
import sqlite3
def state(path):
    db = sqlite3.connect(path)
    uuids = db.execute("SELECT group_concat(hex(uuids), '') FROM (SELECT uuids FROM customer_chunks ORDER BY first_index)").fetchone()[0]
    attrs = sorted(db.execute("SELECT customer_idx, name, value FROM customer_attributes"))
    return uuids, attrs
assert state("k.db") == state("w.db"), "a killed and resumed load differs from an uninterrupted one"
PY

# A retailer's CRM extract: attributes for 50 of its customers and 25 people without orders.
analytics() {  # segments, profiles and predicted CLV of the retailer's store
  "$bin" segments --store r.db --as-of 2025-06-30 --window 12m --format json 2>/dev/null
  "$bin" profiles --store r.db --as-of 2025-06-30 --window 12m --predict 2>/dev/null
  "$bin" clv score --store r.db --model bgnbd --calibration-end 2025-06-30 --format csv 2>/dev/null
}
analytics >r.before.txt
{
  echo "customer_id,email,loyalty"
  awk -F, 'NR > 1 && $2 != "" && !seen[$2]++ && n++ < 50 {print $2 ",,gold"}' orders.csv
  for i in $(seq 1 25); do printf ',crm%d@example.org,gold\n' "$i"; done
} >crm.csv
"$bin" ingest crm.csv --store r.db --kind people -q --summary-json crm.json
[ "$(json 'j["people_new"], j["people_in_store"]' crm.json)" = "(25, 50)" ] || fail "crm: $(cat crm.json)"
analytics >r.after.txt
[ "$(wc -l <r.before.txt)" -gt 2000 ] || fail "no analytics to compare"
cmp -s r.before.txt r.after.txt || fail "people without orders changed segments, profiles or CLV"
"$bin" snapshots create --store r.db --as-of 2025-06-30 --window 12m -q >/dev/null 2>&1
[ "$(size --store r.db 'loyalty = "gold"')" = 75 ] || fail "the CRM's people are not all countable"
buyers=$(size --store r.db 'loyalty = "gold" and orders >= 1')
[ "$buyers" -le 50 ] && [ "$buyers" -gt 0 ] || fail "order-less people counted as buyers ($buyers)"

# Bad input.
"$bin" party init --name "Scratch" --store x.db >/dev/null 2>&1
set +e
: >empty.csv
"$bin" ingest empty.csv --store x.db --kind people 2>err; rc=$?
[ "$rc" = 2 ] || fail "an empty file: exit $rc"
printf 'phone,tariff\n' >header.csv
"$bin" ingest header.csv --store x.db --kind people -q --summary-json h.json; rc=$?
[ "$rc" = 0 ] && [ "$(json 'j["people_in_input"], j["rows_read"]' h.json)" = "(0, 0)" ] || fail "a header only"
long=$(head -c 300 /dev/zero | tr '\0' 'q')
huge=$(head -c 1100000 /dev/zero | tr '\0' 'h')
{
  echo "customer_id,email,phone,tariff,note"
  echo ",,,Max,secret-note-1"                            # 2: no identifier
  echo "C-1,geheim.one@example.com,+49 170 5550001,Max,a"
  echo "C-1,geheim.one@example.com,+49 170 5550001,Max,a"  # 4: a duplicate: merged
  echo "C-1,,,Basic,a"                                     # 5: another tariff: conflicting
  echo "C-2,,+49 170 5550002,Plus,$long"                   # 6: too long
  echo "C-3,,+49 170 5550003,Plus,$huge"                   # 7: over the field limit
  echo "C-4,,+49 170 5550004,Plus,geheim.two@example.com"  # 8: an e-mail as a value
  echo "C-5,,+49 170 5550005,Plus,+49 170 5550099"         # 9: a phone as a value
  echo "C-6,no-mail,,Plus,b"                               # 10: a bad e-mail beside the number: kept
} >bad.csv
"$bin" ingest bad.csv --store x.db --kind people --rejects rejects.csv --summary-json b.json 2>err; rc=$?
set -e
[ "$rc" = 0 ] || { cat err; fail "bad rows failed the load"; }
[ "$(json 'j["rows_rejected"], j["people_new"], j["rows_repeating"], j["match_identifiers_invalid"]' b.json)" = "(6, 2, 1, 1)" ] \
  || fail "bad rows: $(cat b.json)"
python3 - <<'PY'
import csv
rows = list(csv.DictReader(open("rejects.csv", newline="")))
got = [(r["line"], r["column_name"], r["reason_code"]) for r in rows]
assert got == [("2", "", "missing_identifier"), ("5", "tariff", "conflicting_value"),
               ("6", "note", "bad_attribute"), ("7", "note", "field_too_long"),
               ("8", "note", "identifier_in_attribute"), ("9", "note", "identifier_in_attribute")], got
assert all(r["file"] == "bad.csv" for r in rows)
text = open("rejects.csv").read() + open("err").read()
for secret in ("secret-note", "geheim", "5550099", "qqqq", "hhhh", "Basic"):
    assert secret not in text, secret
PY
# Hostile mappings: an identifier column as an attribute, a built-in name, a name that is no
# name; refused before anything is written.
customers=$("$bin" status --store x.db | awk '$1 == "customers" {print $2}')
printf '[columns]\nphone = "phone"\n[attributes]\ncontact = "email"\n' >steal.toml
printf 'phone,email\n+49 170 5550010,leak@example.com\n' >steal.csv
printf '[columns]\nphone = "phone"\n[attributes]\nsegment = "tariff"\n' >reserved.toml
printf '[columns]\nphone = "phone"\n[attributes]\n"x; DROP TABLE customers" = "tariff"\n' >name.toml
printf 'phone,tariff\n+49 170 5550011,Max\n' >plain.csv
for m in steal.toml:steal.csv reserved.toml:plain.csv name.toml:plain.csv; do
  set +e
  "$bin" ingest "${m#*:}" --store x.db --kind people --mapping "${m%%:*}" 2>err; rc=$?
  set -e
  [ "$rc" = 2 ] || { cat err; fail "mapping ${m%%:*} was taken (exit $rc)"; }
done
[ "$("$bin" status --store x.db | awk '$1 == "customers" {print $2}')" = "$customers" ] || fail "a refused load wrote"
# Options that do not apply.
if "$bin" ingest plain.csv --store x.db --kind people --memory-budget 1M 2>/dev/null; then fail "--memory-budget taken"; fi
if "$bin" generate --kind subscribers --subscribers 10 --months 3 2>/dev/null; then fail "--months taken"; fi
if "$bin" generate --customers 10 2>/dev/null; then fail "--months not required"; fi

# No raw identifier of the subscriber file in the operator's store.
python3 - <<'PY'
import csv
data = b"".join(open(p, "rb").read() for p in ("t.db", "t.db-wal") if __import__("os").path.exists(p))
rows = list(csv.DictReader(open("subscribers.csv", newline="")))
for r in rows[::40]:
    for value in (r["customer_id"], r["phone"], r["phone"][1:], r["email"], r["email"].lower()):
        assert not value or value.encode() not in data, "found an identifier in the store"
PY

# PostgreSQL gives the same counts.
if [ -n "${TESSERA_TEST_POSTGRES_URL:-}" ]; then
  db="tessera_e2e_$$_subscribers"
  PGOPTIONS='-c client_min_messages=warning' psql "$TESSERA_TEST_POSTGRES_URL" -qAtc "CREATE DATABASE $db" >/dev/null
  databases+=("$db")
  pg=$(echo "$TESSERA_TEST_POSTGRES_URL" | sed -E "s#^(postgres(ql)?://[^/]*)/[^?]*#\1/$db#")
  "$bin" party init --name "Telco" --store "$pg" >/dev/null 2>&1
  "$bin" ingest subscribers.csv --store "$pg" --kind people --mapping subscribers -q --summary-json p.json
  "$bin" ingest change.csv --store "$pg" --kind people --mapping people -q
  "$bin" ingest subscribers.csv --store "$pg" --kind people --mapping subscribers -q --summary-json p2.json
  [ "$(json 'j["people_new"], j["attribute_values_changed"]' p2.json)" = "(0, 1)" ] || fail "PostgreSQL second load: $(cat p2.json)"
  "$bin" ingest change.csv --store "$pg" --kind people --mapping people -q
  "$bin" snapshots create --store "$pg" --as-of 2025-06-30 --window 12m -q >/dev/null 2>&1
  for e in 'age_band = "25-34"' 'tariff = "Max"' 'home_region = "Süd" and device = "iPhone"' 'not tariff = "Prepaid"'; do
    [ "$(size --store "$pg" "$e")" = "$(size --store t.db "$e")" ] || fail "PostgreSQL differs on $e"
  done
  [ "$(PGOPTIONS='-c client_min_messages=warning' psql "$pg" -qAtc 'SELECT count(*) FROM customer_match_tokens')" = \
    "$(sqlite3 t.db 'SELECT count(*) FROM customer_match_tokens')" ] || fail "PostgreSQL match tokens"
  echo "PostgreSQL: the same counts and tokens as SQLite"
else
  [ "${CI:-}" = true ] && skip_or_fail "TESSERA_TEST_POSTGRES_URL is not set"
  echo "(PostgreSQL part skipped: TESSERA_TEST_POSTGRES_URL is not set)"
fi
echo "subscribers: people with attributes load, count and match as generated"
