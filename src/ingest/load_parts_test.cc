// The pieces a load is made of, on their own: the set of stored order SIVs, the dictionaries
// and the writer thread.

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "ingest/batch_writer.h"
#include "ingest/load_tables.h"
#include "ingest/memory_orders.h"
#include "ingest/reject_log.h"
#include "ingest/spilled_orders.h"

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

TEST(RejectLog, CountsKeepsTheFirstLabelsFilesAndStopsPastTheLimit) {
  LoadOptions options;
  options.stored_rejects = 2;
  options.max_rejects = 3;
  options.file_labels = {"orders.csv"};
  std::vector<std::string> seen;
  options.on_reject = [&](const io::Reject& r) { seen.push_back(r.file); };
  LoadSummary summary;
  RejectLog log(options, summary);
  log.SetFiles({"/tmp/upload-123"});
  const io::Reject bad{"/tmp/upload-123", 7, 2, "amount", "bad_number", "not a number"};
  ASSERT_TRUE(log.Add(bad).ok());
  ASSERT_TRUE(log.Add(bad).ok());
  ASSERT_TRUE(log.Add(io::Reject{"other.csv", 9, 0, "", "bad_email", "no @"}).ok());
  EXPECT_EQ(summary.rows_rejected, 3u);
  EXPECT_EQ(summary.rejected_by_reason["bad_number"], 2u);
  ASSERT_EQ(log.kept().size(), 2u);  // stored_rejects
  EXPECT_EQ(log.kept()[0].file, "orders.csv");
  EXPECT_EQ(seen, (std::vector<std::string>{"orders.csv", "orders.csv", "other.csv"}));
  EXPECT_EQ(log.Add(bad).code(), StatusCode::kResourceExhausted);  // the fourth
  EXPECT_TRUE(log.CheckLimit(3).ok());
  EXPECT_FALSE(log.CheckLimit(4).ok());
}

io::OrderLine Line(std::string_view order, std::string_view currency, int64_t amount,
                   uint64_t hash) {
  io::OrderLine l;
  l.order_id = order;
  l.currency = currency;
  l.amount_micro = amount;
  l.quantity_milli = 1000;
  l.category = "Cheese";
  l.content_hash = hash;
  return l;
}

TEST(MemoryOrders, GroupsLinesIntoOrdersAndSaysWhatBecameOfEachRow) {
  Dictionaries dicts;
  MemoryOrders memory;
  using Added = MemoryOrders::Added;
  EXPECT_EQ(memory.Add(Line("A", "EUR", 10, 1), "A", 0, true, dicts), Added::kOrder);
  EXPECT_EQ(memory.Add(Line("B", "EUR", 5, 2), "B", 1, true, dicts), Added::kOrder);
  EXPECT_EQ(memory.Add(Line("A", "EUR", 20, 3), "A", 0, true, dicts), Added::kLine);  // not next
  EXPECT_EQ(memory.Add(Line("A", "EUR", 20, 3), "A", 0, true, dicts), Added::kDuplicate);
  EXPECT_EQ(memory.Add(Line("A", "USD", 30, 4), "A", 0, true, dicts), Added::kMixedCurrency);
  EXPECT_EQ(memory.Add(Line("A", "EUR", 40, 5), "A", 7, true, dicts), Added::kOtherCustomer);
  io::OrderLine next_day = Line("A", "EUR", 50, 6);
  next_day.ordered_at = 86400;
  EXPECT_EQ(memory.Add(next_day, "A", 0, true, dicts), Added::kOtherDay);
  io::OrderLine same_day = Line("A", "EUR", 5, 7);
  same_day.ordered_at = 3600;  // another hour of the same day is the same order
  EXPECT_EQ(memory.Add(same_day, "A", 0, true, dicts), Added::kLine);
  const PendingOrders& p = memory.pending();
  ASSERT_EQ(p.orders.size(), 2u);
  EXPECT_EQ(p.orders[0].amount_micro, 35);  // 10 + 20 + 5: not the duplicate nor those at odds
  EXPECT_EQ(p.orders[1].customer_slot, 1u);
  EXPECT_EQ(p.items.size(), 4u);

  MemoryOrders orders;  // order level: a repeat is a duplicate or a conflict
  EXPECT_EQ(orders.Add(Line("C", "EUR", 10, 5), "C", 0, false, dicts), Added::kOrder);
  EXPECT_EQ(orders.Add(Line("C", "EUR", 10, 5), "C", 0, false, dicts), Added::kDuplicate);
  EXPECT_EQ(orders.Add(Line("C", "EUR", 11, 6), "C", 0, false, dicts), Added::kConflicting);
  EXPECT_EQ(orders.pending().orders[0].amount_micro, 10);
  EXPECT_GT(orders.MemoryBytes(), 0u);
}

