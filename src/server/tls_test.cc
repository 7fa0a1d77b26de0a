#include "server/tls.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "server/tls_test_support.h"

namespace tessera::server::internal {
namespace {

namespace fs = std::filesystem;

using test_support::WriteSelfSignedPair;

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
  WriteSelfSignedPair(Path("cert.pem"), Path("key.pem"));
  auto tls = TlsContext::Create(Path("cert.pem"), Path("key.pem"));
  ASSERT_TRUE(tls.ok()) << tls.status().ToString();
  EXPECT_EQ(SSL_CTX_get_min_proto_version((*tls)->get()), TLS1_2_VERSION);
}

TEST_F(TlsContextTest, AMissingFileIsNamed) {
  WriteSelfSignedPair(Path("cert.pem"), Path("key.pem"));
  auto tls = TlsContext::Create(Path("cert.pem"), Path("nothere.pem"));
  ASSERT_EQ(tls.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(tls.status().message().find("nothere.pem"), std::string::npos);
  EXPECT_NE(tls.status().message().find("No such file"), std::string::npos);
}

TEST_F(TlsContextTest, AKeyOfAnotherCertificateIsRefused) {
  WriteSelfSignedPair(Path("cert.pem"), Path("key.pem"));
  WriteSelfSignedPair(Path("other_cert.pem"), Path("other_key.pem"));
  auto tls = TlsContext::Create(Path("cert.pem"), Path("other_key.pem"));
  ASSERT_EQ(tls.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(tls.status().message().find("does not belong"), std::string::npos)
      << tls.status().message();
}

TEST_F(TlsContextTest, FilesThatAreNotPemAreRefused) {
  WriteSelfSignedPair(Path("cert.pem"), Path("key.pem"));
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
  WriteSelfSignedPair(Path("cert.pem"), Path("key.pem"), -30, -1);
  auto tls = TlsContext::Create(Path("cert.pem"), Path("key.pem"));
  ASSERT_EQ(tls.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(tls.status().message().find("expired"), std::string::npos);
}

}  // namespace
}  // namespace tessera::server::internal
