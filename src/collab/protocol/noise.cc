#include "tessera/collab/noise.h"

#include <sodium.h>

#include <cassert>
#include <cstring>
#include <numeric>

#include "collab/protocol/hash_internal.h"

namespace tessera::collab {
namespace {

// GCC and Clang's 128-bit integers: with numerators and denominators below 2^33 every product
// the samplers form fits (see the bounds at each use).
using u128 = unsigned __int128;

constexpr u128 kU128Max = ~u128{0};

uint64_t LoadLittleEndian64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | p[i];
  return v;
}

// Uniform in [0, upper) for 1 <= upper <= 2^128 - 1. Rejects the lowest (2^128 mod upper)
// values so that the remainder is unbiased.
u128 UniformBelow128(RandomSource& random, u128 upper) {
  assert(upper >= 1);
  if (upper <= UINT64_MAX) return UniformBelow(random, static_cast<uint64_t>(upper));
  const u128 threshold = (kU128Max - upper + 1) % upper;  // 2^128 mod upper
  while (true) {
    const u128 x = u128{random.Next64()} << 64 | random.Next64();
    if (x >= threshold) return x % upper;
  }
}

// Bernoulli(num/den) for num <= den.
bool Bernoulli(RandomSource& random, u128 num, u128 den) {
  return UniformBelow128(random, den) < num;
}

// Bernoulli(exp(-γ)) for γ = num/den in [0, 1] (Algorithm 1, first case): K counts the
// Bernoulli(γ/K) successes; the result is whether the first failure comes at an odd K.
bool BernoulliExpAtMostOne(RandomSource& random, u128 num, u128 den) {
  for (u128 k = 1;; ++k) {
    // den·k overflows only after k - 1 successes of probability γ/j each, that is with
    // probability below 1/(k-1)! for k near 2^60 (den < 2^68): never. Stop there.
    if (den > kU128Max / k) return k % 2 == 1;
    if (!Bernoulli(random, num, den * k)) return k % 2 == 1;
  }
}

// Bernoulli(exp(-γ)) for γ = num/den >= 0 (Algorithm 1): exp(-γ) = exp(-1)^floor(γ) ·
// exp(-(γ - floor(γ))), stopping at the first failure.
bool BernoulliExp(RandomSource& random, u128 num, u128 den) {
  const u128 whole = num / den;
  for (u128 i = 0; i < whole; ++i) {
    if (!BernoulliExpAtMostOne(random, 1, 1)) return false;
  }
  return BernoulliExpAtMostOne(random, num % den, den);
}

Status CheckRational(const char* what, int64_t numerator, int64_t denominator) {
  if (numerator < 1 || denominator < 1) {
    return InvalidArgumentError("{} must be positive (got {}/{})", what, numerator, denominator);
  }
  if (numerator > kMaxNoiseParameter || denominator > kMaxNoiseParameter) {
    return InvalidArgumentError(
               "{} {}/{} is out of range: numerator and denominator must be at most 2^32", what,
               numerator, denominator)
        .SetDetail("limit", kMaxNoiseParameter);
  }
  return OkStatus();
}

// floor(sqrt(x)) by bisection on integers.
uint64_t FloorSqrt(uint64_t x) {
  uint64_t low = 0, high = uint64_t{1} << 32;  // low^2 <= x < high^2
  while (low + 1 < high) {
    const uint64_t mid = low + (high - low) / 2;
    if (mid * mid <= x) {
      low = mid;
    } else {
      high = mid;
    }
  }
  return low;
}

}  // namespace

StatusOr<std::unique_ptr<SystemRandom>> SystemRandom::Create() {
  TESSERA_RETURN_IF_ERROR(internal::EnsureSodium());
  return std::make_unique<SystemRandom>(CreateKey());
}

uint64_t SystemRandom::Next64() {
  if (used_ + 8 > buffer_.size()) {
    randombytes_buf(buffer_.data(), buffer_.size());
    used_ = 0;
  }
  const uint64_t v = LoadLittleEndian64(buffer_.data() + used_);
  used_ += 8;
  return v;
}

SystemRandom::~SystemRandom() { sodium_memzero(buffer_.data(), buffer_.size()); }

SeededRandom::SeededRandom(std::span<const uint8_t, 32> seed) {
  std::memcpy(key_.data(), seed.data(), key_.size());
}

SeededRandom::SeededRandom(uint64_t seed) {
  for (int i = 0; i < 8; ++i) key_[i] = static_cast<uint8_t>(seed >> (8 * i));
}

SeededRandom::~SeededRandom() {
  sodium_memzero(key_.data(), key_.size());
  sodium_memzero(buffer_.data(), buffer_.size());
}

void SeededRandom::Refill() {
  uint8_t nonce[crypto_stream_chacha20_NONCEBYTES];
  for (size_t i = 0; i < sizeof(nonce); ++i) nonce[i] = static_cast<uint8_t>(nonce_ >> (8 * i));
  ++nonce_;
  crypto_stream_chacha20(buffer_.data(), buffer_.size(), nonce, key_.data());
  used_ = 0;
}

