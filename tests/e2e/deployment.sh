#!/usr/bin/env bash
# docs/deployment.md followed as written. The shell blocks marked
# `<!-- deployment-test: NAME -->` are read from the page itself and run, so that the page
# cannot drift from what works: install into a scratch root, the owner's key, the first load by
# the nightly service, the server as its unit starts it, an API key, HTTPS with a private CA and
# the CSV a BI tool reads, the access log, a certificate renewal through the deploy hook and
# SIGHUP, the PostgreSQL store over TLS with .pgpass, the owner role without CREATEROLE and a
# read-only BI role that reads the views and cannot write, backups and restores of both stores.
# `systemd-analyze verify` checks the installed units where systemd is installed. The Debian
# package of the page's first section: deployment_package.sh.
#
# What a real server has and this test has not, and what stands in for it:
#   - root's paths: every /etc/tessera, /var/lib/tessera, /var/backups/tessera and
#     /etc/letsencrypt in a block is under a scratch root ($root); `cmake --install` gets
#     DESTDIR=$root and this build directory for `build`;
#   - sudo: `sudo -u postgres CMD` runs CMD as the throwaway cluster's superuser over its socket,
#     answering createuser's and \password's prompts (no terminal: setsid); `sudo -u tessera
#     CMD` runs CMD as this user with tessera's home ($root/var/lib/tessera); owners and groups
#     `tessera` and `postgres` in install/chgrp are this user's and the cluster's;
#   - systemd: `systemctl` runs the installed units' ExecStart/ExecReload with their
#     EnvironmentFile (paths mapped into $root), Environment, LoadCredential and
#     WorkingDirectory, as the invoking user (no sandbox); timers are not run;
#     `systemd-sysusers` writes into $root's /etc/passwd;
#   - PostgreSQL: a throwaway cluster (scripts/pg-test-cluster) made to look like Debian's (an
#     include_dir conf.d, no TCP lines in pg_hba.conf), /etc/postgresql/15/main is its data
#     directory, `systemctl restart postgresql` restarts it; db.internal:5432 is localhost and
#     its port, 10.0.0.0/8 is 127.0.0.1/32, '*' is '127.0.0.1';
#   - the server's name tessera.example.org:8443 is localhost and the port the server chose
#     (listen addresses become 127.0.0.1:0, so that no fixed port is taken); certificates come
#     from a private CA made here, trusted by curl through CURL_CA_BUNDLE;
#   - the-owner-password is a password made here; the example date 2025-06-30 is today.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
tessera=$(realpath "$1")
src=$(realpath "$2")
build=$(cd "$(dirname "$tessera")/../.." && pwd)
doc=$src/docs/deployment.md
[ -f "$build/CMakeCache.txt" ] || fail "no CMake build directory above $tessera"
for tool in openssl curl psql pg_dump pg_restore sqlite3 setsid; do
  command -v "$tool" >/dev/null || skip_or_fail "needs $tool (scripts/install-deps)"
done
[ "$(id -u)" = 0 ] || skip_or_fail "needs root: it installs files with the owners the doc gives"
[ -x "$build/apps/tessera-worker/tessera-worker" ] || fail "build tessera-worker first (cmake --install installs it)"

