#!/usr/bin/env bash
# Partners over HTTPS, as between two companies' machines (docs/collaboration.md, "Between
# nodes"): the operator's node serves with --tls-cert/--tls-key, its endpoint in the
# collaboration file is https://; the retailer's queries reach it only when they trust its
# certificate (a private CA given as SSL_CERT_FILE, as OpenSSL reads it), and are refused,
# naming the partner and the certificate, when they do not. Real openssl certificates, two
# processes on loopback. Usage: collab_tls.sh BIN SRC
set -euo pipefail
. "$(dirname "$0")/lib.sh"
collab_begin "$1"
command -v openssl >/dev/null || skip_or_fail "needs openssl"

r=$(collab_party Frischmarkt retailer)
t=$(collab_party Telco telco)
collab_data 800 1000 400
by_email=$(json truth.json 'd["shared"]["by_email"]')
# A private CA, and the operator's certificate for localhost signed by it.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=Test-CA \
  -keyout ca_key.pem -out ca.pem 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
  -keyout telco_key.pem -out telco.csr 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >san.ext
openssl x509 -req -in telco.csr -CA ca.pem -CAkey ca_key.pem -CAcreateserial -days 2 \
  -extfile san.ext -out telco_cert.pem 2>/dev/null
chmod 600 telco_key.pem
pt=$(free_port)
collab_file_party Frischmarkt "$r" "http://127.0.0.1:1" data_owner
collab_file_party Telco "$t" "https://localhost:$pt" data_owner
collab_grant telco retailer Frischmarkt overlap overlap_size >/dev/null
"$bin" serve --store telco.db --key telco.key --with-key --collaboration collab.toml \
  --listen "127.0.0.1:$pt" --tls-cert telco_cert.pem --tls-key telco_key.pem >telco.log 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  curl -sf --cacert ca.pem "https://localhost:$pt/api/v1/health" >/dev/null && break
  sleep 0.1
done
curl -sf --cacert ca.pem "https://localhost:$pt/api/v1/health" >/dev/null ||
  fail "the operator's TLS node did not start: $(cat telco.log)"
overlap() {  # out
  "$bin" collab overlap --partner Telco --collaboration collab.toml --store retailer.db \
    --key retailer.key --format json >"$1" 2>"$1.err"
}

# Trusted through the private CA: the overlap over HTTPS equals the truth.
SSL_CERT_FILE=$PWD/ca.pem overlap trusted.json || fail "overlap over TLS: $(cat trusted.json.err)"
[ "$(json trusted.json 'd["cells"][0]["count"]')" = "$by_email" ] ||
  fail "overlap over TLS $(json trusted.json 'd["cells"][0]["count"]'), truth $by_email"
# Not trusted (the system's CAs only): refused, naming the partner, nothing computed.
before=$("$bin" audit list --store telco.db --format json | json /dev/stdin 'len(d)')
if overlap untrusted.json; then fail "a partner with an untrusted certificate was queried"; fi
grep -q "Telco cannot be reached" untrusted.json.err || fail "refusal: $(cat untrusted.json.err)"
grep -qi "ssl\|certificate" untrusted.json.err || fail "refusal names no certificate: $(cat untrusted.json.err)"
after=$("$bin" audit list --store telco.db --format json | json /dev/stdin 'len(d)')
[ "$after" = "$before" ] || fail "the operator was asked over an untrusted connection"
echo "collab over TLS ok: overlap $by_email with the partner's CA trusted; refused without it"
