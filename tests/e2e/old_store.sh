#!/usr/bin/env bash
# A store made by the first release (tests/fixtures/store_v1: schema version 1, SQLite file
# and PostgreSQL dump) opens with today's code, is upgraded to today's schema, and answers as
# the first release did: the same segments and profiles, the first release's own output being
# the oracle. After the upgrade it keeps working as a store made today (a further load gives
# what the same loads give in a new store). Two processes upgrading it at once both succeed;
# a module's migration that fails half-way leaves that module's tables at the version before
# it, with nothing of the failed migration, and the next open finishes the upgrade.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
tessera=$1
root=$2
fixture="$root/tests/fixtures/store_v1"
admin=${TESSERA_TEST_POSTGRES_URL:-}
work=$(mktemp -d)
databases=()
psql() { PGOPTIONS='-c client_min_messages=warning' command psql -v ON_ERROR_STOP=1 "$@"; }
cleanup() {
  for db in "${databases[@]}"; do
    psql "$admin" -qAtc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
install -m 600 "$root/tests/cases/test.key" "$work/owner.key"
export TESSERA_KEY="$work/owner.key" XDG_CACHE_HOME="$work/cache"
fail() { echo "$*"; exit 1; }

# The schema version a store made today has.
"$tessera" ingest "$fixture/orders.csv.gz" --store "$work/today.db" --quiet
current=$(sqlite3 "$work/today.db" "SELECT value FROM meta WHERE key = 'schema_version'")
[ "$current" -gt 1 ] || fail "a new store has schema version $current"
# And the version of the order tables (the store module's migrations).
store_current=$(sqlite3 "$work/today.db" "SELECT version FROM schema_versions WHERE module = 'store'")
[ "$store_current" -ge 2 ] || fail "a new store's order tables are at version $store_current"

# A copy of the old store as backend $1: prints its location.
copy_old() {
  local backend=$1 name=$2
  if [ "$backend" = sqlite ]; then
    install -m 600 "$fixture/store.db" "$work/$name.db"
    echo "$work/$name.db"
  else
    local db="tessera_e2e_old_${name}_$$"
    psql "$admin" -qAtc "CREATE DATABASE $db" >/dev/null
    databases+=("$db")
    local url
    url=$(echo "$admin" | sed -E "s#^(postgres(ql)?://[^/]*)/[^?]*#\1/$db#")
    gzip -dc "$fixture/store.sql.gz" | psql -q "$url" >/dev/null
    echo "$url"
  fi
}
# schema_version of store $2 (backend $1), read without Tessera.
version_of() {
  if [ "$1" = sqlite ]; then
    sqlite3 "$2" "SELECT value FROM meta WHERE key = 'schema_version'"
  else
    psql "$2" -qAtc "SELECT value FROM tessera_meta WHERE key = 'schema_version'"
  fi
}
# The version of module $3's tables in store $2 (backend $1), "" when it has none.
module_version() {
  local q="SELECT version FROM schema_versions WHERE module = '$3'"
  if [ "$1" = sqlite ]; then sqlite3 "$2" "$q"; else psql "$2" -qAtc "$q"; fi
}
has_table() {
  if [ "$1" = sqlite ]; then
    [ "$(sqlite3 "$2" "SELECT count(*) FROM sqlite_master WHERE name = '$3'")" = 1 ]
  else
    [ "$(psql "$2" -qAtc "SELECT count(*) FROM pg_class WHERE relname = '$3'")" = 1 ]
  fi
}
answers_as_the_first_release() {  # STORE LABEL
  "$tessera" segments --store "$1" --as-of 2024-06-30 --window 12m --format csv >"$work/seg.csv"
  diff -u "$fixture/v1_segments.csv" "$work/seg.csv" || fail "$2: segments differ from the first release's"
  "$tessera" profiles --store "$1" --as-of 2024-06-30 --window 12m | sort >"$work/prof.csv"
  cmp -s "$fixture/v1_profiles.csv" "$work/prof.csv" || fail "$2: profiles differ from the first release's"
}

check_backend() {
  local b=$1 store
  # 1. Opened, upgraded, the same answers.
  store=$(copy_old "$b" upgraded)
  [ "$(version_of "$b" "$store")" = 1 ] || fail "$b: the fixture is not at schema version 1"
  "$tessera" status --store "$store" >"$work/status.txt" || fail "$b: status of the old store failed"
  grep -q 'customers *300' "$work/status.txt" || fail "$b: status: $(cat "$work/status.txt")"
  [ "$(version_of "$b" "$store")" = "$current" ] || fail "$b: not upgraded to version $current"
  answers_as_the_first_release "$store" "$b"
  # 2. It keeps working: the next load and a snapshot, as in a store made today.
  "$tessera" ingest "$fixture/increment.csv" --store "$store" --summary-json "$work/inc.json" --quiet
  grep -q '"orders_already_stored":3' "$work/inc.json" || fail "$b: the increment's 3 stored orders were not skipped: $(cat "$work/inc.json")"
  local fresh="$work/fresh_$b.db"
  "$tessera" ingest "$fixture/orders.csv.gz" "$fixture/increment.csv" --store "$fresh" --quiet
  results_of() {
    "$tessera" segments --store "$1" --as-of 2024-08-31 --window 12m --format csv
    "$tessera" profiles --store "$1" --as-of 2024-08-31 --window 12m | sort
  }
  results_of "$store" >"$work/upgraded_after.txt"
  results_of "$fresh" >"$work/fresh_after.txt"
  [ "$(wc -l <"$work/fresh_after.txt")" -gt 200 ] || fail "$b: too few results after the next load"
  cmp -s "$work/upgraded_after.txt" "$work/fresh_after.txt" ||
    fail "$b: after the next load the upgraded store and a new one differ"
  "$tessera" snapshots create --store "$store" --as-of 2024-08-31 >/dev/null || fail "$b: no snapshot on the upgraded store"
  "$tessera" keys api create --role viewer --store "$store" >/dev/null 2>&1 || fail "$b: no API key on the upgraded store"

  # 3. Two processes upgrading the same old store at once.
  store=$(copy_old "$b" twice)
  "$tessera" status --store "$store" >"$work/a.txt" 2>&1 &
  local first=$!
  "$tessera" status --store "$store" >"$work/b.txt" 2>&1 || fail "$b: the second of two upgrades at once failed: $(cat "$work/b.txt")"
  wait "$first" || fail "$b: the first of two upgrades at once failed: $(cat "$work/a.txt")"
  [ "$(version_of "$b" "$store")" = "$current" ] || fail "$b: two upgrades at once left version $(version_of "$b" "$store")"
  answers_as_the_first_release "$store" "$b (upgraded twice at once)"

  # 4. A migration that fails half-way: the audience module's migration 1 creates audiences,
  # then audience_history; an object in the way of the second makes it fail after the first
  # statement ran. The modules before it (each migrates in its own transactions) are done.
  store=$(copy_old "$b" halfway)
  local planted
  if [ "$b" = sqlite ]; then
    planted=audience_history
    sqlite3 "$store" "CREATE TABLE audience_history (planted INTEGER)"
  else
    # Not a relation (CREATE TABLE IF NOT EXISTS would skip it), but the name of the table's
    # row type.
    planted="type audience_history"
    psql "$store" -qAtc "CREATE TYPE audience_history AS ENUM ('planted')"
  fi
  if "$tessera" status --store "$store" >"$work/out.txt" 2>"$work/err.txt"; then
    fail "$b: the upgrade succeeded with $planted in the way"
  fi
  grep -q 'migration 1 of the audience tables' "$work/err.txt" || fail "$b: the error does not name the migration: $(cat "$work/err.txt")"
  [ "$(module_version "$b" "$store" audience)" = "" ] || fail "$b: a failed migration left the audience tables at version $(module_version "$b" "$store" audience)"
  [ "$(module_version "$b" "$store" store)" = "$store_current" ] || fail "$b: the order tables are at version $(module_version "$b" "$store" store), not $store_current"
  ! has_table "$b" "$store" audiences || fail "$b: the failed migration left audiences behind"
  if [ "$b" = sqlite ]; then sqlite3 "$store" "DROP TABLE audience_history"; else psql "$store" -qAtc "DROP TYPE audience_history"; fi
  "$tessera" status --store "$store" >/dev/null || fail "$b: the upgrade did not finish after the failure"
  [ "$(version_of "$b" "$store")" = "$current" ] || fail "$b: not at version $current after the retry"
  [ "$(module_version "$b" "$store" audience)" = 1 ] || fail "$b: the audience tables are not at version 1 after the retry"
  answers_as_the_first_release "$store" "$b (after a failed migration)"
  echo "$b: the first release's store upgrades from version 1 to $current and answers as it did"
}

check_backend sqlite
if [ -n "$admin" ]; then
  check_backend postgres
else
  skip_or_fail "TESSERA_TEST_POSTGRES_URL is not set (the PostgreSQL half; the SQLite half passed)"
fi
