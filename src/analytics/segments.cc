#include "tessera/analytics/segments.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <sstream>

#include "tessera/analytics/scores.h"
#include "tessera/common/civil_time.h"
#include "tessera/common/money.h"
#include "tessera/common/text.h"
#include "tessera/io/mapping.h"

namespace tessera::analytics {
namespace {

StatusOr<ScoreRange> ParseRange(const toml::node& node, std::string_view origin,
                                std::string_view key) {
  const auto line = node.source().begin.line;
  auto bad = [&] {
    return InvalidArgumentError(
        "{}:{}: {} must be a score or range of scores between 1 and 5, like \"4-5\" or \"3\"",
        origin, line, key);
  };
  // as_integer(), not value<int64_t>(): value() converts booleans and floats to integers.
  if (const auto* i = node.as_integer()) {
    const int64_t v = i->get();
    if (v < 1 || v > 5) return bad();
    return ScoreRange{static_cast<uint8_t>(v), static_cast<uint8_t>(v)};
  }
  auto s = node.value<std::string>();
  if (!s) return bad();
  std::string text = *s;
  text.erase(std::remove(text.begin(), text.end(), ' '), text.end());
  ScoreRange r;
  if (text.size() == 1 && text[0] >= '1' && text[0] <= '5') {
    r.lo = r.hi = static_cast<uint8_t>(text[0] - '0');
  } else if (text.size() == 3 && text[1] == '-' && text[0] >= '1' && text[0] <= '5' &&
             text[2] >= '1' && text[2] <= '5') {
    r.lo = static_cast<uint8_t>(text[0] - '0');
    r.hi = static_cast<uint8_t>(text[2] - '0');
    if (r.lo > r.hi) return bad();
  } else {
    return bad();
  }
  return r;
}

double Round2(double v) { return std::round(v * 100.0) / 100.0; }

}  // namespace

StatusOr<Lang> ParseLang(std::string_view text) {
  if (text == "en") return Lang::kEn;
  if (text == "de") return Lang::kDe;
  return InvalidArgumentError("language must be en or de");
}

StatusOr<SegmentRules> SegmentRules::Default() {
  auto text = io::EmbeddedConfig("segments.toml");
  if (!text) return InternalError("the default segment rules are missing from this build");
  return Parse(*text, "segments.toml (default)");
}

StatusOr<SegmentRules> SegmentRules::LoadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFoundError("cannot read rule file {}", path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return Parse(buffer.str(), path);
}

StatusOr<SegmentRules> SegmentRules::Parse(std::string_view toml_text, std::string_view origin) {
  toml::table root;
  try {
    root = toml::parse(toml_text, std::string(origin));
  } catch (const toml::parse_error& e) {
    return InvalidArgumentError("{}:{}:{}: {}", origin, e.source().begin.line,
                                e.source().begin.column, e.description());
  }
  SegmentRules rules;
  for (const auto& [key, node] : root) {
    if (key.str() != "segment") {
      return InvalidArgumentError("{}:{}: unknown key '{}' (a rule file holds [[segment]] entries)",
                                  origin, node.source().begin.line, key.str());
    }
  }
  const toml::array* segments = root["segment"].as_array();
  if (segments == nullptr || segments->empty()) {
    return InvalidArgumentError("{}: no [[segment]] rules", origin);
  }
  for (const toml::node& entry : *segments) {
    const toml::table* t = entry.as_table();
    const int line = static_cast<int>(entry.source().begin.line);
    if (t == nullptr)
      return InvalidArgumentError("{}:{}: each segment must be a [[segment]] table", origin, line);
    SegmentRule rule;
    rule.line = line;
    for (const auto& [k, v] : *t) {
      const std::string name(k.str());
      if (name == "key" || name == "en" || name == "de") {
        auto s = v.value<std::string>();
        if (!s || s->empty())
          return InvalidArgumentError("{}:{}: {} must be a non-empty string", origin,
                                      v.source().begin.line, name);
        (name == "key" ? rule.key : name == "en" ? rule.name_en : rule.name_de) = *s;
      } else if (name == "recency" || name == "frequency" || name == "monetary") {
        TESSERA_ASSIGN_OR_RETURN(ScoreRange r, ParseRange(v, origin, name));
        (name == "recency"     ? rule.recency
         : name == "frequency" ? rule.frequency
                               : rule.monetary) = r;
      } else {
        return InvalidArgumentError(
            "{}:{}: unknown key '{}' (known: key, en, de, recency, frequency, monetary)", origin,
            v.source().begin.line, name);
      }
    }
    if (rule.key.empty()) return InvalidArgumentError("{}:{}: segment has no key", origin, line);
    if (rule.name_en.empty()) rule.name_en = rule.key;
    if (rule.name_de.empty()) rule.name_de = rule.name_en;
    for (const auto& other : rules.rules_) {
      if (other.key == rule.key) {
        return InvalidArgumentError("{}:{}: segment key '{}' is already used at line {}", origin,
                                    line, rule.key, other.line);
      }
    }
    rules.rules_.push_back(std::move(rule));
  }
  TESSERA_RETURN_IF_ERROR(rules.Complete(origin));
  return rules;
}

Status SegmentRules::Complete(std::string_view origin) {
  if (rules_.size() > 1000) return InvalidArgumentError("{}: more than 1000 segments", origin);
  std::vector<bool> reachable(rules_.size(), false);
  for (uint8_t r = 1; r <= 5; ++r) {
    for (uint8_t f = 1; f <= 5; ++f) {
      for (uint8_t m = 1; m <= 5; ++m) {
        int match = -1;
        for (size_t i = 0; i < rules_.size(); ++i) {
          const auto& rule = rules_[i];
          if (rule.recency.Contains(r) && rule.frequency.Contains(f) && rule.monetary.Contains(m)) {
            match = static_cast<int>(i);
            break;
          }
        }
        if (match < 0) {
          return InvalidArgumentError(
              "{}:{}: the rules leave customers unassigned (for example recency {}, frequency {}, "
              "monetary {}); end the file with a catch-all [[segment]] that has no ranges",
              origin, rules_.back().line, r, f, m);
        }
        reachable[static_cast<size_t>(match)] = true;
        table_[(r - 1) * 25 + (f - 1) * 5 + (m - 1)] = static_cast<uint16_t>(match);
      }
    }
  }
  for (size_t i = 0; i < reachable.size(); ++i) {
    if (!reachable[i]) {
      return InvalidArgumentError(
          "{}:{}: segment '{}' can never match: earlier rules take all of its customers", origin,
          rules_[i].line, rules_[i].key);
    }
  }
  return OkStatus();
}

StatusOr<SegmentRules> SegmentRules::FromRules(std::vector<SegmentRule> given,
                                               std::string_view origin) {
  SegmentRules rules;
  if (given.empty()) return InvalidArgumentError("{}: no segment rules", origin);
  for (const SegmentRule& r : given) {
    for (const ScoreRange* range : {&r.recency, &r.frequency, &r.monetary}) {
      if (range->lo < 1 || range->hi > 5 || range->lo > range->hi) {
        return InvalidArgumentError("{}:{}: segment '{}' has a score range outside 1 to 5", origin,
                                    r.line, r.key);
      }
    }
  }
  rules.rules_ = std::move(given);
  TESSERA_RETURN_IF_ERROR(rules.Complete(origin));
  return rules;
}

std::vector<size_t> SegmentRules::Preceding(size_t i) const {
  std::vector<size_t> out;
  const SegmentRule& rule = rules_[i];
  auto overlap = [](const ScoreRange& a, const ScoreRange& b) {
    return a.lo <= b.hi && b.lo <= a.hi;
  };
  for (size_t j = 0; j < i; ++j) {
    const SegmentRule& e = rules_[j];
    if (overlap(e.recency, rule.recency) && overlap(e.frequency, rule.frequency) &&
        overlap(e.monetary, rule.monetary)) {
      out.push_back(j);
    }
  }
  return out;
}

int SegmentRules::Combinations(size_t i) const {
  return static_cast<int>(std::count(table_.begin(), table_.end(), static_cast<uint16_t>(i)));
}

int SegmentRules::Find(std::string_view key_or_name) const {
  const std::string wanted = AsciiLower(key_or_name);
  for (size_t i = 0; i < rules_.size(); ++i) {
    if (AsciiLower(rules_[i].key) == wanted || AsciiLower(rules_[i].name_en) == wanted ||
        AsciiLower(rules_[i].name_de) == wanted) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

void AssignSegments(const SegmentRules& rules, ProfileSet* set) {
  for (Profile& p : set->profiles) p.segment = rules.Assign(p.r_score, p.f_score, p.m_score);
}

void SetPredictionAverages(const ProfileSet& set, SegmentReport* report) {
  report->has_predictions = set.has_predictions;
  report->prediction_models = set.prediction_models;
  report->prediction_horizon_months = set.prediction_horizon_months;
  struct PredictionSums {
    double n = 0, p_alive = 0, clv = 0;
  };
  std::vector<PredictionSums> predicted(report->segments.size());
  for (const Profile& p : set.profiles) {
    if (set.has_predictions && p.segment < predicted.size() && std::isfinite(p.p_alive) &&
        std::isfinite(p.predicted_clv)) {
      predicted[p.segment].n += 1;
      predicted[p.segment].p_alive += p.p_alive;
      predicted[p.segment].clv += p.predicted_clv;
    }
  }
  for (size_t i = 0; i < predicted.size(); ++i) {
    SegmentStats& s = report->segments[i];
    s.avg_p_alive = s.avg_predicted_clv = 0;
    if (predicted[i].n == 0) continue;
    s.avg_p_alive = std::round(predicted[i].p_alive / predicted[i].n * 1e4) / 1e4;
    s.avg_predicted_clv = Round2(predicted[i].clv / predicted[i].n);
  }
}

SegmentReport BuildReport(const ProfileSet& set, const SegmentRules& rules, Lang lang) {
  SegmentReport report;
  report.as_of = FormatIsoDate(set.as_of_day);
  report.window = set.window.ToString();
  report.window_start = FormatIsoDate(set.start_day);
  report.currency = set.currency;
  report.currency_exponent = set.currency_exponent;
  report.customer_count = set.profiles.size();
  const size_t k = rules.rules().size();
  report.segments.resize(k);
  std::vector<std::vector<int64_t>> clv(k);
  std::vector<uint64_t> recency_sum(k, 0);
  for (const Profile& p : set.profiles) {
    SegmentStats& s = report.segments[p.segment];
    ++s.uuid_count;
    s.sum_order_count += p.order_count;
    s.sum_clv_minor += p.revenue_minor;
    recency_sum[p.segment] += static_cast<uint64_t>(p.recency_days);
    clv[p.segment].push_back(p.revenue_minor);
  }
  SetPredictionAverages(set, &report);
  const double minor_per_unit = std::pow(10.0, set.currency_exponent);
  // Largest remainder: shares in hundredths of a percent that sum to exactly 100.00.
  const uint64_t n = report.customer_count;
  std::vector<uint64_t> hundredths(k, 0);
  std::vector<std::pair<uint64_t, size_t>> remainders;
  uint64_t assigned = 0;
  for (size_t i = 0; i < k; ++i) {
    SegmentStats& s = report.segments[i];
    s.key = rules.rules()[i].key;
    s.group = rules.rules()[i].Name(lang);
    if (s.uuid_count == 0 || n == 0) continue;
    const double count = static_cast<double>(s.uuid_count);
    s.avg_order_count = Round2(static_cast<double>(s.sum_order_count) / count);
    s.avg_clv = Round2(static_cast<double>(s.sum_clv_minor) / count / minor_per_unit);
    s.avg_recency_days = Round2(static_cast<double>(recency_sum[i]) / count);
    auto& v = clv[i];
    std::nth_element(v.begin(), v.begin() + static_cast<ptrdiff_t>(v.size() / 2), v.end());
    s.median_clv_minor = v[v.size() / 2];
    if (v.size() % 2 == 0) {  // the mean of the two middle values, rounded towards zero
      const int64_t upper = v[v.size() / 2];
      const int64_t lower =
          *std::max_element(v.begin(), v.begin() + static_cast<ptrdiff_t>(v.size() / 2));
      // In 128 bits, whose division truncates towards zero; lower + (upper - lower) / 2
      // would round -1.5 down to -2.
      s.median_clv_minor =
          static_cast<int64_t>((static_cast<__int128>(lower) + static_cast<__int128>(upper)) / 2);
    }
    const unsigned __int128 scaled = static_cast<unsigned __int128>(s.uuid_count) * 10000;
    hundredths[i] = static_cast<uint64_t>(scaled / n);
    remainders.emplace_back(static_cast<uint64_t>(scaled % n), i);
    assigned += hundredths[i];
  }
  std::stable_sort(remainders.begin(), remainders.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t j = 0; n > 0 && assigned < 10000 && j < remainders.size(); ++j, ++assigned) {
    ++hundredths[remainders[j].second];
  }
  for (size_t i = 0; i < k; ++i)
    report.segments[i].share_percent = static_cast<double>(hundredths[i]) / 100.0;
  return report;
}

std::string SegmentReport::ToJson() const {
  nlohmann::ordered_json j;
  if (snapshot_id != 0) j["snapshot_id"] = snapshot_id;
  j["as_of"] = as_of;
  j["window"] = {{"length", window}, {"start", window_start}, {"end", as_of}};
  j["currency"] = currency;
  j["customer_count"] = customer_count;
  if (has_predictions) {
    j["predictions"] = {{"models", prediction_models},
                        {"horizon_months", prediction_horizon_months}};
  }
  auto& segs = j["segments"] = nlohmann::ordered_json::array();
  for (const auto& s : segments) {
    nlohmann::ordered_json e;
    e["key"] = s.key;
    e["group"] = s.group;
    e["uuid_count"] = s.uuid_count;
    const bool empty = s.uuid_count == 0;
    e["avg_order_count"] =
        empty ? nlohmann::ordered_json() : nlohmann::ordered_json(s.avg_order_count);
    e["avg_clv"] = empty ? nlohmann::ordered_json() : nlohmann::ordered_json(s.avg_clv);
    e["avg_recency_days"] =
        empty ? nlohmann::ordered_json() : nlohmann::ordered_json(s.avg_recency_days);
    e["share_percent"] = s.share_percent;
    e["sum_clv"] = FormatMinor(s.sum_clv_minor, currency_exponent);
    e["sum_order_count"] = s.sum_order_count;
    e["median_clv"] =
        empty ? nlohmann::ordered_json()
              : nlohmann::ordered_json(FormatMinor(s.median_clv_minor, currency_exponent));
    if (has_predictions) {
      e["avg_p_alive"] = empty ? nlohmann::ordered_json() : nlohmann::ordered_json(s.avg_p_alive);
      e["avg_predicted_clv"] =
          empty ? nlohmann::ordered_json() : nlohmann::ordered_json(s.avg_predicted_clv);
    }
    segs.push_back(std::move(e));
  }
  return j.dump(2) + "\n";
}

std::string SegmentReport::ToCsv(const CsvDialect& d) const {
  static constexpr CsvColumn kColumns[] = {{"group", "Segment"},
                                           {"key", "Schlüssel"},
                                           {"uuid_count", "Kunden"},
                                           {"avg_order_count", "Ø Bestellungen"},
                                           {"avg_clv", "Ø CLV"},
                                           {"avg_recency_days", "Ø Tage seit Kauf"},
                                           {"share_percent", "Anteil %"},
                                           {"sum_clv", "Summe CLV"},
                                           {"median_clv", "Median CLV"},
                                           {"avg_p_alive", "Ø P(aktiv)"},
                                           {"avg_predicted_clv", "Ø prognostizierter CLV"}};
  std::string out = CsvHeaderLine(std::span(kColumns).first(has_predictions ? 11 : 9), d);
  const char sep = d.separator;
  auto number = [&](double v, int decimals) {
    return CsvNumber(fmt::format("{:.{}f}", v, decimals), d);
  };
  for (const auto& s : segments) {
    const bool empty = s.uuid_count == 0;
    out += fmt::format(
        "{1}{0}{2}{0}{3}{0}{4}{0}{5}{0}{6}{0}{7}{0}{8}{0}{9}", sep, CsvTextCell(s.group, d),
        CsvTextCell(s.key, d), s.uuid_count, empty ? "" : number(s.avg_order_count, 2),
        empty ? "" : number(s.avg_clv, 2), empty ? "" : number(s.avg_recency_days, 2),
        number(s.share_percent, 2), CsvNumber(FormatMinor(s.sum_clv_minor, currency_exponent), d),
        empty ? "" : CsvNumber(FormatMinor(s.median_clv_minor, currency_exponent), d));
    if (has_predictions) {
      out += empty ? std::string(2, sep)
                   : fmt::format("{0}{1}{0}{2}", sep, number(s.avg_p_alive, 4),
                                 number(s.avg_predicted_clv, 2));
    }
    out += "\r\n";
  }
  return out;
}

std::string SegmentReport::ToTable() const {
  std::string out = fmt::format("Segments as of {}, window {} ({} .. {}), {} customers{}{}\n\n",
                                as_of, window, window_start, as_of, customer_count,
                                currency.empty() ? "" : ", amounts in " + currency,
                                snapshot_id != 0 ? fmt::format(" (snapshot {})", snapshot_id) : "");
  size_t width = 7;
  for (const auto& s : segments) {
    // Display width: count UTF-8 lead bytes, not bytes ("Winterschläfer").
    size_t w = 0;
    for (unsigned char c : s.group) w += (c & 0xC0) != 0x80;
    width = std::max(width, w);
  }
  auto pad = [&](const std::string& s) {
    size_t w = 0;
    for (unsigned char c : s) w += (c & 0xC0) != 0x80;
    return s + std::string(width - w, ' ');
  };
  out += fmt::format("{}  {:>10}  {:>7}  {:>10}  {:>12}  {:>12}", pad("segment"), "customers",
                     "share", "avg orders", "avg CLV", "avg recency");
  if (has_predictions) out += fmt::format("  {:>8}  {:>14}", "P(alive)", "predicted CLV");
  out += "\n";
  for (const auto& s : segments) {
    if (s.uuid_count == 0) {
      out += fmt::format("{}  {:>10}  {:>6.2f}%  {:>10}  {:>12}  {:>12}", pad(s.group), 0, 0.0, "-",
                         "-", "-");
      if (has_predictions) out += fmt::format("  {:>8}  {:>14}", "-", "-");
      out += "\n";
      continue;
    }
    out += fmt::format("{}  {:>10}  {:>6.2f}%  {:>10.2f}  {:>12.2f}  {:>9.1f} d", pad(s.group),
                       s.uuid_count, s.share_percent, s.avg_order_count, s.avg_clv,
                       s.avg_recency_days);
    if (has_predictions) {
      out += fmt::format("  {:>8.3f}  {:>14.2f}", s.avg_p_alive, s.avg_predicted_clv);
    }
    out += "\n";
  }
  if (has_predictions) {
    out += fmt::format("\nPredictions: {}, CLV over the next {} months, discounted.\n",
                       prediction_models, prediction_horizon_months);
  }
  return out;
}

}  // namespace tessera::analytics
