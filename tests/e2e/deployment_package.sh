#!/usr/bin/env bash
# docs/deployment.md, "A Debian package": `cpack -G DEB` from this build directory (whatever its
# prefix) gives a package for /usr: the binaries (stripped), the units naming /usr's paths, the
# nightly job, the settings as a conffile, the maintainer scripts, and the library packages it
# depends on (dpkg-shlibdeps). Not installed here: dpkg -i would make a system user on this
# machine; deployment.sh runs the same files from `cmake --install`.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
tessera=$(realpath "$1")
build=$(cd "$(dirname "$tessera")/../.." && pwd)
[ -f "$build/CMakeCache.txt" ] || fail "no CMake build directory above $tessera"
for tool in cpack dpkg-deb dpkg-shlibdeps; do
  command -v "$tool" >/dev/null || skip_or_fail "needs $tool (dpkg-dev)"
done
[ -x "$build/apps/tessera-worker/tessera-worker" ] || fail "build tessera-worker first (the package holds it)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

(cd "$build" && cpack -G DEB -B "$work/deb") >cpack.log 2>&1 ||
  fail "cpack -G DEB: $(tail -5 cpack.log)"
deb=$(ls "$work"/deb/tessera_*.deb)
depends=$(dpkg-deb -f "$deb" Depends)
for lib in libpq5 libsqlite3-0 libssl3 libsodium23 adduser; do
  grep -q "$lib" <<<"$depends" || fail "the package does not depend on $lib: $depends"
done
dpkg-deb -c "$deb" >deb-contents
for f in ./usr/bin/tessera ./usr/bin/tessera-worker ./usr/lib/systemd/system/tessera.service \
  ./usr/lib/systemd/system/tessera-nightly.timer ./usr/libexec/tessera/tessera-nightly \
  ./etc/tessera/tessera.env ./usr/lib/sysusers.d/tessera.conf ./usr/share/doc/tessera/deployment.md; do
  grep -q " $f\$" deb-contents || fail "the package lacks $f"
done
dpkg-deb -e "$deb" control
grep -qx /etc/tessera/tessera.env control/conffiles || fail "tessera.env is not a conffile"
[ -x control/postinst ] || fail "no postinst"
size=$(stat -c %s "$deb")
# Stripped: no symbol table, no debug information (a size bound would fail a sanitizer build's
# package, which is larger stripped too).
dpkg-deb -x "$deb" unpacked
for bin in tessera tessera-worker; do
  if readelf -S "unpacked/usr/bin/$bin" | grep -qE '\.symtab|\.debug_'; then
    fail "/usr/bin/$bin in the package is not stripped"
  fi
done
echo "cpack -G DEB: $(basename "$deb"), $((size / 1000000)) MB, depends on $(tr -d '\n' <<<"$depends" | cut -c1-80)..."
grep -qx "ExecStart=/usr/bin/tessera serve" <(dpkg-deb --fsys-tarfile "$deb" |
  tar -xO ./usr/lib/systemd/system/tessera.service) || fail "the packaged unit does not run /usr/bin/tessera"
echo "PASS"
