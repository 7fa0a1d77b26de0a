#include "tessera/analytics/snapshots.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "tessera/common/civil_time.h"
#include "tessera/common/text.h"

namespace tessera::analytics {

StatusOr<int64_t> SaveSnapshot(store::Store& store, const ProfileSet& set,
                               const SegmentRules& rules) {
  const SegmentReport report = BuildReport(set, rules, Lang::kEn);
  analytics::SnapshotInfo info;
  info.as_of_day = set.as_of_day;
  info.start_day = set.start_day;
  info.window = set.window.ToString();
  info.currency = set.currency;
  info.currency_exponent = set.currency_exponent;
  info.customers_in_store = set.customers_in_store;
  info.profile_count = set.profiles.size();
  if (set.has_predictions) {
    info.prediction_models = set.prediction_models;
    info.prediction_horizon_months = set.prediction_horizon_months;
  }
  TESSERA_ASSIGN_OR_RETURN(auto loads, store.Loads());
  if (!loads.empty()) info.last_load_id = loads.back().load_id;

  std::vector<analytics::SnapshotSegment> segments(report.segments.size());
  for (size_t i = 0; i < segments.size(); ++i) {
    const SegmentStats& s = report.segments[i];
    analytics::SnapshotSegment& g = segments[i];
    static_cast<SegmentFigures&>(g) = s;
    g.key = s.key;
    g.name_en = rules.rules()[i].name_en;
    g.name_de = rules.rules()[i].name_de;
    g.rule_recorded = true;
    g.recency = rules.rules()[i].recency;
    g.frequency = rules.rules()[i].frequency;
    g.monetary = rules.rules()[i].monetary;
  }
  return SnapshotStore(store).Save(info, segments, set.profiles, set.uuids);
}

namespace {

StatusOr<analytics::SnapshotInfo> FindSnapshot(store::Store& store, int64_t id) {
  TESSERA_ASSIGN_OR_RETURN(auto all, analytics::SnapshotStore(store).List());
  if (all.empty()) {
    return NotFoundError("{} holds no snapshot yet; make one with `tessera snapshots create`",
                         store.Describe());
  }
  if (id == 0) return all.back();
  for (const auto& s : all) {
    if (s.id == id) return s;
  }
  return NotFoundError("{} holds no snapshot {} (snapshots {} to {}; `tessera snapshots list`)",
                       store.Describe(), id, all.front().id, all.back().id);
}

}  // namespace

StatusOr<Snapshot> LoadSnapshot(store::Store& store, int64_t id, bool with_profiles) {
  Snapshot s;
  TESSERA_ASSIGN_OR_RETURN(s.info, FindSnapshot(store, id));
  TESSERA_ASSIGN_OR_RETURN(s.segments, analytics::SnapshotStore(store).Segments(s.info.id));
  if (with_profiles) {
    s.profiles.reserve(s.info.profile_count);
    TESSERA_RETURN_IF_ERROR(analytics::SnapshotStore(store).ScanProfiles(
        s.info.id, [&](const analytics::Profile& p) { s.profiles.push_back(p); }));
    TESSERA_RETURN_IF_ERROR(store.ScanCustomers([&](uint32_t i, const privacy::Uuid& u) {
      if (s.uuids.size() <= i) s.uuids.resize(i + 1);
      s.uuids[i] = u;
    }));
  }
  return s;
}

ProfileSet ProfileSetOf(const Snapshot& snapshot) {
  const analytics::SnapshotInfo& i = snapshot.info;
  ProfileSet set;
  set.as_of_day = i.as_of_day;
  set.start_day = i.start_day;
  if (auto w = Window::Parse(i.window); w.ok()) set.window = *w;
  set.currency = i.currency;
  set.currency_exponent = i.currency_exponent;
  set.customers_in_store = snapshot.uuids.size();
  set.uuids = snapshot.uuids;
  set.has_predictions = !i.prediction_models.empty();
  set.prediction_models = i.prediction_models;
  set.prediction_horizon_months = i.prediction_horizon_months;
  set.profiles = snapshot.profiles;
  return set;
}

StatusOr<Snapshot> PredictSnapshot(store::Store& store, const Snapshot& base,
                                   const ProfilePredictionOptions& options) {
  ProfileSet set = ProfileSetOf(base);
  TESSERA_RETURN_IF_ERROR(PredictProfiles(store, options, &set));
  Snapshot snap = base;
  snap.info.prediction_models = set.prediction_models;
  snap.info.prediction_horizon_months = set.prediction_horizon_months;
  for (size_t i = 0; i < snap.profiles.size(); ++i) {
    snap.profiles[i].p_alive = set.profiles[i].p_alive;
    snap.profiles[i].expected_purchases = set.profiles[i].expected_purchases;
    snap.profiles[i].predicted_clv = set.profiles[i].predicted_clv;
  }
  SegmentReport averages;
  averages.segments.resize(snap.segments.size());
  SetPredictionAverages(set, &averages);
  for (size_t i = 0; i < snap.segments.size(); ++i) {
    snap.segments[i].avg_p_alive = averages.segments[i].avg_p_alive;
    snap.segments[i].avg_predicted_clv = averages.segments[i].avg_predicted_clv;
  }
  return snap;
}

SegmentReport SnapshotReport(const Snapshot& snapshot, Lang lang) {
  const analytics::SnapshotInfo& i = snapshot.info;
  SegmentReport r;
  r.snapshot_id = i.id;
  r.as_of = FormatIsoDate(i.as_of_day);
  r.window = i.window;
  r.window_start = FormatIsoDate(i.start_day);
  r.currency = i.currency;
  r.currency_exponent = i.currency_exponent;
  r.customer_count = i.profile_count;
  r.has_predictions = !i.prediction_models.empty();
  r.prediction_models = i.prediction_models;
  r.prediction_horizon_months = i.prediction_horizon_months;
  for (const auto& g : snapshot.segments) {
    SegmentStats s;
    static_cast<SegmentFigures&>(s) = g;
    s.key = g.key;
    s.group = lang == Lang::kDe ? g.name_de : g.name_en;
    r.segments.push_back(std::move(s));
  }
  return r;
}

StatusOr<SegmentMigration> ComputeMigration(store::Store& store, int64_t from, int64_t to) {
  TESSERA_ASSIGN_OR_RETURN(auto all, analytics::SnapshotStore(store).List());
  if (from == 0 && to == 0) {
    if (all.size() < 2) {
      return NotFoundError(
          "{} holds {} snapshot(s); a migration needs two (`tessera snapshots create` after "
          "the next load)",
          store.Describe(), all.size());
    }
    from = all[all.size() - 2].id;
    to = all.back().id;
  }
  SegmentMigration m;
  TESSERA_ASSIGN_OR_RETURN(m.from, FindSnapshot(store, from));
  TESSERA_ASSIGN_OR_RETURN(m.to, FindSnapshot(store, to));
  TESSERA_ASSIGN_OR_RETURN(m.from_segments, analytics::SnapshotStore(store).Segments(m.from.id));
  TESSERA_ASSIGN_OR_RETURN(m.to_segments, analytics::SnapshotStore(store).Segments(m.to.id));
  const size_t nf = m.from_segments.size(), nt = m.to_segments.size();
  m.counts.assign(nf + 1, std::vector<uint64_t>(nt + 1, 0));
  // Both scans come in customer order: a merge join on the customer index.
  std::vector<std::pair<uint32_t, uint16_t>> older;
  older.reserve(m.from.profile_count);
  TESSERA_RETURN_IF_ERROR(analytics::SnapshotStore(store).ScanProfiles(
      m.from.id, [&](const analytics::Profile& p) { older.emplace_back(p.customer, p.segment); }));
  size_t i = 0;
  TESSERA_RETURN_IF_ERROR(
      analytics::SnapshotStore(store).ScanProfiles(m.to.id, [&](const analytics::Profile& p) {
        while (i < older.size() && older[i].first < p.customer) ++m.counts[older[i++].second][nt];
        if (i < older.size() && older[i].first == p.customer) {
          ++m.counts[older[i++].second][p.segment];
        } else {
          ++m.counts[nf][p.segment];
        }
      }));
  for (; i < older.size(); ++i) ++m.counts[older[i].second][nt];
  return m;
}

namespace {

const std::string& Name(const analytics::SnapshotSegment& g, Lang lang) {
  return lang == Lang::kDe ? g.name_de : g.name_en;
}

nlohmann::ordered_json InfoJson(const analytics::SnapshotInfo& s) {
  nlohmann::ordered_json j;
  j["id"] = s.id;
  j["created_at"] = s.created_at;
  j["as_of"] = FormatIsoDate(s.as_of_day);
  j["window"] = {{"length", s.window},
                 {"start", FormatIsoDate(s.start_day)},
                 {"end", FormatIsoDate(s.as_of_day)}};
  j["currency"] = s.currency;
  j["customer_count"] = s.profile_count;
  j["customers_in_store"] = s.customers_in_store;
  j["last_load_id"] = s.last_load_id;
  if (!s.prediction_models.empty()) {
    j["predictions"] = {{"models", s.prediction_models},
                        {"horizon_months", s.prediction_horizon_months}};
  }
  return j;
}

}  // namespace

std::string SegmentMigration::ToJson(Lang lang) const {
  nlohmann::ordered_json j;
  j["from"] = InfoJson(from);
  j["to"] = InfoJson(to);
  auto& moves = j["moves"] = nlohmann::ordered_json::array();
  for (size_t a = 0; a < counts.size(); ++a) {
    for (size_t b = 0; b < counts[a].size(); ++b) {
      if (counts[a][b] == 0) continue;
      nlohmann::ordered_json e;
      const bool known_from = a < from_segments.size(), known_to = b < to_segments.size();
      e["from_key"] = known_from ? nlohmann::ordered_json(from_segments[a].key) : nullptr;
      e["from_group"] = known_from ? nlohmann::ordered_json(Name(from_segments[a], lang)) : nullptr;
      e["to_key"] = known_to ? nlohmann::ordered_json(to_segments[b].key) : nullptr;
      e["to_group"] = known_to ? nlohmann::ordered_json(Name(to_segments[b], lang)) : nullptr;
      e["customers"] = counts[a][b];
      moves.push_back(std::move(e));
    }
  }
  return j.dump(2) + "\n";
}

std::string SegmentMigration::ToCsv(Lang lang, const CsvDialect& d) const {
  static constexpr CsvColumn kColumns[] = {{"from_group", "von Segment"},
                                           {"from_key", "von Schlüssel"},
                                           {"to_group", "nach Segment"},
                                           {"to_key", "nach Schlüssel"},
                                           {"customers", "Kunden"}};
  std::string out = CsvHeaderLine(kColumns, d);
  for (size_t a = 0; a < counts.size(); ++a) {
    for (size_t b = 0; b < counts[a].size(); ++b) {
      if (counts[a][b] == 0) continue;
      const bool known_from = a < from_segments.size(), known_to = b < to_segments.size();
      out += fmt::format("{1}{0}{2}{0}{3}{0}{4}{0}{5}\r\n", d.separator,
                         known_from ? CsvTextCell(Name(from_segments[a], lang), d) : "",
                         known_from ? CsvTextCell(from_segments[a].key, d) : "",
                         known_to ? CsvTextCell(Name(to_segments[b], lang), d) : "",
                         known_to ? CsvTextCell(to_segments[b].key, d) : "", counts[a][b]);
    }
  }
  return out;
}

std::string SegmentMigration::ToTable(Lang lang) const {
  auto width = [](const std::string& s) {
    size_t w = 0;
    for (unsigned char c : s) w += (c & 0xC0) != 0x80;
    return w;
  };
  auto pad = [&](const std::string& s, size_t w) { return s + std::string(w - width(s), ' '); };
  auto lpad = [&](const std::string& s, size_t w) { return std::string(w - width(s), ' ') + s; };
  const std::string new_label = lang == Lang::kDe ? "(neu)" : "(new)";
  const std::string gone_label = lang == Lang::kDe ? "(weg)" : "(gone)";
  std::vector<std::string> rows, cols;
  for (const auto& g : from_segments) rows.push_back(Name(g, lang));
  rows.push_back(new_label);
  for (const auto& g : to_segments) cols.push_back(Name(g, lang));
  cols.push_back(gone_label);
  size_t first = width(lang == Lang::kDe ? "von \\ nach" : "from \\ to");
  for (const auto& r : rows) first = std::max(first, width(r));
  std::vector<size_t> w(cols.size());
  for (size_t b = 0; b < cols.size(); ++b) {
    w[b] = width(cols[b]);
    for (const auto& row : counts) w[b] = std::max(w[b], std::to_string(row[b]).size());
  }
  std::string out = fmt::format(
      "{} {} ({}) -> {} {} ({})\n\n", lang == Lang::kDe ? "Von Snapshot" : "From snapshot", from.id,
      FormatIsoDate(from.as_of_day), lang == Lang::kDe ? "nach Snapshot" : "to snapshot", to.id,
      FormatIsoDate(to.as_of_day));
  out += pad(lang == Lang::kDe ? "von \\ nach" : "from \\ to", first);
  for (size_t b = 0; b < cols.size(); ++b) out += "  " + lpad(cols[b], w[b]);
  out += "\n";
  for (size_t a = 0; a < rows.size(); ++a) {
    out += pad(rows[a], first);
    for (size_t b = 0; b < cols.size(); ++b) {
      out += "  " + lpad(std::to_string(counts[a][b]), w[b]);
    }
    out += "\n";
  }
  return out;
}

std::string SnapshotsToJson(const std::vector<analytics::SnapshotInfo>& snapshots) {
  auto j = nlohmann::ordered_json::array();
  for (const auto& s : snapshots) j.push_back(InfoJson(s));
  return j.dump(2) + "\n";
}

std::string SnapshotsToTable(const std::vector<analytics::SnapshotInfo>& snapshots) {
  if (snapshots.empty()) return "No snapshots yet; make one with `tessera snapshots create`.\n";
  std::string out =
      fmt::format("{:>6}  {:<20}  {:<10}  {:<7}  {:>10}  {:>8}  {}\n", "id", "created", "as of",
                  "window", "customers", "currency", "predictions");
  for (const auto& s : snapshots) {
    out += fmt::format("{:>6}  {:<20}  {:<10}  {:<7}  {:>10}  {:>8}  {}\n", s.id, s.created_at,
                       FormatIsoDate(s.as_of_day), s.window, s.profile_count, s.currency,
                       s.prediction_models.empty() ? "-" : s.prediction_models);
  }
  return out;
}

}  // namespace tessera::analytics
