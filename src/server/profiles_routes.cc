// Routes: Profiles of a snapshot (paged, filtered, JSON or CSV) and one profile by pseudonym.

#include "server/server_impl.h"
#include "tessera/analytics/profile_rows.h"

namespace tessera::server {

void Server::Impl::Profiles(const httplib::Request& req, httplib::Response& res) {
  if (!Authorize(req, res, Role::kAnalyst)) return;
  analytics::Lang lang;
  std::string format;
  CsvDialect dialect;
  if (auto e = LangFormat(req, &lang, &format, &dialect)) return SendError(res, *e);
  int64_t limit = 100;
  if (auto e = IntParam(req, "limit", 1, 1000, &limit)) return SendError(res, *e);
  analytics::ProfileFilter filter;
  static constexpr const char* kRangeNames[] = {"r_min", "r_max", "f_min",
                                                "f_max", "m_min", "m_max"};
  std::array<int*, 6> bounds = {&filter.r[0], &filter.r[1], &filter.f[0],
                                &filter.f[1], &filter.m[0], &filter.m[1]};
  for (size_t i = 0; i < 6; ++i) {
    int64_t v = *bounds[i];
    if (auto e = IntParam(req, kRangeNames[i], 1, 5, &v)) return SendError(res, *e);
    *bounds[i] = static_cast<int>(v);
  }
  PredictRequest predict;
  if (auto e = PredictParams(req, &predict)) return SendError(res, *e);
  analytics::ProfileSort sort;
  if (req.has_param("sort")) {
    auto parsed = analytics::ProfileSort::Parse(req.get_param_value("sort"));
    if (!parsed.ok()) return SendError(res, BadParameter("sort", parsed.status().message()));
    sort = *parsed;
  }
  // The cursor pins the snapshot, the place in the listing and its order:
  // "<snapshot>.<next place>" in customer order, "<snapshot>.<next place>.<sort>" sorted.
  int64_t cursor_snapshot = 0;
  size_t start = 0;
  if (req.has_param("cursor")) {
    const auto raw = UnB64(req.get_param_value("cursor"));
    long long sid = 0;
    unsigned long long pos = 0;
    int used = 0;
    if (!raw || std::sscanf(raw->c_str(), "%lld.%llu%n", &sid, &pos, &used) != 2 || sid <= 0) {
      return SendError(res, BadParameter("cursor", "cursor is not one this API gave out"));
    }
    const std::string_view rest = std::string_view(*raw).substr(static_cast<size_t>(used));
    const std::string cursor_sort(rest.empty() ? rest : rest.substr(1));
    if (!rest.empty() &&
        (!rest.starts_with('.') || !analytics::ProfileSort::Parse(cursor_sort).ok())) {
      return SendError(res, BadParameter("cursor", "cursor is not one this API gave out"));
    }
    if (cursor_sort != sort.ToString()) {
      return SendError(
          res, BadParameter("cursor",
                            cursor_sort.empty()
                                ? std::string("the cursor continues a listing in customer "
                                              "order: ask for its next page without sort, or "
                                              "start again without the cursor")
                                : fmt::format("the cursor continues a listing with sort={}: ask "
                                              "for its next page with that sort, or start "
                                              "again without the cursor",
                                              cursor_sort)));
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
  if (req.has_param("segment")) {
    auto segment = analytics::FindSegment(s, req.get_param_value("segment"));
    if (!segment.ok()) return SendError(res, BadParameter("segment", segment.status().message()));
    filter.segment = *segment;
  }
  if (start > s.profiles.size()) {
    return SendError(res, BadParameter("cursor", "cursor is not one this API gave out"));
  }
  if (Cached(req, res, *snap)) return;
  const analytics::ProfileRows rows(s, lang);
  std::shared_ptr<const std::vector<uint32_t>> order;
  if (sort.field != analytics::ProfileSort::Field::kCustomer) order = snap->Order(sort);
  if (format == "csv") {
    std::string out = rows.CsvHeader(dialect);
    const size_t n = order ? order->size() : s.profiles.size();
    for (size_t place = 0; place < n; ++place) {
      const auto& p = s.profiles[order ? (*order)[place] : place];
      if (filter.Matches(p)) rows.AppendCsv(p, &out, dialect);
    }
    return Send(res, out, "csv", fmt::format("profiles-{}", FormatIsoDate(s.info.as_of_day)));
  }
  const analytics::ProfilePage page = analytics::PageProfiles(
      s.profiles, filter, start, static_cast<size_t>(limit),
      order ? std::span<const uint32_t>(*order) : std::span<const uint32_t>());
  Json items = Json::array();
  for (size_t i : page.positions) items.push_back(rows.Json(s.profiles[i]));
  Json j;
  j["snapshot_id"] = s.info.id;
  j["total"] = page.total;
  j["limit"] = limit;
  j["sort"] = order ? Json(sort.ToString()) : Json();
  if (page.next) {
    const std::string cursor =
        B64(order ? fmt::format("{}.{}.{}", s.info.id, *page.next, sort.ToString())
                  : fmt::format("{}.{}", s.info.id, *page.next));
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
  if (auto e = LangFormat(req, &lang, &format)) return SendError(res, *e);
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
  Json j = analytics::ProfileRows(snap->snapshot, lang).Json(snap->snapshot.profiles[it->second]);
  j["snapshot_id"] = snap->snapshot.info.id;
  res.set_content(j.dump() + "\n", "application/json");
}

}  // namespace tessera::server
