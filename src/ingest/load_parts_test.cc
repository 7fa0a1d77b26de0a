// The pieces a load is made of, on their own: the set of stored order SIVs, the dictionaries
// and the writer thread.

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "ingest/batch_writer.h"
#include "ingest/load_tables.h"

namespace tessera::ingest::internal {
namespace {

std::string Siv(std::mt19937_64& rng) {
  std::string s(16, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

TEST(KeySet, HoldsEveryKeyOnceThroughGrowth) {
  std::mt19937_64 rng(5);
  std::vector<std::string> keys;
  for (int i = 0; i < 50000; ++i) keys.push_back(Siv(rng));
  KeySet set;
  for (const auto& k : keys) EXPECT_TRUE(set.Insert(k));
  for (const auto& k : keys) EXPECT_FALSE(set.Insert(k)) << "inserted twice";
  for (const auto& k : keys) EXPECT_TRUE(set.Contains(k));
  for (int i = 0; i < 1000; ++i) EXPECT_FALSE(set.Contains(Siv(rng)));
}

TEST(KeySet, TheAllZeroSivIsAKeyLikeAnyOther) {
  KeySet set;
  const std::string zero(16, '\0');
  EXPECT_FALSE(set.Contains(zero));
  EXPECT_TRUE(set.Insert(zero));
  EXPECT_TRUE(set.Contains(zero));
  EXPECT_FALSE(set.Insert(zero));
}

TEST(Dictionary, GivesEachTextOneIdContinuingTheStoresAndNoneForEmpty) {
  Dictionary d;
  d.next = 7;  // the store holds ids 1..6
  EXPECT_EQ(d.Intern("Cheese"), 7u);
  EXPECT_EQ(d.Intern("Cheese"), 7u);  // the repeat of the last value
  EXPECT_EQ(d.Intern("Milk"), 8u);
  EXPECT_EQ(d.Intern("Cheese"), 7u);  // from the map
  EXPECT_EQ(d.Intern(""), 0u);
  EXPECT_EQ(d.next, 9u);
}

store::Batch BatchOf(uint32_t first) {
  store::Batch b;
  b.first_new_customer = first;
  return b;
}

TEST(BatchWriter, CommitsInOrderOnItsOwnThread) {
  std::vector<uint32_t> committed;
  BatchWriter writer([&](const store::Batch& b) {
    committed.push_back(b.first_new_customer);
    return OkStatus();
  });
  for (uint32_t i = 0; i < 100; ++i) ASSERT_TRUE(writer.Submit(BatchOf(i)).ok());
  ASSERT_TRUE(writer.Finish().ok());
  ASSERT_EQ(committed.size(), 100u);
  for (uint32_t i = 0; i < 100; ++i) EXPECT_EQ(committed[i], i);
}

TEST(BatchWriter, WritesNothingAfterAFailureAndReportsIt) {
  std::vector<uint32_t> committed;
  BatchWriter writer([&](const store::Batch& b) -> Status {
    if (b.first_new_customer == 3) return UnavailableError("disk gone");
    committed.push_back(b.first_new_customer);
    return OkStatus();
  });
  Status last;
  for (uint32_t i = 0; i < 10 && last.ok(); ++i) last = writer.Submit(BatchOf(i));
  const Status finished = writer.Finish();
  EXPECT_EQ(finished.code(), StatusCode::kUnavailable);
  EXPECT_EQ(committed, (std::vector<uint32_t>{0, 1, 2}));
  EXPECT_EQ(writer.Finish().code(), StatusCode::kUnavailable);  // again: the same failure
}

}  // namespace
}  // namespace tessera::ingest::internal
