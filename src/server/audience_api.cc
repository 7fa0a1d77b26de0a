#include "server/audience_api.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <utility>
#include <vector>

#include "server/http_common.h"
#include "tessera/analytics/segments.h"
#include "tessera/audience/audiences.h"
#include "tessera/audience/expression.h"
#include "tessera/audience/report.h"
#include "tessera/common/civil_time.h"
#include "tessera/common/text.h"

namespace tessera::server::internal {
namespace {

constexpr auto kCheckEvery = std::chrono::seconds(1);
constexpr auto kFullCheckEvery = std::chrono::seconds(60);
constexpr auto kRetryAfterError = std::chrono::seconds(30);
// A first request waits this long for the first index; then 503, retry.
constexpr auto kFirstBuildWait = std::chrono::seconds(20);
constexpr size_t kMaxOverlapExpressions = 20;
constexpr int64_t kMaxCategories = 500;

constexpr const char* kUnknownAudience =
    "no audience of that name (GET /api/v1/audiences lists them)";
constexpr std::string_view kPrefix = "/api/v1/audiences/";
constexpr std::string_view kExportSuffix = "/export";
// Paths under /api/v1/audiences/ that are routes, not audience names.
constexpr std::string_view kReservedNames[] = {"schema", "categories", "count", "overlap"};

HttpError NoSnapshot() {
  return {409, "no_snapshot",
          "no snapshot yet: audiences are built on the newest snapshot; create one with "
          "`tessera snapshots create` or POST /api/v1/snapshots",
          ""};
}

// An error of Expression::Parse with the column, what was expected and a suggestion as fields
// of its own; other errors as they map.
HttpError ExpressionError(const Status& s, std::string parameter) {
  if (s.code() != StatusCode::kInvalidArgument) return FromStatus(s);
  HttpError e{400, "invalid_expression", s.message(), std::move(parameter)};
  const audience::ExpressionErrorDetails d = audience::DescribeExpressionError(s);
  if (d.expression > 0) e.extra["expression_index"] = d.expression;
  if (d.column > 0) e.extra["column"] = d.column;
  if (!d.expected.empty()) e.extra["expected"] = d.expected;
  if (!d.suggestion.empty()) e.extra["suggestion"] = d.suggestion;
  return e;
}

// The body as a JSON object with only the `allowed` members.
std::optional<HttpError> ObjectBody(const httplib::Request& req, size_t max_bytes,
                                    std::initializer_list<std::string_view> allowed, Json* out) {
  if (req.body.size() > max_bytes) {
    return HttpError{413, "payload_too_large", "the JSON body is too large", ""};
  }
  *out = Json::parse(req.body, nullptr, false);
  if (out->is_discarded() || !out->is_object()) {
    return BadParameter("body", "the body must be a JSON object");
  }
  std::string names;
  for (auto a : allowed) names += (names.empty() ? "" : ", ") + std::string(a);
  for (const auto& [k, v] : out->items()) {
    if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
      return BadParameter(k, fmt::format("unknown field ({})", names));
    }
  }
  return std::nullopt;
}

std::optional<HttpError> StringMember(const Json& body, const char* name, std::string* out) {
  auto it = body.find(name);
  if (it == body.end() || !it->is_string()) {
    return BadParameter(name, fmt::format("{} is required, as a string", name));
  }
  *out = it->get<std::string>();
  return std::nullopt;
}

std::optional<HttpError> LangParam(const httplib::Request& req, analytics::Lang* lang) {
  std::string l = "en";
  if (auto e = ChoiceParam(req, "lang", {"en", "de"}, &l)) return e;
  *lang = l == "de" ? analytics::Lang::kDe : analytics::Lang::kEn;
  return std::nullopt;
}

std::string_view NumberUnit(std::string_view name) {
  if (name == "clv" || name == "aov" || name == "predicted_clv") return "money";
  if (name == "recency_days") return "days";
  if (name == "p_alive") return "probability";
  if (name.ends_with("_score")) return "score";
  return "count";
}

// RFC 5987 value of a Content-Disposition filename*.
std::string PercentEncodeUtf8(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

// The name with '_' for each character a plain filename="..." may not hold.
std::string AsciiFileName(std::string_view s) {
  std::string out;
  for (char c : s) {
    if ((static_cast<unsigned char>(c) & 0xC0) == 0x80) continue;  // UTF-8 continuation byte
    const bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_';
    out += keep ? c : '_';
  }
  return out;
}

// The audience name of a request to /api/v1/audiences/{name}[/export], from the raw target
// so that a name holding "/" (sent as %2F) is never mistaken for a route; sets *is_export.
std::string NameOf(const httplib::Request& req, bool* is_export) {
  std::string_view t = req.target;
  t = t.substr(0, t.find('?'));
  if (t.starts_with(kPrefix)) t.remove_prefix(kPrefix.size());
  *is_export = t.ends_with(kExportSuffix) && t.size() > kExportSuffix.size();
  if (*is_export) t.remove_suffix(kExportSuffix.size());
  return httplib::detail::decode_url(std::string(t), false);
}

void SendJson(httplib::Response& res, const Json& j, int64_t snapshot_id, int status = 200) {
  res.status = status;
  res.set_header("X-Tessera-Snapshot", std::to_string(snapshot_id));
  res.set_header("Cache-Control", "no-store");
  res.set_content(j.dump() + "\n", "application/json");
}

}  // namespace

AudienceApi::AudienceApi(std::string index_path, size_t max_json_bytes, Hooks hooks)
    : index_path_(std::move(index_path)),
      max_json_bytes_(max_json_bytes),
      hooks_(std::move(hooks)) {}

AudienceApi::~AudienceApi() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (keeper_.joinable()) keeper_.join();
}

