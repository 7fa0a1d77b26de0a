#include "tessera/io/mapping.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/test_support.h"
#include "tessera/io/columns.h"

namespace tessera::io {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsSupersetOf;
using ::testing::Not;

constexpr size_t Idx(Field f) { return static_cast<size_t>(f); }

const std::vector<std::string>& Columns(const Mapping& m, Field f) { return m.columns[Idx(f)]; }

// The source column a resolved field reads, or "" when unmapped.
std::string Selected(const ResolvedMapping& r, Field f) {
  const int i = r.index[Idx(f)];
  return i < 0 ? "" : r.selected[static_cast<size_t>(i)];
}

Mapping Generic() {
  auto m = LoadMapping("generic");
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return m.ok() ? *m : Mapping();
}

std::string ParseError(std::string_view toml) {
  auto m = ParseMapping(toml, "shop.toml");
  EXPECT_FALSE(m.ok()) << toml;
  if (m.ok()) return "";
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
  return m.status().message();
}

TEST(FieldName, NamesEveryFieldByItsMappingKey) {
  EXPECT_EQ(FieldName(Field::kOrderId), "order_id");
  EXPECT_EQ(FieldName(Field::kCustomerId), "customer_id");
  EXPECT_EQ(FieldName(Field::kOrderedAt), "ordered_at");
  EXPECT_EQ(FieldName(Field::kUnitPrice), "unit_price");
  EXPECT_EQ(FieldName(Field::kChannel), "channel");
  EXPECT_EQ(FieldName(Field::kPhone), "phone");
}

TEST(Presets, AllFourShipInTheBinary) {
  EXPECT_THAT(PresetNames(), IsSupersetOf({"generic", "online-retail", "cdnow", "cdnow-master"}));
  EXPECT_TRUE(EmbeddedConfig("mappings/generic.toml").has_value());
  EXPECT_TRUE(EmbeddedConfig("segments.toml").has_value());
  EXPECT_FALSE(EmbeddedConfig("mappings/nope.toml").has_value());
}

TEST(Presets, GenericRecognizesTheUsualHeaderNames) {
  const Mapping m = Generic();
  EXPECT_EQ(m.name, "generic");
  EXPECT_EQ(m.source.format, InputFormat::kAuto);
  EXPECT_EQ(m.source.csv.delimiter, 0);
  EXPECT_TRUE(m.source.csv.has_header);
  EXPECT_FALSE(m.level.has_value());
  EXPECT_FALSE(m.decimal_mark.has_value());
  EXPECT_EQ(Columns(m, Field::kCustomerId).front(), "customer_id");
  EXPECT_THAT(Columns(m, Field::kOrderedAt),
              IsSupersetOf({"ordered_at", "order_date", "date", "created_at"}));
  EXPECT_THAT(Columns(m, Field::kAmount), IsSupersetOf({"amount", "total"}));
  EXPECT_THAT(Columns(m, Field::kEmail), Contains("email"));
  EXPECT_THAT(Columns(m, Field::kPhone),
              IsSupersetOf({"phone", "phone_number", "mobile", "msisdn"}));
  EXPECT_FALSE(m.default_phone_country.has_value());  // the generic preset assumes no country
  EXPECT_FALSE(m.bare_phone_numbers_international);
  EXPECT_EQ(m.timestamp_format, "");
  EXPECT_EQ(m.timezone, "UTC");
  EXPECT_EQ(m.currency, "EUR");
  EXPECT_THAT(m.void_statuses, Contains("storniert"));
  EXPECT_THAT(m.credit_statuses, Contains("retoure"));
  EXPECT_THAT(m.ignore_statuses, Contains("pending"));
}

TEST(Presets, OnlineRetailIsLineLevelWithCancellationPrefix) {
  if (!std::filesystem::is_regular_file("/usr/share/zoneinfo/Europe/London")) {
    TESSERA_SKIP_OR_FAIL("the online-retail preset uses Europe/London, which needs tzdata");
  }
  auto m = LoadMapping("online-retail");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->level, RowLevel::kLine);
  EXPECT_EQ(m->decimal_mark, DecimalMark::kPoint);
  EXPECT_EQ(m->source.csv.delimiter, ',');
  EXPECT_EQ(m->cancel_prefix, "C");
  EXPECT_EQ(m->currency, "GBP");
  EXPECT_EQ(m->timezone, "Europe/London");
  EXPECT_EQ(m->timestamp_format, "%Y-%m-%d %H:%M:%S");
  EXPECT_THAT(Columns(*m, Field::kOrderId), ElementsAre("InvoiceNo"));
  EXPECT_THAT(Columns(*m, Field::kUnitPrice), ElementsAre("UnitPrice"));
  EXPECT_THAT(Columns(*m, Field::kAmount), ElementsAre());
}

