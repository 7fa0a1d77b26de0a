#include "tessera/common/civil_time.h"

#include <gtest/gtest.h>

namespace tessera {
namespace {

TEST(CivilTime, DayNumbersRoundTripOverFourCenturies) {
  for (int64_t d = DaysFromCivil(1900, 1, 1); d < DaysFromCivil(2300, 1, 1); d += 7) {
    const CivilDate c = CivilFromDays(d);
    EXPECT_EQ(DaysFromCivil(c.year, c.month, c.day), d);
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