StatusOr<std::string> AudienceApi::ChangeKey(store::Store& store) {
  TESSERA_ASSIGN_OR_RETURN(auto snapshots, analytics::SnapshotStore(store).List());
  TESSERA_ASSIGN_OR_RETURN(auto loads, store.Loads());
  TESSERA_ASSIGN_OR_RETURN(auto attributes,
                           audience::AudienceStore(store).Setting("attributes.generation"));
  return fmt::format("snapshot={};load={};finished={};attributes={}",
                     snapshots.empty() ? 0 : snapshots.back().id,
                     loads.empty() ? 0 : loads.back().load_id,
                     loads.empty() ? "" : loads.back().finished_at, attributes.value_or("0"));
}

void AudienceApi::Rebuild(store::Store& store, bool force) {
  std::lock_guard build(build_mu_);
  // Read before the build: a change while it runs shows at the next check.
  auto key = ChangeKey(store);
  if (!force) {
    std::lock_guard lock(mu_);
    // Another thread (the keeper, or a write's StoreChanged) was first.
    if (index_ && key.ok() && *key == built_key_) return;
  }
  const auto start = std::chrono::steady_clock::now();
  bool rebuilt = false;
  auto made = audience::LoadOrBuildIndex(store, index_path_, &rebuilt);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::lock_guard lock(mu_);
  built_key_ = key.ok() ? *key : std::string();
  built_at_ = std::chrono::steady_clock::now();
  if (made.ok()) {
    std::fprintf(stderr, "tessera serve: audience index of snapshot %lld %s in %.1f s\n",
                 static_cast<long long>(made->info().snapshot_id), rebuilt ? "built" : "loaded",
                 seconds);
    index_ = std::make_shared<const audience::AudienceIndex>(std::move(*made));
    error_ = OkStatus();
  } else if (!index_) {
    // Without an index the error is the answer; with one, requests go on with it and the
    // next change (or the minute's full check) tries again.
    error_ = made.status();
  }
  changed_.notify_all();
}

void AudienceApi::Keep() {
  auto last_full_check = std::chrono::steady_clock::now();
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    auto s = hooks_.store();
    if (!s.ok()) {
      std::lock_guard l(mu_);
      if (!index_) error_ = s.status();
      changed_.notify_all();
    } else {
      store::Store& store = **s;
      const auto now = std::chrono::steady_clock::now();
      bool need = false, force = false;
      auto key = ChangeKey(store);
      {
        std::lock_guard l(mu_);
        need = (!index_ && error_.ok()) || (key.ok() && *key != built_key_) ||
               (!error_.ok() && now - built_at_ > kRetryAfterError);
      }
      if (!need && now - last_full_check > kFullCheckEvery) {
        // Anything else that changes customers or orders (e.g. an erasure) shows in the stamp.
        last_full_check = now;
        auto stamp = audience::IndexStamp(store);
        std::lock_guard l(mu_);
        need = force = stamp.ok() && index_ && *stamp != index_->info().stamp;
      }
      if (need) Rebuild(store, force);
    }
    lock.lock();
    changed_.wait_for(lock, kCheckEvery, [this] { return stopping_; });
  }
}

