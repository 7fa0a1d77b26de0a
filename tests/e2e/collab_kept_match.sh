#!/usr/bin/env bash
# Counts on a kept match (docs/collaboration.md, "Counting again on one match"): the retailer
# matches with the operator once, then counts again and again with only each side's audience and
# breakdown sent. Two processes, two stores, two keys, on loopback.
#   - the CLI's `collab count --then FILE`: the first count (everyone matched) equals the
#     generator's truth; each further count equals a new query with the same arguments;
#   - the retailer's API: "keep" answers a match id, "match" counts on it, DELETE ends it, and a
#     count on an ended match is a 404 with the reason unknown_match;
#   - the operator judges and logs each count as a query (its audit log grows by one a count); a
#     field its grant does not allow is refused on a kept match as on a new one;
#   - a bad line in the --then file is an error naming file and line, before anyone is asked.
# Usage: collab_kept_match.sh BIN SRC
set -euo pipefail
. "$(dirname "$0")/lib.sh"
collab_begin "$1"

r=$(collab_party Frischmarkt retailer)
t=$(collab_party Telco telco)
collab_data 1500 2000 800
by_email=$(json truth.json 'd["shared"]["by_email"]')
[ "$by_email" -ge 100 ] || fail "the generator's numbers no longer fit the test: $by_email"
pr=$(free_port)
pt=$(free_port)
collab_file_party Frischmarkt "$r" "http://127.0.0.1:$pr" data_owner
collab_file_party Telco "$t" "http://127.0.0.1:$pt" data_owner
collab_grant telco retailer Frischmarkt audience_counts audience_count,cell_counts \
  --fields age_band,tariff --k-min 10 >/dev/null
collab_serve telco "$pt"
audit_entries() { "$bin" audit list --store telco.db --format json | json /dev/stdin 'len(d)'; }
count() {  # out [collab count args]
  local out=$1
  shift
  "$bin" collab count --partner Telco --collaboration collab.toml --store retailer.db \
    --key retailer.key --format json "$@" >"$out" 2>"$out.err"
}
cells() { json "$1" 'sorted((tuple(c["labels"]), c["count"]) for c in d["cells"])'; }

# --- The CLI: one match, three counts on it
cat >counts.jsonl <<'JSONL'
# one count a line, on the match of the first
{"partner_breakdown": ["age_band"]}
{"partner_expression": "tariff = \"Prepaid\"", "partner_breakdown": ["age_band"]}
{"breakdown": ["segment"], "partner_breakdown": ["tariff"]}
JSONL
before=$(audit_entries)
count kept.json --then counts.jsonl || fail "count --then: $(cat kept.json.err)"
[ "$(json kept.json 'len(d)')" = 4 ] || fail "four results expected: $(head -c 400 kept.json)"
[ "$(json kept.json 'd[0]["cells"][0]["count"]')" = "$by_email" ] ||
  fail "the match's count $(json kept.json 'd[0]["cells"][0]["count"]'), truth $by_email"
