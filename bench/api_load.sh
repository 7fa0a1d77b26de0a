#!/usr/bin/env bash
# Load on the segments endpoint: wrk with 64 connections against `tessera serve` on loopback,
# over a demo store with a kept snapshot. Reports requests/s, p50/p99 latency and errors.
#
#   bench/api_load.sh [path/to/tessera] [customers] [seconds]
#
# With API_LOAD_PERF=1 (and perf installed), also counts the server's context switches and CPU
# time per request during each run (perf stat on the server process).
#
# The machine's cores are shared by wrk and the server; results go to BENCHMARKS.md.
set -euo pipefail
tessera=${1:-build/apps/tessera/tessera}
customers=${2:-100000}
seconds=${3:-15}
command -v wrk >/dev/null || { echo "wrk is missing (scripts/install-deps installs it)"; exit 1; }
work=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

export TESSERA_STORE="$work/store.db" TESSERA_KEY="$work/owner.key"
"$tessera" keys init >/dev/null
"$tessera" generate --customers "$customers" --months 24 --seed 1 --end 2025-06-30 --output "$work/orders.csv" 2>/dev/null
"$tessera" ingest "$work/orders.csv" --quiet
"$tessera" snapshots create --as-of 2025-06-30 --window 24m --quiet >/dev/null
key=$("$tessera" keys api create --role viewer 2>/dev/null)
# Server and load generator on separate cores where there are two or more, so that neither
# starves the other (on 2 cores, 64 server threads would otherwise crowd out wrk's 2 and its
# latency figures would measure wrk's own waiting).
cores=$(nproc)
server_cpus=1-$((cores - 1)) client_cpus=0
[ "$cores" -lt 2 ] && server_cpus=0
taskset -c "$server_cpus" "$tessera" serve --listen 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.err" &
pid=$!
for _ in $(seq 100); do [ -s "$work/serve.out" ] && break; sleep 0.05; done
url=$(awk '{print $3; exit}' "$work/serve.out")
curl -sf -H "Authorization: Bearer $key" "$url/api/v1/segments" >/dev/null  # loads the snapshot

perf_stat=
[ -n "${API_LOAD_PERF:-}" ] && command -v perf >/dev/null && perf_stat=1
run() {
  local name=$1 path=$2
  shift 2
  local perf_pid=
  if [ -n "$perf_stat" ]; then
    perf stat -x, -e context-switches,task-clock -p "$pid" -o "$work/perf.out" -- sleep "$seconds" 2>/dev/null &
    perf_pid=$!
  fi
  taskset -c "$client_cpus" wrk -t2 -c64 -d"${seconds}s" --latency -H "Authorization: Bearer $key" "$@" "$url$path" >"$work/wrk.out"
  local rps p50 p99 non2xx errors per_request=
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.out")
  p50=$(awk '$1=="50%" {print $2}' "$work/wrk.out")
  p99=$(awk '$1=="99%" {print $2}' "$work/wrk.out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$work/wrk.out")
  errors=$(awk '/Socket errors/ {print}' "$work/wrk.out")
  if [ -n "$perf_pid" ]; then
    wait "$perf_pid" || true
    local requests
    requests=$(awk '/requests in/ {print $1}' "$work/wrk.out")
    per_request=$(awk -F, -v n="$requests" '$3=="context-switches" {cs=$1} $3=="task-clock" {ms=$1}
      END {if (n > 0) printf "   server per request: %.2f context switches, %.1f us CPU", cs/n, ms*1000/n}' "$work/perf.out")
  fi
  printf '%-36s %10s req/s   p50 %8s   p99 %8s   non-2xx %s   %s%s\n' "$name" "$rps" "$p50" "$p99" "${non2xx:-0}" "${errors:-socket errors 0}" "$per_request"
}
echo "tessera serve (CPUs $server_cpus), $customers customers; wrk -t2 -c64 (CPU $client_cpus), ${seconds}s per endpoint"
run "GET /api/v1/segments (JSON)" "/api/v1/segments"

run "GET /api/v1/segments?format=csv" "/api/v1/segments?format=csv"
run "GET /api/v1/segments, gzip" "/api/v1/segments" -H "Accept-Encoding: gzip"
