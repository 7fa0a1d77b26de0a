#include "tessera/collab/noise.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <map>
#include <set>
#include <vector>

namespace tessera::collab {
namespace {

// Statistics in long double, in the tests only; the samplers use integers.
using Pmf = std::function<long double(int64_t)>;

// The upper 1 - alpha quantile of χ² with k degrees of freedom by the Wilson–Hilferty
// approximation, with z the standard normal quantile at 1 - alpha.
double ChiSquareCritical(int k, double z) {
  const double a = 2.0 / (9.0 * k);
  return k * std::pow(1.0 - a + z * std::sqrt(a), 3);
}
// Φ^-1(0.999), the standard normal quantile for alpha = 0.001.
constexpr double kZ999 = 3.090232306167813;

struct Fit {
  double statistic = 0;
  int degrees_of_freedom = 0;
  double critical = 0;
};

// Pearson's χ² of `counts` (n draws) against a pmf symmetric about 0 and decreasing in |z|.
// Every z with an expected count of at least 5 has its own bin; the tails beyond them are
// merged into the two outermost bins.
Fit ChiSquare(const std::map<int64_t, int64_t>& counts, int64_t n, const Pmf& pmf) {
  int64_t m = 0;
  while (n * pmf(m + 1) >= 5) ++m;
  long double tail = 0;
  for (int64_t z = m + 1;; ++z) {
    const long double p = pmf(z);
    tail += p;
    if (p < 1e-30L) break;
  }
  std::map<int64_t, int64_t> observed;
  for (const auto& [z, count] : counts) observed[std::clamp(z, -m, m)] += count;
  Fit fit;
  for (int64_t z = -m; z <= m; ++z) {
    long double p = pmf(z);
    if (z == -m || z == m) p += tail;
    const long double expected = n * p;
    const long double diff = observed[z] - expected;
    fit.statistic += static_cast<double>(diff * diff / expected);
  }
  fit.degrees_of_freedom = static_cast<int>(2 * m);
  fit.critical = ChiSquareCritical(fit.degrees_of_freedom, kZ999);
  return fit;
}

struct Moments {
  long double variance = 0;
  long double fourth = 0;
};

Moments MomentsOf(const Pmf& pmf, int64_t bound) {
  Moments m;
  for (int64_t z = -bound; z <= bound; ++z) {
    const long double p = pmf(z), z2 = static_cast<long double>(z) * z;
    m.variance += z2 * p;
    m.fourth += z2 * z2 * p;
  }
  return m;
}

Pmf LaplacePmf(long double scale) {
  const long double c = std::tanh(1.0L / (2.0L * scale));
  return [=](int64_t z) { return c * std::exp(-std::fabs(static_cast<long double>(z)) / scale); };
}

Pmf GaussianPmf(long double sigma2) {
  const int64_t bound = static_cast<int64_t>(40.0L * std::sqrt(sigma2)) + 10;
  long double total = 0;
  for (int64_t y = -bound; y <= bound; ++y)
    total += std::exp(-static_cast<long double>(y * y) / (2 * sigma2));
  return [=](int64_t z) {
    const long double x = static_cast<long double>(z);
    return std::exp(-x * x / (2 * sigma2)) / total;
  };
}

// Draws n samples and checks the histogram (χ² at alpha = 0.001), the mean (0) and the variance
// against the pmf, each mean and variance within 5 standard errors.
void CheckDistribution(const std::function<int64_t(RandomSource&)>& sample, uint64_t seed,
                       int64_t n, const Pmf& pmf, int64_t moment_bound) {
  SeededRandom random(seed);
  std::map<int64_t, int64_t> counts;
  long double sum = 0, sum2 = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t z = sample(random);
    ++counts[z];
    sum += z;
    sum2 += static_cast<long double>(z) * z;
  }
  const Fit fit = ChiSquare(counts, n, pmf);
  EXPECT_LT(fit.statistic, fit.critical)
      << "χ² " << fit.statistic << " with " << fit.degrees_of_freedom << " degrees of freedom";

