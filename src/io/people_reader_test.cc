#include "tessera/io/people_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <fstream>
#include <string>
#include <vector>

namespace tessera::io {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsSupersetOf;
using ::testing::Not;

std::string WriteFile(const std::string& name, const std::string& text) {
  const std::string path =
      ::testing::TempDir() + "/people_reader_test_" + std::to_string(::getpid()) + "_" + name;
  std::ofstream out(path, std::ios::binary);
  out << text;
  return path;
}

Mapping Preset(const std::string& name) {
  auto m = LoadMapping(name);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return m.ok() ? *m : Mapping();
}

Mapping Parse(std::string_view toml) {
  auto m = ParseMapping(toml, "people.toml");
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return m.ok() ? *m : Mapping();
}

std::string ParseError(std::string_view toml) {
  auto m = ParseMapping(toml, "people.toml");
  EXPECT_FALSE(m.ok()) << toml;
  return m.ok() ? "" : m.status().message();
}

std::string ResolveError(const Mapping& m, const std::vector<std::string>& columns) {
  auto r = ResolvePeopleMapping(m, columns);
  EXPECT_FALSE(r.ok());
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  return r.status().message();
}

// One Next() result, copied out of the reader's buffer.
struct Got {
  PeopleReader::Result result = PeopleReader::Result::kEnd;
  uint64_t line = 0;
  std::string customer_id, email, phone;
  std::vector<std::string> attributes;
  Reject reject;
};

std::vector<Got> ReadAll(const std::string& path, const Mapping& mapping,
                         std::vector<std::string>* names = nullptr) {
  auto reader = PeopleReader::Open(path, mapping);
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  std::vector<Got> out;
  if (!reader.ok()) return out;
  if (names != nullptr) *names = (*reader)->attribute_names();
  for (;;) {
    PersonRow row;
    Got g;
    g.result = (*reader)->Next(&row, &g.reject);
    if (g.result == PeopleReader::Result::kEnd) break;
    if (g.result == PeopleReader::Result::kPerson) {
      g.line = row.line;
      g.customer_id = row.customer_id;
      g.email = row.email;
      g.phone = row.phone;
      for (auto v : row.attributes) g.attributes.emplace_back(v);
    }
    out.push_back(std::move(g));
  }
  return out;
}

TEST(Presets, PeopleAndSubscribersShipInTheBinary) {
  EXPECT_THAT(PresetNames(), IsSupersetOf({"people", "subscribers"}));
  const Mapping people = Preset("people");
  EXPECT_TRUE(people.attributes_from_other_columns);
  EXPECT_TRUE(people.attributes.empty());
  const Mapping subscribers = Preset("subscribers");
  ASSERT_EQ(subscribers.attributes.size(), 4u);
  EXPECT_EQ(subscribers.attributes[3].name, "home_region");
  EXPECT_THAT(subscribers.attributes[3].columns, ElementsAre("region"));
  EXPECT_TRUE(subscribers.default_phone_country.has_value());
}

TEST(IsAttributeName, TakesLowerCaseIdentifiersOnly) {
  EXPECT_TRUE(IsAttributeName("age_band"));
  EXPECT_TRUE(IsAttributeName("a1"));
  EXPECT_TRUE(IsAttributeName(std::string(64, 'a')));
  EXPECT_FALSE(IsAttributeName(std::string(65, 'a')));
  EXPECT_FALSE(IsAttributeName(""));
  EXPECT_FALSE(IsAttributeName("Age"));
  EXPECT_FALSE(IsAttributeName("1st"));
  EXPECT_FALSE(IsAttributeName("_x"));
  EXPECT_FALSE(IsAttributeName("age band"));
  EXPECT_FALSE(IsAttributeName("a;drop table x"));
  EXPECT_FALSE(IsAttributeName("\xc3\xa4lter"));
}

TEST(ParseMapping, AttributesTakeColumnsNamesAndOtherColumns) {
  const Mapping m = Parse(
      "[attributes]\ncolumns = [\"Age_Band\", \"tariff\"]\nhome_region = [\"region\", "
      "\"bundesland\"]\nother_columns = true\n");
  ASSERT_EQ(m.attributes.size(), 3u);
  EXPECT_EQ(m.attributes[0].name, "age_band");
  EXPECT_THAT(m.attributes[0].columns, ElementsAre("Age_Band"));
  EXPECT_EQ(m.attributes[1].name, "tariff");
  EXPECT_EQ(m.attributes[2].name, "home_region");
  EXPECT_THAT(m.attributes[2].columns, ElementsAre("region", "bundesland"));
  EXPECT_TRUE(m.attributes_from_other_columns);
  // An order mapping has none.
  EXPECT_TRUE(Preset("generic").attributes.empty());
  EXPECT_FALSE(Preset("generic").attributes_from_other_columns);
}

TEST(ParseMapping, RefusesBadAttributeNamesWithTheirLine) {
  EXPECT_THAT(ParseError("[attributes]\n\"Tariff Name\" = \"t\"\n"), HasSubstr("people.toml:2:"));
  EXPECT_THAT(ParseError("[attributes]\n\"Tariff Name\" = \"t\"\n"),
              HasSubstr("is no attribute name"));
  EXPECT_THAT(ParseError("[attributes]\ncolumns = [\"age band\"]\n"),
              HasSubstr("'age band' is no attribute name"));
  EXPECT_THAT(ParseError("[attributes]\ncolumns = [\"tariff\"]\ntariff = \"plan\"\n"),
              HasSubstr("attribute 'tariff' is named twice"));
  EXPECT_THAT(ParseError("[attributes]\nother_columns = \"yes\"\n"),
              HasSubstr("other_columns must be true or false"));
  EXPECT_THAT(ParseError("[attributes]\ntariff = 3\n"), HasSubstr("tariff must be"));
  EXPECT_THAT(ParseError("[attributes]\ntariff = []\n"), HasSubstr("names no column"));
  EXPECT_THAT(ParseError("[attribute]\nx = \"y\"\n"), HasSubstr("[attributes]"));
}

TEST(ParseMapping, RefusesMoreThanTheMostAttributes) {
  std::string toml = "[attributes]\ncolumns = [";
  for (size_t i = 0; i <= kMaxAttributes; ++i)
    toml += (i > 0 ? ", \"a" : "\"a") + std::to_string(i) + "\"";
  toml += "]\n";
  EXPECT_THAT(ParseError(toml), HasSubstr("more than 256 attributes"));
}

TEST(ResolvePeopleMapping, NeedsAnIdentifierAndNamesTheColumnsFound) {
  const std::string msg = ResolveError(Preset("people"), {"age_band", "tariff"});
  EXPECT_THAT(msg, HasSubstr("no column for customer_id, email or phone"));
  EXPECT_THAT(msg, HasSubstr("age_band, tariff"));
}

TEST(ResolvePeopleMapping, OtherColumnsBecomeAttributesNamedAsTheColumns) {
  auto r = ResolvePeopleMapping(Preset("people"), {"MSISDN", "Age_Band", "email", "tariff"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->identifier[0], -1);
  EXPECT_EQ(r->selected[static_cast<size_t>(r->identifier[1])], "email");
  EXPECT_EQ(r->selected[static_cast<size_t>(r->identifier[2])], "MSISDN");
  EXPECT_THAT(r->attribute_names, ElementsAre("age_band", "tariff"));
  EXPECT_EQ(r->selected[static_cast<size_t>(r->attribute_index[0])], "Age_Band");
}

TEST(ResolvePeopleMapping, IdentifierColumnsAreNeverAttributes) {
  // A second e-mail column that the mapping could read as an identifier stays out...
  auto r = ResolvePeopleMapping(Preset("people"), {"email", "e_mail", "tariff"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_THAT(r->attribute_names, ElementsAre("tariff"));
  // ... and naming it as an attribute is refused.
  const Mapping m =
      Parse("[columns]\nemail = [\"email\", \"e_mail\"]\n[attributes]\ncontact = \"e_mail\"\n");
  EXPECT_THAT(ResolveError(m, {"email", "e_mail"}),
              HasSubstr("column 'e_mail' cannot be attribute 'contact'"));
  // So is a column named as an identifier or a person's name, whatever the mapping reads.
  const Mapping phone_only = Parse("[columns]\nphone = \"phone\"\n[attributes]\nx = \"E-Mail\"\n");
  EXPECT_THAT(ResolveError(phone_only, {"phone", "E-Mail"}), HasSubstr("cannot be attribute 'x'"));
  auto others =
      ResolvePeopleMapping(Preset("people"), {"phone", "Name", "Street", "tariff", "IBAN"});
  ASSERT_TRUE(others.ok()) << others.status().ToString();
  EXPECT_THAT(others->attribute_names, ElementsAre("tariff"));
  const Mapping twice =
      Parse("[columns]\nphone = \"phone\"\n[attributes]\nplan = \"tariff\"\nplan2 = \"Tariff\"\n");
  EXPECT_THAT(ResolveError(twice, {"phone", "tariff"}), HasSubstr("cannot be attribute 'plan2'"));
}

TEST(ResolvePeopleMapping, AMappedAttributeMustFindItsColumn) {
  const std::string msg = ResolveError(Preset("subscribers"), {"phone", "age_band", "tariff"});
  EXPECT_THAT(msg, HasSubstr("no column 'device' for attribute 'device'"));
}

TEST(ResolvePeopleMapping, AColumnNameThatIsNoAttributeNameIsRefused) {
  EXPECT_THAT(ResolveError(Preset("people"), {"phone", "Age Band"}),
              HasSubstr("column 2 ('Age Band') is no attribute name"));
  // Two columns that lower-case to one name.
  EXPECT_THAT(ResolveError(Preset("people"), {"phone", "Tariff", "tariff"}),
              HasSubstr("two columns would be attribute 'tariff'"));
  // A first row of data is not echoed.
  const std::string data = ResolveError(Preset("people"), {"+4917012345678", "jane@example.com"});
  EXPECT_THAT(data, Not(HasSubstr("jane")));
  EXPECT_THAT(data, Not(HasSubstr("4917012345678")));
}

TEST(PeopleReader, ReadsIdentifiersAndAttributes) {
  const std::string path = WriteFile("basic.csv",
                                     "customer_id,email,phone,age_band,tariff\n"
                                     "K1, A@x.de ,,25-34,  Max \n"
                                     ",,+49 170 1234567,65+,\n");
  std::vector<std::string> names;
  const auto rows = ReadAll(path, Preset("people"), &names);
  EXPECT_THAT(names, ElementsAre("age_band", "tariff"));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].result, PeopleReader::Result::kPerson);
  EXPECT_EQ(rows[0].line, 2u);
  EXPECT_EQ(rows[0].customer_id, "K1");
  EXPECT_EQ(rows[0].email, "A@x.de");
  EXPECT_THAT(rows[0].attributes, ElementsAre("25-34", "Max"));
  EXPECT_EQ(rows[1].phone, "+49 170 1234567");
  EXPECT_THAT(rows[1].attributes, ElementsAre("65+", ""));
}

TEST(PeopleReader, RejectsARowWithoutIdentifierNamingItsLine) {
  const std::string path = WriteFile("noid.csv", "email,phone,tariff\n , ,Max\nb@x.de,,Basic\n");
  const auto rows = ReadAll(path, Preset("people"));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].result, PeopleReader::Result::kReject);
  EXPECT_EQ(rows[0].reject.reason_code, "missing_identifier");
  EXPECT_EQ(rows[0].reject.line, 2u);
  EXPECT_EQ(rows[1].result, PeopleReader::Result::kPerson);
}

