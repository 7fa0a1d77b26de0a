// Profiles on their way out (profile_rows.h): the rows the CLI and the API both write, the
// filter and the paging of /api/v1/profiles.

#include "tessera/analytics/profile_rows.h"

#include <gtest/gtest.h>

#include <tuple>

#include "tessera/common/civil_time.h"

namespace tessera::analytics {
namespace {

Snapshot TwoSegments() {
  Snapshot s;
  s.info.currency = "EUR";
  s.info.currency_exponent = 2;
  for (const auto& [key, en, de] : {std::tuple{"champions", "Champions", "VIPs"},
                                    std::tuple{"new", "New customers", "Neukunden"}}) {
    SnapshotSegment g;
    g.key = key;
    g.name_en = en;
    g.name_de = de;
    s.segments.push_back(g);
  }
  for (uint32_t i = 0; i < 5; ++i) {
    s.uuids.push_back(
        *privacy::Uuid::Parse(fmt::format("00000000-0000-4000-8000-00000000000{}", i)));
    Profile p;
    p.customer = i;
    p.order_count = i + 1;
    p.revenue_minor = 1001 * (i + 1);
    p.recency_days = 10 * static_cast<int32_t>(i);
    p.first_day = *ParseIsoDate("2026-01-01");
    p.last_day = *ParseIsoDate("2026-03-01");
    p.r_score = static_cast<uint8_t>(i + 1);
    p.f_score = 3;
    p.m_score = 3;
    p.segment = i % 2;
    s.profiles.push_back(p);
  }
  s.info.profile_count = s.profiles.size();
  return s;
}

TEST(ProfileRows, WritesTheSameFieldsAsCsvAndJsonInTheChosenLanguage) {
  const Snapshot s = TwoSegments();
  const ProfileRows de(s, Lang::kDe);
  EXPECT_EQ(de.CsvHeader(),
            "uuid,segment_key,segment,r_score,f_score,m_score,order_count,clv,avg_order_value,"
            "recency_days,first_order,last_order,currency\r\n");
  std::string csv;
  de.AppendCsv(s.profiles[1], &csv);
  EXPECT_EQ(csv,
            "00000000-0000-4000-8000-000000000001,new,Neukunden,2,3,3,2,20.02,10.01,10,"
            "2026-01-01,2026-03-01,EUR\r\n");
  const auto j = ProfileRows(s, Lang::kEn).Json(s.profiles[0]);
  EXPECT_EQ(j["segment"], "Champions");
  EXPECT_EQ(j["clv"], "10.01");
  EXPECT_EQ(j["avg_order_value"], "10.01");
  EXPECT_FALSE(j.contains("p_alive"));  // no predictions in this snapshot
}

TEST(ProfileRows, PredictionsAreRoundedAndEmptyForACustomerWithout) {
  Snapshot s = TwoSegments();
  s.info.prediction_models = "bgnbd+gg";
  s.profiles[0].p_alive = 0.123456;
  s.profiles[0].expected_purchases = 2.5;
  s.profiles[0].predicted_clv = 99.999;
  const ProfileRows rows(s, Lang::kEn);
  EXPECT_NE(rows.CsvHeader().find(",p_alive,expected_purchases,predicted_clv\r\n"),
            std::string::npos);
  std::string csv;
  rows.AppendCsv(s.profiles[0], &csv);
  EXPECT_NE(csv.find(",0.1235,2.5000,100.00\r\n"), std::string::npos) << csv;
  csv.clear();
  rows.AppendCsv(s.profiles[1], &csv);  // NaN: not predicted
  EXPECT_NE(csv.find(",EUR,,,\r\n"), std::string::npos) << csv;
  EXPECT_TRUE(rows.Json(s.profiles[1])["p_alive"].is_null());
  EXPECT_DOUBLE_EQ(rows.Json(s.profiles[0])["p_alive"].get<double>(), 0.1235);
}

TEST(ProfileRows, FindsASegmentByKeyOrEitherNameAndNamesTheKnownOnesOtherwise) {
  const Snapshot s = TwoSegments();
  EXPECT_EQ(*FindSegment(s, "NEW"), 1);
  EXPECT_EQ(*FindSegment(s, "vips"), 0);
  EXPECT_EQ(*FindSegment(s, "New Customers"), 1);
  const auto unknown = FindSegment(s, "sleepers");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("known: champions, new"), std::string::npos);
}

TEST(ProfileRows, PagesTheMatchingProfilesWithACursorToTheNextOne) {
  const Snapshot s = TwoSegments();
  ProfileFilter filter;
  filter.segment = 0;  // positions 0, 2, 4
  ProfilePage first = PageProfiles(s.profiles, filter, 0, 2);
  EXPECT_EQ(first.total, 3u);
  EXPECT_EQ(first.positions, (std::vector<size_t>{0, 2}));
  ASSERT_TRUE(first.next.has_value());
  EXPECT_EQ(*first.next, 4u);
  ProfilePage last = PageProfiles(s.profiles, filter, *first.next, 2);
  EXPECT_EQ(last.total, 3u);
  EXPECT_EQ(last.positions, (std::vector<size_t>{4}));
  EXPECT_FALSE(last.next.has_value());
  filter.r = {2, 3};  // and a score range: position 2 (r 3) only
  EXPECT_EQ(PageProfiles(s.profiles, filter, 0, 10).positions, (std::vector<size_t>{2}));
}

TEST(ProfileRows, SortsByAFieldEitherWayWithEqualValuesInCustomerOrder) {
  Snapshot s = TwoSegments();
  // CLV 10.01, 20.02, 30.03, 40.04, 50.05; two equal pairs of order counts.
  for (uint32_t i : {0u, 1u}) s.profiles[i].order_count = 7;
  for (uint32_t i : {3u, 4u}) s.profiles[i].order_count = 2;
  auto sort = [&](std::string_view text) {
    auto parsed = ProfileSort::Parse(text);
    EXPECT_TRUE(parsed.ok()) << text;
    return SortProfiles(s.profiles, *parsed);
  };
  EXPECT_EQ(sort("-clv"), (std::vector<uint32_t>{4, 3, 2, 1, 0}));
  EXPECT_EQ(sort("clv"), (std::vector<uint32_t>{0, 1, 2, 3, 4}));
  // Ties keep customer order in both directions.
  EXPECT_EQ(sort("order_count"), (std::vector<uint32_t>{3, 4, 2, 0, 1}));
  EXPECT_EQ(sort("-order_count"), (std::vector<uint32_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(sort("-recency_days"), (std::vector<uint32_t>{4, 3, 2, 1, 0}));
  EXPECT_EQ(ProfileSort::Parse("-avg_order_value")->ToString(), "-avg_order_value");
  EXPECT_EQ(ProfileSort().ToString(), "");
}

TEST(ProfileRows, ABadSortNamesEveryAllowedValue) {
  for (const char* bad : {"CLV", "--clv", "uuid", "", "clv desc"}) {
    const auto parsed = ProfileSort::Parse(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
    for (const std::string& allowed : ProfileSort::Allowed()) {
      EXPECT_NE(parsed.status().message().find(allowed), std::string::npos) << allowed;
    }
  }
  EXPECT_EQ(ProfileSort::Allowed().size(), 18u);
}

TEST(ProfileRows, PagesASortedListingByPlaceInIt) {
  const Snapshot s = TwoSegments();
  const auto order = SortProfiles(s.profiles, *ProfileSort::Parse("-clv"));  // 4 3 2 1 0
  ProfileFilter filter;
  filter.segment = 0;  // positions 0, 2, 4
  const ProfilePage first = PageProfiles(s.profiles, filter, 0, 2, order);
  EXPECT_EQ(first.total, 3u);
  EXPECT_EQ(first.positions, (std::vector<size_t>{4, 2}));
  ASSERT_TRUE(first.next.has_value());
  EXPECT_EQ(*first.next, 4u);  // the place of position 0 in the order
  const ProfilePage last = PageProfiles(s.profiles, filter, *first.next, 2, order);
  EXPECT_EQ(last.positions, (std::vector<size_t>{0}));
  EXPECT_FALSE(last.next.has_value());
}

}  // namespace
}  // namespace tessera::analytics