  const Moments expected = MomentsOf(pmf, moment_bound);
  const long double mean = sum / n;
  const long double variance = sum2 / n - mean * mean;
  EXPECT_LT(std::fabs(mean), 5 * std::sqrt(expected.variance / n))
      << "mean " << static_cast<double>(mean);
  const long double variance_se =
      std::sqrt((expected.fourth - expected.variance * expected.variance) / n);
  EXPECT_LT(std::fabs(variance - expected.variance), 5 * variance_se)
      << "variance " << static_cast<double>(variance) << ", expected "
      << static_cast<double>(expected.variance);
}

TEST(SeededRandom, IsTheChaCha20KeyStreamOfTheSeed) {
  std::array<uint8_t, 32> seed;
  for (size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<uint8_t>(i * 7 + 1);
  // Two refills: nonce 0 gives the first 1024 bytes, nonce 1 the next.
  std::vector<uint8_t> stream(2048);
  uint8_t nonce[crypto_stream_chacha20_NONCEBYTES] = {};
  crypto_stream_chacha20(stream.data(), 1024, nonce, seed.data());
  nonce[0] = 1;
  crypto_stream_chacha20(stream.data() + 1024, 1024, nonce, seed.data());

  SeededRandom random(seed);
  for (size_t word = 0; word < 256; ++word) {
    uint64_t expected = 0;
    for (int b = 7; b >= 0; --b) expected = expected << 8 | stream[word * 8 + b];
    ASSERT_EQ(random.Next64(), expected) << "word " << word;
  }
}

TEST(SeededRandom, SameSeedSameStreamOtherSeedOtherStream) {
  SeededRandom a(42), b(42), c(43);
  for (int i = 0; i < 300; ++i) {
    const uint64_t x = a.Next64();
    EXPECT_EQ(x, b.Next64());
    EXPECT_NE(x, c.Next64());
  }
}

TEST(SystemRandom, GivesDifferentWords) {
  auto random = SystemRandom::Create();
  ASSERT_TRUE(random.ok()) << random.status().ToString();
  std::set<uint64_t> words;
  for (int i = 0; i < 1000; ++i) words.insert((*random)->Next64());
  EXPECT_EQ(words.size(), 1000u);
}

TEST(UniformBelow, IsUniformAndInRange) {
  SeededRandom random(7);
  constexpr int64_t kDraws = 200000;
  std::map<int64_t, int64_t> counts;
  for (int i = 0; i < kDraws; ++i) ++counts[static_cast<int64_t>(UniformBelow(random, 10))];
  ASSERT_EQ(counts.size(), 10u);
  double statistic = 0;
  for (const auto& [value, count] : counts) {
    ASSERT_GE(value, 0);
    ASSERT_LT(value, 10);
    statistic += (count - kDraws / 10.0) * (count - kDraws / 10.0) / (kDraws / 10.0);
  }
  EXPECT_LT(statistic, ChiSquareCritical(9, kZ999));

  const uint64_t huge = (uint64_t{1} << 63) + 12345;
  for (int i = 0; i < 1000; ++i) EXPECT_LT(UniformBelow(random, huge), huge);
  EXPECT_EQ(UniformBelow(random, 1), 0u);
}

TEST(BernoulliExp, FrequenciesMatchExpOfMinusGamma) {
  SeededRandom random(11);
  constexpr int kDraws = 200000;
  const std::pair<int64_t, int64_t> gammas[] = {{0, 1}, {1, 3}, {1, 1}, {5, 2}, {7, 1}};
  for (const auto& [num, den] : gammas) {
    int64_t ones = 0;
    for (int i = 0; i < kDraws; ++i) {
      auto b = SampleBernoulliExp(random, num, den);
      ASSERT_TRUE(b.ok());
      ones += *b ? 1 : 0;
    }
    const double p = std::exp(-static_cast<double>(num) / static_cast<double>(den));
    const double se = std::sqrt(p * (1 - p) / kDraws);
    EXPECT_NEAR(static_cast<double>(ones) / kDraws, p, 5 * se + 1e-12) << num << "/" << den;
  }
}

TEST(NoiseParameters, ZeroNegativeAndHugeAreRefused) {
  SeededRandom random(1);
  for (const auto& [num, den] :
       std::vector<std::pair<int64_t, int64_t>>{{0, 1},
                                                {-1, 1},
                                                {1, 0},
                                                {1, -5},
                                                {kMaxNoiseParameter + 1, 1},
                                                {1, kMaxNoiseParameter + 1},
                                                {INT64_MAX, 1},
                                                {INT64_MIN, 1}}) {
    EXPECT_EQ(DiscreteLaplace::Create(num, den).status().code(), StatusCode::kInvalidArgument)
        << num << "/" << den;
    EXPECT_EQ(DiscreteGaussian::Create(num, den).status().code(), StatusCode::kInvalidArgument)
        << num << "/" << den;
  }
  auto huge = DiscreteGaussian::Create(kMaxNoiseParameter + 1, 1);
  EXPECT_EQ(huge.status().IntDetail("limit"), kMaxNoiseParameter);
  EXPECT_EQ(SampleBernoulliExp(random, -1, 1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(SampleBernoulliExp(random, 1, 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(SampleBernoulliExp(random, kMaxNoiseParameter + 1, 1).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(NoiseParameters, AreKeptInLowestTerms) {
  auto laplace = DiscreteLaplace::Create(20, 10);
  ASSERT_TRUE(laplace.ok());
  EXPECT_EQ(laplace->scale_numerator(), 2u);
  EXPECT_EQ(laplace->scale_denominator(), 1u);
  auto gaussian = DiscreteGaussian::Create(15, 6);
  ASSERT_TRUE(gaussian.ok());
  EXPECT_EQ(gaussian->sigma2_numerator(), 5u);
  EXPECT_EQ(gaussian->sigma2_denominator(), 2u);
}

TEST(NoiseParameters, TheLargestParametersSampleWithinRange) {
  SeededRandom random(5);
  auto laplace = DiscreteLaplace::Create(kMaxNoiseParameter, 1);
  auto gaussian = DiscreteGaussian::Create(kMaxNoiseParameter, 1);
  auto narrow = DiscreteGaussian::Create(1, kMaxNoiseParameter);
  ASSERT_TRUE(laplace.ok() && gaussian.ok() && narrow.ok());
  for (int i = 0; i < 1000; ++i) {
    EXPECT_LE(std::llabs(laplace->Sample(random)), kMaxNoiseMagnitude);
    EXPECT_LE(std::llabs(gaussian->Sample(random)), kMaxNoiseMagnitude);
    // σ² = 2^-32: anything but 0 has probability below e^-(2^31).
    EXPECT_EQ(narrow->Sample(random), 0);
  }
}

constexpr int64_t kDraws = 1000000;

TEST(DiscreteLaplace, ScaleTwoFitsItsPmf) {
  auto laplace = DiscreteLaplace::Create(2, 1);
  ASSERT_TRUE(laplace.ok());
  CheckDistribution([&](RandomSource& r) { return laplace->Sample(r); }, 1, kDraws, LaplacePmf(2),
                    400);
}

TEST(DiscreteLaplace, ScaleTenFitsItsPmf) {
  auto laplace = DiscreteLaplace::Create(10, 1);
  ASSERT_TRUE(laplace.ok());
  CheckDistribution([&](RandomSource& r) { return laplace->Sample(r); }, 2, kDraws, LaplacePmf(10),
                    2000);
}

TEST(DiscreteLaplace, AFractionalScaleFitsItsPmf) {
  auto laplace = DiscreteLaplace::Create(7, 3);
  ASSERT_TRUE(laplace.ok());
  CheckDistribution([&](RandomSource& r) { return laplace->Sample(r); }, 3, kDraws / 5,
                    LaplacePmf(7.0L / 3.0L), 500);
}

TEST(DiscreteGaussian, VarianceFourFitsItsPmf) {
  auto gaussian = DiscreteGaussian::Create(4, 1);
  ASSERT_TRUE(gaussian.ok());
  CheckDistribution([&](RandomSource& r) { return gaussian->Sample(r); }, 4, kDraws, GaussianPmf(4),
                    100);
}

TEST(DiscreteGaussian, VarianceHundredFitsItsPmf) {
  auto gaussian = DiscreteGaussian::Create(100, 1);
  ASSERT_TRUE(gaussian.ok());
  CheckDistribution([&](RandomSource& r) { return gaussian->Sample(r); }, 5, kDraws,
                    GaussianPmf(100), 500);
}

TEST(DiscreteGaussian, AFractionalVarianceFitsItsPmf) {
  auto gaussian = DiscreteGaussian::Create(5, 2);
  ASSERT_TRUE(gaussian.ok());
  CheckDistribution([&](RandomSource& r) { return gaussian->Sample(r); }, 6, kDraws / 5,
                    GaussianPmf(2.5L), 100);
}

TEST(DiscreteGaussian, ASmallVarianceFitsItsPmf) {
  auto gaussian = DiscreteGaussian::Create(1, 4);
  ASSERT_TRUE(gaussian.ok());
  CheckDistribution([&](RandomSource& r) { return gaussian->Sample(r); }, 8, kDraws / 5,
                    GaussianPmf(0.25L), 50);
}

}  // namespace
}  // namespace tessera::collab
