#include "server/schedule.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "store/test_stores.h"
#include "tessera/common/civil_time.h"

namespace tessera::server {
namespace {

// Unix seconds of a UTC date and time.
int64_t Utc(std::string_view date, int hour, int minute = 0) {
  auto day = ParseIsoDate(date);
  EXPECT_TRUE(day.ok()) << date;
  return *day * 86400 + hour * 3600 + minute * 60;
}

TEST(DailySchedule, RefusesTimesThatAreNoTimeOfDayAndUnknownZones) {
  for (const char* bad :
       {"", "3", "24:00", "03:60", "3:5", "03:00,", "noon", "03:00:00", "-1:00"}) {
    auto s = DailySchedule::Parse(bad, "UTC");
    EXPECT_FALSE(s.ok()) << bad;
    if (!s.ok()) {
      EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
    }
  }
  auto zone = DailySchedule::Parse("03:00", "Europe/Atlantis");
  ASSERT_FALSE(zone.ok());
  EXPECT_NE(zone.status().message().find("Europe/Atlantis"), std::string::npos);
  auto ok = DailySchedule::Parse("18:30, 6:00,06:00", "Europe/Berlin");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->times(), (std::vector<std::string>{"06:00", "18:30"}));
  EXPECT_EQ(ok->Describe(), "daily at 06:00, 18:30 (Europe/Berlin)");
}

TEST(DailySchedule, NextTimeIsLocalToTheZoneInWinterAndSummer) {
  auto s = DailySchedule::Parse("03:00", "Europe/Berlin");
  ASSERT_TRUE(s.ok());
  // Winter: 03:00 in Berlin is 02:00 UTC; summer: 01:00 UTC.
  EXPECT_EQ(s->NextAfter(Utc("2026-12-07", 12)), Utc("2026-12-08", 2));
  EXPECT_EQ(s->NextAfter(Utc("2026-12-08", 1, 59)), Utc("2026-12-08", 2));
  EXPECT_EQ(s->NextAfter(Utc("2026-12-08", 2)), Utc("2026-12-09", 2));  // strictly after
  EXPECT_EQ(s->NextAfter(Utc("2026-07-01", 12)), Utc("2026-07-02", 1));
  EXPECT_EQ(s->LastAtOrBefore(Utc("2026-12-08", 2)), Utc("2026-12-08", 2));
  EXPECT_EQ(s->LastAtOrBefore(Utc("2026-12-08", 1)), Utc("2026-12-07", 2));
  auto utc = DailySchedule::Parse("00:00", "");
  ASSERT_TRUE(utc.ok());
  EXPECT_EQ(utc->NextAfter(Utc("2026-12-31", 23, 59)), Utc("2027-01-01", 0));
}

TEST(DailySchedule, DaylightSavingNightsRunOnce) {
  // 2026-03-29: Berlin's clocks go from 02:00 to 03:00 (01:00 UTC); 02:30 does not exist and
  // runs at the end of the gap. 2026-10-25: 02:00-03:00 happens twice; 02:30 runs at the first.
  auto s = DailySchedule::Parse("02:30", "Europe/Berlin");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->NextAfter(Utc("2026-03-28", 12)), Utc("2026-03-29", 1));
  EXPECT_EQ(s->NextAfter(Utc("2026-03-29", 1)), Utc("2026-03-30", 0, 30));
  const int64_t autumn = s->NextAfter(Utc("2026-10-24", 12));
  EXPECT_EQ(autumn, Utc("2026-10-25", 0, 30));                // 02:30 CEST
  EXPECT_EQ(s->NextAfter(autumn), Utc("2026-10-26", 1, 30));  // not again at 02:30 CET
}

// A clock the test moves; the scheduler polls it.
struct FakeClock {
  std::atomic<int64_t> now{0};
  Scheduler::Clock fn() {
    return [this] { return now.load(); };
  }
};

