#include "tessera/analytics/scores.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace tessera::analytics {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::IsEmpty;

std::vector<uint8_t> Scores(const std::vector<int64_t>& values) { return QuantileScores(values); }

// The rule of scores.h, computed the slow way: below(x) counts strictly smaller values.
std::vector<uint8_t> ReferenceScores(const std::vector<int64_t>& values) {
  const size_t n = values.size();
  std::vector<uint8_t> out;
  for (int64_t x : values) {
    size_t below = 0;
    for (int64_t y : values) below += y < x;
    out.push_back(static_cast<uint8_t>(std::min<size_t>(5, 1 + 5 * below / n)));
  }
  return out;
}

TEST(QuantileScores, NoValuesGiveNoScores) { EXPECT_THAT(Scores({}), IsEmpty()); }

TEST(QuantileScores, OneValueScoresOne) {
  EXPECT_THAT(Scores({42}), ElementsAre(1));
  EXPECT_THAT(Scores({-7}), ElementsAre(1));
}

TEST(QuantileScores, AllEqualValuesScoreOne) {
  EXPECT_THAT(Scores(std::vector<int64_t>(7, 3)), ElementsAreArray(std::vector<uint8_t>(7, 1)));
  EXPECT_THAT(Scores({0, 0}), ElementsAre(1, 1));
}

TEST(QuantileScores, SixtyPercentOneTimeBuyersAllScoreOneAndTheNextValueJumps) {
  // below(2) = 6 of 10 -> 1 + 30/10 = 4; below(4) = 8 -> 5.
  EXPECT_THAT(Scores({1, 1, 1, 1, 1, 1, 2, 3, 4, 5}), ElementsAre(1, 1, 1, 1, 1, 1, 4, 4, 5, 5));
  EXPECT_THAT(Scores({2, 1, 1, 1, 1, 1, 1, 2, 2, 2}), ElementsAre(4, 1, 1, 1, 1, 1, 1, 4, 4, 4));
}

TEST(QuantileScores, StrictlyIncreasingOneToTenScoresInPairs) {
  EXPECT_THAT(Scores({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}), ElementsAre(1, 1, 2, 2, 3, 3, 4, 4, 5, 5));
}

TEST(QuantileScores, ScoresFollowTheValuesNotTheirPositions) {
  EXPECT_THAT(Scores({10, 1, 9, 2, 8, 3, 7, 4, 6, 5}), ElementsAre(5, 1, 5, 1, 4, 2, 4, 2, 3, 3));
}

TEST(QuantileScores, NegativeValuesRankBelowPositiveOnes) {
  EXPECT_THAT(Scores({10, -10, 0, 5, -5}), ElementsAre(5, 1, 3, 4, 2));
  EXPECT_THAT(Scores({INT64_MIN, INT64_MAX, 0}), ElementsAre(1, 4, 2));
}

TEST(QuantileScores, FiveDistinctValuesScoreOneToFive) {
  EXPECT_THAT(Scores({50, 40, 30, 20, 10}), ElementsAre(5, 4, 3, 2, 1));
}

TEST(QuantileScores, ThousandDistinctValuesFillEachScoreEqually) {
  std::vector<int64_t> values(1000);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<int64_t>(i * 7919 % 1000);
  const auto scores = QuantileScores(values);
  for (uint8_t s = 1; s <= 5; ++s)
    EXPECT_EQ(std::count(scores.begin(), scores.end(), s), 200) << +s;
}

TEST(QuantileScores, MatchesTheDocumentedRuleOnRandomData) {
  std::mt19937_64 rng(20240601);
  for (int round = 0; round < 200; ++round) {
    const size_t n = 1 + rng() % 60;
    const int64_t spread = 1 + static_cast<int64_t>(rng() % 12);  // small: many ties
    std::vector<int64_t> values(n);
    for (auto& v : values) v = static_cast<int64_t>(rng() % spread) - spread / 2;
    EXPECT_EQ(QuantileScores(values), ReferenceScores(values)) << "round " << round;
  }
}

TEST(QuantileScores, EqualValuesAlwaysGetEqualScores) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 200; ++round) {
    const size_t n = 1 + rng() % 200;
    std::vector<int64_t> values(n);
    for (auto& v : values) v = static_cast<int64_t>(rng() % 9);
    const auto scores = QuantileScores(values);
    for (size_t i = 0; i < n; ++i) {
      for (size_t j = 0; j < n; ++j) {
        if (values[i] == values[j]) {
          ASSERT_EQ(scores[i], scores[j]) << "round " << round;
        }
      }
    }
  }
}

TEST(QuantileScores, ABetterValueNeverScoresLower) {
  std::mt19937_64 rng(11);
  for (int round = 0; round < 200; ++round) {
    const size_t n = 1 + rng() % 200;
    std::vector<int64_t> values(n);
    for (auto& v : values) v = static_cast<int64_t>(rng() % 1000) - 500;
    const auto scores = QuantileScores(values);
    for (size_t i = 0; i < n; ++i) {
      ASSERT_GE(scores[i], 1);
      ASSERT_LE(scores[i], 5);
      for (size_t j = 0; j < n; ++j) {
        if (values[i] > values[j]) {
          ASSERT_GE(scores[i], scores[j]) << "round " << round;
        }
      }
    }
  }
}

TEST(ScoreProfiles, FewerDaysSinceTheLastPurchaseIsABetterRecency) {
  ProfileSet set;
  // recency, orders, revenue per customer; each ranks the customers in a different order.
  const int32_t recency[] = {0, 10, 20, 30, 40};
  const uint32_t orders[] = {1, 2, 3, 4, 5};
  const int64_t revenue[] = {500, -100, 300, 200, 100};
  for (uint32_t c = 0; c < 5; ++c) {
    Profile p;
    p.customer = c;
    p.recency_days = recency[c];
    p.order_count = orders[c];
    p.revenue_minor = revenue[c];
    set.profiles.push_back(p);
  }
  ScoreProfiles(&set);
  std::vector<int> r, f, m;
  for (const Profile& p : set.profiles) {
    r.push_back(p.r_score);
    f.push_back(p.f_score);
    m.push_back(p.m_score);
  }
  EXPECT_THAT(r, ElementsAre(5, 4, 3, 2, 1));
  EXPECT_THAT(f, ElementsAre(1, 2, 3, 4, 5));
  EXPECT_THAT(m, ElementsAre(5, 1, 4, 3, 2));
}

TEST(ScoreProfiles, EmptySetStaysEmpty) {
  ProfileSet set;
  ScoreProfiles(&set);
  EXPECT_THAT(set.profiles, IsEmpty());
}

}  // namespace
}  // namespace tessera::analytics