uint64_t SeededRandom::Next64() {
  if (used_ + 8 > buffer_.size()) Refill();
  const uint64_t v = LoadLittleEndian64(buffer_.data() + used_);
  used_ += 8;
  return v;
}

uint64_t UniformBelow(RandomSource& random, uint64_t upper) {
  assert(upper >= 1);
  if (upper == 1) return 0;
  const uint64_t threshold = (0 - upper) % upper;  // 2^64 mod upper
  while (true) {
    const uint64_t x = random.Next64();
    if (x >= threshold) return x % upper;
  }
}

StatusOr<bool> SampleBernoulliExp(RandomSource& random, int64_t numerator, int64_t denominator) {
  if (numerator < 0 || denominator < 1) {
    return InvalidArgumentError("exp(-{}/{}) needs a non-negative exponent", numerator,
                                denominator);
  }
  if (numerator > kMaxNoiseParameter || denominator > kMaxNoiseParameter) {
    return InvalidArgumentError("exp(-{}/{}) is out of range: at most 2^32 each", numerator,
                                denominator)
        .SetDetail("limit", kMaxNoiseParameter);
  }
  return BernoulliExp(random, static_cast<u128>(numerator), static_cast<u128>(denominator));
}

StatusOr<DiscreteLaplace> DiscreteLaplace::Create(int64_t scale_numerator,
                                                  int64_t scale_denominator) {
  TESSERA_RETURN_IF_ERROR(
      CheckRational("the discrete Laplace scale", scale_numerator, scale_denominator));
  const int64_t g = std::gcd(scale_numerator, scale_denominator);
  return DiscreteLaplace(static_cast<uint64_t>(scale_numerator / g),
                         static_cast<uint64_t>(scale_denominator / g));
}

int64_t DiscreteLaplace::Sample(RandomSource& random) const {
  // Algorithm 2 with the paper's t = n_ and s = d_ (scale t/s): X = U + t·V is geometric with
  // parameter 1 - e^(-1/t), and floor(X/s) geometric with parameter 1 - e^(-s/t).
  while (true) {
    const uint64_t u = UniformBelow(random, n_);
    if (!BernoulliExpAtMostOne(random, u, n_)) continue;
    uint64_t v = 0;
    while (BernoulliExpAtMostOne(random, 1, 1)) ++v;
    // n_ <= 2^32 and v < 2^64: x < 2^97.
    const u128 x = u128{u} + u128{n_} * v;
    const u128 y = x / d_;
    const bool negative = (random.Next64() & 1) != 0;  // Bernoulli(1/2)
    if (negative && y == 0) continue;
    // Beyond the output range; see the header for why rejecting here is harmless.
    if (y > static_cast<u128>(kMaxNoiseMagnitude)) continue;
    const int64_t magnitude = static_cast<int64_t>(y);
    return negative ? -magnitude : magnitude;
  }
}

StatusOr<DiscreteGaussian> DiscreteGaussian::Create(int64_t sigma2_numerator,
                                                    int64_t sigma2_denominator) {
  TESSERA_RETURN_IF_ERROR(
      CheckRational("the discrete Gaussian variance", sigma2_numerator, sigma2_denominator));
  const int64_t g = std::gcd(sigma2_numerator, sigma2_denominator);
  const uint64_t n = static_cast<uint64_t>(sigma2_numerator / g);
  const uint64_t d = static_cast<uint64_t>(sigma2_denominator / g);
  // floor(sqrt(n/d)) = floor(sqrt(floor(n/d))) for integers; t <= 2^16 + 1.
  const uint64_t t = FloorSqrt(n / d) + 1;
  return DiscreteGaussian(n, d, t);
}

int64_t DiscreteGaussian::Sample(RandomSource& random) const {
  // Algorithm 3: a discrete Laplace proposal Y of scale t accepted with probability
  // exp(-(|Y| - σ²/t)² / (2σ²)) = exp(-(|Y|·d·t - n)² / (2·n·d·t²)).
  // Bounds: |Y| <= 2^62, d <= 2^32, t <= 2^16 + 1, so |Y|·d·t < 2^111; the denominator is at
  // most 8n² < 2^68 (t² <= 4n/d when n >= d, t = 1 otherwise).
  const u128 den = u128{2} * n_ * d_ * t_ * t_;
  while (true) {
    const int64_t y = laplace_.Sample(random);
    const u128 a = u128{static_cast<uint64_t>(y < 0 ? -y : y)} * d_ * t_;
    const u128 c = a >= n_ ? a - n_ : u128{n_} - a;
    // c >= 2^64 means γ >= 2^128 / 2^68 = 2^60: exp(-γ) < e^-(2^60), taken as 0.
    if (c >> 64 != 0) continue;
    if (BernoulliExp(random, c * c, den)) return y;
  }
}

}  // namespace tessera::collab
