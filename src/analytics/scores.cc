#include "tessera/analytics/scores.h"

#include <algorithm>

namespace tessera::analytics {

std::vector<uint8_t> QuantileScores(std::span<const int64_t> values) {
  const size_t n = values.size();
  std::vector<int64_t> sorted(values.begin(), values.end());
  std::sort(sorted.begin(), sorted.end());
  std::vector<uint8_t> scores(n);
  for (size_t i = 0; i < n; ++i) {
    const auto below = static_cast<uint64_t>(
        std::lower_bound(sorted.begin(), sorted.end(), values[i]) - sorted.begin());
    scores[i] = static_cast<uint8_t>(std::min<uint64_t>(5, 1 + 5 * below / n));
  }
  return scores;
}

void ScoreProfiles(ProfileSet* set) {
  auto& ps = set->profiles;
  std::vector<int64_t> values(ps.size());
  for (size_t i = 0; i < ps.size(); ++i) values[i] = -static_cast<int64_t>(ps[i].recency_days);
  const auto r = QuantileScores(values);
  for (size_t i = 0; i < ps.size(); ++i) values[i] = ps[i].order_count;
  const auto f = QuantileScores(values);
  for (size_t i = 0; i < ps.size(); ++i) values[i] = ps[i].revenue_minor;
  const auto m = QuantileScores(values);
  for (size_t i = 0; i < ps.size(); ++i) {
    ps[i].r_score = r[i];
    ps[i].f_score = f[i];
    ps[i].m_score = m[i];
  }
}

}  // namespace tessera::analytics
