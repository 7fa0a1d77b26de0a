#!/usr/bin/env bash
# A bounded soak of `tessera serve` on loopback: well-behaved clients (wrk, 64 connections,
# a mix of the dashboard's and BI tools' routes) for SECONDS, with a slow-client attack beside
# them from another address (connections that trickle a request head or body a byte at a time,
# reopened as the server closes them). Passes when the well-behaved clients see 0 errors and
# the server's memory stays flat (RSS at the end within 10 % of RSS after warm-up).
#
#   bench/serve_soak.sh [path/to/tessera] [seconds] [customers] [connections]
#
# Defaults: 600 s, 100,000 customers, 64 connections (issue 15's soak). tests/e2e runs a short
# version (e2e.serve_soak). Prints the figures as one block for BENCHMARKS.md.
set -euo pipefail
tessera=$(realpath "${1:-build/apps/tessera/tessera}")
seconds=${2:-600}
customers=${3:-100000}
connections=${4:-64}
command -v wrk >/dev/null || { echo "wrk is missing (scripts/install-deps installs it)" >&2; exit 1; }
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

export TESSERA_STORE="$work/store.db" TESSERA_KEY="$work/owner.key"
"$tessera" keys init >/dev/null
"$tessera" generate --customers "$customers" --months 24 --seed 1 --end 2025-06-30 \
  --output "$work/orders.csv" 2>/dev/null
"$tessera" ingest "$work/orders.csv" --quiet
# Two snapshots, so that the migration between them can be read too.
"$tessera" snapshots create --as-of 2025-03-31 --window 24m --quiet >/dev/null
"$tessera" snapshots create --as-of 2025-06-30 --window 24m --quiet >/dev/null
key=$("$tessera" keys api create --role analyst 2>/dev/null)
attacker_key=$("$tessera" keys api create --role viewer 2>/dev/null)

"$tessera" serve --listen 127.0.0.1:0 --request-timeout 5 >"$work/serve.out" 2>"$work/serve.err" &
server=$!
pids+=("$server")
for _ in $(seq 200); do [ -s "$work/serve.out" ] && break; sleep 0.05; done
url=$(awk '{print $3; exit}' "$work/serve.out")
[ -n "$url" ] || { echo "serve did not start: $(cat "$work/serve.err")" >&2; exit 1; }
port=${url##*:}
curl -sf -H "Authorization: Bearer $key" "$url/api/v1/segments" >/dev/null  # loads the snapshot

# The routes a dashboard and a BI tool read, round robin per connection.
cat >"$work/mix.lua" <<'LUA'
local paths = {
  "/api/v1/segments", "/api/v1/segments?format=csv", "/api/v1/segments?format=csv&dialect=de",
  "/api/v1/migration", "/api/v1/distributions", "/api/v1/profiles?limit=50",
  "/api/v1/snapshots", "/api/v1/audiences/schema", "/api/v1/health", "/",
}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1])
end
LUA

# The attacker: 100 connections from 127.0.0.2 (its own address, so the per-address limit it
# meets is its own), half trickling a head, half a body, one byte every 0.5 s.
cat >"$work/slow.py" <<'PY'
import socket, sys, threading, time
port, key, stop_at = int(sys.argv[1]), sys.argv[2], time.time() + float(sys.argv[3])
closed = [0]
lock = threading.Lock()
def one(i):
    while time.time() < stop_at:
        try:
            s = socket.socket()
            s.bind(("127.0.0.2", 0))
            s.connect(("127.0.0.1", port))
            if i % 2:
                data = b"GET /api/v1/segments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key.encode() + b"\r\n\r\n"
            else:
                s.sendall(b"POST /api/v1/audiences/count HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key.encode() +
                          b"\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
                data = b"{" * 100000
            for b in data:
                if time.time() >= stop_at: break
                s.sendall(bytes([b]))
                time.sleep(0.5)
        except OSError:
            with lock: closed[0] += 1
        finally:
            s.close()
threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(100)]
for t in threads: t.start()
for t in threads: t.join()
print(closed[0])
PY
python3 "$work/slow.py" "$port" "$attacker_key" "$seconds" >"$work/slow.out" 2>&1 &
pids+=($!)

rss() { awk '/^VmRSS/ {print $2}' "/proc/$server/status"; }
warmup=$((seconds / 10 > 5 ? seconds / 10 : 5))
(
  start=$(date +%s)
  while kill -0 "$server" 2>/dev/null; do
    echo "$(($(date +%s) - start)) $(rss)"
    sleep 2
  done
) >"$work/rss.log" &
pids+=($!)

wrk -t2 -c"$connections" -d"${seconds}s" --latency --timeout 10s -s "$work/mix.lua" \
  -H "Authorization: Bearer $key" "$url" >"$work/wrk.out"
sleep 1
wait "${pids[1]}" 2>/dev/null || true  # the attacker ends with the run

requests=$(awk '/requests in/ {print $1}' "$work/wrk.out")
rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.out")
p50=$(awk '$1=="50%" {print $2}' "$work/wrk.out")
p99=$(awk '$1=="99%" {print $2}' "$work/wrk.out")
non2xx=$(awk '/Non-2xx/ {print $NF}' "$work/wrk.out")
socket_errors=$(awk '/Socket errors/ {gsub(",", ""); print $4+$6+$8+$10}' "$work/wrk.out")
rss_warm=$(awk -v w="$warmup" '$1 >= w {print $2; exit}' "$work/rss.log")
rss_end=$(awk 'NF == 2 {last = $2} END {print last}' "$work/rss.log")
rss_max=$(awk 'NF == 2 && $2 > m {m = $2} END {print m}' "$work/rss.log")
growth=$(awk -v a="$rss_warm" -v b="$rss_end" 'BEGIN {printf "%.1f", (b - a) * 100 / a}')
attacker_closed=$(tail -1 "$work/slow.out")
refused=$(curl -sf -H "Authorization: Bearer $key" "$url/metrics" |
  awk '/^tessera_http_refused_total\{reason="timeout"\}/ {print $2}')

echo "serve soak: ${seconds} s, $customers customers, wrk -t2 -c$connections (mixed routes) + 100 slow clients"
echo "  well-behaved: $requests requests, $rps req/s, p50 $p50, p99 $p99, non-2xx ${non2xx:-0}, socket errors ${socket_errors:-0}"
echo "  slow clients: $attacker_closed connections closed by the server, $refused refused for taking too long (408)"
echo "  RSS: ${rss_warm} KiB after ${warmup} s warm-up, ${rss_end} KiB at the end (${growth} %), max ${rss_max} KiB"
# SOAK_RSS_LOG=FILE keeps the RSS trace (seconds since start, KiB), one sample per 2 s.
[ -n "${SOAK_RSS_LOG:-}" ] && cp "$work/rss.log" "$SOAK_RSS_LOG"
status=0
if [ "${non2xx:-0}" != 0 ] || [ "${socket_errors:-0}" != 0 ]; then
  echo "FAIL: well-behaved clients saw errors"; status=1
fi
if awk -v g="$growth" 'BEGIN {exit !(g > 10)}'; then
  echo "FAIL: memory grew by more than 10 % after warm-up"; status=1
fi
if [ "${refused:-0}" = 0 ]; then
  echo "FAIL: no slow client was ever timed out"; status=1
fi
kill -0 "$server" 2>/dev/null || { echo "FAIL: the server is gone: $(tail -5 "$work/serve.err")"; status=1; }
exit $status