TEST(PeopleReader, RejectsBadAndIdentifyingValuesWithoutRepeatingThem) {
  const std::string path = WriteFile("bad.csv",
                                     "phone,age_band,note\n"
                                     "+491701,25-34," +
                                         std::string(201, 'x') +
                                         "\n"
                                         "+491702,25-34,a\tb\n"
                                         "+491703,25-34,jane.doe@example.com\n"
                                         "+491704,25-34,+49 (170) 123-4567\n"
                                         "+491705,25-34,0049 170 1234567\n"
                                         "+491706,25-34," +
                                         std::string(200, 'y') +
                                         "\n"
                                         "+491707,1-2,65+\n");
  const auto rows = ReadAll(path, Preset("people"));
  ASSERT_EQ(rows.size(), 7u);
  const char* codes[] = {"bad_attribute", "bad_attribute", "identifier_in_attribute",
                         "identifier_in_attribute", "identifier_in_attribute"};
  for (size_t i = 0; i < 5; ++i) {
    ASSERT_EQ(rows[i].result, PeopleReader::Result::kReject) << i;
    EXPECT_EQ(rows[i].reject.reason_code, codes[i]) << i;
    EXPECT_EQ(rows[i].reject.column, 3u);
    EXPECT_EQ(rows[i].reject.column_name, "note");
    EXPECT_EQ(rows[i].reject.line, i + 2);
    EXPECT_THAT(rows[i].reject.reason, HasSubstr("note: "));
    EXPECT_THAT(rows[i].reject.reason, Not(HasSubstr("jane")));
    EXPECT_THAT(rows[i].reject.reason, Not(HasSubstr("1234567")));
    EXPECT_THAT(rows[i].reject.reason, Not(HasSubstr("xxx")));
  }
  EXPECT_EQ(rows[5].result, PeopleReader::Result::kPerson);
  EXPECT_EQ(rows[6].result, PeopleReader::Result::kPerson);
}

