#!/usr/bin/env bash
# `tessera serve --tls-cert --tls-key`, with real parts: a self-signed certificate made by the
# openssl CLI, the real server on loopback, curl and openssl s_client as clients. The API
# answers over TLS 1.2 and 1.3 with HSTS; TLS 1.1 and plain HTTP are refused; the slow-client
# limit holds over TLS; SIGHUP reads a renewed certificate; a bad key, a key of another
# certificate, or half the pair is refused at start; listening beyond loopback without TLS
# warns.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
serve_begin "$1"
command -v curl >/dev/null && command -v openssl >/dev/null || skip_or_fail "needs curl and openssl"

"$tessera" demo --dir demo --customers 300 --months 6 >/dev/null 2>&1
mv demo/store.db store.db
key=$("$tessera" keys api create --role viewer --store store.db 2>/dev/null)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout key.pem -out cert.pem 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=other \
  -keyout other_key.pem -out other_cert.pem 2>/dev/null
chmod 600 key.pem other_key.pem

serve_start --store store.db --listen 127.0.0.1:0 --tls-cert cert.pem --tls-key key.pem \
  --request-timeout 2
grep -q "^Listening on https://127.0.0.1:$port$" serve.out || fail "not https: $(cat serve.out)"
url=https://localhost:$port

# The API answers over TLS, with HSTS; the client verified the server against the certificate.
curl -sS --cacert cert.pem -H "Authorization: Bearer $key" -D headers -o segments.json \
  "$url/api/v1/segments"
head -1 headers | grep -q " 200" || fail "segments over TLS: $(head -1 headers)"
grep -qi "^Strict-Transport-Security: max-age=31536000" headers || fail "no HSTS: $(cat headers)"
[ "$(json segments.json 'len(d["segments"]) > 0')" = True ] || fail "no segments: $(cat segments.json)"
echo "API over TLS: 200 with HSTS"

# TLS 1.2 and 1.3 are both accepted.
for v in 1.2 1.3; do
  out=$(curl -sS -v --cacert cert.pem --tlsv$v --tls-max $v -w '%{http_code}' \
    -o health.json "$url/api/v1/health" 2>verbose.txt || true)
  [ "$out" = 200 ] || fail "TLS $v: $out $(cat verbose.txt)"
  grep -q "SSL connection using TLSv$v " verbose.txt || fail "TLS $v: $(grep SSL verbose.txt)"
  [ "$(json health.json 'd["status"]')" = ok ] || fail "TLS $v: $(cat health.json)"
done
echo "TLS 1.2 and 1.3 accepted"

# TLS 1.1 is refused by the server: its alert, not the client's own policy (the client allows
# TLS 1.1 at security level 0).
if openssl s_client -connect "127.0.0.1:$port" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' \
  </dev/null >s_client.out 2>&1; then
  fail "a TLS 1.1 handshake succeeded: $(cat s_client.out)"
fi
grep -q "alert protocol version" s_client.out || fail "TLS 1.1 not refused by the server: $(cat s_client.out)"
if curl -sS --cacert cert.pem --tls-max 1.1 "$url/api/v1/health" 2>curl.err; then
  fail "curl --tls-max 1.1 got an answer"
fi
grep -q "alert protocol version" curl.err || fail "curl --tls-max 1.1: $(cat curl.err)"
echo "TLS 1.1 refused (protocol version alert)"

# Plain HTTP to the TLS port gets no data: a 400 naming https, then the connection closes.
code=$(curl -sS -o plain.json -w '%{http_code}' -H "Authorization: Bearer $key" \
  "http://127.0.0.1:$port/api/v1/segments")
[ "$code" = 400 ] || fail "plain HTTP answered $code"
[ "$(json plain.json 'd["error"]["code"]')" = https_required ] || fail "plain HTTP: $(cat plain.json)"
grep -q segments plain.json && fail "plain HTTP got data"
echo "plain HTTP to the TLS port: 400 https_required"

# The slow-client limit holds over TLS: a head that never ends is answered 408 after the
# request timeout (2 s), and the server goes on answering.
python3 - "$port" <<'PY' >slow.out || fail "slow client over TLS: $(cat slow.out)"
import socket, ssl, sys, time
ctx = ssl.create_default_context(cafile="cert.pem")
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))),
                    server_hostname="localhost")