work=$(mktemp -d)
chmod 755 "$work"  # the cluster's programs run as postgres from here
root=$work/root
state=$work/state  # what the systemctl stand-in knows: the server's pid and port, credentials
mkdir -p "$root" "$state" "$work/bin"
pgdir=""
cleanup() {
  if [ -f "$state/tessera.pid" ]; then kill "$(cat "$state/tessera.pid")" 2>/dev/null || true; fi
  if [ -n "$pgdir" ]; then "$src/scripts/pg-test-cluster" stop "$pgdir" >/dev/null 2>&1 || true; fi
  if [ -n "${KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
cd "$work"
start_time=$(date +%s)

# --- The throwaway PostgreSQL cluster, made to look like Debian's.
eval "$("$src/scripts/pg-test-cluster" start)"
pgdir=$PG_TEST_CLUSTER_DIR
pgport=$(sed -nE 's/.*-p ([0-9]+).*/\1/p' "$pgdir/options")
pguser=$(stat -c %U "$pgdir/data")
pggroup=$(stat -c %G "$pgdir/data")
mkdir -p "$pgdir/data/conf.d"
chown "$pguser:$pggroup" "$pgdir/data/conf.d"
echo "include_dir = 'conf.d'" >>"$pgdir/data/postgresql.conf"
sed -i '/^host/d' "$pgdir/data/pg_hba.conf"
me=$(id -un)
mygroup=$(id -gn)

# --- Certificates: a private CA, one certificate for localhost (Tessera's and PostgreSQL's).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=Test CA" \
  -keyout ca.key -out ca.crt 2>/dev/null
make_cert() {  # make_cert NAME CN: NAME.key and NAME.crt for localhost, signed by the CA
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$2" \
    -keyout "$1.key" -out "$1.csr" 2>/dev/null
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
    -extfile <(echo "subjectAltName=DNS:localhost,IP:127.0.0.1") -out "$1.crt" 2>/dev/null
}
make_cert server localhost
cp server.crt fullchain.pem
cp server.key privkey.pem
export CURL_CA_BUNDLE=$work/ca.crt

# --- Stand-ins for sudo, systemctl and systemd-sysusers (above), on PATH for the blocks.
cat >"$work/bin/sudo" <<'EOF'
#!/bin/bash
user=root
if [ "$1" = -u ]; then user=$2; shift 2; fi
case "$user" in
  postgres)
    export PGHOST=$PG_SOCKET PGPORT=$PG_PORT PGUSER=$PG_SUPERUSER PGDATABASE=postgres
    printf '%s\n%s\n' "$TEST_PROMPT_ANSWER" "$TEST_PROMPT_ANSWER" | setsid -w "$@" ;;
  tessera) HOME=$TESSERA_HOME exec "$@" ;;
  root) exec "$@" ;;
  *) echo "sudo stand-in: unknown user $user" >&2; exit 1 ;;
esac
EOF
cat >"$work/bin/systemd-sysusers" <<'EOF'
#!/bin/bash
exec /usr/bin/systemd-sysusers --root="$TEST_ROOT" "$@"
EOF
cat >"$work/bin/systemctl" <<'EOF'
#!/bin/bash
# The installed units, run as systemd would run them (see deployment.sh).
set -euo pipefail
units=$TEST_ROOT/usr/lib/systemd/system
map() {  # a setting's value: root's paths into the scratch root, listen addresses to port 0
  sed -E -e "s#^(/etc/tessera|/var/lib/tessera|/var/backups/tessera|/usr/)#$TEST_ROOT\1#" \
    -e 's#^(127\.0\.0\.1|0\.0\.0\.0):[0-9]+$#127.0.0.1:0#' <<<"$1"
}
setting() { sed -n "s/^$2=//p" "$units/$1.service"; }
environment() {  # the unit's environment, one NAME=value a line
  local unit=$1 line creds=$TEST_STATE/credentials/$1
  echo "PATH=$PATH"
  echo "HOME=$TESSERA_HOME"
  while IFS= read -r line; do
    case "$line" in '' | '#'*) continue ;; esac
    echo "${line%%=*}=$(map "${line#*=}")"
  done <"$(map "$(setting "$unit" EnvironmentFile)")"
  mkdir -p "$creds"
  while IFS= read -r line; do
    [ -n "$line" ] || continue
    install -m 0400 "$(map "${line#*:}")" "$creds/${line%%:*}"
  done < <(setting "$unit" LoadCredential)
  setting "$unit" Environment | sed -e "s#%d#$creds#g" -e '/^$/d'
}
run_exec() {  # run_exec UNIT COMMAND...: becomes COMMAND, in the unit's environment and directory
  local unit=$1
  shift
  local -a env
  mapfile -t env < <(environment "$unit")
  mkdir -p "$TEST_ROOT/var/lib/tessera"
  cd "$(map "$(setting "$unit" WorkingDirectory)")"
  exec env -i "${env[@]}" "$@"
}
run() { (run_exec "$@"); }
start_server() {
  local log=$TEST_STATE/tessera.journal seen
  touch "$log"
  seen=$(grep -c "^Listening on" "$log" || true)
  # shellcheck disable=SC2046  # ExecStart is words
  (run_exec tessera $(map "$(setting tessera ExecStart)")) >>"$log" 2>&1 &
  echo $! >"$TEST_STATE/tessera.pid"  # the server itself: the subshell became it
  for _ in $(seq 200); do
    [ "$(grep -c "^Listening on" "$log" || true)" -gt "$seen" ] && break
    kill -0 "$(cat "$TEST_STATE/tessera.pid")" 2>/dev/null || { echo "tessera.service failed:" >&2; tail -5 "$log" >&2; exit 1; }
    sleep 0.05
  done
  grep "^Listening on" "$log" | tail -1 | sed -E 's/.*:([0-9]+)$/\1/' >"$TEST_STATE/tessera.port"
}
stop_server() {
  if [ -f "$TEST_STATE/tessera.pid" ]; then
    kill "$(cat "$TEST_STATE/tessera.pid")" 2>/dev/null || true
    while kill -0 "$(cat "$TEST_STATE/tessera.pid")" 2>/dev/null; do sleep 0.05; done
    rm -f "$TEST_STATE/tessera.pid"
  fi
}
action=$1
shift
now=0
names=()
for a in "$@"; do
  case "$a" in --now) now=1 ;; *) names+=("${a%.service}") ;; esac
