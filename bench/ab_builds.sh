#!/usr/bin/env bash
# Two builds of tessera side by side on one generated export, interleaved run by run: load,
# snapshot and segments, on SQLite and on PostgreSQL (a throwaway cluster from
# scripts/pg-test-cluster, or $TESSERA_TEST_POSTGRES_URL). For "no slower" checks of a change
# against the commit before it.
#
#   bench/ab_builds.sh OLD_BINARY NEW_BINARY [CUSTOMERS] [RUNS]
#
# Build the old one in a worktree: git worktree add /tmp/old REV && (cd /tmp/old &&
# TARGET=tessera scripts/build build). Prints one line per run and build, seconds.
# AB_INGEST_ARGS adds arguments to both loads, e.g. "--memory-budget 8M" for the spilled path.
set -euo pipefail
old=$1 new=$2 customers=${3:-200000} runs=${4:-3}
work=$(mktemp -d)
cleanup_pg=""
if [ -z "${TESSERA_TEST_POSTGRES_URL:-}" ]; then
  eval "$("$(dirname "$0")/../scripts/pg-test-cluster" start)"
  cleanup_pg=$PG_TEST_CLUSTER_DIR
fi
trap 'rm -rf "$work"; [ -z "$cleanup_pg" ] || "$(dirname "$0")/../scripts/pg-test-cluster" stop "$cleanup_pg"' EXIT
admin=$TESSERA_TEST_POSTGRES_URL
export TESSERA_KEY=$work/owner.key
"$new" keys init --key "$TESSERA_KEY" >/dev/null 2>&1
"$new" generate --customers "$customers" --months 24 --seed 7 --end 2026-11-30 \
  --output "$work/orders.csv" >/dev/null 2>&1
seconds() {
  local s
  s=$(date +%s.%N)
  "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; return 1; }
  echo "$(date +%s.%N) - $s" | bc
}
analysis=(--as-of 2026-11-30 --window 24m)
for run in $(seq 1 "$runs"); do
  for which in old new; do
    bin=${!which}
    rm -f "$work"/store.db*
    load=$(seconds "$bin" ingest "$work/orders.csv" --store "$work/store.db" -q ${AB_INGEST_ARGS:-})
    snap=$(seconds "$bin" snapshots create --store "$work/store.db" "${analysis[@]}")
    seg=$(seconds "$bin" segments --store "$work/store.db" "${analysis[@]}")
    db=tessera_ab_${which}_$$_$run
    psql "$admin" -qAtc "CREATE DATABASE $db" >/dev/null
    url=$(echo "$admin" | sed -E "s#^(postgres(ql)?://[^/]*)/[^?]*#\1/$db#")
    pload=$(seconds "$bin" ingest "$work/orders.csv" --store "$url" -q ${AB_INGEST_ARGS:-})
    psnap=$(seconds "$bin" snapshots create --store "$url" "${analysis[@]}")
    pseg=$(seconds "$bin" segments --store "$url" "${analysis[@]}")
    psql "$admin" -qAtc "DROP DATABASE $db WITH (FORCE)" >/dev/null
    printf '%s %s sqlite: load %.2f snapshot %.2f segments %.3f | postgres: load %.2f snapshot %.2f segments %.3f\n' \
      "$run" "$which" "$load" "$snap" "$seg" "$pload" "$psnap" "$pseg"
  done
done
