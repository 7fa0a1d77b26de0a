// The PSI building blocks per core (issue 18's speed targets): libsodium's raw ristretto255
// scalar multiplication, what Blind adds to it, hashing an identifier to a match token, the
// round-trip through the wire format, and the worker's matching. Single-threaded: rates are
// per core.
//
//   build-bench/bench/psi_benchmark --benchmark_min_time=2

#include <benchmark/benchmark.h>
#include <sodium.h>

#include <random>

#include "tessera/collab/join.h"
#include "tessera/collab/match_token.h"
#include "tessera/collab/psi.h"
#include "tessera/collab/psi_message.h"

namespace tessera::collab {
namespace {

std::vector<Point> Points(size_t n) {
  std::mt19937_64 rng(n);
  std::vector<Point> out;
  while (out.size() < n) {
    std::array<uint8_t, 64> u;
    for (auto& b : u) b = static_cast<uint8_t>(rng());
    out.push_back(*Point::FromUniformBytes(u));
  }
  return out;
}

// libsodium alone: the ceiling of any blinding.
void BM_RawScalarMult(benchmark::State& state) {
  if (sodium_init() < 0) state.SkipWithError("libsodium");
  unsigned char scalar[32], point[32], out[32];
  crypto_core_ristretto255_scalar_random(scalar);
  crypto_core_ristretto255_random(point);
  for (auto _ : state) {
    if (crypto_scalarmult_ristretto255(out, scalar, point) != 0) state.SkipWithError("identity");
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_BlindBatch(benchmark::State& state) {
  const std::vector<Point> points = Points(4096);
  const SessionScalar r = *SessionScalar::Random();
  for (auto _ : state) benchmark::DoNotOptimize(BlindBatch(points, r));
  state.SetItemsProcessed(state.iterations() * points.size());
}

void BM_MatchToken(benchmark::State& state) {
  std::array<uint8_t, 32> k{};
  k.fill(5);
  const MatchTokenKey key = *MatchTokenKey::Create(privacy::OwnerKey::FromBytes(k));
  uint64_t i = 0;
  std::string id;
  for (auto _ : state) {
    id = "customer" + std::to_string(i++) + "@example.de";
    benchmark::DoNotOptimize(key.Token(MatchKind::kEmail, id));
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_ParsePsiMessage(benchmark::State& state) {
  PsiMessage m;
  m.session = *NewPsiSessionId();
  m.last = true;
  m.points = Points(4096);
  const std::string bytes = *EncodePsiMessage(m);
  const std::span data(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  for (auto _ : state) benchmark::DoNotOptimize(ParsePsiMessage(data));
  state.SetItemsProcessed(state.iterations() * m.points.size());
}

void BM_MatchPositions(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  std::vector<Point> a = Points(n), b = Points(n + 1);
  for (size_t i = 0; i < n / 2; ++i) b[2 * i] = a[i];  // half of a is in b
  for (auto _ : state) benchmark::DoNotOptimize(MatchPositions(a, b));
  state.SetItemsProcessed(state.iterations() * (a.size() + b.size()));
}

BENCHMARK(BM_RawScalarMult);
BENCHMARK(BM_BlindBatch);
BENCHMARK(BM_MatchToken);
BENCHMARK(BM_ParsePsiMessage);
BENCHMARK(BM_MatchPositions)->Arg(100'000)->Arg(1'000'000);

}  // namespace
}  // namespace tessera::collab