# The match (rounds 1 and 2) and one entry a count.
[ "$(audit_entries)" = $((before + 2 + 3)) ] || fail "the operator logged $(($(audit_entries) - before)) entries"
# Each count on the match equals a new query with the same arguments.
i=1
while read -r line; do
  [[ $line == \#* ]] && continue
  args=()
  be=$(echo "$line" | json /dev/stdin '",".join(d.get("breakdown", []))')
  pb=$(echo "$line" | json /dev/stdin '",".join(d.get("partner_breakdown", []))')
  pe=$(echo "$line" | json /dev/stdin 'd.get("partner_expression", "")')
  [ -n "$be" ] && args+=(--breakdown "$be")
  [ -n "$pb" ] && args+=(--partner-breakdown "$pb")
  [ -n "$pe" ] && args+=(--partner-expression "$pe")
  count fresh$i.json "${args[@]}" || fail "fresh count $i: $(cat fresh$i.json.err)"
  json kept.json "json.dumps(d[$i])" >kept$i.json
  [ "$(cells kept$i.json)" = "$(cells fresh$i.json)" ] ||
    fail "count $i on the match: $(cells kept$i.json); new query: $(cells fresh$i.json)"
  [ "$(json kept$i.json 'len(d["cells"])')" -ge 1 ] || fail "count $i released no cell"
  i=$((i + 1))
done <counts.jsonl
# The age bands on the match agree with the generator's truth (cells at or above k_min).
python3 - kept1.json truth.json <<'PY' || fail "counts by age band on the match disagree with the truth"
import json, sys
result, truth = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
expected = {v: s["shared_by_email"] for v, s in truth["attributes"]["age_band"].items()}
got = {c["labels"][0]: c["count"] for c in result["cells"]}
assert got and all(expected[l] == n for l, n in got.items()), (got, expected)
assert set(got) == {v for v, n in expected.items() if n >= result["k_min"]}, (got, expected)
PY

# --- A bad line: file and line named, no one asked
before=$(audit_entries)
printf '{"partner_breakdown": ["age_band"]}\n{"colour": "red"}\n' >bad.jsonl
if count bad.json --then bad.jsonl; then fail "a bad --then file was taken"; fi
grep -q "bad.jsonl:2: unknown member 'colour'" bad.json.err || fail "bad line: $(cat bad.json.err)"
[ "$(audit_entries)" = "$before" ] || fail "the operator was asked despite a bad --then file"
# A field the grant does not allow: refused on the match, by the operator.
printf '{"partner_breakdown": ["device"]}\n' >device.jsonl
if count device.json --then device.jsonl; then fail "a field outside the grant was counted"; fi
grep -q "device.jsonl: count 1" device.json.err || fail "refusal: $(cat device.json.err)"
grep -qi "not allow" device.json.err || fail "refusal: $(cat device.json.err)"

# --- The API: keep, count on the match, end
collab_serve retailer "$pr"
key=$("$bin" keys api create --role analyst --store retailer.db 2>/dev/null | tail -1)
api() {  # out METHOD PATH [body]
  curl -s -o "$1" -w '%{http_code}' -H "Authorization: Bearer $key" -X "$2" \
    "http://127.0.0.1:$pr$3" ${4:+-d "$4"}
}
[ "$(api m.json POST /api/v1/collab/count '{"partner": "Telco", "keep": true}')" = 200 ] ||
  fail "keep: $(cat m.json)"
match=$(json m.json 'd["match"]["id"]')
[[ $match =~ ^[0-9a-f]{32}$ ]] || fail "match id: $(cat m.json)"
[ "$(json m.json 'd["cells"][0]["count"]')" = "$by_email" ] || fail "API match count: $(cat m.json)"
body='{"partner": "Telco", "match": "'$match'", "partner_side": {"breakdown": ["age_band"]}}'
[ "$(api c.json POST /api/v1/collab/count "$body")" = 200 ] || fail "count on match: $(cat c.json)"
[ "$(cells c.json)" = "$(cells kept1.json)" ] || fail "API count on match: $(cells c.json)"
[ "$(api e.json DELETE "/api/v1/collab/matches/$match")" = 200 ] || fail "end: $(cat e.json)"
[ "$(json e.json 'd["ended"] and d["everyone_told"]')" = True ] || fail "end: $(cat e.json)"
[ "$(api g.json POST /api/v1/collab/count "$body")" = 404 ] || fail "count after end: $(cat g.json)"
[ "$(json g.json 'd["error"]["reason"]')" = unknown_match ] || fail "reason: $(cat g.json)"
[ "$(api n.json DELETE "/api/v1/collab/matches/$match")" = 404 ] || fail "end twice: $(cat n.json)"

# Nothing personal in the operator's answers or log, nor in the retailer's.
for f in kept.json c.json telco.log retailer.log; do
  if grep -q "@" "$f"; then fail "$f holds an @"; fi
done
echo "kept match ok: $by_email matched, 3 counts by the CLI and 1 by the API on one match"