TEST(Presets, CdnowIsWhitespaceSeparatedWithoutHeader) {
  auto m = LoadMapping("cdnow");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->source.format, InputFormat::kCsv);
  EXPECT_TRUE(m->source.csv.whitespace_separated);
  EXPECT_FALSE(m->source.csv.has_header);
  EXPECT_EQ(m->level, RowLevel::kOrder);
  EXPECT_THAT(Columns(*m, Field::kCustomerId), ElementsAre("1"));
  EXPECT_THAT(Columns(*m, Field::kOrderedAt), ElementsAre("3"));
  EXPECT_THAT(Columns(*m, Field::kAmount), ElementsAre("5"));
  EXPECT_EQ(m->timestamp_format, "%Y%m%d");
  EXPECT_EQ(m->currency, "USD");
  // The mapping resolves against the positional column names of a headerless file.
  auto r = ResolveMapping(*m, {"1", "2", "3", "4", "5"}, ' ');
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Selected(*r, Field::kAmount), "5");
  EXPECT_EQ(r->level, RowLevel::kOrder);
}

TEST(Presets, CdnowMasterReadsItsHeader) {
  auto m = LoadMapping("cdnow-master");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_TRUE(m->source.csv.whitespace_separated);
  EXPECT_TRUE(m->source.csv.has_header);
  EXPECT_THAT(Columns(*m, Field::kAmount), ElementsAre("dollar_value"));
  EXPECT_THAT(Columns(*m, Field::kOrderedAt), ElementsAre("date"));
}

TEST(LoadMapping, ReadsAFileByPath) {
  const std::string path = ::testing::TempDir() + "/mapping_test_shop.toml";
  {
    std::ofstream out(path);
    out << "[columns]\ncustomer_id = \"Kundennummer\"\nordered_at = \"Datum\"\n"
           "amount = \"Betrag\"\n[values]\ntimestamp_format = \"%d.%m.%Y\"\n";
  }
  auto m = LoadMapping(path);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->name, path);
  EXPECT_THAT(Columns(*m, Field::kCustomerId), ElementsAre("Kundennummer"));
  EXPECT_EQ(m->timestamp_format, "%d.%m.%Y");
  std::filesystem::remove(path);
}

TEST(LoadMapping, UnknownNameIsNotFoundAndListsThePresets) {
  auto m = LoadMapping("no-such-preset-or-file");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(m.status().message(), HasSubstr("generic"));
  EXPECT_THAT(m.status().message(), HasSubstr("online-retail"));
}

TEST(LoadMapping, ADirectoryIsNotAMappingFile) {
  auto m = LoadMapping(::testing::TempDir());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kNotFound);
}

TEST(ParseMapping, MinimalMappingHasTheDefaults) {
  auto m = ParseMapping("[columns]\ncustomer_id = \"kd\"\n", "shop.toml");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->name, "shop.toml");
  EXPECT_EQ(m->timezone, "UTC");
  EXPECT_TRUE(m->currency.empty());
  EXPECT_TRUE(Columns(*m, Field::kAmount).empty());
  EXPECT_THAT(Columns(*m, Field::kCustomerId), ElementsAre("kd"));
}

TEST(ParseMapping, TomlSyntaxErrorNamesLineAndColumn) {
  const std::string msg = ParseError("[columns]\ncustomer_id = \"kd\"\namount = \n");
  EXPECT_THAT(msg, HasSubstr("shop.toml:3:"));
  const std::string unterminated = ParseError("[source]\nformat = \"csv\n");
  EXPECT_THAT(unterminated, HasSubstr("shop.toml:2:"));
}

