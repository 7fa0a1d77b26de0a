#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "store/backends.h"

namespace tessera::store::internal {
namespace {

std::string Sha256Hex(const char* text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text), std::strlen(text), digest);
  std::string hex;
  for (unsigned char b : digest) {
    static constexpr char kDigits[] = "0123456789abcdef";
    hex += kDigits[b >> 4];
    hex += kDigits[b & 15];
  }
  return hex;
}

std::vector<std::string> Hashes(std::span<const char* const> migrations) {
  std::vector<std::string> out;
  for (const char* m : migrations) out.push_back(Sha256Hex(m));
  return out;
}

// Each released migration of `backend` still has its pinned hash; none was removed.
void ExpectReleasedUnchanged(const char* backend, std::span<const char* const> migrations,
                             const std::vector<std::string>& released) {
  const std::vector<std::string> now = Hashes(migrations);
  ASSERT_GE(now.size(), released.size()) << "a released migration was removed";
  for (size_t i = 0; i < released.size(); ++i) {
    EXPECT_EQ(now[i], released[i]) << backend << " migration to schema version " << i + 1
                                   << " was edited; add a new migration instead";
  }
  EXPECT_EQ(static_cast<int>(now.size()), kSchemaVersion);
}

// Every released migration, pinned by its SHA-256: stores in the field were made by exactly
// these texts, so editing one (rather than appending a new one) fails here. A new migration
// appends its hash once it is released. (PostgreSQL's migration 1 was edited once, after the
// first release: its stores are upgraded by kFirstReleaseLayoutSetAside in postgres_store.cc,
// and tests/e2e/old_store.sh opens and upgrades a store that the first release made.)
TEST(Migrations, ReleasedSqliteMigrationsAreNeverEdited) {
  const std::vector<std::string> released = {
      "d600917cd814126edfb91fe9d854ca99795acd6de938275bc15bc8a1073b883f",
      "77b02c0a2f2e42916c2509b9ba46308e692ee6652576918a4b28009a26634901",
      "f3125b89ee8be0dafdcc2840aabf3a22d12889b65876c8fd3a0255ac1005a14f",
      "addc165193d42ef9b68eb1e3b5d2073af3913f20bed06c42c6de2a6a14f71131",
  };
  ExpectReleasedUnchanged("SQLite", SqliteMigrations(), released);
}

TEST(Migrations, ReleasedPostgresMigrationsAreNeverEdited) {
  const std::vector<std::string> released = {
      "0b95bfea2cc29553786d642329e964deb79c92bbc41a7d63828073253581fb7e",
      "b89d287c10ee873714172b48fb5eb088f131dfd20af057f6a3056962ec37ae81",
      "c7d6415a7f9040846643fb81bc563ab300b56fc9549185e886b230f0529fbee5",
      "2716a3bd0f3102cdc14e75926a347c0fcc651c2ffa59d853f628b9cfbe7ee15a",
  };
  ExpectReleasedUnchanged("PostgreSQL", PostgresMigrations(), released);
}

}  // namespace
}  // namespace tessera::store::internal
