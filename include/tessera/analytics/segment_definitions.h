#pragma once

// How a snapshot's segments are defined: the rules it was made with (score ranges, first match
// wins), in both languages, and what each score meant in that snapshot (the days, orders and
// CLV that each of the scores 1..5 covered), for GET /api/v1/segments/definitions and the
// dashboard's "How segments are defined". Read from the snapshot, never from a copy of the
// rules: a snapshot made with `--rules FILE` shows that file's rules.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tessera/analytics/segments.h"
#include "tessera/analytics/snapshots.h"
#include "tessera/common/status.h"
#include "tessera/common/text.h"

namespace tessera::analytics {

// The rules `snapshot` was made with, as it recorded them. A snapshot kept before snapshots
// recorded their rules gets the shipped rules when its segments are the shipped ones (same
// keys and names in the same order), with `*recorded` false. Errors: kFailedPrecondition
// when such a snapshot has segments of its own (its rules are unknown).
StatusOr<SegmentRules> RulesOfSnapshot(const Snapshot& snapshot, bool* recorded);

// The customers with one score of one dimension, and the values they have (days since the last
// purchase for recency, purchases for frequency, net revenue in minor units for monetary).
struct ScoreBand {
  uint8_t score = 0;
  uint64_t customers = 0;
  int64_t min = 0, max = 0;  // meaningful only when customers > 0
};

struct SegmentDefinition {
  SegmentRule rule;
  std::vector<size_t> unless;  // earlier rules that take some of its ranges' customers first
  int combinations = 0;        // of the 125 score combinations, how many it takes
  // The score ranges it actually takes when they form a box (e.g. a catch-all after the other
  // rules takes "R 1, F 1-2, any M"); none when they do not.
  std::optional<std::array<ScoreRange, 3>> takes;
  uint64_t customers = 0;
};

struct SegmentDefinitions {
  SnapshotInfo snapshot;
  bool rules_recorded = true;
  std::vector<SegmentDefinition> segments;  // in rule order
  // recency, frequency, monetary; bands[d][s - 1] for score s.
  std::array<std::array<ScoreBand, 5>, 3> bands{};

  // The documented JSON (docs/api.md); segment names in `lang` as "group", both as name_en and
  // name_de, each rule in words in both languages.
  std::string ToJson(Lang lang) const;
  // One row per segment, in `dialect`.
  std::string ToCsv(Lang lang, const CsvDialect& dialect = kRfc4180Csv) const;
};

// Needs `snapshot` loaded with profiles. Errors: those of RulesOfSnapshot.
StatusOr<SegmentDefinitions> DefineSegments(const Snapshot& snapshot);

// The rule of `d` in words: "recency score 4-5, frequency score 4-5, monetary score 4-5" (or
// German), with the earlier rules it yields to ("unless Can't lose them").
std::string RuleInWords(const SegmentDefinitions& all, const SegmentDefinition& d, Lang lang);

}  // namespace tessera::analytics