// What the spilled path makes of rows is what the in-memory path makes of them: the same
// orders, amounts and outcomes, put together from runs spread over the temporary files.
TEST(SpilledOrders, PutsRunsTogetherIntoTheOrdersAMemoryLoadWouldHave) {
  auto key = privacy::OwnerKey::Generate();
  ASSERT_TRUE(key.ok());
  Dictionaries dicts;
  MemoryOrders memory;
  ASSERT_EQ(memory.Add(Line("A", "EUR", 10, 1), "A", 0, true, dicts), MemoryOrders::Added::kOrder);
  auto spilled = SpilledOrders::Start(::testing::TempDir(), *key, memory);
  ASSERT_TRUE(spilled.ok()) << spilled.status().message();
  EXPECT_TRUE(memory.pending().orders.empty());  // moved to the files
  SpilledOrders& s = **spilled;
  // Order A's lines in three runs (interrupted by B), one a duplicate, one in USD.
  ASSERT_TRUE(s.Add(Line("B", "EUR", 5, 2), "B", 1, true, 0, dicts).ok());
  ASSERT_TRUE(s.Add(Line("A", "EUR", 20, 3), "A", 0, true, 0, dicts).ok());
  ASSERT_TRUE(s.Add(Line("A", "EUR", 20, 3), "A", 0, true, 0, dicts).ok());
  ASSERT_TRUE(s.Add(Line("A", "USD", 30, 4), "A", 0, true, 0, dicts).ok());
  ASSERT_TRUE(s.EndRun().ok());
  ASSERT_TRUE(s.Flush().ok());
  auto mixed = s.CountLateRejects(100);
  ASSERT_TRUE(mixed.ok());
  EXPECT_EQ(*mixed, 1u);
  const std::vector<LateRejects> late_rejects{
      LateRejects{io::Reject{"orders.csv", 0, 4, "currency", "mixed_currency", "differs"},
                  io::Reject{"orders.csv", 0, 2, "customer_id", "conflicting_line", "customer"},
                  io::Reject{"orders.csv", 0, 3, "ordered_at", "conflicting_line", "date"}}};
  std::map<int64_t, int> amounts;  // amount -> orders
  uint64_t duplicates = 0;
  std::vector<io::Reject> rejects;
  ASSERT_TRUE(s.ForEachGroup(late_rejects, [&](SpilledOrders::Group& g) {
                 for (const PendingOrder& o : g.pending.orders) ++amounts[o.amount_micro];
                 duplicates += g.duplicate_rows;
                 rejects.insert(rejects.end(), g.rejects.begin(), g.rejects.end());
                 return OkStatus();
               }).ok());
  EXPECT_EQ(amounts, (std::map<int64_t, int>{{5, 1}, {30, 1}}));
  EXPECT_EQ(duplicates, 1u);
  ASSERT_EQ(rejects.size(), 1u);
  EXPECT_EQ(rejects[0].reason_code, "mixed_currency");
  EXPECT_EQ(rejects[0].line, 0u);  // Line() numbers no line
}

}  // namespace
}  // namespace tessera::ingest::internal
