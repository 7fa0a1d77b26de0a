#!/usr/bin/env bash
# Brute force against API keys, on the real server: after --max-key-failures wrong keys from one
# address it is answered 429 with Retry-After, whatever key it sends (a right one too: else a
# guess could be told right from wrong); another address (127.0.0.2, also loopback) is not
# affected; the Prometheus metrics count both; after the window (--key-failure-window, 3 s
# here) the address is served again.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
serve_begin "$1"
command -v curl >/dev/null || skip_or_fail "needs curl"

"$tessera" demo --dir demo --customers 200 --months 6 >/dev/null 2>&1
key=$("$tessera" keys api create --role viewer --store demo/store.db 2>/dev/null)
# A wrong key of the right form: the id of a real key, another secret.
wrong="${key%_*}_$(printf '0%.0s' $(seq 64))"

serve_start --store demo/store.db --listen 127.0.0.1:0 --max-key-failures 5 --key-failure-window 3
url=http://127.0.0.1:$port

# get FROM KEY PATH: the status code of a request from address FROM; its answer in got.json and
# its headers in got.headers.
get() {
  curl -sS --interface "$1" -H "Authorization: Bearer $2" -o got.json -D got.headers \
    -w '%{http_code}' "$url$3"
}

[ "$(get 127.0.0.1 "$key" /api/v1/segments)" = 200 ] || fail "the good key before: $(cat got.json)"
for i in 1 2 3 4 5; do
  code=$(get 127.0.0.1 "$wrong" /api/v1/segments)
  [ "$code" = 401 ] || fail "wrong key $i answered $code"
done
code=$(get 127.0.0.1 "$wrong" /api/v1/segments)
[ "$code" = 429 ] || fail "the 6th wrong key answered $code"
[ "$(json got.json 'd["error"]["code"]')" = too_many_failed_keys ] || fail "429: $(cat got.json)"
retry=$(sed -nE 's/^Retry-After: ([0-9]+)\r$/\1/ip' got.headers)
[ -n "$retry" ] && [ "$retry" -ge 1 ] && [ "$retry" -le 3 ] || fail "Retry-After: '$retry'"
echo "5 wrong keys: 401 each; the 6th: 429, Retry-After $retry"

# The good key from the same address waits too; from another address it works.
[ "$(get 127.0.0.1 "$key" /api/v1/segments)" = 429 ] || fail "locked address let the good key in"
[ "$(get 127.0.0.2 "$key" /api/v1/segments)" = 200 ] || fail "another address: $(cat got.json)"
echo "locked: the good key from 127.0.0.1 is 429, from 127.0.0.2 200"

[ "$(get 127.0.0.2 "$key" /metrics)" = 200 ] || fail "metrics: $(cat got.json)"
metric() { sed -nE "s/^$1 ([0-9]+)$/\1/p" got.json; }
[ "$(metric tessera_api_key_failures_total)" = 5 ] || fail "failures metric: $(grep api_key got.json)"
[ "$(metric tessera_api_key_lockouts_total)" = 2 ] || fail "lockouts metric: $(grep api_key got.json)"
grep -q '^tessera_http_requests_total{route="/api/v1/segments",status="429"} 2$' got.json ||
  fail "429s by route: $(grep 'status="429"' got.json)"
echo "metrics: 5 failures, 2 lockouts"

# After the window the address is served again, with a fresh count.
sleep "$retry"
sleep 0.2
[ "$(get 127.0.0.1 "$key" /api/v1/segments)" = 200 ] || fail "after the window: $(cat got.json)"
[ "$(get 127.0.0.1 "$wrong" /api/v1/segments)" = 401 ] || fail "a fresh window: $(cat got.json)"
echo "after ${retry} s: served again"
echo "PASS"
