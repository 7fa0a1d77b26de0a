#include <gtest/gtest.h>

#include "tessera/common/money.h"
#include "tessera/common/status.h"
#include "tessera/common/text.h"

namespace tessera {
namespace {

StatusOr<int> Half(int v) {
  if (v % 2 != 0) return InvalidArgumentError("{} is odd", v);
  return v / 2;
}

StatusOr<int> Quarter(int v) {
  TESSERA_ASSIGN_OR_RETURN(int half, Half(v));
  TESSERA_ASSIGN_OR_RETURN(int quarter, Half(half));
  return quarter;
}

Status CheckEven(int v) {
  TESSERA_RETURN_IF_ERROR(Half(v).status());
  return OkStatus();
}

TEST(Status, MacrosPassErrorsUpAndValuesThrough) {
  EXPECT_EQ(*Quarter(8), 2);
  const auto odd = Quarter(6);
  ASSERT_FALSE(odd.ok());
  EXPECT_EQ(odd.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(odd.status().message(), "3 is odd");
  EXPECT_TRUE(CheckEven(4).ok());
  EXPECT_EQ(CheckEven(5).ToString(), "INVALID_ARGUMENT: 5 is odd");
}

TEST(Status, ContextPrefixesTheMessageAndKeepsTheCode) {
  const Status s = NotFoundError("no file").WithContext("orders.csv");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "orders.csv: no file");
  EXPECT_TRUE(OkStatus().WithContext("x").ok());
}

TEST(Money, ExponentsFollowIso4217) {
  EXPECT_EQ(CurrencyExponent("EUR"), 2);
  EXPECT_EQ(CurrencyExponent("JPY"), 0);
  EXPECT_EQ(CurrencyExponent("KWD"), 3);
  EXPECT_TRUE(IsCurrencyCode("GBP"));
  EXPECT_FALSE(IsCurrencyCode("gbp"));
  EXPECT_FALSE(IsCurrencyCode("EURO"));
}

TEST(Money, MicroUnitsRoundHalfAwayFromZero) {
  EXPECT_EQ(MicroToMinor(495000, 2), 50);  // 0.495 -> 0.50
  EXPECT_EQ(MicroToMinor(494999, 2), 49);
  EXPECT_EQ(MicroToMinor(-495000, 2), -50);  // symmetric for credits
  EXPECT_EQ(MicroToMinor(-494999, 2), -49);
  EXPECT_EQ(MicroToMinor(1500000, 0), 2);
  EXPECT_EQ(MicroToMinor(1234567, 3), 1235);
}

TEST(Money, FormatsMinorUnitsExactly) {
  EXPECT_EQ(FormatMinor(123450, 2), "1234.50");
  EXPECT_EQ(FormatMinor(-5, 2), "-0.05");
  EXPECT_EQ(FormatMinor(0, 2), "0.00");
  EXPECT_EQ(FormatMinor(1234, 0), "1234");
  EXPECT_EQ(FormatMinor(INT64_MIN, 2), "-92233720368547758.08");
}

TEST(Text, CaseAndTrimHelpersTouchAsciiOnly) {
  EXPECT_EQ(AsciiLower("ÄBC-Straße"), "Äbc-straße");
  EXPECT_EQ(AsciiUpper("eur"), "EUR");
  EXPECT_TRUE(EqualsIgnoreCase("Order_ID", "order_id"));
  EXPECT_FALSE(EqualsIgnoreCase("Ä", "ä"));
  EXPECT_EQ(TrimBlanks(" \tx y\t "), "x y");
  EXPECT_EQ(TrimWhitespace("\r\n x \v\f"), "x");
  EXPECT_EQ(TrimWhitespace("   "), "");
}

TEST(Text, CsvEscapeQuotesOnlyWhenNeeded) {
  EXPECT_EQ(CsvEscape("plain"), "plain");
  EXPECT_EQ(CsvEscape("a,b"), "\"a,b\"");
  EXPECT_EQ(CsvEscape("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(CsvEscape("two\nlines"), "\"two\nlines\"");
}

TEST(Text, GermanCsvWritesDecimalCommasAndNoThousandsSeparators) {
  EXPECT_EQ(CsvNumber("1552515.64", kGermanCsv), "1552515,64");
  EXPECT_EQ(CsvNumber("-0.5", kGermanCsv), "-0,5");
  EXPECT_EQ(CsvNumber("12", kGermanCsv), "12");
  EXPECT_EQ(CsvNumber("", kGermanCsv), "");
  EXPECT_EQ(CsvNumber("1552515.64", kRfc4180Csv), "1552515.64");
}

TEST(Text, GermanCsvQuotesSemicolonsNotCommas) {
  EXPECT_EQ(CsvEscape("a,b", kGermanCsv), "a,b");
  EXPECT_EQ(CsvEscape("a;b", kGermanCsv), "\"a;b\"");
  EXPECT_EQ(CsvEscape("a;b"), "a;b");
  EXPECT_EQ(CsvTextCell("=1;2", kGermanCsv), "\"'=1;2\"");
}

TEST(Text, CsvHeaderLineIsInTheDialectsLanguageAfterItsByteOrderMark) {
  const CsvColumn columns[] = {{"sum_clv", "Summe CLV"}, {"share_percent", "Anteil %"}};
  EXPECT_EQ(CsvHeaderLine(columns, kRfc4180Csv), "sum_clv,share_percent\r\n");
  EXPECT_EQ(CsvHeaderLine(columns, kGermanCsv), "\xEF\xBB\xBFSumme CLV;Anteil %\r\n");
}

TEST(Text, CsvTextCellsNeverRunAsSpreadsheetFormulas) {
  EXPECT_EQ(CsvTextCell("VIPs"), "VIPs");
  EXPECT_EQ(CsvTextCell("=HYPERLINK(\"http://x\")"), "\"'=HYPERLINK(\"\"http://x\"\")\"");
  EXPECT_EQ(CsvTextCell("+1"), "'+1");
  EXPECT_EQ(CsvTextCell("-cmd"), "'-cmd");
  EXPECT_EQ(CsvTextCell("@SUM(A1)"), "'@SUM(A1)");
  EXPECT_EQ(CsvTextCell("\tx"), "'\tx");
  EXPECT_EQ(CsvTextCell("a=b, c"), "\"a=b, c\"");  // only a leading character counts
  EXPECT_EQ(CsvTextCell(""), "");
}

TEST(Text, ThousandsSeparators) {
  EXPECT_EQ(WithThousands(0), "0");
  EXPECT_EQ(WithThousands(999), "999");
  EXPECT_EQ(WithThousands(1000), "1,000");
  EXPECT_EQ(WithThousands(1234567), "1,234,567");
}

TEST(StatusDetails, SurviveContextAndCopiesAndAreIgnoredOnOk) {
  Status s = InvalidArgumentError("column 3: bad");
  s.SetDetail("column", int64_t{3}).SetDetail("expected", std::string("x"));
  const Status copy = s;
  s.SetDetail("column", int64_t{4});  // copy on write: the copy keeps 3
  EXPECT_EQ(copy.IntDetail("column"), 3);
  EXPECT_EQ(s.IntDetail("column"), 4);
  const Status wrapped = copy.WithContext("expression 2");
  EXPECT_EQ(wrapped.message(), "expression 2: column 3: bad");
  EXPECT_EQ(wrapped.TextDetail("expected"), "x");
  EXPECT_FALSE(wrapped.TextDetail("column").has_value());  // an integer, not a text
  Status ok = OkStatus();
  ok.SetDetail("column", int64_t{1});
  EXPECT_TRUE(ok.details().empty());
}

}  // namespace
}  // namespace tessera

namespace tessera {
namespace {

TEST(IsLoopbackHost, ParsesTheAddressRatherThanItsFirstCharacters) {
  for (const char* yes : {"localhost", "127.0.0.1", "127.255.0.9", "[::1]"}) {
    EXPECT_TRUE(IsLoopbackHost(yes)) << yes;
  }
  for (const char* no : {"127.attacker.example", "127.0.0.1.nip.io", "128.0.0.1", "10.0.0.1",
                         "example.com", "", "[::2]", "localhost.example.com"}) {
    EXPECT_FALSE(IsLoopbackHost(no)) << no;
  }
}

}  // namespace
}  // namespace tessera
