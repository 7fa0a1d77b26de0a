#!/usr/bin/env bash
# The dashboard in a real browser: a store with two snapshots, a viewer and an analyst key,
# `tessera serve` on a free loopback port, and tests/browser/dashboard.test.mjs driving Debian's
# chromium headless through playwright-core (log in, charts draw, a segment's profiles, CSV
# downloads, German, a phone-width layout, the audience builder against `tessera audience`, the
# overview's Sources against GET /api/v1/sources: a folder source and a failed one), and
# tests/browser/dashboard_locales.test.mjs (issue 17: every screen in English and German at
# 1400×900 and 390×844, untranslated words, numbers in German notation, roles, contrast).
# Screenshots of the overview and the audience builder are kept: in
# $TESSERA_ARTIFACT_DIR, else build/tests/artifacts under ctest, else a printed directory.
# Skips (77) without node/npm or chromium, or when the binary was built without the dashboard.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/browser_lib.sh"
tessera=$(realpath "${1:-${TESSERA_BIN:?usage: dashboard.sh TESSERA_BINARY [SOURCE_ROOT], or set TESSERA_BIN}}")
root=$(realpath "${2:-$(dirname "$0")/../..}")

require_browser
browser_artifacts dashboard

work=$(mktemp -d)
servers=()
stop_servers() {
  for pid in "${servers[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  servers=()
}
cleanup() {
  stop_servers
  rm -rf "$work"
}
trap cleanup EXIT

install_browser_packages "$root"

export TESSERA_KEY=$work/owner.key
export TESSERA_STORE=$work/store.db
store=$TESSERA_STORE
"$tessera" keys init >/dev/null
"$tessera" generate --customers 3000 --months 24 --seed 11 --end 2025-06-30 --output "$work/orders.csv" 2>/dev/null
"$tessera" ingest "$work/orders.csv" --quiet
# The load history in words, not the summary's JSON (issue 17 #13).
loadline=$("$tessera" status | grep -E '^  load 1 ')
[[ "$loadline" =~ \ 1\ file,\ [0-9,]+\ rows\ read,\ 0\ rejected.*\;\ [0-9,]+\ orders\ stored && "$loadline" != *"{"* ]] ||
  { echo "tessera status printed the load as: $loadline"; exit 1; }
# Two sources (before the snapshots, so that these orders are in them): a watched folder with one
# settled file, loaded and moved to loaded/, and a folder that is not there, whose run fails;
# the overview's Sources section shows both as GET /api/v1/sources does.
mkdir -p "$work/inbox"
printf 'order_id,customer_id,email,ordered_at,amount\nfolder-1,FOLDER-C1,folder.one@example.com,2025-06-01,19.90\nfolder-2,FOLDER-C2,folder.two@example.com,2025-06-02,29.90\n' >"$work/inbox/shop-export.csv"
touch -d '-5 minutes' "$work/inbox/shop-export.csv"
"$tessera" source add folder --name exports --dir "$work/inbox" 2>/dev/null
"$tessera" source run exports --quiet
[ -f "$work/inbox/loaded/shop-export.csv" ] || { echo "the folder source did not move its file to loaded/"; exit 1; }
"$tessera" source add folder --name gone --dir "$work/no-such-folder" 2>/dev/null
if "$tessera" source run gone --quiet 2>/dev/null; then echo "a missing folder's run succeeded"; exit 1; fi
"$tessera" snapshots create --as-of 2025-01-31 --window 12m --quiet >/dev/null
# The newest with predictions, which the segment table and profile view then show.
"$tessera" snapshots create --as-of 2025-06-30 --window 12m --predict --quiet >/dev/null
# Audiences are built on the newest snapshot; their index is built ahead, so the server and the
# CLI the tests compare it with never build it at the same time.
"$tessera" audience index -q >/dev/null
viewer=$("$tessera" keys api create --role viewer --label "dashboard test" 2>/dev/null)
analyst=$("$tessera" keys api create --role analyst --label "dashboard test" 2>/dev/null)
admin=$("$tessera" keys api create --role admin --label "dashboard test" 2>/dev/null)
[[ "$viewer" == tsk_* && "$analyst" == tsk_* && "$admin" == tsk_* ]] || { echo "keys api create printed no key"; exit 1; }

