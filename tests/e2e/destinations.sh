#!/usr/bin/env bash
# Destinations from the command line: demo data -> snapshot -> `tessera destination run` to a
# python3 http.server receiver that checks every signature, and to a CSV drop -> a new load and
# a later snapshot -> run again: the receiver gets exactly who entered and who left the
# segment (the segment's exports before and after say who), each request signed, the log says
# delivered. A receiver that is down makes the delivery dead; `destination retry` recovers it
# with the same delivery id. No raw e-mail or customer number reaches the receiver, the drop
# or the store; the secret reaches neither the store nor the log. Two runs at once (two
# processes, a slow receiver) send a new destination's delivery once.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
tessera=$(realpath "$1")
work=$(mktemp -d)
receiver=""
cleanup() {
  if [ -n "$receiver" ]; then kill "$receiver" 2>/dev/null; wait "$receiver" 2>/dev/null || true; fi
  cd / && rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
export TESSERA_KEY="$work/owner.key" TESSERA_STORE="$work/store.db" XDG_CACHE_HOME="$work/cache"
export HOOK_SECRET="e2e-hook-secret-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"

cat >receiver.py <<'PY'
# A webhook receiver: verifies X-Tessera-Signature (t=<unix>,v1=<hex HMAC-SHA256 of "t.body">)
# with the shared secret, appends each verified request to requests.jsonl, answers 200 (after
# HOOK_DELAY seconds).
import hashlib, hmac, http.server, json, os, sys, time
secret = os.environ["HOOK_SECRET"].encode()
class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        time.sleep(float(os.environ.get("HOOK_DELAY", "0")))
        body = self.rfile.read(int(self.headers["Content-Length"]))
        fields = dict(p.split("=", 1) for p in self.headers["X-Tessera-Signature"].split(","))
        mac = hmac.new(secret, fields["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(mac, fields["v1"]):
            self.send_response(401); self.end_headers(); return
        with open("requests.jsonl", "a") as f:
            f.write(json.dumps({"key": self.headers["X-Tessera-Delivery"],
                                "body": json.loads(body)}) + "\n")
        self.send_response(200); self.end_headers()
    def log_message(self, *args): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Hook).serve_forever()
PY
port=$(free_port)
start_receiver() {
  python3 receiver.py "$port" &
  receiver=$!
  for _ in $(seq 100); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null && return
    sleep 0.05
  done
  fail "the receiver did not start"
}
stop_receiver() { kill "$receiver"; wait "$receiver" 2>/dev/null || true; receiver=""; }
start_receiver

"$tessera" keys init >/dev/null
"$tessera" generate --customers 1500 --months 14 --seed 5 --end 2025-06-30 --output orders.csv 2>/dev/null
"$tessera" ingest -q orders.csv
"$tessera" snapshots create --as-of 2025-06-30 --window 12m >/dev/null 2>&1
"$tessera" audience policy --min-export-size 1 >/dev/null

"$tessera" destination add webhook --name crm --follows segment:champions \
  --url "http://127.0.0.1:$port/hook" --secret-env HOOK_SECRET >/dev/null
mkdir drop
"$tessera" destination add csv --name drop --follows segment:champions --dir "$work/drop" >/dev/null
# The secret is given by name; a value is refused.
if "$tessera" destination add webhook --name bad --follows segment:champions \
  --url "http://127.0.0.1:$port/" --secret-env "$HOOK_SECRET" 2>err; then fail "a secret value was taken as a name"; fi
grep -q "NAME of an environment variable" err || fail "$(cat err)"
"$tessera" destination list | grep -q "crm *webhook *segment:champions *http://127.0.0.1:$port/... secret env HOOK_SECRET" \
  || fail "list: $("$tessera" destination list)"

"$tessera" audience export -q 'segment = "champions"' -o before.csv
"$tessera" destination run >run1.out
grep -q "crm: delivery 1 (snapshot 1): .* entered, 0 left: delivered after 1 attempt" run1.out || fail "$(cat run1.out)"

# New orders and a later snapshot: some customers enter the segment, others leave it.
"$tessera" generate --customers 300 --months 3 --seed 9 --end 2025-09-30 --output more.csv 2>/dev/null
sed -i '2,$ s/^\([^,]*\),/\1-B,/' more.csv   # new order ids (customers overlap the first file's)
"$tessera" ingest -q more.csv
"$tessera" snapshots create --as-of 2025-09-30 --window 12m >/dev/null 2>&1
"$tessera" audience export -q 'segment = "champions"' -o after.csv
"$tessera" destination run crm drop >run2.out
grep -q "crm: delivery 3 (snapshot 2)" run2.out || fail "$(cat run2.out)"
# Nothing changed since: nothing is sent.
"$tessera" destination run crm >run3.out
grep -q "crm: no change since the last delivery" run3.out || fail "$(cat run3.out)"

# A new destination while the receiver is down: its first delivery is dead after its attempts,
# and nothing advances; `retry` recovers it once the receiver is back.
stop_receiver
"$tessera" destination add webhook --name late --follows segment:Champions \
  --url "http://127.0.0.1:$port/hook" --secret-env HOOK_SECRET >/dev/null
if "$tessera" destination run late --max-attempts 2 --backoff-ms 10 >run4.out 2>run4.err; then
  fail "a run to a receiver that is down succeeded"
fi
grep -q "dead after 2 attempts" run4.err || fail "$(cat run4.err)"
"$tessera" destination log late | grep -q " dead " || fail "$("$tessera" destination log late)"
start_receiver
"$tessera" destination retry late >run5.out
grep -q "delivered after 3 attempts" run5.out || fail "$(cat run5.out)"
"$tessera" destination log --format json >log.json

python3 - "$work" <<'PY'
import csv, json, os, re, sys
w = sys.argv[1]
def uuids(name):
    return {r["uuid"] for r in csv.DictReader(open(f"{w}/{name}", newline=""))}
before, after = uuids("before.csv"), uuids("after.csv")
requests = [json.loads(l) for l in open(f"{w}/requests.jsonl")]
assert len(requests) == 3, [r["body"]["snapshot_id"] for r in requests]
first, second, third = (r["body"] for r in requests)
assert first["destination"] == "crm" and first["follows"] == "segment:champions"
assert set(first["entered"]) == before and first["left"] == [], "first run: everyone entered"
assert set(second["entered"]) == after - before, "entered"
assert set(second["left"]) == before - after, "left"
assert second["entered"] and second["left"], "the change should move someone each way"
assert third["destination"] == "late" and set(third["entered"]) == after and third["left"] == []
for r in requests:
    assert r["key"] == r["body"]["delivery_id"] + "-1", r["key"]
# The CSV drop has the same change sets.
drop = sorted(os.listdir(f"{w}/drop"))
assert drop == ["drop-1-entered.csv", "drop-1-left.csv", "drop-2-entered.csv", "drop-2-left.csv"], drop
assert uuids("drop/drop-2-entered.csv") == after - before and uuids("drop/drop-2-left.csv") == before - after
log = json.load(open(f"{w}/log.json"))
assert [e["status"] for e in log] == ["delivered"] * 5, log
late = [e for e in log if e["destination"] == "late"]
assert late[0]["attempts"] == 3 and late[0]["last_error"] == "", late[0]

# No raw identifier leaves or is kept; the secret is nowhere.
ids = set()
for name in ("orders.csv", "more.csv"):
    for r in csv.DictReader(open(f"{w}/{name}", newline="")):
        ids.add(r["customer_id"].strip()); ids.add(r["email"].strip()); ids.add(r["email"].strip().lower())
ids.discard("")
blobs = {"receiver": open(f"{w}/requests.jsonl", "rb").read()}
for f in os.listdir(f"{w}/drop"):
    blobs["drop/" + f] = open(f"{w}/drop/{f}", "rb").read()
for f in os.listdir(w):
    if f.startswith("store.db") or f.startswith("run") or f == "log.json":
        blobs[f] = open(f"{w}/{f}", "rb").read()
secret = os.environ["HOOK_SECRET"].encode()
import re
shape = re.compile(rb"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+|[A-Za-z]*\d{3,}")  # e-mails, customer numbers
for name, blob in blobs.items():
    assert secret not in blob, f"the secret is in {name}"
    found = {t.decode(errors="replace") for t in shape.findall(blob)}
    assert not (found & ids), f"a raw identifier is in {name}"
print(f"OK: {len(requests)} deliveries, {len(second['entered'])} entered, {len(second['left'])} left")
PY

# Two runs at once, as the schedule of `tessera serve` and a run started by hand would be: two
# processes on the store, a slow receiver. The new destination's delivery is sent once; the
# run that could not claim the destination says it is in progress elsewhere, and succeeds.
stop_receiver
HOOK_DELAY=2 start_receiver
"$tessera" destination add webhook --name twice --follows segment:champions \
  --url "http://127.0.0.1:$port/hook" --secret-env HOOK_SECRET >/dev/null
"$tessera" destination run twice >twice1.out 2>&1 &
run1=$!
"$tessera" destination run twice >twice2.out 2>&1 &
run2=$!
wait "$run1" || fail "the first run failed: $(cat twice1.out)"
wait "$run2" || fail "the second run failed: $(cat twice2.out)"
[ "$(cat twice1.out twice2.out | grep -c "twice: delivery .*: delivered after 1 attempt")" = 1 ] \
  || fail "$(cat twice1.out twice2.out)"
[ "$(cat twice1.out twice2.out | grep -c "twice: in progress elsewhere (run ")" = 1 ] \
  || fail "$(cat twice1.out twice2.out)"
[ "$(grep -c '"destination": "twice"' requests.jsonl)" = 1 ] || fail "$(grep -c twice requests.jsonl) requests"
"$tessera" destination log twice | grep -c " delivered " | grep -qx 1 || fail "$("$tessera" destination log twice)"
echo "two runs at once: $(cat twice1.out twice2.out | tr "\n" " ")"
