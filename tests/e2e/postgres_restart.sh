#!/usr/bin/env bash
# The PostgreSQL server goes away and comes back: a load running through a server restart
# finishes with every order stored once (no acknowledged batch lost, none doubled), and a
# command started while the server is down waits for it. Runs its own throwaway cluster
# (scripts/pg-test-cluster), so restarting it disturbs no other test.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
tessera=$1
root=$2
if [ -z "${TESSERA_TEST_POSTGRES_URL:-}" ]; then
  skip_or_fail "TESSERA_TEST_POSTGRES_URL is not set (the test command starts PostgreSQL)"
fi
work=$(mktemp -d)
# Its own cluster, never the shared one of the other tests: a failed start must not leave the
# inherited PG_TEST_CLUSTER_DIR in place for this script to pause and delete.
shared_cluster=${PG_TEST_CLUSTER_DIR:-}
unset PG_TEST_CLUSTER_DIR TESSERA_TEST_POSTGRES_URL
started=$("$root/scripts/pg-test-cluster" start) || { echo "cannot start a throwaway PostgreSQL cluster"; exit 1; }
eval "$started"
if [ -z "${PG_TEST_CLUSTER_DIR:-}" ] || [ "$PG_TEST_CLUSTER_DIR" = "$shared_cluster" ] ||
  [ -z "${TESSERA_TEST_POSTGRES_URL:-}" ]; then
  echo "pg-test-cluster start gave no cluster of this test's own"; exit 1
fi
cluster=$PG_TEST_CLUSTER_DIR
pg=$TESSERA_TEST_POSTGRES_URL
cleanup() {
  "$root/scripts/pg-test-cluster" stop "$cluster" || true
  rm -rf "$work"
}
trap cleanup EXIT
psql() { PGOPTIONS='-c client_min_messages=warning' command psql "$@"; }

export TESSERA_KEY="$work/owner.key"
"$tessera" keys init >/dev/null
"$tessera" generate --customers 30000 --months 24 --seed 21 --end 2025-06-30 --output "$work/orders.csv" 2>/dev/null
"$tessera" ingest "$work/orders.csv" --store "$work/ref.db" --quiet --batch-size 1000
"$tessera" segments --store "$work/ref.db" --as-of 2025-06-30 --format json >"$work/ref.json"
total=$("$tessera" status --store "$work/ref.db" | awk '$1=="orders"{print $2}')

# 1. Restart the server while a load is writing batches.
"$tessera" ingest "$work/orders.csv" --store "$pg" --quiet --batch-size 1000 &
pid=$!
for _ in $(seq 4000); do
  got=$(psql "$pg" -qAtc 'SELECT count(*) FROM batches' 2>/dev/null || echo 0)
  [ "${got:-0}" -ge 3 ] && break
  sleep 0.005
done
before=$(psql "$pg" -qAtc 'SELECT count(*) FROM batches')
"$root/scripts/pg-test-cluster" pause "$cluster"
kill -0 "$pid" 2>/dev/null || { echo "the load finished before the restart; nothing was tested"; exit 1; }
sleep 1
"$root/scripts/pg-test-cluster" resume "$cluster"
if ! wait "$pid"; then echo "the load did not survive the server restart"; exit 1; fi
stored=$("$tessera" status --store "$pg" | awk '$1=="orders"{print $2}')
in_table=$(psql "$pg" -qAtc 'SELECT count(*) FROM orders')
[ "$stored" = "$total" ] && [ "$in_table" = "$total" ] || { echo "after the restart: $stored orders counted, $in_table in the table, $total expected"; exit 1; }
"$tessera" segments --store "$pg" --as-of 2025-06-30 --format json >"$work/pg.json"
cmp -s "$work/ref.json" "$work/pg.json" || { echo "segments differ after the restart"; diff "$work/ref.json" "$work/pg.json" | head; exit 1; }
echo "a load through a server restart (down after $before batches) stored all $total orders once"

# 2. A command started while the server is down waits for it to come back.
"$root/scripts/pg-test-cluster" pause "$cluster"
( sleep 1; "$root/scripts/pg-test-cluster" resume "$cluster" ) &
resumer=$!
"$tessera" segments --store "$pg" --as-of 2025-06-30 --format json >"$work/pg2.json"
wait "$resumer"
cmp -s "$work/ref.json" "$work/pg2.json" || { echo "segments differ after waiting for the server"; exit 1; }
echo "a command started while the server was down waited for it"

# 3. A server that stays down: a clear error naming the database, never a hang.
"$root/scripts/pg-test-cluster" pause "$cluster"
if "$tessera" status --store "$pg" 2>"$work/err"; then echo "status succeeded with the server down"; exit 1; fi
grep -q "cannot connect to PostgreSQL database" "$work/err" || { echo "unclear error: $(cat "$work/err")"; exit 1; }
grep -q "tried 6 times" "$work/err" || { echo "no retries: $(cat "$work/err")"; exit 1; }
"$root/scripts/pg-test-cluster" resume "$cluster"
echo "a server that stays down gives: $(cat "$work/err")"
