#!/usr/bin/env bash
# No raw identifier from an input file appears in the store, a log, the reject report or any
# output: checked on both stores (the SQLite file and its WAL; every PostgreSQL table through
# pg_dump --data-only) for every customer number, e-mail and order id of a generated export,
# in raw and normalized form, plus rows with blank-padded, mixed-case identifiers, phone
# numbers (as written, in E.164 and as bare digits; kept only as match tokens) and malformed
# rows that carry personal values. Looked for in the ingest log, the rejects file,
# segments, profiles, status, orders list, the snapshot commands, and a `tessera serve` run
# (its log and every answer, an upload with its rejects among them).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
tessera=$1
root=$2
work=$(mktemp -d)
admin=${TESSERA_TEST_POSTGRES_URL:-}
databases=()
serve_pid=
cleanup() {
  [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null
  for db in "${databases[@]}"; do
    psql "$admin" -qAtc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
export TESSERA_KEY="$work/owner.key" XDG_CACHE_HOME="$work/cache"
"$tessera" keys init >/dev/null
"$tessera" generate --customers 3000 --months 12 --seed 7 --end 2025-06-30 --output "$work/orders.csv" 2>/dev/null
# Identifiers padded with blanks and in mixed case (stored under their normalized form), and
# rows whose personal values are malformed: they are rejected, and must not be echoed.
cat >>"$work/orders.csv" <<'ROWS'
ORD-MIXED-0001,  KMIXED0001  ,  Mixed.Case@Example.COM  ,2025-01-02T00:00:00Z,SKU-1,Food > Cheese,1,1.00,EUR,Online Shop,Nord,online,completed
ORD-MIXED-0002,,  ONLY.MAIL@EXAMPLE.ORG,2025-01-03T00:00:00Z,SKU-1,Food > Cheese,1,1.00,EUR,Online Shop,Nord,online,completed
X-SECRET-1,,secret.person@,2025-01-01T00:00:00Z,SKU-1,Food > Cheese,1,1.00,EUR,Online Shop,Nord,online,completed
X-SECRET-2,K99999992,geheim@example.com,2025-13-01T00:00:00Z,SKU-1,Food > Cheese,1,1.00,EUR,Online Shop,Nord,online,completed
X-SECRET-3,K99999993,geheim3@example.com,2025-01-01T00:00:00Z,SKU-1,Food > Cheese,one,1.00,EUR,Online Shop,Nord,online,completed
ROWS
# Phone numbers, of a customer with a number (a match token only) and of customers a phone
# identifies, national numbers read as German; one malformed.
cat >"$work/phones.csv" <<'ROWS'
order_id,customer_id,email,phone,ordered_at,amount,currency
PHONE-ORDER-0001,PHONE-CUST-0001,Phone.Person@Example.NET,0151 2345 6789,2025-01-05,10.00,EUR
PHONE-ORDER-0002,,,+49 (0)160 9876 5432,2025-01-06,10.00,EUR
PHONE-ORDER-0003,,,0049 177 3456 7890,2025-01-07,10.00,EUR
PHONE-ORDER-0004,,,0172 SECRET 99,2025-01-08,10.00,EUR
ROWS
{ cat "$root/config/mappings/generic.toml"; echo 'default_phone_country = "DE"'; } >"$work/phones.toml"

# An upload through the API, with a rejected row of its own.
cat >"$work/upload.csv" <<'ROWS'
order_id,customer_id,email,ordered_at,amount,currency
UPLOAD-ORDER-0001,UPLOAD-CUST-0001,Upload.Person@Example.NET,2025-02-01,10.00,EUR
UPLOAD-ORDER-0002,UPLOAD-CUST-0002,upload.broken@example.net,2025-02-30,10.00,EUR
ROWS

# Every identifier of the inputs, one per line (customer ids, e-mails, order ids), raw and
# normalized (trimmed; e-mails lower-cased).
python3 - "$work/orders.csv" "$work/upload.csv" "$work/phones.csv" "$work/needles" <<'PY'
import csv, sys
ids = set()
for path in sys.argv[1:4]:
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            for col in ("order_id", "customer_id", "email", "phone"):
                v = row.get(col) or ""
                if v.strip():
                    ids.update({v, v.strip()})
                    if col == "email":
                        ids.add(v.strip().lower())
# Phones also in E.164, as bare digits and without their national prefix.
ids.update({"+4915123456789", "4915123456789", "015123456789", "15123456789",
            "+491609876543", "491609876543", "1609876543",
            "+491773456789", "491773456789", "1773456789", "SECRET 99"})
ids.update({"secret.person@", "geheim@example.com", "X-SECRET-1"})
open(sys.argv[4], "w").write("\n".join(sorted(ids)) + "\n")
print(len(ids), "identifiers to look for")
PY
for n in KMIXED0001 mixed.case@example.com only.mail@example.org UPLOAD-CUST-0001 upload.person@example.net \
         "0151 2345 6789" +491609876543 1773456789; do
  grep -qxF "$n" "$work/needles" || { echo "the needle list lacks $n"; exit 1; }
done

# A request to the server on bash's /dev/tcp (no client to install): prints the answer.
request() {  # METHOD PATH KEY [BODY_FILE]
  local body=""
  [ -n "${4:-}" ] && body=$(cat "$4")
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  printf '%s %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nConnection: close\r\nContent-Type: text/csv\r\nContent-Length: %s\r\n\r\n%s' \
    "$1" "$2" "$3" "${#body}" "$body" >&3
  cat <&3
  exec 3<&-
}

check_store() {  # LABEL LOCATION
  local label=$1 store=$2 out="$work/$1"
  mkdir -p "$out"
  export TESSERA_STORE=$store
  # As a party of collaborations: its loads keep match tokens, which are searched too.
  "$tessera" party init --name "Privacy Test" >/dev/null 2>&1
  "$tessera" ingest "$work/orders.csv" "$work/phones.csv" --mapping "$work/phones.toml" \
    --rejects "$out/rejects.csv" --summary-json "$out/summary.json" >"$out/log" 2>&1
  grep -q 'rows rejected *4' "$out/log" || { echo "$label: expected 4 rejected rows"; cat "$out/log"; exit 1; }
  grep -q 'bad_phone' "$out/rejects.csv" || { echo "$label: the malformed phone was not rejected"; exit 1; }
  # Every e-mail and phone is kept as a match token: the generated customers' e-mails and the
  # four of the rows above with one, the phone rows' three.
  grep -qE '"match_tokens": *[1-9][0-9]{3,},' "$out/summary.json" \
    || { echo "$label: no match tokens stored"; cat "$out/summary.json"; exit 1; }
  "$tessera" segments --as-of 2025-06-30 --window 12m >"$out/segments.txt" 2>>"$out/log"
  "$tessera" profiles --as-of 2025-06-30 --window 12m >"$out/profiles.csv" 2>>"$out/log"
  "$tessera" status >"$out/status.txt" 2>>"$out/log"
  "$tessera" orders list >"$out/orders.txt" 2>>"$out/log"
  "$tessera" snapshots create --as-of 2025-06-30 --window 12m >"$out/snapshot.txt" 2>>"$out/log"
  "$tessera" snapshots list >>"$out/snapshot.txt" 2>>"$out/log"
  "$tessera" snapshots show --format csv >>"$out/snapshot.txt" 2>>"$out/log"
  [ "$(wc -l <"$out/profiles.csv")" -gt 1000 ] || { echo "$label: too few profiles"; exit 1; }
  [ "$(wc -l <"$out/orders.txt")" -gt 1000 ] || { echo "$label: too few orders listed"; exit 1; }

  local analyst admin
  analyst=$("$tessera" keys api create --role analyst 2>/dev/null)
  admin=$("$tessera" keys api create --role admin 2>/dev/null)
  "$tessera" serve --with-key --listen 127.0.0.1:0 >"$out/serve.out" 2>"$out/serve.log" &
  serve_pid=$!
  for _ in $(seq 100); do grep -q Listening "$out/serve.out" 2>/dev/null && break; sleep 0.1; done
  port=$(sed -n 's/.*127.0.0.1:\([0-9]*\).*/\1/p' "$out/serve.out" | head -1)
  [ -n "$port" ] || { echo "$label: serve did not start"; cat "$out/serve.log"; exit 1; }
  local uuid
  uuid=$(sed -n '2s/,.*//p' "$out/profiles.csv")
  {
    request GET /api/v1/segments "$analyst"
    request GET "/api/v1/profiles?limit=500" "$analyst"
    request GET "/api/v1/profiles?limit=500&format=csv" "$analyst"
    request GET "/api/v1/profiles/$uuid" "$analyst"
    request POST "/api/v1/ingest?name=upload.csv" "$admin" "$work/upload.csv"
    request GET /api/v1/loads "$admin"
    request GET /api/v1/loads/1/rejects "$admin"
    request GET "/api/v1/loads/2/rejects?format=csv" "$admin"
    request GET /metrics "$analyst"
  } >"$out/api.txt"
  grep -qE '"rows_rejected": *1,' "$out/api.txt" || { echo "$label: the upload did not report its rejected row"; grep -a ingest -A3 "$out/api.txt" | head; exit 1; }
  grep -q 'upload.csv,3,' "$out/api.txt" || { echo "$label: the upload's rejects were not listed"; exit 1; }
  kill "$serve_pid"
  wait "$serve_pid" || true
  serve_pid=

  local files=("$out"/*)
  if [ "$label" = sqlite ]; then
    files+=("$store"*)
  else
    pg_dump --data-only --no-owner "$store" >"$out/dump.sql"
    [ "$(wc -c <"$out/dump.sql")" -gt 100000 ] || { echo "$label: the dump is too small"; exit 1; }
    files+=("$out/dump.sql")
  fi
  for f in "${files[@]}"; do
    if grep -a -F -f "$work/needles" "$f" >/dev/null; then
      echo "$label: a raw identifier appears in $(basename "$f"):"
      grep -a -o -F -f "$work/needles" "$f" | head -3 | sed 's/^/  /'
      exit 1
    fi
  done
  echo "$label: no identifier in the store, logs, rejects, outputs or API answers (${#files[@]} files)"
}

check_store sqlite "$work/store.db"
if [ -n "$admin" ]; then
  db="tessera_e2e_privacy_$$"
  psql "$admin" -qAtc "CREATE DATABASE $db" >/dev/null
  databases+=("$db")
  check_store postgres "$(echo "$admin" | sed -E "s#^(postgres(ql)?://[^/]*)/[^?]*#\1/$db#")"
fi
# The same check finds identifiers when they are there (the check itself can fail).
grep -q -F -f "$work/needles" "$work/orders.csv"
grep -q -F -f "$work/needles" "$work/upload.csv"
grep -q -F -f "$work/needles" "$work/phones.csv"
[ -n "$admin" ] || skip_or_fail "TESSERA_TEST_POSTGRES_URL is not set (the PostgreSQL half; the SQLite half passed)"
echo "privacy ok on both stores"
