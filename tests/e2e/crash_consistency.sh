#!/usr/bin/env bash
# Crash consistency, short: scripts/crash-test with 5 SIGKILLs per store (SQLite; PostgreSQL
# in a throwaway cluster of its own, with a server crash mid-load and a full disk), each load
# run again and compared with an uninterrupted one: 0 orders lost, 0 duplicated. The 100-kill
# run is `scripts/crash-test` (docs/ingest.md, "Crash consistency").
set -euo pipefail
. "$(dirname "$0")/lib.sh"
tessera=$1
root=$2
stores=sqlite
if ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  stores=sqlite,postgres
elif [ "${CI:-}" = true ]; then
  fail "CI=true, but there is no PostgreSQL server for the crash test"
else
  echo "no PostgreSQL server here: SQLite only"
fi
exec "$root/scripts/crash-test" --tessera "$tessera" --kills 5 --customers 1000 --batch-size 100 \
  --seed "${CRASH_TEST_SEED:-$(date +%s)}" --stores "$stores"
