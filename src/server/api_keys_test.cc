#include "tessera/server/api_keys.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace tessera::server {
namespace {

TEST(ApiKeys, RolesParseAndNameEachOther) {
  for (Role r : {Role::kViewer, Role::kAnalyst, Role::kAdmin}) {
    auto parsed = ParseRole(RoleName(r));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, r);
  }
  EXPECT_EQ(RoleName(Role::kAnalyst), "analyst");
  for (const char* bad : {"", "Admin", "root", "viewer ", "analysts"}) {
    EXPECT_EQ(ParseRole(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
  // Roles are ordered: a higher one may do what a lower one may.
  EXPECT_LT(static_cast<int>(Role::kViewer), static_cast<int>(Role::kAnalyst));
  EXPECT_LT(static_cast<int>(Role::kAnalyst), static_cast<int>(Role::kAdmin));
}

TEST(ApiKeys, ANewKeyIsShownOnceAndKeptOnlyAsASaltedHash) {
  auto made = MakeApiKey(Role::kAnalyst, true, "BI sheet");
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  const std::string& key = made->key;
  const server::ApiKeyRecord& r = made->record;
  // "tsk_<id>_<secret>": the id names the record, the secret appears nowhere in it.
  ASSERT_TRUE(key.starts_with("tsk_" + r.id + "_")) << key;
  const std::string secret = key.substr(4 + r.id.size() + 1);
  EXPECT_GE(secret.size(), 40u);  // 256 bits in any text encoding
  EXPECT_EQ(r.role, "analyst");
  EXPECT_EQ(r.label, "BI sheet");
  EXPECT_TRUE(r.allow_query_key);
  EXPECT_TRUE(r.revoked_at.empty());
  EXPECT_FALSE(r.salt.empty());
  EXPECT_FALSE(r.hash.empty());
  for (const std::string& field : {r.id, r.role, r.label, r.salt, r.hash, r.created_at}) {
    EXPECT_EQ(field.find(secret), std::string::npos);
    EXPECT_EQ(field.find(secret.substr(0, 12)), std::string::npos);
  }
  EXPECT_EQ(r.hash.find(key), std::string::npos);
}

TEST(ApiKeys, KeysAreDistinctAndSaltsToo) {
  std::set<std::string> keys, ids, salts, hashes;
  for (int i = 0; i < 50; ++i) {
    auto made = MakeApiKey(Role::kViewer, false, "");
    ASSERT_TRUE(made.ok());
    keys.insert(made->key);
    ids.insert(made->record.id);
    salts.insert(made->record.salt);
    hashes.insert(made->record.hash);
  }
  EXPECT_EQ(keys.size(), 50u);
  EXPECT_EQ(ids.size(), 50u);
  EXPECT_EQ(salts.size(), 50u);
  EXPECT_EQ(hashes.size(), 50u);
}

TEST(ApiKeys, OnlyTheWholeKeyOfAValidRecordMatches) {
  auto a = MakeApiKey(Role::kViewer, false, "a");
  auto b = MakeApiKey(Role::kAdmin, false, "b");
  ASSERT_TRUE(a.ok() && b.ok());
  std::vector<server::ApiKeyRecord> all = {a->record, b->record};
  auto m = MatchApiKey(all, a->key);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->id, a->record.id);
  EXPECT_EQ(MatchApiKey(all, b->key)->role, "admin");
  // Every single-character change of the secret, the id or the prefix fails.
  for (size_t i = 0; i < a->key.size(); ++i) {
    std::string wrong = a->key;
    wrong[i] = wrong[i] == 'x' ? 'y' : 'x';
    EXPECT_FALSE(MatchApiKey(all, wrong).has_value()) << "changed at " << i;
  }
  // a's id with b's secret: each secret is bound to its own record's salt and hash.
  const std::string b_secret = b->key.substr(4 + b->record.id.size() + 1);
  EXPECT_FALSE(MatchApiKey(all, "tsk_" + a->record.id + "_" + b_secret).has_value());
  for (const std::string& malformed :
       {std::string(), std::string("tsk_"), std::string("tsk__"), a->key + "x",
        a->key.substr(0, a->key.size() - 1), "Bearer " + a->key, " " + a->key,
        std::string(10000, 'a'), "tsk_" + a->record.id}) {
    EXPECT_FALSE(MatchApiKey(all, malformed).has_value()) << malformed.substr(0, 40);
  }
  // A revoked record no longer matches; nor does any key against no records.
  all[0].revoked_at = "2026-01-01T00:00:00Z";
  EXPECT_FALSE(MatchApiKey(all, a->key).has_value());
  EXPECT_TRUE(MatchApiKey(all, b->key).has_value());
  EXPECT_FALSE(MatchApiKey({}, b->key).has_value());
}

}  // namespace
}  // namespace tessera::server
