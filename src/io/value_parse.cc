#include "tessera/io/value_parse.h"

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <limits>

#include "tessera/common/civil_time.h"
#include "tessera/common/text.h"

namespace tessera::io {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
// Strips one currency marker (symbol or three upper-case letters) from either end.
std::string_view StripCurrency(std::string_view s) {
  static constexpr std::string_view kSymbols[] = {"\xE2\x82\xAC", "$", "\xC2\xA3"};  // € $ £
  for (std::string_view sym : kSymbols) {
    if (s.starts_with(sym)) return TrimWhitespace(s.substr(sym.size()));
    if (s.ends_with(sym)) return TrimWhitespace(s.substr(0, s.size() - sym.size()));
  }
  auto is_code = [](std::string_view c) {
    return c.size() == 3 && c[0] >= 'A' && c[0] <= 'Z' && c[1] >= 'A' && c[1] <= 'Z' &&
           c[2] >= 'A' && c[2] <= 'Z';
  };
  if (s.size() > 4 && is_code(s.substr(0, 3)) && IsAsciiSpace(s[3]))
    return TrimWhitespace(s.substr(3));
  if (s.size() > 4 && is_code(s.substr(s.size() - 3)) && IsAsciiSpace(s[s.size() - 4])) {
    return TrimWhitespace(s.substr(0, s.size() - 3));
  }
  return s;
}

// Reads 1..max_digits digits at text[*pos]; false if none.
bool ReadNumber(std::string_view text, size_t* pos, int min_digits, int max_digits, int* out) {
  int value = 0, n = 0;
  while (*pos < text.size() && n < max_digits && IsDigit(text[*pos])) {
    value = value * 10 + (text[*pos] - '0');
    ++*pos;
    ++n;
  }
  if (n < min_digits) return false;
  *out = value;
  return true;
}

// Parses "Z", "+HH", "+HHMM", "+HH:MM" at text[*pos]; seconds east of UTC.
bool ReadOffset(std::string_view text, size_t* pos, int64_t* offset) {
  if (*pos >= text.size()) return false;
  if (text[*pos] == 'Z' || text[*pos] == 'z') {
    ++*pos;
    *offset = 0;
    return true;
  }
  if (text[*pos] != '+' && text[*pos] != '-') return false;
  const int sign = text[*pos] == '-' ? -1 : 1;
  ++*pos;
  int hh = 0, mm = 0;
  if (!ReadNumber(text, pos, 2, 2, &hh)) return false;
  if (*pos < text.size() && text[*pos] == ':') ++*pos;
  if (*pos < text.size() && IsDigit(text[*pos]) && !ReadNumber(text, pos, 2, 2, &mm)) return false;
  if (hh > 23 || mm > 59) return false;
  *offset = sign * (hh * 3600 + mm * 60);
  return true;
}

}  // namespace

