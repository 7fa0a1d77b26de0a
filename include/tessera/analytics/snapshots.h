#pragma once

// Snapshots: each recomputation kept in the store with its as-of date and window, so the API,
// the dashboard and BI tools read results without recomputing, and customers' moves between
// segments can be counted from one snapshot to the next.

#include <cstdint>
#include <string>
#include <vector>

#include "tessera/analytics/predict.h"
#include "tessera/analytics/profiles.h"
#include "tessera/analytics/segments.h"
#include "tessera/analytics/snapshot_store.h"
#include "tessera/common/status.h"
#include "tessera/store/store.h"

namespace tessera::analytics {

// Keeps `set` (scored, segmented, optionally predicted) and its segment statistics as a new
// snapshot; returns its id. Errors: the store's.
StatusOr<int64_t> SaveSnapshot(store::Store& store, const ProfileSet& set,
                               const SegmentRules& rules);

struct Snapshot {
  analytics::SnapshotInfo info;
  std::vector<analytics::SnapshotSegment> segments;  // in rule order
  std::vector<analytics::Profile> profiles;          // empty unless loaded with profiles
  std::vector<privacy::Uuid> uuids;                  // every customer's pseudonym, with profiles
};

// `id` 0 means the newest. Errors: kNotFound (no such snapshot, or none at all: the message
// says how to make one), the store's.
StatusOr<Snapshot> LoadSnapshot(store::Store& store, int64_t id, bool with_profiles);

// A snapshot loaded with profiles as the profile set it was made from (scores, segments and
// any kept predictions as they were), e.g. to predict it anew (predict.h).
ProfileSet ProfileSetOf(const Snapshot& snapshot);

// `snapshot` (loaded with profiles) with predictions made now over its profiles, as if it had
// been made with them: each profile's p_alive, expected purchases and predicted CLV, and each
// segment's averages of them. Errors: those of PredictProfiles.
StatusOr<Snapshot> PredictSnapshot(store::Store& store, const Snapshot& snapshot,
                                   const ProfilePredictionOptions& options);

// The segment report as BuildReport gave it when the snapshot was made, in `lang`.
SegmentReport SnapshotReport(const Snapshot& snapshot, Lang lang);

// How many customers moved from each segment of one snapshot to each segment of another.
struct SegmentMigration {
  analytics::SnapshotInfo from, to;
  std::vector<analytics::SnapshotSegment> from_segments, to_segments;
  // counts[i][j]: customers in from_segments[i] and in to_segments[j]. The extra last row
  // (i == from_segments.size()) counts customers absent from `from` (new in the window); the
  // extra last column those absent from `to` (no purchase in its window any more).
  std::vector<std::vector<uint64_t>> counts;

  std::string ToJson(Lang lang) const;  // docs/output.md
  // from_group,from_key,to_group,to_key,customers (long format) in `dialect`.
  std::string ToCsv(Lang lang, const CsvDialect& dialect = kRfc4180Csv) const;
  std::string ToTable(Lang lang) const;  // a matrix for people
};

// `from` and `to` 0: the two newest snapshots. Errors: kNotFound (unknown id, or fewer than
// two snapshots), the store's.
StatusOr<SegmentMigration> ComputeMigration(store::Store& store, int64_t from, int64_t to);

// Every snapshot as JSON (an array) or a table, oldest first.
std::string SnapshotsToJson(const std::vector<analytics::SnapshotInfo>& snapshots);
std::string SnapshotsToTable(const std::vector<analytics::SnapshotInfo>& snapshots);

}  // namespace tessera::analytics
