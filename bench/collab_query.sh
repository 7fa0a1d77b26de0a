#!/usr/bin/env bash
# A collaboration query between two party processes on this machine (docs/collaboration.md),
# matched by e-mail: owner B a `tessera serve` node, owner A the requester's CLI, which also runs
# the join worker.
#
#   bench/collab_query.sh KIND [N_A] [N_B] [OVERLAP] [BUILD_DIR]
#     KIND       overlap: the overlap's size; count: a joint audience count broken down by two
#                attributes, A's segment × B's segment; kept: a match kept for counts (its own
#                count of everyone), then three counts on it (`collab count --then`): segment ×
#                segment, A's champions by B's segment, segment × segment again — the time of
#                each is what a count costs once matched
#     N_A, N_B   customers with an e-mail at A and at B (default 1000000 each)
#     OVERLAP    people both have (default N_B / 2)
#   COLLAB_BENCH_DIR=DIR keeps the two parties (stores, keys, snapshots) in DIR and reuses them
#     when they are there for the same people: a load of 10 M customers takes minutes.
#
# Each person has one to three orders on days and amounts that vary with its number, so that the
# segments differ. Prints the overlap (or the cells' sum) against OVERLAP, the query's wall time
# and that of its steps (round 1: both owners blind their tokens; round 2: each double-blinds the
# other's values and seals; worker: join, breakdown, release — what a query costs once the values
# are matched), peak memory of A's process (with the worker) and of B's node, and the bytes
# between them. Loads are timed apart.
set -euo pipefail
kind=${1:-}
case "$kind" in overlap | count | kept) ;; *) echo "usage: $0 overlap|count|kept [N_A] [N_B] [OVERLAP] [BUILD_DIR]" >&2; exit 2 ;; esac
na=${2:-1000000}
nb=${3:-1000000}
overlap=${4:-$((nb / 2))}
build=${5:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/$build/apps/tessera/tessera
[ -x "$bin" ] || { echo "build first: scripts/build $build" >&2; exit 1; }
[ "$overlap" -le "$na" ] && [ "$overlap" -le "$nb" ] || { echo "OVERLAP > N" >&2; exit 1; }
if [ -n "${COLLAB_BENCH_DIR:-}" ]; then
  work=$COLLAB_BENCH_DIR
  mkdir -p "$work"
else
  work=$(mktemp -d)
fi
node_pid=
cleanup() {
  [ -z "$node_pid" ] || kill "$node_pid" 2>/dev/null || true
  [ -n "${COLLAB_BENCH_DIR:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
cd "$work"

# A has people 0..na-1, B people na-overlap .. na-overlap+nb-1: exactly `overlap` in common.
gen() {  # first count prefix file
  awk -v first="$1" -v n="$2" -v p="$3" 'BEGIN {
    print "order_id,email,ordered_at,amount"
    for (i = first; i < first + n; i++) {
      orders = 1 + (i * 7 + (p == "B")) % 3
      for (k = 0; k < orders; k++) {
        day = (i * 13 + k * 101 + (p == "B") * 57) % 700
        t = mktime("2024 12 01 12 00 00") - day * 86400
        printf "%s%d-%d,person.%d@example.com,%s,%d.%02d\n", p, i, k, i, strftime("%Y-%m-%d", t, 1),
          5 + (i * 31 + k * 17) % 400, i % 100
      }
    }
  }' > "$4"
}
party() {  # name file first count
  local name=$1 p=$2
  if [ -f "$p.ready" ] && [ "$(cat "$p.ready")" = "$3 $4" ]; then
    echo "$p: reusing $4 customers from $work" >&2
    return
  fi
  rm -f "$p".db* "$p.key" "$p.ready"
  gen "$3" "$4" "$name" "$p.csv"
  "$bin" keys init --key "$p.key" >/dev/null 2>&1
  "$bin" party init --name "$name" --store "$p.db" --key "$p.key" >/dev/null
  local start
  start=$(date +%s.%N)
  "$bin" ingest "$p.csv" --store "$p.db" --key "$p.key" >/dev/null 2>&1
  echo "load $name ($4 customers): $(echo "$(date +%s.%N) - $start" | bc) s" >&2
  start=$(date +%s.%N)
  "$bin" snapshots create --store "$p.db" --as-of 2024-12-01 --window 24m >/dev/null 2>&1
  echo "snapshot $name: $(echo "$(date +%s.%N) - $start" | bc) s" >&2
  rm -f "$p.csv"
  echo "$3 $4" >"$p.ready"
}
party A a 0 "$na"
party B b $((na - overlap)) "$nb"
a=$("$bin" party show --store a.db --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["party_id"])')
b=$("$bin" party show --store b.db --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["party_id"])')
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
if [ "$kind" = overlap ]; then
  grant=(--purpose overlap --outputs overlap_size)
else
  grant=(--purpose audience_counts --outputs audience_count,cell_counts --fields segment --k-min 10)
fi
"$bin" grant create --partner A --collaboration collab.toml "${grant[@]}" --worker-hosts A \
  --recipients A --store b.db --key b.key --out grant.json 2>/dev/null
"$bin" grant import grant.json --collaboration collab.toml --store a.db --key a.key >/dev/null 2>&1
"$bin" serve --store b.db --key b.key --with-key --collaboration collab.toml \
  --listen "127.0.0.1:$port" >node.log 2>&1 &
node_pid=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/api/v1/health" >/dev/null && break
  sleep 0.1
done

if [ "$kind" = overlap ]; then
  query=(overlap)
elif [ "$kind" = count ]; then
  query=(count --breakdown segment --partner-breakdown segment)
else
  cat >counts.jsonl <<'JSONL'
{"breakdown": ["segment"], "partner_breakdown": ["segment"]}
{"expression": "segment = \"champions\"", "partner_breakdown": ["segment"]}
{"breakdown": ["segment"], "partner_breakdown": ["segment"]}
JSONL
  query=(count --then counts.jsonl)
fi
start=$(date +%s.%N)
/usr/bin/time -f '%M' -o a.rss "$bin" collab "${query[@]}" --partner B --collaboration collab.toml \
  --store a.db --key a.key --format json > result.json
wall=$(echo "$(date +%s.%N) - $start" | bc)
b_rss=$(awk '/VmHWM/ {print $2}' "/proc/$node_pid/status")
python3 - "$kind $na x $nb" "$overlap" "$wall" "$(($(cat a.rss) / 1024))" "$((b_rss / 1024))" <<'PY'
import json, sys
what, overlap, wall, a_rss, b_rss = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
r = json.load(open("result.json"))
if isinstance(r, list):  # kept: the match, then the counts on it
    first = r[0]
    for i, c in enumerate(r[1:], 1):
        total = sum(x["count"] for x in c["cells"])
        s = c["seconds"]
        print(f"count {i} on the match: {len(c['cells'])} cells ({c['filtered_cells']} withheld), "
              f"sum {total}; {s['round2'] + s['worker']:.2f} s (owners {s['round2']:.2f} s, worker "
              f"{s['worker']:.2f} s); {(c['bytes']['to_owners'] + c['bytes']['from_owners']) >> 20} MiB")
        if i != 2 and c["filtered_cells"] == 0 and total != overlap:
            sys.exit("WRONG sum")
    r = first
total = sum(c["count"] for c in r["cells"])
s, b = r["seconds"], r["bytes"]
print(f"{what}: {len(r['cells'])} cells ({r['filtered_cells']} under k_min withheld), sum {total} "
      f"(overlap {overlap}); query {wall:.1f} s: round 1 {s['round1']:.1f} s, round 2 "
      f"{s['round2']:.1f} s, worker {s['worker']:.1f} s; peak A+worker {a_rss} MiB, peak B node "
      f"{b_rss} MiB; {(b['to_owners'] + b['from_owners']) >> 20} MiB between A and B")
if r["filtered_cells"] == 0 and total != overlap:
    sys.exit("WRONG sum")
PY
