#!/usr/bin/env bash
# The dashboard's Partners screen in a real browser (tests/browser/partners.test.mjs): three
# parties made with the CLI, each with its own store and key — Frischmarkt, a retailer with
# orders, whose store is served; Telco, whose endpoint is a closed loopback port, so that it is
# unreachable; and Funknetz, an operator with subscribers (`tessera generate --kind subscribers`
# shares a known number of people with the retailer), served as a party node — a collaboration
# file naming them, grants both ways (`tessera grant create`, `tessera grant import`; Funknetz
# allows Frischmarkt activation lists), ε spent and audit entries as a run leaves them
# (tests/browser/collab_fixture.mjs), and `tessera serve --collaboration` with viewer, analyst
# and admin keys. Screenshots go where dashboard.sh puts them.
# Usage: partners.sh TESSERA_BINARY [SOURCE_ROOT], or TESSERA_BIN=... partners.sh; the join
# worker is the one beside the binary, where `tessera serve` looks for it.
# Skips (77) without node/npm, sqlite3 or chromium, or when the binary has no dashboard.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/browser_lib.sh"
tessera=$(realpath "${1:-${TESSERA_BIN:?usage: partners.sh TESSERA_BINARY [SOURCE_ROOT], or set TESSERA_BIN}}")
root=$(realpath "${2:-$(dirname "$0")/../..}")

require_browser sqlite3
browser_artifacts partners

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

free_port() {
  node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })'
}
json_of() {  # FILE EXPRESSION: EXPRESSION of the file's JSON `d`, printed
  node -e 'const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log(eval(process.argv[2]))' "$@"
}

# The people: a retailer's orders and an operator's subscribers sharing 1,000 of them, with the
# generator's truth of how many by e-mail and by tariff (as in collab_activate.sh).
"$tessera" generate --customers 2000 --months 12 --seed 11 --phone-share 0.5 --end 2026-11-30 \
  -o "$work/orders.csv" >/dev/null 2>&1
"$tessera" generate --kind subscribers --subscribers 2500 --customers 2000 --shared 1000 --seed 11 \
  --phone-share 0.5 --truth "$work/truth.json" -o "$work/subscribers.csv" >/dev/null 2>&1

# Frischmarkt: the served store, its key in the environment; a party before it loads, so that
# its customers have match tokens.
export TESSERA_KEY=$work/frischmarkt.key
export TESSERA_STORE=$work/frischmarkt.db
"$tessera" keys init >/dev/null
self=$("$tessera" party init --name Frischmarkt 2>/dev/null)
"$tessera" ingest "$work/orders.csv" --quiet
"$tessera" snapshots create --as-of 2026-11-30 --window 12m >/dev/null 2>&1
# Telco: a store and a key of its own, never served.
telco_store=$work/telco.db
telco_key=$work/telco.key
"$tessera" keys init --key "$telco_key" >/dev/null
telco=$("$tessera" party init --name Telco --store "$telco_store" --key "$telco_key" 2>/dev/null)
# Funknetz: the operator whose node answers.
node_store=$work/funknetz.db
node_key=$work/funknetz.key
"$tessera" keys init --key "$node_key" >/dev/null
node_id=$("$tessera" party init --name Funknetz --store "$node_store" --key "$node_key" 2>/dev/null)
"$tessera" ingest "$work/subscribers.csv" --kind people --mapping subscribers \
  --store "$node_store" --key "$node_key" --quiet
"$tessera" snapshots create --as-of 2026-11-30 --window 12m --store "$node_store" >/dev/null 2>&1
[[ "$self" == tp1:* && "$telco" == tp1:* && "$node_id" == tp1:* ]] \
  || { echo "party init printed no party id"; exit 1; }

self_port=$(free_port)
node_port=$(free_port)
# Nothing listens on port 9 of loopback (discard, never served here): Telco is unreachable.
collab=$work/collab.toml
cat >"$collab" <<EOF
[[party]]
name = "Frischmarkt"
id = "$self"
endpoint = "http://127.0.0.1:$self_port"
roles = ["data_owner", "worker_host"]

[[party]]
name = "Telco"
id = "$telco"
endpoint = "http://127.0.0.1:9"
roles = ["data_owner"]

[[party]]
name = "Funknetz"
id = "$node_id"
endpoint = "http://127.0.0.1:$node_port"
roles = ["data_owner"]
EOF

# What Frischmarkt allows Telco: noisy counts (the budget the screen shows), and an overlap
# grant that the admin test revokes.
counts=$("$tessera" grant create --partner Telco --collaboration "$collab" \
  --purpose audience_counts --outputs cell_counts,audience_count --fields age_band,region \
  --k-min 50 --epsilon 0.5 --budget 3 --valid-for 6m | json_of /dev/stdin 'd.grant_id')
