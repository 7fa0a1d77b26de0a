#include "server/tls.h"

#include <openssl/err.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace tessera::server::internal {
namespace {

// Mozilla's "intermediate" TLS 1.2 suites: forward secrecy and AEAD only. TLS 1.3's suites are
// all of that kind and stay OpenSSL's default.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// The reason of OpenSSL's oldest queued error ("no start line", "key values mismatch"), and
// the queue emptied.
std::string OpenSslReason() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  const char* reason = e == 0 ? nullptr : ERR_reason_error_string(e);
  return reason != nullptr ? reason : "unknown OpenSSL error";
}

// Whether the file can be opened, with the system's reason when not: OpenSSL's own message for
// a missing file ("system lib") says less.
Status Readable(const char* what, const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return InvalidArgumentError("TLS {} '{}': cannot read it ({})", what, path,
                                std::strerror(errno));
  }
  std::fclose(f);
  return OkStatus();
}

}  // namespace

StatusOr<std::unique_ptr<TlsContext>> TlsContext::Create(const std::string& cert_path,
                                                         const std::string& key_path) {
  if (cert_path.empty() || key_path.empty()) {
    return InvalidArgumentError("TLS needs both a certificate and its private key");
  }
  TESSERA_RETURN_IF_ERROR(Readable("certificate", cert_path));
  TESSERA_RETURN_IF_ERROR(Readable("private key", key_path));
  ERR_clear_error();
  SSL_CTX* raw = SSL_CTX_new(TLS_server_method());
  if (raw == nullptr) return InternalError("OpenSSL: {}", OpenSslReason());
  std::unique_ptr<TlsContext> tls(new TlsContext(raw));
  SSL_CTX* ctx = tls->ctx_;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // A client that closes without close_notify ends its connection like a plain one: HTTP
  // frames its messages itself, so a truncation is seen without TLS's help.
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_IGNORE_UNEXPECTED_EOF);
  // The loops retry a write with the same bytes from a buffer that may have moved (it grows).
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1) {
    return InternalError("OpenSSL: {}", OpenSslReason());
  }
  // An encrypted key would make OpenSSL ask for its passphrase on the terminal of a service.
  SSL_CTX_set_default_passwd_cb(ctx, [](char*, int, int, void*) { return 0; });
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_path.c_str()) != 1) {
    return InvalidArgumentError("TLS certificate '{}' is not a PEM certificate ({})", cert_path,
                                OpenSslReason());
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key_path.c_str(), SSL_FILETYPE_PEM) != 1) {
    // OpenSSL compares the key with the certificate as it loads it.
    if (ERR_GET_REASON(ERR_peek_error()) == X509_R_KEY_VALUES_MISMATCH) {
      ERR_clear_error();
      return InvalidArgumentError(
          "TLS private key '{}' does not belong to the certificate '{}' (key values mismatch)",
          key_path, cert_path);
    }
    return InvalidArgumentError("TLS private key '{}' is not an unencrypted PEM private key ({})",
                                key_path, OpenSslReason());
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return InvalidArgumentError("TLS private key '{}' does not belong to the certificate '{}' ({})",
                                key_path, cert_path, OpenSslReason());
  }
  X509* cert = SSL_CTX_get0_certificate(ctx);
  if (cert != nullptr && X509_cmp_current_time(X509_get0_notAfter(cert)) < 0) {
    return InvalidArgumentError("TLS certificate '{}' has expired; renew it", cert_path);
  }
  if (cert != nullptr && X509_cmp_current_time(X509_get0_notBefore(cert)) > 0) {
    return InvalidArgumentError("TLS certificate '{}' is not valid yet (check the clock)",
                                cert_path);
  }
  return tls;
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

}  // namespace tessera::server::internal
