#include "tessera/analytics/pipeline.h"

#include "tessera/analytics/profile_rows.h"
#include "tessera/analytics/scores.h"

namespace tessera::analytics {

StatusOr<ProfileSet> ComputeSegmentedProfiles(store::Store& store, const ProfileOptions& options,
                                              const SegmentRules& rules) {
  TESSERA_ASSIGN_OR_RETURN(ProfileSet set, ComputeProfiles(store, options));
  ScoreProfiles(&set);
  AssignSegments(rules, &set);
  return set;
}

StatusOr<ProfileSet> Analyze(store::Store& store, const AnalysisOptions& options,
                             const SegmentRules& rules) {
  TESSERA_ASSIGN_OR_RETURN(auto set, ComputeSegmentedProfiles(store, options.profiles, rules));
  if (options.predict && !set.profiles.empty()) {
    TESSERA_RETURN_IF_ERROR(PredictProfiles(store, *options.predict, &set));
  }
  return set;
}

Status WriteProfiles(const ProfileSet& set, const SegmentRules& rules, Lang lang,
                     std::optional<int> segment, ProfileFormat format, std::FILE* out) {
  const ProfileRows rows(set, rules, lang);
  std::string buffer;
  auto flush = [&]() -> Status {
    if (!buffer.empty() && std::fwrite(buffer.data(), 1, buffer.size(), out) != buffer.size()) {
      return InternalError("cannot write the profiles");
    }
    buffer.clear();
    return OkStatus();
  };
  if (format == ProfileFormat::kCsv) buffer += rows.CsvHeader();
  for (const Profile& p : set.profiles) {
    if (segment && p.segment != *segment) continue;
    if (format == ProfileFormat::kCsv) {
      rows.AppendCsv(p, &buffer);
    } else {
      buffer += rows.Json(p).dump();
      buffer += '\n';
    }
    if (buffer.size() > (1 << 20)) TESSERA_RETURN_IF_ERROR(flush());
  }
  return flush();
}

}  // namespace tessera::analytics