StatusOr<int64_t> ParseDecimal(std::string_view text, DecimalMark mark, int scale) {
  // Spreadsheets put a no-break space (U+00A0) or a narrow one (U+202F) between a number and
  // its currency, or between thousands; read them as plain spaces.
  std::string spaced;
  if (text.find("\xC2\xA0") != std::string_view::npos ||
      text.find("\xE2\x80\xAF") != std::string_view::npos) {
    spaced.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
      if (text.substr(i).starts_with("\xC2\xA0")) {
        spaced += ' ';
        i += 1;
      } else if (text.substr(i).starts_with("\xE2\x80\xAF")) {
        spaced += ' ';
        i += 2;
      } else {
        spaced += text[i];
      }
    }
    text = spaced;
  }
  std::string_view s = TrimWhitespace(text);
  if (s.empty()) return InvalidArgumentError("empty number");
  bool negative = false, has_sign = false;
  if (s.front() == '-' || s.front() == '+') {
    negative = s.front() == '-';
    has_sign = true;
    s = TrimWhitespace(s.substr(1));
  }
  s = StripCurrency(s);
  if (!has_sign && !s.empty() && s.front() == '-') {  // "€ -12,50"
    negative = true;
    s = TrimWhitespace(s.substr(1));
  }
  if (s.empty()) return InvalidArgumentError("not a number");
  const char decimal = mark == DecimalMark::kComma ? ',' : '.';
  const char thousands = mark == DecimalMark::kComma ? '.' : ',';

  __int128 value = 0;
  int int_digits = 0, frac_digits = 0, group_len = -1;  // -1: no thousands separator seen
  size_t i = 0;
  for (; i < s.size() && s[i] != decimal; ++i) {
    const char c = s[i];
    if (IsDigit(c)) {
      value = value * 10 + (c - '0');
      ++int_digits;
      if (group_len >= 0) ++group_len;
      if (value > std::numeric_limits<int64_t>::max())
        return InvalidArgumentError("number out of range");
    } else if (c == thousands || (c == ' ' && mark == DecimalMark::kComma)) {
      // The leading group holds 1..3 digits, every later one exactly 3.
      if (int_digits == 0 || (group_len < 0 && int_digits > 3) ||
          (group_len >= 0 && group_len != 3)) {
        return InvalidArgumentError("misplaced thousands separator");
      }
      group_len = 0;
    } else {
      return InvalidArgumentError("not a number");
    }
  }
  if (group_len >= 0 && group_len != 3)
    return InvalidArgumentError("misplaced thousands separator");
  if (i < s.size()) {  // fraction
    ++i;
    for (; i < s.size(); ++i) {
      if (!IsDigit(s[i])) return InvalidArgumentError("not a number");
      if (frac_digits == scale) {
        if (s[i] != '0') return InvalidArgumentError("more than {} decimals", scale);
        continue;  // trailing zeros beyond the scale are harmless
      }
      value = value * 10 + (s[i] - '0');
      ++frac_digits;
    }
  }
  if (int_digits == 0 && frac_digits == 0) return InvalidArgumentError("not a number");
  for (; frac_digits < scale; ++frac_digits) value *= 10;
  if (value > std::numeric_limits<int64_t>::max())
    return InvalidArgumentError("number out of range");
  const auto v = static_cast<int64_t>(value);
  return negative ? -v : v;
}

std::string FormatDecimal(int64_t value, int scale) {
  if (scale == 0) return std::to_string(value);
  const bool negative = value < 0;
  const unsigned __int128 abs = negative ? -static_cast<__int128>(value) : value;
  uint64_t pow = 1;
  for (int i = 0; i < scale; ++i) pow *= 10;
  const auto whole = static_cast<uint64_t>(abs / pow), frac = static_cast<uint64_t>(abs % pow);
  return fmt::format("{}{}.{:0{}d}", negative ? "-" : "", whole, frac, scale);
}

StatusOr<TimeZone> TimeZone::Create(std::string_view name) {
  TimeZone zone;
  zone.name_ = std::string(name);
  if (name.empty() || name == "UTC" || name == "Z" || name == "Etc/UTC" || name == "GMT") {
    zone.name_ = "UTC";
    return zone;
  }
  size_t pos = 0;
  int64_t offset = 0;
  if ((name[0] == '+' || name[0] == '-') && ReadOffset(name, &pos, &offset) && pos == name.size()) {
    zone.offset_seconds_ = offset;
    return zone;
  }
  // An IANA name must exist in the system's tz database (the tzdata package).
  const std::string file = "/usr/share/zoneinfo/" + std::string(name);
  // fopen() also opens directories ("Europe"), which mktime would silently read as UTC.
  std::error_code ec;
  std::FILE* f =
      name.find("..") == std::string_view::npos && std::filesystem::is_regular_file(file, ec)
          ? std::fopen(file.c_str(), "rb")
          : nullptr;
  if (f == nullptr) {
    return InvalidArgumentError(
        "unknown time zone '{}' (use UTC, an offset like +01:00, or an IANA name like "
        "Europe/Berlin; IANA names need the tzdata package)",
        name);
  }
  std::fclose(f);
  zone.fixed_ = false;
  return zone;
}

int64_t TimeZone::ToUtc(int64_t local_seconds) {
  if (fixed_) return local_seconds - offset_seconds_;
  const int64_t hour = local_seconds >= 0 ? local_seconds / 3600 : (local_seconds - 3599) / 3600;
  auto it = hour_offsets_.find(hour);
  if (it == hour_offsets_.end()) {
    // mktime interprets a broken-down time in $TZ; set it for the call and restore it.
    const char* old = std::getenv("TZ");
    const std::string saved = old != nullptr ? old : "";
    ::setenv("TZ", name_.c_str(), 1);
    ::tzset();
    const int64_t day = DayOfTimestamp(hour * 3600);
    const CivilDate c = CivilFromDays(day);
    std::tm tm{};
    tm.tm_year = c.year - 1900;
    tm.tm_mon = c.month - 1;
    tm.tm_mday = c.day;
    tm.tm_hour = static_cast<int>(hour * 3600 - day * 86400) / 3600;
    tm.tm_isdst = -1;
    const int64_t utc = static_cast<int64_t>(std::mktime(&tm));
    if (old != nullptr)
      ::setenv("TZ", saved.c_str(), 1);
    else
      ::unsetenv("TZ");
    ::tzset();
    it = hour_offsets_.emplace(hour, hour * 3600 - utc).first;
  }
  return local_seconds - it->second;
}

