#include "tessera/analytics/segments.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tessera/analytics/scores.h"
#include "tessera/common/civil_time.h"

namespace tessera::analytics {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

SegmentRules Defaults() {
  auto rules = SegmentRules::Default();
  EXPECT_TRUE(rules.ok()) << rules.status().ToString();
  return rules.ok() ? *rules : SegmentRules();
}

std::string ParseError(const std::string& toml) {
  auto rules = SegmentRules::Parse(toml, "rules.toml");
  EXPECT_FALSE(rules.ok()) << toml;
  if (rules.ok()) return "";
  EXPECT_EQ(rules.status().code(), StatusCode::kInvalidArgument);
  return rules.status().message();
}

std::string Rule(std::string_view key, std::string_view extra = "") {
  return fmt::format("[[segment]]\nkey = \"{}\"\n{}", key, extra);
}

// --- the default rules -----------------------------------------------------------------------

TEST(DefaultSegments, HaveNineSegmentsWithEnglishAndGermanNames) {
  const SegmentRules rules = Defaults();
  std::vector<std::string> keys, de;
  for (const auto& r : rules.rules()) {
    keys.push_back(r.key);
    de.push_back(r.name_de);
    EXPECT_FALSE(r.name_en.empty()) << r.key;
    EXPECT_GT(r.line, 0) << r.key;
  }
  EXPECT_THAT(keys, ElementsAre("champions", "loyal", "potential_loyalists", "new", "promising",
                                "cant_lose", "at_risk", "hibernating", "lost"));
  EXPECT_THAT(de, ::testing::IsSupersetOf({"Neukunden", "VIPs", "Wackelkandidaten"}));
  EXPECT_EQ(rules.rules()[0].Name(Lang::kDe), "VIPs");
  EXPECT_EQ(rules.rules()[0].Name(Lang::kEn), "Champions");
}

TEST(DefaultSegments, EveryScoreCombinationGetsTheFirstMatchingRule) {
  const SegmentRules rules = Defaults();
  const auto& list = rules.rules();
  std::vector<int> used(list.size(), 0);
  for (uint8_t r = 1; r <= 5; ++r) {
    for (uint8_t f = 1; f <= 5; ++f) {
      for (uint8_t m = 1; m <= 5; ++m) {
        size_t first = list.size();
        for (size_t i = 0; i < list.size(); ++i) {
          const SegmentRule& rule = list[i];
          if (r >= rule.recency.lo && r <= rule.recency.hi && f >= rule.frequency.lo &&
              f <= rule.frequency.hi && m >= rule.monetary.lo && m <= rule.monetary.hi) {
            first = i;
            break;
          }
        }
        ASSERT_LT(first, list.size()) << +r << +f << +m;
        EXPECT_EQ(rules.Assign(r, f, m), first) << +r << +f << +m;
        ++used[first];
      }
    }
  }
  // Every default segment is reachable, and the 125 combinations are all placed.
  for (size_t i = 0; i < list.size(); ++i) EXPECT_GT(used[i], 0) << list[i].key;
}

TEST(DefaultSegments, PlaceTypicalCustomersAsTheRuleFileSays) {
  const SegmentRules rules = Defaults();
  auto key = [&](int r, int f, int m) { return rules.rules()[rules.Assign(r, f, m)].key; };
  EXPECT_EQ(key(5, 5, 5), "champions");
  EXPECT_EQ(key(4, 4, 4), "champions");
  EXPECT_EQ(key(5, 5, 1), "loyal");
  EXPECT_EQ(key(3, 4, 5), "loyal");
  EXPECT_EQ(key(5, 3, 5), "potential_loyalists");
  EXPECT_EQ(key(3, 2, 1), "potential_loyalists");
  EXPECT_EQ(key(5, 1, 5), "new");
  EXPECT_EQ(key(4, 1, 1), "new");
  EXPECT_EQ(key(3, 1, 3), "promising");
  EXPECT_EQ(key(1, 5, 5), "cant_lose");
  EXPECT_EQ(key(2, 4, 4), "cant_lose");
  EXPECT_EQ(key(1, 5, 3), "at_risk");
  EXPECT_EQ(key(2, 3, 1), "at_risk");
  EXPECT_EQ(key(2, 1, 5), "hibernating");
  EXPECT_EQ(key(2, 2, 2), "hibernating");
  EXPECT_EQ(key(1, 2, 5), "lost");
  EXPECT_EQ(key(1, 1, 1), "lost");
}

TEST(SegmentRules, FindMatchesKeyAndBothNamesCaseInsensitively) {
  const SegmentRules rules = Defaults();
  EXPECT_EQ(rules.Find("champions"), 0);
  EXPECT_EQ(rules.Find("CHAMPIONS"), 0);
  EXPECT_EQ(rules.Find("vips"), 0);
  EXPECT_EQ(rules.Find("New customers"), 3);
  EXPECT_EQ(rules.Find("neukunden"), 3);
  EXPECT_EQ(rules.Find("WACKELKANDIDATEN"), 6);
  EXPECT_EQ(rules.Find("at_risk"), 6);
  EXPECT_EQ(rules.Find("Can't lose them"), 5);
  EXPECT_EQ(rules.Find("nobody"), -1);
  EXPECT_EQ(rules.Find(""), -1);
}

TEST(ParseLang, AcceptsEnAndDeOnly) {
  EXPECT_EQ(*ParseLang("en"), Lang::kEn);
  EXPECT_EQ(*ParseLang("de"), Lang::kDe);
  EXPECT_FALSE(ParseLang("fr").ok());
  EXPECT_FALSE(ParseLang("").ok());
}

// --- rule files ------------------------------------------------------------------------------

TEST(SegmentRules, MissingNamesFallBackToTheKeyAndTheEnglishName) {
  auto rules =
      SegmentRules::Parse(Rule("a", "en = \"Alpha\"\nrecency = 5\n") + Rule("rest"), "rules.toml");
  ASSERT_TRUE(rules.ok()) << rules.status().ToString();
  EXPECT_EQ(rules->rules()[0].name_de, "Alpha");
  EXPECT_EQ(rules->rules()[1].name_en, "rest");
  EXPECT_EQ(rules->rules()[1].name_de, "rest");
  EXPECT_EQ(rules->rules()[0].recency.lo, 5);
  EXPECT_EQ(rules->rules()[0].recency.hi, 5);
  EXPECT_EQ(rules->Assign(5, 1, 1), 0);
  EXPECT_EQ(rules->Assign(4, 5, 5), 1);
}

TEST(SegmentRules, RangesAcceptSpacesAndSingleScores) {
  auto rules = SegmentRules::Parse(
      Rule("a", "frequency = \" 2 - 4 \"\nmonetary = \"3\"\n") + Rule("rest"), "rules.toml");
  ASSERT_TRUE(rules.ok()) << rules.status().ToString();
  EXPECT_EQ(rules->rules()[0].frequency.lo, 2);
  EXPECT_EQ(rules->rules()[0].frequency.hi, 4);
  EXPECT_EQ(rules->Assign(1, 3, 3), 0);
  EXPECT_EQ(rules->Assign(1, 5, 3), 1);
}

TEST(SegmentRules, SyntaxErrorNamesLineAndColumn) {
  const std::string msg = ParseError("[[segment]]\nkey = \"a\"\nrecency = \"4-5\n");
  EXPECT_THAT(msg, StartsWith("rules.toml:3:"));
}

TEST(SegmentRules, UnknownKeyNamesItsLine) {
  const std::string msg = ParseError(Rule("a", "recncy = \"4-5\"\n") + Rule("rest"));
  EXPECT_THAT(msg, StartsWith("rules.toml:3:"));
  EXPECT_THAT(msg, HasSubstr("unknown key 'recncy'"));
  EXPECT_THAT(ParseError("title = \"x\"\n" + Rule("rest")), StartsWith("rules.toml:1:"));
}

TEST(SegmentRules, BadRangesNameTheirLine) {
  for (const char* bad : {"\"0-6\"", "\"5-1\"", "\"x\"", "\"1-\"", "\"6\"", "0", "6", "\"1-2-3\"",
                          "\"\"", "true", "3.0", "[1, 2]"}) {
    const std::string msg =
        ParseError(Rule("a", "en = \"A\"\nmonetary = " + std::string(bad) + "\n") + Rule("rest"));
    EXPECT_THAT(msg, StartsWith("rules.toml:4:")) << bad;
    EXPECT_THAT(msg, HasSubstr("monetary must be")) << bad;
  }
}

TEST(SegmentRules, DuplicateKeyNamesBothLines) {
  const std::string msg = ParseError(Rule("a", "recency = 5\n") + Rule("b", "recency = 4\n") +
                                     Rule("a") + Rule("rest"));
  EXPECT_THAT(msg, StartsWith("rules.toml:7:"));
  EXPECT_THAT(msg, HasSubstr("'a' is already used at line 1"));
}

TEST(SegmentRules, EmptyKeyOrNameIsAnError) {
  EXPECT_THAT(ParseError("[[segment]]\nen = \"A\"\n"), HasSubstr("segment has no key"));
  EXPECT_THAT(ParseError(Rule("")), HasSubstr("key must be a non-empty string"));
  EXPECT_THAT(ParseError(Rule("a", "de = 5\n")), HasSubstr("de must be a non-empty string"));
  EXPECT_THAT(ParseError("[[segment]]\nkey = 5\n"), HasSubstr("key must be a non-empty string"));
}

TEST(SegmentRules, RulesWithoutACatchAllAreRefusedNamingALine) {
  const std::string msg = ParseError(Rule("high", "recency = \"3-5\"\n") +
                                     Rule("low", "recency = \"1-2\"\nfrequency = \"2-5\"\n"));
  EXPECT_THAT(msg, StartsWith("rules.toml:4:"));
  EXPECT_THAT(msg, HasSubstr("unassigned"));
  EXPECT_THAT(msg, HasSubstr("recency 1, frequency 1"));
}

TEST(SegmentRules, ARuleAfterTheCatchAllIsUnreachable) {
  const std::string msg =
      ParseError(Rule("a", "recency = 5\n") + Rule("rest") + Rule("never", "recency = 1\n"));
  EXPECT_THAT(msg, StartsWith("rules.toml:6:"));
  EXPECT_THAT(msg, HasSubstr("'never' can never match"));
}

TEST(SegmentRules, ARuleCoveredByEarlierRulesIsUnreachable) {
  const std::string msg =
      ParseError(Rule("hi", "recency = \"3-5\"\n") + Rule("lo", "recency = \"1-2\"\n") +
                 Rule("mid", "recency = 3\nfrequency = 3\n") + Rule("rest"));
  EXPECT_THAT(msg, HasSubstr("'mid' can never match"));
  EXPECT_THAT(msg, StartsWith("rules.toml:7:"));
}

TEST(SegmentRules, AFileWithoutSegmentsIsAnError) {
  EXPECT_THAT(ParseError(""), HasSubstr("no [[segment]] rules"));
  EXPECT_THAT(ParseError("segment = 5\n"), HasSubstr("rules.toml"));
}

TEST(SegmentRules, LoadFileReadsAFileAndReportsAMissingOne) {
  const std::string path = ::testing::TempDir() + "/segments_test_rules.toml";
  {
    std::ofstream out(path);
    out << Rule("a", "recency = 5\n") << Rule("rest");
  }
  auto rules = SegmentRules::LoadFile(path);
  ASSERT_TRUE(rules.ok()) << rules.status().ToString();
  EXPECT_EQ(rules->rules().size(), 2u);
  auto missing = SegmentRules::LoadFile(::testing::TempDir() + "/segments_test_missing.toml");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

// --- the report ------------------------------------------------------------------------------

// Four segments by monetary score: big (5), mid (3-4), small (2), rest (anything else).
SegmentRules ReportRules() {
  auto rules = SegmentRules::Parse(
      Rule("big",
           "en = \"Big, spenders\"\nde = \"Gro\xC3\x9F\x65 \\\"Fische\\\"\"\nmonetary = 5\n") +
          Rule("mid", "en = \"Mid\"\nde = \"Mittel\"\nmonetary = \"3-4\"\n") +
          Rule("small", "en = \"Small\"\nde = \"Klein\"\nmonetary = 2\n") +
          Rule("rest", "en = \"Rest\"\nde = \"Rest\"\n"),
      "report.toml");
  EXPECT_TRUE(rules.ok()) << rules.status().ToString();
  return rules.ok() ? *rules : SegmentRules();
}

ProfileSet BaseSet() {
  ProfileSet set;
  set.as_of_day = DaysFromCivil(2024, 6, 30);
  set.window = *Window::Parse("12m");
  set.start_day = set.window.StartDay(set.as_of_day);
  set.currency = "EUR";
  set.currency_exponent = 2;
  return set;
}

void Add(ProfileSet* set, uint16_t segment, uint32_t orders, int64_t revenue_minor,
         int32_t recency) {
  Profile p;
  p.customer = static_cast<uint32_t>(set->profiles.size());
  p.segment = segment;
  p.order_count = orders;
  p.revenue_minor = revenue_minor;
  p.recency_days = recency;
  set->profiles.push_back(p);
}

int64_t Hundredths(double percent) { return std::llround(percent * 100); }

TEST(BuildReport, CountsAndAveragesPerSegment) {
  ProfileSet set = BaseSet();
  Add(&set, 1, 1, 1000, 1);  // mid: orders 1+2+4 = 7, revenue 60.00, recency 1+2+2 = 5
  Add(&set, 1, 2, 3000, 2);
  Add(&set, 1, 4, 2000, 2);
  Add(&set, 0, 3, 12345, 10);  // big
  const SegmentReport report = BuildReport(set, ReportRules(), Lang::kEn);
  EXPECT_EQ(report.as_of, "2024-06-30");
  EXPECT_EQ(report.window, "12m");
  EXPECT_EQ(report.window_start, "2023-07-01");
  EXPECT_EQ(report.currency, "EUR");
  EXPECT_EQ(report.customer_count, 4u);
  ASSERT_EQ(report.segments.size(), 4u);
  const SegmentStats& mid = report.segments[1];
  EXPECT_EQ(mid.key, "mid");
  EXPECT_EQ(mid.group, "Mid");
  EXPECT_EQ(mid.uuid_count, 3u);
  EXPECT_EQ(mid.sum_order_count, 7u);
  EXPECT_DOUBLE_EQ(mid.avg_order_count, 2.33);
  EXPECT_EQ(mid.sum_clv_minor, 6000);
  EXPECT_DOUBLE_EQ(mid.avg_clv, 20.00);  // major units
  EXPECT_DOUBLE_EQ(mid.avg_recency_days, 1.67);
  EXPECT_EQ(mid.median_clv_minor, 2000);
  const SegmentStats& big = report.segments[0];
  EXPECT_EQ(big.uuid_count, 1u);
  EXPECT_DOUBLE_EQ(big.avg_clv, 123.45);
  EXPECT_DOUBLE_EQ(big.avg_order_count, 3.0);
  EXPECT_DOUBLE_EQ(big.avg_recency_days, 10.0);
  EXPECT_EQ(Hundredths(mid.share_percent), 7500);
  EXPECT_EQ(Hundredths(big.share_percent), 2500);
  EXPECT_EQ(report.segments[2].uuid_count, 0u);
  EXPECT_EQ(Hundredths(report.segments[2].share_percent), 0);
}

TEST(BuildReport, AverageClvUsesTheCurrencyExponent) {
  ProfileSet set = BaseSet();
  set.currency = "JPY";
  set.currency_exponent = 0;
  Add(&set, 0, 1, 1500, 0);
  Add(&set, 0, 1, 1000, 0);
  const SegmentReport report = BuildReport(set, ReportRules(), Lang::kEn);
  EXPECT_DOUBLE_EQ(report.segments[0].avg_clv, 1250.0);
  EXPECT_EQ(report.segments[0].median_clv_minor, 1250);
}

TEST(BuildReport, SharesSumToExactlyOneHundredByLargestRemainder) {
  ProfileSet set = BaseSet();
  Add(&set, 0, 1, 100, 1);
  Add(&set, 1, 1, 100, 1);
  Add(&set, 3, 1, 100, 1);
  const SegmentReport report = BuildReport(set, ReportRules(), Lang::kEn);
  EXPECT_EQ(Hundredths(report.segments[0].share_percent), 3334);
  EXPECT_EQ(Hundredths(report.segments[1].share_percent), 3333);
  EXPECT_EQ(Hundredths(report.segments[2].share_percent), 0);
  EXPECT_EQ(Hundredths(report.segments[3].share_percent), 3333);
}

TEST(BuildReport, SharesSumToOneHundredForManySizes) {
  const SegmentRules rules = ReportRules();
  for (int n = 1; n <= 60; ++n) {
    ProfileSet set = BaseSet();
    for (int i = 0; i < n; ++i) Add(&set, static_cast<uint16_t>((i * i + i / 3) % 4), 1, 1, 1);
    const SegmentReport report = BuildReport(set, rules, Lang::kEn);
    int64_t total = 0;
    for (const auto& s : report.segments) {
      total += Hundredths(s.share_percent);
      // Each share is its exact share rounded down or up by at most one hundredth.
      const double exact = 10000.0 * static_cast<double>(s.uuid_count) / n;
      EXPECT_LE(std::abs(Hundredths(s.share_percent) - exact), 1.0) << n;
    }
    EXPECT_EQ(total, 10000) << n;
  }
}

TEST(BuildReport, LargestRemaindersGetTheSpareHundredths) {
  // 7 customers: 4, 2, 1 -> 5714.28.., 2857.14.., 1428.57.. hundredths; the floors sum to
  // 9999 and the largest remainder (.57 of small) gets the spare hundredth.
  ProfileSet set = BaseSet();
  for (int i = 0; i < 4; ++i) Add(&set, 0, 1, 1, 1);
  for (int i = 0; i < 2; ++i) Add(&set, 1, 1, 1, 1);
  Add(&set, 2, 1, 1, 1);
  const SegmentReport report = BuildReport(set, ReportRules(), Lang::kEn);
  EXPECT_EQ(Hundredths(report.segments[0].share_percent), 5714);
  EXPECT_EQ(Hundredths(report.segments[1].share_percent), 2857);
  EXPECT_EQ(Hundredths(report.segments[2].share_percent), 1429);
}

TEST(BuildReport, MedianOfAnOddCountIsTheMiddleValue) {
  ProfileSet set = BaseSet();
  for (int64_t v : {900, 100, 500, 300, 700}) Add(&set, 0, 1, v, 1);
  EXPECT_EQ(BuildReport(set, ReportRules(), Lang::kEn).segments[0].median_clv_minor, 500);
}

TEST(BuildReport, MedianOfAnEvenCountIsTheMeanOfTheMiddleTwo) {
  ProfileSet set = BaseSet();
  for (int64_t v : {400, 100, 300, 200}) Add(&set, 0, 1, v, 1);
  EXPECT_EQ(BuildReport(set, ReportRules(), Lang::kEn).segments[0].median_clv_minor, 250);
  ProfileSet odd_sum = BaseSet();
  for (int64_t v : {1, 4}) Add(&odd_sum, 0, 1, v, 1);
  EXPECT_EQ(BuildReport(odd_sum, ReportRules(), Lang::kEn).segments[0].median_clv_minor, 2);
}

TEST(BuildReport, MedianOfNegativeValuesRoundsTowardsZero) {
  ProfileSet set = BaseSet();
  for (int64_t v : {-3, 0}) Add(&set, 0, 1, v, 1);  // mean -1.5 -> -1
  EXPECT_EQ(BuildReport(set, ReportRules(), Lang::kEn).segments[0].median_clv_minor, -1);
  ProfileSet neg = BaseSet();
  for (int64_t v : {-5, -2, -9, -4}) Add(&neg, 0, 1, v, 1);  // middle -5, -4 -> -4.5 -> -4
  EXPECT_EQ(BuildReport(neg, ReportRules(), Lang::kEn).segments[0].median_clv_minor, -4);
}

TEST(BuildReport, GermanNamesWithLangDe) {
  ProfileSet set = BaseSet();
  Add(&set, 0, 1, 1, 1);
  const SegmentReport report = BuildReport(set, ReportRules(), Lang::kDe);
  EXPECT_EQ(report.segments[0].group, "Gro\xC3\x9F\x65 \"Fische\"");
  EXPECT_EQ(report.segments[1].group, "Mittel");
  EXPECT_EQ(report.segments[0].key, "big");
  const SegmentReport defaults = BuildReport(set, Defaults(), Lang::kDe);
  EXPECT_EQ(defaults.segments[0].group, "VIPs");
  EXPECT_EQ(defaults.segments[3].group, "Neukunden");
  EXPECT_EQ(defaults.segments[6].group, "Wackelkandidaten");
}

TEST(BuildReport, NoCustomersGiveZeroCountsAndNoShares) {
  const SegmentReport report = BuildReport(BaseSet(), ReportRules(), Lang::kEn);
  EXPECT_EQ(report.customer_count, 0u);
  ASSERT_EQ(report.segments.size(), 4u);
  for (const auto& s : report.segments) {
    EXPECT_EQ(s.uuid_count, 0u);
    EXPECT_EQ(s.share_percent, 0.0);
  }
}

TEST(SegmentReport, JsonListsEmptySegmentsWithNullAverages) {
  ProfileSet set = BaseSet();
  Add(&set, 0, 3, 12345, 10);
  Add(&set, 1, 1, 500, 3);
  Add(&set, 1, 2, 1500, 5);
  const auto j = nlohmann::json::parse(BuildReport(set, ReportRules(), Lang::kEn).ToJson());
  EXPECT_EQ(j["as_of"], "2024-06-30");
  EXPECT_EQ(j["window"]["length"], "12m");
  EXPECT_EQ(j["window"]["start"], "2023-07-01");
  EXPECT_EQ(j["window"]["end"], "2024-06-30");
  EXPECT_EQ(j["currency"], "EUR");
  EXPECT_EQ(j["customer_count"], 3);
  ASSERT_EQ(j["segments"].size(), 4u);
  const auto& big = j["segments"][0];
  EXPECT_EQ(big["key"], "big");
  EXPECT_EQ(big["group"], "Big, spenders");
  EXPECT_EQ(big["uuid_count"], 1);
  EXPECT_DOUBLE_EQ(big["avg_clv"].get<double>(), 123.45);
  EXPECT_DOUBLE_EQ(big["avg_order_count"].get<double>(), 3.0);
  EXPECT_DOUBLE_EQ(big["share_percent"].get<double>(), 33.33);
  EXPECT_EQ(big["sum_clv"], "123.45");
  EXPECT_EQ(big["sum_order_count"], 3);
  EXPECT_EQ(big["median_clv"], "123.45");
  const auto& mid = j["segments"][1];
  EXPECT_EQ(mid["uuid_count"], 2);
  EXPECT_DOUBLE_EQ(mid["avg_clv"].get<double>(), 10.0);
  EXPECT_DOUBLE_EQ(mid["avg_recency_days"].get<double>(), 4.0);
  EXPECT_DOUBLE_EQ(mid["share_percent"].get<double>(), 66.67);
  EXPECT_EQ(mid["median_clv"], "10.00");
  EXPECT_EQ(mid["sum_order_count"], 3);
  for (int i : {2, 3}) {
    const auto& empty = j["segments"][i];
    EXPECT_EQ(empty["uuid_count"], 0);
    EXPECT_TRUE(empty["avg_order_count"].is_null());
    EXPECT_TRUE(empty["avg_clv"].is_null());
    EXPECT_TRUE(empty["avg_recency_days"].is_null());
    EXPECT_TRUE(empty["median_clv"].is_null());
    EXPECT_DOUBLE_EQ(empty["share_percent"].get<double>(), 0.0);
    EXPECT_EQ(empty["sum_clv"], "0.00");
    EXPECT_EQ(empty["sum_order_count"], 0);
  }
}

TEST(SegmentReport, CsvHasAHeaderAndQuotesPerRfc4180) {
  ProfileSet set = BaseSet();
  Add(&set, 0, 3, 12345, 10);
  Add(&set, 1, 1, 100, 1);
  Add(&set, 3, 2, -250, 7);
  const std::string csv = BuildReport(set, ReportRules(), Lang::kEn).ToCsv();
  EXPECT_EQ(csv,
            "group,key,uuid_count,avg_order_count,avg_clv,avg_recency_days,share_percent,sum_clv,"
            "median_clv\r\n"
            "\"Big, spenders\",big,1,3.00,123.45,10.00,33.34,123.45,123.45\r\n"
            "Mid,mid,1,1.00,1.00,1.00,33.33,1.00,1.00\r\n"
            "Small,small,0,,,,0.00,0.00,\r\n"
            "Rest,rest,1,2.00,-2.50,7.00,33.33,-2.50,-2.50\r\n");
}

TEST(SegmentReport, CsvDoublesQuotesInsideQuotedCells) {
  ProfileSet set = BaseSet();
  Add(&set, 0, 1, 100, 1);
  const std::string csv = BuildReport(set, ReportRules(), Lang::kDe).ToCsv();
  EXPECT_THAT(csv, HasSubstr("\r\n\"Gro\xC3\x9F\x65 \"\"Fische\"\"\",big,1,"));
}

TEST(SegmentReport, TableShowsEverySegment) {
  ProfileSet set = BaseSet();
  Add(&set, 0, 1, 100, 1);
  const std::string table = BuildReport(set, Defaults(), Lang::kDe).ToTable();
  EXPECT_THAT(table, HasSubstr("2023-07-01 .. 2024-06-30"));
  EXPECT_THAT(table, HasSubstr("Winterschl\xC3\xA4"
                               "fer"));
  EXPECT_THAT(table, HasSubstr("Wackelkandidaten"));
}

TEST(AssignSegments, UsesTheScoresOfEachProfile) {
  const SegmentRules rules = Defaults();
  ProfileSet set = BaseSet();
  for (auto [r, f, m] : {std::tuple{5, 5, 5}, {4, 1, 2}, {1, 1, 1}}) {
    Profile p;
    p.r_score = static_cast<uint8_t>(r);
    p.f_score = static_cast<uint8_t>(f);
    p.m_score = static_cast<uint8_t>(m);
    set.profiles.push_back(p);
  }
  AssignSegments(rules, &set);
  EXPECT_EQ(set.profiles[0].segment, rules.Find("champions"));
  EXPECT_EQ(set.profiles[1].segment, rules.Find("new"));
  EXPECT_EQ(set.profiles[2].segment, rules.Find("lost"));
}

TEST(SegmentRules, RulesGivenAsValuesAreCheckedAsAFilesAre) {
  const SegmentRules shipped = *SegmentRules::Default();
  auto same = SegmentRules::FromRules(shipped.rules(), "the rules of snapshot 1");
  ASSERT_TRUE(same.ok()) << same.status().ToString();
  for (uint8_t r = 1; r <= 5; ++r) {
    for (uint8_t f = 1; f <= 5; ++f) {
      for (uint8_t m = 1; m <= 5; ++m) EXPECT_EQ(same->Assign(r, f, m), shipped.Assign(r, f, m));
    }
  }
  std::vector<SegmentRule> without_catch_all(shipped.rules().begin(), shipped.rules().end() - 1);
  auto open = SegmentRules::FromRules(without_catch_all, "the rules of snapshot 1");
  ASSERT_FALSE(open.ok());
  EXPECT_NE(open.status().message().find("the rules of snapshot 1:"), std::string::npos);
  std::vector<SegmentRule> bad = shipped.rules();
  bad[0].recency = {4, 6};
  EXPECT_EQ(SegmentRules::FromRules(bad, "x").status().code(), StatusCode::kInvalidArgument);
}

TEST(SegmentRules, SayWhichEarlierRulesTakeCustomersFirstAndHowManyCombinationsEachTakes) {
  const SegmentRules rules = *SegmentRules::Default();
  const int at_risk = rules.Find("at_risk"), cant_lose = rules.Find("cant_lose");
  EXPECT_EQ(rules.Preceding(static_cast<size_t>(at_risk)),
            (std::vector<size_t>{static_cast<size_t>(cant_lose)}));
  EXPECT_TRUE(rules.Preceding(0).empty());
  EXPECT_EQ(rules.Preceding(rules.rules().size() - 1).size(), rules.rules().size() - 1);
  EXPECT_EQ(rules.Combinations(0), 2 * 2 * 2);  // champions
  EXPECT_EQ(rules.Combinations(static_cast<size_t>(at_risk)), 2 * 3 * 5 - 2 * 2 * 2);
  int all = 0;
  for (size_t i = 0; i < rules.rules().size(); ++i) all += rules.Combinations(i);
  EXPECT_EQ(all, 125);
}

}  // namespace
}  // namespace tessera::analytics
