# Sourced by the end-to-end scripts.

# A script that cannot run here (no ../shared/data, no PostgreSQL server, no browser) is
# reported to ctest as skipped (exit 77), never as passed; under CI=true nothing may be
# missing, and the run fails naming what is.
skip_or_fail() {
  if [ "${CI:-}" = true ]; then
    echo "FAIL: CI=true, but this test cannot run: $*"
    exit 1
  fi
  echo "SKIP: $*"
  exit 77
}
