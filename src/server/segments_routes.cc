// Routes: Segments, kept snapshots, migration between them and distributions.

#include "server/server_impl.h"
#include "tessera/analytics/segment_definitions.h"

namespace tessera::server {

void Server::Impl::Segments(const httplib::Request& req, httplib::Response& res,
                            int64_t forced_id) {
  if (!Authorize(req, res, Role::kViewer)) return;
  analytics::Lang lang;
  std::string format;
  CsvDialect dialect;
  if (auto e = LangFormat(req, &lang, &format, &dialect)) return SendError(res, *e);
  PredictRequest predict;
  if (auto e = PredictParams(req, &predict)) return SendError(res, *e);
  std::shared_ptr<const LoadedSnapshot> snap;
  if (forced_id != 0) {
    auto s = Snapshot(forced_id);
    if (!s.ok()) return SendError(res, FromStatus(s.status()));
    snap = *s;
  } else if (auto e = SnapshotParam(req, &snap)) {
    return SendError(res, *e);
  }
  if (auto e = ApplyPredictions(predict, &snap)) return SendError(res, *e);
  if (Cached(req, res, *snap)) return;
  const auto body =
      snap->Render(fmt::format("segments/{}/{}/{}", lang == analytics::Lang::kDe ? "de" : "en",
                               format, dialect.german_headers ? "de" : "rfc4180"),
                   [&] {
                     const auto report = analytics::SnapshotReport(snap->snapshot, lang);
                     return format == "csv" ? report.ToCsv(dialect) : report.ToJson();
                   });
  Send(req, res, *body, format,
       fmt::format("segments-{}", FormatIsoDate(snap->snapshot.info.as_of_day)));
}

void Server::Impl::Snapshots(const httplib::Request& req, httplib::Response& res) {
  if (!Authorize(req, res, Role::kViewer)) return;
  auto s = ThreadStore();
  if (!s.ok()) return SendError(res, FromStatus(s.status()));
  auto all = analytics::SnapshotStore(**s).List();
  if (!all.ok()) return SendError(res, FromStatus(all.status()));
  res.set_content(analytics::SnapshotsToJson(*all), "application/json");
}

void Server::Impl::Migration(const httplib::Request& req, httplib::Response& res) {
  if (!Authorize(req, res, Role::kViewer)) return;
  analytics::Lang lang;
  std::string format;
  CsvDialect dialect;
  if (auto e = LangFormat(req, &lang, &format, &dialect)) return SendError(res, *e);
  int64_t from = 0, to = 0;
  if (auto e = IntParam(req, "from", 1, INT64_MAX, &from)) return SendError(res, *e);
  if (auto e = IntParam(req, "to", 1, INT64_MAX, &to)) return SendError(res, *e);
  if ((from == 0) != (to == 0)) {
    return SendError(res, BadParameter(from == 0 ? "from" : "to",
                                       "give both from and to, or neither (the two newest)"));
  }
  auto s = ThreadStore();
  if (!s.ok()) return SendError(res, FromStatus(s.status()));
  auto m = analytics::ComputeMigration(**s, from, to);
  if (!m.ok()) return SendError(res, FromStatus(m.status()));
  res.set_header("X-Tessera-Snapshot", std::to_string(m->to.id));
  Send(res, format == "csv" ? m->ToCsv(lang, dialect) : m->ToJson(lang), format,
       fmt::format("migration-{}-{}", m->from.id, m->to.id));
}

Json Server::Impl::Histogram(std::vector<double> values, int bins, bool money) {
  Json h;
  h["edges"] = Json::array();
  h["counts"] = Json::array();
  if (values.empty()) return h;
  std::sort(values.begin(), values.end());
  const double lo = values.front();
  double hi = values[std::min(values.size() - 1, static_cast<size_t>(values.size() * 0.99))];
  if (hi <= lo) hi = values.back() > lo ? values.back() : lo + 1;
  const double width = (hi - lo) / bins;
  std::vector<uint64_t> counts(static_cast<size_t>(bins), 0);
  for (double v : values) {
    const auto b = static_cast<int64_t>((v - lo) / width);
    ++counts[static_cast<size_t>(std::clamp<int64_t>(b, 0, bins - 1))];
  }
  for (int i = 0; i <= bins; ++i) {
    const double e = lo + width * i;
    h["edges"].push_back(money ? std::round(e * 100) / 100 : std::round(e * 1000) / 1000);
  }
  for (uint64_t c : counts) h["counts"].push_back(c);
  return h;
}

void Server::Impl::Distributions(const httplib::Request& req, httplib::Response& res) {
  if (!Authorize(req, res, Role::kViewer)) return;
  int64_t bins = 20;
  if (auto e = IntParam(req, "bins", 1, 200, &bins)) return SendError(res, *e);
  std::shared_ptr<const LoadedSnapshot> snap;
  if (auto e = SnapshotParam(req, &snap)) return SendError(res, *e);
  if (Cached(req, res, *snap)) return;
  const auto rendered = snap->Render(fmt::format("distributions/{}", bins), [&] {
    const auto& s = snap->snapshot;
    const double unit = std::pow(10.0, s.info.currency_exponent);
    std::vector<double> clv, orders, recency;
    struct Cell {
      uint64_t n = 0;
      int64_t clv = 0;
    };
    std::array<Cell, 25> grid{};
    for (const auto& p : s.profiles) {
      clv.push_back(static_cast<double>(p.revenue_minor) / unit);
      orders.push_back(p.order_count);
      recency.push_back(p.recency_days);
      auto& c = grid[static_cast<size_t>((p.r_score - 1) * 5 + (p.f_score - 1))];
      ++c.n;
      c.clv += p.revenue_minor;
    }
    Json j;
    j["snapshot_id"] = s.info.id;
    j["as_of"] = FormatIsoDate(s.info.as_of_day);
    j["currency"] = s.info.currency;
    j["customer_count"] = s.profiles.size();
    j["clv"] = Histogram(std::move(clv), static_cast<int>(bins), true);
    j["order_count"] = Histogram(std::move(orders), static_cast<int>(bins), false);
    j["recency_days"] = Histogram(std::move(recency), static_cast<int>(bins), false);
    auto& g = j["rf_grid"] = Json::array();
    for (int r = 1; r <= 5; ++r) {
      for (int f = 1; f <= 5; ++f) {
        const Cell& c = grid[static_cast<size_t>((r - 1) * 5 + (f - 1))];
        g.push_back(
            {{"r", r},
             {"f", f},
             {"customers", c.n},
             {"avg_clv", c.n == 0 ? Json() : Json(std::round(c.clv / unit / c.n * 100) / 100)}});
      }
    }
    return j.dump() + "\n";
  });
  SendBody(req, res, *rendered, "application/json");
}

void Server::Impl::SegmentDefinitions(const httplib::Request& req, httplib::Response& res) {
  if (!Authorize(req, res, Role::kViewer)) return;
  analytics::Lang lang;
  std::string format;
  CsvDialect dialect;
  if (auto e = LangFormat(req, &lang, &format, &dialect)) return SendError(res, *e);
  std::shared_ptr<const LoadedSnapshot> snap;
  if (auto e = SnapshotParam(req, &snap)) return SendError(res, *e);
  // The rules alone first (no pass over the profiles): a snapshot whose rules are unknown is
  // an error, not an answer to keep.
  bool recorded = false;
  if (auto rules = analytics::RulesOfSnapshot(snap->snapshot, &recorded); !rules.ok()) {
    return SendError(res, FromStatus(rules.status()));
  }
  if (Cached(req, res, *snap)) return;
  const auto body =
      snap->Render(fmt::format("definitions/{}/{}/{}", lang == analytics::Lang::kDe ? "de" : "en",
                               format, dialect.german_headers ? "de" : "rfc4180"),
                   [&] {
                     const auto d = analytics::DefineSegments(snap->snapshot);
                     if (!d.ok()) return std::string();  // not reached: the rules were read above
                     return format == "csv" ? d->ToCsv(lang, dialect) : d->ToJson(lang);
                   });
  Send(req, res, *body, format,
       fmt::format("segment-definitions-{}", FormatIsoDate(snap->snapshot.info.as_of_day)));
}

}  // namespace tessera::server
