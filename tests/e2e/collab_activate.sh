#!/usr/bin/env bash
# Activation between two party nodes on loopback (docs/collaboration.md, "Activation"): a retailer
# with orders asks the operator's node, a separate process with its own store and key, for the
# retailer's own customers that the operator's audience admits.
#   - `tessera collab activate` writes exactly the retailer's customers shared by e-mail with a
#     Max or Plus tariff (the generator's truth), as an audience export that `tessera match`
#     takes; by phone, exactly the people shared by phone;
#   - POST /api/v1/collab/activate answers the same list (CSV byte for byte, and JSON);
#   - under k_min (here the retailer's own minimum export size) nothing is written or answered;
#   - without an activation grant and under a grant with differential privacy the retailer's node
#     refuses before it asks; under a revoked grant the operator refuses, logs the refusal and
#     computes nothing;
#   - the operator's store, log and audit log hold no pseudonym of the retailer's list.
# Usage: collab_activate.sh BIN SRC
set -euo pipefail
. "$(dirname "$0")/lib.sh"
collab_begin "$1"

r=$(collab_party Frischmarkt retailer)
t=$(collab_party Telco telco)
collab_data 2000 2500 1000
max_plus=$(json truth.json 'sum(d["attributes"]["tariff"][v]["shared_by_email"] for v in ("Max", "Plus"))')
max=$(json truth.json 'd["attributes"]["tariff"]["Max"]["shared_by_email"]')
by_phone=$(json truth.json 'd["shared"]["by_phone"]')
[ "$max" -lt 100 ] && [ "$max_plus" -ge 100 ] && [ "$by_phone" -ge 100 ] \
  || fail "the generator's numbers no longer fit the test: $max $max_plus $by_phone"

pr=$(free_port)
pt=$(free_port)
collab_file_party Frischmarkt "$r" "http://127.0.0.1:$pr" data_owner worker_host
collab_file_party Telco "$t" "http://127.0.0.1:$pt" data_owner

grant() {  # purpose outputs [more options]: the operator grants the retailer; prints the id
  collab_grant telco retailer Frischmarkt "$@"
}
collab_serve telco "$pt"
activate() {  # out [more options]
  local out=$1
  shift
  "$bin" collab activate --partner Telco --collaboration collab.toml --store retailer.db \
    --key retailer.key -o "$out" "$@"
}
audit_entries() { "$bin" audit list --store telco.db --format json | json /dev/stdin 'len(d)'; }
last_refusal() { "$bin" audit list --store telco.db --format json | json /dev/stdin 'd[-1]["outcome"] + " " + d[-1]["reason"]'; }

# --- Refused without an activation grant: a grant of counts is none
grant audience_counts audience_count --fields tariff >/dev/null
if activate none.csv 2>none.err; then fail "an activation without a grant ran"; fi
grep -q "no activation in force\|no_grant\|granted this party no" none.err || fail "refusal: $(cat none.err)"
[ ! -e none.csv ] || fail "a refused activation wrote a file"

# --- The list: exactly the retailer's customers shared by e-mail with tariff Max or Plus
g=$(grant activation activation_list --fields tariff --k-min 50)
activate max_plus.csv --partner-expression 'tariff in ["Max", "Plus"]' --format json >summary.json \
  || fail "activate: $(cat summary.json)"
[ "$(json summary.json 'd["members"]')" = "$max_plus" ] || fail "members $(json summary.json 'd["members"]'), truth $max_plus"
[ "$(head -1 max_plus.csv | tr -d '\r')" = uuid ] || fail "not an audience export: $(head -1 max_plus.csv)"
[ "$(($(wc -l <max_plus.csv) - 1))" = "$max_plus" ] || fail "the file holds $(wc -l <max_plus.csv) lines"
"$bin" match --crm orders.csv --audience max_plus.csv --format google --key retailer.key \
  -o google.csv 2>match.err || fail "tessera match: $(cat match.err)"
grep -q "matched customers *$max_plus" match.err || fail "match: $(cat match.err)"
# Who they are, from the generator's side: the retailer's e-mails of shared Max/Plus subscribers.
python3 - orders.csv subscribers.csv google.csv <<'PY' || fail "the list is not the truth"
import csv, hashlib, sys
retailer = {row["email"].strip().lower() for row in csv.DictReader(open(sys.argv[1])) if row["email"]}
expected = {hashlib.sha256(row["email"].strip().lower().encode()).hexdigest()
            for row in csv.DictReader(open(sys.argv[2]))
            if row["tariff"] in ("Max", "Plus") and row["email"].strip().lower() in retailer}