TEST(PeopleReader, ReadsJsonLinesAndGzip) {
  const std::string jsonl = WriteFile(
      "people.jsonl",
      "{\"email\":\"a@x.de\",\"tariff\":\"Max\"}\n{\"email\":\"b@x.de\",\"tariff\":null}\n");
  const auto rows = ReadAll(jsonl, Preset("people"));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_THAT(rows[0].attributes, ElementsAre("Max"));
  EXPECT_THAT(rows[1].attributes, ElementsAre(""));

  const std::string gz =
      ::testing::TempDir() + "/people_reader_test_" + std::to_string(::getpid()) + "_people.csv.gz";
  gzFile f = gzopen(gz.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  const std::string text = "phone,tariff\n+4917012345678,Plus\n";
  gzwrite(f, text.data(), static_cast<unsigned>(text.size()));
  gzclose(f);
  const auto zipped = ReadAll(gz, Preset("people"));
  ASSERT_EQ(zipped.size(), 1u);
  EXPECT_THAT(zipped[0].attributes, ElementsAre("Plus"));
}

TEST(PeopleReader, AHeaderOnlyFileHasNoRowsAndAnEmptyFileIsRefused) {
  EXPECT_TRUE(ReadAll(WriteFile("header.csv", "phone,tariff\n"), Preset("people")).empty());
  auto empty = PeopleReader::Open(WriteFile("empty.csv", ""), Preset("people"));
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), StatusCode::kInvalidArgument);
}

TEST(AttributeValueProblem, KeepsOrdinaryValues) {
  const char* code = nullptr;
  for (std::string_view v : {"25-34", "65+", "Süd", "Android other", "2024-06-30", "0170", "+49",
                             "a@b", "x @ y.z", "10+ GB"}) {
    EXPECT_EQ(AttributeValueProblem(v, &code), nullptr) << v;
  }
}

}  // namespace
}  // namespace tessera::io
