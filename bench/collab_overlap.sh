#!/usr/bin/env bash
# End-to-end PSI overlap between two parties on this machine (docs/collaboration.md): each party
# its own store, key and process — owner B a `tessera serve` node, owner A the requester's CLI,
# which also runs the join worker — matched by e-mail.
#
#   bench/collab_overlap.sh [N_A] [N_B] [OVERLAP] [BUILD_DIR]
#     N_A, N_B   customers with an e-mail at A and at B (default 1000000 each)
#     OVERLAP    people both have (default N_B / 2)
#
# Prints the overlap found (checked against OVERLAP), wall time of the query, peak memory of A's
# process (with the worker), of B's node, and the bytes that travelled. Loads are timed apart.
set -euo pipefail
na=${1:-1000000}
nb=${2:-1000000}
overlap=${3:-$((nb / 2))}
build=${4:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/$build/apps/tessera/tessera
[ -x "$bin" ] || { echo "build first: scripts/build $build" >&2; exit 1; }
[ "$overlap" -le "$na" ] && [ "$overlap" -le "$nb" ] || { echo "OVERLAP > N" >&2; exit 1; }
work=$(mktemp -d)
node_pid=
cleanup() { [ -z "$node_pid" ] || kill "$node_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
cd "$work"

# A has people 0..na-1, B people na-overlap .. na-overlap+nb-1: exactly `overlap` in common.
gen() {  # first count prefix file
  awk -v first="$1" -v n="$2" -v p="$3" 'BEGIN {
    print "order_id,email,ordered_at,amount"
    for (i = first; i < first + n; i++) printf "%s%d,person.%d@example.com,2024-05-01,25.00\n", p, i, i
  }' > "$4"
}
gen 0 "$na" A a.csv
gen $((na - overlap)) "$nb" B b.csv

"$bin" keys init --key a.key >/dev/null 2>&1
"$bin" keys init --key b.key >/dev/null 2>&1
a=$("$bin" party init --name A --store a.db --key a.key)
b=$("$bin" party init --name B --store b.db --key b.key)
for p in a b; do
  start=$(date +%s.%N)
  "$bin" ingest "$p.csv" --store "$p.db" --key "$p.key" >/dev/null 2>&1
  echo "load $p: $(echo "$(date +%s.%N) - $start" | bc) s"
done
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > collab.toml <<TOML
[[party]]
name = "A"
id = "$a"
endpoint = "http://127.0.0.1:1"
roles = ["data_owner", "worker_host"]

[[party]]
name = "B"
id = "$b"
endpoint = "http://127.0.0.1:$port"
roles = ["data_owner"]
TOML
"$bin" grant create --partner A --collaboration collab.toml --purpose overlap --outputs overlap_size \
  --worker-hosts A --recipients A --store b.db --key b.key --out grant.json 2>/dev/null
"$bin" grant import grant.json --collaboration collab.toml --store a.db --key a.key >/dev/null 2>&1
"$bin" serve --store b.db --key b.key --with-key --collaboration collab.toml \
  --listen "127.0.0.1:$port" >node.log 2>&1 &
node_pid=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/api/v1/health" >/dev/null && break
  sleep 0.1
done

start=$(date +%s.%N)
/usr/bin/time -f '%M' -o a.rss "$bin" collab overlap --partner B --collaboration collab.toml \
  --store a.db --key a.key --format json > result.json
wall=$(echo "$(date +%s.%N) - $start" | bc)
found=$(python3 -c 'import json; print(json.load(open("result.json"))["cells"][0]["count"])')
bytes=$(python3 -c 'import json; b = json.load(open("result.json"))["bytes"]; print(b["to_owners"] + b["from_owners"])')
b_rss=$(awk '/VmHWM/ {print $2}' "/proc/$node_pid/status")
echo "overlap $na x $nb: found $found (truth $overlap); query $wall s; peak A+worker $(( $(cat a.rss) / 1024 )) MiB, peak B node $((b_rss / 1024)) MiB; $((bytes / 1048576)) MiB between A and B"
[ "$found" = "$overlap" ] || { echo "WRONG overlap" >&2; exit 1; }
