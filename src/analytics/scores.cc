#include "tessera/analytics/scores.h"

#include <algorithm>
#include <array>

namespace tessera::analytics {

// score(x) = 1 + #{k in 1..4 : 5 * below(x) >= k * n}, and below(x) >= m exactly when the
// m-th smallest value is less than x. So four order statistics (selected in linear time, each
// in the part the previous one left) decide every score with four comparisons, instead of a
// sort and a binary search per customer.
std::vector<uint8_t> QuantileScores(std::span<const int64_t> values) {
  const size_t n = values.size();
  std::vector<uint8_t> scores(n);
  if (n == 0) return scores;
  std::vector<int64_t> work(values.begin(), values.end());
  std::array<int64_t, 4> threshold;
  auto from = work.begin();
  for (size_t k = 1; k <= 4; ++k) {
    const auto at =
        work.begin() + static_cast<ptrdiff_t>((k * n + 4) / 5 - 1);  // ceil(k n / 5) - 1
    if (at >= from) {
      std::nth_element(from, at, work.end());
      from = at + 1;
    }
    threshold[k - 1] = *at;
  }
  for (size_t i = 0; i < n; ++i) {
    const int64_t v = values[i];
    scores[i] = static_cast<uint8_t>(1 + (v > threshold[0]) + (v > threshold[1]) +
                                     (v > threshold[2]) + (v > threshold[3]));
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
