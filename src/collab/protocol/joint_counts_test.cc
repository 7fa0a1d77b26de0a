// Joint audience counts (joint_counts.h): what the join worker releases, and the contributions
// it reads from the wire.

#include "tessera/collab/joint_counts.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

namespace tessera::collab {
namespace {

std::vector<uint8_t> Bytes(const std::string& s) { return {s.begin(), s.end()}; }

// Owner A: 6 positions, audience = even positions, age band by position.
Contribution OwnerA() {
  Contribution a;
  a.in_audience = {true, false, true, false, true, true};
  a.dimensions.push_back(Dimension{"age_band", {"18-34", "35+"}, {1, 1, 2, 0, 2, 1}});
  return a;
}
// Owner B: 5 positions, all in its audience but position 4, tariff by position.
Contribution OwnerB() {
  Contribution b;
  b.in_audience = {true, true, true, true, false};
  b.dimensions.push_back(Dimension{"tariff", {"prepaid", "contract"}, {2, 1, 2, 2, 1}});
  return b;
}

std::map<std::vector<std::string>, int64_t> Cells(const JointCounts& c) {
  std::map<std::vector<std::string>, int64_t> out;
  for (const auto& cell : c.cells) out[cell.labels] = cell.count;
  return out;
}

TEST(CountJoint, CountsMatchedPairsBothAudiencesAdmitByTwoDimensions) {
  // Pairs (a, b): (0,0) both in, 18-34 x contract; (2,1) 35+ x prepaid; (4,2) 35+ x contract;
  // (5,3) 18-34 x contract; (1,?) A not in audience; (3,?) A has no age band; (?,4) B out.
  const std::vector<MatchedPair> pairs = {{0, 0}, {1, 3}, {2, 1}, {3, 2}, {4, 2}, {5, 3}};
  // {1,3} is dropped (A's position 1 is not in its audience); {3,2} has no age band.
  SeededRandom random(uint64_t{1});
  auto counts = CountJoint(pairs, OwnerA(), OwnerB(), JointCountQuery{1, std::nullopt}, random);
  ASSERT_TRUE(counts.ok()) << counts.status().message();
  EXPECT_EQ(counts->dimensions, (std::vector<std::string>{"a.age_band", "b.tariff"}));
  const std::map<std::vector<std::string>, int64_t> expected = {
      {{"18-34", "contract"}, 2}, {{"35+", "prepaid"}, 1}, {{"35+", "contract"}, 1}};
  EXPECT_EQ(Cells(*counts), expected);
  EXPECT_EQ(counts->filtered_cells, 1u);  // 18-34 x prepaid: 0 < k_min 1
  EXPECT_EQ(counts->noise, "none");
  // k_min 2 keeps one cell and counts three as filtered.
  auto strict = CountJoint(pairs, OwnerA(), OwnerB(), JointCountQuery{2, std::nullopt}, random);
  ASSERT_TRUE(strict.ok());
  EXPECT_EQ(Cells(*strict),
            (std::map<std::vector<std::string>, int64_t>{{{"18-34", "contract"}, 2}}));
  EXPECT_EQ(strict->filtered_cells, 3u);
}

TEST(CountJoint, WithoutDimensionsItIsTheAudienceOverlap) {
  Contribution a = OwnerA(), b = OwnerB();
  a.dimensions.clear();
  b.dimensions.clear();
  SeededRandom random(uint64_t{1});
  auto counts =
      CountJoint(std::vector<MatchedPair>{{0, 0}, {2, 1}, {1, 2}, {4, 4}}, a, b, {1, {}}, random);
  ASSERT_TRUE(counts.ok());
  ASSERT_EQ(counts->cells.size(), 1u);
  EXPECT_TRUE(counts->cells[0].labels.empty());
  EXPECT_EQ(counts->cells[0].count, 2);  // (1,2): A out; (4,4): B out
}

TEST(CountJoint, NoiseIsExactIntegerLaplaceOnEveryCellBeforeTheThreshold) {
  // 300 pairs in one cell of a 2-cell breakdown: the empty cell is noised too and stays under
  // k_min 100 with overwhelming probability; the full one moves by the noise.
  Contribution a, b;
  a.in_audience.assign(300, true);
  b.in_audience.assign(300, true);
  a.dimensions.push_back(Dimension{"region", {"north", "south"}, std::vector<uint16_t>(300, 1)});
  std::vector<MatchedPair> pairs;
  for (uint32_t i = 0; i < 300; ++i) pairs.push_back({i, i});
  SeededRandom random(uint64_t{7});
  double sum = 0, sum_sq = 0;
  const int runs = 2000;
  bool moved = false;
  for (int i = 0; i < runs; ++i) {
    auto c = CountJoint(pairs, a, b, JointCountQuery{100, 1'000'000}, random);  // ε = 1
    ASSERT_TRUE(c.ok());
    ASSERT_EQ(c->cells.size(), 1u);
    EXPECT_EQ(c->filtered_cells, 1u);
    const double noise = static_cast<double>(c->cells[0].count - 300);
    moved = moved || noise != 0;
    sum += noise;
    sum_sq += noise * noise;
    EXPECT_EQ(c->noise, "discrete_laplace(scale=1/1)");
  }
  EXPECT_TRUE(moved);
  // Discrete Laplace of scale 1: mean 0, variance 2e/(e-1)^2 = 1.8410.
  EXPECT_NEAR(sum / runs, 0.0, 5 * std::sqrt(1.841 / runs));
  EXPECT_NEAR(sum_sq / runs, 1.841, 0.25);
}

TEST(CountJoint, RefusesWhatDoesNotFit) {
  SeededRandom random(uint64_t{1});
  Contribution a = OwnerA(), b = OwnerB();
  EXPECT_FALSE(CountJoint(std::vector<MatchedPair>{{6, 0}}, a, b, {1, {}}, random).ok());
  EXPECT_FALSE(CountJoint({}, a, b, {0, {}}, random).ok());           // k_min 0
  EXPECT_FALSE(CountJoint({}, a, b, {1, uint64_t{0}}, random).ok());  // ε 0
  a.dimensions.push_back(Dimension{"x", {"1"}, std::vector<uint16_t>(6, 1)});
  EXPECT_FALSE(CountJoint({}, a, b, {1, {}}, random).ok());  // three dimensions
}

TEST(Contribution, RoundTripsOnTheWire) {
  Contribution a = OwnerA();
  a.session = *NewPsiSessionId();
  auto bytes = EncodeContribution(a);
  ASSERT_TRUE(bytes.ok()) << bytes.status().message();
  auto back = ParseContribution(Bytes(*bytes));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->session, a.session);
  EXPECT_EQ(back->in_audience, a.in_audience);
  ASSERT_EQ(back->dimensions.size(), 1u);
  EXPECT_EQ(back->dimensions[0].name, "age_band");
  EXPECT_EQ(back->dimensions[0].labels, a.dimensions[0].labels);
  EXPECT_EQ(back->dimensions[0].codes, a.dimensions[0].codes);
}

TEST(Contribution, RefusesEveryMalformedOne) {
  const std::string good = *EncodeContribution(OwnerA());
  auto refused = [](std::string bytes, const std::string& why) {
    const auto r = ParseContribution(Bytes(bytes));
    if (r.ok()) return ::testing::AssertionFailure() << "accepted";
    if (r.status().message().find(why) == std::string::npos) {
      return ::testing::AssertionFailure() << r.status().message();
    }
    return ::testing::AssertionSuccess();
  };
  std::string b = good;
  b[5] = 2;
  EXPECT_TRUE(refused(b, "not a contribution"));
  EXPECT_TRUE(refused(good.substr(0, good.size() - 1), "ends inside the codes"));
  EXPECT_TRUE(refused(good + "x", "1 bytes after the end"));
  b = good;
  b[36] = static_cast<char>(b[36] | 0x80);  // a bit past the 6 positions
  EXPECT_TRUE(refused(b, "bits set past the last position"));
  b = good;
  b[37] = 3;  // dimensions
  EXPECT_TRUE(refused(b, "3 dimensions; at most 2"));
  b = good;
  b[b.size() - 1] = 9;  // the last code names no value
  EXPECT_TRUE(refused(b, "code 9 names no value"));
  b = good;
  b[39] = '!';  // in the dimension's name
  EXPECT_TRUE(refused(b, "names take letters"));
  Contribution twice = OwnerA();
  twice.dimensions[0].labels = {"x", "x"};
  EXPECT_FALSE(EncodeContribution(twice).ok());
}

// A value goes into the worker's JSON result, which holds UTF-8 only: one that is not is refused
// as the contribution is read, by its byte and dimension, without its bytes in the message.
TEST(Contribution, RefusesAValueThatIsNotUtf8) {
  // OwnerA's contribution with its first value replaced, as a hostile owner would send it.
  const auto parse_with_label = [](const std::string& label) -> StatusOr<Contribution> {
    Contribution a = OwnerA();
    a.dimensions[0].labels[0] = label;
    auto bytes = EncodeContribution(a);
    EXPECT_TRUE(bytes.ok()) << bytes.status().message();
    if (!bytes.ok()) return bytes.status();
    return ParseContribution(Bytes(*bytes));
  };
  const auto refused = parse_with_label("18\xff-34");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  // Header 32, positions 4, bits 1, dimensions 1, name 1 + 8, values 2, length 1: byte 50.
  EXPECT_EQ(refused.status().message(),
            "contribution: byte 50: value 1 of dimension 1 is not UTF-8");
  // What is UTF-8 passes, up to U+10FFFF; overlong forms, surrogates, code points past U+10FFFF
  // and cut sequences do not.
  for (const std::string& label : {std::string("18–34 Jährige"), std::string("\xf4\x8f\xbf\xbf")}) {
    EXPECT_TRUE(parse_with_label(label).ok()) << label;
  }
  for (const std::string& label : {std::string("\xc0\xaf"), std::string("\xed\xa0\x80"),
                                   std::string("\xf4\x90\x80\x80"), std::string("a\xe2\x82")}) {
    EXPECT_FALSE(parse_with_label(label).ok()) << label;
  }
}

}  // namespace
}  // namespace tessera::collab