TEST(ParseMapping, UnknownSectionIsAnErrorWithItsLine) {
  const std::string msg = ParseError("# comment\n[colums]\ncustomer_id = \"kd\"\n");
  EXPECT_THAT(msg, HasSubstr("unknown section 'colums'"));
  EXPECT_THAT(msg, HasSubstr("shop.toml:2:"));
  EXPECT_THAT(ParseError("name = \"x\"\n"), HasSubstr("unknown section 'name'"));
}

TEST(ParseMapping, UnknownKeyIsAnErrorWithItsLine) {
  const std::string msg = ParseError("[source]\nformat = \"csv\"\ndelimter = \";\"\n");
  EXPECT_THAT(msg, HasSubstr("unknown key [source].delimter"));
  EXPECT_THAT(msg, HasSubstr("shop.toml:3:"));
  EXPECT_THAT(ParseError("[values]\ntz = \"UTC\"\n"), HasSubstr("unknown key [values].tz"));
}

TEST(ParseMapping, UnknownFieldIsAnErrorListingTheKnownOnes) {
  const std::string msg = ParseError("[columns]\ncustomer = \"kd\"\n");
  EXPECT_THAT(msg, HasSubstr("unknown field [columns].customer"));
  EXPECT_THAT(msg, HasSubstr("customer_id"));
  EXPECT_THAT(msg, HasSubstr("shop.toml:2:"));
}

TEST(ParseMapping, AcceptsTheKnownDelimiters) {
  for (const auto& [text, want] : std::vector<std::pair<std::string, char>>{
           {"\",\"", ','}, {"\";\"", ';'}, {"\"\\t\"", '\t'}, {"\"|\"", '|'}, {"\"auto\"", 0}}) {
    auto m = ParseMapping("[source]\ndelimiter = " + text + "\n", "shop.toml");
    ASSERT_TRUE(m.ok()) << text << ": " << m.status().ToString();
    EXPECT_EQ(m->source.csv.delimiter, want) << text;
  }
  auto ws = ParseMapping("[source]\ndelimiter = \"whitespace\"\n", "shop.toml");
  ASSERT_TRUE(ws.ok());
  EXPECT_TRUE(ws->source.csv.whitespace_separated);
}

TEST(ParseMapping, RejectsABadDelimiter) {
  for (const char* bad : {"\":\"", "\",,\"", "\"\"", "1", "true"}) {
    const std::string msg = ParseError(std::string("[source]\ndelimiter = ") + bad + "\n");
    EXPECT_THAT(msg, HasSubstr("delimiter must be")) << bad;
    EXPECT_THAT(msg, HasSubstr("shop.toml:2:")) << bad;
  }
}

TEST(ParseMapping, RejectsBadSourceValues) {
  EXPECT_THAT(ParseError("[source]\nformat = \"xml\"\n"), HasSubstr("format must be"));
  EXPECT_THAT(ParseError("[source]\nheader = \"yes\"\n"), HasSubstr("header must be"));
  EXPECT_THAT(ParseError("[source]\nheader = 1\n"), HasSubstr("header must be"));
  EXPECT_THAT(ParseError("[source]\nformat = 1\n"), HasSubstr("format must be"));
  EXPECT_THAT(ParseError("[source]\nlevel = \"item\"\n"), HasSubstr("level must be"));
  EXPECT_THAT(ParseError("[source]\ndecimal = \"dot\"\n"), HasSubstr("decimal must be"));
}

TEST(ParseMapping, ReadsSourceOptions) {
  auto m = ParseMapping(
      "[source]\nformat = \"jsonl\"\nheader = false\nlevel = \"line\"\ndecimal = \"comma\"\n",
      "shop.toml");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->source.format, InputFormat::kJsonLines);
  EXPECT_FALSE(m->source.csv.has_header);
  EXPECT_EQ(m->level, RowLevel::kLine);
  EXPECT_EQ(m->decimal_mark, DecimalMark::kComma);
}

