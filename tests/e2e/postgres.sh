#!/usr/bin/env bash
# The PostgreSQL store gives the same results as the SQLite store: the same commands on the
# same input give identical segments (to the cent) and profiles, for generated data and for
# the UCI Online Retail data when ../shared/data is present. Loading twice stores each order
# once. A load killed with SIGKILL leaves whole batches only, and running it again gives
# exactly the result of an uninterrupted load.
# Needs a server: TESSERA_TEST_POSTGRES_URL (scripts/test starts one with scripts/pg-test-cluster).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
tessera=$1
root=$2
if [ -z "${TESSERA_TEST_POSTGRES_URL:-}" ]; then
  skip_or_fail "TESSERA_TEST_POSTGRES_URL is not set; start a server with: eval \"\$(scripts/pg-test-cluster start)\""
fi
admin=$TESSERA_TEST_POSTGRES_URL
skipped_part=""
work=$(mktemp -d)
databases=()
cleanup() {
  for db in "${databases[@]}"; do
    psql "$admin" -qAtc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

psql() { PGOPTIONS='-c client_min_messages=warning' command psql "$@"; }

# Creates a new empty database and sets $url to its store URL (the admin URL with the
# database replaced).
new_db() {
  local db="tessera_e2e_$$_$1"
  psql "$admin" -qAtc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
  psql "$admin" -qAtc "CREATE DATABASE $db" >/dev/null
  databases+=("$db")
  url=$(echo "$admin" | sed -E "s#^(postgres(ql)?://[^/]*)/[^?]*#\1/$db#")
}

export TESSERA_KEY="$work/owner.key"
"$tessera" keys init >/dev/null

# Ingests `file` (with extra ingest args) into SQLite and PostgreSQL and diffs the outputs.
compare() {
  local name=$1 file=$2 as_of=$3 window=$4
  shift 4
  new_db "$name"
  local pg=$url
  "$tessera" ingest "$file" --store "$work/$name.db" --quiet "$@"
  "$tessera" ingest "$file" --store "$pg" --quiet "$@"
  for store in "$work/$name.db" "$pg"; do
    local tag=sqlite
    [ "$store" = "$pg" ] && tag=pg
    "$tessera" segments --store "$store" --as-of "$as_of" --window "$window" --format json >"$work/$name.$tag.segments.json"
    "$tessera" profiles --store "$store" --as-of "$as_of" --window "$window" >"$work/$name.$tag.profiles.csv"
    "$tessera" status --store "$store" | grep -E '^ *(customers|orders|chunks) ' >"$work/$name.$tag.status"
  done
  for out in segments.json profiles.csv status; do
    if ! cmp -s "$work/$name.sqlite.$out" "$work/$name.pg.$out"; then
      echo "$name: $out differs between SQLite and PostgreSQL"
      diff "$work/$name.sqlite.$out" "$work/$name.pg.$out" | head -20
      exit 1
    fi
  done
  # Loading the same file again stores nothing new, on PostgreSQL as on SQLite.
  "$tessera" ingest "$file" --store "$pg" --quiet "$@"
  "$tessera" segments --store "$pg" --as-of "$as_of" --window "$window" --format json >"$work/$name.pg2.segments.json"
  cmp -s "$work/$name.sqlite.segments.json" "$work/$name.pg2.segments.json" || { echo "$name: a second load changed the results"; exit 1; }
  echo "$name: SQLite and PostgreSQL give identical segments, profiles and counts ($(wc -l <"$work/$name.pg.profiles.csv") profile lines)"
}

"$tessera" generate --customers 5000 --months 24 --seed 3 --end 2025-06-30 --output "$work/generated.csv" 2>/dev/null
compare generated "$work/generated.csv" 2025-06-30 12m --batch-size 7000

data="$root/../shared/data/online-retail/online_retail.csv.gz"
if [ -f "$data" ]; then
  compare online_retail "$data" 2011-12-09 13m --mapping online-retail
else
  # Under CI=true this fails here; elsewhere the rest runs and the script reports a skip.
  [ "${CI:-}" = true ] && skip_or_fail "$data is absent (the shared test data lives beside the project)"
  skipped_part="the Online Retail half: $data is absent"
fi

# Interrupted loads, killed with SIGKILL at known points: once 0, 1, 5 and 20 batches are
# committed (the loader kills itself there, TESSERA_TEST_KILL_AFTER_BATCHES), and once more
# from outside at a moment that lands wherever it does; whole batches only, and a re-run
# equals the reference.
"$tessera" generate --customers 20000 --months 24 --seed 11 --end 2025-06-30 --output "$work/orders.csv" 2>/dev/null
new_db reference
ref=$url
"$tessera" ingest "$work/orders.csv" --store "$ref" --quiet --batch-size 500
"$tessera" segments --store "$ref" --as-of 2025-06-30 --format json >"$work/reference.json"
"$tessera" profiles --store "$ref" --as-of 2025-06-30 | sort >"$work/reference.csv"
total=$("$tessera" status --store "$ref" | awk '$1=="orders"{print $2}')
[ "$total" -gt $((20 * 500)) ] || { echo "the input is too small for the kill points ($total orders)"; exit 1; }
n=0
for target in 0 1 5 20 outside; do
  n=$((n + 1))
  new_db "killed$n"
  killed=$url
  if [ "$target" = outside ]; then
    "$tessera" ingest "$work/orders.csv" --store "$killed" --quiet --batch-size 500 &
    pid=$!
    sleep 0.7
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  else
    rc=0
    TESSERA_TEST_KILL_AFTER_BATCHES=$target "$tessera" ingest "$work/orders.csv" --store "$killed" --quiet --batch-size 500 2>/dev/null || rc=$?
    [ "$rc" = 137 ] || { echo "the load was not killed after $target batches (exit $rc)"; exit 1; }
  fi
  "$tessera" status --store "$killed" >"$work/status" 2>&1 || { echo "status fails after a kill (target $target): $(cat "$work/status")"; exit 1; }
  stored=$(awk '$1=="orders"{print $2}' "$work/status")
  in_tables=$(psql "$killed" -qAtc 'SELECT count(*) FROM orders')
  if [ "$stored" != "$in_tables" ]; then echo "batches table says $stored orders, orders table holds $in_tables"; exit 1; fi
  if [ "$target" = outside ]; then
    if [ "$stored" != "$total" ] && [ $((stored % 500)) != 0 ]; then echo "partial batch: $stored orders after a kill from outside"; exit 1; fi
  elif [ "$stored" != $((target * 500)) ]; then
    echo "$stored orders after a kill once $target batches were committed, not $((target * 500))"; exit 1
  fi
  "$tessera" ingest "$work/orders.csv" --store "$killed" --quiet --batch-size 500
  "$tessera" segments --store "$killed" --as-of 2025-06-30 --format json >"$work/resumed.json"
  "$tessera" profiles --store "$killed" --as-of 2025-06-30 | sort >"$work/resumed.csv"
  cmp -s "$work/reference.json" "$work/resumed.json" || { echo "segments differ after kill (target $target)"; diff "$work/reference.json" "$work/resumed.json" | head; exit 1; }
  cmp -s "$work/reference.csv" "$work/resumed.csv" || { echo "profiles differ after kill (target $target)"; exit 1; }
done
echo "PostgreSQL: loads killed after 0, 1, 5 and 20 batches and from outside kept whole batches, and their re-runs equal the uninterrupted one"
if [ -n "$skipped_part" ]; then skip_or_fail "$skipped_part (the rest passed)"; fi
