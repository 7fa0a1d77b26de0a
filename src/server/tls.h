#pragma once

// TLS for `tessera serve` (--tls-cert, --tls-key): the server's certificate and key, loaded
// once at start, and the OpenSSL context every connection's session is made from. The event
// loops (event_server.cc) drive the sessions over their non-blocking sockets, so the limits on
// slow clients, bodies and connections hold over TLS as over plain HTTP.
//
// Internal to the server module.

#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "tessera/common/status.h"

namespace tessera::server::internal {

// Owns one SSL_CTX. Thread-safe once created: SSL_new on it from any thread.
class TlsContext {
 public:
  // TLS 1.2 and 1.3 only (1.2 with forward-secret AEAD suites only), no renegotiation, no
  // compression. `cert_path`: PEM, the server's certificate first, then its chain;
  // `key_path`: its private key, PEM, unencrypted.
  // Errors: kInvalidArgument naming the file and what is wrong with it: missing or
  // unreadable, not PEM, a key that does not belong to the certificate, a certificate
  // expired or not yet valid.
  static StatusOr<std::unique_ptr<TlsContext>> Create(const std::string& cert_path,
                                                      const std::string& key_path);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  SSL_CTX* get() const { return ctx_; }

 private:
  explicit TlsContext(SSL_CTX* ctx) : ctx_(ctx) {}
  SSL_CTX* ctx_;
};

}  // namespace tessera::server::internal
