#include "tessera/common/civil_time.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>

namespace tessera {
namespace {

TEST(CivilTime, DayNumbersRoundTripOverFourCenturies) {
  for (int64_t d = DaysFromCivil(1900, 1, 1); d < DaysFromCivil(2300, 1, 1); d += 7) {
    const CivilDate c = CivilFromDays(d);
    EXPECT_EQ(DaysFromCivil(c.year, c.month, c.day), d);
  }
}

// Against the standard library's calendar (C++20 <chrono>), not against itself: every day from
// year 1 to 9999, and the dates parsed, formatted and month-shifted along the way.
TEST(CivilTime, AgreesWithStdChronoFromYear1To9999) {
  using namespace std::chrono;
  const auto first = sys_days(year(1) / January / 1);
  const auto last = sys_days(year(9999) / December / 31);
  EXPECT_EQ(DaysFromCivil(1, 1, 1), first.time_since_epoch().count());
  EXPECT_EQ(DaysFromCivil(9999, 12, 31), last.time_since_epoch().count());
  for (auto d = first; d <= last; d += days(1)) {
    const year_month_day ymd(d);
    const int y = static_cast<int>(ymd.year());
    const int m = static_cast<int>(static_cast<unsigned>(ymd.month()));
    const int dd = static_cast<int>(static_cast<unsigned>(ymd.day()));
    const int64_t n = d.time_since_epoch().count();
    const CivilDate c = CivilFromDays(n);
    ASSERT_EQ(c.year, y) << n;
    ASSERT_EQ(c.month, m) << n;
    ASSERT_EQ(c.day, dd) << n;
    ASSERT_EQ(DaysFromCivil(y, m, dd), n);
    if (dd == 1) {
      const auto last_day = year_month_day_last(ymd.year(), month_day_last(ymd.month())).day();
      ASSERT_EQ(DaysInMonth(y, m), static_cast<int>(static_cast<unsigned>(last_day)))
          << y << "-" << m;
      ASSERT_FALSE(IsValidDate(y, m, static_cast<int>(static_cast<unsigned>(last_day)) + 1));
    }
    ASSERT_TRUE(IsValidDate(y, m, dd));
  }
  // Formatting and parsing, and months added, on a sample spread over the range.
  for (auto d = first; d <= last; d += days(97)) {
    const year_month_day ymd(d);
    const int64_t n = d.time_since_epoch().count();
    char text[16];
    std::snprintf(text, sizeof text, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
    ASSERT_EQ(FormatIsoDate(n), text);
    auto parsed = ParseIsoDate(text);
    ASSERT_TRUE(parsed.ok()) << text;
    ASSERT_EQ(*parsed, n);
    for (int k : {-25, -12, -1, 1, 13}) {
      const year_month_day shifted_month = ymd + months(k);
      if (static_cast<int>(shifted_month.year()) < 1 ||
          static_cast<int>(shifted_month.year()) > 9999) {
        continue;
      }
      // std::chrono leaves 01-31 + 1 month invalid (02-31); the clamp takes the month's end.
      const year_month_day expected =
          shifted_month.ok() ? shifted_month
                             : year_month_day(year_month_day_last(
                                   shifted_month.year(), month_day_last(shifted_month.month())));
      ASSERT_EQ(AddMonths(n, k), sys_days(expected).time_since_epoch().count())
          << text << " + " << k << " months";
    }
  }
}

TEST(CivilTime, EpochIsDayZero) {
  EXPECT_EQ(DaysFromCivil(1970, 1, 1), 0);
  EXPECT_EQ(FormatIsoDate(0), "1970-01-01");
  EXPECT_EQ(DayOfTimestamp(-1), -1);
  EXPECT_EQ(DayOfTimestamp(86399), 0);
}

TEST(CivilTime, ParseIsoDateRejectsImpossibleDates) {
  EXPECT_TRUE(ParseIsoDate("2024-02-29").ok());
  EXPECT_FALSE(ParseIsoDate("2023-02-29").ok());
  EXPECT_FALSE(ParseIsoDate("2023-13-01").ok());
  EXPECT_FALSE(ParseIsoDate("2023-1-01").ok());
  EXPECT_FALSE(ParseIsoDate("").ok());
}

TEST(CivilTime, AddMonthsClampsTheDayOfMonth) {
  EXPECT_EQ(FormatIsoDate(AddMonths(*ParseIsoDate("2024-03-31"), -1)), "2024-02-29");
  EXPECT_EQ(FormatIsoDate(AddMonths(*ParseIsoDate("2024-01-15"), -24)), "2022-01-15");
  EXPECT_EQ(FormatIsoDate(AddMonths(*ParseIsoDate("2024-11-30"), 3)), "2025-02-28");
}

}  // namespace
}  // namespace tessera
