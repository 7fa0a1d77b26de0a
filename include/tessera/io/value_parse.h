#pragma once

// Parsing the typed values of an order export: decimal numbers (money, quantities) into
// exact fixed-point integers, and timestamps into Unix seconds. Errors carry a reason and
// never the text that failed, since callers report them for fields that may be personal.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "tessera/common/status.h"

namespace tessera::io {

enum class DecimalMark : uint8_t { kPoint, kComma };

// Parses a decimal number into an integer scaled by 10^scale ("12.50" with scale 2 -> 1250).
// Accepts: surrounding blanks, a sign ('-' or '+'), a currency symbol (€ $ £) or a
// three-letter code before or after the number, thousands separators (the mark that is not
// the decimal mark) in groups of three ("1.234,56" with kComma, "1,234.56" with kPoint).
// Errors (kInvalidArgument): empty, not a number, more decimals than `scale`, out of range.
StatusOr<int64_t> ParseDecimal(std::string_view text, DecimalMark mark, int scale);

// Formats a fixed-point value: FormatDecimal(-1250, 2) == "-12.50".
std::string FormatDecimal(int64_t value, int scale);

// Converts local civil times to UTC for one time zone: "UTC", a fixed offset ("+01:00",
// "-0530") or an IANA name ("Europe/Berlin", from the system's tz database). Offsets of IANA
// zones are looked up once per local hour and cached. Not thread-safe.
class TimeZone {
 public:
  // Errors: kInvalidArgument for an unknown zone name.
  static StatusOr<TimeZone> Create(std::string_view name);
  const std::string& name() const { return name_; }
  // Seconds since the epoch of a local time of this zone. In a DST gap or overlap the
  // system's rule (mktime with tm_isdst = -1) decides.
  int64_t ToUtc(int64_t local_seconds);

 private:
  std::string name_;
  bool fixed_ = true;
  int64_t offset_seconds_ = 0;
  std::unordered_map<int64_t, int64_t> hour_offsets_;  // local hour -> offset, IANA zones
};

// Parses timestamps of one column. With an empty pattern it accepts ISO 8601 dates and
// date-times: "2024-03-01", "2024-03-01 14:05", "2024-03-01T14:05:09.123", each optionally
// followed by "Z" or an offset "+01:00"/"+0100"/"+01"; and dates with the day first and dots
// ("01.03.2024", "1.3.2024 9:05", "01.03.2024 14:05:09"), as German exports write them. A
// pattern uses strptime-like fields: %Y %m %d %H %M %S (one or two digits for all but %Y), %I
// (an hour of a 12-hour clock, with %p), %p (AM or PM), %b (an English month abbreviation:
// Jan..Dec), %y (two-digit year, 1970-2069), %f (fraction of a second, ignored), %z (offset or
// Z) and literal characters; the pseudo patterns "epoch" and "epoch_ms" read Unix time. Times
// without a zone are in `zone`.
class TimestampParser {
 public:
  // Errors: kInvalidArgument for an unknown zone or a pattern with an unknown field.
  static StatusOr<TimestampParser> Create(std::string pattern, std::string_view zone);
  // Errors: kInvalidArgument with a reason ("expected a date like 2024-03-01", "no such date").
  StatusOr<int64_t> Parse(std::string_view text);
  const std::string& pattern() const { return pattern_; }

 private:
  TimestampParser(std::string pattern, TimeZone zone)
      : pattern_(std::move(pattern)), zone_(std::move(zone)) {}
  StatusOr<int64_t> ParseAny(std::string_view text);
  StatusOr<int64_t> ParseIso(std::string_view text);
  StatusOr<int64_t> ParsePattern(std::string_view text);
  std::string pattern_;
  TimeZone zone_;
};

}  // namespace tessera::io
