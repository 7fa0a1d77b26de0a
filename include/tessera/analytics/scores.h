#pragma once

// Quantile scores 1..5 with a tie rule that never splits equal values:
//
//   score(x) = min(5, 1 + floor(5 * below(x) / n))
//
// where below(x) is the number of customers whose value is strictly worse than x and n the
// number of customers. Equal values have equal below() and so equal scores. Consequences,
// each tested: all values equal -> every score 1; one customer -> 1; no customers -> nothing;
// when 60% of customers ordered once, all of them get F = 1 and the next distinct value
// jumps to F = 4. The same rule is rank(method='min') based, so SQL peers reproduce it with
// RANK() OVER (ORDER BY x) - 1 as below(x).

#include <cstdint>
#include <span>
#include <vector>

#include "tessera/analytics/profiles.h"

namespace tessera::analytics {

// Scores where a higher value is better.
std::vector<uint8_t> QuantileScores(std::span<const int64_t> values);

// Sets r_score (fewer days since the last purchase is better), f_score (more purchases) and
// m_score (more net revenue) of every profile.
void ScoreProfiles(ProfileSet* set);

}  // namespace tessera::analytics
