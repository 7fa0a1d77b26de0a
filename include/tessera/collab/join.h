#pragma once

// What the join worker computes from the double-blinded values of two owners' sessions (psi.h,
// psi_message.h): which position of one owner's session meets which position of the other's.
// The worker sees positions and blinded values only — no identifier, token or pseudonym — and
// what it returns is aggregated before it leaves (collab's outputs), never the pairs.

#include <cstdint>
#include <span>
#include <vector>

#include "tessera/collab/group.h"

namespace tessera::collab {

struct MatchedPair {
  uint32_t a = 0;  // position in owner A's session
  uint32_t b = 0;  // position in owner B's session
  bool operator==(const MatchedPair&) const = default;
};

// `of_a`: owner A's values, double-blinded, at A's session positions; `of_b` likewise for B.
// Each side holds a value at most once (psi_message.h refuses repeats). Pairs in increasing
// order of `a`. O(|of_a| + |of_b|) expected time, memory for the smaller side's table.
std::vector<MatchedPair> MatchPositions(std::span<const Point> of_a, std::span<const Point> of_b);

}  // namespace tessera::collab