TEST(ParseMapping, ColumnsTakeOneNameOrAListOfStrings) {
  auto m = ParseMapping("[columns]\nemail = [\"Mail\", \"E-Mail\"]\namount = \"Summe\"\n", "x");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_THAT(Columns(*m, Field::kEmail), ElementsAre("Mail", "E-Mail"));
  EXPECT_THAT(Columns(*m, Field::kAmount), ElementsAre("Summe"));
  EXPECT_THAT(ParseError("[columns]\namount = 5\n"), HasSubstr("amount must be a string"));
  EXPECT_THAT(ParseError("[columns]\namount = [\"a\", 5]\n"),
              HasSubstr("amount must list strings"));
}

TEST(ParseMapping, StatusListsAreLowerCased) {
  auto m = ParseMapping(
      "[values]\nvoid_statuses = [\"CANCELLED\", \"Storniert\"]\n"
      "credit_statuses = \"Retoure\"\n",
      "shop.toml");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_THAT(m->void_statuses, ElementsAre("cancelled", "storniert"));
  EXPECT_THAT(m->credit_statuses, ElementsAre("retoure"));
}

TEST(ParseMapping, ValuesMustBeStrings) {
  EXPECT_THAT(ParseError("[values]\ncurrency = 978\n"), HasSubstr("currency must be a string"));
  EXPECT_THAT(ParseError("[values]\ntimezone = 1\n"), HasSubstr("timezone must be a string"));
}

TEST(ParseMapping, ValidatesTheTimestampFormatAndZoneUpFront) {
  EXPECT_THAT(ParseError("[values]\ntimestamp_format = \"%d.%m.%Q\"\n"),
              HasSubstr("unknown field"));
  EXPECT_THAT(ParseError("[values]\ntimezone = \"Mars/Base\"\n"), HasSubstr("unknown time zone"));
}

TEST(ResolveMapping, MatchesHeadersCaseInsensitively) {
  auto r = ResolveMapping(Generic(), {"Order_ID", "CUSTOMER_ID", "Order_Date", "Total"}, ',');
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // The selection names the columns as the file spells them (they appear in rejects).
  EXPECT_EQ(Selected(*r, Field::kOrderId), "Order_ID");
  EXPECT_EQ(Selected(*r, Field::kCustomerId), "CUSTOMER_ID");
  EXPECT_EQ(Selected(*r, Field::kOrderedAt), "Order_Date");
  EXPECT_EQ(Selected(*r, Field::kAmount), "Total");
  EXPECT_EQ(Selected(*r, Field::kEmail), "");
  EXPECT_EQ(r->index[Idx(Field::kEmail)], -1);
  EXPECT_EQ(r->selected.size(), 4u);
}

TEST(ResolveMapping, FirstCandidatePresentWins) {
  // ordered_at candidates: ordered_at, order_date, date, ... — "date" comes after order_date.
  auto r = ResolveMapping(Generic(), {"date", "customer_id", "order_date", "amount"}, ',');
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Selected(*r, Field::kOrderedAt), "order_date");
  auto only_date = ResolveMapping(Generic(), {"date", "customer_id", "amount"}, ',');
  ASSERT_TRUE(only_date.ok());
  EXPECT_EQ(Selected(*only_date, Field::kOrderedAt), "date");
}

// A used column that appears twice is refused, naming both positions; an unused one that
// appears twice does no harm.
TEST(ResolveMapping, AColumnItUsesTwiceIsRefusedNamingBoth) {
  auto r = ResolveMapping(Generic(), {"order_id", "customer_id", "date", "Amount", "amount"}, ',');
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("column 'Amount' appears twice (columns 4 and 5)"),
            std::string::npos)
      << r.status().message();
  auto unused = ResolveMapping(Generic(), {"customer_id", "date", "amount", "note", "note"}, ',');
  EXPECT_TRUE(unused.ok()) << unused.status().ToString();
}

TEST(ResolveMapping, MissingFieldsAreNamedWithTheColumnsFound) {
  auto r = ResolveMapping(Generic(), {"Kunde", "Datum", "Betrag"}, ';');
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  const std::string& msg = r.status().message();
  EXPECT_THAT(msg, HasSubstr("customer_id, email or phone"));
  EXPECT_THAT(msg, HasSubstr("ordered_at"));
  EXPECT_THAT(msg, HasSubstr("amount or unit_price"));
  EXPECT_THAT(msg, HasSubstr("Columns found: Kunde, Datum, Betrag"));
  EXPECT_THAT(msg, HasSubstr("'generic'"));
}