void AudienceApi::StoreChanged() {
  {
    std::lock_guard lock(mu_);
    if (!started_) return;  // nobody asked for audiences yet: nothing to keep
  }
  auto s = hooks_.store();
  if (s.ok()) Rebuild(**s, false);
}

StatusOr<AudienceApi::IndexPtr> AudienceApi::Index() {
  std::unique_lock lock(mu_);
  if (!started_) {
    started_ = true;
    keeper_ = std::thread([this] { Keep(); });
  }
  changed_.wait_for(lock, kFirstBuildWait, [this] { return index_ || !error_.ok() || stopping_; });
  if (index_) return index_;
  if (!error_.ok()) return error_;
  return UnavailableError(
      "the audience index is being built from the newest snapshot; try again in a few seconds");
}

bool AudienceApi::AwaitIndex(httplib::Response& res, IndexPtr* index) {
  auto got = Index();
  if (got.ok()) {
    *index = std::move(*got);
    return true;
  }
  if (got.status().code() == StatusCode::kNotFound) {
    SendError(res, NoSnapshot());
  } else {
    HttpError e = FromStatus(got.status());
    if (e.status == 503) res.set_header("Retry-After", "5");
    SendError(res, e);
  }
  return false;
}

void AudienceApi::Schema(const httplib::Request& req, httplib::Response& res) {
  if (!hooks_.authorize(req, res, Role::kViewer)) return;
  analytics::Lang lang;
  if (auto e = LangParam(req, &lang)) return SendError(res, *e);
  IndexPtr index;
  if (!AwaitIndex(res, &index)) return;
  const audience::IndexInfo& info = index->info();
  Json j;
  j["snapshot_id"] = info.snapshot_id;
  j["as_of"] = FormatIsoDate(info.as_of_day);
  j["window"] = info.window;
  j["currency"] = info.currency;
  j["customers"] = info.customers;
  j["has_predictions"] = info.has_predictions;
  auto& segments = j["segments"] = Json::array();
  for (const auto& s : index->segments()) {
    segments.push_back(
        {{"key", s.key}, {"name", lang == analytics::Lang::kDe ? s.name_de : s.name_en}});
  }
  auto& numbers = j["numbers"] = Json::array();
  for (const auto& n : index->numbers()) {
    numbers.push_back({{"name", n.name}, {"unit", NumberUnit(n.name)}});
  }
  auto& attributes = j["attributes"] = Json::object();
  for (const auto& [name, values] : index->attributes()) {
    auto& list = attributes[name] = Json::array();
    for (const auto& [value, members] : values) list.push_back(value);
  }
  auto& windows = j["windows"] = Json::array();
  for (int32_t days : audience::kStandardWindowDays) {
    if (days > 0) windows.push_back(fmt::format("{}d", days));
  }
  SendJson(res, j, info.snapshot_id);
}

void AudienceApi::Categories(const httplib::Request& req, httplib::Response& res) {
  if (!hooks_.authorize(req, res, Role::kViewer)) return;
  int64_t limit = 50;
  if (auto e = IntParam(req, "limit", 1, kMaxCategories, &limit)) return SendError(res, *e);
  const std::string q = AsciiLower(TrimWhitespace(req.get_param_value("q")));
  IndexPtr index;
  if (!AwaitIndex(res, &index)) return;
  const auto& nodes = index->categories();
  struct Match {
    uint32_t node;
    bool prefix;
    uint64_t customers;
  };
  std::vector<Match> matches;
  for (uint32_t i = 0; i < nodes.size(); ++i) {
    const bool hit =
        q.empty() ? nodes[i].parent < 0 : AsciiLower(nodes[i].path).find(q) != std::string::npos;
    if (!hit) continue;
    const audience::Bitmap* buyers =
        index->StandardBought(i, index->info().start_day, 1, 0);  // the whole window
    matches.push_back({i, !q.empty() && AsciiLower(nodes[i].name).starts_with(q),
                       buyers != nullptr ? buyers->Cardinality() : 0});
  }
  const size_t shown = std::min(matches.size(), static_cast<size_t>(limit));
  auto before = [&](const Match& a, const Match& b) {
    if (a.prefix != b.prefix) return a.prefix;
    if (a.customers != b.customers) return a.customers > b.customers;
    return nodes[a.node].path < nodes[b.node].path;
  };
  std::partial_sort(matches.begin(), matches.begin() + static_cast<ptrdiff_t>(shown), matches.end(),
                    before);
  Json j;
  j["total"] = matches.size();
  auto& list = j["categories"] = Json::array();
  for (size_t i = 0; i < shown; ++i) {
    const auto& n = nodes[matches[i].node];
    int depth = 1;
    for (int32_t p = n.parent; p >= 0; p = nodes[static_cast<size_t>(p)].parent) ++depth;
    list.push_back({{"path", n.path},
                    {"name", n.name},
                    {"depth", depth},
                    {"customers", matches[i].customers}});
  }
  SendJson(res, j, index->info().snapshot_id);
}

