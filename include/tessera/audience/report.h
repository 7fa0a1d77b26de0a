#pragma once

// Audience sizes as the CLI and (later) the API report them: the size of one expression with
// its share of all customers and its breakdown by segment, and the overlaps of several.
//
// Privacy: counts only; no pseudonym, no identifier.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/analytics/segments.h"
#include "tessera/audience/index.h"
#include "tessera/common/status.h"

namespace tessera::audience {

struct CountReport {
  std::string expression;
  int64_t snapshot_id = 0;
  std::string as_of, window;
  uint64_t size = 0;
  uint64_t customers = 0;    // all customers in the store
  double share_percent = 0;  // size / customers, rounded to 0.01
  struct Segment {
    std::string key, name;
    uint64_t customers = 0;
  };
  std::vector<Segment> segments;   // in rule order, empty ones included
  uint64_t without_purchases = 0;  // members without a purchase in the window (no segment)

  std::string ToJson() const;
  std::string ToCsv() const;  // segment_key,segment,customers; then the total rows
  std::string ToTable() const;
};

// Errors: those of Expression::Parse (kInvalidArgument, "column N: ...").
StatusOr<CountReport> CountAudience(const AudienceIndex& index, std::string_view expression,
                                    analytics::Lang lang);
// The same for an already evaluated member set.
CountReport ReportMembers(const AudienceIndex& index, std::string_view expression,
                          const Bitmap& members, analytics::Lang lang);

struct OverlapReport {
  std::vector<std::string> expressions;
  std::vector<uint64_t> sizes;
  std::vector<std::vector<uint64_t>> pairwise;  // [i][j]: in both i and j; [i][i] = sizes[i]
  uint64_t in_all = 0, in_any = 0;
  uint64_t customers = 0;

  std::string ToJson() const;
  std::string ToCsv() const;  // a,b,customers (long format), then all/any rows
  std::string ToTable() const;
};

// Errors: kInvalidArgument for fewer than two expressions, and those of Expression::Parse
// (the message names which expression: "expression 2: column N: ...").
StatusOr<OverlapReport> OverlapAudiences(const AudienceIndex& index,
                                         std::span<const std::string> expressions);

}  // namespace tessera::audience
