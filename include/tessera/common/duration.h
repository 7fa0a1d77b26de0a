#pragma once

// Lengths of time and spans of days, one grammar everywhere a user writes one: analysis
// windows (--window 24m), audience predicates (bought(..., within=90d)), and the pre- and
// post-periods that campaigns will need.

#include <cstdint>
#include <string>
#include <string_view>

#include "tessera/common/status.h"

namespace tessera {

// Whole days from `first` to `last`, both included (day numbers, civil_time.h). Empty when
// last < first.
struct DayRange {
  int64_t first = 0, last = -1;

  int64_t days() const { return last >= first ? last - first + 1 : 0; }
  bool empty() const { return last < first; }
  bool Contains(int64_t day) const { return day >= first && day <= last; }
  bool operator==(const DayRange&) const = default;
};

// A length of time as people write it: "<N>d" (days), "<N>w" (weeks) or "<N>m" (calendar
// months), N at least 1 and the whole at most 100 years (36500d, 5214w, 1200m); lower-case
// unit, no sign, no blanks.
class Duration {
 public:
  enum class Unit : uint8_t { kDays, kWeeks, kMonths };

  static constexpr Duration Days(int32_t n) { return Duration(n, Unit::kDays); }
  static constexpr Duration Weeks(int32_t n) { return Duration(n, Unit::kWeeks); }
  static constexpr Duration Months(int32_t n) { return Duration(n, Unit::kMonths); }
  // Errors: kInvalidArgument, saying the grammar.
  static StatusOr<Duration> Parse(std::string_view text);

  int32_t count() const { return count_; }
  Unit unit() const { return unit_; }
  int32_t months() const { return unit_ == Unit::kMonths ? count_ : 0; }
  // Whole days of a duration in days or weeks; 0 for months (their length depends on where
  // they end).
  int32_t days() const {
    return unit_ == Unit::kDays ? count_ : unit_ == Unit::kWeeks ? 7 * count_ : 0;
  }
  std::string ToString() const;  // "24m", "12w", "90d"

  // The span of this length that ends at and includes `last_day`: "12m" ending 2024-06-30
  // covers 2023-07-01 .. 2024-06-30 (calendar months, the day clamped to the month's end:
  // "1m" ending 2024-03-31 starts 2024-03-01); "90d" ending 2024-06-30 starts 2024-04-02.
  DayRange EndingOn(int64_t last_day) const;
  int64_t StartDay(int64_t last_day) const { return EndingOn(last_day).first; }

  bool operator==(const Duration&) const = default;

 protected:
  constexpr Duration(int32_t count, Unit unit) : count_(count), unit_(unit) {}

 private:
  int32_t count_;
  Unit unit_;
};

}  // namespace tessera
