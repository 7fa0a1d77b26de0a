#!/usr/bin/env bash
# Three parties on loopback, each its own process, store and owner key (docs/collaboration.md):
# a retailer with orders, e-mails and phones; a mobile operator with subscribers and their
# attributes; a brand with no data that only asks. Generated data shares a known set of people
# (`tessera generate --truth`), so every count is checked against the generator's truth:
#   - overlaps by e-mail and by phone, asked by the retailer and by the brand, equal the truth;
#   - joint counts by the operator's age band: cells at or above k_min exact, the others withheld
#     and counted as filtered, never shown;
#   - a spent budget and a revoked grant are refused before anything is computed (the owner's
#     audit log shows the refusal and no run);
#   - no e-mail or phone of one party in another party's store, logs or outputs;
#   - a changed audit entry fails verification;
#   - a query killed at any point, or an owner node killed and restarted, runs again to the
#     same result.
# Usage: collab_three_party.sh BIN SRC
set -euo pipefail
. "$(dirname "$0")/lib.sh"
collab_begin "$1"

# --- Three parties
r=$(collab_party Frischmarkt retailer)
t=$(collab_party Telco telco)
x=$(collab_party Brand brand)

# --- Their data: 3000 retailer customers, 4000 subscribers, 1500 people in both
collab_data 3000 4000 1500
by_email=$(json truth.json 'd["shared"]["by_email"]')
by_phone=$(json truth.json 'd["shared"]["by_phone"]')
[ "$by_email" -gt 300 ] && [ "$by_phone" -gt 300 ] || fail "the generator shared too few: $by_email $by_phone"

pr=$(free_port)
pt=$(free_port)
collab_file_party Frischmarkt "$r" "http://127.0.0.1:$pr" data_owner worker_host
collab_file_party Telco "$t" "http://127.0.0.1:$pt" data_owner
collab_file_party Brand "$x" "http://127.0.0.1:1" analyst worker_host

# The operator lets the retailer match and count by age band and tariff, exactly.
collab_grant telco retailer Frischmarkt overlap overlap_size >/dev/null
collab_grant telco retailer Frischmarkt audience_counts audience_count,cell_counts --fields age_band,tariff >/dev/null
# Both let the brand match; the operator lets the brand count with noise and a budget of two queries.
rx=$(collab_grant retailer brand Brand overlap overlap_size)
collab_grant telco brand Brand overlap overlap_size >/dev/null
collab_grant telco brand Brand audience_counts audience_count --fields age_band --epsilon 0.5 --budget 1 >/dev/null
collab_grant retailer brand Brand audience_counts audience_count --fields segment >/dev/null

collab_serve retailer "$pr"
collab_serve telco "$pt"
telco_pid=${pids[1]}

query() {  # party out [collab args]
  local party=$1 out=$2
  shift 2
  "$bin" collab "$@" --collaboration collab.toml --store "$party.db" --key "$party.key" \
    --format json >"$out" 2>"$out.err"
}
count_of() { json "$1" 'd["cells"][0]["count"] if d["cells"] else 0'; }

# --- Overlaps equal the truth
query retailer o_email.json overlap --partner Telco || fail "retailer overlap: $(cat o_email.json.err)"
[ "$(count_of o_email.json)" = "$by_email" ] || fail "overlap by e-mail $(count_of o_email.json), truth $by_email"
query retailer o_phone.json overlap --partner Telco --identifier phone || fail "phone overlap: $(cat o_phone.json.err)"
[ "$(count_of o_phone.json)" = "$by_phone" ] || fail "overlap by phone $(count_of o_phone.json), truth $by_phone"
[ "$(json o_email.json 'd["attestation"]["mode"]')" = simulated ] || fail "attestation not labelled"
query brand o_brand.json overlap --owners Frischmarkt,Telco || fail "brand overlap: $(cat o_brand.json.err)"
[ "$(count_of o_brand.json)" = "$by_email" ] || fail "brand's overlap $(count_of o_brand.json), truth $by_email"

# --- Joint counts by the operator's age band: exact at or above k_min, the rest withheld
query retailer c_age.json count --partner Telco --partner-breakdown age_band \
  || fail "count: $(cat c_age.json.err)"
python3 - c_age.json truth.json <<'PY' || fail "counts by age band disagree with the truth"
import json, sys
result, truth = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
k = result["k_min"]
expected = {v: s["shared_by_email"] for v, s in truth["attributes"]["age_band"].items()}
got = {c["labels"][0]: c["count"] for c in result["cells"]}
assert result["dimensions"] == ["b.age_band"], result["dimensions"]
assert result["noise"] == "none", result["noise"]
for label, n in got.items():
    assert n >= k, (label, n, k)
    assert expected.get(label) == n, (label, n, expected.get(label))
big = {v for v, n in expected.items() if n >= k}
assert set(got) == big, (sorted(got), sorted(big))
assert result["filtered_cells"] >= len([v for v, n in expected.items() if 0 < n < k]), result
PY
# A partner field the grant does not allow is refused by the partner.
if query retailer c_bad.json count --partner Telco --partner-breakdown device; then
  fail "a breakdown outside the grant's fields was answered"
