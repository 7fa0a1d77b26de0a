#!/usr/bin/env bash
# Issue 16's "done means", as a new user would set it up from the README: a shop (a stand-in of
# Shopify's order API on the loopback) is pulled once, segmented, and a webhook receiver follows
# a segment. Then, overnight, the shop takes new orders and `tessera serve --schedule 03:00
# --schedule-zone Europe/Berlin` — on a clock started at 02:59:56 Berlin time (libfaketime) —
# pulls them by itself, recomputes into a kept snapshot and delivers who entered and who left
# the segment: the next morning the BI CSV, the dashboard's schedule line (its API) and the
# receiver all show it, and no raw e-mail reached the store, the receiver or a log.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
serve_begin "$1"
shop_pid=""
receiver=""
trap 'kill $shop_pid $receiver 2>/dev/null; serve_end' EXIT
command -v curl >/dev/null || skip_or_fail "needs curl"
faketime_lib=$(find /usr/lib -name libfaketimeMT.so.1 2>/dev/null | head -1)
[ -n "$faketime_lib" ] || skip_or_fail "needs libfaketime (package faketime, scripts/install-deps)"
export TZ=UTC FAKETIME_DONT_FAKE_MONOTONIC=1
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
export TESSERA_KEY="$work/owner.key" TESSERA_STORE="$work/store.db" XDG_CACHE_HOME="$work/cache"
export SHOP_TOKEN=shpat_e2e_daily_24680 HOOK_SECRET="e2e-daily-hook-secret-$$"

