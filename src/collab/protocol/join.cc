#include "tessera/collab/join.h"

#include <algorithm>
#include <unordered_map>

namespace tessera::collab {

std::vector<MatchedPair> MatchPositions(std::span<const Point> of_a, std::span<const Point> of_b) {
  const bool a_smaller = of_a.size() <= of_b.size();
  const std::span<const Point> small = a_smaller ? of_a : of_b;
  const std::span<const Point> large = a_smaller ? of_b : of_a;
  std::unordered_map<Point, uint32_t, PointHash> position(small.size());
  for (uint32_t i = 0; i < small.size(); ++i) position.emplace(small[i], i);
  std::vector<MatchedPair> pairs;
  for (uint32_t j = 0; j < large.size(); ++j) {
    auto it = position.find(large[j]);
    if (it == position.end()) continue;
    pairs.push_back(a_smaller ? MatchedPair{it->second, j} : MatchedPair{j, it->second});
  }
  std::sort(pairs.begin(), pairs.end(),
            [](const MatchedPair& x, const MatchedPair& y) { return x.a < y.a; });
  return pairs;
}

}  // namespace tessera::collab