void AudienceApi::Count(const httplib::Request& req, httplib::Response& res) {
  if (!hooks_.authorize(req, res, Role::kViewer)) return;
  analytics::Lang lang;
  if (auto e = LangParam(req, &lang)) return SendError(res, *e);
  std::string expression;
  if (req.method == "POST") {
    Json body;
    if (auto e = ObjectBody(req, max_json_bytes_, {"expression"}, &body)) {
      return SendError(res, *e);
    }
    if (auto e = StringMember(body, "expression", &expression)) return SendError(res, *e);
  } else if (req.has_param("expression")) {
    expression = req.get_param_value("expression");
  } else {
    return SendError(res, BadParameter("expression",
                                       "expression is required: ?expression=... or POST "
                                       "{\"expression\": \"...\"}"));
  }
  IndexPtr index;
  if (!AwaitIndex(res, &index)) return;
  const auto start = std::chrono::steady_clock::now();
  auto report = audience::CountAudience(*index, expression, lang);
  const double millis =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (!report.ok()) return SendError(res, ExpressionError(report.status(), "expression"));
  Json j = Json::parse(report->ToJson());
  // The contract's (and the dashboard's) "name" beside the CLI's "segment".
  for (auto& g : j["segments"]) g["name"] = g["segment"];
  j["millis"] = std::round(millis * 1000) / 1000;
  SendJson(res, j, index->info().snapshot_id);
}

void AudienceApi::Overlap(const httplib::Request& req, httplib::Response& res) {
  if (!hooks_.authorize(req, res, Role::kViewer)) return;
  Json body;
  if (auto e = ObjectBody(req, max_json_bytes_, {"expressions"}, &body)) {
    return SendError(res, *e);
  }
  std::vector<std::string> expressions;
  const auto it = body.find("expressions");
  bool ok =
      it != body.end() && it->is_array() && it->size() >= 2 && it->size() <= kMaxOverlapExpressions;
  for (size_t i = 0; ok && i < it->size(); ++i) {
    ok = (*it)[i].is_string();
    if (ok) expressions.push_back((*it)[i].get<std::string>());
  }
  if (!ok) {
    return SendError(
        res, BadParameter("expressions", fmt::format("expressions must be a list of 2 to {} "
                                                     "expressions (strings)",
                                                     kMaxOverlapExpressions)));
  }
  IndexPtr index;
  if (!AwaitIndex(res, &index)) return;
  auto report = audience::OverlapAudiences(*index, expressions);
  if (!report.ok()) return SendError(res, ExpressionError(report.status(), "expressions"));
  SendJson(res, Json::parse(report->ToJson()), index->info().snapshot_id);
}

void AudienceApi::List(const httplib::Request& req, httplib::Response& res) {
  if (!hooks_.authorize(req, res, Role::kViewer)) return;
  IndexPtr index;
  if (!AwaitIndex(res, &index)) return;
  auto s = hooks_.store();
  if (!s.ok()) return SendError(res, FromStatus(s.status()));
  auto listings = audience::ListAudiences(**s, *index);
  if (!listings.ok()) return SendError(res, FromStatus(listings.status()));
  SendJson(res, Json::parse(audience::ListingsToJson(*listings)), index->info().snapshot_id);
}

