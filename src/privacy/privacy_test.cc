#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "tessera/privacy/order_token.h"
#include "tessera/privacy/owner_key.h"
#include "tessera/privacy/pseudonymizer.h"

namespace tessera::privacy {
namespace {

OwnerKey KeyOf(uint8_t fill) {
  std::array<uint8_t, OwnerKey::kSize> bytes;
  bytes.fill(fill);
  return OwnerKey::FromBytes(bytes);
}

std::string TempPath(const std::string& name) {
  const auto dir = std::filesystem::path(::testing::TempDir()) /
                   ("tessera_privacy_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = dir / name;
  std::filesystem::remove(path);
  return path.string();
}

TEST(Normalize, CustomerNumbersLoseBlanksAndSpreadsheetFractions) {
  EXPECT_EQ(*NormalizeCustomerNumber("  17850.0 "), "17850");
  EXPECT_EQ(*NormalizeCustomerNumber("17850.00"), "17850");
  EXPECT_EQ(*NormalizeCustomerNumber("17850.5"), "17850.5");
  EXPECT_EQ(*NormalizeCustomerNumber("00123"), "00123");
  EXPECT_EQ(*NormalizeCustomerNumber("K-12.0"), "K-12.0");
  EXPECT_EQ(NormalizeCustomerNumber("   ").status().code(), StatusCode::kNotFound);
}

TEST(Normalize, EmailsAreTrimmedAndCaseFolded) {
  EXPECT_EQ(*NormalizeEmail("  Anna.Schmidt@Example.DE "), "anna.schmidt@example.de");
  EXPECT_FALSE(NormalizeEmail("anna").ok());
  EXPECT_FALSE(NormalizeEmail("anna@@example.de").ok());
  EXPECT_FALSE(NormalizeEmail("anna@localhost").ok());
  EXPECT_FALSE(NormalizeEmail("an na@example.de").ok());
  EXPECT_EQ(NormalizeEmail("").status().code(), StatusCode::kNotFound);
}

TEST(Normalize, ErrorsNeverRepeatTheValue) {
  const std::string secret = "geheim.person@";
  auto s = NormalizeEmail(secret);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message().find("geheim"), std::string::npos);
}

TEST(Pseudonymizer, MatchesAnIndependentHmacComputation) {
  const OwnerKey key = KeyOf(7);
  auto p = Pseudonymizer::Create(key);
  ASSERT_TRUE(p.ok());
  uint8_t derived[32];
  ASSERT_TRUE(key.Derive("tessera customer pseudonym v1", derived).ok());
  for (const std::string value : {"17850", "a@b.de", ""}) {
    const std::string input = "c" + value;
    unsigned char mac[32];
    size_t len = 0;
    ASSERT_NE(EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, derived, 32,
                        reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, 32,
                        &len),
              nullptr);
    const Uuid u = p->Pseudonym(IdentifierKind::kCustomerNumber, value);
    // Bytes outside the version and variant bits are the MAC's first 16 bytes.
    for (int i = 0; i < 16; ++i) {
      if (i == 6)
        EXPECT_EQ(u.bytes[i] & 0x0f, mac[i] & 0x0f);
      else if (i == 8)
        EXPECT_EQ(u.bytes[i] & 0x3f, mac[i] & 0x3f);
      else
        EXPECT_EQ(u.bytes[i], mac[i]) << "byte " << i;
    }
  }
}

TEST(Pseudonymizer, ProducesVersion8UuidsThatParseBack) {
  auto p = Pseudonymizer::Create(KeyOf(1));
  ASSERT_TRUE(p.ok());
  const Uuid u = p->Pseudonym(IdentifierKind::kEmail, "anna@example.de");
  const std::string text = u.ToString();
  ASSERT_EQ(text.size(), 36u);
  EXPECT_EQ(text[14], '8');
  EXPECT_TRUE(text[19] == '8' || text[19] == '9' || text[19] == 'a' || text[19] == 'b');
  auto parsed = Uuid::Parse(text);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, u);
  EXPECT_FALSE(Uuid::Parse("not-a-uuid").ok());
}

TEST(Pseudonymizer, SeparatesKindsKeysAndValues) {
  auto p1 = Pseudonymizer::Create(KeyOf(1));
  auto p2 = Pseudonymizer::Create(KeyOf(2));
  const Uuid a = p1->Pseudonym(IdentifierKind::kCustomerNumber, "42");
  EXPECT_EQ(a, p1->Pseudonym(IdentifierKind::kCustomerNumber, "42"));
  EXPECT_NE(a, p1->Pseudonym(IdentifierKind::kEmail, "42"));
  EXPECT_NE(a, p1->Pseudonym(IdentifierKind::kCustomerNumber, "43"));
  EXPECT_NE(a, p2->Pseudonym(IdentifierKind::kCustomerNumber, "42"));
}

