// Every released migration, pinned by its SHA-256: stores in the field were made by exactly
// these texts, so editing one (rather than appending a new one) fails here. Here because the
// server's test binary links every module that owns tables.

#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "store/backends.h"
#include "store/test_stores.h"
#include "tessera/analytics/snapshot_store.h"
#include "tessera/audience/audience_store.h"
#include "tessera/server/api_keys.h"
#include "tessera/server/store_tables.h"

namespace tessera::store {
namespace {

std::string Sha256Hex(const std::string& text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  std::string hex;
  for (unsigned char b : digest) {
    static constexpr char kDigits[] = "0123456789abcdef";
    hex += kDigits[b >> 4];
    hex += kDigits[b & 15];
  }
  return hex;
}

const char* Text(const Migration& m, Dialect d) {
  return d == Dialect::kSqlite ? m.sqlite : m.postgres;
}

// The store-wide migrations 1 to 4 that releases before per-module versions applied, made
// again from the modules' migrations that took their tables over (store_schema.cc's
// kStoreWideVersions says which): byte for byte the texts of those releases.
std::vector<std::string> StoreWideMigrations(Dialect d) {
  const Schema& order = internal::OrderSchema();
  return {
      Text(order.migrations[0], d),
      Text(analytics::SnapshotStore::Schema().migrations[0], d),
      std::string(Text(order.migrations[1], d)) +
          Text(server::ApiKeyStore::Schema().migrations[0], d),
      Text(audience::AudienceStore::Schema().migrations[0], d),
  };
}

// The hashes of the store-wide migrations as released. (PostgreSQL's migration 1 was edited
// once, after the first release: its stores are upgraded by kFirstReleaseLayoutSetAside in
// postgres_store.cc, and tests/e2e/old_store.sh opens and upgrades a store that the first
// release made.)
TEST(Migrations, ReleasedSqliteMigrationsAreNeverEdited) {
  const std::vector<std::string> released = {
      "d600917cd814126edfb91fe9d854ca99795acd6de938275bc15bc8a1073b883f",
      "77b02c0a2f2e42916c2509b9ba46308e692ee6652576918a4b28009a26634901",
      "f3125b89ee8be0dafdcc2840aabf3a22d12889b65876c8fd3a0255ac1005a14f",
      "addc165193d42ef9b68eb1e3b5d2073af3913f20bed06c42c6de2a6a14f71131",
  };
  const auto now = StoreWideMigrations(Dialect::kSqlite);
  for (size_t i = 0; i < released.size(); ++i) {
    EXPECT_EQ(Sha256Hex(now[i]), released[i])
        << "SQLite: a migration released as part of store-wide version " << i + 1
        << " was edited; add a new migration instead";
  }
}

TEST(Migrations, ReleasedPostgresMigrationsAreNeverEdited) {
  const std::vector<std::string> released = {
      "0b95bfea2cc29553786d642329e964deb79c92bbc41a7d63828073253581fb7e",
      "b89d287c10ee873714172b48fb5eb088f131dfd20af057f6a3056962ec37ae81",
      "c7d6415a7f9040846643fb81bc563ab300b56fc9549185e886b230f0529fbee5",
      "2716a3bd0f3102cdc14e75926a347c0fcc651c2ffa59d853f628b9cfbe7ee15a",
  };
  const auto now = StoreWideMigrations(Dialect::kPostgres);
  for (size_t i = 0; i < released.size(); ++i) {
    EXPECT_EQ(Sha256Hex(now[i]), released[i])
        << "PostgreSQL: a migration released as part of store-wide version " << i + 1
        << " was edited; add a new migration instead";
  }
}

// Migrations released since modules keep their own versions, by module and version (1-based),
// SQLite's text then PostgreSQL's.
struct PinnedMigration {
  const char* module;
  size_t version;
  const char* sqlite_sha256;
  const char* postgres_sha256;
};
constexpr PinnedMigration kReleasedSincePerModuleVersions[] = {
    // The match tokens of customers' e-mails and phones (customer_match_tokens).
    {"store", 3, "a61ff9c0ed49a869affd763a3c5bf87488198ec6ed3b561477e46ee90d1d08f6",
     "13f08a76da1ff7e16f786b3a99505c5ff38d08f20d73bbb139c32815eacd2079"},
    // Every module's migrations on main as of 2026-12-08 (stop 27): each may be in a store.
    {"store", 4, "3e3eb29cff08726bfac6287658bdf4d46926fd487e154bd7bbeb169d3112d3e9",
     "824feb750d1d70cc1ebaa9737268c88320785c8d0b45a167740e66c8301250bc"},
    {"analytics", 1, "77b02c0a2f2e42916c2509b9ba46308e692ee6652576918a4b28009a26634901",
     "b89d287c10ee873714172b48fb5eb088f131dfd20af057f6a3056962ec37ae81"},
    {"analytics", 2, "2da6da4746081d9f0520a45ea0d66ed083cc24e9f6c73b9f472870b823d27f89",
     "71d311282908b45090698b97ffc2673e9f00afb9ac266d473a2ba1cbd4b6bc68"},
    {"analytics", 3, "742b79274f4db5cd7cec466bb8ea9632b5e0d33fb348321e88f531965fa3a596",
     "5d5d5d80dce39fd1b51884cd0291ee30cbf636a63db642280f0861751c2a59d5"},
    {"server", 1, "fbc4715c2aa0755a02ec96b4c7ef10e6b8c396a458e2af10e9c892d735da9114",
     "5251924f3f672dc83f2f89e8f6fd5306c9ff7f6ca482c2f08adf645c5106707a"},
    {"audience", 1, "addc165193d42ef9b68eb1e3b5d2073af3913f20bed06c42c6de2a6a14f71131",
     "2716a3bd0f3102cdc14e75926a347c0fcc651c2ffa59d853f628b9cfbe7ee15a"},
    {"collab.party", 1, "f74c4f94b2d3dfa0aaf94438a31849382e3752a1e46f7af243c547efd0bb8595",
     "b268d5aee0b1d4966e31c825d2797e3f5f2c0c4708a181a26c518017dfd16984"},
    {"collab.grants", 1, "69e0aa12efe6f282c8c7100244b3ed2dff2f1dbb62ee103f70150b1441693d87",
     "229b135eb200120ec8757f5b466e98681ae4e39d0f2187a379195c871802da74"},
    {"collab.ledger", 1, "43c04a1ef14e78b8e72b9c66df37afcfa8a708e1a8125216d0dbdc09b055a408",
     "0e1f073517898471aec840d6b73f2326ee6e4dec23c70b24a72b22cd30b2feba"},
    {"collab.audit", 1, "51febaea69a5afd2f430156f039326e7213a506ceb00c9f2d47937fe9221084c",
     "9bf64149cbb0d5a0fe7d1fea49d5167f1b7d5c0e07e0726691f3884e94e33cca"},
    {"sources", 1, "21520ca070b9c679a392a715b1b9a9bcb8929bce912caae27019456d6f9981bd",
     "0f1502161b38728cbbe4123f9bfcb6dea3696e4d19d62cadb019d4a9ea27baa6"},
    {"sources", 2, "e74e64c1410fc327f4d796855c5076851e5a4e59c1006c33d959b768f3525f37",
     "db5b1ca1ce15cd0501456f6e405e4f9ed4ead6b8e7f01183edb3333f3aa06ebe"},
    {"destinations", 1, "3a3e69d0add9b9e6b4eb73deb552c6b8daf35db73824107054cb1095a83173ee",
     "9473dfa926397514410b4b7dda67630435933b854a0075ab37a6c6bed9727ee6"},
    {"destinations", 2, "c3b908eb6025fec6b89787faf171756306aead8fa141d5373f9e12bb612e4b6f",
     "38a55d6d335d4fcfe8b6c8acbe046d405c1262c72342c3899975c73844813161"},
    {"server.schedule", 1, "6ee4f4fbfc9dd80316f1e32b12decb5f79ef030eee3625555dc4d1fd63e15532",
     "4b10cd9b7e4241d3d391e4c37a4e622c18e5b9f7c2e87ecf32cb8cd710f13e47"},
};

TEST(Migrations, MigrationsReleasedSincePerModuleVersionsAreNeverEdited) {
  for (const PinnedMigration& pin : kReleasedSincePerModuleVersions) {
    const Schema* schema = nullptr;
    for (const Schema* s : server::AllSchemas()) {
      if (s->module == pin.module) schema = s;
    }
    ASSERT_NE(schema, nullptr) << pin.module;
    ASSERT_GE(schema->migrations.size(), pin.version)
        << "a released migration of " << pin.module << " was removed";
    const Migration& m = schema->migrations[pin.version - 1];
    EXPECT_EQ(Sha256Hex(m.sqlite), pin.sqlite_sha256)
        << "SQLite: migration " << pin.version << " of " << pin.module
        << " was edited; add a new migration instead";
    EXPECT_EQ(Sha256Hex(m.postgres), pin.postgres_sha256)
        << "PostgreSQL: migration " << pin.version << " of " << pin.module
        << " was edited; add a new migration instead";
  }
}

// Migrations released since modules keep their own versions, by module and version; a new
// migration adds its hashes here (and to kReleasedSincePerModuleVersions) once it is released.
// None is removed.
TEST(Migrations, EveryModulesMigrationsAreReleasedOrNew) {
  const std::map<std::string, size_t> released_count = {
      {"store", 4},        {"analytics", 3},     {"server", 1},         {"audience", 1},
      {"collab.party", 1}, {"collab.grants", 1}, {"collab.ledger", 1},  {"collab.audit", 1},
      {"sources", 2},      {"destinations", 2},  {"server.schedule", 1}};
  std::map<std::string, int> seen;
  for (const Schema* s : server::AllSchemas()) {
    const std::string module(s->module);
    EXPECT_EQ(seen[module]++, 0) << "two schemas are named " << module;
    ASSERT_TRUE(released_count.contains(module))
        << "module " << module << " owns tables: add its released count to this test";
    EXPECT_GE(s->migrations.size(), released_count.at(module))
        << "a released migration of " << module << " was removed";
    for (const Migration& m : s->migrations) {
      EXPECT_NE(m.sqlite, nullptr);
      EXPECT_NE(m.postgres, nullptr);
    }
  }
}

// A store as the release before match tokens left it (the order system at version 2, no
// customer_match_tokens) is brought to today's version when opened, keeps its customers, and
// takes match tokens.
class PreviousReleaseStoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override { TESSERA_SKIP_WITHOUT_POSTGRES(GetParam()); }
  TestStores stores_;
};

INSTANTIATE_TEST_SUITE_P(Backends, PreviousReleaseStoreTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres), BackendName);