void AudienceApi::Create(const httplib::Request& req, httplib::Response& res) {
  if (!hooks_.authorize(req, res, Role::kAnalyst)) return;
  Json body;
  if (auto e = ObjectBody(req, max_json_bytes_, {"name", "expression"}, &body)) {
    return SendError(res, *e);
  }
  std::string name, expression;
  if (auto e = StringMember(body, "name", &name)) return SendError(res, *e);
  if (auto e = StringMember(body, "expression", &expression)) return SendError(res, *e);
  if (Status v = audience::ValidateAudienceName(name); !v.ok()) {
    return SendError(res, BadParameter("name", v.message()));
  }
  for (auto reserved : kReservedNames) {
    if (name == reserved) {
      return SendError(
          res, BadParameter("name", fmt::format("'{}' names a route of this API; choose another "
                                                "name",
                                                name)));
    }
  }
  IndexPtr index;
  if (!AwaitIndex(res, &index)) return;
  auto s = hooks_.store();
  if (!s.ok()) return SendError(res, FromStatus(s.status()));
  auto size = audience::SaveAudience(**s, *index, name, expression, false);
  if (!size.ok()) {
    if (size.status().code() == StatusCode::kAlreadyExists) {
      return SendError(res, {409, "conflict",
                             "an audience of this name exists; change it with PUT "
                             "/api/v1/audiences/{name}",
                             "name"});
    }
    return SendError(res, ExpressionError(size.status(), "expression"));
  }
  res.set_header("Location", std::string(kPrefix) + PercentEncodeUtf8(name));
  SendJson(res,
           {{"name", name},
            {"expression", expression},
            {"size", *size},
            {"snapshot_id", index->info().snapshot_id}},
           index->info().snapshot_id, 201);
}

bool AudienceApi::OpenSaved(httplib::Response& res, const std::string& name, Saved* out) {
  if (!AwaitIndex(res, &out->index)) return false;
  auto s = hooks_.store();
  if (!s.ok()) {
    SendError(res, FromStatus(s.status()));
    return false;
  }
  out->store = *s;
  auto all = audience::AudienceStore(*out->store).List();
  if (!all.ok()) {
    SendError(res, FromStatus(all.status()));
    return false;
  }
  for (auto& a : *all) {
    if (a.name == name) {
      out->record = std::move(a);
      return true;
    }
  }
  SendError(res, FromStatus(NotFoundError(kUnknownAudience)));
  return false;
}

void AudienceApi::Show(const httplib::Request& req, httplib::Response& res,
                       const std::string& name) {
  if (!hooks_.authorize(req, res, Role::kViewer)) return;
  Saved saved;
  if (!OpenSaved(res, name, &saved)) return;
  const IndexPtr& index = saved.index;
  const audience::AudienceRecord* record = &saved.record;
  auto history = audience::AudienceStore(*saved.store).History(name);
  if (!history.ok()) return SendError(res, FromStatus(history.status()));
  Json j;
  j["name"] = record->name;
  j["expression"] = record->expression;
  j["created_at"] = record->created_at;
  j["updated_at"] = record->updated_at;
  j["snapshot_id"] = index->info().snapshot_id;
  auto parsed = audience::Expression::Parse(record->expression, *index);
  if (parsed.ok()) {
    j["size"] = parsed->Evaluate().Cardinality();
  } else {
    j["size"] = nullptr;
    j["error"] = parsed.status().message();
  }
  j["history"] = Json::parse(audience::HistoryToJson(*history));
  SendJson(res, j, index->info().snapshot_id);
}

void AudienceApi::Update(const httplib::Request& req, httplib::Response& res,
                         const std::string& name) {
  if (!hooks_.authorize(req, res, Role::kAnalyst)) return;
  Json body;
  if (auto e = ObjectBody(req, max_json_bytes_, {"expression"}, &body)) {
    return SendError(res, *e);
  }
  std::string expression;
  if (auto e = StringMember(body, "expression", &expression)) return SendError(res, *e);
  Saved saved;
  if (!OpenSaved(res, name, &saved)) return;
  const IndexPtr& index = saved.index;
  auto size = audience::SaveAudience(*saved.store, *index, name, expression, true);
  if (!size.ok()) return SendError(res, ExpressionError(size.status(), "expression"));
  SendJson(res,
           {{"name", name},
            {"expression", expression},
            {"size", *size},
            {"snapshot_id", index->info().snapshot_id}},
           index->info().snapshot_id);
}

