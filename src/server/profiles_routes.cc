// Routes: Profiles of a snapshot (paged, filtered, JSON or CSV) and one profile by pseudonym.

#include "server/server_impl.h"

namespace tessera::server {

Json Server::Impl::ProfileJson(const analytics::Snapshot& s, const analytics::Profile& p,
                               analytics::Lang lang) {
  const int exp = s.info.currency_exponent;
  const auto& g = s.segments[p.segment];
  Json j;
  j["uuid"] = s.uuids[p.customer].ToString();
  j["segment_key"] = g.key;
  j["segment"] = lang == analytics::Lang::kDe ? g.name_de : g.name_en;
  j["r_score"] = p.r_score;
  j["f_score"] = p.f_score;
  j["m_score"] = p.m_score;
  j["order_count"] = p.order_count;
  j["clv"] = FormatMinor(p.revenue_minor, exp);
  j["avg_order_value"] = FormatMinor(
      p.order_count > 0 ? p.revenue_minor / static_cast<int64_t>(p.order_count) : 0, exp);
  j["recency_days"] = p.recency_days;
  j["first_order"] = FormatIsoDate(p.first_day);
  j["last_order"] = FormatIsoDate(p.last_day);
  j["currency"] = s.info.currency;
  if (!s.info.prediction_models.empty()) {
    // Rounded as `tessera profiles` rounds them, so both give the same numbers.
    auto v = [](double x, int d) {
      return std::isfinite(x) ? Json(std::stod(fmt::format("{:.{}f}", x, d))) : Json();
    };
    j["p_alive"] = v(p.p_alive, 4);
    j["expected_purchases"] = v(p.expected_purchases, 4);
    j["predicted_clv"] = v(p.predicted_clv, exp);
  }
  return j;
}

std::string Server::Impl::ProfileCsvHeader(bool predictions) {
  return std::string(
             "uuid,segment_key,segment,r_score,f_score,m_score,order_count,clv,avg_order_value,"
             "recency_days,first_order,last_order,currency") +
         (predictions ? ",p_alive,expected_purchases,predicted_clv\r\n" : "\r\n");
}

void Server::Impl::ProfileCsv(const analytics::Snapshot& s, const analytics::Profile& p,
                              analytics::Lang lang, std::string* out) {
  const int exp = s.info.currency_exponent;
  const auto& g = s.segments[p.segment];
  const int64_t aov = p.order_count > 0 ? p.revenue_minor / static_cast<int64_t>(p.order_count) : 0;
  fmt::format_to(std::back_inserter(*out), "{},{},{},{},{},{},{},{},{},{},{},{},{}",
                 s.uuids[p.customer].ToString(), CsvTextCell(g.key),
                 CsvTextCell(lang == analytics::Lang::kDe ? g.name_de : g.name_en), p.r_score,
                 p.f_score, p.m_score, p.order_count, FormatMinor(p.revenue_minor, exp),
                 FormatMinor(aov, exp), p.recency_days, FormatIsoDate(p.first_day),
                 FormatIsoDate(p.last_day), s.info.currency);
  if (!s.info.prediction_models.empty()) {
    auto v = [](double x, int d) {
      return std::isfinite(x) ? fmt::format("{:.{}f}", x, d) : std::string();
    };
    fmt::format_to(std::back_inserter(*out), ",{},{},{}", v(p.p_alive, 4),
                   v(p.expected_purchases, 4), v(p.predicted_clv, exp));
  }
  *out += "\r\n";
}

void Server::Impl::Profiles(const httplib::Request& req, httplib::Response& res) {
  if (!Authorize(req, res, Role::kAnalyst)) return;
  analytics::Lang lang;
  std::string format;
  if (auto e = LangFormat(req, &lang, &format, true)) return SendError(res, *e);
  int64_t limit = 100;
  if (auto e = IntParam(req, "limit", 1, 1000, &limit)) return SendError(res, *e);
  std::array<int64_t, 6> range = {1, 5, 1, 5, 1, 5};
  static constexpr const char* kRangeNames[] = {"r_min", "r_max", "f_min",
                                                "f_max", "m_min", "m_max"};
  for (size_t i = 0; i < 6; ++i) {
    if (auto e = IntParam(req, kRangeNames[i], 1, 5, &range[i])) return SendError(res, *e);
  }
  PredictRequest predict;
  if (auto e = PredictParams(req, &predict)) return SendError(res, *e);
  // The cursor pins the snapshot and the position: "<snapshot>.<next profile position>".
  int64_t cursor_snapshot = 0;
  size_t start = 0;
  if (req.has_param("cursor")) {
    const auto raw = UnB64(req.get_param_value("cursor"));
    long long sid = 0;
    unsigned long long pos = 0;
    if (!raw || std::sscanf(raw->c_str(), "%lld.%llu", &sid, &pos) != 2 || sid <= 0) {
      return SendError(res, BadParameter("cursor", "cursor is not one this API gave out"));
    }
    cursor_snapshot = sid;
    start = pos;
  }
  std::shared_ptr<const LoadedSnapshot> snap;
  if (cursor_snapshot != 0) {
    auto s = Snapshot(cursor_snapshot);
    if (!s.ok()) return SendError(res, FromStatus(s.status()));
    snap = *s;
  } else if (auto e = SnapshotParam(req, &snap)) {
    return SendError(res, *e);
  }
  if (auto e = ApplyPredictions(predict, &snap)) return SendError(res, *e);
  const auto& s = snap->snapshot;
  int segment = -1;
  if (req.has_param("segment")) {
    const std::string want = req.get_param_value("segment");
    for (size_t i = 0; i < s.segments.size(); ++i) {
      const auto& g = s.segments[i];
      if (EqualsIgnoreCase(want, g.key) || EqualsIgnoreCase(want, g.name_en) ||
          EqualsIgnoreCase(want, g.name_de)) {
        segment = static_cast<int>(i);
      }
    }
    if (segment < 0) {
      std::string known;
      for (const auto& g : s.segments) known += (known.empty() ? "" : ", ") + g.key;
      return SendError(res,
                       BadParameter("segment", fmt::format("unknown segment (known: {})", known)));
    }
  }
  if (start > s.profiles.size()) {
    return SendError(res, BadParameter("cursor", "cursor is not one this API gave out"));
  }
  if (Cached(req, res, *snap)) return;
  auto matches = [&](const analytics::Profile& p) {
    return (segment < 0 || p.segment == segment) && p.r_score >= range[0] &&
           p.r_score <= range[1] && p.f_score >= range[2] && p.f_score <= range[3] &&
           p.m_score >= range[4] && p.m_score <= range[5];
  };
  if (format == "csv") {
    std::string out = ProfileCsvHeader(!s.info.prediction_models.empty());
    for (const auto& p : s.profiles) {
      if (matches(p)) ProfileCsv(s, p, lang, &out);
    }
    return Send(res, out, "csv", fmt::format("profiles-{}", FormatIsoDate(s.info.as_of_day)));
  }
  uint64_t total = 0;
  Json items = Json::array();
  size_t next = s.profiles.size();
  for (size_t i = 0; i < s.profiles.size(); ++i) {
    if (!matches(s.profiles[i])) continue;
    ++total;
    if (i < start) continue;
    if (items.size() < static_cast<size_t>(limit)) {
      items.push_back(ProfileJson(s, s.profiles[i], lang));
    } else if (next == s.profiles.size()) {
      next = i;
    }
  }
  Json j;
  j["snapshot_id"] = s.info.id;
  j["total"] = total;
  j["limit"] = limit;
  if (next < s.profiles.size()) {
    const std::string cursor = B64(fmt::format("{}.{}", s.info.id, next));
    j["next_cursor"] = cursor;
    std::string link = "/api/v1/profiles?";
    for (const auto& [k, v] : req.params) {
      if (k == "cursor" || k == "key" || k == "snapshot") continue;
      link += httplib::detail::encode_query_param(k) + "=" +
              httplib::detail::encode_query_param(v) + "&";
    }
    j["next"] = link + "cursor=" + cursor;
  } else {
    j["next_cursor"] = nullptr;
    j["next"] = nullptr;
  }
  j["items"] = std::move(items);
  res.set_content(j.dump() + "\n", "application/json");
}

void Server::Impl::Profile(const httplib::Request& req, httplib::Response& res) {
  if (!Authorize(req, res, Role::kAnalyst)) return;
  analytics::Lang lang;
  std::string format;
  if (auto e = LangFormat(req, &lang, &format, false)) return SendError(res, *e);
  auto uuid = privacy::Uuid::Parse(req.matches[1].str());
  if (!uuid.ok()) return SendError(res, BadParameter("uuid", "not a UUID"));
  PredictRequest predict;
  if (auto e = PredictParams(req, &predict)) return SendError(res, *e);
  std::shared_ptr<const LoadedSnapshot> snap;
  if (auto e = SnapshotParam(req, &snap)) return SendError(res, *e);
  if (auto e = ApplyPredictions(predict, &snap)) return SendError(res, *e);
  auto it = snap->position_of->find(*uuid);
  if (it == snap->position_of->end()) {
    return SendError(res, {404, "not_found",
                           fmt::format("no profile of {} in snapshot {} (no purchase in its "
                                       "window, or an unknown pseudonym)",
                                       uuid->ToString(), snap->snapshot.info.id),
                           ""});
  }
  if (Cached(req, res, *snap)) return;
  Json j = ProfileJson(snap->snapshot, snap->snapshot.profiles[it->second], lang);
  j["snapshot_id"] = snap->snapshot.info.id;
  res.set_content(j.dump() + "\n", "application/json");
}

}  // namespace tessera::server