// Waits (real time, bounded) until `pred` holds.
template <typename Pred>
bool Eventually(Pred pred) {
  for (int i = 0; i < 400; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

class SchedulerTest : public ::testing::Test {
 protected:
  std::unique_ptr<Scheduler> Make(std::optional<int64_t> last_run_for) {
    auto s = DailySchedule::Parse("03:00", "Europe/Berlin");
    EXPECT_TRUE(s.ok());
    return std::make_unique<Scheduler>(
        *s,
        [this](int64_t due) {
          ScheduledRun r;
          r.outcome = "ok";
          std::lock_guard lock(mu_);
          jobs_.push_back(due);
          return r;
        },
        clock_.fn(), last_run_for,
        [this](const ScheduledRun& r) {
          std::lock_guard lock(mu_);
          recorded_.emplace_back(r.scheduled_for, r.outcome);
        });
  }
  std::vector<int64_t> Jobs() {
    std::lock_guard lock(mu_);
    return jobs_;
  }

  FakeClock clock_;
  std::mutex mu_;
  std::vector<int64_t> jobs_;
  std::vector<std::pair<int64_t, std::string>> recorded_;  // scheduled_for, outcome
};

TEST_F(SchedulerTest, RunsAtTheTimeAndThenWaitsForTheNextDay) {
  clock_.now = Utc("2026-12-08", 1, 59);
  auto s = Make(std::nullopt);
  EXPECT_EQ(s->next_run(), Utc("2026-12-08", 2));
  s->Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  EXPECT_TRUE(Jobs().empty());  // a minute early
  clock_.now = Utc("2026-12-08", 2, 0);
  ASSERT_TRUE(Eventually([&] { return Jobs().size() == 1; }));
  EXPECT_EQ(Jobs()[0], Utc("2026-12-08", 2));
  ASSERT_TRUE(Eventually([&] { return s->next_run() == Utc("2026-12-09", 2); }));
  clock_.now = Utc("2026-12-08", 23);
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  EXPECT_EQ(Jobs().size(), 1u);
  s->Stop();
  std::lock_guard lock(mu_);
  // Kept when it starts (a run killed with the server leaves a trace) and when it ends.
  using Recorded = std::vector<std::pair<int64_t, std::string>>;
  EXPECT_EQ(recorded_, (Recorded{{Utc("2026-12-08", 2), "running"}, {Utc("2026-12-08", 2), "ok"}}));
}

TEST_F(SchedulerTest, ATimeMissedWhileDownRunsOnceAtStart) {
  clock_.now = Utc("2026-12-10", 9);  // down since before 03:00 on the 8th
  auto s = Make(Utc("2026-12-07", 2));
  EXPECT_EQ(s->next_run(), Utc("2026-12-10", 2));  // the latest missed time, once
  s->Start();
  ASSERT_TRUE(Eventually([&] { return Jobs().size() == 1; }));
  ASSERT_TRUE(Eventually([&] { return s->next_run() == Utc("2026-12-11", 2); }));
  EXPECT_EQ(Jobs().size(), 1u);
}

TEST_F(SchedulerTest, ANewStoreWaitsForTheFirstTime) {
  clock_.now = Utc("2026-12-10", 9);
  auto s = Make(std::nullopt);
  EXPECT_EQ(s->next_run(), Utc("2026-12-11", 2));
  auto current = Make(Utc("2026-12-10", 2));  // ran today already
  EXPECT_EQ(current->next_run(), Utc("2026-12-11", 2));
}

TEST_F(SchedulerTest, AClockSteppedBackWaitsForTheNextTimeOfTheClockAsItIsNow) {
  clock_.now = Utc("2026-12-08", 1, 59);
  auto s = Make(std::nullopt);
  clock_.now = Utc("2026-12-08", 2, 1);  // 03:01 in Berlin
  s->Start();
  ASSERT_TRUE(Eventually([&] { return Jobs().size() == 1; }));
  ASSERT_TRUE(Eventually([&] { return s->next_run() == Utc("2026-12-09", 2); }));
  // NTP corrects a clock that was a day and a half ahead: the next 03:00 is that of the 7th.
  clock_.now = Utc("2026-12-06", 14);
  ASSERT_TRUE(Eventually([&] { return s->next_run() == Utc("2026-12-07", 2); }));
  clock_.now = Utc("2026-12-07", 2);
  ASSERT_TRUE(Eventually([&] { return Jobs().size() == 2; }));
  EXPECT_EQ(Jobs()[1], Utc("2026-12-07", 2));
  s->Stop();
}

TEST_F(SchedulerTest, AClockThatJumpsOverSeveralTimesRunsOnceForTheLatest) {
  clock_.now = Utc("2026-12-08", 1);
  auto s = Make(std::nullopt);
  s->Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  clock_.now = Utc("2026-12-11", 9);  // the machine slept for three days
  ASSERT_TRUE(Eventually([&] { return s->next_run() == Utc("2026-12-12", 2); }));
  EXPECT_EQ(Jobs(), (std::vector<int64_t>{Utc("2026-12-11", 2)}));
  s->Stop();
}

class ScheduleStoreTest : public store::StoreFixture {
 protected:
  // In SetUp, so that a skip (no PostgreSQL server) skips the test.
  void SetUp() override { OpenNewStore("schedule.db", &ScheduleSchema()); }
};

TEST_P(ScheduleStoreTest, ARunCutOffWithTheServerRunsAgainAtStart) {
  store::Database& db = store_->db();
  auto none = LastScheduledRunAtStart(db, Utc("2026-12-08", 9));
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_FALSE(none->has_value());

  ScheduledRun done;
  done.scheduled_for = Utc("2026-12-07", 2);
  done.started = done.scheduled_for;
  done.finished = done.scheduled_for + 60;
  done.outcome = "ok";
  ASSERT_TRUE(RecordScheduledRun(db, done).ok());
  auto last = LastScheduledRunAtStart(db, Utc("2026-12-08", 1));
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, std::optional<int64_t>(Utc("2026-12-07", 2)));

  // The server was killed during the next run: only its start was kept.
  ScheduledRun cut;
  cut.scheduled_for = Utc("2026-12-08", 2);
  cut.started = cut.scheduled_for;
  cut.outcome = "running";
  cut.steps.push_back({"sources", "ok", "shop: 3 new orders, 0 rejected"});
  ASSERT_TRUE(RecordScheduledRun(db, cut).ok());
  last = LastScheduledRunAtStart(db, Utc("2026-12-08", 2, 30));
  ASSERT_TRUE(last.ok());
  ASSERT_TRUE(last->has_value());
  EXPECT_LT(**last, Utc("2026-12-08", 2));  // not done: its time runs again
  auto s = DailySchedule::Parse("03:00", "Europe/Berlin");
  ASSERT_TRUE(s.ok());
  Scheduler scheduler(
      *s, [](int64_t) { return ScheduledRun{}; }, [] { return Utc("2026-12-08", 2, 30); }, *last,
      nullptr);
  EXPECT_EQ(scheduler.next_run(), Utc("2026-12-08", 2));
  auto runs = ScheduledRuns(db, 5);
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 2u);
  EXPECT_EQ((*runs)[0].outcome, "failed");
  EXPECT_EQ((*runs)[0].finished, Utc("2026-12-08", 2, 30));
  ASSERT_EQ((*runs)[0].steps.size(), 2u);
  EXPECT_EQ((*runs)[0].steps[1].name, "run");
  EXPECT_NE((*runs)[0].steps[1].detail.find("interrupted"), std::string::npos);
  // Recorded once: a second start sees a failed run, done with.
  last = LastScheduledRunAtStart(db, Utc("2026-12-08", 2, 31));
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, std::optional<int64_t>(Utc("2026-12-08", 2)));
}

INSTANTIATE_TEST_SUITE_P(Backends, ScheduleStoreTest,
                         ::testing::Values(store::Backend::kSqlite, store::Backend::kPostgres),
                         store::BackendName);

}  // namespace
}  // namespace tessera::server
