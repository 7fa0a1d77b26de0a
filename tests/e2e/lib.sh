# Sourced by the end-to-end scripts.

# A script that cannot run here (no ../shared/data, no PostgreSQL server, no browser) is
# reported to ctest as skipped (exit 77), never as passed; under CI=true nothing may be
# missing, and the run fails naming what is.
skip_or_fail() {
  if [ "${CI:-}" = true ]; then
    echo "FAIL: CI=true, but this test cannot run: $*"
    exit 1
  fi
  echo "SKIP: $*"
  exit 77
}

# --- Helpers of the scripts below

fail() { echo "FAIL: $*"; exit 1; }
# json FILE EXPRESSION: prints EXPRESSION (Python) of the file's JSON `d`.
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- One `tessera serve` at a time (tls.sh, key_guessing.sh).

# serve_begin BIN: $tessera (BIN, absolute) and a fresh work directory the script runs in
# ($work); at exit the server (if one runs) is stopped and the directory removed.
serve_begin() {
  tessera=$(realpath "$1")
  work=$(mktemp -d)
  server=""
  serve_prefix=()
  trap serve_end EXIT
  cd "$work"
}
serve_end() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  cd / && rm -rf "$work"
}
# serve_start ARGS...: `tessera serve ARGS` in the background ($server; its output in serve.out
# and serve.err), behind the command words of the array serve_prefix if set (faketime ...);
# waits for its "Listening on" line and sets $port.
serve_start() {
  "${serve_prefix[@]}" "$tessera" serve "$@" >serve.out 2>serve.err &
  server=$!
  for _ in $(seq 200); do
    grep -q "^Listening on" serve.out 2>/dev/null && break
    kill -0 "$server" 2>/dev/null || fail "serve exited: $(cat serve.err)"
    sleep 0.05
  done
  port=$(sed -nE 's#^Listening on https?://[^:]+:([0-9]+)$#\1#p' serve.out)
  [ -n "$port" ] || fail "no port in: $(cat serve.out)"
}
serve_stop() {
  kill "$server" && wait "$server" || true
  server=""
}

# --- Parties of a collaboration on loopback (collab_activate.sh, collab_three_party.sh), each
# with its own key, store and node. They run in the script's work directory and use its $bin
# (the tessera binary) and its `pids` array (the nodes started, for the script to stop).

# collab_begin BIN: $bin (BIN, absolute), a fresh work directory the script runs in ($work),
# and the nodes it starts ($pids): at exit the nodes are stopped and the directory removed (kept,
# and named, when KEEP is set).
collab_begin() {
  bin=$(realpath "$1")
  work=$(mktemp -d)
  pids=()
  trap collab_end EXIT
  cd "$work"
}
collab_end() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}

# collab_party NAME FILE: a new owner key FILE.key and a party NAME in the store FILE.db; prints
# the party's id.
collab_party() {
  "$bin" keys init --key "$2.key" >/dev/null 2>&1 &&
    "$bin" party init --name "$1" --store "$2.db" --key "$2.key" 2>/dev/null
}

# collab_data CUSTOMERS SUBSCRIBERS SHARED: generated data, loaded and profiled as of
# 2026-11-30: the retailer's orders of CUSTOMERS customers (orders.csv, half with a phone) in
# retailer.db, the operator's SUBSCRIBERS subscribers (subscribers.csv), SHARED of them also the
# retailer's customers, in telco.db; the generator's truth in truth.json.
collab_data() {
  "$bin" generate --customers "$1" --months 12 --seed 11 --phone-share 0.5 --end 2026-11-30 \
    -o orders.csv >/dev/null 2>&1
  "$bin" generate --kind subscribers --subscribers "$2" --customers "$1" --shared "$3" --seed 11 \
    --phone-share 0.5 --truth truth.json -o subscribers.csv >/dev/null 2>&1
  "$bin" ingest orders.csv --store retailer.db --key retailer.key >/dev/null 2>&1
  "$bin" snapshots create --store retailer.db --as-of 2026-11-30 --window 12m >/dev/null 2>&1
  "$bin" ingest subscribers.csv --kind people --mapping subscribers --store telco.db \
    --key telco.key >/dev/null 2>&1
  "$bin" snapshots create --store telco.db --as-of 2026-11-30 --window 12m >/dev/null 2>&1
}

# collab_file_party NAME ID ENDPOINT ROLE...: adds a party to the collaboration file,
# collab.toml.
collab_file_party() {
  local name=$1 id=$2 endpoint=$3 roles
  shift 3
  roles=$(printf '"%s", ' "$@")
  [ -s collab.toml ] && echo >>collab.toml
  printf '[[party]]\nname = "%s"\nid = "%s"\nendpoint = "%s"\nroles = [%s]\n' \
    "$name" "$id" "$endpoint" "${roles%, }" >>collab.toml
}

# collab_grant GRANTOR GRANTEE GRANTEE_NAME PURPOSE OUTPUTS [grant create options]: GRANTOR (a
# store and key name) grants GRANTEE_NAME, as its recipient and worker host, and GRANTEE imports
# the grant; prints the grant's id.
collab_grant() {
  local from=$1 to=$2 name=$3 purpose=$4 outputs=$5
  shift 5
  "$bin" grant create --partner "$name" --collaboration collab.toml --purpose "$purpose" \
    --outputs "$outputs" --worker-hosts "$name" --recipients "$name" "$@" \
    --store "$from.db" --key "$from.key" --out "g.json" 2>/dev/null || fail "grant create $*"
  "$bin" grant import g.json --collaboration collab.toml --store "$to.db" --key "$to.key" \
    >/dev/null 2>&1 || fail "grant import"
  json g.json 'd["grant_id"]'
}

# collab_serve PARTY PORT: PARTY's node (PARTY.db, PARTY.key, collab.toml) on 127.0.0.1:PORT,
# logging to PARTY.log, its pid added to `pids`; returns once it answers.
collab_serve() {
  "$bin" serve --store "$1.db" --key "$1.key" --with-key --collaboration collab.toml \
    --listen "127.0.0.1:$2" >"$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$2/api/v1/health" >/dev/null && return 0
    sleep 0.1
  done
  fail "$1's node did not start: $(cat "$1.log")"
}