StatusOr<TimestampParser> TimestampParser::Create(std::string pattern, std::string_view zone) {
  TESSERA_ASSIGN_OR_RETURN(TimeZone tz, TimeZone::Create(zone));
  if (!pattern.empty() && pattern != "epoch" && pattern != "epoch_ms") {
    for (size_t i = 0; i < pattern.size(); ++i) {
      if (pattern[i] != '%') continue;
      if (i + 1 == pattern.size() ||
          std::string_view("YmdHIMSyfzbp%").find(pattern[i + 1]) == std::string_view::npos) {
        return InvalidArgumentError(
            "timestamp format '{}': unknown field at position {} (known: %Y %m %d %H %I %M %S %y "
            "%f %z %b %p %%)",
            pattern, i + 1);
      }
      ++i;
    }
  }
  return TimestampParser(std::move(pattern), std::move(tz));
}

StatusOr<int64_t> TimestampParser::Parse(std::string_view text) {
  TESSERA_ASSIGN_OR_RETURN(const int64_t t, ParseAny(text));
  // Every date the rest of Tessera reads and prints has four digits: an offset that carries
  // 9999-12-31T23:59:59-12:00 into the year 10000 (or 0001 into year 0) is out of range.
  static const int64_t kFirst = DaysFromCivil(1, 1, 1) * 86400;
  static const int64_t kLast = (DaysFromCivil(9999, 12, 31) + 1) * 86400 - 1;
  if (t < kFirst || t > kLast) {
    return InvalidArgumentError("the time falls outside the years 0001 to 9999 (in UTC)");
  }
  return t;
}

StatusOr<int64_t> TimestampParser::ParseAny(std::string_view text) {
  text = TrimWhitespace(text);
  if (text.empty()) return InvalidArgumentError("empty timestamp");
  if (pattern_.empty()) return ParseIso(text);
  if (pattern_ == "epoch" || pattern_ == "epoch_ms") {
    TESSERA_ASSIGN_OR_RETURN(int64_t v, ParseDecimal(text, DecimalMark::kPoint, 0));
    if (pattern_ == "epoch") return v;
    // Round towards minus infinity: -1 ms is in second -1 (1969-12-31T23:59:59), not 0.
    return v >= 0 ? v / 1000 : -((-v + 999) / 1000);
  }
  return ParsePattern(text);
}

StatusOr<int64_t> TimestampParser::ParseIso(std::string_view text) {
  auto bad = [] {
    return InvalidArgumentError(
        "expected an ISO 8601 date like 2024-03-01 or 2024-03-01T14:05:00 or a day-first date "
        "like 31.12.2024 23:59");
  };
  size_t pos = 0;
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  // Day first with dots (01.03.2024, 1.3.2024 14:05): how German-speaking countries (and
  // their shop exports) write dates; no one writes the month first with dots.
  const bool dotted = text.size() > 2 && (text[1] == '.' || text[2] == '.');
  if (dotted) {
    if (!ReadNumber(text, &pos, 1, 2, &d) || pos >= text.size() || text[pos++] != '.' ||
        !ReadNumber(text, &pos, 1, 2, &mo) || pos >= text.size() || text[pos++] != '.' ||
        !ReadNumber(text, &pos, 4, 4, &y)) {
      return bad();
    }
  } else if (!ReadNumber(text, &pos, 4, 4, &y) || pos >= text.size() || text[pos++] != '-' ||
             !ReadNumber(text, &pos, 2, 2, &mo) || pos >= text.size() || text[pos++] != '-' ||
             !ReadNumber(text, &pos, 2, 2, &d)) {
    return bad();
  }
  if (!IsValidDate(y, mo, d)) return InvalidArgumentError("no such date");
  bool has_offset = false;
  int64_t offset = 0;
  if (pos < text.size() && ((text[pos] == 'T' && !dotted) || text[pos] == ' ')) {
    ++pos;
    if (!ReadNumber(text, &pos, dotted ? 1 : 2, 2, &h) || pos >= text.size() ||
        text[pos++] != ':' || !ReadNumber(text, &pos, 2, 2, &mi)) {
      return bad();
    }
    if (pos < text.size() && text[pos] == ':') {
      ++pos;
      if (!ReadNumber(text, &pos, 2, 2, &s)) return bad();
      if (pos < text.size() && (text[pos] == '.' || text[pos] == ',')) {
        ++pos;
        const size_t start = pos;
        while (pos < text.size() && IsDigit(text[pos])) ++pos;
        if (pos == start) return bad();
      }
    }
    if (h > 23 || mi > 59 || s > 60) return InvalidArgumentError("no such time of day");
    while (pos < text.size() && text[pos] == ' ') ++pos;
  }
  if (pos < text.size()) {
    if (!ReadOffset(text, &pos, &offset) || pos != text.size()) return bad();
    has_offset = true;
  }
  const int64_t local = DaysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + std::min(s, 59);
  return has_offset ? local - offset : zone_.ToUtc(local);
}