TEST_P(PreviousReleaseStoreTest, OneWithoutMatchTokensMigratesAndTakesThem) {
  const std::string location = stores_.NewLocation(GetParam(), "previous_release");
  {
    auto made = server::OpenStore(location, true);
    ASSERT_TRUE(made.ok()) << made.status().ToString();
    AddTestCustomers(**made, 3, 0x10);
    Database& db = (*made)->db();
    ASSERT_TRUE(db.ExecuteScript("DROP TABLE customer_match_tokens").ok());
    ASSERT_TRUE(db.Execute("UPDATE schema_versions SET version = 2 WHERE module = 'store'").ok());
  }
  auto opened = server::OpenStore(location, false);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(*(*opened)->db().SchemaVersion("store"),
            static_cast<int>(internal::OrderSchema().migrations.size()));
  EXPECT_EQ(*(*opened)->CustomerCount(), 3u);
  auto load = (*opened)->BeginLoad();
  ASSERT_TRUE(load.ok());
  Batch batch;
  batch.first_new_customer = 3;
  MatchToken token;
  token.customer = 1;
  token.kind = privacy::IdentifierKind::kPhone;
  token.token.fill(0x77);
  batch.new_match_tokens = {token};
  ASSERT_TRUE((*opened)->AppendBatch(*load, batch).ok());
  size_t tokens = 0;
  ASSERT_TRUE((*opened)
                  ->ScanMatchTokens([&](uint32_t customer, privacy::IdentifierKind kind,
                                        std::span<const uint8_t, kMatchTokenSize> t) {
                    EXPECT_EQ(customer, 1u);
                    EXPECT_EQ(kind, privacy::IdentifierKind::kPhone);
                    EXPECT_EQ(t[0], 0x77);
                    ++tokens;
                  })
                  .ok());
  EXPECT_EQ(tokens, 1u);
}

}  // namespace
}  // namespace tessera::store
