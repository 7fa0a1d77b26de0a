#include <fmt/format.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "privacy/mac.h"
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

std::string Hex(std::string_view bytes) {
  std::string out;
  for (unsigned char b : bytes) out += fmt::format("{:02x}", b);
  return out;
}

// n bytes first, first + 1, ...
std::string Range(int first, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += static_cast<char>(first + static_cast<int>(i));
  return out;
}
std::string Fill(int value, size_t n) { return std::string(n, static_cast<char>(value)); }

std::span<const uint8_t> AsBytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// RFC 4231 section 4: the HMAC-SHA256 test cases (case 5, a truncated MAC, does not apply).
TEST(KnownAnswers, HmacSha256GivesTheRfc4231Vectors) {
  struct Case {
    std::string key, data, mac;
  };
  const std::string aa131 = Fill(0xaa, 131);
  const Case cases[] = {
      {Fill(0x0b, 20), "Hi There",
       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
      {"Jefe", "what do ya want for nothing?",
       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
      {Fill(0xaa, 20), Fill(0xdd, 50),
       "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
      {Range(0x01, 25), Fill(0xcd, 50),
       "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
      {aa131, "Test Using Larger Than Block-Size Key - Hash Key First",
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
      {aa131,
       "This is a test using a larger than block-size key and a larger than block-size data. "
       "The key needs to be hashed before being used by the HMAC algorithm.",
       "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
  };
  for (const Case& c : cases) {
    auto mac = internal::HmacSha256(AsBytes(c.key), c.data);
    ASSERT_TRUE(mac.ok()) << mac.status().ToString();
    EXPECT_EQ(Hex(*mac), c.mac);
  }
}

// RFC 5869 appendix A, the SHA-256 cases 1 to 3.
TEST(KnownAnswers, HkdfSha256GivesTheRfc5869Vectors) {
  struct Case {
    std::string ikm, salt, info, okm;
  };
  const Case cases[] = {
      {Fill(0x0b, 22), Range(0x00, 13), Range(0xf0, 10),
       "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"},
      {Range(0x00, 80), Range(0x60, 80), Range(0xb0, 80),
       "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65"
       "e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87"},
      {Fill(0x0b, 22), "", "",
       "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"},
  };
  for (const Case& c : cases) {
    std::string okm(c.okm.size() / 2, '\0');
    ASSERT_TRUE(internal::HkdfSha256(AsBytes(c.ikm), c.salt, c.info,
                                     {reinterpret_cast<uint8_t*>(okm.data()), okm.size()})
                    .ok());
    EXPECT_EQ(Hex(okm), c.okm);
  }
}

// A fixed key gives fixed pseudonyms and a fixed fingerprint, forever: every store in the field
// depends on it. The expected values were computed outside Tessera (Python's hmac and hashlib:
// HKDF-SHA256 by RFC 5869 with the salt "tessera hkdf salt v1", then HMAC-SHA256 of the kind
// byte and the normalized value, version 8 and variant bits set).
TEST(KnownAnswers, AFixedKeyGivesFixedPseudonymsAndFingerprint) {
  std::array<uint8_t, OwnerKey::kSize> bytes;
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i);
  const OwnerKey key = OwnerKey::FromBytes(bytes);
  EXPECT_EQ(key.Fingerprint(), "tk1:0a70d2fda13d0be4773fabd529375314");
  auto p = Pseudonymizer::Create(key);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->Pseudonym(IdentifierKind::kCustomerNumber, "17850").ToString(),
            "6e53a2cd-7f40-84a7-b4ad-367d31c634c8");
  EXPECT_EQ(p->Pseudonym(IdentifierKind::kEmail, "anna@example.de").ToString(),
            "c4108b28-e627-8063-9f73-301c332a53bf");
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
  const std::string token = *t1->Encrypt("A-1001");
  EXPECT_FALSE(t2->Decrypt(token).ok());
  // Any change anywhere, in the synthetic IV as in the ciphertext, is refused.
  for (size_t i = 0; i < token.size(); ++i) {
    for (uint8_t flip : {0x01, 0x80, 0xff}) {
      std::string tampered = token;
      tampered[i] = static_cast<char>(tampered[i] ^ flip);
      EXPECT_FALSE(t1->Decrypt(tampered).ok()) << "byte " << i << " ^ " << int{flip};
    }
  }
  EXPECT_FALSE(t1->Decrypt(token.substr(0, token.size() - 1)).ok());
  EXPECT_FALSE(t1->Decrypt(token + "x").ok());
  EXPECT_TRUE(t1->Decrypt(token).ok());
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
