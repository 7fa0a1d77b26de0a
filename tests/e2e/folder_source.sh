#!/usr/bin/env bash
# `tessera source add folder` and `tessera source run` over a watched folder (issue 16): a good
# file loaded once and moved to loaded/, a truncated gzip refused to failed/ with its note (the
# run's outcome "refused", exit 1, the good file loaded anyway), a `.partial` file and a file
# still being written left alone; a second run loads nothing again; a missing folder fails the
# run naming the source; `tessera source list` and GET /api/v1/sources show the runs; no raw
# e-mail in the store, the output or the notes.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
serve_begin "$1"
command -v curl >/dev/null || skip_or_fail "needs curl"
export TESSERA_KEY="$work/owner.key" TESSERA_STORE="$work/store.db" XDG_CACHE_HOME="$work/cache"
"$tessera" keys init >/dev/null 2>&1

header='order_id,customer_id,email,ordered_at,amount'
mkdir inbox
{
  echo "$header"
  for i in 1 2 3; do echo "good-$i,C$i,Folder.Person$i@Example.com,2024-05-0${i},1${i}.50"; done
} >inbox/good.csv
{
  echo "$header"
  for i in $(seq 1 4000); do echo "cut-$i,K$i,cut.person$i@example.com,2024-06-01,9.99"; done
} | gzip -c >full.csv.gz
head -c "$(($(stat -c %s full.csv.gz) / 2))" full.csv.gz >inbox/cut.csv.gz
echo "$header" >inbox/next.csv.partial
echo "partial-1,P1,partial.person@example.com,2024-05-01,5.00" >>inbox/next.csv.partial
touch -d '-2 minutes' inbox/good.csv inbox/cut.csv.gz inbox/next.csv.partial
{ echo "$header"; echo "fresh-1,F1,fresh.person@example.com,2024-05-01,5.00"; } >inbox/fresh.csv

"$tessera" source add folder --name exports --dir inbox --settle 30 >out.txt 2>err.txt ||
  fail "source add folder: $(cat err.txt)"
"$tessera" source add folder --name nomap --dir inbox --mapping no-such-preset >>out.txt 2>add.err &&
  fail "a folder with an unknown mapping was added"
grep -q "no-such-preset" add.err || fail "unknown mapping: $(cat add.err)"
cat add.err >>err.txt

# First run: good.csv loaded, cut.csv.gz refused, next.csv.partial and fresh.csv left alone.
rc=0
"$tessera" source run exports >>out.txt 2>run1.err || rc=$?
cat run1.err >>err.txt
[ "$rc" = 1 ] || fail "a run that refused a file exited $rc: $(cat run1.err)"
grep -q "source 'exports': 1 file refused" run1.err || fail "refusal not said: $(cat run1.err)"
grep -q "cut.csv.gz" run1.err || fail "the refused file is not named: $(cat run1.err)"
grep -q "exports: 1 files loaded, 1 refused, 1 waiting; 3 orders read, 3 stored" run1.err ||
  fail "run summary: $(cat run1.err)"
[ -f inbox/loaded/good.csv ] && [ ! -e inbox/good.csv ] || fail "good.csv not moved to loaded/"
[ -f inbox/failed/cut.csv.gz ] && [ ! -e inbox/cut.csv.gz ] || fail "cut.csv.gz not moved to failed/"
[ -s inbox/failed/cut.csv.gz.error.txt ] || fail "no note beside the refused file"
grep -q "cut.csv.gz" inbox/failed/cut.csv.gz.error.txt || fail "note: $(cat inbox/failed/cut.csv.gz.error.txt)"
[ -f inbox/next.csv.partial ] || fail "the .partial file was touched"
[ -f inbox/fresh.csv ] || fail "a file still being written was loaded"
"$tessera" orders list >orders.txt 2>>err.txt
[ "$(($(wc -l <orders.txt) - 1))" = 3 ] || fail "$(($(wc -l <orders.txt) - 1)) orders stored, not 3"

