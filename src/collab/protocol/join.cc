#include "tessera/collab/join.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>

namespace tessera::collab {

namespace {

// Blinded values are uniformly distributed: their first eight bytes are a good hash.
struct FirstWord {
  size_t operator()(const std::array<uint8_t, Point::kSize>& b) const {
    uint64_t h;
    std::memcpy(&h, b.data(), sizeof h);
    return static_cast<size_t>(h);
  }
};

}  // namespace

std::vector<MatchedPair> MatchPositions(std::span<const Point> of_a, std::span<const Point> of_b) {
  const bool a_smaller = of_a.size() <= of_b.size();
  const std::span<const Point> small = a_smaller ? of_a : of_b;
  const std::span<const Point> large = a_smaller ? of_b : of_a;
  std::unordered_map<std::array<uint8_t, Point::kSize>, uint32_t, FirstWord> position(small.size());
  for (uint32_t i = 0; i < small.size(); ++i) position.emplace(small[i].bytes(), i);
  std::vector<MatchedPair> pairs;
  for (uint32_t j = 0; j < large.size(); ++j) {
    auto it = position.find(large[j].bytes());
    if (it == position.end()) continue;
    pairs.push_back(a_smaller ? MatchedPair{it->second, j} : MatchedPair{j, it->second});
  }
  std::sort(pairs.begin(), pairs.end(),
            [](const MatchedPair& x, const MatchedPair& y) { return x.a < y.a; });
  return pairs;
}

}  // namespace tessera::collab
