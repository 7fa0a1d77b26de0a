#!/usr/bin/env bash
# The short version of bench/serve_soak.sh (issue 15's 10-minute soak): 12 s of 16
# well-behaved connections on mixed routes beside 100 slow clients from another address; the
# well-behaved see no error and the server's memory stays flat. Skipped without wrk.
set -euo pipefail
command -v wrk >/dev/null || { echo "SKIP: wrk is not installed (scripts/install-deps installs it)"; exit 77; }
exec bash "$2/bench/serve_soak.sh" "$1" 12 2000 16