# Google's columns: Email, and Phone where the CRM file has one (docs/audiences.md).
got = {row["Email"] for row in csv.DictReader(open(sys.argv[3], newline="")) if row["Email"]}
assert got == expected, (len(got), len(expected))
PY
# By phone: everyone shared by phone.
activate phone.csv --identifier phone 2>/dev/null || fail "activate by phone"
[ "$(($(wc -l <phone.csv) - 1))" = "$by_phone" ] || fail "by phone $(wc -l <phone.csv), truth $by_phone"

# --- Under k_min: the retailer's minimum export size (100) is above the Max people
if activate max.csv --partner-expression 'tariff = "Max"' 2>max.err; then fail "a list under k_min was written"; fi
[ ! -e max.csv ] || fail "a withheld list was written"
grep -q "Withheld" max.err || fail "withheld: $(cat max.err)"

# --- The API answers the same list
collab_serve retailer "$pr"
key=$("$bin" keys api create --role analyst --store retailer.db 2>/dev/null | tail -1)
body='{"partner": "Telco", "partner_side": {"expression": "tariff in [\"Max\", \"Plus\"]"}}'
curl -sf -H "Authorization: Bearer $key" -X POST "http://127.0.0.1:$pr/api/v1/collab/activate?format=csv" \
  -d "$body" -o api.csv || fail "POST /api/v1/collab/activate?format=csv"
# The same people (each run shuffles anew, the list is in customer order: the same bytes).
cmp -s api.csv max_plus.csv || fail "the API's list differs from the CLI's"
curl -sf -H "Authorization: Bearer $key" -X POST "http://127.0.0.1:$pr/api/v1/collab/activate" \
  -d "$body" -o api.json || fail "POST /api/v1/collab/activate"
[ "$(json api.json 'len(d["members"])')" = "$max_plus" ] || fail "JSON members: $(head -c 300 api.json)"
# Withheld: a JSON client gets the reason with its numbers; a spreadsheet (CSV asked, no JSON
# accepted) gets it as one CSV cell (docs/api.md, errors).
code=$(curl -s -o withheld.json -w '%{http_code}' -H "Authorization: Bearer $key" -X POST \
  -H "Accept: application/json" "http://127.0.0.1:$pr/api/v1/collab/activate?format=csv" \
  -d '{"partner": "Telco", "partner_side": {"expression": "tariff = \"Max\""}}')
[ "$code" = 409 ] && [ "$(json withheld.json 'd["error"]["code"]')" = below_min_cell_size ] &&
  [ "$(json withheld.json 'd["error"]["withheld"]')" = True ] \
  || fail "withheld over the API: $code $(cat withheld.json)"
code=$(curl -s -o withheld.csv -w '%{http_code}' -H "Authorization: Bearer $key" -X POST \
  "http://127.0.0.1:$pr/api/v1/collab/activate?format=csv" \
  -d '{"partner": "Telco", "partner_side": {"expression": "tariff = \"Max\""}}')
[ "$code" = 409 ] && grep -q "below_min_cell_size" withheld.csv && ! grep -q "@" withheld.csv \
  || fail "withheld over the API, as CSV: $code $(cat withheld.csv)"

# --- A revoked grant: the retailer still holds it; the operator refuses, logs it, computes nothing
"$bin" grant revoke "$g" --reason "campaign over" --store telco.db >/dev/null 2>&1
before=$(audit_entries)
if activate revoked.csv 2>revoked.err; then fail "a revoked grant was honoured"; fi
grep -q "revoked" revoked.err || fail "revocation refusal: $(cat revoked.err)"
[ "$(audit_entries)" = $((before + 1)) ] && [ "$(last_refusal)" = "refused revoked" ] \
  || fail "the operator's log: $(last_refusal)"

# --- The operator holds none of the retailer's list: not in its store, log or audit log
"$bin" audit verify --store telco.db >/dev/null || fail "the operator's audit log does not verify"
"$bin" audit list --store telco.db --format json >telco_audit.json
tail -n +2 max_plus.csv | tr -d '\r' >list.txt
for f in telco.db telco.log telco_audit.json; do
  if grep -a -F -f list.txt "$f" >/dev/null; then fail "a pseudonym of the list in the operator's $f"; fi
done
# --- Refused under a grant with differential privacy: a list cannot be noised
grant activation activation_list --fields tariff --epsilon 0.5 --budget 3 >/dev/null
if activate dp.csv 2>dp.err; then fail "an activation under a DP grant ran"; fi
grep -q "differential privacy" dp.err || fail "DP refusal: $(cat dp.err)"
[ ! -e dp.csv ] || fail "a refused activation wrote a file"

echo "collab_activate: ok ($max_plus members by e-mail, $by_phone by phone)"
