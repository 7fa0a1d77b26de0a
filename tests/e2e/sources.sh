#!/usr/bin/env bash
# `tessera source add|list|run|remove` against stand-in shops on the loopback (python3's
# http.server speaking Shopify's and WooCommerce's order APIs, with paging), and an order
# webhook through `tessera serve`: the orders arrive once, a second run stores nothing, a wrong
# token fails naming the source, and no credential and no raw e-mail appears in the store file,
# stdout or stderr.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
serve_begin "$1"
shop_pid=
trap 'kill $shop_pid 2>/dev/null; serve_end' EXIT
export TESSERA_KEY="$work/owner.key" TESSERA_STORE="$work/store.db" XDG_CACHE_HOME="$work/cache"
"$tessera" keys init >/dev/null 2>&1

token=shpat_e2e_0f1e2d3c4b5a
wc_key=ck_e2e_7a6b5c4d
wc_secret=cs_e2e_9e8d7c6b
webhook_secret=whsec_e2e_13579
cat >shop.py <<'PY'
import base64, json, sys, time, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
token, key, secret = sys.argv[1], sys.argv[2], sys.argv[3]
def shopify(i):
    return {"id": 9000 + i, "name": "#%d" % (1000 + i), "email": "Person%d@Example.com" % i,
            "created_at": "2024-05-0%dT10:00:00+02:00" % (1 + i % 9),
            "updated_at": "2024-05-10T08:00:%02dZ" % i, "currency": "EUR",
            "total_price": "19.90", "financial_status": "paid",
            "line_items": [{"sku": "SKU-%d" % (i % 3), "quantity": 1, "price": "19.90"}]}
def woo(i):
    return {"id": 500 + i, "status": "completed", "currency": "EUR",
            "date_created_gmt": "2024-06-01T09:00:00", "date_modified_gmt": "2024-06-02T10:00:%02d" % i,
            "total": "12.00", "customer_id": 0, "billing": {"email": "wooperson%d@example.org" % i},
            "line_items": [{"sku": "W-1", "quantity": 2, "total": "12.00"}], "refunds": []}