done
[ "$action" = daemon-reload ] && exit 0
for name in "${names[@]}"; do
  case "$action:$name" in
    *:*.timer) echo "systemctl stand-in: $action $name (timers are not run here)" ;;
    enable:tessera) [ "$now" = 0 ] || start_server ;;
    start:tessera) start_server ;;
    restart:tessera) stop_server; start_server ;;
    stop:tessera) stop_server ;;
    reload:tessera)
      # shellcheck disable=SC2046
      run tessera $(setting tessera ExecReload | sed "s#\$MAINPID#$(cat "$TEST_STATE/tessera.pid")#") ;;
    start:tessera-nightly)
      # shellcheck disable=SC2046
      run tessera-nightly $(map "$(setting tessera-nightly ExecStart)") >>"$TEST_STATE/tessera-nightly.journal" 2>&1 ||
        { echo "tessera-nightly.service failed:" >&2; tail -5 "$TEST_STATE/tessera-nightly.journal" >&2; exit 1; } ;;
    restart:postgresql)
      "$TEST_SRC/scripts/pg-test-cluster" pause "$TEST_PG_DIR"
      sed -i "s/-c listen_addresses='' //" "$TEST_PG_DIR/options"
      "$TEST_SRC/scripts/pg-test-cluster" resume "$TEST_PG_DIR" ;;
    *) echo "systemctl stand-in: $action $name is not known here" >&2; exit 1 ;;
  esac
done
EOF
chmod +x "$work/bin/"*
pg_superuser=$(sed -nE "s/.*user=([^&']+).*/\1/p" <<<"$TESSERA_TEST_POSTGRES_URL")
export PATH=$work/bin:$root/usr/bin:$PATH TEST_ROOT=$root TEST_STATE=$state TEST_SRC=$src \
  TEST_PG_DIR=$pgdir TESSERA_HOME=$root/var/lib/tessera PG_SOCKET=$pgdir/socket PG_PORT=$pgport \
  PG_SUPERUSER=$pg_superuser \
  DESTDIR=$root TEST_PROMPT_ANSWER=""
owner_pw="owner-$RANDOM$RANDOM-pw"
bi_pw="bi-$RANDOM$RANDOM-pw"

