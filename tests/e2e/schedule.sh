#!/usr/bin/env bash
# `tessera serve --schedule` on a clock set just before its hour (libfaketime): at 03:00 in
# Berlin (02:00 UTC in December) the server recomputes into a kept snapshot by itself; GET
# /api/v1/schedule shows the run, its steps and the next time; the run is kept in the store, so
# that a server started days later (the clock at 09:00 on the 10th) runs the missed time once at
# start, and not the ones before it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
serve_begin "$1"
command -v curl >/dev/null || skip_or_fail "needs curl"
# libfaketime preloaded by env, which execs: $server is the server's own pid.
faketime_lib=$(find /usr/lib -name libfaketimeMT.so.1 2>/dev/null | head -1)
[ -n "$faketime_lib" ] || skip_or_fail "needs libfaketime (package faketime, scripts/install-deps)"
export TZ=UTC FAKETIME_DONT_FAKE_MONOTONIC=1
# The sanitizer build's runtime wants to come first; libfaketime only wraps clock calls.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"

"$tessera" demo --dir demo --customers 300 --months 12 >/dev/null 2>&1
key=$("$tessera" keys api create --role viewer --store demo/store.db 2>/dev/null)
before=$("$tessera" snapshots list --store demo/store.db --format json | grep -c '"id"' || true)

# serve_at TIME ARGS...: serve_start on a clock that starts at TIME (UTC) and runs on.
serve_at() {
  serve_prefix=(env LD_PRELOAD="$faketime_lib" FAKETIME="@$1")
  shift
  serve_start "$@"
  serve_prefix=()
}
schedule() { curl -sS -H "Authorization: Bearer $key" "http://127.0.0.1:$port/api/v1/schedule" >sched.json; }
# wait_runs N: until the schedule shows N kept runs and none running (at most 60 s).
wait_runs() {
  for _ in $(seq 240); do
    schedule
    [ "$(json sched.json 'len(d["runs"])')" = "$1" ] && [ "$(json sched.json 'd["running"]')" = None ] && return 0
    sleep 0.25
  done
  fail "no run $1 after 60 s: $(cat sched.json)"
}

# A bad schedule is refused at start, naming what is wrong.
if "$tessera" serve --store demo/store.db --listen 127.0.0.1:0 --schedule 25:00 2>err.txt; then
  fail "--schedule 25:00 was accepted"
fi
grep -q "25:00" err.txt || fail "the error does not name the time: $(cat err.txt)"
if "$tessera" serve --store demo/store.db --listen 127.0.0.1:0 --schedule 03:00 --schedule-zone Mars/Olympus 2>err.txt; then
  fail "an unknown zone was accepted"
fi
grep -q "Mars/Olympus" err.txt || fail "the error does not name the zone: $(cat err.txt)"

# 01:59:57 UTC is 02:59:57 in Berlin: three seconds to the run.
serve_at "2026-12-08 01:59:57" --store demo/store.db --listen 127.0.0.1:0 --schedule 03:00 \
  --schedule-zone Europe/Berlin --schedule-window 12m
schedule
[ "$(json sched.json 'd["schedule"]')" = "daily at 03:00 (Europe/Berlin)" ] || fail "schedule: $(cat sched.json)"
[ "$(json sched.json 'd["next_run"]')" = 2026-12-08T02:00:00Z ] || fail "next run: $(cat sched.json)"
[ "$(json sched.json 'len(d["runs"])')" = 0 ] || fail "a run before its time: $(cat sched.json)"
wait_runs 1
[ "$(json sched.json 'd["runs"][0]["scheduled_for"]')" = 2026-12-08T02:00:00Z ] || fail "run: $(cat sched.json)"
[ "$(json sched.json 'd["runs"][0]["outcome"]')" = ok ] || fail "outcome: $(cat sched.json)"
[ "$(json sched.json '[s["name"] for s in d["runs"][0]["steps"]]')" = "['sources', 'recompute', 'destinations']" ] ||
  fail "steps: $(cat sched.json)"
[ "$(json sched.json 'd["runs"][0]["steps"][1]["outcome"]')" = ok ] || fail "recompute: $(cat sched.json)"
json sched.json 'd["runs"][0]["steps"][1]["detail"]' | grep -q "12m window to 2026-12-08" ||
  fail "recompute detail: $(cat sched.json)"
[ "$(json sched.json 'd["next_run"]')" = 2026-12-09T02:00:00Z ] || fail "next run after: $(cat sched.json)"
after=$("$tessera" snapshots list --store demo/store.db --format json | grep -c '"id"')
[ "$after" = $((before + 1)) ] || fail "snapshots: $before before, $after after"
echo "03:00 Berlin: one scheduled run, one new snapshot; next 2026-12-09T02:00:00Z"
serve_stop

# Down from then until 09:00 on the 10th: the 10th's 03:00 runs once at start, the 9th's not.
serve_at "2026-12-10 09:00:00" --store demo/store.db --listen 127.0.0.1:0 --schedule 03:00 \
  --schedule-zone Europe/Berlin
wait_runs 2
[ "$(json sched.json 'd["runs"][0]["scheduled_for"]')" = 2026-12-10T02:00:00Z ] || fail "catch-up: $(cat sched.json)"
[ "$(json sched.json 'd["next_run"]')" = 2026-12-11T02:00:00Z ] || fail "next after catch-up: $(cat sched.json)"
sleep 1
schedule
[ "$(json sched.json 'len(d["runs"])')" = 2 ] || fail "ran more than once: $(cat sched.json)"
echo "missed time: run once at start (2026-12-10T02:00:00Z), next 2026-12-11T02:00:00Z"
serve_stop

# Without --schedule the route says there is none.
serve_start --store demo/store.db --listen 127.0.0.1:0
schedule
[ "$(json sched.json 'd["schedule"]')" = None ] || fail "no schedule: $(cat sched.json)"
[ "$(json sched.json 'len(d["runs"])')" = 0 ] || fail "runs without a schedule: $(cat sched.json)"
echo "schedule: ok"