s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n")  # and never the end of the head
start = time.monotonic()
s.settimeout(15)
answer = b""
while chunk := s.recv(4096):
    answer += chunk
took = time.monotonic() - start
print(answer.split(b"\r\n")[0].decode(), f"{took:.1f}")
# 2 s, checked every second; loose for a loaded machine, but well short of the client's 15 s.
assert answer.startswith(b"HTTP/1.1 408") and took < 7, (answer[:100], took)
PY
took=$(awk '{print $NF}' slow.out)
# A connection that never starts its handshake is closed after the request timeout too.
start=$(date +%s)
python3 - "$port" <<'PY' || fail "a silent connection was not closed"
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(15)
assert s.recv(1) == b""  # closed by the server
PY
[ $(($(date +%s) - start)) -le 8 ] || fail "a silent connection stayed open"
refused=$(curl -sS --cacert cert.pem -H "Authorization: Bearer $key" "$url/metrics" |
  sed -nE 's/^tessera_http_refused_total\{reason="tls"\} ([0-9]+)$/\1/p')
[ "${refused:-0}" -ge 2 ] || fail "tls refusals counted: '${refused}'"
echo "slow clients over TLS: 408 in ${took} s; a silent handshake closed; refusals counted"

# A renewed certificate is read on SIGHUP, without a restart; a renewal that cannot be used is
# reported and the pair in use kept.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=renewed \
  -addext "subjectAltName=DNS:localhost" -keyout renewed_key.pem -out renewed_cert.pem 2>/dev/null
cp renewed_cert.pem cert.pem
cp renewed_key.pem key.pem
kill -HUP "$server"
for _ in $(seq 100); do grep -q "reloaded the TLS certificate" serve.err && break; sleep 0.1; done
grep -q "reloaded the TLS certificate" serve.err || fail "no reload: $(cat serve.err)"
subject=$(openssl s_client -connect "127.0.0.1:$port" </dev/null 2>/dev/null | grep "^subject=")
[ "$subject" = "subject=CN = renewed" ] || fail "after SIGHUP the server shows '$subject'"
curl -sS --cacert renewed_cert.pem -o /dev/null "$url/api/v1/health" || fail "renewed certificate"
echo "not a key" >key.pem
kill -HUP "$server"
for _ in $(seq 100); do grep -q "kept the TLS certificate in use" serve.err && break; sleep 0.1; done
grep -q "kept the TLS certificate in use: TLS private key 'key.pem'" serve.err ||
  fail "a bad renewal: $(cat serve.err)"
kill -0 "$server" || fail "a bad renewal stopped the server"
curl -sS --cacert renewed_cert.pem -o /dev/null "$url/api/v1/health" || fail "after a bad renewal"
echo "SIGHUP: a renewed certificate in use without a restart; a bad one refused, the old kept"
serve_stop

# Start-up refusals, each with a clear message and a non-zero exit.
expect_refused() {  # expect_refused WHAT PATTERN ARGS...
  local what=$1 pattern=$2
  shift 2
  if "$tessera" serve --store store.db --listen 127.0.0.1:0 "$@" >/dev/null 2>refused.err; then
    fail "$what: serve started"
  fi
  grep -q "$pattern" refused.err || fail "$what: $(cat refused.err)"
  echo "refused at start, $what: $(head -1 refused.err)"
}
echo "not a key" >bad_key.pem
expect_refused "a bad key file" "not an unencrypted PEM private key" --tls-cert cert.pem --tls-key bad_key.pem
expect_refused "a key of another certificate" "does not belong to the certificate" \
  --tls-cert cert.pem --tls-key other_key.pem
expect_refused "a missing key file" "tls-key" --tls-cert cert.pem --tls-key missing.pem
expect_refused "a certificate without its key" "go together" --tls-cert cert.pem

# Beyond loopback without TLS: a warning; on loopback, none.
serve_start --store store.db --listen 127.0.0.1:0
grep -q "without TLS" serve.err && fail "warned on loopback: $(cat serve.err)"
serve_stop
serve_start --store store.db --listen 0.0.0.0:0
grep -q "warning: listening on 0.0.0.0 without TLS" serve.err || fail "no warning: $(cat serve.err)"
serve_stop
echo "warned when listening beyond loopback without TLS"
echo "PASS"
