// Party identity: Ed25519 against RFC 8032's test vectors, the key derived from the owner key,
// party ids, names, endpoints, collaboration files, and the store's own party on both stores.

#include "tessera/collab/party.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <array>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "collab/protocol/test_bytes.h"
#include "store/test_stores.h"
#include "tessera/privacy/order_token.h"
#include "tessera/store/store.h"

namespace tessera::collab {
namespace {

using test::Bytes;
using test::Digits;
using test::Hex;

// RFC 8032 section 7.1, "Test Vectors for Ed25519", TEST 1 and TEST 2, as printed there
// (SECRET KEY is the 32-byte seed; MESSAGE of 0 and 1 octets).
struct Rfc8032Vector {
  const char* name;
  const char* secret_key;
  const char* public_key;
  const char* message;
  const char* signature;
};
constexpr Rfc8032Vector kRfc8032[] = {
    {"TEST 1",
     "9d61b19deffd5a60ba844af492ec2cc4"
     "4449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a"
     "0ee172f3daa62325af021a68f707511a",
     "",
     "e5564300c360ac729086e2cc806e828a"
     "84877f1eb8e5d974d873e06522490155"
     "5fb8821590a33bacc61e39701cf9b46b"
     "d25bf5f0595bbe24655141438e7a100b"},
    {"TEST 2",
     "4ccd089b28ff96da9db6c346ec114e0f"
     "5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc"
     "9c982ccf2ec4968cc0cd55f12af4660c",
     "72",
     "92a009a9f0d4cab8720e820b5f642540"
     "a2b27b5416503f8fb3762223ebdb69da"
     "085ac1e43e15996e458f3613d0f11d8c"
     "387b2eaeb4302aeeb00d291612bb0c00"},
};

std::array<uint8_t, 32> Seed(uint8_t tag) {
  std::array<uint8_t, 32> seed;
  for (size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<uint8_t>(tag + 7 * i);
  return seed;
}

privacy::OwnerKey Owner(uint8_t tag) { return privacy::OwnerKey::FromBytes(Seed(tag)); }

PartyKey KeyOf(const privacy::OwnerKey& owner) {
  auto key = PartyKey::Derive(owner);
  EXPECT_TRUE(key.ok()) << key.status().ToString();
  return std::move(*key);
}

TEST(Ed25519, LibsodiumMatchesRfc8032Vectors) {
  ASSERT_GE(sodium_init(), 0);
  for (const Rfc8032Vector& v : kRfc8032) {
    SCOPED_TRACE(v.name);
    const std::vector<uint8_t> seed = Bytes(v.secret_key);
    const std::vector<uint8_t> message = Bytes(v.message);
    ASSERT_EQ(seed.size(), 32u);
    std::array<uint8_t, crypto_sign_PUBLICKEYBYTES> pk;
    std::array<uint8_t, crypto_sign_SECRETKEYBYTES> sk;
    ASSERT_EQ(crypto_sign_seed_keypair(pk.data(), sk.data(), seed.data()), 0);
    EXPECT_EQ(Hex(pk), Digits(v.public_key));
    std::array<uint8_t, crypto_sign_BYTES> sig;
    ASSERT_EQ(crypto_sign_detached(sig.data(), nullptr, message.data(), message.size(), sk.data()),
              0);
    EXPECT_EQ(Hex(sig), Digits(v.signature));
  }
}

TEST(PartyKey, SignsAndVerifiesAsRfc8032) {
  for (const Rfc8032Vector& v : kRfc8032) {
    SCOPED_TRACE(v.name);
    const std::vector<uint8_t> seed = Bytes(v.secret_key);
    auto key = PartyKey::FromSeed(std::span<const uint8_t, 32>(seed.data(), 32));
    ASSERT_TRUE(key.ok()) << key.status().ToString();
    EXPECT_EQ(key->id().ToString(), "tp1:" + Digits(v.public_key));
    const std::vector<uint8_t> message = Bytes(v.message);
    const Signature sig = key->Sign(test::Text(message));
    EXPECT_EQ(Hex(sig), Digits(v.signature));
    EXPECT_TRUE(Verify(key->id(), test::Text(message), sig));
    // The published signature verifies under the published public key alone.
    auto id = PartyId::Parse("tp1:" + Digits(v.public_key));
    ASSERT_TRUE(id.ok()) << id.status().ToString();
    EXPECT_TRUE(Verify(*id, test::Text(message), Bytes(v.signature)));
  }
}

TEST(PartyKey, VerifyRefusesAnyChange) {
  const PartyKey key = KeyOf(Owner(1));
  const PartyKey other = KeyOf(Owner(2));
  const std::string message = "tessera grant";
  const Signature sig = key.Sign(message);
  EXPECT_TRUE(Verify(key.id(), message, sig));
  EXPECT_FALSE(Verify(other.id(), message, sig));
  EXPECT_FALSE(Verify(key.id(), "tessera grant.", sig));
  EXPECT_FALSE(Verify(key.id(), "", sig));
  for (size_t i = 0; i < sig.size(); ++i) {
    Signature changed = sig;
    changed[i] ^= 0x01;
    EXPECT_FALSE(Verify(key.id(), message, changed)) << "byte " << i;
  }
  EXPECT_FALSE(Verify(key.id(), message, std::span<const uint8_t>(sig.data(), 63)));
  EXPECT_FALSE(Verify(key.id(), message, std::vector<uint8_t>()));
}

TEST(PartyKey, IsDerivedFromTheOwnerKeyAlone) {
  const PartyKey a = KeyOf(Owner(1));
  EXPECT_EQ(KeyOf(Owner(1)).id(), a.id());
  EXPECT_NE(KeyOf(Owner(2)).id(), a.id());
  // The documented derivation: HKDF label "tessera party signing key v1", 32 bytes, as the seed.
  std::array<uint8_t, 32> seed;
  ASSERT_TRUE(Owner(1).Derive("tessera party signing key v1", seed).ok());
  auto from_seed = PartyKey::FromSeed(seed);
  ASSERT_TRUE(from_seed.ok());
  EXPECT_EQ(from_seed->id(), a.id());
  EXPECT_EQ(from_seed->Sign("x"), a.Sign("x"));
  // Deterministic signatures.
  EXPECT_EQ(a.Sign("same"), a.Sign("same"));
}

TEST(PartyKey, AMovedKeyStillSigns) {
  PartyKey a = KeyOf(Owner(3));
  const PartyId id = a.id();
  PartyKey b = std::move(a);
  EXPECT_EQ(b.id(), id);
  EXPECT_TRUE(Verify(id, "m", b.Sign("m")));
  PartyKey c = KeyOf(Owner(4));
  c = std::move(b);
  EXPECT_TRUE(Verify(id, "m", c.Sign("m")));
}

TEST(PartyId, PrintsAndParsesBack) {
  const PartyKey key = KeyOf(Owner(5));
  const std::string text = key.id().ToString();
  ASSERT_EQ(text.size(), 4u + 64u);
  EXPECT_TRUE(text.starts_with("tp1:"));
  auto parsed = PartyId::Parse(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(*parsed, key.id());
  auto from_key = PartyId::FromPublicKey(key.id().public_key());
  ASSERT_TRUE(from_key.ok());
  EXPECT_EQ(*from_key, key.id());
}

TEST(PartyId, RefusesMalformedIdsAndWeakKeys) {
  const std::string good = KeyOf(Owner(6)).id().ToString();
  std::string upper = good;
  for (size_t i = 4; i < upper.size(); ++i) upper[i] = static_cast<char>(std::toupper(upper[i]));
  const std::vector<std::string> bad = {
      "",
      "tp1:",
      "tk1:" + good.substr(4),
      "TP1:" + good.substr(4),
      good.substr(4),
      good.substr(0, good.size() - 1),
      good + "0",
      " " + good,
      good + " ",
      upper,
      "tp1:" + std::string(63, '0') + "g",
      // The identity (y = 1) and the point y = 0, both of small order: such a "key" verifies
      // forged signatures.
      "tp1:01" + std::string(62, '0'),
      "tp1:" + std::string(64, '0'),
      // y = p = 2^255 - 19: not a canonical encoding.
      "tp1:ed" + std::string(60, 'f') + "7f",
  };
  for (const std::string& text : bad) {
    auto id = PartyId::Parse(text);
    EXPECT_EQ(id.status().code(), StatusCode::kInvalidArgument) << text;
    EXPECT_NE(id.status().message().find("party id"), std::string::npos) << text;
  }
  EXPECT_FALSE(PartyId::FromPublicKey(std::vector<uint8_t>(31, 1)).ok());
}

TEST(PartyName, AcceptsPrintableTextUpTo64Characters) {
  for (const std::string& name :
       {std::string("Grocer"), std::string("M\xc3\xbcller Markt & Co."), std::string(64, 'x'),
        std::string("a"), std::string("\xe2\x82\xac") + std::string(63, 'e')}) {
    EXPECT_TRUE(ValidatePartyName(name).ok()) << name;
  }
  std::string sixty_four_euros;
  for (int i = 0; i < 64; ++i) sixty_four_euros += "\xe2\x82\xac";
  EXPECT_TRUE(ValidatePartyName(sixty_four_euros).ok());
  for (const std::string& name :
       {std::string(), std::string(65, 'x'), sixty_four_euros + "x", std::string("tab\there"),
        std::string("line\nbreak"), std::string("nul\0in", 6), std::string("del\x7f"),
        std::string("c1 \xc2\x85"), std::string("sep \xe2\x80\xa8"), std::string(" leading"),
        std::string("trailing "), std::string("bad \xff utf8"), std::string("overlong \xc0\xaf"),
        std::string("surrogate \xed\xa0\x80"), std::string("cut \xe2\x82")}) {
    EXPECT_EQ(ValidatePartyName(name).code(), StatusCode::kInvalidArgument) << name;
  }
}

TEST(Endpoint, AcceptsHttpsAnywhereAndHttpOnLoopback) {
  for (const char* url :
       {"https://grocer.example", "https://grocer.example/", "https://grocer.example:8443/tessera",
        "https://10.0.0.7:8443", "https://[2001:db8::1]:8443/api", "http://localhost:8080",
        "http://127.0.0.1:9000/x", "http://127.1.2.3", "http://[::1]:9000", "http://LOCALHOST"}) {
    EXPECT_TRUE(ValidateEndpoint(url).ok()) << url << ": " << ValidateEndpoint(url).ToString();
  }
  for (const char* url : {"",
                          "grocer.example",
                          "ftp://grocer.example",
                          "HTTPS://grocer.example",
                          "http://grocer.example",
                          "http://10.0.0.7",
                          "http://127.0.0.1.evil.example",
                          "http://localhost.evil.example",
                          "https://user:secret@grocer.example",
                          "https://grocer.example/?key=1",
                          "https://grocer.example/#frag",
                          "https://",
                          "https://:8443",
                          "https://grocer.example:",
                          "https://grocer.example:0",
                          "https://grocer.example:70000",
                          "https://grocer.example:84a3",
                          "https://gro cer.example",
                          "https://grocer.example/a b",
                          "https://-grocer.example",
                          "https://grocer..example",
                          "https://[::1",
                          "https://[zz::1]",
                          "https://grocer_example"}) {
    EXPECT_EQ(ValidateEndpoint(url).code(), StatusCode::kInvalidArgument) << url;
  }
}

class CollaborationFile : public ::testing::Test {
 protected:
  std::string a_ = KeyOf(Owner(11)).id().ToString();
  std::string b_ = KeyOf(Owner(12)).id().ToString();
  std::string c_ = KeyOf(Owner(13)).id().ToString();

  std::string Party(const std::string& name, const std::string& id, const std::string& endpoint,
                    const std::string& roles) {
    return "[[party]]\nname = \"" + name + "\"\nid = \"" + id + "\"\nendpoint = \"" + endpoint +
           "\"\nroles = " + roles + "\n\n";
  }
  std::string ThreeParties() {
    return "# The three parties of the walkthrough.\n" +
           Party("Grocer", a_, "https://grocer.example:8443", R"(["data_owner", "worker_host"])") +
           Party("Mobile operator", b_, "https://operator.example", R"(["data_owner"])") +
           Party("Brand", c_, "http://127.0.0.1:9003", R"(["analyst"])");
  }

  // Expects `text` to be refused with a message starting "collab.toml:LINE:" that mentions
  // `field`, with the details "line" and "field".
  void ExpectRefused(const std::string& text, int line, const std::string& field,
                     const std::string& reason_part) {
    auto parsed = ParseCollaboration(text, "collab.toml");
    ASSERT_FALSE(parsed.ok()) << text;
    const Status& s = parsed.status();
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_TRUE(s.message().starts_with("collab.toml:" + std::to_string(line) + ":"))
        << s.message();
    EXPECT_NE(s.message().find(field), std::string::npos) << s.message();
    EXPECT_NE(s.message().find(reason_part), std::string::npos) << s.message();
    EXPECT_EQ(s.IntDetail("line"), line) << s.message();
    EXPECT_EQ(s.TextDetail("field"), field) << s.message();
  }
};

TEST_F(CollaborationFile, ListsItsPartiesInOrder) {
  auto c = ParseCollaboration(ThreeParties(), "collab.toml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->parties.size(), 3u);
  const CollaborationParty& grocer = c->parties[0];
  EXPECT_EQ(grocer.name, "Grocer");
  EXPECT_EQ(grocer.id.ToString(), a_);
  EXPECT_EQ(grocer.endpoint, "https://grocer.example:8443");
  EXPECT_EQ(grocer.roles, (std::vector<PartyRole>{PartyRole::kDataOwner, PartyRole::kWorkerHost}));
  EXPECT_EQ(grocer.line, 2);
  EXPECT_TRUE(grocer.HasRole(PartyRole::kWorkerHost));
  EXPECT_FALSE(grocer.HasRole(PartyRole::kAnalyst));
  EXPECT_EQ(c->parties[2].roles, std::vector<PartyRole>{PartyRole::kAnalyst});
  EXPECT_EQ(c->parties[2].endpoint, "http://127.0.0.1:9003");
  auto b = PartyId::Parse(b_);
  ASSERT_TRUE(b.ok());
  ASSERT_NE(c->Find(*b), nullptr);
  EXPECT_EQ(c->Find(*b)->name, "Mobile operator");
  EXPECT_EQ(c->FindByName("Brand")->id.ToString(), c_);
  EXPECT_EQ(c->FindByName("brand"), nullptr);
  EXPECT_EQ(c->Find(KeyOf(Owner(14)).id()), nullptr);
}

TEST_F(CollaborationFile, RolesParseAndNameEachOther) {
  for (PartyRole r : {PartyRole::kDataOwner, PartyRole::kAnalyst, PartyRole::kWorkerHost}) {
    auto parsed = ParsePartyRole(PartyRoleName(r));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, r);
  }
  for (const char* bad : {"", "owner", "Data_Owner", "worker-host", "analyst "}) {
    EXPECT_EQ(ParsePartyRole(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST_F(CollaborationFile, RefusesAPartyIdGivenTwice) {
  ExpectRefused(Party("Grocer", a_, "https://a.example", R"(["data_owner"])") +
                    Party("Grocer again", a_, "https://b.example", R"(["analyst"])"),
                9, "id", "already given to the party at line 1");
}

TEST_F(CollaborationFile, RefusesANameGivenTwice) {
  ExpectRefused(Party("Grocer", a_, "https://a.example", R"(["data_owner"])") +
                    Party("Grocer", b_, "https://b.example", R"(["analyst"])"),
                8, "name", "already given to the party at line 1");
}

TEST_F(CollaborationFile, RefusesAnUnknownRole) {
  ExpectRefused(Party("Grocer", a_, "https://a.example", R"(["data_owner", "auditor"])"), 5,
                "roles", "unknown role \"auditor\"");
}

TEST_F(CollaborationFile, RefusesARoleTwiceAndNoRole) {
  ExpectRefused(Party("Grocer", a_, "https://a.example", R"(["analyst", "analyst"])"), 5, "roles",
                "listed twice");
  ExpectRefused(Party("Grocer", a_, "https://a.example", "[]"), 5, "roles", "at least one");
  ExpectRefused(Party("Grocer", a_, "https://a.example", R"("analyst")"), 5, "roles",
                "list of roles");
  ExpectRefused(Party("Grocer", a_, "https://a.example", "[1]"), 5, "roles", "must list strings");
}

TEST_F(CollaborationFile, RefusesABadEndpoint) {
  ExpectRefused(Party("Grocer", a_, "ftp://a.example", R"(["analyst"])"), 4, "endpoint",
                "https://");
  ExpectRefused(Party("Grocer", a_, "http://grocer.example", R"(["analyst"])"), 4, "endpoint",
                "loopback");
  ExpectRefused(Party("Grocer", a_, "https://u:p@a.example", R"(["analyst"])"), 4, "endpoint",
                "password");
}

TEST_F(CollaborationFile, RefusesABadIdOrName) {
  ExpectRefused(Party("Grocer", "tp1:1234", "https://a.example", R"(["analyst"])"), 3, "id",
                "64 lowercase hex digits");
  ExpectRefused(Party("", a_, "https://a.example", R"(["analyst"])"), 2, "name",
                "1 to 64 characters");
  ExpectRefused("[[party]]\nname = 7\nid = \"" + a_ +
                    "\"\nendpoint = \"https://a.example\"\nroles = [\"analyst\"]\n",
                2, "name", "must be a string");
}

TEST_F(CollaborationFile, RefusesUnknownAndMissingKeys) {
  ExpectRefused(Party("Grocer", a_, "https://a.example", R"(["analyst"])") + "colour = \"red\"\n",
                7, "colour", "unknown key");
  ExpectRefused("[[party]]\nname = \"Grocer\"\nid = \"" + a_ + "\"\nroles = [\"analyst\"]\n", 1,
                "endpoint", "missing");
  ExpectRefused("title = \"Q3\"\n" + Party("Grocer", a_, "https://a.example", R"(["analyst"])"), 1,
                "title", "unknown key");
  ExpectRefused("[party]\nname = \"Grocer\"\n", 1, "party", "[[party]] tables");
}

TEST_F(CollaborationFile, ReportsTomlSyntaxErrorsWithTheirLine) {
  auto parsed = ParseCollaboration("[[party]]\nname = \"Grocer\nid = 1\n", "collab.toml");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(parsed.status().message().starts_with("collab.toml:2:")) << parsed.status().message();
  EXPECT_EQ(parsed.status().IntDetail("line"), 2);
}

TEST_F(CollaborationFile, RefusesAFileWithoutParties) {
  for (const char* text : {"", "# nobody\n"}) {
    auto parsed = ParseCollaboration(text, "collab.toml");
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(parsed.status().message().find("no [[party]]"), std::string::npos);
  }
}

TEST_F(CollaborationFile, LoadsFromDisk) {
  const auto dir = std::filesystem::path(::testing::TempDir()) /
                   ("tessera_collab_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "collab.toml").string();
  {
    std::ofstream out(path);
    out << ThreeParties();
  }
  auto loaded = LoadCollaboration(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->parties.size(), 3u);
  EXPECT_EQ(LoadCollaboration((dir / "missing.toml").string()).status().code(),
            StatusCode::kNotFound);
  {
    std::ofstream out(path);
    out << Party("Grocer", a_, "gopher://a.example", R"(["analyst"])");
  }
  auto bad = LoadCollaboration(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(bad.status().message().starts_with(path + ":4:")) << bad.status().message();
  std::filesystem::remove_all(dir);
}

// --- The store's party, on both stores

class PartyStoreTest : public store::StoreFixture {
 protected:
  void SetUp() override { OpenNewStore("party.db", &PartyStore::Schema()); }
  PartyStore Parties() { return PartyStore(store_->db()); }
};

INSTANTIATE_TEST_SUITE_P(Backends, PartyStoreTest,
                         ::testing::Values(store::Backend::kSqlite, store::Backend::kPostgres),
                         store::BackendName);

TEST_P(PartyStoreTest, IsNoPartyBeforeInit) {
  auto shown = Parties().Show();
  EXPECT_EQ(shown.status().code(), StatusCode::kNotFound);
  EXPECT_NE(shown.status().message().find("tessera party init"), std::string::npos);
}

TEST_P(PartyStoreTest, KeepsNameAndIdButNeverTheSecret) {
  const privacy::OwnerKey owner = Owner(21);
  const PartyKey key = KeyOf(owner);
  auto made = Parties().Init("Grocer", key);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  EXPECT_EQ(made->name, "Grocer");
  EXPECT_EQ(made->id, key.id());
  EXPECT_EQ(made->created_at.size(), 20u);  // 2026-01-05T09:30:00Z
  auto shown = Parties().Show();
  ASSERT_TRUE(shown.ok()) << shown.status().ToString();
  EXPECT_EQ(shown->name, "Grocer");
  EXPECT_EQ(shown->id, key.id());
  EXPECT_EQ(shown->created_at, made->created_at);

  // Nothing of the seed (the secret key's first half) in any column, raw or as hex.
  std::array<uint8_t, 32> seed;
  ASSERT_TRUE(owner.Derive(kPartyKeyLabel, seed).ok());
  const std::string raw(reinterpret_cast<const char*>(seed.data()), seed.size());
  const std::string hex = privacy::HexEncode(raw);
  int rows = 0;
  ASSERT_TRUE(store_->db()
                  .Query("SELECT * FROM collab_party", {},
                         [&](const store::SqlRow& row) {
                           ++rows;
                           for (int col = 0; col < 5; ++col) {
                             const std::string text = row.Text(col);
                             EXPECT_EQ(text.find(raw.substr(0, 8)), std::string::npos);
                             EXPECT_EQ(text.find(hex.substr(0, 16)), std::string::npos);
                           }
                           return OkStatus();
                         })
                  .ok());
  EXPECT_EQ(rows, 1);
}

TEST_P(PartyStoreTest, ASecondInitWithTheSameKeyRenames) {
  const PartyKey key = KeyOf(Owner(22));
  ASSERT_TRUE(Parties().Init("Grocer", key).ok());
  auto again = Parties().Init("Grocer", key);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->name, "Grocer");
  auto renamed = Parties().Init("Grocer North", key);
  ASSERT_TRUE(renamed.ok()) << renamed.status().ToString();
  EXPECT_EQ(renamed->name, "Grocer North");
  EXPECT_EQ(renamed->id, key.id());
  EXPECT_EQ(Parties().Show()->name, "Grocer North");
}

TEST_P(PartyStoreTest, ASecondInitWithAnotherKeyIsRefused) {
  const PartyKey key = KeyOf(Owner(23));
  ASSERT_TRUE(Parties().Init("Grocer", key).ok());
  auto other = Parties().Init("Grocer", KeyOf(Owner(24)));
  EXPECT_EQ(other.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(other.status().message().find(key.id().ToString()), std::string::npos);
  auto shown = Parties().Show();
  ASSERT_TRUE(shown.ok());
  EXPECT_EQ(shown->id, key.id());
}

TEST_P(PartyStoreTest, RefusesABadName) {
  const PartyKey key = KeyOf(Owner(25));
  EXPECT_EQ(Parties().Init("", key).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Parties().Init("a\nb", key).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Parties().Show().status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace tessera::collab