void AudienceApi::Delete(const httplib::Request& req, httplib::Response& res,
                         const std::string& name) {
  if (!hooks_.authorize(req, res, Role::kAnalyst)) return;
  auto s = hooks_.store();
  if (!s.ok()) return SendError(res, FromStatus(s.status()));
  auto deleted = audience::AudienceStore(**s).Delete(name);
  if (!deleted.ok()) return SendError(res, FromStatus(deleted.status()));
  if (!*deleted) {
    return SendError(res, FromStatus(NotFoundError(kUnknownAudience)));
  }
  res.status = 204;
}

void AudienceApi::Export(const httplib::Request& req, httplib::Response& res,
                         const std::string& name) {
  if (!hooks_.authorize(req, res, Role::kAnalyst)) return;
  Saved saved;
  if (!OpenSaved(res, name, &saved)) return;
  const IndexPtr& index = saved.index;
  store::Store& store = *saved.store;
  const audience::AudienceRecord* record = &saved.record;
  // The library writes to a FILE*; here it is memory (the CLI's file, byte for byte).
  char* data = nullptr;
  size_t size = 0;
  std::FILE* out = ::open_memstream(&data, &size);
  if (out == nullptr) return SendError(res, {500, "internal", "cannot buffer the export", ""});
  auto exported = audience::ExportAudience(store, *index, {record->name, record->expression}, out);
  std::fclose(out);
  std::string csv(data != nullptr ? data : "", size);
  std::free(data);
  if (!exported.ok()) {
    const Status& st = exported.status();
    if (st.code() == StatusCode::kFailedPrecondition) {
      HttpError e{409, "below_min_export_size", st.message(), ""};
      auto parsed = audience::Expression::Parse(record->expression, *index);
      auto minimum = audience::MinExportSize(store);
      if (parsed.ok()) e.extra["size"] = parsed->Evaluate().Cardinality();
      if (minimum.ok()) e.extra["min_export_size"] = *minimum;
      return SendError(res, e);
    }
    HttpError e = ExpressionError(st, "");
    if (e.status == 400) {
      // The saved expression, not the request, is at fault: the newest snapshot lacks a name.
      e.status = 409;
      e.message = "the saved expression does not fit the newest snapshot: " + e.message;
    }
    return SendError(res, e);
  }
  res.set_header("X-Tessera-Snapshot", std::to_string(index->info().snapshot_id));
  res.set_header("Cache-Control", "no-store");
  res.set_header("Content-Disposition",
                 fmt::format("attachment; filename=\"audience-{}.csv\"; filename*=UTF-8''"
                             "audience-{}.csv",
                             AsciiFileName(name), PercentEncodeUtf8(name)));
  res.set_header("Content-Type", "text/csv; charset=utf-8");
  res.body = std::move(csv);
}

void AudienceApi::AddRoutes(httplib::Server& http) {
  using Req = const httplib::Request&;
  using Res = httplib::Response&;
  http.Get("/api/v1/audiences/schema", [this](Req req, Res res) { Schema(req, res); });
  http.Get("/api/v1/audiences/categories", [this](Req req, Res res) { Categories(req, res); });
  http.Get("/api/v1/audiences/count", [this](Req req, Res res) { Count(req, res); });
  http.Post("/api/v1/audiences/count", [this](Req req, Res res) { Count(req, res); });
  http.Post("/api/v1/audiences/overlap", [this](Req req, Res res) { Overlap(req, res); });
  http.Get("/api/v1/audiences", [this](Req req, Res res) { List(req, res); });
  http.Post("/api/v1/audiences", [this](Req req, Res res) { Create(req, res); });
  http.Get(R"(/api/v1/audiences/(.+))", [this](Req req, Res res) {
    bool is_export = false;
    const std::string name = NameOf(req, &is_export);
    is_export ? Export(req, res, name) : Show(req, res, name);
  });
  http.Put(R"(/api/v1/audiences/(.+))", [this](Req req, Res res) {
    bool is_export = false;
    const std::string name = NameOf(req, &is_export);
    if (is_export) return SendError(res, {405, "method_not_allowed", "export is GET only", ""});
    Update(req, res, name);
  });
  http.Delete(R"(/api/v1/audiences/(.+))", [this](Req req, Res res) {
    bool is_export = false;
    const std::string name = NameOf(req, &is_export);
    if (is_export) return SendError(res, {405, "method_not_allowed", "export is GET only", ""});
    Delete(req, res, name);
  });
}

}  // namespace tessera::server::internal
