#pragma once

// Calendar arithmetic on day numbers (days since 1970-01-01, proleptic Gregorian, UTC).
// Day numbers are what the analytics work on: recency is a difference of two of them.

#include <cstdint>
#include <string>
#include <string_view>

#include "tessera/common/status.h"

namespace tessera {

struct CivilDate {
  int32_t year = 1970;
  int32_t month = 1;  // 1..12
  int32_t day = 1;    // 1..31
};

// Howard Hinnant's days_from_civil; valid for every date of the proleptic Gregorian calendar.
int64_t DaysFromCivil(int32_t year, int32_t month, int32_t day);
CivilDate CivilFromDays(int64_t days);
int32_t DaysInMonth(int32_t year, int32_t month);
bool IsValidDate(int32_t year, int32_t month, int32_t day);

// Day number of a Unix timestamp (seconds), rounding towards minus infinity.
inline int64_t DayOfTimestamp(int64_t unix_seconds) {
  return unix_seconds >= 0 ? unix_seconds / 86400 : -((-unix_seconds + 86399) / 86400);
}

// "YYYY-MM-DD" <-> day number. Errors: kInvalidArgument for anything else or an impossible date.
StatusOr<int64_t> ParseIsoDate(std::string_view text);
std::string FormatIsoDate(int64_t days);
// "YYYY-MM-DDTHH:MM:SSZ" of a Unix timestamp.
std::string FormatIsoTimestamp(int64_t unix_seconds);

// Adds months to a day number, clamping the day of month (2024-03-31 minus 1 month is
// 2024-02-29), as calendars and users expect of "the last 12 months".
int64_t AddMonths(int64_t days, int32_t months);

// Today's day number in UTC.
int64_t TodayUtc();

}  // namespace tessera
