#pragma once

// Joint audience counts, as the join worker computes them: each owner evaluates its own audience
// expression on its own index and sends, for each position of its PSI session, one bit (in its
// audience or not) and the values of up to two breakdown attributes; the worker counts matched
// pairs that both owners' bits admit, per cell of the breakdown. Only aggregates leave: cells
// under k_min are dropped (and counted), and with a privacy budget every cell of the breakdown
// gets exact integer noise (discrete Laplace, noise.h) before the threshold is applied, so that
// neither a cell's presence nor its count reveals one person.
//
// Privacy: a contribution holds bits and attribute values per session position — positions are
// shuffled per session (psi_message.h), so they name no customer.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "tessera/collab/join.h"
#include "tessera/collab/noise.h"
#include "tessera/collab/psi_message.h"
#include "tessera/common/status.h"

namespace tessera::collab {

// A breakdown attribute over an owner's session positions.
struct Dimension {
  std::string name;                 // e.g. "age_band"; 1..64 bytes of [A-Za-z0-9_.:-]
  std::vector<std::string> labels;  // its values, each 1..64 bytes, none twice, at most 1000
  std::vector<uint16_t> codes;      // by position: 0 for no value, else 1 + index into labels
};

// What one owner sends the worker for its session.
struct Contribution {
  PsiSessionId session{};
  std::vector<bool> in_audience;      // by position
  std::vector<Dimension> dimensions;  // at most 2 (over both owners together: see CountJoint)
};

inline constexpr size_t kMaxDimensionLabels = 1000;
inline constexpr uint32_t kMaxContributionPositions = 1u << 26;

// Errors: kInvalidArgument naming the dimension and what is wrong.
Status ValidateContribution(const Contribution& c);

// The wire form, after the header of psi_message.h with type 3 (flags and sequence 0):
// u32 positions; the audience bits (ceil(positions/8) bytes, least significant bit first);
// u8 dimensions; per dimension: u8 name length, name, u16 label count, per label u8 length and
// bytes, then u16 code per position; all integers big-endian.
StatusOr<std::string> EncodeContribution(const Contribution& c);
// Errors: kInvalidArgument naming the byte offset and what is wrong (as ParsePsiMessage), a value
// that is not UTF-8 (RFC 3629: it could not go into the worker's JSON result), and every rule of
// ValidateContribution.
StatusOr<Contribution> ParseContribution(std::span<const uint8_t> bytes);

struct JointCountQuery {
  uint64_t k_min = 100;  // cells under this are dropped
  // ε of the whole release in millionths; none: exact counts. The counts of one breakdown have
  // sensitivity 1 (a person is in one cell), so discrete Laplace noise of scale 1/ε per cell.
  std::optional<uint64_t> epsilon_micro;
};

struct JointCell {
  std::vector<std::string> labels;  // one per dimension, in the order of CountJoint's dimensions
  int64_t count = 0;                // noisy when the query asked for noise
};

struct JointCounts {
  std::vector<std::string> dimensions;  // "a.age_band", "b.tariff"
  std::vector<JointCell> cells;         // at or above k_min, in label order
  uint64_t filtered_cells = 0;          // cells under k_min, dropped
  std::string noise;                    // "none" or "discrete_laplace(scale=N/D)"
};

// Counts the pairs whose positions both owners' audience bits admit, by the dimensions of `a`
// then those of `b` (two at most in all). Errors: kInvalidArgument for contributions that do not
// fit the pairs (a position out of range), more than two dimensions, a k_min of 0, an ε of 0 or
// over 10^6 times too small a scale (ε > 4294.967296).
StatusOr<JointCounts> CountJoint(std::span<const MatchedPair> pairs, const Contribution& a,
                                 const Contribution& b, const JointCountQuery& query,
                                 RandomSource& random);

}  // namespace tessera::collab
