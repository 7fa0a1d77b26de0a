#!/usr/bin/env bash
# Runs one data-driven case: tests/cases/NAME/ holds `cmd` (a bash script run in a scratch
# copy of the case directory, with $TESSERA the binary under test and TESSERA_KEY/STORE set
# to the case's scratch key and store) and the expected results:
#   expected.out  stdout        expected.err  stderr (optional)
#   expected.rc   exit status (optional, default 0)
# Load timings are dropped from the output before comparing. Set UPDATE=1 to rewrite the
# expected files (then review the diff by hand before committing).
set -uo pipefail
tessera=$(readlink -f "$1")
case_dir=$(cd "$2" && pwd)
key=$(readlink -f "$3")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$case_dir"/. "$work"/
install -m 600 "$key" "$work/owner.key"
cd "$work"
export TESSERA="$tessera" TESSERA_KEY="$work/owner.key" TESSERA_STORE=store.db LC_ALL=C
bash ./cmd >actual.out 2>actual.err
rc=$?
filter() { sed -E -e '/^ +seconds +[0-9.]+$/d' -e 's/"seconds":[0-9.e+-]+/"seconds":0/' -e 's/"seconds_by_phase":\{[^}]*\}/"seconds_by_phase":{}/' \
  -e 's/,"(cpu_seconds|cores)_by_phase":\{[^}]*\}//g' "$1"; }
status=0
if [ "${UPDATE:-0}" = 1 ]; then
  # A golden must hold what the case computes, never what differs from run to run: refuse
  # output with a temporary path (the scratch copy, $TMPDIR, /tmp) or a timestamp from the
  # clock (today's or yesterday's date, UTC or local: a created_at, an --as-of left out).
  dates=()
  for d in "$(date -u +%F)" "$(date +%F)" "$(date -u -d yesterday +%F)" "$(date -d yesterday +%F)"; do
    dates+=(-e "$d")
  done
  for f in actual.out actual.err; do
    if grep -nF -e "$work" -e "${TMPDIR:-/tmp}/" -e '/tmp/' "${dates[@]}" "$f" | head -3 | grep .; then
      echo "refusing to update $case_dir: $f has a temporary path or a timestamp (above)"
      exit 1
    fi
  done
  filter actual.out >"$case_dir/expected.out"
  if [ -s actual.err ] || [ -f "$case_dir/expected.err" ]; then filter actual.err >"$case_dir/expected.err"; fi
  if [ "$rc" != 0 ]; then echo "$rc" >"$case_dir/expected.rc"; else rm -f "$case_dir/expected.rc"; fi
  echo "updated $case_dir"
  exit 0
fi
expected_rc=0
[ -f expected.rc ] && expected_rc=$(cat expected.rc)
if [ "$rc" != "$expected_rc" ]; then
  echo "exit status $rc, expected $expected_rc"; status=1
fi
if ! diff -u expected.out <(filter actual.out); then echo "stdout differs"; status=1; fi
if [ -f expected.err ] && ! diff -u expected.err <(filter actual.err); then echo "stderr differs"; status=1; fi
if [ "$status" != 0 ]; then echo "--- stderr ---"; cat actual.err; fi
exit $status
