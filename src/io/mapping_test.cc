#include "tessera/io/mapping.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/test_support.h"
#include "tessera/common/text.h"
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
  auto r = ResolveMapping(Generic(), {"Kunde", "Zeitpunkt", "Summe"}, ';');
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  const std::string& msg = r.status().message();
  EXPECT_THAT(msg, HasSubstr("customer_id, email or phone"));
  EXPECT_THAT(msg, HasSubstr("ordered_at"));
  EXPECT_THAT(msg, HasSubstr("amount, order_total or unit_price"));
  EXPECT_THAT(msg, HasSubstr("Columns found: Kunde, Zeitpunkt, Summe"));
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

// The header rows each shop system's documented export has (see the presets' comments for the
// sources), split at their delimiter.
std::vector<std::string> Split(std::string_view header, char delimiter) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i <= header.size(); ++i) {
    if (i == header.size() || header[i] == delimiter) {
      out.emplace_back(header.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

const std::vector<std::pair<std::string, std::vector<std::string>>>& DocumentedHeaders() {
  static const auto* headers = new std::vector<std::pair<std::string, std::vector<std::string>>>{
      {"shopify",
       Split("Name,Email,Financial Status,Paid at,Fulfillment Status,Fulfilled at,Accepts "
             "Marketing,Currency,Subtotal,Shipping,Taxes,Total,Discount Code,Discount Amount,"
             "Shipping Method,Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem "
             "compare at price,Lineitem sku,Lineitem requires shipping,Lineitem taxable,Lineitem "
             "fulfillment status,Billing Name,Billing Street,Billing Address1,Billing Address2,"
             "Billing Company,Billing City,Billing Zip,Billing Province,Billing Country,Billing "
             "Phone,Shipping Name,Shipping Street,Shipping Address1,Shipping Address2,Shipping "
             "Company,Shipping City,Shipping Zip,Shipping Province,Shipping Country,Shipping "
             "Phone,Notes,Note Attributes,Cancelled at,Payment Method,Payment Reference,Refunded "
             "Amount,Vendor,Outstanding Balance,Employee,Location,Device ID,Id,Tags,Risk Level,"
             "Source,Lineitem discount,Tax 1 Name,Tax 1 Value,Tax 2 Name,Tax 2 Value,Phone,"
             "Receipt Number,Duties,Billing Province Name,Shipping Province Name,Payment ID,"
             "Payment Terms Name,Next Payment Due At,Payment References",
             ',')},
      {"woocommerce",
       Split("order_id,order_number,order_number_formatted,date,status,shipping_total,"
             "shipping_tax_total,fee_total,fee_tax_total,tax_total,discount_total,order_total,"
             "refunded_total,order_currency,payment_method,shipping_method,customer_id,"
             "billing_first_name,billing_last_name,billing_company,billing_email,billing_phone,"
             "billing_address_1,billing_address_2,billing_postcode,billing_city,billing_state,"
             "billing_country,shipping_first_name,shipping_last_name,shipping_address_1,"
             "shipping_address_2,shipping_postcode,shipping_city,shipping_state,shipping_country,"
             "shipping_company,customer_note,line_items,shipping_items,fee_items,tax_items,"
             "coupon_items,refunds,order_notes,download_permissions_granted",
             ',')},
      {"woocommerce",  // "Default - One Row per Item"
       Split("order_id,order_number,date,status,shipping_total,shipping_tax_total,fee_total,"
             "fee_tax_total,tax_total,discount_total,order_total,refunded_total,order_currency,"
             "payment_method,shipping_method,customer_id,billing_first_name,billing_last_name,"
             "billing_company,billing_email,billing_phone,billing_address_1,billing_address_2,"
             "billing_postcode,billing_city,billing_state,billing_country,shipping_first_name,"
             "shipping_last_name,shipping_address_1,shipping_address_2,shipping_postcode,"
             "shipping_city,shipping_state,shipping_country,shipping_company,customer_note,"
             "item_id,item_product_id,item_name,item_sku,item_price,item_quantity,item_subtotal,"
             "item_subtotal_tax,item_total,item_total_tax,item_refunded,item_refunded_qty,"
             "item_meta,shipping_items,fee_items,tax_items,coupon_items,order_notes,"
             "download_permissions_granted",
             ',')},
      {"shopware6",
       Split("id;order_number;sales_channel_id;customer_firstname;customer_lastname;"
             "customer_email;billing_address_street;billing_address_zipcode;billing_address_city;"
             "billing_address_company;billing_address_department;billing_address_country_id;"
             "billing_address_country_state_id;shipping_address_street;shipping_address_zipcode;"
             "shipping_address_city;shipping_address_company;shipping_address_department;"
             "shipping_address_country_id;shipping_address_country_state_id;amount_total;"
             "order_state_id;line_items;order_date_time",
             ';')},
      {"magento2",
       Split("ID,Purchase Point,Purchase Date,Bill-to Name,Ship-to Name,Grand Total (Base),Grand "
             "Total (Purchased),Status,Billing Address,Shipping Address,Shipping Information,"
             "Customer Email,Customer Group,Subtotal,Shipping and Handling,Customer Name,Payment "
             "Method,Total Refunded",
             ',')},
  };
  return *headers;
}

TEST(DetectPreset, EachShopExportIsRecognizedAsItsOwnPresetAndNoOther) {
  for (const auto& [preset, header] : DocumentedHeaders()) {
    auto found = DetectPreset(header);
    ASSERT_TRUE(found.ok()) << preset << ": " << found.status().ToString();
    EXPECT_EQ(found->value_or("(none)"), preset);
    // Case and blanks around the names do not matter.
    std::vector<std::string> shouted;
    for (const auto& c : header) shouted.push_back(" " + AsciiLower(c) + " ");
    EXPECT_EQ(DetectPreset(shouted)->value_or("(none)"), preset);
    // Every preset resolves its own export, which has what an order needs.
    auto m = LoadMapping(preset);
    ASSERT_TRUE(m.ok());
    auto r = ResolveMapping(*m, header, preset == "shopware6" ? ';' : ',');
    EXPECT_TRUE(r.ok()) << preset << ": " << r.status().ToString();
  }
}

TEST(DetectPreset, EveryPresetThatDetectsNamesOnlyColumnsItsExportHas) {
  // A detect column no documented header has would make the preset unreachable.
  for (const std::string& name : PresetNames()) {
    auto m = LoadMapping(name);
    ASSERT_TRUE(m.ok());
    if (m->detect.empty()) continue;
    bool reachable = false;
    for (const auto& [preset, header] : DocumentedHeaders()) reachable |= preset == name;
    EXPECT_TRUE(reachable) << name << " detects files but has no documented header in this test";
  }
}

TEST(DetectPreset, OtherHeadersGetTheGenericPath) {
  for (const std::vector<std::string>& header : std::vector<std::vector<std::string>>{
           {"order_id", "customer_id", "email", "order_date", "amount", "currency"},
           {"Bestellnummer", "Kundennummer", "E-Mail", "Bestelldatum", "Betrag", "W\xC3\xA4hrung"},
           {"InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
            "CustomerID", "Country"},
           // Most of a Shopify header, but not its line items: not a Shopify export.
           {"Name", "Email", "Financial Status", "Created at", "Total"},
           {}}) {
    auto found = DetectPreset(header);
    ASSERT_TRUE(found.ok()) << found.status().ToString();
    EXPECT_FALSE(found->has_value()) << **found;
  }
}

TEST(DetectPreset, AHeaderWithTwoExportsColumnsIsAmbiguous) {
  std::vector<std::string> both = DocumentedHeaders()[0].second;  // shopify
  const auto& magento = DocumentedHeaders().back().second;
  for (const auto& c : magento) {
    if (std::find(both.begin(), both.end(), c) == both.end()) both.push_back(c);
  }
  auto found = DetectPreset(both);
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(found.status().message(), HasSubstr("more than one preset (magento2, shopify)"));
}

TEST(ChooseOrderPreset, FilesOfOneExportOrOfNone) {
  const std::filesystem::path dir = ::testing::TempDir();
  std::ofstream(dir / "shop1.csv") << "Name,Financial Status,Created at,Lineitem quantity,"
                                      "Lineitem price,Email,Total\n";
  std::ofstream(dir / "shop2.csv") << "Name,Financial Status,Created at,Lineitem quantity,"
                                      "Lineitem price,Email,Total\n";
  std::ofstream(dir / "plain.csv") << "order_id,email,date,amount\n";
  const auto path = [&](const char* f) { return (dir / f).string(); };
  auto shop = ChooseOrderPreset(std::vector<std::string>{path("shop1.csv"), path("shop2.csv")});
  ASSERT_TRUE(shop.ok());
  EXPECT_EQ(shop->name, "shopify");
  EXPECT_TRUE(shop->detected);
  auto plain = ChooseOrderPreset(std::vector<std::string>{path("plain.csv"), "-"});
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->name, "generic");
  EXPECT_FALSE(plain->detected);
  // A missing file is left to the load, which names it.
  EXPECT_EQ(ChooseOrderPreset(std::vector<std::string>{path("missing.csv")})->name, "generic");
  auto mixed = ChooseOrderPreset(std::vector<std::string>{path("shop1.csv"), path("plain.csv")});
  ASSERT_FALSE(mixed.ok());
  EXPECT_THAT(mixed.status().message(), HasSubstr("is a shopify export but"));
  EXPECT_THAT(mixed.status().message(), HasSubstr("plain.csv is not"));
}

TEST(ParseMapping, ReadsDetectAndOrderFields) {
  auto m = ParseMapping(
      "[source]\ndetect = [\"A\", \"B\"]\norder_fields = \"first_line\"\n"
      "[columns]\norder_total = \"T\"\nrefunded_amount = \"R\"\ncancelled_at = \"C\"\n",
      "x.toml");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_THAT(m->detect, ElementsAre("A", "B"));
  EXPECT_TRUE(m->order_fields_on_first_line);
  EXPECT_THAT(Columns(*m, Field::kOrderTotal), ElementsAre("T"));
  EXPECT_THAT(Columns(*m, Field::kRefundedAmount), ElementsAre("R"));
  EXPECT_THAT(Columns(*m, Field::kCancelledAt), ElementsAre("C"));
  EXPECT_THAT(ParseError("[source]\norder_fields = \"some\"\n"),
              HasSubstr("order_fields must be every_line or first_line"));
}

TEST(Presets, GenericReadsGermanColumnNames) {
  auto r = ResolveMapping(Generic(),
                          {"Bestellnummer", "Kundennummer", "E-Mail", "Bestelldatum", "Menge",
                           "Einzelpreis", "W\xC3\xA4hrung", "Status", "Artikelnummer", "Kategorie",
                           "Filiale", "Kanal", "Gutscheincode"},
                          ';');
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Selected(*r, Field::kOrderId), "Bestellnummer");
  EXPECT_EQ(Selected(*r, Field::kCustomerId), "Kundennummer");
  EXPECT_EQ(Selected(*r, Field::kEmail), "E-Mail");
  EXPECT_EQ(Selected(*r, Field::kOrderedAt), "Bestelldatum");
  EXPECT_EQ(Selected(*r, Field::kQuantity), "Menge");
  EXPECT_EQ(Selected(*r, Field::kUnitPrice), "Einzelpreis");
  EXPECT_EQ(Selected(*r, Field::kCurrency), "W\xC3\xA4hrung");
  EXPECT_EQ(Selected(*r, Field::kStatus), "Status");
  EXPECT_EQ(Selected(*r, Field::kSku), "Artikelnummer");
  EXPECT_EQ(Selected(*r, Field::kCategory), "Kategorie");
  EXPECT_EQ(Selected(*r, Field::kStore), "Filiale");
  EXPECT_EQ(Selected(*r, Field::kChannel), "Kanal");
  EXPECT_EQ(r->level, RowLevel::kLine);
  EXPECT_EQ(r->decimal_mark, DecimalMark::kComma);
  auto totals = ResolveMapping(Generic(), {"Kundennummer", "Datum", "Gesamtbetrag", "Betrag"}, ';');
  ASSERT_TRUE(totals.ok());
  EXPECT_EQ(Selected(*totals, Field::kAmount), "Gesamtbetrag");
}

}  // namespace
}  // namespace tessera::io
