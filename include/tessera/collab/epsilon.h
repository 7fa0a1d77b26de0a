#pragma once

// Privacy budgets as exact numbers: ε in whole millionths (micro-ε), so that ten spends of 0.1
// make exactly 1 and a ledger, a grant and an audit entry add up to the same total.

#include <cstdint>
#include <string>
#include <string_view>

#include "tessera/common/status.h"

namespace tessera::collab {

inline constexpr uint64_t kMicroEpsilonPerEpsilon = 1'000'000;
// The largest ε a reservation, a budget or an audit entry may carry, in micro-ε (ε = 10^9):
// far above any meaningful budget, and small enough that sums of them never overflow the
// int64 columns of the store.
inline constexpr uint64_t kMaxMicroEpsilon = 1'000'000'000'000'000;

// "0.5" -> 500000 micro-ε: digits, optionally a point and 1 to 6 more digits; no sign, no
// exponent. Errors: kInvalidArgument for anything else, finer than 10^-6 or above
// kMaxMicroEpsilon.
StatusOr<uint64_t> ParseEpsilon(std::string_view text);
// 500000 -> "0.5", 1000000 -> "1", 1 -> "0.000001": exact, shortest.
std::string FormatEpsilon(uint64_t micro_epsilon);

}  // namespace tessera::collab
