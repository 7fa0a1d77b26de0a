#pragma once

// The whole "orders in the store -> scored, segmented (and predicted) profiles" computation
// as one call, and the profile export formats. The CLI and the HTTP API call these.

#include <cstdio>
#include <optional>
#include <string>

#include "tessera/analytics/predict.h"
#include "tessera/analytics/profiles.h"
#include "tessera/analytics/segments.h"

namespace tessera::analytics {

// Profiles -> scores -> segments. Errors: those of ComputeProfiles.
StatusOr<ProfileSet> ComputeSegmentedProfiles(store::Store& store, const ProfileOptions& options,
                                              const SegmentRules& rules);

// What one recomputation does: profiles over the window ending at the as-of date, scored,
// segmented by `rules`, and with predictions when `predict` is set (and there are profiles to
// predict). The CLI's segments, profiles and snapshots create and the API's recompute all run
// this. Errors: those of ComputeProfiles and PredictProfiles.
struct AnalysisOptions {
  ProfileOptions profiles;
  std::optional<ProfilePredictionOptions> predict;
};
StatusOr<ProfileSet> Analyze(store::Store& store, const AnalysisOptions& options,
                             const SegmentRules& rules);

enum class ProfileFormat { kCsv, kJsonLines };

// Writes one row per profile (optionally only one segment): uuid, segment key and name,
// scores, order_count, clv, avg_order_value, recency_days, first_order, last_order.
// Privacy: writes pseudonyms only. Errors: kInternal on a write failure.
Status WriteProfiles(const ProfileSet& set, const SegmentRules& rules, Lang lang,
                     std::optional<int> segment, ProfileFormat format, std::FILE* out);

}  // namespace tessera::analytics
