#!/usr/bin/env bash
# The README's main job: `tessera demo` prints nine segments computed from generated data,
# and --help teaches every command.
set -euo pipefail
tessera=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$tessera" demo --dir "$work/demo" --customers 3000 >"$work/out" 2>"$work/err"
rows=$(grep -c -E '^[A-Z].* +[0-9]+ +[0-9]+\.[0-9]+%' "$work/out")
[ "$rows" = 9 ] || { echo "expected 9 segment rows, got $rows"; cat "$work/out"; exit 1; }
grep -q 'Champions' "$work/out"
grep -q 'orders stored' "$work/err"
grep -q 'Kept as snapshot 1' "$work/err"
[ "$("$tessera" snapshots list --store "$work/demo/store.db" --format json | grep -c '"id"')" = 1 ]
for cmd in keys ingest segments profiles generate demo status orders pseudonymize clv snapshots serve bi-role; do
  "$tessera" "$cmd" --help >"$work/help" || { echo "tessera $cmd --help failed"; exit 1; }
  grep -q -i 'usage' "$work/help" || { echo "tessera $cmd --help prints no usage"; exit 1; }
done
# A missing key is a clear error, not a crash.
set +e
"$tessera" ingest "$work/demo/orders.csv" --key "$work/nope.key" --store "$work/s.db" 2>"$work/err2"
rc=$?
set -e
[ "$rc" = 2 ] && grep -q 'tessera keys init' "$work/err2" || { echo "missing key: rc=$rc"; cat "$work/err2"; exit 1; }
echo "demo ok"