# Second run: nothing new settled (fresh.csv is younger than 30 s): nothing loaded twice.
"$tessera" source run exports >>out.txt 2>run2.err || fail "second run: $(cat run2.err)"
cat run2.err >>err.txt
grep -q "exports: 0 files loaded, 0 refused, 1 waiting; 0 orders read, 0 stored" run2.err ||
  fail "second run: $(cat run2.err)"
# fresh.csv settles: loaded, the .partial still not.
touch -d '-2 minutes' inbox/fresh.csv
"$tessera" source run exports -q >>out.txt 2>>err.txt || fail "third run"
[ -f inbox/loaded/fresh.csv ] || fail "fresh.csv not loaded once settled"
[ -f inbox/next.csv.partial ] || fail "the .partial file was touched"
"$tessera" orders list >orders.txt 2>>err.txt
[ "$(($(wc -l <orders.txt) - 1))" = 4 ] || fail "$(($(wc -l <orders.txt) - 1)) orders stored, not 4"

# A missing folder fails the run, naming the source and the folder.
"$tessera" source add folder --name gone --dir "$work/no-such-folder" >>out.txt 2>>err.txt
"$tessera" source run gone >>out.txt 2>gone.err && fail "a missing folder's run succeeded"
grep -q "source 'gone' folder $work/no-such-folder" gone.err || fail "missing folder: $(cat gone.err)"
cat gone.err >>err.txt

"$tessera" source list --runs 3 >list.txt 2>>err.txt
cat list.txt >>out.txt
grep -qE "^exports +folder +$work/inbox " list.txt || fail "list: $(cat list.txt)"
grep -q "refused (pull): 1 files loaded, 1 refused, 1 waiting, 3 orders stored" list.txt ||
  fail "list: $(cat list.txt)"
grep -qE "^gone .* failed \(pull\)" list.txt || fail "list: $(cat list.txt)"
"$tessera" source list --format json >list.json 2>>err.txt
[ "$(json list.json "[s for s in d if s['name']=='exports'][0]['runs'][0]['outcome']")" = ok ] ||
  fail "json list: $(cat list.json)"
[ "$(json list.json "[s for s in d if s['name']=='exports'][0]['dir']")" = "$work/inbox" ] ||
  fail "json list: $(cat list.json)"

# GET /api/v1/sources, as an analyst.
analyst=$("$tessera" keys api create --role analyst 2>/dev/null)
viewer=$("$tessera" keys api create --role viewer 2>/dev/null)
serve_start --listen 127.0.0.1:0
curl -s -H "Authorization: Bearer $analyst" "http://127.0.0.1:$port/api/v1/sources" >api.json
cat api.json >>out.txt
[ "$(json api.json "[s for s in d['sources'] if s['name']=='exports'][0]['location']")" = "$work/inbox" ] ||
  fail "api: $(cat api.json)"
[ "$(json api.json "[r['outcome'] for r in [s for s in d['sources'] if s['name']=='exports'][0]['runs']]")" = "['ok', 'ok', 'refused']" ] ||
  fail "api runs: $(cat api.json)"
[ "$(json api.json "[s for s in d['sources'] if s['name']=='gone'][0]['runs'][0]['outcome']")" = failed ] ||
  fail "api: $(cat api.json)"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $viewer" "http://127.0.0.1:$port/api/v1/sources")
[ "$code" = 403 ] || fail "a viewer got $code from /api/v1/sources"
serve_stop

# No raw e-mail in the store, the output, or the note beside the refused file.
for f in store.db store.db-wal out.txt err.txt inbox/failed/cut.csv.gz.error.txt; do
  [ -f "$f" ] || continue
  if grep -a -q -i -E "person[0-9]*@example" "$f"; then fail "a raw e-mail found in $f"; fi
done
echo "OK: a folder source loaded 2 files once, refused a truncated gzip with its note, left a .partial alone; a missing folder failed its run"