fi
grep -q "field_not_allowed\|not allow the field" c_bad.json.err || fail "refusal: $(cat c_bad.json.err)"

# --- The brand's budget: two noisy counts, the third refused before anything is computed
for i in 1 2; do
  query brand b_count$i.json count --owners Frischmarkt,Telco || fail "brand count $i: $(cat b_count$i.json.err)"
  case "$(json b_count$i.json 'd["noise"]')" in discrete_laplace*) ;; *) fail "no noise on a DP grant" ;; esac
done
"$bin" audit list --store telco.db --format json >before.json
if query brand b_count3.json count --owners Frischmarkt,Telco; then fail "an overdrawn budget ran"; fi
grep -qi "budget" b_count3.json.err || fail "budget refusal: $(cat b_count3.json.err)"
"$bin" audit list --store telco.db --format json >after.json
python3 - before.json after.json <<'PY' || fail "the refused query left more than its refusal"
import json, sys
before, after = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
new = after[len(before):]
assert len(new) == 1 and new[0]["outcome"] == "refused" and new[0]["reason"] == "budget_exhausted", new
assert new[0]["epsilon_micro"] == 0 and new[0]["cells_returned"] == 0, new
PY

# --- A revoked grant: the brand still holds its copy; the retailer refuses
"$bin" grant revoke "$rx" --reason "contract ended" --store retailer.db >/dev/null 2>&1
if query brand o_revoked.json overlap --owners Frischmarkt,Telco; then fail "a revoked grant was honoured"; fi
grep -q "revoked" o_revoked.json.err || fail "revocation refusal: $(cat o_revoked.json.err)"

# --- Kills: an owner node killed and restarted, a requester killed at several points
kill -9 "$telco_pid"
wait "$telco_pid" 2>/dev/null || true
if query retailer o_down.json overlap --partner Telco; then fail "an overlap with a dead partner"; fi
grep -qi "reach" o_down.json.err || fail "unreachable partner: $(cat o_down.json.err)"
collab_serve telco "$pt"
for delay in 0.05 0.15 0.3 0.6; do
  "$bin" collab overlap --partner Telco --collaboration collab.toml --store retailer.db \
    --key retailer.key --format json >/dev/null 2>&1 &
  victim=$!
  sleep "$delay"
  kill -9 "$victim" 2>/dev/null || true
  wait "$victim" 2>/dev/null || true
  query retailer o_again.json overlap --partner Telco || fail "rerun after a kill at ${delay}s: $(cat o_again.json.err)"
  [ "$(count_of o_again.json)" = "$by_email" ] || fail "rerun after a kill at ${delay}s: $(count_of o_again.json)"
done
# Workers started here (their working directory is this one; other tests' run beside): none left.
orphans() {
  for w in $(pgrep -f "tessera-worker --sealed"); do
    [ "$(readlink "/proc/$w/cwd" 2>/dev/null)" = "$work" ] && echo "$w"
  done
  true
}
for _ in $(seq 20); do [ -z "$(orphans)" ] && break; sleep 0.1; done
[ -z "$(orphans)" ] || fail "a worker outlived its requester"

# --- Audit logs: intact at every party; a changed entry is found
for p in retailer telco brand; do
  "$bin" audit verify --store $p.db >/dev/null || fail "$p's audit log does not verify"
done
[ "$("$bin" audit list --store telco.db --format json | json /dev/stdin 'len(d)')" -ge 8 ] \
  || fail "the operator's log misses requests"
sqlite3 telco.db "UPDATE collab_audit_log SET cells_returned = cells_returned + 1 WHERE seq = 2" 2>/dev/null \
  || sqlite3 telco.db "UPDATE collab_audit_log SET cells_returned = cells_returned + 1 WHERE rowid = 2"
if "$bin" audit verify --store telco.db >verify.txt; then fail "a changed audit entry verified"; fi

# --- No identifier of one party anywhere at another
python3 - orders.csv subscribers.csv <<'PY' > identifiers.txt
import csv, sys
seen = set()
for path in sys.argv[1:]:
    for row in csv.DictReader(open(path, newline="")):
        for k, v in row.items():
            if k and ("mail" in k.lower() or "phone" in k.lower()) and v:
                seen.add(v.strip().lower())
print("\n".join(sorted(seen)))
PY
[ "$(wc -l < identifiers.txt)" -gt 1000 ] || fail "too few identifiers to look for"
for f in retailer.db telco.db brand.db retailer.log telco.log ./*.json ./*.err; do
  [ -f "$f" ] || continue
  if strings -n 6 "$f" | tr 'A-Z' 'a-z' | grep -F -q -f identifiers.txt; then
    fail "an identifier in $f"
  fi
done
echo "three parties ok: overlap $by_email by e-mail, $by_phone by phone; counts, budget, revocation, kills, audit, privacy checked"
