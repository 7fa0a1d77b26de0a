#include "tessera/common/duration.h"

#include <gtest/gtest.h>

#include "tessera/common/civil_time.h"

namespace tessera {
namespace {

int64_t Day(std::string_view iso) { return *ParseIsoDate(iso); }

TEST(Duration, ParsesDaysWeeksAndMonthsUpToAHundredYears) {
  for (const char* text : {"1d", "90d", "36500d", "1w", "12w", "5214w", "1m", "24m", "1200m"}) {
    auto d = Duration::Parse(text);
    ASSERT_TRUE(d.ok()) << text;
    EXPECT_EQ(d->ToString(), text);
  }
  EXPECT_EQ(Duration::Parse("12w")->days(), 84);
  EXPECT_EQ(Duration::Parse("12w")->months(), 0);
  EXPECT_EQ(Duration::Parse("24m")->months(), 24);
  EXPECT_EQ(Duration::Parse("24m")->days(), 0);
}

TEST(Duration, RefusesEverythingElseSayingTheGrammar) {
  for (const char* bad : {"", "d", "0d", "-1d", "+1d", "36501d", "5215w", "1201m", "12M", "12y",
                          " 12m", "12m ", "1.5m", "12", "99999999999d", "12mm"}) {
    auto d = Duration::Parse(bad);
    ASSERT_FALSE(d.ok()) << "'" << bad << "'";
    EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(d.status().message().find("90d, 12w or 24m"), std::string::npos);
  }
}

TEST(Duration, SpansEndOnTheirLastDayInclusive) {
  EXPECT_EQ(Duration::Days(90).EndingOn(Day("2024-06-30")),
            (DayRange{Day("2024-04-02"), Day("2024-06-30")}));
  EXPECT_EQ(Duration::Weeks(2).EndingOn(Day("2024-03-01")).first, Day("2024-02-17"));
  EXPECT_EQ(Duration::Days(1).EndingOn(Day("2024-06-30")).days(), 1);
  // Calendar months, clamped to the end of a shorter month.
  EXPECT_EQ(Duration::Months(12).StartDay(Day("2024-06-30")), Day("2023-07-01"));
  EXPECT_EQ(Duration::Months(12).StartDay(Day("2024-02-29")), Day("2023-03-01"));
  EXPECT_EQ(Duration::Months(1).StartDay(Day("2024-03-31")), Day("2024-03-01"));
  EXPECT_EQ(Duration::Months(12).EndingOn(Day("2024-06-30")).days(), 366);
}

TEST(DayRange, ContainsItsEndsAndNothingWhenEmpty) {
  const DayRange r{10, 12};
  EXPECT_EQ(r.days(), 3);
  EXPECT_TRUE(r.Contains(10) && r.Contains(12));
  EXPECT_FALSE(r.Contains(9) || r.Contains(13));
  const DayRange empty{5, 4};
  EXPECT_TRUE(empty.empty());
  EXPECT_EQ(empty.days(), 0);
  EXPECT_FALSE(empty.Contains(5));
}

}  // namespace
}  // namespace tessera
