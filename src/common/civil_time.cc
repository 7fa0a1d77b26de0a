#include "tessera/common/civil_time.h"

#include <charconv>
#include <chrono>

namespace tessera {

int64_t DaysFromCivil(int32_t year, int32_t month, int32_t day) {
  const int64_t y = static_cast<int64_t>(year) - (month <= 2 ? 1 : 0);
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t mp = (month + 9) % 12;
  const int64_t doy = (153 * mp + 2) / 5 + day - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

CivilDate CivilFromDays(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  const int64_t y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  return CivilDate{static_cast<int32_t>(y), static_cast<int32_t>(m), static_cast<int32_t>(d)};
}

int32_t DaysInMonth(int32_t year, int32_t month) {
  static constexpr int32_t kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month == 2) {
    const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return leap ? 29 : 28;
  }
  return kDays[month - 1];
}

bool IsValidDate(int32_t year, int32_t month, int32_t day) {
  return year >= 1 && year <= 9999 && month >= 1 && month <= 12 && day >= 1 &&
         day <= DaysInMonth(year, month);
}

StatusOr<int64_t> ParseIsoDate(std::string_view text) {
  auto bad = [&] { return InvalidArgumentError("expected a date as YYYY-MM-DD"); };
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return bad();
  int32_t y = 0, m = 0, d = 0;
  if (std::from_chars(text.data(), text.data() + 4, y).ptr != text.data() + 4) return bad();
  if (std::from_chars(text.data() + 5, text.data() + 7, m).ptr != text.data() + 7) return bad();
  if (std::from_chars(text.data() + 8, text.data() + 10, d).ptr != text.data() + 10) return bad();
  if (!IsValidDate(y, m, d)) return InvalidArgumentError("no such date");
  return DaysFromCivil(y, m, d);
}

std::string FormatIsoDate(int64_t days) {
  const CivilDate c = CivilFromDays(days);
  return fmt::format("{:04d}-{:02d}-{:02d}", c.year, c.month, c.day);
}

std::string FormatIsoTimestamp(int64_t unix_seconds) {
  const int64_t day = DayOfTimestamp(unix_seconds);
  const int64_t sod = unix_seconds - day * 86400;
  return fmt::format("{}T{:02d}:{:02d}:{:02d}Z", FormatIsoDate(day), sod / 3600, sod / 60 % 60,
                     sod % 60);
}

int64_t AddMonths(int64_t days, int32_t months) {
  const CivilDate c = CivilFromDays(days);
  int64_t total = static_cast<int64_t>(c.year) * 12 + (c.month - 1) + months;
  const int32_t y = static_cast<int32_t>(total >= 0 ? total / 12 : (total - 11) / 12);
  const int32_t m = static_cast<int32_t>(total - static_cast<int64_t>(y) * 12) + 1;
  const int32_t d = std::min(c.day, DaysInMonth(y, m));
  return DaysFromCivil(y, m, d);
}

int64_t TodayUtc() {
  const auto now = std::chrono::system_clock::now();
  const int64_t secs =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  return DayOfTimestamp(secs);
}

}  // namespace tessera