# block NAME: the commands of the block marked NAME, with the substitutions above.
block() {
  local text
  text=$(awk -v marker="<!-- deployment-test: $1 -->" '
    index($0, marker) { found = 1; next }
    found && /^ *```sh *$/ { inside = 1; match($0, /^ */); indent = RLENGTH; next }
    inside && /^ *``` *$/ { exit }
    inside { print substr($0, indent + 1) }' "$doc")
  [ -n "$text" ] || fail "docs/deployment.md has no block $1"
  local port=""
  [ -f "$state/tessera.port" ] && port=$(cat "$state/tessera.port")
  sed -e "s#/etc/postgresql/15/main#$pgdir/data#g" \
    -e "s#/etc/tessera#$root/etc/tessera#g" \
    -e "s#/etc/letsencrypt#$root/etc/letsencrypt#g" \
    -e "s#/var/lib/tessera#$root/var/lib/tessera#g" \
    -e "s#/var/backups/tessera#$root/var/backups/tessera#g" \
    -e "s#db\.internal:5432#localhost:$pgport#g" \
    -e "s#tessera\.example\.org:8443#localhost:$port#g" \
    -e "s#0\.0\.0\.0:8443#127.0.0.1:0#g" \
    -e "s#listen_addresses = '\*'#listen_addresses = '127.0.0.1'#" \
    -e "s#10\.0\.0\.0/8#127.0.0.1/32#g" \
    -e "s#the-owner-password#$owner_pw#g" \
    -e "s#2025-06-30#$(date +%F)#g" \
    -e "s#-o tessera -g tessera#-o $me -g $mygroup#g" \
    -e "s#-g tessera#-g $mygroup#g" \
    -e "s#chgrp tessera #chgrp $mygroup #g" \
    -e "s#-o postgres -g postgres#-o $pguser -g $pggroup#g" \
    -e "s#--install build #--install $build #" <<<"$text"
}
# run_block NAME: runs the block, failing on its first failing command.
run_block() {
  local text
  text=$(block "$1")
  echo "== docs/deployment.md, $1" >&2
  bash -euo pipefail -c "$text" || fail "the block $1 of docs/deployment.md failed"
}

# --- Install (the Debian package's contents are checked below).
run_block install >install.log
for f in usr/bin/tessera usr/bin/tessera-worker usr/libexec/tessera/tessera-nightly \
  usr/lib/systemd/system/tessera.service usr/lib/systemd/system/tessera-nightly.service \
  usr/lib/systemd/system/tessera-nightly.timer usr/lib/sysusers.d/tessera.conf \
  etc/tessera/tessera.env usr/share/doc/tessera/deployment.md usr/share/doc/tessera/bi.md \
  usr/share/doc/tessera/examples/config/segments.toml; do
  [ -e "$root/$f" ] || fail "cmake --install did not install /$f"
done
grep -qx "ExecStart=/usr/bin/tessera serve" "$root/usr/lib/systemd/system/tessera.service" ||
  fail "the unit does not run /usr/bin/tessera: $(grep ExecStart "$root/usr/lib/systemd/system/tessera.service")"
"$root/usr/bin/tessera" --version | grep -q "^tessera " || fail "the installed binary does not run"
file "$root/usr/bin/tessera" 2>/dev/null | grep -q "not stripped" && fail "--strip left the symbols"
echo "installed into a scratch root; the installed binary runs"

# The units as systemd reads them.
if command -v systemd-analyze >/dev/null; then
  mkdir -p "$root/bin"
  cp /bin/kill "$root/bin/kill"  # ExecReload's, as on the real system
  (cd "$root/usr/lib/systemd/system" &&
    systemd-analyze verify --root="$root" --recursive-errors=no --man=no \
      "$PWD/tessera.service" "$PWD/tessera-nightly.service" "$PWD/tessera-nightly.timer") ||
    fail "systemd-analyze verify found errors in the units"
  exposure=$(systemd-analyze security --offline=true --root="$root" \
    "$root/usr/lib/systemd/system/tessera.service" 2>&1 |
    sed -nE 's/.*Overall exposure level for tessera.service: ([0-9.]+).*/\1/p')
  awk -v e="$exposure" 'BEGIN { exit !(e != "" && e <= 2.0) }' ||
    fail "tessera.service's exposure is '$exposure', expected at most 2.0"
  echo "systemd-analyze: the units verify; tessera.service's exposure $exposure"
else
  echo "systemd-analyze is not installed: the units were not verified (install systemd to check them)"
fi

run_block install-user
grep -q "^tessera:x:[0-9]*:[0-9]*:.*:/var/lib/tessera:" "$root/etc/passwd" ||
  fail "systemd-sysusers made no user tessera: $(cat "$root/etc/passwd" 2>/dev/null)"
[ "$(stat -c %a "$root/etc/tessera/tessera.env")" = 640 ] || fail "tessera.env is not 0640"

# --- First set-up and the first load, by the nightly service.
"$tessera" generate --customers 3000 --months 24 --seed 17 --end "$(date +%F)" -o orders.csv \
  >/dev/null 2>&1
# An export made earlier, as a shop system's is: at rest (the nightly job leaves a file changed
# within TESSERA_SETTLE seconds for the next run; `cp -p` in the docs keeps this time).
touch -d '10 minutes ago' orders.csv
run_block first-setup >/dev/null 2>&1
[ "$(stat -c %a "$root/etc/tessera/owner.key")" = 600 ] || fail "the owner key is not 0600"
run_block first-load
store=$root/var/lib/tessera/store.db
[ -f "$root/var/lib/tessera/inbox/loaded/orders.csv" ] || fail "the nightly job did not move the loaded file"
[ -z "$(find "$root/var/lib/tessera/inbox" -maxdepth 1 -type f)" ] || fail "files left in the inbox"
snapshots=$("$tessera" snapshots list --format json --store "$store" | grep -c '"id"')
[ "$snapshots" = 1 ] || fail "the nightly job kept $snapshots snapshots"
grep -qE "loaded +orders.csv: [0-9]+ rows" "$state/tessera-nightly.journal" || fail "the job's journal: $(cat "$state/tessera-nightly.journal")"
echo "first load and snapshot by tessera-nightly.service, with the key from its credential"

# --- The server and an API key.
run_block start
key=$(run_block api-key 2>/dev/null | grep '^tsk_') || fail "no API key printed"
# A key for IMPORTDATA's ?key=, which the access log must not show either.
qkey=$("$tessera" keys api create --role viewer --allow-query-key --store "$store" 2>/dev/null)
curl -fsS -H "Authorization: Bearer $key" "http://127.0.0.1:$(cat "$state/tessera.port")/api/v1/health" >/dev/null ||
  fail "the server does not answer"

# --- HTTPS, the CSV a BI tool reads, the access log.
run_block tls
grep -q "^Listening on https://127.0.0.1:" "$state/tessera.journal" || fail "not HTTPS: $(tail -3 "$state/tessera.journal")"
KEY=$key run_block fetch >segments.csv
[ "$(wc -l <segments.csv)" = 10 ] || fail "the CSV has $(wc -l <segments.csv) lines: $(cat segments.csv)"
echo "the segments CSV over HTTPS, the server's certificate checked against the private CA"

port=$(cat "$state/tessera.port")
uuid=$(grep -m1 -oE '[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}' \
  <("$tessera" profiles --store "$store" --format csv 2>/dev/null)) || fail "no pseudonym"
curl -sS -o /dev/null "https://localhost:$port/api/v1/segments?format=csv&dialect=de&key=$qkey"
curl -sS -o /dev/null -H "Authorization: Bearer $key" "https://localhost:$port/api/v1/profiles/$uuid"
curl -sS -o /dev/null "https://localhost:$port/api/v1/segments"
sleep 0.2
journal=$state/tessera.journal
line='^- - [0-9a-f]{16} \[[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9:]{8} \+0000\] "GET /api/v1/segments HTTP/1\.1" 200 [0-9]+ [0-9]+ viewer$'
[ "$(grep -cE "$line" "$journal")" = 2 ] || fail "no access log line like the doc's: $(grep '^- - ' "$journal")"
grep -qE '"GET /api/v1/profiles/\{uuid\} HTTP/1\.1" 403 [0-9]+ [0-9]+ -$' "$journal" ||
  fail "the profile lookup's line: $(grep profiles "$journal")"
grep -qE '^- - - .*"GET /api/v1/segments HTTP/1\.1" 401 ' "$journal" || fail "no line of the refused request"
for secret in "$key" "$qkey" "$uuid" "format=csv" "dialect"; do
  grep -qF -- "$secret" "$journal" && fail "the server's journal holds '$secret'"
done
grep '^- - ' "$journal" | grep -qE '127\.0\.0\.1|localhost' && fail "the access log holds the client's address"
echo "access log: one line per request (key id, route template, status, bytes, time, role); no key, query, pseudonym or address"

# --- Renewal: the deploy hook installs renewed files and reloads the server.
run_block renewal-hook
mkdir -p live
make_cert live/renewed localhost
mv live/renewed.crt live/fullchain.pem
mv live/renewed.key live/privkey.pem
RENEWED_LINEAGE=$work/live "$root/etc/letsencrypt/renewal-hooks/deploy/tessera"
for _ in $(seq 50); do grep -q "reloaded the TLS certificate" "$journal" && break; sleep 0.1; done
served=$(openssl s_client -connect "127.0.0.1:$port" -servername localhost </dev/null 2>/dev/null |
  openssl x509 -noout -fingerprint -sha256)
[ "$served" = "$(openssl x509 -in live/fullchain.pem -noout -fingerprint -sha256)" ] ||
  fail "after the deploy hook the server shows another certificate"
echo "renewal: the deploy hook's files in use after systemctl reload (SIGHUP), no restart"

# --- SQLite: backup while the server runs, a change, restore; the store is back as it was.
"$tessera" snapshots show latest --format csv --store "$store" >before.csv
run_block backup-sqlite
[ -s "$root/var/backups/tessera/store-$(date +%F).db" ] || fail "no SQLite backup"
"$tessera" snapshots create --window 12m --store "$store" >/dev/null 2>&1
[ "$("$tessera" snapshots list --format json --store "$store" | grep -c '"id"')" = 2 ] || fail "no second snapshot"
run_block restore-sqlite
[ "$("$tessera" snapshots list --format json --store "$store" | grep -c '"id"')" = 1 ] ||
  fail "the restore did not bring back the backup's snapshots"
"$tessera" snapshots show latest --format csv --store "$store" >after.csv
cmp -s before.csv after.csv || fail "the restored store's segments differ: $(diff before.csv after.csv | head)"
KEY=$key run_block fetch >restored.csv
cmp -s segments.csv restored.csv || fail "the server's CSV after the restore differs"
echo "SQLite: online backup, restore; the restored segments are identical"

# --- PostgreSQL: the owner without CREATEROLE, TLS, .pgpass, the first load.
TEST_PROMPT_ANSWER=$owner_pw run_block pg-owner
run_block pg-network
run_block pg-client
run_block pg-first-load
pg="postgresql://tessera_owner@localhost:$pgport/tessera?sslmode=verify-full"
grep -q "PostgreSQL" <(HOME=$TESSERA_HOME "$tessera" status --store "$pg" 2>&1) || fail "the store is not PostgreSQL"
pgkey=$(HOME=$TESSERA_HOME "$tessera" keys api create --role viewer --store "$pg" 2>/dev/null)
KEY=$pgkey run_block fetch >pg_segments.csv
cmp -s segments.csv pg_segments.csv || fail "PostgreSQL's CSV differs from SQLite's: $(diff segments.csv pg_segments.csv | head -4)"
echo "PostgreSQL store over TLS (verify-full, .pgpass): loaded by the nightly job; the same CSV as SQLite"

# The owner may not create roles: bi-role says what a superuser runs, and prints no password.
set +e
BI_PW=$bi_pw HOME=$TESSERA_HOME "$tessera" bi-role powerbi --password-env BI_PW --store "$pg" \
  >denied.out 2>&1
rc=$?
set -e
[ "$rc" = 1 ] || fail "bi-role without CREATEROLE exited $rc: $(cat denied.out)"
grep -q "sudo -u postgres createuser --pwprompt powerbi" denied.out || fail "no fix offered: $(cat denied.out)"
grep -qF "$bi_pw" denied.out && fail "the password was printed"
echo "bi-role as the owner: refused with the superuser's command: $(head -1 denied.out | cut -c1-100)..."

# The doc's roles: a superuser creates the login role, the owner grants the views.
TEST_PROMPT_ANSWER=$bi_pw run_block bi-role >bi-role.out
grep -q "may now read the views" bi-role.out || fail "bi-role: $(cat bi-role.out)"
mkdir -p analyst/.postgresql
cp ca.crt analyst/.postgresql/root.crt
(umask 077 && echo "localhost:$pgport:tessera:powerbi:$bi_pw" >analyst/.pgpass)
HOME=$work/analyst run_block bi-check >bi-check.out
[ "$(grep -cE '^ [a-z_]+ +\| +[0-9]+ \| +[0-9]+\.[0-9]{2}$' bi-check.out)" = 9 ] ||
  fail "the BI role's view: $(cat bi-check.out)"
as_bi="postgresql://powerbi@localhost:$pgport/tessera?sslmode=verify-full"
for sql in "SELECT count(*) FROM orders" "SELECT count(*) FROM customers" \
  "SELECT count(*) FROM snapshot_profiles" "INSERT INTO loads DEFAULT VALUES" \
  "DELETE FROM tessera_bi.segments_latest" "CREATE TABLE x (i int)" "CREATE SCHEMA x"; do
  if HOME=$work/analyst psql "$as_bi" -qAtc "$sql" >/dev/null 2>&1; then fail "the BI role may: $sql"; fi
done
if HOME=$work/analyst psql "postgresql://powerbi@localhost:$pgport/tessera?sslmode=disable" \
  -qAtc "SELECT 1" >/dev/null 2>plain.err; then
  fail "an unencrypted connection was accepted"
fi
grep -q "no pg_hba.conf entry" plain.err || fail "unencrypted: $(cat plain.err)"
(umask 077 && echo "localhost:$pgport:tessera:powerbi:wrong" >analyst/.pgpass)
if HOME=$work/analyst psql "$as_bi" -qAtc "SELECT 1" >/dev/null 2>&1; then fail "a wrong password was accepted"; fi
(umask 077 && echo "localhost:$pgport:tessera:powerbi:$bi_pw" >analyst/.pgpass)
set +e
HOME=$TESSERA_HOME "$tessera" bi-role tessera_owner --store "$pg" >owner-role.out 2>&1
rc=$?
set -e
[ "$rc" = 1 ] && grep -q "would not be read-only" owner-role.out || fail "bi-role on the owner: $rc $(cat owner-role.out)"
echo "BI role powerbi over TLS: reads the views; no table, no write, no plain or wrong-password connection; the owner is refused as a BI role"

# --- PostgreSQL: pg_dump, restore into a new database, the BI role again.
run_block backup-pg
[ -s "$root/var/backups/tessera/tessera-$(date +%F).dump" ] || fail "no pg_dump"
TEST_PROMPT_ANSWER="" run_block restore-pg >/dev/null
KEY=$pgkey run_block fetch >pg_restored.csv
cmp -s segments.csv pg_restored.csv || fail "the restored PostgreSQL store's CSV differs"
HOME=$work/analyst run_block bi-check >bi-check-restored.out
cmp -s bi-check.out bi-check-restored.out || fail "the BI role reads otherwise after the restore"
echo "PostgreSQL: pg_dump, restore, bi-role again; the same segments through the API and the views"

echo "took $(($(date +%s) - start_time)) s"
echo "PASS"