# The shop: orders.json (paged by its Link header) from orders.jsonl, which the test appends to.
cat >shop.py <<'PY'
import json, sys, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
token = sys.argv[1]
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        if u.path != "/admin/api/2024-01/orders.json":
            self.send_response(404); self.end_headers(); return
        if self.headers.get("X-Shopify-Access-Token") != token:
            self.send_response(401); self.end_headers(); return
        orders = [json.loads(l) for l in open("orders.jsonl")]
        rows = sorted((o for o in orders if o["updated_at"] >= q.get("updated_at_min", "")),
                      key=lambda o: (o["updated_at"], o["id"]))
        limit, offset = int(q["limit"]), int(q.get("page_info", "0"))
        data = json.dumps({"orders": rows[offset:offset + limit]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if offset + limit < len(rows):
            self.send_header("Link", '<http://127.0.0.1:%d%s?limit=%d&page_info=%d>; rel="next"'
                             % (self.server.server_port, u.path, limit, offset + limit))
        self.end_headers()
        self.wfile.write(data)
s = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_port, flush=True)
s.serve_forever()
PY
# The receiver: verifies X-Tessera-Signature, keeps each verified body (docs/destinations.md).
cat >receiver.py <<'PY'
import hashlib, hmac, http.server, json, os
secret = os.environ["HOOK_SECRET"].encode()
class Hook(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        fields = dict(p.split("=", 1) for p in self.headers["X-Tessera-Signature"].split(","))
        mac = hmac.new(secret, fields["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(mac, fields["v1"]):
            self.send_response(401); self.end_headers(); return
        with open("received.jsonl", "ab") as f:
            f.write(body + b"\n")
        self.send_response(200); self.end_headers()
s = http.server.HTTPServer(("127.0.0.1", 0), Hook)
print(s.server_port, flush=True)
s.serve_forever()
PY
# orders DAY FIRST COUNT NEW: COUNT orders updated on DAY for customers FIRST.. (one order
# each, NEW of them new customers ordering for the first time), as Shopify's order JSON.
orders() {
  python3 - "$@" <<'PY' >>orders.jsonl
import json, random, sys
day, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
r = random.Random(day)
for i in range(count):
    c = first + i
    n = r.randrange(1, 4) if day < "2026-12" else 1
    for k in range(n):
        oid = 10000 * (c + 1) + k + (500 if day >= "2026-12" else 0)
        m = 1 + (c * 7 + k * 3) % 11 if day < "2026-12" else 12
        created = "2026-%02d-%02dT1%d:00:00+01:00" % (m, 1 + (c + k) % 27, k) if day < "2026-12" else day + "T19:00:00+01:00"
        print(json.dumps({"id": oid, "name": "#%d" % oid, "email": "Kunde.%d@Example.de" % c,
                          "created_at": created, "updated_at": day + "T20:00:%02dZ" % (k % 60),
                          "currency": "EUR", "total_price": "%d.50" % (10 + (c * 13) % 190),
                          "financial_status": "paid", "line_items": []}))
PY
}
orders 2026-11-30 0 120
python3 shop.py "$SHOP_TOKEN" >shop.port &
shop_pid=$!
python3 receiver.py >receiver.port &
receiver=$!
for _ in $(seq 100); do [ -s shop.port ] && [ -s receiver.port ] && break; sleep 0.05; done
shop_port=$(cat shop.port) hook_port=$(cat receiver.port)
[ -n "$shop_port" ] && [ -n "$hook_port" ] || fail "the stand-ins did not start"

# Day 0, by hand, as the README says: key, source, first pull, first snapshot, a destination.
"$tessera" keys init >/dev/null 2>&1
"$tessera" source add shopify --name shop --shop-url "http://127.0.0.1:$shop_port" --token-env SHOP_TOKEN >/dev/null
"$tessera" source run -q 2>>log.txt || fail "first pull: $(cat log.txt)"
"$tessera" snapshots create --as-of 2026-12-07 --window 24m --quiet >/dev/null
"$tessera" audience policy --min-export-size 1 >/dev/null
"$tessera" destination add webhook --name crm --follows segment:new \
  --url "http://127.0.0.1:$hook_port/hook" --secret-env HOOK_SECRET >/dev/null
"$tessera" destination run -q >>log.txt 2>&1 || fail "first delivery: $(cat log.txt)"
"$tessera" audience export -q 'segment = "new"' -o before.csv
[ "$(wc -l <received.jsonl)" = 1 ] || fail "the first delivery: $(cat received.jsonl)"
key=$("$tessera" keys api create --role viewer --label bi 2>/dev/null)

# Overnight: 30 new customers order in the shop (and 10 known ones again).
orders 2026-12-07 200 30
orders 2026-12-07 0 10
# 02:59:56 in Berlin is 01:59:56 UTC.
serve_prefix=(env LD_PRELOAD="$faketime_lib" FAKETIME="@2026-12-08 01:59:56")
serve_start --with-key --listen 127.0.0.1:0 --schedule 03:00 --schedule-zone Europe/Berlin --schedule-window 24m
serve_prefix=()
api() { curl -sS -H "Authorization: Bearer $key" "http://127.0.0.1:$port/api/v1/$1"; }
for _ in $(seq 240); do
  api schedule >sched.json
  [ "$(json sched.json 'len(d["runs"])')" = 1 ] && [ "$(json sched.json 'd["running"]')" = None ] && break
  sleep 0.25
done
[ "$(json sched.json 'len(d["runs"])')" = 1 ] || fail "no scheduled run: $(cat sched.json) $(cat serve.err)"
[ "$(json sched.json 'd["runs"][0]["outcome"]')" = ok ] || fail "the run: $(cat sched.json)"
json sched.json 'd["runs"][0]["steps"][0]["detail"]' | grep -q "^shop: 40 new orders, 0 rejected$" ||
  fail "sources step: $(cat sched.json)"
json sched.json 'd["runs"][0]["steps"][1]["detail"]' | grep -q "window to 2026-12-08$" ||
  fail "recompute step: $(cat sched.json)"
json sched.json 'd["runs"][0]["steps"][2]["detail"]' | grep -qE "^crm: [0-9]+ entered, [0-9]+ left$" ||
  fail "destinations step: $(cat sched.json)"
echo "03:00 Berlin: $(json sched.json '"; ".join(s["name"] + ": " + s["detail"] for s in d["runs"][0]["steps"])')"

# The morning after: the BI CSV is the new snapshot's, as of the run's day.
api "segments?format=csv" >segments.csv
api segments >segments.json
[ "$(json segments.json 'd["as_of"]')" = 2026-12-08 ] || fail "BI: $(head -c 300 segments.json)"
new_customers=$(json segments.json '[s["uuid_count"] for s in d["segments"] if s["key"] == "new"][0]')
grep -q ",$new_customers," segments.csv || fail "the CSV lacks the new segment's count $new_customers"
# The receiver has exactly who entered and who left the segment between the two snapshots.
"$tessera" audience export -q 'segment = "new"' -o after.csv
[ "$(wc -l <received.jsonl)" = 2 ] || fail "deliveries: $(wc -l <received.jsonl)"
tail -1 received.jsonl >change.json
python3 - before.csv after.csv change.json <<'PY' || fail "the delivered change is not the segment's change"
import csv, json, sys
def members(p): return {r["uuid"] for r in csv.DictReader(open(p))}
before, after = members(sys.argv[1]), members(sys.argv[2])
change = json.load(open(sys.argv[3]))
assert set(change["entered"]) == after - before, (len(change["entered"]), len(after - before))
assert set(change["left"]) == before - after, (len(change["left"]), len(before - after))
assert len(after - before) >= 25, len(after - before)  # the new customers entered
print("delivered: %d entered, %d left (the segment had %d, has %d)"
      % (len(after - before), len(before - after), len(before), len(after)))
PY
# Pseudonyms only: no e-mail of the shop's reached the store, the receiver or the logs.
for f in store.db received.jsonl serve.out serve.err log.txt sched.json; do
  ! grep -qi "example.de" "$f" || fail "an e-mail in $f"
done
! grep -q "$SHOP_TOKEN\|$HOOK_SECRET" store.db || fail "a secret in the store"
echo "refresh_daily: ok"
