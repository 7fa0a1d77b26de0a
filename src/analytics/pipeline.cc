#include "tessera/analytics/pipeline.h"

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
        "recency_days,first_order,last_order,currency\r\n";
  }
  for (const Profile& p : set.profiles) {
    if (segment && p.segment != *segment) continue;
    const SegmentRule& rule = rules.rules()[p.segment];
    const int64_t aov = p.revenue_minor / static_cast<int64_t>(p.order_count);
    if (format == ProfileFormat::kCsv) {
      fmt::format_to(std::back_inserter(buffer), "{},{},{},{},{},{},{},{},{},{},{},{},{}\r\n",
                     set.uuids[p.customer].ToString(), rule.key, CsvEscape(rule.Name(lang)),
                     p.r_score, p.f_score, p.m_score, p.order_count,
                     FormatMinor(p.revenue_minor, exp), FormatMinor(aov, exp), p.recency_days,
                     FormatIsoDate(p.first_day), FormatIsoDate(p.last_day), set.currency);
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
      buffer += j.dump();
      buffer += '\n';
    }
    if (buffer.size() > (1 << 20)) TESSERA_RETURN_IF_ERROR(flush());
  }
  return flush();
}

}  // namespace tessera::analytics