# Starts `tessera serve` on a store (more options after it) and sets $served to the URL it prints
# as its first line. (Not in a $(...) subshell: the server's pid must reach cleanup.)
serve() {
  local out=$work/serve.${#servers[@]}.out
  "$tessera" serve --listen 127.0.0.1:0 --store "$@" >"$out" 2>"$out.err" &
  servers+=($!)
  served=""
  for _ in $(seq 100); do
    served=$(sed -nE '1s#^Listening on (http://[^ ]+)$#\1#p' "$out")
    if [ -n "$served" ]; then served=${served%/}/; return; fi
    kill -0 "${servers[-1]}" 2>/dev/null || { echo "tessera serve exited: $(cat "$out.err")"; exit 1; }
    sleep 0.1
  done
  echo "tessera serve printed no address: $(cat "$out" "$out.err")"
  exit 1
}
# With a daily schedule half a day away (so that it never runs during the test), which the
# overview shows.
serve "$store" --schedule "$(date -u -d '+12 hours' +%H:%M)" --schedule-zone UTC
url=$served
echo "tessera serve at $url"

status=$(node -e 'fetch(process.argv[1]).then((r) => console.log(r.status), () => console.log(0))' "$url")
if [ "$status" = 404 ]; then
  skip_or_fail "this binary has no dashboard (configured with -DTESSERA_BUILD_WEB=OFF)"
fi
[ "$status" = 200 ] || { echo "GET / answered $status"; exit 1; }

# A second store with the same orders and no snapshot yet: the test keeps one while the page
# is open.
fresh=$work/fresh.db
TESSERA_STORE=$fresh "$tessera" ingest "$work/orders.csv" --quiet
fresh_viewer=$(TESSERA_STORE=$fresh "$tessera" keys api create --role viewer 2>/dev/null)
serve "$fresh"
fresh_url=$served
# And one more, for dashboard_locales.test.mjs alone: an admin keeps its first snapshot there.
empty=$work/empty.db
TESSERA_STORE=$empty "$tessera" ingest "$work/orders.csv" --quiet
empty_viewer=$(TESSERA_STORE=$empty "$tessera" keys api create --role viewer 2>/dev/null)
empty_admin=$(TESSERA_STORE=$empty "$tessera" keys api create --role admin 2>/dev/null)
serve "$empty"
empty_url=$served

cd "$root/tests/browser"
TESSERA_URL=$url TESSERA_VIEWER_KEY=$viewer TESSERA_ANALYST_KEY=$analyst \
  TESSERA_FRESH_URL=$fresh_url TESSERA_FRESH_KEY=$fresh_viewer TESSERA_FRESH_STORE=$fresh \
  TESSERA_BIN=$tessera TESSERA_ARTIFACT_DIR=$artifacts CHROMIUM=$chromium \
  node --test dashboard.test.mjs
TESSERA_URL=$url TESSERA_VIEWER_KEY=$viewer TESSERA_ANALYST_KEY=$analyst TESSERA_ADMIN_KEY=$admin \
  TESSERA_EMPTY_URL=$empty_url TESSERA_EMPTY_VIEWER_KEY=$empty_viewer TESSERA_EMPTY_ADMIN_KEY=$empty_admin \
  TESSERA_BIN=$tessera TESSERA_ARTIFACT_DIR=$artifacts CHROMIUM=$chromium \
  node --test dashboard_locales.test.mjs
echo "screenshots in $artifacts"

# Under ASan/UBSan the servers' reports land in their stderr.
stop_servers
if grep -qE "ERROR: [A-Za-z]+Sanitizer|runtime error:" "$work"/serve.*.err; then
  echo "tessera serve reported:"; cat "$work"/serve.*.err; exit 1
fi