overlap=$("$tessera" grant create --partner Telco --collaboration "$collab" \
  --purpose overlap --outputs overlap_size --valid-for 90d 2>/dev/null | json_of /dev/stdin 'd.grant_id')
# What Telco allows Frischmarkt, imported at Frischmarkt; with the worker at Frischmarkt, the
# party that asks, so that Frischmarkt's own check lets a count go out to (unreachable) Telco.
"$tessera" grant create --partner Frischmarkt --collaboration "$collab" \
  --purpose audience_counts --outputs cell_counts --fields tariff,device --valid-for 90d \
  --worker-hosts Frischmarkt --store "$telco_store" --key "$telco_key" --out "$work/from_telco.json" 2>/dev/null
received=$(json_of "$work/from_telco.json" 'd.grant_id')
"$tessera" grant import "$work/from_telco.json" --collaboration "$collab" 2>/dev/null
# Funknetz allows Frischmarkt lists of Frischmarkt's own customers in Funknetz's audiences
# (without noise: a list cannot have any). Frischmarkt asks from its dashboard, so the worker
# runs there.
"$tessera" grant create --partner Frischmarkt --collaboration "$collab" --purpose activation \
  --outputs activation_list --fields tariff --k-min 50 --worker-hosts Frischmarkt \
  --recipients Frischmarkt --store "$node_store" --key "$node_key" \
  --out "$work/from_funknetz.json" 2>/dev/null
"$tessera" grant import "$work/from_funknetz.json" --collaboration "$collab" 2>/dev/null

node "$root/tests/browser/collab_fixture.mjs" "$TESSERA_STORE" "$telco" "$counts"
"$tessera" audit verify >/dev/null

viewer=$("$tessera" keys api create --role viewer --label "partners test" 2>/dev/null)
analyst=$("$tessera" keys api create --role analyst --label "partners test" 2>/dev/null)
admin=$("$tessera" keys api create --role admin --label "partners test" 2>/dev/null)

# Funknetz's node answers Frischmarkt's rounds, and the test's queries of Funknetz reach
# Frischmarkt's served store at the port of the collaboration file.
"$tessera" serve --store "$node_store" --key "$node_key" --with-key --collaboration "$collab" \
  --listen "127.0.0.1:$node_port" >"$work/node.out" 2>"$work/node.err" &
servers+=($!)
"$tessera" serve --listen "127.0.0.1:$self_port" --with-key --collaboration "$collab" \
  >"$work/serve.out" 2>"$work/serve.err" &
servers+=($!)
url=""
for _ in $(seq 100); do
  url=$(sed -nE '1s#^Listening on (http://[^ ]+)$#\1#p' "$work/serve.out")
  [ -n "$url" ] && break
  kill -0 "${servers[1]}" 2>/dev/null || { echo "tessera serve exited: $(cat "$work/serve.err")"; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { echo "tessera serve printed no address"; exit 1; }
url=${url%/}/
status=$(node -e 'fetch(process.argv[1]).then((r) => console.log(r.status), () => console.log(0))' "$url")
if [ "$status" = 404 ]; then
  skip_or_fail "this binary has no dashboard (configured with -DTESSERA_BUILD_WEB=OFF)"
fi
health="http://127.0.0.1:$node_port/api/v1/health"
for _ in $(seq 100); do
  node -e 'fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$health" && break
  kill -0 "${servers[0]}" 2>/dev/null || { echo "Funknetz's node exited: $(cat "$work/node.err")"; exit 1; }
  sleep 0.1
done

cd "$root/tests/browser"
TESSERA_URL=$url TESSERA_VIEWER_KEY=$viewer TESSERA_ANALYST_KEY=$analyst TESSERA_ADMIN_KEY=$admin \
  TESSERA_SELF_ID=$self TESSERA_PARTNER_ID=$telco TESSERA_COUNTS_GRANT=$counts \
  TESSERA_OVERLAP_GRANT=$overlap TESSERA_RECEIVED_GRANT=$received TESSERA_BIN=$tessera \
  TESSERA_NODE_ID=$node_id TESSERA_NODE_STORE=$node_store TESSERA_NODE_KEY=$node_key \
  TESSERA_COLLABORATION=$collab TESSERA_TRUTH=$work/truth.json TESSERA_ORDERS=$work/orders.csv \
  TESSERA_ARTIFACT_DIR=$artifacts CHROMIUM=$chromium \
  node --test partners.test.mjs
echo "screenshots in $artifacts"

stop_servers
if grep -qE "ERROR: [A-Za-z]+Sanitizer|runtime error:" "$work/serve.err" "$work/node.err"; then
  echo "tessera serve reported:"; cat "$work/serve.err" "$work/node.err"; exit 1
fi