SHOPIFY = [shopify(i) for i in range(7)]
SLOW = [dict(shopify(100 + i), updated_at="2024-07-01T08:%02d:%02dZ" % (i // 3, i % 3)) for i in range(40)]
WOO = [woo(i) for i in range(5)]
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def send(self, status, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers: self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        orders = SHOPIFY
        if u.path.startswith("/slow/"):  # a slow shop of 40 orders, to be killed while pulled
            time.sleep(0.15)
            orders = SLOW
            u = u._replace(path=u.path[len("/slow"):])
        if u.path == "/admin/api/2024-01/orders.json":
            if self.headers.get("X-Shopify-Access-Token") != token:
                return self.send(401, {"errors": "Invalid API key or access token"})
            limit = int(q["limit"]); offset = int(q.get("page_info", "0"))
            rows = [o for o in orders if o["updated_at"] >= q.get("updated_at_min", "")]
            headers = []
            if offset + limit < len(rows):
                headers.append(("Link", '<http://127.0.0.1:%d%s%s?limit=%d&page_info=%d>; rel="next"'
                                % (self.server.server_port, "/slow" if orders is SLOW else "",
                                   u.path, limit, offset + limit)))
            return self.send(200, {"orders": rows[offset:offset + limit]}, headers)
        if u.path == "/shop/wp-json/wc/v3/orders":
            auth = "Basic " + base64.b64encode(("%s:%s" % (key, secret)).encode()).decode()
            if self.headers.get("Authorization") != auth:
                return self.send(401, {"code": "woocommerce_rest_cannot_view"})
            per, page = int(q["per_page"]), int(q["page"])
            rows = [o for o in WOO if o["date_modified_gmt"] > q.get("modified_after", "")]
            pages = (len(rows) + per - 1) // per
            return self.send(200, rows[(page - 1) * per:page * per], [("X-WP-TotalPages", str(pages))])
        self.send(404, {})
class Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a client killed mid-answer (the kills below)
s = Server(("127.0.0.1", 0), H)
print(s.server_port, flush=True)
s.serve_forever()
PY
python3 shop.py "$token" "$wc_key" "$wc_secret" >shop.port &
shop_pid=$!
for _ in $(seq 100); do [ -s shop.port ] && break; sleep 0.05; done
shop_port=$(cat shop.port)
[ -n "$shop_port" ] || fail "the stand-in shop did not start"

export SHOP_TOKEN=$token WEBHOOK_SECRET=$webhook_secret
printf '%s:%s\n' "$wc_key" "$wc_secret" >wc.credentials
chmod 600 wc.credentials
"$tessera" source add shopify --name shop --shop-url "http://127.0.0.1:$shop_port" \
  --token-env SHOP_TOKEN --webhook-secret-env WEBHOOK_SECRET >>out.txt 2>>err.txt
"$tessera" source add woocommerce --name wc --url "http://127.0.0.1:$shop_port/shop/" \
  --credentials-file wc.credentials >>out.txt 2>>err.txt
# A remote shop over plain HTTP is refused (the token would travel in clear).
if "$tessera" source add shopify --name far --shop-url http://shop.example.com --token-env SHOP_TOKEN \
  >>out.txt 2>far.err; then fail "http:// to a remote host accepted"; fi
grep -q "must be https://" far.err || fail "no reason: $(cat far.err)"
cat far.err >>err.txt

"$tessera" source run --page-size 3 >>out.txt 2>run1.err || fail "run: $(cat run1.err)"
grep -q "^shop: 3 pages, 7 orders read, 7 stored, 0 rejected" run1.err || fail "shop run: $(cat run1.err)"
grep -q "^wc: 2 pages, 5 orders read, 5 stored, 0 rejected" run1.err || fail "wc run: $(cat run1.err)"
cat run1.err >>err.txt
"$tessera" source run >>out.txt 2>run2.err || fail "second run: $(cat run2.err)"
grep -q "^shop: 1 pages, 0 orders read, 0 stored" run2.err || fail "second shop run: $(cat run2.err)"
grep -q "^wc: 1 pages, 0 orders read, 0 stored" run2.err || fail "second wc run: $(cat run2.err)"
cat run2.err >>err.txt
orders=$("$tessera" status 2>>err.txt | tee -a out.txt | sed -nE 's/^ *orders[^0-9]*([0-9]+).*/\1/p' | head -1)
[ "$orders" = 12 ] || fail "expected 12 orders in the store, status says '$orders'"

"$tessera" source list --format json >list.json 2>>err.txt
cat list.json >>out.txt
[ "$(json list.json 'd[0]["name"]')" = shop ] || fail "list: $(cat list.json)"
[ "$(json list.json 'd[0]["credentials"]')" = '$SHOP_TOKEN' ] || fail "credentials: $(cat list.json)"
[ "$(json list.json 'd[0]["runs"][0]["orders_stored"]')" = 0 ] || fail "last run: $(cat list.json)"
"$tessera" source list --runs 2 >>out.txt 2>>err.txt

# A wrong token: exit 1, the source and the variable named, no retry, nothing stored.
if SHOP_TOKEN=shpat_wrong_2468 "$tessera" source run shop >>out.txt 2>wrong.err; then
  fail "a wrong token succeeded"
fi
grep -q "source 'shop' page 1: the shop refused the credentials (HTTP 401)" wrong.err ||
  fail "wrong token: $(cat wrong.err)"
grep -q "shpat_wrong" wrong.err && fail "the token is in the error"
cat wrong.err >>err.txt
"$tessera" source list >>out.txt 2>>err.txt

# The order webhook: a signed Shopify order is loaded; a bad signature is 401.
serve_start --with-key --listen 127.0.0.1:0
body='{"id": 9100, "name": "#2100", "email": "Webhook.Person@Example.com", "created_at": "2024-05-11T10:00:00+02:00", "updated_at": "2024-05-11T08:00:00Z", "currency": "EUR", "total_price": "5.00", "financial_status": "paid", "line_items": []}'
sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$webhook_secret" -binary | base64)
code=$(curl -s -o hook.json -w '%{http_code}' -X POST -H "Content-Type: application/json" \
  -H "X-Shopify-Hmac-Sha256: $sig" --data-binary "$body" "http://127.0.0.1:$port/api/v1/sources/shop/webhook")
[ "$code" = 200 ] || fail "webhook: $code $(cat hook.json)"
[ "$(json hook.json 'd["orders_stored"]')" = 1 ] || fail "webhook: $(cat hook.json)"
cat hook.json >>out.txt
code=$(curl -s -o bad.json -w '%{http_code}' -X POST -H "X-Shopify-Hmac-Sha256: AAAA$sig" \
  --data-binary "$body" "http://127.0.0.1:$port/api/v1/sources/shop/webhook")
[ "$code" = 401 ] || fail "bad signature: $code $(cat bad.json)"
grep -q bad_signature bad.json || fail "bad signature: $(cat bad.json)"
cat bad.json >>out.txt
serve_stop
cat serve.out >>out.txt
cat serve.err >>err.txt

# Killed (SIGKILL) at random moments while pulling, then run to the end: the store equals an
# uninterrupted pull (0 lost, 0 duplicated).
for store in whole.db killed.db; do
  "$tessera" source add shopify --name slow --shop-url "http://127.0.0.1:$shop_port/slow" \
    --token-env SHOP_TOKEN --store "$store" >>out.txt 2>>err.txt
done
"$tessera" source run slow --page-size 4 --store whole.db >>out.txt 2>>err.txt
RANDOM=20261207
kills=0
for _ in 1 2 3 4 5; do
  "$tessera" source run slow --page-size 4 --store killed.db >>out.txt 2>>err.txt &
  pid=$!
  sleep "0.$((RANDOM % 9 + 1))"
  if kill -KILL "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
  wait "$pid" 2>/dev/null || true
done
"$tessera" source run slow --page-size 4 --store killed.db >>out.txt 2>kill.err || fail "after kills: $(cat kill.err)"
cat kill.err >>err.txt
"$tessera" orders list --store whole.db | sort >whole.orders
"$tessera" orders list --store killed.db | sort >killed.orders
[ "$(wc -l <whole.orders)" = 41 ] || fail "uninterrupted pull: $(wc -l <whole.orders) lines (40 orders and a header)"
cmp -s whole.orders killed.orders || fail "killed $kills times, the store differs: $(diff whole.orders killed.orders | head)"
"$tessera" source list --store killed.db --runs 10 >>out.txt 2>>err.txt

"$tessera" source remove wc >>out.txt 2>>err.txt
"$tessera" source list >list.txt 2>>err.txt
cat list.txt >>out.txt
grep -q "^shop " list.txt || fail "shop not listed: $(cat list.txt)"
grep -q "^wc " list.txt && fail "wc still listed"

# No credential and no raw e-mail anywhere: the store (and its WAL), stdout, stderr.
for f in store.db store.db-wal whole.db killed.db killed.db-wal out.txt err.txt; do
  [ -f "$f" ] || continue
  for secret in "$token" "$wc_key" "$wc_secret" "$webhook_secret" shpat_wrong_2468; do
    if grep -a -q -- "$secret" "$f"; then fail "credential found in $f"; fi
  done
  if grep -a -q -i -E "person[0-9]+@example|wooperson|webhook\.person" "$f"; then
    fail "a raw e-mail found in $f"
  fi
done
echo "OK: sources pulled 12 orders once, a webhook 1; $kills kills lost and duplicated nothing; no credential or e-mail in store or output"
