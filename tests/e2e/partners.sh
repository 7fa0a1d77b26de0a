#!/usr/bin/env bash
# The dashboard's Partners screen in a real browser (tests/browser/partners.test.mjs): two
# parties made with the CLI — Frischmarkt, whose store is served, and Telco, a second store
# with its own key — a collaboration file naming both (Telco's endpoint a closed loopback port,
# so that it is unreachable), grants both ways (`tessera grant create`, `tessera grant import`),
# ε spent and audit entries as a run leaves them (tests/browser/collab_fixture.mjs), and
# `tessera serve --collaboration` with viewer, analyst and admin keys. No orders: the screen
# needs none, and the run stays short. Screenshots go where dashboard.sh puts them.
# Skips (77) without node/npm, sqlite3 or chromium, or when the binary has no dashboard.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
tessera=$(realpath "$1")
root=$(realpath "$2")
chromium=${CHROMIUM:-/usr/bin/chromium}

for tool in node npm sqlite3; do
  command -v "$tool" >/dev/null 2>&1 || skip_or_fail "$tool is missing (scripts/install-deps installs it)"
done
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 18 ]; then
  skip_or_fail "Node.js $(node --version) is older than 18"
fi
[ -x "$chromium" ] || skip_or_fail "no chromium at $chromium (scripts/install-deps installs Debian's)"

if [ -n "${TESSERA_ARTIFACT_DIR:-}" ]; then
  artifacts=$TESSERA_ARTIFACT_DIR
elif [ -f CTestTestfile.cmake ]; then
  artifacts=$PWD/artifacts
else
  artifacts=$(mktemp -d /tmp/tessera-partners-artifacts.XXXXXX)
fi
mkdir -p "$artifacts"

work=$(mktemp -d)
server=""
cleanup() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

(
  cd "$root/tests/browser"
  exec 9<package-lock.json
  flock 9
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
  fi
)

# Frischmarkt: the served store, its key in the environment.
export TESSERA_KEY=$work/frischmarkt.key
export TESSERA_STORE=$work/frischmarkt.db
"$tessera" keys init >/dev/null
self=$("$tessera" party init --name Frischmarkt 2>/dev/null)
# An empty snapshot: a joint count evaluates this party's side on its audience index.
"$tessera" snapshots create --window 12m >/dev/null 2>&1
# Telco: a store and a key of its own.
telco_store=$work/telco.db
telco_key=$work/telco.key
"$tessera" keys init --key "$telco_key" >/dev/null
telco=$("$tessera" party init --name Telco --store "$telco_store" --key "$telco_key" 2>/dev/null)
[[ "$self" == tp1:* && "$telco" == tp1:* ]] || { echo "party init printed no party id"; exit 1; }

# Nothing listens on port 9 of loopback (discard, never served here): Telco is unreachable.
cat >"$work/collab.toml" <<EOF
[[party]]
name = "Frischmarkt"
id = "$self"
endpoint = "http://127.0.0.1:8"
roles = ["data_owner", "worker_host"]

[[party]]
name = "Telco"
id = "$telco"
endpoint = "http://127.0.0.1:9"
roles = ["data_owner"]
EOF

# What Frischmarkt allows Telco: noisy counts (the budget the screen shows), and an overlap
# grant that the admin test revokes.
counts=$("$tessera" grant create --partner Telco --collaboration "$work/collab.toml" \
  --purpose audience_counts --outputs cell_counts,audience_count --fields age_band,region \
  --k-min 50 --epsilon 0.5 --budget 3 --valid-for 6m | node -p 'JSON.parse(require("fs").readFileSync(0, "utf8")).grant_id')
overlap=$("$tessera" grant create --partner Telco --collaboration "$work/collab.toml" \
  --purpose overlap --outputs overlap_size --valid-for 90d | node -p 'JSON.parse(require("fs").readFileSync(0, "utf8")).grant_id')
# What Telco allows Frischmarkt, imported at Frischmarkt.
"$tessera" grant create --partner Frischmarkt --collaboration "$work/collab.toml" \
  --purpose audience_counts --outputs cell_counts --fields tariff,device --valid-for 90d \
  --store "$telco_store" --key "$telco_key" --out "$work/from_telco.json" 2>/dev/null
received=$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).grant_id' "$work/from_telco.json")
"$tessera" grant import "$work/from_telco.json" --collaboration "$work/collab.toml" 2>/dev/null

node "$root/tests/browser/collab_fixture.mjs" "$TESSERA_STORE" "$telco" "$counts"
"$tessera" audit verify >/dev/null

viewer=$("$tessera" keys api create --role viewer --label "partners test" 2>/dev/null)
analyst=$("$tessera" keys api create --role analyst --label "partners test" 2>/dev/null)
admin=$("$tessera" keys api create --role admin --label "partners test" 2>/dev/null)

"$tessera" serve --listen 127.0.0.1:0 --with-key --collaboration "$work/collab.toml" >"$work/serve.out" 2>"$work/serve.err" &
server=$!
url=""
for _ in $(seq 100); do
  url=$(sed -nE '1s#^Listening on (http://[^ ]+)$#\1#p' "$work/serve.out")
  [ -n "$url" ] && break
  kill -0 "$server" 2>/dev/null || { echo "tessera serve exited: $(cat "$work/serve.err")"; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { echo "tessera serve printed no address"; exit 1; }
url=${url%/}/
status=$(node -e 'fetch(process.argv[1]).then((r) => console.log(r.status), () => console.log(0))' "$url")
if [ "$status" = 404 ]; then
  skip_or_fail "this binary has no dashboard (configured with -DTESSERA_BUILD_WEB=OFF)"
fi

cd "$root/tests/browser"
TESSERA_URL=$url TESSERA_VIEWER_KEY=$viewer TESSERA_ANALYST_KEY=$analyst TESSERA_ADMIN_KEY=$admin \
  TESSERA_SELF_ID=$self TESSERA_PARTNER_ID=$telco TESSERA_COUNTS_GRANT=$counts \
  TESSERA_OVERLAP_GRANT=$overlap TESSERA_RECEIVED_GRANT=$received TESSERA_BIN=$tessera \
  TESSERA_ARTIFACT_DIR=$artifacts CHROMIUM=$chromium \
  node --test partners.test.mjs
echo "screenshots in $artifacts"

kill "$server" 2>/dev/null || true
wait "$server" 2>/dev/null || true
server=""
if grep -qE "ERROR: [A-Za-z]+Sanitizer|runtime error:" "$work/serve.err"; then
  echo "tessera serve reported:"; cat "$work/serve.err"; exit 1
fi
