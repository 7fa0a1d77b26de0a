#include "tessera/analytics/pipeline.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "tessera/analytics/scores.h"
#include "tessera/common/civil_time.h"
#include "tessera/common/money.h"
#include "tessera/common/text.h"

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
  std::string buffer;
  const int exp = set.currency_exponent;
  auto flush = [&]() -> Status {
    if (!buffer.empty() && std::fwrite(buffer.data(), 1, buffer.size(), out) != buffer.size()) {
      return InternalError("cannot write the profiles");
    }
    buffer.clear();
    return OkStatus();
  };
  if (format == ProfileFormat::kCsv) {
    buffer +=
        "uuid,segment_key,segment,r_score,f_score,m_score,order_count,clv,avg_order_value,"
        "recency_days,first_order,last_order,currency";
    if (set.has_predictions) buffer += ",p_alive,expected_purchases,predicted_clv";
    buffer += "\r\n";
  }
  // Predictions are model outputs, not money already earned: rounded for output (4 decimals
  // for probabilities and counts, the currency's minor unit for CLV); empty/null when the
  // customer has none.
  auto number = [](double v, int decimals) {
    return std::isfinite(v) ? fmt::format("{:.{}f}", v, decimals) : std::string();
  };
  for (const Profile& p : set.profiles) {
    if (segment && p.segment != *segment) continue;
    const SegmentRule& rule = rules.rules()[p.segment];
    const int64_t aov = p.revenue_minor / static_cast<int64_t>(p.order_count);
    if (format == ProfileFormat::kCsv) {
      fmt::format_to(std::back_inserter(buffer), "{},{},{},{},{},{},{},{},{},{},{},{},{}\r\n",
                     set.uuids[p.customer].ToString(), CsvTextCell(rule.key),
                     CsvTextCell(rule.Name(lang)), p.r_score, p.f_score, p.m_score, p.order_count,
                     FormatMinor(p.revenue_minor, exp), FormatMinor(aov, exp), p.recency_days,
                     FormatIsoDate(p.first_day), FormatIsoDate(p.last_day), set.currency);
      if (set.has_predictions) {
        buffer.pop_back();
        buffer.pop_back();
        fmt::format_to(std::back_inserter(buffer), ",{},{},{}\r\n", number(p.p_alive, 4),
                       number(p.expected_purchases, 4), number(p.predicted_clv, exp));
      }
    } else {
      nlohmann::ordered_json j;
      j["uuid"] = set.uuids[p.customer].ToString();
      j["segment_key"] = rule.key;
      j["segment"] = rule.Name(lang);
      j["r_score"] = p.r_score;
      j["f_score"] = p.f_score;
      j["m_score"] = p.m_score;
      j["order_count"] = p.order_count;
      j["clv"] = FormatMinor(p.revenue_minor, exp);
      j["avg_order_value"] = FormatMinor(aov, exp);
      j["recency_days"] = p.recency_days;
      j["first_order"] = FormatIsoDate(p.first_day);
      j["last_order"] = FormatIsoDate(p.last_day);
      j["currency"] = set.currency;
      if (set.has_predictions) {
        auto value = [&](double v, int decimals) {
          return std::isfinite(v) ? nlohmann::ordered_json(std::stod(number(v, decimals)))
                                  : nlohmann::ordered_json();
        };
        j["p_alive"] = value(p.p_alive, 4);
        j["expected_purchases"] = value(p.expected_purchases, 4);
        j["predicted_clv"] = value(p.predicted_clv, exp);
      }
      buffer += j.dump();
      buffer += '\n';
    }
    if (buffer.size() > (1 << 20)) TESSERA_RETURN_IF_ERROR(flush());
  }
  return flush();
}

}  // namespace tessera::analytics
