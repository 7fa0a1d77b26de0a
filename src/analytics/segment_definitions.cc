#include "tessera/analytics/segment_definitions.h"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>
#include <nlohmann/json.hpp>

#include "tessera/common/civil_time.h"
#include "tessera/common/money.h"

namespace tessera::analytics {
namespace {

using Json = nlohmann::ordered_json;

constexpr const char* kDimensions[] = {"recency", "frequency", "monetary"};

const ScoreRange& RangeOf(const SegmentRule& rule, int dimension) {
  return dimension == 0 ? rule.recency : dimension == 1 ? rule.frequency : rule.monetary;
}

bool Any(const ScoreRange& r) { return r.lo == 1 && r.hi == 5; }

std::string RangeText(const ScoreRange& r) {
  return r.lo == r.hi ? fmt::format("{}", r.lo) : fmt::format("{}\u2013{}", r.lo, r.hi);
}

// "recency score 4-5, frequency score 4-5" over the ranges that are not "any score".
std::string RangesInWords(const std::array<ScoreRange, 3>& ranges, Lang lang) {
  static constexpr const char* kEn[] = {"recency score", "frequency score", "monetary score"};
  static constexpr const char* kDe[] = {"Aktualitäts-Score", "Häufigkeits-Score", "Umsatz-Score"};
  std::string out;
  for (int d = 0; d < 3; ++d) {
    if (Any(ranges[d])) continue;
    out += fmt::format("{}{} {}", out.empty() ? "" : ", ", lang == Lang::kDe ? kDe[d] : kEn[d],
                       RangeText(ranges[d]));
  }
  return out;
}

Json RangeJson(const ScoreRange& r) { return {{"min", r.lo}, {"max", r.hi}}; }

}  // namespace

StatusOr<SegmentRules> RulesOfSnapshot(const Snapshot& snapshot, bool* recorded) {
  const bool all_recorded = std::all_of(snapshot.segments.begin(), snapshot.segments.end(),
                                        [](const SnapshotSegment& g) { return g.rule_recorded; });
  *recorded = all_recorded && !snapshot.segments.empty();
  if (*recorded) {
    std::vector<SegmentRule> rules;
    for (size_t i = 0; i < snapshot.segments.size(); ++i) {
      const SnapshotSegment& g = snapshot.segments[i];
      SegmentRule r;
      r.key = g.key;
      r.name_en = g.name_en;
      r.name_de = g.name_de;
      r.recency = g.recency;
      r.frequency = g.frequency;
      r.monetary = g.monetary;
      r.line = static_cast<int>(i + 1);
      rules.push_back(std::move(r));
    }
    return SegmentRules::FromRules(std::move(rules),
                                   fmt::format("the rules of snapshot {}", snapshot.info.id));
  }
  // Kept before snapshots recorded their rules: the shipped rules made it if its segments are
  // the shipped ones (a rule file of one's own with the shipped keys and names in both
  // languages, in the same order, is not told apart).
  TESSERA_ASSIGN_OR_RETURN(SegmentRules shipped, SegmentRules::Default());
  bool same = shipped.rules().size() == snapshot.segments.size();
  for (size_t i = 0; same && i < snapshot.segments.size(); ++i) {
    const SegmentRule& r = shipped.rules()[i];
    const SnapshotSegment& g = snapshot.segments[i];
    same = r.key == g.key && r.name_en == g.name_en && r.name_de == g.name_de;
  }
  if (!same) {
    return FailedPreconditionError(
        "snapshot {} was kept by an older version with a rule file of its own, and did not "
        "record its rules; keep a new snapshot (`tessera snapshots create --rules FILE`) to see "
        "them",
        snapshot.info.id);
  }
  return shipped;
}

StatusOr<SegmentDefinitions> DefineSegments(const Snapshot& snapshot) {
  SegmentDefinitions out;
  out.snapshot = snapshot.info;
  TESSERA_ASSIGN_OR_RETURN(SegmentRules rules, RulesOfSnapshot(snapshot, &out.rules_recorded));
  for (int d = 0; d < 3; ++d) {
    for (uint8_t s = 1; s <= 5; ++s) out.bands[d][s - 1].score = s;
  }
  std::vector<uint64_t> customers(rules.rules().size(), 0);
  for (const Profile& p : snapshot.profiles) {
    const int64_t values[] = {p.recency_days, p.order_count, p.revenue_minor};
    const uint8_t scores[] = {p.r_score, p.f_score, p.m_score};
    for (int d = 0; d < 3; ++d) {
      if (scores[d] < 1 || scores[d] > 5) continue;
      ScoreBand& b = out.bands[d][scores[d] - 1];
      b.min = b.customers == 0 ? values[d] : std::min(b.min, values[d]);
      b.max = b.customers == 0 ? values[d] : std::max(b.max, values[d]);
      ++b.customers;
    }
    if (p.segment < customers.size()) ++customers[p.segment];
  }
  for (size_t i = 0; i < rules.rules().size(); ++i) {
    SegmentDefinition d;
    d.rule = rules.rules()[i];
    d.unless = rules.Preceding(i);
    d.combinations = rules.Combinations(i);
    d.customers = customers[i];
    // The bounding box of the combinations the rule takes; they form a box when they fill it.
    std::array<ScoreRange, 3> box = {ScoreRange{5, 1}, ScoreRange{5, 1}, ScoreRange{5, 1}};
    for (uint8_t r = 1; r <= 5; ++r) {
      for (uint8_t f = 1; f <= 5; ++f) {
        for (uint8_t m = 1; m <= 5; ++m) {
          if (rules.Assign(r, f, m) != i) continue;
          const uint8_t scores[] = {r, f, m};
          for (int k = 0; k < 3; ++k) {
            box[k].lo = std::min(box[k].lo, scores[k]);
            box[k].hi = std::max(box[k].hi, scores[k]);
          }
        }
      }
    }
    int volume = 1;
    for (const ScoreRange& b : box) volume *= b.hi - b.lo + 1;
    if (volume == d.combinations) d.takes = box;
    out.segments.push_back(std::move(d));
  }
  return out;
}

std::string RuleInWords(const SegmentDefinitions& all, const SegmentDefinition& d, Lang lang) {
  const bool de = lang == Lang::kDe;
  const std::array<ScoreRange, 3> ranges = {d.rule.recency, d.rule.frequency, d.rule.monetary};
  std::string out = RangesInWords(ranges, lang);
  if (out.empty()) {
    out = de ? "alle, die keine vorherige Regel erfasst" : "everyone no earlier rule takes";
    if (d.takes && !RangesInWords(*d.takes, lang).empty()) {
      out += (de ? " (hier: " : " (here: ") + RangesInWords(*d.takes, lang) + ")";
    }
    return out;
  }
  if (!d.unless.empty()) {
    std::string names;
    for (size_t j : d.unless) {
      if (!names.empty()) names += ", ";
      names += all.segments[j].rule.Name(lang);
    }
    out += (de ? "; außer bereits in: " : "; unless already in: ") + names;
  }
  return out;
}

std::string SegmentDefinitions::ToJson(Lang lang) const {
  Json j;
  j["snapshot_id"] = snapshot.id;
  j["as_of"] = FormatIsoDate(snapshot.as_of_day);
  j["window"] = {{"length", snapshot.window},
                 {"start", FormatIsoDate(snapshot.start_day)},
                 {"end", FormatIsoDate(snapshot.as_of_day)}};
  j["currency"] = snapshot.currency;
  j["customer_count"] = snapshot.profile_count;
  j["rules_recorded"] = rules_recorded;
  j["matching"] = "first";
  j["score_formula"] = "score = min(5, 1 + floor(5 * below / n))";
  static constexpr const char* kUnits[] = {"days", "orders", "currency"};
  static constexpr const char* kBetter[] = {"lower", "higher", "higher"};
  auto& scores = j["scores"] = Json::object();
  for (int d = 0; d < 3; ++d) {
    Json bands = Json::array();
    for (const ScoreBand& b : this->bands[d]) {
      Json e = {{"score", b.score}, {"customers", b.customers}};
      auto value = [&](int64_t v) {
        return d == 2 ? Json(FormatMinor(v, snapshot.currency_exponent)) : Json(v);
      };
      e["min"] = b.customers == 0 ? Json() : value(b.min);
      e["max"] = b.customers == 0 ? Json() : value(b.max);
      bands.push_back(std::move(e));
    }
    scores[kDimensions[d]] = {{"unit", kUnits[d]}, {"better", kBetter[d]}, {"bands", bands}};
  }
  auto& segs = j["segments"] = Json::array();
  for (size_t i = 0; i < segments.size(); ++i) {
    const SegmentDefinition& d = segments[i];
    Json e;
    e["position"] = i + 1;
    e["key"] = d.rule.key;
    e["group"] = d.rule.Name(lang);
    e["name_en"] = d.rule.name_en;
    e["name_de"] = d.rule.name_de;
    for (int k = 0; k < 3; ++k) e[kDimensions[k]] = RangeJson(RangeOf(d.rule, k));
    e["unless"] = Json::array();
    for (size_t u : d.unless) e["unless"].push_back(segments[u].rule.key);
    e["score_combinations"] = d.combinations;
    if (d.takes) {
      for (int k = 0; k < 3; ++k) e["takes"][kDimensions[k]] = RangeJson((*d.takes)[k]);
    } else {
      e["takes"] = nullptr;
    }
    e["uuid_count"] = d.customers;
    e["rule_en"] = RuleInWords(*this, d, Lang::kEn);
    e["rule_de"] = RuleInWords(*this, d, Lang::kDe);
    segs.push_back(std::move(e));
  }
  return j.dump(2) + "\n";
}

std::string SegmentDefinitions::ToCsv(Lang lang, const CsvDialect& dialect) const {
  static constexpr CsvColumn kColumns[] = {
      {"position", "Position"},      {"key", "Schlüssel"},
      {"group", "Segment"},          {"name_en", "Name (englisch)"},
      {"name_de", "Name (deutsch)"}, {"recency_min", "R von"},
      {"recency_max", "R bis"},      {"frequency_min", "F von"},
      {"frequency_max", "F bis"},    {"monetary_min", "M von"},
      {"monetary_max", "M bis"},     {"unless", "Außer in"},
      {"uuid_count", "Kunden"},      {"rule", "Regel"}};
  std::string out = CsvHeaderLine(kColumns, dialect);
  const char sep = dialect.separator;
  for (size_t i = 0; i < segments.size(); ++i) {
    const SegmentDefinition& d = segments[i];
    std::string unless;
    for (size_t u : d.unless) unless += (unless.empty() ? "" : " ") + segments[u].rule.key;
    fmt::format_to(std::back_inserter(out), "{1}{0}{2}{0}{3}{0}{4}{0}{5}", sep, i + 1,
                   CsvTextCell(d.rule.key, dialect), CsvTextCell(d.rule.Name(lang), dialect),
                   CsvTextCell(d.rule.name_en, dialect), CsvTextCell(d.rule.name_de, dialect));
    for (int k = 0; k < 3; ++k) {
      fmt::format_to(std::back_inserter(out), "{0}{1}{0}{2}", sep, RangeOf(d.rule, k).lo,
                     RangeOf(d.rule, k).hi);
    }
    fmt::format_to(std::back_inserter(out), "{0}{1}{0}{2}{0}{3}\r\n", sep,
                   CsvTextCell(unless, dialect), d.customers,
                   CsvTextCell(RuleInWords(*this, d, lang), dialect));
  }
  return out;
}

}  // namespace tessera::analytics
