# Sourced by the end-to-end scripts that drive the dashboard in a browser (dashboard.sh,
# partners.sh), after lib.sh: what they need before a page can open.
#
#   require_browser [TOOL...]    node 18+, npm, Debian's chromium and any further tools, or a
#                                skip (77; a failure under CI=true). Sets $chromium ($CHROMIUM,
#                                default /usr/bin/chromium).
#   browser_artifacts NAME       sets $artifacts, where screenshots go: $TESSERA_ARTIFACT_DIR,
#                                else ./artifacts under ctest, else a new /tmp/tessera-NAME-artifacts.*
#   install_browser_packages ROOT  playwright-core as tests/browser/package-lock.json pins it;
#                                `npm ci` only when node_modules is missing or older than the lock.

# Run on its own (ctest lists every tests/e2e/*.sh), it is no test: say so, as a skip.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  echo "SKIP: $(basename "$0") is sourced by dashboard.sh and partners.sh; it tests nothing itself"
  exit 77
fi

declare -F skip_or_fail >/dev/null || . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_browser() {
  local tool
  for tool in node npm "$@"; do
    command -v "$tool" >/dev/null 2>&1 || skip_or_fail "$tool is missing (scripts/install-deps installs it)"
  done
  if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 18 ]; then
    skip_or_fail "Node.js $(node --version) is older than 18"
  fi
  chromium=${CHROMIUM:-/usr/bin/chromium}
  [ -x "$chromium" ] || skip_or_fail "no chromium at $chromium (scripts/install-deps installs Debian's)"
}

browser_artifacts() {
  if [ -n "${TESSERA_ARTIFACT_DIR:-}" ]; then
    artifacts=$TESSERA_ARTIFACT_DIR
  elif [ -f CTestTestfile.cmake ]; then
    artifacts=$PWD/artifacts
  else
    artifacts=$(mktemp -d "/tmp/tessera-$1-artifacts.XXXXXX")
  fi
  mkdir -p "$artifacts"
}

# Scripts running at once (ctest -j) take turns on the lock file.
install_browser_packages() {
  (
    cd "$1/tests/browser"
    exec 9<package-lock.json
    flock 9
    if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
      npm ci --no-audit --no-fund --loglevel=error
    fi
  )
}
