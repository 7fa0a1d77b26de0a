#pragma once

// Named segments from an ordered rule file over the three scores (first match wins), and the
// per-segment statistics that the CLI, the API and BI tools read.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/analytics/profiles.h"
#include "tessera/common/status.h"
#include "tessera/common/text.h"

namespace tessera::analytics {

enum class Lang { kEn, kDe };
// Errors: kInvalidArgument unless "en" or "de".
StatusOr<Lang> ParseLang(std::string_view text);

struct ScoreRange {
  uint8_t lo = 1, hi = 5;
  bool Contains(uint8_t s) const { return s >= lo && s <= hi; }
};

struct SegmentRule {
  std::string key;      // stable machine name: "champions"
  std::string name_en;  // "Champions"
  std::string name_de;  // "VIPs"
  ScoreRange recency, frequency, monetary;
  int line = 0;  // where the rule starts in its file
  const std::string& Name(Lang lang) const { return lang == Lang::kDe ? name_de : name_en; }
};

// An ordered rule list in which every score combination finds a rule. Immutable once built;
// thread-safe for concurrent reads.
class SegmentRules {
 public:
  // The shipped rules (config/segments.toml, embedded in the binary).
  static StatusOr<SegmentRules> Default();
  // Errors: kNotFound (no file), kInvalidArgument (TOML syntax, unknown key, bad range, a
  // duplicate key, an unreachable rule, or score combinations no rule matches — each naming
  // the line).
  static StatusOr<SegmentRules> LoadFile(const std::string& path);
  static StatusOr<SegmentRules> Parse(std::string_view toml_text, std::string_view origin);
  // Rules given as values (e.g. as a snapshot recorded them), checked as a file's are: the
  // same errors, naming `origin` and each rule's `line`.
  static StatusOr<SegmentRules> FromRules(std::vector<SegmentRule> rules, std::string_view origin);

  const std::vector<SegmentRule>& rules() const { return rules_; }
  // Index of the first rule matching the scores (always found: validated at load).
  uint16_t Assign(uint8_t r, uint8_t f, uint8_t m) const {
    return table_[(r - 1) * 25 + (f - 1) * 5 + (m - 1)];
  }
  // Index of the rule with this key or name (either language, case-insensitive), or -1.
  int Find(std::string_view key_or_name) const;
  // The earlier rules that share score combinations with rule `i`: a customer matching rule
  // `i`'s ranges belongs to it unless one of these took the customer first.
  std::vector<size_t> Preceding(size_t i) const;
  // How many of the 125 score combinations rule `i` takes.
  int Combinations(size_t i) const;

 private:
  // Checks that every combination finds a rule and every rule some combination; builds table_.
  Status Complete(std::string_view origin);

  std::vector<SegmentRule> rules_;
  std::array<uint16_t, 125> table_{};
};

// Assigns every profile its segment (scores must be set).
void AssignSegments(const SegmentRules& rules, ProfileSet* set);

// One segment's figures, as computed (SegmentStats) and as kept in a snapshot
// (SnapshotSegment): one record, so that a new figure is added once.
struct SegmentFigures {
  uint64_t uuid_count = 0;
  double avg_order_count = 0, avg_clv = 0, avg_recency_days = 0;  // 0 when uuid_count == 0
  double share_percent = 0;  // largest-remainder rounded to 0.01, summing to exactly 100
  int64_t sum_clv_minor = 0;
  int64_t median_clv_minor = 0;
  uint64_t sum_order_count = 0;
  // With predictions (predict.h): averages over the segment's customers that have them.
  double avg_p_alive = 0, avg_predicted_clv = 0;
};

struct SegmentStats : SegmentFigures {
  std::string key, group;  // group: the name in the report's language
};

struct SegmentReport {
  int64_t snapshot_id = 0;  // the snapshot it was read from; 0 when computed fresh
  std::string as_of, window, window_start, currency;
  int currency_exponent = 2;
  uint64_t customer_count = 0;
  std::vector<SegmentStats> segments;  // in rule order, empty segments included
  bool has_predictions = false;
  std::string prediction_models;
  double prediction_horizon_months = 0;

  std::string ToJson() const;  // the documented JSON shape (docs/output.md)
  // A header row, then a row per segment, in `dialect` (common/text.h).
  std::string ToCsv(const CsvDialect& dialect = kRfc4180Csv) const;
  std::string ToTable() const;  // for people
};

SegmentReport BuildReport(const ProfileSet& set, const SegmentRules& rules, Lang lang);

// Sets the report's prediction fields and each segment's avg_p_alive and avg_predicted_clv
// from the predicted profiles of `set` (as BuildReport does); `report` has the segments of the
// rules that segmented `set`, in rule order.
void SetPredictionAverages(const ProfileSet& set, SegmentReport* report);

}  // namespace tessera::analytics
