#include "tessera/io/value_parse.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "common/test_support.h"
#include "tessera/common/civil_time.h"

namespace tessera::io {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Unix seconds of a UTC civil time, from civil_time.h (tested on its own).
int64_t Utc(int y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
  return DaysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

int64_t Dec(std::string_view text, DecimalMark mark, int scale) {
  auto v = ParseDecimal(text, mark, scale);
  EXPECT_TRUE(v.ok()) << "'" << text << "': " << v.status().ToString();
  return v.ok() ? *v : -424242;
}

std::string DecError(std::string_view text, DecimalMark mark, int scale) {
  auto v = ParseDecimal(text, mark, scale);
  EXPECT_FALSE(v.ok()) << "'" << text << "' parsed as " << (v.ok() ? *v : 0);
  if (v.ok()) return "";
  EXPECT_EQ(v.status().code(), StatusCode::kInvalidArgument);
  return v.status().message();
}

bool HaveZoneInfo(const char* zone) {
  return std::filesystem::is_regular_file(std::string("/usr/share/zoneinfo/") + zone);
}

// --- ParseDecimal ---------------------------------------------------------------------------

TEST(ParseDecimal, ReadsAPointDecimalIntoFixedPoint) {
  EXPECT_EQ(Dec("12.50", DecimalMark::kPoint, 2), 1250);
  EXPECT_EQ(Dec("12.5", DecimalMark::kPoint, 2), 1250);
  EXPECT_EQ(Dec("12", DecimalMark::kPoint, 2), 1200);
  EXPECT_EQ(Dec("0.165", DecimalMark::kPoint, 6), 165000);
  EXPECT_EQ(Dec("0", DecimalMark::kPoint, 2), 0);
}

TEST(ParseDecimal, ReadsACommaDecimalIntoFixedPoint) {
  EXPECT_EQ(Dec("12,50", DecimalMark::kComma, 2), 1250);
  EXPECT_EQ(Dec("0,165", DecimalMark::kComma, 6), 165000);
}

TEST(ParseDecimal, AcceptsALeadingOrTrailingMark) {
  EXPECT_EQ(Dec(".5", DecimalMark::kPoint, 2), 50);
  EXPECT_EQ(Dec("5.", DecimalMark::kPoint, 2), 500);
  EXPECT_EQ(Dec(",5", DecimalMark::kComma, 2), 50);
}

TEST(ParseDecimal, AcceptsThousandsSeparatorsInGroupsOfThree) {
  EXPECT_EQ(Dec("1,234.56", DecimalMark::kPoint, 2), 123456);
  EXPECT_EQ(Dec("1,234,567.89", DecimalMark::kPoint, 2), 123456789);
  EXPECT_EQ(Dec("1.234,56", DecimalMark::kComma, 2), 123456);
  EXPECT_EQ(Dec("12.345.678", DecimalMark::kComma, 0), 12345678);
  EXPECT_EQ(Dec("1 234,56", DecimalMark::kComma, 2), 123456);
  EXPECT_EQ(Dec("123,456", DecimalMark::kPoint, 0), 123456);
}

TEST(ParseDecimal, RejectsThousandsSeparatorsOutsideGroupsOfThree) {
  EXPECT_THAT(DecError("1,23.4", DecimalMark::kPoint, 2), HasSubstr("thousands"));
  EXPECT_THAT(DecError("1,2345.6", DecimalMark::kPoint, 2), HasSubstr("thousands"));
  EXPECT_THAT(DecError(",123", DecimalMark::kPoint, 2), HasSubstr("thousands"));
  EXPECT_THAT(DecError("1,,234", DecimalMark::kPoint, 2), HasSubstr("thousands"));
  // A decimal comma read with the point convention must not silently become a whole number.
  EXPECT_THAT(DecError("12,5", DecimalMark::kPoint, 2), HasSubstr("thousands"));
  EXPECT_THAT(DecError("12.50", DecimalMark::kComma, 2), HasSubstr("thousands"));
}

TEST(ParseDecimal, RejectsALeadingGroupOfMoreThanThreeDigits) {
  // "1234,567" is no thousands grouping; with kPoint it is most likely 1234.567 in a
  // decimal-comma export, so reading it as 1234567 would be off by a factor of 1000.
  EXPECT_THAT(DecError("1234,567", DecimalMark::kPoint, 3), HasSubstr("thousands"));
  EXPECT_THAT(DecError("1234.567", DecimalMark::kComma, 3), HasSubstr("thousands"));
}

TEST(ParseDecimal, AcceptsSignsAndSurroundingBlanks) {
  EXPECT_EQ(Dec("-12.50", DecimalMark::kPoint, 2), -1250);
  EXPECT_EQ(Dec("+12.50", DecimalMark::kPoint, 2), 1250);
  EXPECT_EQ(Dec("  -12.50\t", DecimalMark::kPoint, 2), -1250);
  EXPECT_EQ(Dec("- 3", DecimalMark::kPoint, 0), -3);
  EXPECT_EQ(Dec("-0", DecimalMark::kPoint, 2), 0);
}

TEST(ParseDecimal, RejectsMoreThanOneSign) {
  DecError("--5", DecimalMark::kPoint, 2);
  DecError("+-5", DecimalMark::kPoint, 2);
  DecError("-+5", DecimalMark::kPoint, 2);
  DecError("-\xE2\x82\xAC-5", DecimalMark::kPoint, 2);
  DecError("5-", DecimalMark::kPoint, 2);
}

TEST(ParseDecimal, StripsACurrencySymbolOnEitherSide) {
  EXPECT_EQ(Dec("\xE2\x82\xAC"
                "12.50",
                DecimalMark::kPoint, 2),
            1250);                                                         // €12.50
  EXPECT_EQ(Dec("12,50 \xE2\x82\xAC", DecimalMark::kComma, 2), 1250);      // 12,50 €
  EXPECT_EQ(Dec("1.234,56\xE2\x82\xAC", DecimalMark::kComma, 2), 123456);  // 1.234,56€
  EXPECT_EQ(Dec("$ 3", DecimalMark::kPoint, 2), 300);
  EXPECT_EQ(Dec("\xC2\xA3"
                "0.99",
                DecimalMark::kPoint, 2),
            99);  // £0.99
}

TEST(ParseDecimal, StripsAThreeLetterCurrencyCodeOnEitherSide) {
  EXPECT_EQ(Dec("EUR 12.50", DecimalMark::kPoint, 2), 1250);
  EXPECT_EQ(Dec("12,50 EUR", DecimalMark::kComma, 2), 1250);
  EXPECT_EQ(Dec("USD 1,000", DecimalMark::kPoint, 0), 1000);
}

TEST(ParseDecimal, TakesTheSignBeforeOrAfterTheCurrency) {
  EXPECT_EQ(Dec("-\xE2\x82\xAC"
                "12.50",
                DecimalMark::kPoint, 2),
            -1250);                                                      // -€12.50
  EXPECT_EQ(Dec("\xE2\x82\xAC -12,50", DecimalMark::kComma, 2), -1250);  // € -12,50
  EXPECT_EQ(Dec("EUR -12.50", DecimalMark::kPoint, 2), -1250);
  EXPECT_EQ(Dec("-12.50 EUR", DecimalMark::kPoint, 2), -1250);
}

TEST(ParseDecimal, AcceptsANoBreakSpaceBeforeTheCurrency) {
  // Spreadsheets write "1.234,56 €" with U+00A0 between number and symbol.
  EXPECT_EQ(Dec("1.234,56\xC2\xA0\xE2\x82\xAC", DecimalMark::kComma, 2), 123456);
  EXPECT_EQ(Dec("12.50\xC2\xA0USD", DecimalMark::kPoint, 2), 1250);
}

TEST(ParseDecimal, RejectsMoreDecimalsThanTheScale) {
  EXPECT_THAT(DecError("12.345", DecimalMark::kPoint, 2), HasSubstr("more than 2 decimals"));
  EXPECT_THAT(DecError("12.3450", DecimalMark::kPoint, 2), HasSubstr("more than 2 decimals"));
  EXPECT_THAT(DecError("42.5", DecimalMark::kPoint, 0), HasSubstr("more than 0 decimals"));
}

TEST(ParseDecimal, AcceptsTrailingZerosBeyondTheScale) {
  EXPECT_EQ(Dec("12.3400", DecimalMark::kPoint, 2), 1234);
  EXPECT_EQ(Dec("42.000", DecimalMark::kPoint, 0), 42);
  EXPECT_EQ(Dec("0,1000000000", DecimalMark::kComma, 6), 100000);
}

TEST(ParseDecimal, AcceptsTheLargestInt64AndRejectsOneMore) {
  EXPECT_EQ(Dec("9223372036854775807", DecimalMark::kPoint, 0), INT64_MAX);
  EXPECT_EQ(Dec("-9223372036854775807", DecimalMark::kPoint, 0), -INT64_MAX);
  EXPECT_EQ(Dec("92233720368547758.07", DecimalMark::kPoint, 2), INT64_MAX);
  EXPECT_THAT(DecError("9223372036854775808", DecimalMark::kPoint, 0), HasSubstr("out of range"));
  EXPECT_THAT(DecError("92233720368547758.08", DecimalMark::kPoint, 2), HasSubstr("out of range"));
  EXPECT_THAT(DecError("92233720368547759", DecimalMark::kPoint, 2), HasSubstr("out of range"));
  EXPECT_THAT(DecError("123456789012345678901234567890", DecimalMark::kPoint, 0),
              HasSubstr("out of range"));
}

TEST(ParseDecimal, RejectsEmptyTextAndGarbage) {
  EXPECT_THAT(DecError("", DecimalMark::kPoint, 2), HasSubstr("empty"));
  EXPECT_THAT(DecError("   ", DecimalMark::kPoint, 2), HasSubstr("empty"));
  for (std::string_view bad : {"abc", "12a", "1.2.3", "-", "+", ".", "\xE2\x82\xAC", "EUR", "1e5",
                               "0x10", "12 34", "NaN", "1_000", "(12.50)"}) {
    DecError(bad, DecimalMark::kPoint, 2);
  }
}

TEST(ParseDecimal, ErrorsNeverContainTheInput) {
  for (std::string_view bad : {"secret-4711", "4711secret", "EUR secret", "47.11.secret",
                               "9999999999999999999999", "47.1111"}) {
    auto v = ParseDecimal(bad, DecimalMark::kPoint, 2);
    ASSERT_FALSE(v.ok()) << bad;
    EXPECT_THAT(v.status().message(), Not(HasSubstr("secret")));
    EXPECT_THAT(v.status().message(), Not(HasSubstr("4711")));
    EXPECT_THAT(v.status().message(), Not(HasSubstr("99999")));
  }
}

// --- FormatDecimal --------------------------------------------------------------------------

TEST(FormatDecimal, WritesFixedPointWithAllDecimals) {
  EXPECT_EQ(FormatDecimal(-1250, 2), "-12.50");
  EXPECT_EQ(FormatDecimal(1250, 2), "12.50");
  EXPECT_EQ(FormatDecimal(5, 2), "0.05");
  EXPECT_EQ(FormatDecimal(-5, 2), "-0.05");
  EXPECT_EQ(FormatDecimal(0, 2), "0.00");
  EXPECT_EQ(FormatDecimal(495000, 6), "0.495000");
  EXPECT_EQ(FormatDecimal(42, 0), "42");
  EXPECT_EQ(FormatDecimal(-42, 0), "-42");
}

TEST(FormatDecimal, WritesTheExtremesOfInt64) {
  EXPECT_EQ(FormatDecimal(INT64_MAX, 2), "92233720368547758.07");
  EXPECT_EQ(FormatDecimal(INT64_MIN, 2), "-92233720368547758.08");
  EXPECT_EQ(FormatDecimal(INT64_MIN, 0), "-9223372036854775808");
}

TEST(FormatDecimal, RoundTripsThroughParseDecimal) {
  for (int64_t v : {int64_t{0}, int64_t{1}, int64_t{-1}, int64_t{999999}, int64_t{-1000000},
                    int64_t{123456789012}, INT64_MAX, -INT64_MAX}) {
    for (int scale : {0, 2, 3, 6}) {
      EXPECT_EQ(Dec(FormatDecimal(v, scale), DecimalMark::kPoint, scale), v) << v << " " << scale;
    }
  }
}

// --- TimeZone -------------------------------------------------------------------------------

TEST(TimeZone, UtcAndItsAliasesAddNothing) {
  for (std::string_view name : {"UTC", "", "Z", "Etc/UTC", "GMT"}) {
    auto zone = TimeZone::Create(name);
    ASSERT_TRUE(zone.ok()) << name;
    EXPECT_EQ(zone->name(), "UTC");
    EXPECT_EQ(zone->ToUtc(Utc(2024, 7, 1, 12)), Utc(2024, 7, 1, 12));
  }
}

TEST(TimeZone, FixedOffsetsSubtractTheOffset) {
  auto plus_one = TimeZone::Create("+01:00");
  ASSERT_TRUE(plus_one.ok());
  EXPECT_EQ(plus_one->ToUtc(Utc(2024, 1, 1, 0)), Utc(2023, 12, 31, 23));
  auto plus_one_short = TimeZone::Create("+01");
  ASSERT_TRUE(plus_one_short.ok());
  EXPECT_EQ(plus_one_short->ToUtc(Utc(2024, 1, 1, 0)), Utc(2023, 12, 31, 23));
  auto minus = TimeZone::Create("-0530");
  ASSERT_TRUE(minus.ok());
  EXPECT_EQ(minus->ToUtc(Utc(2024, 1, 1, 0)), Utc(2024, 1, 1, 5, 30));
}

TEST(TimeZone, RejectsUnknownNamesAndMalformedOffsets) {
  for (std::string_view name : {"Mars/Olympus_Mons", "+25:00", "+01:60", "+1", "01:00",
                                "../../etc/passwd", "Europe", "Europe/"}) {
    auto zone = TimeZone::Create(name);
    EXPECT_FALSE(zone.ok()) << name;
    if (!zone.ok()) {
      EXPECT_EQ(zone.status().code(), StatusCode::kInvalidArgument);
    }
  }
}

TEST(TimeZone, EuropeBerlinFollowsDaylightSavingTime) {
  if (!HaveZoneInfo("Europe/Berlin")) TESSERA_SKIP_OR_FAIL("needs the tzdata package");
  auto zone = TimeZone::Create("Europe/Berlin");
  ASSERT_TRUE(zone.ok()) << zone.status().ToString();
  // CET (+1) in winter, CEST (+2) in summer; 2024 switches on Mar 31 and Oct 27.
  EXPECT_EQ(zone->ToUtc(Utc(2024, 1, 15, 12)), Utc(2024, 1, 15, 11));
  EXPECT_EQ(zone->ToUtc(Utc(2024, 7, 15, 12)), Utc(2024, 7, 15, 10));
  EXPECT_EQ(zone->ToUtc(Utc(2024, 3, 31, 1, 30)), Utc(2024, 3, 31, 0, 30));
  EXPECT_EQ(zone->ToUtc(Utc(2024, 3, 31, 3, 30)), Utc(2024, 3, 31, 1, 30));
  EXPECT_EQ(zone->ToUtc(Utc(2024, 10, 27, 1, 30)), Utc(2024, 10, 26, 23, 30));
  EXPECT_EQ(zone->ToUtc(Utc(2024, 10, 27, 4, 0)), Utc(2024, 10, 27, 3, 0));
  // Again in the other order, through the per-hour cache.
  EXPECT_EQ(zone->ToUtc(Utc(2024, 7, 15, 12, 59, 59)), Utc(2024, 7, 15, 10, 59, 59));
  EXPECT_EQ(zone->ToUtc(Utc(2024, 1, 15, 12, 0, 1)), Utc(2024, 1, 15, 11, 0, 1));
}

TEST(TimeZone, LeavesTheProcessTimeZoneAsItWas) {
  if (!HaveZoneInfo("Europe/Berlin")) TESSERA_SKIP_OR_FAIL("needs the tzdata package");
  ::setenv("TZ", "America/New_York", 1);
  auto zone = TimeZone::Create("Europe/Berlin");
  ASSERT_TRUE(zone.ok());
  zone->ToUtc(Utc(2024, 5, 5, 5));
  ASSERT_NE(std::getenv("TZ"), nullptr);
  EXPECT_STREQ(std::getenv("TZ"), "America/New_York");
  ::unsetenv("TZ");
  zone->ToUtc(Utc(2024, 6, 6, 6));
  EXPECT_EQ(std::getenv("TZ"), nullptr);
}

// --- TimestampParser ------------------------------------------------------------------------

int64_t Ts(const std::string& pattern, std::string_view text, std::string_view zone = "UTC") {
  auto parser = TimestampParser::Create(pattern, zone);
  EXPECT_TRUE(parser.ok()) << parser.status().ToString();
  if (!parser.ok()) return -1;
  auto v = parser->Parse(text);
  EXPECT_TRUE(v.ok()) << "'" << text << "' with '" << pattern << "': " << v.status().ToString();
  return v.ok() ? *v : -1;
}

std::string TsError(const std::string& pattern, std::string_view text) {
  auto parser = TimestampParser::Create(pattern, "UTC");
  EXPECT_TRUE(parser.ok()) << parser.status().ToString();
  if (!parser.ok()) return "";
  auto v = parser->Parse(text);
  EXPECT_FALSE(v.ok()) << "'" << text << "' with '" << pattern << "' gave " << (v.ok() ? *v : 0);
  if (v.ok()) return "";
  EXPECT_EQ(v.status().code(), StatusCode::kInvalidArgument);
  // Errors are reported for fields that may be personal data: never echo the text.
  EXPECT_THAT(v.status().message(), Not(HasSubstr(std::string(text))));
  return v.status().message();
}

// Issue 15 #10: an offset may not carry a time past 9999-12-31 or before 0001-01-01 in UTC
// (the store printed "10000-01-01" and suggested an --as-of the parser refused).
TEST(TimestampParser, TimesOutsideTheYears1To9999InUtcAreRefused) {
  auto p = TimestampParser::Create("", "UTC");
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->Parse("9999-12-31T23:59:59Z").ok());
  EXPECT_TRUE(p->Parse("9999-12-31T23:59:59+12:00").ok());
  EXPECT_TRUE(p->Parse("0001-01-01T00:00:00Z").ok());
  for (const char* t : {"9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+05:00"}) {
    auto r = p->Parse(t);
    ASSERT_FALSE(r.ok()) << t;
    EXPECT_NE(r.status().message().find("0001 to 9999"), std::string::npos) << t;
  }
  auto epoch = TimestampParser::Create("epoch", "UTC");
  ASSERT_TRUE(epoch.ok());
  EXPECT_FALSE(epoch->Parse("253402300800").ok());  // 10000-01-01T00:00:00Z
  EXPECT_TRUE(epoch->Parse("253402300799").ok());
}

TEST(TimestampParser, IsoDateIsMidnightUtc) {
  EXPECT_EQ(Ts("", "2024-03-01"), 1709251200);  // 2024-01-01 is 1704067200, plus 60 days
  EXPECT_EQ(Ts("", "1970-01-01"), 0);
  EXPECT_EQ(Ts("", "1969-12-31"), -86400);
}

TEST(TimestampParser, IsoDateTimeWithSpaceOrT) {
  EXPECT_EQ(Ts("", "2024-03-01 14:05"), 1709251200 + 14 * 3600 + 5 * 60);
  EXPECT_EQ(Ts("", "2024-03-01T14:05"), 1709251200 + 14 * 3600 + 5 * 60);
  EXPECT_EQ(Ts("", "2024-03-01T14:05:09"), 1709251200 + 14 * 3600 + 5 * 60 + 9);
  EXPECT_EQ(Ts("", "2024-03-01 14:05:09"), 1709251200 + 14 * 3600 + 5 * 60 + 9);
}

TEST(TimestampParser, IsoFractionsOfASecondAreDropped) {
  EXPECT_EQ(Ts("", "2024-03-01T14:05:09.123"), Utc(2024, 3, 1, 14, 5, 9));
  EXPECT_EQ(Ts("", "2024-03-01T14:05:09.999999"), Utc(2024, 3, 1, 14, 5, 9));
  EXPECT_EQ(Ts("", "2024-03-01T14:05:09,5"), Utc(2024, 3, 1, 14, 5, 9));
}

TEST(TimestampParser, IsoZuluAndOffsetsAreApplied) {
  const int64_t t = Utc(2024, 3, 1, 14, 5, 9);
  EXPECT_EQ(Ts("", "2024-03-01T14:05:09Z"), t);
  EXPECT_EQ(Ts("", "2024-03-01T14:05:09.5Z"), t);
  EXPECT_EQ(Ts("", "2024-03-01T14:05:09+01:00"), t - 3600);
  EXPECT_EQ(Ts("", "2024-03-01T14:05:09+0100"), t - 3600);
  EXPECT_EQ(Ts("", "2024-03-01T14:05:09+01"), t - 3600);
  EXPECT_EQ(Ts("", "2024-03-01T14:05:09-05:30"), t + 5 * 3600 + 30 * 60);
  EXPECT_EQ(Ts("", "2024-03-01 14:05 +02:00"), Utc(2024, 3, 1, 12, 5));
  // An explicit offset wins over the column's zone.
  EXPECT_EQ(Ts("", "2024-03-01T14:05:09Z", "+05:00"), t);
}

TEST(TimestampParser, IsoWithoutOffsetIsInTheConfiguredZone) {
  EXPECT_EQ(Ts("", "2024-03-01 14:05", "+01:00"), Utc(2024, 3, 1, 13, 5));
  if (!HaveZoneInfo("Europe/Berlin")) TESSERA_SKIP_OR_FAIL("needs the tzdata package");
  EXPECT_EQ(Ts("", "2024-03-01 14:05", "Europe/Berlin"), Utc(2024, 3, 1, 13, 5));
  EXPECT_EQ(Ts("", "2024-08-01 14:05", "Europe/Berlin"), Utc(2024, 8, 1, 12, 5));
  EXPECT_EQ(Ts("", "2024-08-01", "Europe/Berlin"), Utc(2024, 7, 31, 22, 0));
}

TEST(TimestampParser, IsoRejectsDatesThatDoNotExist) {
  EXPECT_THAT(TsError("", "2023-02-29"), HasSubstr("no such date"));
  EXPECT_THAT(TsError("", "2024-13-01"), HasSubstr("no such date"));
  EXPECT_THAT(TsError("", "2024-04-31"), HasSubstr("no such date"));
  EXPECT_THAT(TsError("", "2024-00-10"), HasSubstr("no such date"));
  EXPECT_EQ(Ts("", "2024-02-29"), Utc(2024, 2, 29));
}

TEST(TimestampParser, IsoRejectsTimesThatDoNotExist) {
  EXPECT_THAT(TsError("", "2024-03-01T24:00"), HasSubstr("no such time"));
  EXPECT_THAT(TsError("", "2024-03-01T12:60"), HasSubstr("no such time"));
}

TEST(TimestampParser, IsoRejectsOtherShapes) {
  for (std::string_view bad :
       {"2024/03/01", "20240301", "2024-3-1", "99-03-01", "2024-03-02T14", "2024-03-01T14:5",
        "2024-03-01 14:05 garbage", "2024-03-01T14:05:09.", "2024-03-01T14:05:09+1",
        "March 1, 2024", "secret-4711"}) {
    EXPECT_THAT(TsError("", bad), HasSubstr("ISO 8601")) << bad;
  }
  EXPECT_THAT(TsError("", "  "), HasSubstr("empty"));
}

TEST(TimestampParser, DefaultAlsoReadsGermanDatesWithTheDayFirst) {
  EXPECT_EQ(Ts("", "01.03.2024"), Utc(2024, 3, 1));
  EXPECT_EQ(Ts("", "1.3.2024"), Utc(2024, 3, 1));
  EXPECT_EQ(Ts("", "01.03.2024 14:05"), Utc(2024, 3, 1, 14, 5));
  EXPECT_EQ(Ts("", "1.3.2024 9:05"), Utc(2024, 3, 1, 9, 5));
  EXPECT_EQ(Ts("", "31.12.2023 23:59:58"), Utc(2023, 12, 31, 23, 59, 58));
  EXPECT_EQ(Ts("", "01.08.2024 00:00", "Europe/Berlin"), Utc(2024, 7, 31, 22, 0));
  EXPECT_THAT(TsError("", "29.02.2023"), HasSubstr("no such date"));
  EXPECT_THAT(TsError("", "13.13.2024"), HasSubstr("no such date"));
  EXPECT_THAT(TsError("", "01.03.2024 25:00"), HasSubstr("no such time"));
  for (std::string_view bad : {"01.03.24", "01.03.2024T14:05", "01.03.2024 14", "1.3.", "01.03"}) {
    EXPECT_THAT(TsError("", bad), HasSubstr("31.12.2024 23:59")) << bad;
  }
}

TEST(TimestampParser, MonthNamesAndTwelveHourClock) {
  // Magento's grid export: PHP 'M j, Y h:i:s A'.
  const std::string p = "%b %d, %Y %I:%M:%S %p";
  EXPECT_EQ(Ts(p, "Mar 1, 2024 02:05:09 PM"), Utc(2024, 3, 1, 14, 5, 9));
  EXPECT_EQ(Ts(p, "Dec 31, 2023 12:30:00 AM"), Utc(2023, 12, 31, 0, 30));
  EXPECT_EQ(Ts(p, "dec 31, 2023 12:30:00 pm"), Utc(2023, 12, 31, 12, 30));
  EXPECT_THAT(TsError(p, "Mrz 1, 2024 02:05:09 PM"), HasSubstr("does not match"));
  EXPECT_THAT(TsError(p, "Mar 1, 2024 13:05:09 PM"), HasSubstr("no such time"));
  EXPECT_THAT(TsError(p, "Mar 1, 2024 00:05:09 AM"), HasSubstr("no such time"));
}

TEST(TimestampParser, CompactDatePattern) {
  EXPECT_EQ(Ts("%Y%m%d", "20240301"), 1709251200);
  EXPECT_EQ(Ts("%Y%m%d", "19970101"), 852076800);  // first day of the CDNOW data
  EXPECT_THAT(TsError("%Y%m%d", "2024-03-01"), HasSubstr("%Y%m%d"));
  EXPECT_THAT(TsError("%Y%m%d", "20230229"), HasSubstr("no such date"));
}

TEST(TimestampParser, GermanPatternWithOneDigitFields) {
  const std::string p = "%d.%m.%Y %H:%M";
  EXPECT_EQ(Ts(p, "01.03.2024 09:05"), Utc(2024, 3, 1, 9, 5));
  EXPECT_EQ(Ts(p, "1.3.2024 9:05"), Utc(2024, 3, 1, 9, 5));
  EXPECT_EQ(Ts(p, "31.12.2023 23:59"), Utc(2023, 12, 31, 23, 59));
  EXPECT_THAT(TsError(p, "29.02.2023 10:00"), HasSubstr("no such date"));
  EXPECT_THAT(TsError(p, "01.03.2024"), HasSubstr("does not match"));
  EXPECT_THAT(TsError(p, "01.03.2024 25:00"), HasSubstr("no such time"));
}

TEST(TimestampParser, UsPatternWithOneDigitFields) {
  const std::string p = "%m/%d/%Y %H:%M";
  EXPECT_EQ(Ts(p, "12/1/2010 8:26"), Utc(2010, 12, 1, 8, 26));  // UCI Online Retail's layout
  EXPECT_EQ(Ts(p, "12/1/2010 8:26"), 1291191960);  // 2011-01-01 is 1293840000, minus 31 days
  EXPECT_EQ(Ts(p, "3/1/2024 9:05"), Utc(2024, 3, 1, 9, 5));
  EXPECT_THAT(TsError(p, "13/1/2024 9:05"), HasSubstr("no such date"));
  EXPECT_THAT(TsError(p, "123/1/2024 9:05"), HasSubstr("does not match"));
}

TEST(TimestampParser, TwoDigitYearsAre1970To2069) {
  EXPECT_EQ(Ts("%d.%m.%y", "01.03.24"), Utc(2024, 3, 1));
  EXPECT_EQ(Ts("%d.%m.%y", "01.03.69"), Utc(2069, 3, 1));
  EXPECT_EQ(Ts("%d.%m.%y", "01.03.70"), Utc(1970, 3, 1));
  EXPECT_EQ(Ts("%d.%m.%y", "01.03.99"), Utc(1999, 3, 1));
  EXPECT_THAT(TsError("%d.%m.%y", "01.03.2024"), HasSubstr("does not match"));
}

TEST(TimestampParser, PatternWithSecondsFractionAndOffset) {
  const std::string p = "%Y-%m-%dT%H:%M:%S.%f%z";
  EXPECT_EQ(Ts(p, "2024-03-01T14:05:09.5+01:00"), Utc(2024, 3, 1, 13, 5, 9));
  EXPECT_EQ(Ts(p, "2024-03-01T14:05:09.123Z"), Utc(2024, 3, 1, 14, 5, 9));
  EXPECT_THAT(TsError(p, "2024-03-01T14:05:09.5"), HasSubstr("does not match"));
  EXPECT_EQ(Ts("%Y-%m-%d %H:%M:%S", "2010-12-01 08:26:00"), Utc(2010, 12, 1, 8, 26));
  EXPECT_EQ(Ts("100%% %Y", "100% 2024"), Utc(2024, 1, 1));
}

TEST(TimestampParser, PatternWithoutOffsetIsInTheConfiguredZone) {
  EXPECT_EQ(Ts("%d.%m.%Y %H:%M", "1.3.2024 9:05", "-01:00"), Utc(2024, 3, 1, 10, 5));
  if (!HaveZoneInfo("Europe/Berlin")) TESSERA_SKIP_OR_FAIL("needs the tzdata package");
  EXPECT_EQ(Ts("%d.%m.%Y %H:%M", "1.7.2024 9:05", "Europe/Berlin"), Utc(2024, 7, 1, 7, 5));
}

TEST(TimestampParser, EpochSecondsAndMilliseconds) {
  EXPECT_EQ(Ts("epoch", "1709251200"), 1709251200);
  EXPECT_EQ(Ts("epoch", "-86400"), -86400);
  EXPECT_EQ(Ts("epoch_ms", "1709251200123"), 1709251200);
  EXPECT_EQ(Ts("epoch_ms", "1709251200999"), 1709251200);
  EXPECT_EQ(Ts("epoch_ms", "0"), 0);
  TsError("epoch", "2024-03-01");
  TsError("epoch", "secret-4711");
}

TEST(TimestampParser, EpochMillisecondsBefore1970RoundDownToTheirSecond) {
  // -1 ms is 1969-12-31T23:59:59.999, inside second -1, not second 0.
  EXPECT_EQ(Ts("epoch_ms", "-1"), -1);
  EXPECT_EQ(Ts("epoch_ms", "-1000"), -1);
  EXPECT_EQ(Ts("epoch_ms", "-1001"), -2);
  EXPECT_EQ(DayOfTimestamp(Ts("epoch_ms", "-1")), -1);
}

TEST(TimestampParser, CreateRejectsUnknownFieldsAndZones) {
  for (const char* bad : {"%Y-%m-%Q", "%Y%", "%d.%m.%Y %k:%M"}) {
    auto p = TimestampParser::Create(bad, "UTC");
    ASSERT_FALSE(p.ok()) << bad;
    EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(p.status().message(), HasSubstr("unknown field"));
  }
  auto zone = TimestampParser::Create("", "Nowhere/Atlantis");
  ASSERT_FALSE(zone.ok());
  EXPECT_THAT(zone.status().message(), HasSubstr("unknown time zone"));
}

TEST(TimestampParser, ErrorsNeverContainTheInput) {
  for (const std::string pattern : {"", "%Y%m%d", "%d.%m.%Y %H:%M", "epoch", "epoch_ms"}) {
    for (std::string_view bad : {"secret-4711", "4711-02-30", "30.02.4711 10:00", "47114711x"}) {
      auto parser = TimestampParser::Create(pattern, "UTC");
      ASSERT_TRUE(parser.ok());
      auto v = parser->Parse(bad);
      ASSERT_FALSE(v.ok()) << pattern << " " << bad;
      EXPECT_THAT(v.status().message(), Not(HasSubstr("secret")));
      EXPECT_THAT(v.status().message(), Not(HasSubstr("4711")));
    }
  }
}

}  // namespace
}  // namespace tessera::io
