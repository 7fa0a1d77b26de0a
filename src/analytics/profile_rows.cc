#include "tessera/analytics/profile_rows.h"

#include <algorithm>
#include <cmath>
#include <iterator>

#include "tessera/common/civil_time.h"
#include "tessera/common/money.h"
#include "tessera/common/text.h"

namespace tessera::analytics {

namespace {

// Predictions are model outputs, not money already earned: rounded for output.
std::string Rounded(double v, int decimals) {
  return std::isfinite(v) ? fmt::format("{:.{}f}", v, decimals) : std::string();
}
nlohmann::ordered_json RoundedJson(double v, int decimals) {
  return std::isfinite(v) ? nlohmann::ordered_json(std::stod(Rounded(v, decimals)))
                          : nlohmann::ordered_json();
}
int64_t AverageOrderValue(const Profile& p) {
  return p.order_count > 0 ? p.revenue_minor / static_cast<int64_t>(p.order_count) : 0;
}

}  // namespace

ProfileRows::ProfileRows(const ProfileSet& set, const SegmentRules& rules, Lang lang)
    : uuids_(set.uuids),
      currency_(set.currency),
      exponent_(set.currency_exponent),
      predictions_(set.has_predictions) {
  for (const SegmentRule& r : rules.rules()) segments_.push_back({r.key, r.Name(lang)});
}

ProfileRows::ProfileRows(const Snapshot& snapshot, Lang lang)
    : uuids_(snapshot.uuids),
      currency_(snapshot.info.currency),
      exponent_(snapshot.info.currency_exponent),
      predictions_(!snapshot.info.prediction_models.empty()) {
  for (const SnapshotSegment& g : snapshot.segments) {
    segments_.push_back({g.key, lang == Lang::kDe ? g.name_de : g.name_en});
  }
}

std::string ProfileRows::CsvHeader(const CsvDialect& d) const {
  static constexpr CsvColumn kColumns[] = {{"uuid", "UUID"},
                                           {"segment_key", "Segment-Schlüssel"},
                                           {"segment", "Segment"},
                                           {"r_score", "R-Wert"},
                                           {"f_score", "F-Wert"},
                                           {"m_score", "M-Wert"},
                                           {"order_count", "Bestellungen"},
                                           {"clv", "CLV"},
                                           {"avg_order_value", "Ø Bestellwert"},
                                           {"recency_days", "Tage seit Kauf"},
                                           {"first_order", "Erste Bestellung"},
                                           {"last_order", "Letzte Bestellung"},
                                           {"currency", "Währung"},
                                           {"p_alive", "P(aktiv)"},
                                           {"expected_purchases", "Erwartete Käufe"},
                                           {"predicted_clv", "Prognostizierter CLV"}};
  return CsvHeaderLine(std::span(kColumns).first(predictions_ ? 16 : 13), d);
}

void ProfileRows::AppendCsv(const Profile& p, std::string* out, const CsvDialect& d) const {
  const SegmentName& g = segments_[p.segment];
  fmt::format_to(std::back_inserter(*out),
                 "{1}{0}{2}{0}{3}{0}{4}{0}{5}{0}{6}{0}{7}{0}{8}{0}{9}{0}{10}{0}{11}{0}{12}{0}{13}",
                 d.separator, uuids_[p.customer].ToString(), CsvTextCell(g.key, d),
                 CsvTextCell(g.name, d), p.r_score, p.f_score, p.m_score, p.order_count,
                 CsvNumber(FormatMinor(p.revenue_minor, exponent_), d),
                 CsvNumber(FormatMinor(AverageOrderValue(p), exponent_), d), p.recency_days,
                 FormatIsoDate(p.first_day), FormatIsoDate(p.last_day), currency_);
  if (predictions_) {
    fmt::format_to(std::back_inserter(*out), "{0}{1}{0}{2}{0}{3}", d.separator,
                   CsvNumber(Rounded(p.p_alive, 4), d),
                   CsvNumber(Rounded(p.expected_purchases, 4), d),
                   CsvNumber(Rounded(p.predicted_clv, exponent_), d));
  }
  *out += "\r\n";
}

nlohmann::ordered_json ProfileRows::Json(const Profile& p) const {
  const SegmentName& g = segments_[p.segment];
  nlohmann::ordered_json j;
  j["uuid"] = uuids_[p.customer].ToString();
  j["segment_key"] = g.key;
  j["segment"] = g.name;
  j["r_score"] = p.r_score;
  j["f_score"] = p.f_score;
  j["m_score"] = p.m_score;
  j["order_count"] = p.order_count;
  j["clv"] = FormatMinor(p.revenue_minor, exponent_);
  j["avg_order_value"] = FormatMinor(AverageOrderValue(p), exponent_);
  j["recency_days"] = p.recency_days;
  j["first_order"] = FormatIsoDate(p.first_day);
  j["last_order"] = FormatIsoDate(p.last_day);
  j["currency"] = currency_;
  if (predictions_) {
    j["p_alive"] = RoundedJson(p.p_alive, 4);
    j["expected_purchases"] = RoundedJson(p.expected_purchases, 4);
    j["predicted_clv"] = RoundedJson(p.predicted_clv, exponent_);
  }
  return j;
}

StatusOr<int> FindSegment(const Snapshot& snapshot, std::string_view want) {
  for (size_t i = 0; i < snapshot.segments.size(); ++i) {
    const SnapshotSegment& g = snapshot.segments[i];
    if (EqualsIgnoreCase(want, g.key) || EqualsIgnoreCase(want, g.name_en) ||
        EqualsIgnoreCase(want, g.name_de)) {
      return static_cast<int>(i);
    }
  }
  std::string known;
  for (const SnapshotSegment& g : snapshot.segments) known += (known.empty() ? "" : ", ") + g.key;
  return InvalidArgumentError("unknown segment (known: {})", known);
}

namespace {

struct SortField {
  ProfileSort::Field field;
  const char* name;  // the profile rows' field
};
constexpr SortField kSortFields[] = {
    {ProfileSort::Field::kRScore, "r_score"},
    {ProfileSort::Field::kFScore, "f_score"},
    {ProfileSort::Field::kMScore, "m_score"},
    {ProfileSort::Field::kOrderCount, "order_count"},
    {ProfileSort::Field::kClv, "clv"},
    {ProfileSort::Field::kAvgOrderValue, "avg_order_value"},
    {ProfileSort::Field::kRecencyDays, "recency_days"},
    {ProfileSort::Field::kFirstOrder, "first_order"},
    {ProfileSort::Field::kLastOrder, "last_order"},
};

int64_t SortValue(const Profile& p, ProfileSort::Field field) {
  switch (field) {
    case ProfileSort::Field::kCustomer:
      return p.customer;
    case ProfileSort::Field::kRScore:
      return p.r_score;
    case ProfileSort::Field::kFScore:
      return p.f_score;
    case ProfileSort::Field::kMScore:
      return p.m_score;
    case ProfileSort::Field::kOrderCount:
      return p.order_count;
    case ProfileSort::Field::kClv:
      return p.revenue_minor;
    case ProfileSort::Field::kAvgOrderValue:
      return AverageOrderValue(p);
    case ProfileSort::Field::kRecencyDays:
      return p.recency_days;
    case ProfileSort::Field::kFirstOrder:
      return p.first_day;
    case ProfileSort::Field::kLastOrder:
      return p.last_day;
  }
  return 0;
}

}  // namespace

std::vector<std::string> ProfileSort::Allowed() {
  std::vector<std::string> out;
  for (const SortField& f : kSortFields) {
    out.emplace_back(f.name);
    out.push_back(std::string("-") + f.name);
  }
  return out;
}

StatusOr<ProfileSort> ProfileSort::Parse(std::string_view text) {
  ProfileSort sort;
  sort.descending = text.starts_with('-');
  const std::string_view name = sort.descending ? text.substr(1) : text;
  for (const SortField& f : kSortFields) {
    if (name == f.name) {
      sort.field = f.field;
      return sort;
    }
  }
  std::string allowed;
  for (const std::string& a : Allowed()) allowed += (allowed.empty() ? "" : ", ") + a;
  return InvalidArgumentError(
      "sort must be one of: {} (a field, ascending; with a leading - descending)", allowed);
}

std::string ProfileSort::ToString() const {
  for (const SortField& f : kSortFields) {
    if (f.field == field) return (descending ? "-" : "") + std::string(f.name);
  }
  return "";
}

std::vector<uint32_t> SortProfiles(const std::vector<Profile>& profiles, const ProfileSort& sort) {
  std::vector<int64_t> keys(profiles.size());
  for (size_t i = 0; i < profiles.size(); ++i) {
    const int64_t v = SortValue(profiles[i], sort.field);
    keys[i] = sort.descending ? -v : v;  // values are far from INT64_MIN
  }
  std::vector<uint32_t> order(profiles.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<uint32_t>(i);
  // Stable: equal values keep customer order, the tie-break in both directions.
  std::stable_sort(order.begin(), order.end(),
                   [&](uint32_t a, uint32_t b) { return keys[a] < keys[b]; });
  return order;
}

ProfilePage PageProfiles(const std::vector<Profile>& profiles, const ProfileFilter& filter,
                         size_t start, size_t limit, std::span<const uint32_t> order) {
  ProfilePage page;
  const size_t n = order.empty() ? profiles.size() : order.size();
  for (size_t place = 0; place < n; ++place) {
    const size_t i = order.empty() ? place : order[place];
    if (!filter.Matches(profiles[i])) continue;
    ++page.total;
    if (place < start) continue;
    if (page.positions.size() < limit) {
      page.positions.push_back(i);
    } else if (!page.next) {
      page.next = place;
    }
  }
  return page;
}

}  // namespace tessera::analytics