TEST(ResolveMapping, AFirstRowOfDataIsNotEchoedAsColumns) {
  // A file without a header row: its first data row arrives as the "columns". Names without
  // digits ("Jane Doe") sit beside cells that give the row away as data.
  const std::vector<std::string> row{"K100", "Jane Doe", "jane@example.de", "2024-01-01", "12.50"};
  auto r = ResolveMapping(Generic(), row, ',');
  ASSERT_FALSE(r.ok());
  const std::string& msg = r.status().message();
  for (const std::string& cell : row) EXPECT_THAT(msg, Not(HasSubstr(cell))) << msg;
  EXPECT_THAT(msg, Not(HasSubstr("Jane")));
  EXPECT_THAT(msg, HasSubstr("5 columns in a first row that looks like data"));
  EXPECT_THAT(msg, HasSubstr("column 1: digits; column 3: an '@'; column 4: digits"));
  EXPECT_THAT(msg, HasSubstr("Does the file start with a header row?"));
}

TEST(DescribeColumns, ShowsHeaderNamesAndHidesEveryCellOfADataRow) {
  EXPECT_EQ(DescribeColumns({"Kunde", "Datum", "Betrag"}).text, "Kunde, Datum, Betrag");
  EXPECT_FALSE(DescribeColumns({"Kunde", "Datum", "Betrag"}).looks_like_data);
  EXPECT_EQ(DescribeColumns({"id", "total"}, /*quoted=*/true).text, "\"id\", \"total\"");
  EXPECT_EQ(DescribeColumns({}).text, "(none)");
  const auto one = DescribeColumns({std::string(65, 'x')});
  EXPECT_TRUE(one.looks_like_data);
  EXPECT_EQ(one.text,
            "1 column in a first row that looks like data, not a header (column 1: over 64 "
            "bytes); its values are not shown");
  std::vector<std::string> wide(9, "Jane Doe");
  for (size_t i = 1; i < wide.size(); ++i) wide[i] = "0" + std::to_string(i) + "5";
  const auto d = DescribeColumns(wide);
  EXPECT_THAT(d.text, Not(HasSubstr("Jane")));
  EXPECT_THAT(d.text, HasSubstr("column 6: digits; 3 more)"));
}

TEST(ResolveMapping, NamesOnlyTheFieldsThatAreMissing) {
  auto r = ResolveMapping(Generic(), {"email", "amount"}, ',');
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("no column for ordered_at."));
  EXPECT_THAT(r.status().message(), testing::Not(HasSubstr("customer_id, email or phone")));
  auto none = ResolveMapping(Generic(), {}, ',');
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.status().message(), HasSubstr("Columns found: (none)"));
}

TEST(ResolveMapping, EmailAloneIdentifiesTheCustomer) {
  auto r = ResolveMapping(Generic(), {"email", "created_at", "total"}, ',');
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Selected(*r, Field::kEmail), "email");
  EXPECT_EQ(r->index[Idx(Field::kCustomerId)], -1);
}

TEST(ResolveMapping, APhoneAloneIdentifiesTheCustomer) {
  for (const char* header : {"phone", "Phone_Number", "mobile", "MSISDN"}) {
    auto r = ResolveMapping(Generic(), {header, "created_at", "total"}, ',');
    ASSERT_TRUE(r.ok()) << header << ": " << r.status().ToString();
    EXPECT_EQ(Selected(*r, Field::kPhone), header);
  }
}

