#!/usr/bin/env bash
# CSV for spreadsheets, on the real server: `dialect=de` gives German Excel's dialect (UTF-8
# byte order mark, `;` between cells, decimal comma, German headers and names) for segments,
# migration and profiles, with the same numbers as the default dialect, which is unchanged;
# errors of a request that asked for CSV (format=csv, Accept: text/csv) come as one CSV cell
# with the status kept, and JSON clients (the dashboard's Accept) still get JSON.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
serve_begin "$1"
command -v curl >/dev/null || skip_or_fail "needs curl"

"$tessera" demo --dir demo --customers 300 --months 12 >/dev/null 2>&1
"$tessera" snapshots create --store demo/store.db --quiet >/dev/null
key=$("$tessera" keys api create --role analyst --allow-query-key --store demo/store.db 2>/dev/null)
serve_start --store demo/store.db --listen 127.0.0.1:0
url=http://127.0.0.1:$port/api/v1

# get PATH [CURL ARGS...]: the status code; the body in got.csv.
get() {
  local path=$1
  shift
  curl -sS -o got.csv -w '%{http_code}' "$@" "$url$path"
}

# The default dialect is RFC 4180 as before: no byte order mark, commas, English headers.
[ "$(get "/segments?format=csv&key=$key")" = 200 ] || fail "segments csv: $(cat got.csv)"
cp got.csv en.csv
head -c 3 en.csv | od -An -tx1 | grep -q "ef bb bf" && fail "the default dialect has a BOM"
head -1 en.csv | grep -q $'^group,key,uuid_count,avg_order_count,avg_clv,avg_recency_days,share_percent,sum_clv,median_clv\r$' ||
  fail "default header: $(head -1 en.csv)"

# German: BOM, then German headers separated by `;`, German names, decimal commas.
[ "$(get "/segments?format=csv&dialect=de&key=$key")" = 200 ] || fail "segments de: $(cat got.csv)"
cp got.csv de.csv
[ "$(head -c 3 de.csv | od -An -tx1 | tr -d ' ')" = efbbbf ] || fail "no UTF-8 BOM"
head -1 de.csv | grep -q $'^\xef\xbb\xbfSegment;Schlüssel;Kunden;Ø Bestellungen;Ø CLV;Ø Tage seit Kauf;Anteil %;Summe CLV;Median CLV\r$' ||
  fail "German header: $(head -1 de.csv)"
grep -q '^Champions;champions;' de.csv && fail "segment names not in German: $(cat de.csv)"
grep -q ';champions;' de.csv || fail "no champions row: $(cat de.csv)"
# The same numbers: each German cell is the default cell with a decimal comma (names aside).
python3 - en.csv de.csv <<'EOF' || fail "dialects disagree"
import csv, sys
en = list(csv.reader(open(sys.argv[1], encoding="utf-8", newline="")))
de = list(csv.reader(open(sys.argv[2], encoding="utf-8-sig", newline=""), delimiter=";"))
assert len(en) == len(de) > 5, (len(en), len(de))
for a, b in zip(en[1:], de[1:]):
    assert a[1] == b[1], (a, b)  # the key
    assert [c.replace(".", ",") for c in a[2:]] == b[2:], (a, b)
    assert any("," in c for c in b[2:]) or b[2] == "0", b
EOF
echo "segments: default dialect unchanged; dialect=de: BOM, ';', German headers, decimal commas"

[ "$(get "/migration?format=csv&dialect=de&key=$key")" = 200 ] || fail "migration de: $(cat got.csv)"
head -1 got.csv | grep -q $'^\xef\xbb\xbfvon Segment;von Schlüssel;nach Segment;nach Schlüssel;Kunden\r$' ||
  fail "migration header: $(head -1 got.csv)"
[ "$(get "/profiles?format=csv&dialect=de&key=$key")" = 200 ] || fail "profiles de: $(cat got.csv)"
head -1 got.csv | grep -q $'^\xef\xbb\xbfUUID;Segment-Schlüssel;Segment;R-Wert;' ||
  fail "profiles header: $(head -1 got.csv)"
sed -n 2p got.csv | grep -qE ';-?[0-9]+,[0-9]{2};' || fail "profiles CLV: $(sed -n 2p got.csv)"
echo "migration and profiles: dialect=de"

[ "$(get "/segments?format=json&dialect=de&key=$key")" = 400 ] || fail "dialect without csv"
[ "$(get "/segments?format=csv&dialect=fr&key=$key")" = 400 ] || fail "unknown dialect"

# Errors: a CSV request (IMPORTDATA's format=csv, or Accept: text/csv) gets one CSV cell with the
# status kept; a JSON client gets JSON, also for format=csv (the dashboard's downloads).
code=$(get "/segments?format=csv&key=tsk_wrong")
[ "$code" = 401 ] || fail "wrong key answered $code"
grep -q '^text/csv' <(curl -sS -o /dev/null -w '%{content_type}' "$url/segments?format=csv&key=tsk_x") ||
  fail "error content type"
[ "$(wc -l <got.csv)" = 1 ] || fail "more than one line: $(cat got.csv)"
grep -q $'^Tessera error 401 (unauthorized): .*\r$' got.csv || fail "error cell: $(cat got.csv)"
grep -q '{' got.csv && fail "JSON in the CSV error: $(cat got.csv)"
code=$(get "/segments?format=csv&dialect=fr&key=$key")
[ "$code" = 400 ] || fail "bad dialect answered $code"
grep -q '^"Tessera error 400 (invalid_parameter): .*\[parameter dialect\]"' got.csv ||
  grep -q '^Tessera error 400 (invalid_parameter): .*\[parameter dialect\]' got.csv ||
  fail "bad parameter cell: $(cat got.csv)"
# As Google's fetcher asks: compressed (the cell is made before compression).
code=$(get "/segments?format=csv&key=tsk_wrong" --compressed)
[ "$code" = 401 ] || fail "compressed: $code"
grep -q $'^Tessera error 401 (unauthorized): .*\r$' got.csv || fail "compressed cell: $(cat got.csv)"
code=$(get /segments -H "Accept: text/csv")
[ "$code" = 401 ] || fail "no key answered $code"
grep -q '^Tessera error 401' got.csv || fail "Accept: text/csv error: $(cat got.csv)"
code=$(get "/no-such-route?format=csv")
[ "$code" = 404 ] || fail "unknown route answered $code"
grep -q '^Tessera error 404 (not_found)' got.csv || fail "404 cell: $(cat got.csv)"
echo "CSV requests: errors as one cell (401, 400, 404), status kept"

code=$(get "/segments?format=csv&key=tsk_wrong" -H "Accept: application/json, text/csv;q=0.9")
[ "$code" = 401 ] || fail "JSON client: $code"
[ "$(json got.csv 'd["error"]["code"]')" = unauthorized ] || fail "JSON client error: $(cat got.csv)"
code=$(get "/segments?key=tsk_wrong")
[ "$(json got.csv 'd["error"]["code"]')" = unauthorized ] || fail "JSON request error: $(cat got.csv)"
echo "JSON clients: errors stay JSON"
