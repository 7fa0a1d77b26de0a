#!/usr/bin/env bash
# The join worker at a neutral worker host (docs/collaboration.md, "Where the worker runs"): a
# retailer asks the operator for their overlap; the operator's grant lets the worker run only at
# Clearing, a third party with the role worker_host and no data of its own. Three processes,
# three stores, three keys, on loopback.
#   - the overlap equals the generator's truth, with --worker-host Clearing and without it (the
#     requester finds the one place the grant allows), by the CLI and by the retailer's API;
#   - a place the grant does not allow is refused before the operator is asked (its audit log
#     does not grow); a host whose own file does not make it a worker_host refuses to host;
#   - Clearing down: the query fails saying so, and runs again to the same result once it is up;
#   - a revocation is pushed to the grantee's node, whose copy then says revoked;
#   - no e-mail or phone of either owner in Clearing's store, log or answers.
# Usage: collab_worker_host.sh BIN SRC
set -euo pipefail
. "$(dirname "$0")/lib.sh"
collab_begin "$1"

r=$(collab_party Frischmarkt retailer)
t=$(collab_party Telco telco)
c=$(collab_party Clearing clearing)
collab_data 1500 2000 800
by_email=$(json truth.json 'd["shared"]["by_email"]')
[ "$by_email" -ge 100 ] || fail "the generator's numbers no longer fit the test: $by_email"

pr=$(free_port)
pt=$(free_port)
pc=$(free_port)
collab_file_party Frischmarkt "$r" "http://127.0.0.1:$pr" data_owner
collab_file_party Telco "$t" "http://127.0.0.1:$pt" data_owner
collab_file_party Clearing "$c" "http://127.0.0.1:$pc" worker_host

# The operator lets the retailer learn the overlap, with the worker at Clearing only.
"$bin" grant create --partner Frischmarkt --collaboration collab.toml --purpose overlap \
  --outputs overlap_size --worker-hosts Clearing --store telco.db --key telco.key --out g.json \
  >/dev/null 2>&1 || fail "grant create"
"$bin" grant import g.json --collaboration collab.toml --store retailer.db --key retailer.key \
  >/dev/null 2>&1 || fail "grant import"
collab_serve telco "$pt"
collab_serve clearing "$pc"
clearing_pid=${pids[1]}

overlap() {  # out [collab args]
  local out=$1
  shift
  "$bin" collab overlap --partner Telco --collaboration collab.toml --store retailer.db \
    --key retailer.key --format json "$@" >"$out" 2>"$out.err"
}
count_of() { json "$1" 'd["cells"][0]["count"] if d["cells"] else 0'; }
audit_entries() { "$bin" audit list --store telco.db --format json | json /dev/stdin 'len(d)'; }

# --- At Clearing, named and found
overlap named.json --worker-host Clearing || fail "overlap at Clearing: $(cat named.json.err)"
[ "$(count_of named.json)" = "$by_email" ] || fail "overlap $(count_of named.json), truth $by_email"
overlap found.json || fail "overlap, worker host not named: $(cat found.json.err)"
[ "$(count_of found.json)" = "$by_email" ] || fail "overlap $(count_of found.json), truth $by_email"
[ "$(json found.json 'd["attestation"]["mode"]')" = simulated ] || fail "attestation not labelled"

# --- The retailer's API, the same
collab_serve retailer "$pr"
key=$("$bin" keys api create --role analyst --store retailer.db 2>/dev/null | tail -1)
curl -sf -H "Authorization: Bearer $key" -X POST "http://127.0.0.1:$pr/api/v1/collab/overlap" \
  -d '{"partner": "Telco", "worker_host": "Clearing"}' -o api.json || fail "POST /api/v1/collab/overlap"
[ "$(count_of api.json)" = "$by_email" ] || fail "API overlap: $(head -c 300 api.json)"

# --- A place the grant does not allow: refused here, the operator not asked
before=$(audit_entries)
if overlap here.json --worker-host Frischmarkt; then fail "a worker the grant does not allow ran"; fi
grep -q "only at Clearing" here.json.err || fail "refusal: $(cat here.json.err)"
[ "$(audit_entries)" = "$before" ] || fail "the operator was asked"

# --- Clearing down: a clear failure; up again: the same result
kill -9 "$clearing_pid"
wait "$clearing_pid" 2>/dev/null || true
if overlap down.json --worker-host Clearing; then fail "a query ran without its worker host"; fi
grep -qi "clearing" down.json.err || fail "the failure does not name the host: $(cat down.json.err)"
collab_serve clearing "$pc"
overlap again.json --worker-host Clearing || fail "rerun: $(cat again.json.err)"
[ "$(count_of again.json)" = "$by_email" ] || fail "rerun $(count_of again.json), truth $by_email"

# --- A host whose own file does not give it the role refuses to host
kill "${pids[-1]}"
wait "${pids[-1]}" 2>/dev/null || true
sed 's/roles = \["worker_host"\]/roles = ["analyst"]/' collab.toml >clearing.toml
"$bin" serve --store clearing.db --key clearing.key --with-key --collaboration clearing.toml \
  --listen "127.0.0.1:$pc" >clearing2.log 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$pc/api/v1/health" >/dev/null && break; sleep 0.1; done
if overlap refused.json --worker-host Clearing; then fail "a party without the role hosted a worker"; fi
grep -q "hosts no join workers" refused.json.err || fail "refusal: $(cat refused.json.err)"

# --- The operator revokes its grant and tells the retailer's node: the retailer's copy says
# revoked, and its next query is refused before the operator is asked
g=$(json g.json 'd["grant_id"]')
"$bin" grant revoke "$g" --reason "contract ended" --collaboration collab.toml --store telco.db \
  --key telco.key 2>revoke.err || fail "grant revoke: $(cat revoke.err)"
grep -q "Frischmarkt's node was told" revoke.err || fail "the grantee was not told: $(cat revoke.err)"
"$bin" grant show "$g" --store retailer.db >copy.json
[ "$(json copy.json 'd["revoked"] is not None and d["revoked"]["reason"]')" = "contract ended" ] \
  || fail "the retailer's copy: $(cat copy.json)"
before=$(audit_entries)
if overlap revoked.json --worker-host Clearing; then fail "a revoked grant was used"; fi
[ "$(audit_entries)" = "$before" ] || fail "the operator was asked under a grant it revoked"

# --- Clearing holds nothing of the owners' people
python3 - orders.csv subscribers.csv <<'PY' >ids.txt
import csv, sys
for f in sys.argv[1:]:
    for row in csv.DictReader(open(f)):
        for k in ("email", "phone"):
            if row.get(k):
                print(row[k].strip())
PY
[ "$(wc -l <ids.txt)" -gt 1000 ] || fail "too few identifiers to look for"
for f in clearing.db clearing.log clearing2.log; do
  if grep -a -F -f ids.txt "$f" >/dev/null; then fail "an identifier in Clearing's $f"; fi
done
echo "PASS: overlap $by_email with the worker at a neutral host; refusals and restart as designed"