TEST(ParseMapping, ReadsThePhoneColumnAndDefaults) {
  auto m = ParseMapping(
      "[columns]\nphone = [\"Telefon\", \"Handy\"]\n"
      "[values]\ndefault_phone_country = \"de\"\nbare_phone_numbers = \"international\"\n",
      "shop.toml");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_THAT(Columns(*m, Field::kPhone), ElementsAre("Telefon", "Handy"));
  ASSERT_TRUE(m->default_phone_country.has_value());
  EXPECT_EQ(m->default_phone_country->calling_code, "49");
  EXPECT_EQ(m->default_phone_country->trunk_prefix, "0");
  EXPECT_TRUE(m->bare_phone_numbers_international);
  // A calling code, as a string or as a TOML integer.
  for (const char* value : {"\"49\"", "\"+49\"", "49"}) {
    auto by_code =
        ParseMapping(std::string("[values]\ndefault_phone_country = ") + value + "\n", "x");
    ASSERT_TRUE(by_code.ok()) << value << ": " << by_code.status().ToString();
    EXPECT_EQ(by_code->default_phone_country, (PhoneCountry{"49", "0"})) << value;
  }
  auto italy = ParseMapping("[values]\ndefault_phone_country = \"IT\"\n", "x");
  ASSERT_TRUE(italy.ok());
  EXPECT_EQ(italy->default_phone_country, (PhoneCountry{"39", ""}));  // Italy keeps its 0
}

TEST(ParseMapping, RejectsAnUnknownPhoneCountryWithItsLine) {
  const std::string msg =
      ParseError("[values]\ncurrency = \"EUR\"\ndefault_phone_country = \"XY\"\n");
  EXPECT_THAT(msg, HasSubstr("shop.toml:3:"));
  EXPECT_THAT(msg, HasSubstr("default_phone_country"));
  EXPECT_THAT(msg, HasSubstr("calling code"));
  EXPECT_THAT(ParseError("[values]\ndefault_phone_country = \"0049\"\n"),
              HasSubstr("default_phone_country"));
  EXPECT_THAT(ParseError("[values]\ndefault_phone_country = true\n"),
              HasSubstr("default_phone_country must be a string"));
  EXPECT_THAT(ParseError("[values]\nbare_phone_numbers = \"msisdn\"\n"),
              HasSubstr("bare_phone_numbers must be national or international"));
  EXPECT_THAT(ParseError("[columns]\ntelephone = \"x\"\n"), HasSubstr("phone"));
}

TEST(ResolveMapping, OrderLevelWithoutLineColumns) {
  auto r = ResolveMapping(Generic(), {"order_id", "customer_id", "date", "amount", "status"}, ',');
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->level, RowLevel::kOrder);
}

TEST(ResolveMapping, LineLevelWhenALineColumnIsPresent) {
  for (const char* line_column : {"quantity", "price", "sku", "category"}) {
    auto r =
        ResolveMapping(Generic(), {"order_id", "customer_id", "date", "amount", line_column}, ',');
    ASSERT_TRUE(r.ok()) << line_column;
    EXPECT_EQ(r->level, RowLevel::kLine) << line_column;
  }
  // A unit price stands in for the amount.
  auto r = ResolveMapping(Generic(), {"customer_id", "date", "qty", "unit_price"}, ',');
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->level, RowLevel::kLine);
}

TEST(ResolveMapping, ExplicitLevelWins) {
  Mapping m = Generic();
  m.level = RowLevel::kOrder;
  auto r = ResolveMapping(m, {"order_id", "customer_id", "date", "amount", "sku"}, ',');
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->level, RowLevel::kOrder);
}

TEST(ResolveMapping, DecimalMarkAutoIsCommaForSemicolonFiles) {
  const std::vector<std::string> cols = {"customer_id", "date", "amount"};
  EXPECT_EQ(ResolveMapping(Generic(), cols, ';')->decimal_mark, DecimalMark::kComma);
  EXPECT_EQ(ResolveMapping(Generic(), cols, ',')->decimal_mark, DecimalMark::kPoint);
  EXPECT_EQ(ResolveMapping(Generic(), cols, '\t')->decimal_mark, DecimalMark::kPoint);
  EXPECT_EQ(ResolveMapping(Generic(), cols, 0)->decimal_mark, DecimalMark::kPoint);
  Mapping point = Generic();
  point.decimal_mark = DecimalMark::kPoint;
  EXPECT_EQ(ResolveMapping(point, cols, ';')->decimal_mark, DecimalMark::kPoint);
  Mapping comma = Generic();
  comma.decimal_mark = DecimalMark::kComma;
  EXPECT_EQ(ResolveMapping(comma, cols, ',')->decimal_mark, DecimalMark::kComma);
}

}  // namespace
}  // namespace tessera::io
