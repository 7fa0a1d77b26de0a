#pragma once

// Exact integer noise for differential privacy: the samplers of Canonne, Kamath and Steinke,
// "The Discrete Gaussian for Differential Privacy" (NeurIPS 2020), Algorithms 1 to 3.
// Parameters are rationals given as numerator and denominator; sampling uses only integer
// arithmetic and uniform random integers, never floating point, so the released value has
// exactly the distribution the privacy analysis assumes (no floating-point attack surface).
//
// Limits: every numerator and denominator lies in [1, kMaxNoiseParameter] (2^32), which keeps
// all intermediate values within 128-bit integers; samples lie in [-2^62, 2^62]. Three events
// are cut short instead of being carried on with big-integer arithmetic: a discrete Laplace
// magnitude above 2^62 is rejected (probability below e^-(2^30) per draw at the largest scale);
// in the Gaussian, a proposal whose acceptance probability exp(-γ) is below e^-(2^60) is
// rejected; and Algorithm 1's counter K stops at about 2^60 (reached with probability below
// 1/(2^59)!). These deviations are far below any probability a privacy guarantee can express.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "tessera/common/status.h"

namespace tessera::collab {

inline constexpr int64_t kMaxNoiseParameter = int64_t{1} << 32;
inline constexpr int64_t kMaxNoiseMagnitude = int64_t{1} << 62;

// Uniform random bits for the samplers. Implementations need not be thread-safe: use one
// source per thread.
class RandomSource {
 public:
  virtual ~RandomSource() = default;
  // 64 uniformly random bits.
  virtual uint64_t Next64() = 0;
};

// libsodium's CSPRNG (randombytes_buf), read 256 bytes at a time. The noise a party releases
// must come from here. Not thread-safe; not copyable (a copy would repeat the same noise); the
// buffer is wiped on destruction.
class SystemRandom final : public RandomSource {
 public:
  // Errors: kInternal if libsodium cannot initialize.
  static StatusOr<std::unique_ptr<SystemRandom>> Create();

  uint64_t Next64() override;

  // For Create only (the key type is private).
  struct CreateKey {
   private:
    friend class SystemRandom;
    CreateKey() = default;
  };
  explicit SystemRandom(CreateKey) {}

  SystemRandom(const SystemRandom&) = delete;
  SystemRandom& operator=(const SystemRandom&) = delete;
  ~SystemRandom() override;

 private:
  std::array<uint8_t, 256> buffer_{};
  size_t used_ = 256;
};

// A deterministic source: the ChaCha20 key stream (crypto_stream_chacha20) under a 32-byte
// seed. For tests and reproducible simulations only: whoever knows the seed knows the noise,
// so noise released to anyone must come from SystemRandom. Not thread-safe; not copyable.
class SeededRandom final : public RandomSource {
 public:
  explicit SeededRandom(std::span<const uint8_t, 32> seed);
  // The seed's 8 little-endian bytes followed by 24 zero bytes.
  explicit SeededRandom(uint64_t seed);

  uint64_t Next64() override;

  SeededRandom(const SeededRandom&) = delete;
  SeededRandom& operator=(const SeededRandom&) = delete;
  ~SeededRandom() override;

 private:
  void Refill();
  std::array<uint8_t, 32> key_{};
  uint64_t nonce_ = 0;  // one ChaCha20 stream per refill
  std::array<uint8_t, 1024> buffer_{};
  size_t used_ = 1024;
};

// A uniform integer in [0, upper), without modulo bias (rejection). Requires upper >= 1.
uint64_t UniformBelow(RandomSource& random, uint64_t upper);

// A sample of Bernoulli(exp(-numerator/denominator)) (Algorithm 1).
// Errors: kInvalidArgument if numerator < 0, denominator < 1, or either exceeds
// kMaxNoiseParameter.
StatusOr<bool> SampleBernoulliExp(RandomSource& random, int64_t numerator, int64_t denominator);

// The discrete Laplace distribution with scale t = numerator/denominator:
// P[X = x] = (e^(1/t) - 1) / (e^(1/t) + 1) · e^(-|x|/t) for every integer x (Algorithm 2).
// Immutable value; thread-safe for concurrent const use (each caller brings its source).
class DiscreteLaplace {
 public:
  // Errors: kInvalidArgument if the scale is zero or negative (numerator < 1 or denominator
  // < 1) or numerator or denominator exceeds kMaxNoiseParameter.
  static StatusOr<DiscreteLaplace> Create(int64_t scale_numerator, int64_t scale_denominator);

  int64_t Sample(RandomSource& random) const;

  // The scale in lowest terms.
  uint64_t scale_numerator() const { return n_; }
  uint64_t scale_denominator() const { return d_; }

 private:
  friend class DiscreteGaussian;
  DiscreteLaplace(uint64_t n, uint64_t d) : n_(n), d_(d) {}
  uint64_t n_, d_;
};

// The discrete Gaussian distribution with σ² = numerator/denominator:
// P[X = x] = e^(-x²/(2σ²)) / Σ_y e^(-y²/(2σ²)) for every integer x (Algorithm 3).
// Immutable value; thread-safe for concurrent const use.
class DiscreteGaussian {
 public:
  // Errors: kInvalidArgument if σ² is zero or negative (numerator < 1 or denominator < 1) or
  // numerator or denominator exceeds kMaxNoiseParameter.
  static StatusOr<DiscreteGaussian> Create(int64_t sigma2_numerator, int64_t sigma2_denominator);

  int64_t Sample(RandomSource& random) const;

  // σ² in lowest terms.
  uint64_t sigma2_numerator() const { return n_; }
  uint64_t sigma2_denominator() const { return d_; }

 private:
  DiscreteGaussian(uint64_t n, uint64_t d, uint64_t t) : n_(n), d_(d), t_(t), laplace_(t, 1) {}
  uint64_t n_, d_;
  uint64_t t_;               // floor(σ) + 1
  DiscreteLaplace laplace_;  // scale t_
};

}  // namespace tessera::collab
