// The budget ledger on both stores: reservations, commits and releases add up exactly; an
// overdraw is refused before anything is recorded; a new month starts with the whole budget;
// a reservation left open expires as spent; two reservations that do not both fit, made at
// once on two connections, do not both pass.

#include "tessera/collab/budget_ledger.h"

#include <gtest/gtest.h>

#include <barrier>
#include <string>
#include <thread>
#include <vector>

#include "store/test_stores.h"
#include "tessera/common/civil_time.h"
#include "tessera/store/store.h"

namespace tessera::collab {
namespace {

using store::Backend;
using store::BackendName;
using store::Store;

constexpr uint64_t kOne = kMicroEpsilonPerEpsilon;  // ε = 1
// 2026-03-14T12:00:00Z
const int64_t kNow = DaysFromCivil(2026, 3, 14) * 86400 + 12 * 3600;
// Party ids of three partners.
const std::string kAcme = "tp1:" + std::string(64, 'a');
const std::string kGlobex = "tp1:" + std::string(64, 'b');
const std::string kInitech = "tp1:" + std::string(64, 'c');

TEST(Epsilon, ParsesAndFormatsExactly) {
  const std::vector<std::pair<std::string, uint64_t>> cases = {
      {"0", 0},
      {"1", 1'000'000},
      {"0.5", 500'000},
      {"0.000001", 1},
      {"2.25", 2'250'000},
      {"10", 10'000'000},
      {"1000000000", kMaxMicroEpsilon},
      {"0.1", 100'000},
  };
  for (const auto& [text, micro] : cases) {
    auto parsed = ParseEpsilon(text);
    ASSERT_TRUE(parsed.ok()) << text;
    EXPECT_EQ(*parsed, micro) << text;
    EXPECT_EQ(FormatEpsilon(micro), text);
  }
  // Ten times 0.1 is exactly 1, as it would not be in binary floating point.
  uint64_t sum = 0;
  for (int i = 0; i < 10; ++i) sum += *ParseEpsilon("0.1");
  EXPECT_EQ(sum, kOne);
  EXPECT_EQ(*ParseEpsilon("007.50"), 7'500'000u);
  EXPECT_EQ(FormatEpsilon(7'500'000), "7.5");
  for (const char* bad : {"", ".5", "5.", "-1", "+1", "1e-3", "0.0000001", "1,5", " 1",
                          "1000000000.000001", "99999999999", "18446744073709551616"}) {
    EXPECT_EQ(ParseEpsilon(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(BudgetPeriod, IsTheCalendarMonthInUtc) {
  const int64_t march_first = DaysFromCivil(2026, 3, 1) * 86400;
  EXPECT_EQ(BudgetPeriodOf(march_first), "2026-03");
  EXPECT_EQ(BudgetPeriodOf(march_first - 1), "2026-02");
  EXPECT_EQ(BudgetPeriodOf(DaysFromCivil(2024, 2, 29) * 86400 + 86399), "2024-02");
  EXPECT_EQ(BudgetPeriodOf(DaysFromCivil(2026, 12, 31) * 86400 + 86399), "2026-12");
  EXPECT_EQ(BudgetPeriodOf(DaysFromCivil(2027, 1, 1) * 86400), "2027-01");
  EXPECT_EQ(BudgetPeriodOf(0), "1970-01");
}

class BudgetLedgerTest : public store::StoreFixture {
 protected:
  void SetUp() override { OpenNewStore("ledger.db", &BudgetLedger::Schema()); }

  store::Database& db() { return store_->db(); }

  BudgetBalance Balance(BudgetLedger& ledger, uint64_t budget, int64_t now,
                        std::string_view grant = "g1") {
    auto b = ledger.Remaining(kAcme, grant, budget, now);
    EXPECT_TRUE(b.ok()) << b.status().ToString();
    return b.ok() ? *b : BudgetBalance{};
  }

  int64_t Count(const std::string& sql) {
    auto n = db().QueryInt(sql);
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    return n.ok() ? n->value_or(-1) : -1;
  }
};

TEST_P(BudgetLedgerTest, ReservationsAndCommitsAddUpExactly) {
  BudgetLedger ledger(db());
  BudgetBalance b = Balance(ledger, kOne, kNow);
  EXPECT_EQ(b.period, "2026-03");
  EXPECT_EQ(b.remaining_micro, kOne);

  auto r = ledger.Reserve(kAcme, "g1", 300'000, kOne, kNow);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GT(r->id, 0);
  EXPECT_EQ(r->period, "2026-03");
  EXPECT_EQ(r->epsilon_micro, 300'000u);
  b = Balance(ledger, kOne, kNow);
  EXPECT_EQ(b.reserved_micro, 300'000u);
  EXPECT_EQ(b.spent_micro, 0u);
  EXPECT_EQ(b.remaining_micro, 700'000u);

  ASSERT_TRUE(ledger.Commit(r->id).ok());
  ASSERT_TRUE(ledger.Commit(r->id).ok());  // a retried commit changes nothing
  b = Balance(ledger, kOne, kNow);
  EXPECT_EQ(b.spent_micro, 300'000u);
  EXPECT_EQ(b.reserved_micro, 0u);
  EXPECT_EQ(b.remaining_micro, 700'000u);

  // Ten reservations of 0.07 use up exactly what is left.
  for (int i = 0; i < 10; ++i) {
    auto more = ledger.Reserve(kAcme, "g1", 70'000, kOne, kNow);
    ASSERT_TRUE(more.ok()) << i << ": " << more.status().ToString();
    ASSERT_TRUE(ledger.Commit(more->id).ok());
  }
  b = Balance(ledger, kOne, kNow);
  EXPECT_EQ(b.spent_micro, kOne);
  EXPECT_EQ(b.remaining_micro, 0u);
  EXPECT_EQ(ledger.Reserve(kAcme, "g1", 1, kOne, kNow).status().code(),
            StatusCode::kResourceExhausted);
  // Another grant and another partner have accounts of their own.
  EXPECT_TRUE(ledger.Reserve(kAcme, "g2", kOne, kOne, kNow).ok());
  EXPECT_TRUE(ledger.Reserve(kGlobex, "g1", kOne, kOne, kNow).ok());
  // A budget lowered below what was spent leaves nothing, not a negative number.
  EXPECT_EQ(Balance(ledger, 500'000, kNow).remaining_micro, 0u);
}

TEST_P(BudgetLedgerTest, AnOverdrawIsRefusedSayingWhatIsLeftAndNothingIsRecorded) {
  BudgetLedger ledger(db());
  auto r = ledger.Reserve(kAcme, "g1", 600'000, kOne, kNow);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(ledger.Commit(r->id).ok());
  const int64_t before = Count("SELECT count(*) FROM collab_budget_reservations");

  auto refused = ledger.Reserve(kAcme, "g1", 500'000, kOne, kNow);
  ASSERT_EQ(refused.status().code(), StatusCode::kResourceExhausted) << refused.status().ToString();
  const Status& s = refused.status();
  EXPECT_EQ(s.IntDetail("remaining_micro"), 400'000);
  EXPECT_EQ(s.IntDetail("requested_micro"), 500'000);
  EXPECT_EQ(s.IntDetail("budget_micro"), 1'000'000);
  EXPECT_EQ(s.TextDetail("period"), "2026-03");
  EXPECT_NE(s.message().find("ε 0.4 left of 1"), std::string::npos) << s.message();
  EXPECT_EQ(Count("SELECT count(*) FROM collab_budget_reservations"), before);
  EXPECT_EQ(Balance(ledger, kOne, kNow).remaining_micro, 400'000u);

  // An account's first reservation refused leaves no trace either, not even the account.
  EXPECT_EQ(ledger.Reserve(kInitech, "g1", 200'000, 100'000, kNow).status().code(),
            StatusCode::kResourceExhausted);
  EXPECT_EQ(ledger.Reserve(kInitech, "g1", 1, 0, kNow).status().code(),
            StatusCode::kResourceExhausted);
  EXPECT_EQ(Count("SELECT count(*) FROM collab_budget_accounts WHERE partner = '" + kInitech + "'"),
            0);
  // What fits still fits.
  EXPECT_TRUE(ledger.Reserve(kAcme, "g1", 400'000, kOne, kNow).ok());
}

TEST_P(BudgetLedgerTest, ARunThatFailedReleasesItsEpsilon) {
  BudgetLedger ledger(db());
  auto r = ledger.Reserve(kAcme, "g1", 600'000, kOne, kNow);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(ledger.Reserve(kAcme, "g1", 600'000, kOne, kNow).status().code(),
            StatusCode::kResourceExhausted);
  ASSERT_TRUE(ledger.Release(r->id, kNow + 60).ok());
  ASSERT_TRUE(ledger.Release(r->id, kNow + 61).ok());  // a retried release changes nothing
  EXPECT_EQ(Balance(ledger, kOne, kNow).remaining_micro, kOne);
  auto again = ledger.Reserve(kAcme, "g1", 900'000, kOne, kNow);
  ASSERT_TRUE(again.ok()) << again.status().ToString();

  // What cannot be undone is refused.
  EXPECT_EQ(ledger.Commit(r->id).code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(ledger.Commit(again->id).ok());
  EXPECT_EQ(ledger.Release(again->id, kNow).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(ledger.Commit(12345).code(), StatusCode::kNotFound);
  EXPECT_EQ(ledger.Release(12345, kNow).code(), StatusCode::kNotFound);
  EXPECT_EQ(Balance(ledger, kOne, kNow).spent_micro, 900'000u);
}

TEST_P(BudgetLedgerTest, ANewMonthStartsWithTheWholeBudget) {
  BudgetLedger ledger(db());
  const int64_t last_second_of_march = DaysFromCivil(2026, 4, 1) * 86400 - 1;
  auto r = ledger.Reserve(kAcme, "g1", kOne, kOne, last_second_of_march);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->period, "2026-03");
  EXPECT_EQ(ledger.Reserve(kAcme, "g1", 1, kOne, last_second_of_march).status().code(),
            StatusCode::kResourceExhausted);
  // Committed in April, it still counts in March.
  ASSERT_TRUE(ledger.Commit(r->id).ok());
  auto april = ledger.Reserve(kAcme, "g1", kOne, kOne, last_second_of_march + 1);
  ASSERT_TRUE(april.ok()) << april.status().ToString();
  EXPECT_EQ(april->period, "2026-04");
  EXPECT_EQ(Balance(ledger, kOne, last_second_of_march).spent_micro, kOne);
  EXPECT_EQ(Balance(ledger, kOne, last_second_of_march + 1).reserved_micro, kOne);
  EXPECT_EQ(Balance(ledger, kOne, DaysFromCivil(2026, 5, 1) * 86400).remaining_micro, kOne);
}

TEST_P(BudgetLedgerTest, AReservationLeftOpenExpiresAsSpentAndNeverOverdraws) {
  BudgetLedger ledger(db(), /*reservation_timeout=*/600);
  // A run that crashed after reserving: never committed, never released.
  auto crashed = ledger.Reserve(kAcme, "g1", 500'000, kOne, kNow);
  ASSERT_TRUE(crashed.ok());
  // While it may still be running it is held, and counted.
  BudgetBalance b = Balance(ledger, kOne, kNow + 599);
  EXPECT_EQ(b.reserved_micro, 500'000u);
  EXPECT_EQ(b.remaining_micro, 500'000u);
  // Past the timeout it counts as spent: the budget does not come back by itself...
  b = Balance(ledger, kOne, kNow + 600);
  EXPECT_EQ(b.reserved_micro, 0u);
  EXPECT_EQ(b.spent_micro, 500'000u);
  EXPECT_EQ(b.remaining_micro, 500'000u);
  EXPECT_EQ(ledger.Reserve(kAcme, "g1", 600'000, kOne, kNow + 700).status().code(),
            StatusCode::kResourceExhausted);
  // ...nor by a late release (the run may have released its result before it died).
  EXPECT_EQ(ledger.Release(crashed->id, kNow + 700).code(), StatusCode::kFailedPrecondition);
  auto next = ledger.Reserve(kAcme, "g1", 500'000, kOne, kNow + 700);
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  // That Reserve recorded the crashed run's reservation as expired.
  EXPECT_EQ(db().QueryText("SELECT state FROM collab_budget_reservations WHERE reservation_id = $1",
                           {crashed->id})
                ->value_or(""),
            "expired");
  // A late commit changes nothing: it was counted as spent already.
  ASSERT_TRUE(ledger.Commit(crashed->id).ok());
  b = Balance(ledger, kOne, kNow + 700);
  EXPECT_EQ(b.spent_micro, 500'000u);
  EXPECT_EQ(b.reserved_micro, 500'000u);
  EXPECT_EQ(b.remaining_micro, 0u);
  // A run that fails within the timeout still gets its ε back.
  ASSERT_TRUE(ledger.Release(next->id, kNow + 700 + 599).ok());
  EXPECT_EQ(Balance(ledger, kOne, kNow + 700 + 599).remaining_micro, 500'000u);
  // And the next month starts afresh.
  EXPECT_EQ(Balance(ledger, kOne, DaysFromCivil(2026, 4, 1) * 86400).remaining_micro, kOne);
}

TEST_P(BudgetLedgerTest, MalformedInputIsRefusedNamingTheField) {
  BudgetLedger ledger(db());
  const std::vector<std::pair<std::string, Status>> cases = {
      {"partner", ledger.Reserve("alice@example.com", "g1", 1, kOne, kNow).status()},
      {"grant_id", ledger.Reserve(kAcme, "", 1, kOne, kNow).status()},
      {"epsilon_micro", ledger.Reserve(kAcme, "g1", 0, kOne, kNow).status()},
      {"epsilon_micro", ledger.Reserve(kAcme, "g1", kMaxMicroEpsilon + 1, kOne, kNow).status()},
      {"period_budget_micro", ledger.Reserve(kAcme, "g1", 1, kMaxMicroEpsilon + 1, kNow).status()},
      {"now", ledger.Reserve(kAcme, "g1", 1, kOne, -1).status()},
      {"partner", ledger.Remaining("tp1:" + std::string(64, 'A'), "g1", kOne, kNow).status()},
  };
  for (const auto& [field, status] : cases) {
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << field;
    EXPECT_EQ(status.TextDetail("field").value_or(""), field) << status.ToString();
    EXPECT_EQ(status.message().find("example.com"), std::string::npos);
  }
  EXPECT_EQ(Count("SELECT count(*) FROM collab_budget_reservations"), 0);
}

TEST_P(BudgetLedgerTest, TwoReservationsThatDoNotBothFitCannotBothPass) {
  constexpr int kRounds = 25;
  std::vector<std::unique_ptr<Store>> stores;
  for (int i = 0; i < 2; ++i) {
    auto s = Store::Open(location_, false);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    stores.push_back(std::move(*s));
  }
  // Round i: grant "r<i>" with a budget of 1; in odd rounds both ask 0.5 (both fit), in even
  // rounds both ask 0.6 (one fits). The accounts exist already, so that the reservations meet
  // on the account's lock, not on creating it.
  {
    BudgetLedger ledger(db());
    for (int i = 0; i < kRounds; ++i) {
      auto r = ledger.Reserve(kAcme, "r" + std::to_string(i), 1, kOne, kNow);
      ASSERT_TRUE(r.ok() && ledger.Release(r->id, kNow).ok());
    }
  }
  std::vector<std::vector<StatusCode>> results(2, std::vector<StatusCode>(kRounds));
  std::barrier start(2);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      BudgetLedger ledger(stores[t]->db());
      for (int i = 0; i < kRounds; ++i) {
        const uint64_t ask = i % 2 == 1 ? 500'000 : 600'000;
        start.arrive_and_wait();
        auto r = ledger.Reserve(kAcme, "r" + std::to_string(i), ask, kOne, kNow);
        results[t][static_cast<size_t>(i)] = r.status().code();
        if (!r.ok() && r.status().code() != StatusCode::kResourceExhausted) {
          ADD_FAILURE() << r.status().ToString();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  BudgetLedger ledger(db());
  for (int i = 0; i < kRounds; ++i) {
    const size_t at = static_cast<size_t>(i);
    const int passed = (results[0][at] == StatusCode::kOk) + (results[1][at] == StatusCode::kOk);
    EXPECT_EQ(passed, i % 2 == 1 ? 2 : 1) << "round " << i;
    auto b = ledger.Remaining(kAcme, "r" + std::to_string(i), kOne, kNow);
    ASSERT_TRUE(b.ok());
    EXPECT_LE(b->reserved_micro, kOne) << "round " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, BudgetLedgerTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres), BackendName);

}  // namespace
}  // namespace tessera::collab