TEST(OrderToken, RoundTripsAndIsDeterministic) {
  auto t = OrderTokenizer::Create(KeyOf(3));
  ASSERT_TRUE(t.ok());
  auto a = t->Encrypt("536365");
  auto b = t->Encrypt("536365");
  auto c = t->Encrypt("C536365");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_NE(*a, *c);
  EXPECT_EQ(a->size(), OrderTokenizer::kSivSize + 6);
  EXPECT_EQ(a->find("536365"), std::string::npos);
  EXPECT_EQ(*t->Decrypt(*a), "536365");
  EXPECT_EQ(*t->Decrypt(*c), "C536365");
}

TEST(OrderToken, RefusesAnotherKeyAndTamperedTokens) {
  auto t1 = OrderTokenizer::Create(KeyOf(3));
  auto t2 = OrderTokenizer::Create(KeyOf(4));
  std::string token = *t1->Encrypt("A-1001");
  EXPECT_FALSE(t2->Decrypt(token).ok());
  token.back() ^= 1;
  EXPECT_FALSE(t1->Decrypt(token).ok());
  EXPECT_FALSE(t1->Decrypt("short").ok());
  EXPECT_FALSE(t1->Encrypt("").ok());
  EXPECT_FALSE(t1->Encrypt(std::string(300, 'x')).ok());
}

TEST(OwnerKey, SavesWithMode0600AndLoadsTheSameKey) {
  const std::string path = TempPath("owner.key");
  auto key = OwnerKey::Generate();
  ASSERT_TRUE(key.ok());
  ASSERT_TRUE(key->Save(path).ok());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto loaded = OwnerKey::Load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->Fingerprint(), key->Fingerprint());
  EXPECT_EQ(key->Fingerprint().rfind("tk1:", 0), 0u);
}

TEST(OwnerKey, NeverOverwritesAnExistingKey) {
  const std::string path = TempPath("existing.key");
  ASSERT_TRUE(KeyOf(1).Save(path).ok());
  EXPECT_EQ(KeyOf(2).Save(path).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(OwnerKey::Load(path)->Fingerprint(), KeyOf(1).Fingerprint());
}

TEST(OwnerKey, RefusesFilesReadableByOthersOrMalformed) {
  const std::string path = TempPath("open.key");
  ASSERT_TRUE(KeyOf(1).Save(path).ok());
  ::chmod(path.c_str(), 0644);
  EXPECT_EQ(OwnerKey::Load(path).status().code(), StatusCode::kPermissionDenied);
  const std::string junk = TempPath("junk.key");
  { std::ofstream(junk) << "hello\n"; }
  ::chmod(junk.c_str(), 0600);
  EXPECT_EQ(OwnerKey::Load(junk).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(OwnerKey::Load(TempPath("missing.key")).status().code(), StatusCode::kNotFound);
}

TEST(OwnerKey, DifferentKeysHaveDifferentFingerprints) {
  EXPECT_NE(KeyOf(1).Fingerprint(), KeyOf(2).Fingerprint());
  EXPECT_EQ(KeyOf(1).Fingerprint(), KeyOf(1).Fingerprint());
}

}  // namespace
}  // namespace tessera::privacy

namespace tessera::privacy {
namespace {

// OpenSSL's AES-256-SIV (RFC 5297), as an independent reference for our implementation.
std::string OpenSslSiv(const uint8_t key[64], std::string_view plain) {
  EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "AES-256-SIV", nullptr);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  std::string out(16 + plain.size(), '\0');
  int len = 0, final_len = 0;
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  EXPECT_EQ(EVP_EncryptInit_ex2(ctx, cipher, key, nullptr, nullptr), 1);
  EXPECT_EQ(
      EVP_EncryptUpdate(ctx, o + 16, &len, reinterpret_cast<const unsigned char*>(plain.data()),
                        static_cast<int>(plain.size())),
      1);
  EXPECT_EQ(EVP_EncryptFinal_ex(ctx, o + 16 + len, &final_len), 1);
  EXPECT_EQ(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, o), 1);
  EVP_CIPHER_CTX_free(ctx);
  EVP_CIPHER_free(cipher);
  return out;
}

TEST(OrderToken, EqualsOpenSslAesSivForEveryLength) {
  const OwnerKey key = KeyOf(5);
  uint8_t derived[64];
  ASSERT_TRUE(key.Derive("tessera order token v1", derived).ok());
  auto t = OrderTokenizer::Create(key);
  ASSERT_TRUE(t.ok());
  std::string plain;
  for (size_t n = 1; n <= OrderTokenizer::kMaxOrderIdBytes; ++n) {
    plain.push_back(static_cast<char>('A' + (n * 7) % 26));
    auto ours = t->Encrypt(plain);
    ASSERT_TRUE(ours.ok());
    ASSERT_EQ(HexEncode(*ours), HexEncode(OpenSslSiv(derived, plain))) << "length " << n;
    ASSERT_EQ(*t->Decrypt(*ours), plain);
  }
}

}  // namespace
}  // namespace tessera::privacy
