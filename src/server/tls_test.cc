#include "server/tls.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace tessera::server::internal {
namespace {

namespace fs = std::filesystem;

// A self-signed P-256 certificate valid from `from_days` to `to_days` (relative to now),
// written with its key as PEM.
void WritePair(const fs::path& cert_path, const fs::path& key_path, long from_days = -1,
               long to_days = 30) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  ASSERT_NE(key, nullptr);
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), from_days * 86400);
  X509_gmtime_adj(X509_getm_notAfter(cert), to_days * 86400);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  ASSERT_GT(X509_sign(cert, key, EVP_sha256()), 0);
  std::FILE* c = std::fopen(cert_path.c_str(), "w");
  std::FILE* k = std::fopen(key_path.c_str(), "w");
  ASSERT_TRUE(c != nullptr && k != nullptr);
  PEM_write_X509(c, cert);
  PEM_write_PrivateKey(k, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(c);
  std::fclose(k);
  X509_free(cert);
  EVP_PKEY_free(key);
}

class TlsContextTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tessera_tls_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Path(const char* name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

TEST_F(TlsContextTest, AMatchingPairLoadsAndAllowsTls12AndUp) {
  WritePair(Path("cert.pem"), Path("key.pem"));
  auto tls = TlsContext::Create(Path("cert.pem"), Path("key.pem"));
  ASSERT_TRUE(tls.ok()) << tls.status().ToString();
  EXPECT_EQ(SSL_CTX_get_min_proto_version((*tls)->get()), TLS1_2_VERSION);
}

TEST_F(TlsContextTest, AMissingFileIsNamed) {
  WritePair(Path("cert.pem"), Path("key.pem"));
  auto tls = TlsContext::Create(Path("cert.pem"), Path("nothere.pem"));
  ASSERT_EQ(tls.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(tls.status().message().find("nothere.pem"), std::string::npos);
  EXPECT_NE(tls.status().message().find("No such file"), std::string::npos);
}

TEST_F(TlsContextTest, AKeyOfAnotherCertificateIsRefused) {
  WritePair(Path("cert.pem"), Path("key.pem"));
  WritePair(Path("other_cert.pem"), Path("other_key.pem"));
  auto tls = TlsContext::Create(Path("cert.pem"), Path("other_key.pem"));
  ASSERT_EQ(tls.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(tls.status().message().find("does not belong"), std::string::npos)
      << tls.status().message();
}

TEST_F(TlsContextTest, FilesThatAreNotPemAreRefused) {
  WritePair(Path("cert.pem"), Path("key.pem"));
  std::ofstream(Path("garbage.pem")) << "not a certificate\n";
  auto bad_key = TlsContext::Create(Path("cert.pem"), Path("garbage.pem"));
  ASSERT_EQ(bad_key.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad_key.status().message().find("private key"), std::string::npos);
  auto bad_cert = TlsContext::Create(Path("garbage.pem"), Path("key.pem"));
  ASSERT_EQ(bad_cert.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad_cert.status().message().find("not a PEM certificate"), std::string::npos);
  // Swapped: the key given as the certificate.
  EXPECT_FALSE(TlsContext::Create(Path("key.pem"), Path("cert.pem")).ok());
}

TEST_F(TlsContextTest, AnExpiredCertificateIsRefused) {
  WritePair(Path("cert.pem"), Path("key.pem"), -30, -1);
  auto tls = TlsContext::Create(Path("cert.pem"), Path("key.pem"));
  ASSERT_EQ(tls.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(tls.status().message().find("expired"), std::string::npos);
}

}  // namespace
}  // namespace tessera::server::internal
