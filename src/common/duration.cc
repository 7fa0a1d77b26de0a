#include "tessera/common/duration.h"

#include <fmt/format.h>

#include <charconv>

#include "tessera/common/civil_time.h"

namespace tessera {

StatusOr<Duration> Duration::Parse(std::string_view text) {
  auto bad = [&] {
    return InvalidArgumentError(
        "a duration is a whole number of days, weeks or months such as 90d, 12w or 24m, at "
        "most 100 years (36500d, 5214w, 1200m)");
  };
  if (text.size() < 2) return bad();
  const std::string_view digits = text.substr(0, text.size() - 1);
  int32_t n = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc() || ptr != digits.data() + digits.size() || n <= 0) return bad();
  switch (text.back()) {
    case 'd':
      if (n <= 36500) return Days(n);
      break;
    case 'w':
      if (n <= 5214) return Weeks(n);
      break;
    case 'm':
      if (n <= 1200) return Months(n);
      break;
  }
  return bad();
}

std::string Duration::ToString() const {
  return fmt::format("{}{}", count_,
                     unit_ == Unit::kDays    ? 'd'
                     : unit_ == Unit::kWeeks ? 'w'
                                             : 'm');
}

DayRange Duration::EndingOn(int64_t last_day) const {
  const int64_t first =
      unit_ == Unit::kMonths ? AddMonths(last_day, -count_) + 1 : last_day - days() + 1;
  return {first, last_day};
}

}  // namespace tessera
