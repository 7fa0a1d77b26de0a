#!/usr/bin/env bash
# Two parties, each its own process, store and owner key, as a new user would set them up:
# party init/show, a collaboration file, a signed grant sent from one to the other, a grant
# changed on the way (refused), an expired or self-addressed grant (refused), revocation, and the
# audit log's verification (a row slipped in behind its back is found). Usage: collab_cli.sh BIN SRC
set -euo pipefail
bin=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
fail() { echo "FAIL: $*"; exit 1; }

"$bin" keys init --key a.key >/dev/null 2>&1
"$bin" keys init --key b.key >/dev/null 2>&1
"$bin" keys init --key c.key >/dev/null 2>&1
a=$("$bin" party init --name "Frischmarkt GmbH" --store a.db --key a.key 2>/dev/null)
b=$("$bin" party init --name "Telco AG" --store b.db --key b.key 2>/dev/null)
c=$("$bin" party init --name "Brand" --store c.db --key c.key 2>/dev/null)
[[ $a == tp1:* && ${#a} == 68 ]] || fail "party id: $a"
[ "$a" != "$b" ] || fail "two owners, one party id"
# The party id derives from the owner key: the same key gives the same id again.
[ "$("$bin" party show --store a.db --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["party_id"])')" = "$a" ] \
  || fail "party show"
if "$bin" party init --name Other --store a.db --key b.key >/dev/null 2>&1; then
  fail "a store took a second party key"
fi

cat > collab.toml <<TOML
[[party]]
name = "Frischmarkt"
id = "$a"
endpoint = "https://frischmarkt.example:8443"
roles = ["data_owner"]

[[party]]
name = "Telco"
id = "$b"
endpoint = "https://telco.example:8443"
roles = ["data_owner", "worker_host"]
TOML

"$bin" grant create --partner Telco --collaboration collab.toml --purpose audience_counts \
  --outputs cell_counts --fields age_band,tariff --epsilon 0.5 --budget 3 --valid-for 6m \
  --store a.db --key a.key --out grant.json 2>/dev/null
id=$(python3 -c 'import json; print(json.load(open("grant.json"))["grant_id"])')
"$bin" grant import grant.json --collaboration collab.toml --store b.db --key b.key 2>/dev/null \
  || fail "the partner could not import a good grant"
"$bin" grant list --store b.db --format json | python3 -c "
import json, sys
g = json.load(sys.stdin)
assert len(g) == 1 and g[0]['grant_id'] == '$id' and g[0]['direction'] == 'received', g
assert g[0]['k_min'] == 100 and g[0]['differential_privacy']['epsilon_per_query'] == '0.5', g
" || fail "grant list"

# A grant changed on the way (k_min lowered) fails its signature.
python3 -c "
import json; g = json.load(open('grant.json')); g['k_min'] = 2; g['grant_id'] = 'g_0000000000000001'
json.dump(g, open('changed.json', 'w'))"
if "$bin" grant import changed.json --collaboration collab.toml --store b.db --key b.key 2>err.txt; then
  fail "a changed grant was imported"
fi
grep -qi "signature" err.txt || fail "changed grant: $(cat err.txt)"
# A grant for someone else, and a grantor not in the collaboration file, are refused.
if "$bin" grant import grant.json --collaboration collab.toml --store c.db --key c.key 2>/dev/null; then
  fail "a grant addressed to b was imported by c"
fi
# A grant that has expired already cannot be made.
if "$bin" grant create --partner "$b" --purpose overlap --outputs overlap_size \
     --expires 2020-01-01 --store a.db --key a.key >/dev/null 2>err.txt; then
  fail "an expired grant was created"
fi
# Revocation: listed as revoked, revoking twice says so.
"$bin" grant revoke "$id" --reason "campaign over" --store a.db 2>/dev/null
[ "$("$bin" grant show "$id" --store a.db | python3 -c 'import json,sys; print(json.load(sys.stdin)["revoked"]["reason"])')" = "campaign over" ] \
  || fail "revocation not shown"
"$bin" grant revoke "$id" --store a.db >second.txt 2>&1 || fail "second revoke: $(cat second.txt)"
grep -q "already" second.txt || fail "second revoke: $(cat second.txt)"
# Without the collaboration file the partner's node is not told, and the CLI says so.
grep -q "give --collaboration" second.txt || fail "second revoke, no notice hint: $(cat second.txt)"

# The audit log: empty and intact; a row slipped in without its head is found (exit 1).
"$bin" audit verify --store a.db | grep -q "intact: 0 entries" || fail "audit verify on an empty log"
sqlite3 a.db "INSERT INTO collab_audit_log VALUES (1, 0, '$a', '', 'overlap', '', 0, 0, 'simulated', 'ok', '', zeroblob(32), zeroblob(32))"
if "$bin" audit verify --store a.db >out.txt; then fail "a tampered audit log verified"; fi
grep -q "DAMAGED" out.txt || fail "audit verify: $(cat out.txt)"

# Nothing personal anywhere: the stores hold party ids, grants and names only.
for db in a.db b.db; do
  if sqlite3 "$db" .dump | grep -qi "@"; then fail "$db holds an @"; fi
done
echo "collab cli ok: parties $a ${b:0:12}…, grant $id"