StatusOr<int64_t> TimestampParser::ParsePattern(std::string_view text) {
  auto bad = [&] {
    return InvalidArgumentError("does not match the timestamp format '{}'", pattern_);
  };
  int y = 1970, mo = 1, d = 1, h = 0, mi = 0, s = 0;
  bool has_offset = false;
  int64_t offset = 0;
  size_t pos = 0;
  int half_day = -1;  // %p: 0 AM, 1 PM; -1 none (%H/%I read a 24-hour clock)
  for (size_t i = 0; i < pattern_.size(); ++i) {
    const char p = pattern_[i];
    if (p != '%') {
      if (pos >= text.size() || text[pos] != p) return bad();
      ++pos;
      continue;
    }
    const char f = pattern_[++i];
    bool ok = true;
    switch (f) {
      case 'Y':
        ok = ReadNumber(text, &pos, 4, 4, &y);
        break;
      case 'y':
        ok = ReadNumber(text, &pos, 2, 2, &y);
        y += y < 70 ? 2000 : 1900;
        break;
      case 'm':
        ok = ReadNumber(text, &pos, 1, 2, &mo);
        break;
      case 'd':
        ok = ReadNumber(text, &pos, 1, 2, &d);
        break;
      case 'H':
      case 'I':
        ok = ReadNumber(text, &pos, 1, 2, &h);
        break;
      case 'b': {
        // English month abbreviations, as PHP's 'M' writes them (Magento's grid exports).
        static constexpr std::string_view kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                                       "jul", "aug", "sep", "oct", "nov", "dec"};
        ok = false;
        if (pos + 3 <= text.size()) {
          const std::string m = AsciiLower(text.substr(pos, 3));
          for (int k = 0; k < 12; ++k) {
            if (m == kMonths[k]) {
              mo = k + 1;
              pos += 3;
              ok = true;
              break;
            }
          }
        }
        break;
      }
      case 'p': {
        ok = false;
        if (pos + 2 <= text.size()) {
          const std::string ap = AsciiLower(text.substr(pos, 2));
          if (ap == "am" || ap == "pm") {
            half_day = ap == "pm" ? 1 : 0;
            pos += 2;
            ok = true;
          }
        }
        break;
      }
      case 'M':
        ok = ReadNumber(text, &pos, 1, 2, &mi);
        break;
      case 'S':
        ok = ReadNumber(text, &pos, 1, 2, &s);
        break;
      case 'f': {
        const size_t start = pos;
        while (pos < text.size() && IsDigit(text[pos])) ++pos;
        ok = pos > start;
        break;
      }
      case 'z':
        ok = ReadOffset(text, &pos, &offset);
        has_offset = ok;
        break;
      case '%':
        ok = pos < text.size() && text[pos++] == '%';
        break;
      default:
        ok = false;
    }
    if (!ok) return bad();
  }
  if (pos != text.size()) return bad();
  if (half_day >= 0) {  // 12:30 AM is 00:30, 12:30 PM is 12:30
    if (h < 1 || h > 12) return InvalidArgumentError("no such time of day");
    h = h % 12 + half_day * 12;
  }
  if (!IsValidDate(y, mo, d)) return InvalidArgumentError("no such date");
  if (h > 23 || mi > 59 || s > 60) return InvalidArgumentError("no such time of day");
  const int64_t local = DaysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + std::min(s, 59);
  return has_offset ? local - offset : zone_.ToUtc(local);
}

}  // namespace tessera::io
