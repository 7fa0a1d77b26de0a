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
      {"store", 3},        {"analytics", 1},     {"server", 1},         {"audience", 1},
      {"collab.party", 0}, {"collab.grants", 0}, {"collab.ledger", 0},  {"collab.audit", 0},
      {"sources", 0},      {"destinations", 0},  {"server.schedule", 0}};
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
