#include "tessera/server/server.h"

#include <arpa/inet.h>

#include "server/server_impl.h"

namespace tessera::server {
namespace {

// Who asked, for the access log: set by Authorize on the thread that answers the request (its
// handler and the logger run on one thread), cleared before routing.
struct RequestIdentity {
  std::string key_id;
  std::string_view role;
};
thread_local RequestIdentity request_identity;

// The access log's route: RouteOf's, as one token of the request line.
std::string AccessLogRoute(const std::string& path) {
  std::string route = RouteOf(path);
  if (route == "/ (dashboard)") return "/{dashboard}";
  if (route == "/api/ (unknown)") return "/api/{unknown}";
  return route;
}

}  // namespace

StatusOr<store::Store*> Server::Impl::ThreadStore() {
  thread_local std::map<const Impl*, std::unique_ptr<store::Store>> stores;
  auto& s = stores[this];
  if (!s) {
    TESSERA_ASSIGN_OR_RETURN(s, OpenStore(options.store, false));
  }
  return s.get();
}

int64_t Server::Impl::NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

StatusOr<std::shared_ptr<const Server::Impl::KeyList>> Server::Impl::Keys() {
  std::shared_ptr<const KeyList> current;
  {
    std::lock_guard lock(keys_mu);
    current = keys;
  }
  const bool stale = NowNs() - keys_loaded_ns.load() >
                     std::chrono::duration_cast<std::chrono::nanoseconds>(kKeyRefresh).count();
  if (current && !stale) return current;
  // One refresher; the others go on with the current list (if there is one yet).
  std::unique_lock refresh(keys_refresh_mu, std::defer_lock);
  if (current && !refresh.try_lock()) return current;
  if (!current) refresh.lock();
  {
    std::lock_guard lock(keys_mu);
    if (keys && keys != current) return keys;  // refreshed meanwhile
  }
  TESSERA_ASSIGN_OR_RETURN(store::Store * s, ThreadStore());
  TESSERA_ASSIGN_OR_RETURN(auto fresh, ApiKeyStore(s->db()).List());
  auto list = std::make_shared<const KeyList>(std::move(fresh));
  std::lock_guard lock(keys_mu);
  keys = list;
  keys_loaded_ns = NowNs();
  return list;
}

bool Server::Impl::Authorize(const httplib::Request& req, httplib::Response& res, Role needed,
                             Role* granted) {
  std::string presented;
  bool from_query = false;
  const std::string auth = req.get_header_value("Authorization");
  // Authentication schemes are case-insensitive (RFC 9110 section 11.1).
  if (auth.size() > 7 && EqualsIgnoreCase(std::string_view(auth).substr(0, 7), "Bearer ")) {
    presented = std::string(TrimBlanks(std::string_view(auth).substr(7)));
  } else if (req.has_param("key")) {
    presented = req.get_param_value("key");
    from_query = true;
  }
  if (presented.empty()) {
    res.set_header("WWW-Authenticate", "Bearer");
    SendError(res, {401, "unauthorized",
                    "an API key is needed: Authorization: Bearer tsk_... (tessera keys api "
                    "create)",
                    ""});
    return false;
  }
  // An address that sent too many wrong keys waits, whatever key it sends now: were a right
  // one let through, the answer would tell a guess right from wrong.
  if (const int64_t wait = failed_keys->RetryAfterSeconds(req.remote_addr, NowNs()); wait > 0) {
    res.set_header("Retry-After", std::to_string(wait));
    SendError(
        res,
        {429, "too_many_failed_keys",
         fmt::format("too many wrong API keys from this address; try again in {} s", wait), ""});
    return false;
  }
  auto all = Keys();
  if (!all.ok()) {
    SendError(res, FromStatus(all.status()));
    return false;
  }
  auto key = MatchApiKey(**all, presented);
  if (!key) {
    failed_keys->RecordFailure(req.remote_addr, NowNs());
    res.set_header("WWW-Authenticate", "Bearer error=\"invalid_token\"");
    SendError(res, {401, "unauthorized", "unknown or revoked API key", ""});
    return false;
  }
  request_identity.key_id = key->id;
  if (from_query && !key->allow_query_key) {
    SendError(res, {401, "unauthorized",
                    fmt::format("API key {} may not be sent as ?key= (create one with "
                                "--allow-query-key, or send Authorization: Bearer)",
                                key->id),
                    "key"});
    return false;
  }
  const auto parsed = ParseRole(key->role);
  const Role have = parsed.ok() ? *parsed : Role::kViewer;
  if (static_cast<int>(have) < static_cast<int>(needed)) {
    SendError(res, {403, "forbidden",
                    fmt::format("this needs an {} key; API key {} is a {} key", RoleName(needed),
                                key->id, key->role),
                    ""});
    return false;
  }
  if (granted != nullptr) *granted = have;
  request_identity.role = RoleName(have);
  return true;
}

Status Server::Impl::RefreshLatest() {
  const bool stale = NowNs() - latest_checked_ns.load() >
                     std::chrono::duration_cast<std::chrono::nanoseconds>(kSnapshotRefresh).count();
  if (!stale) return OkStatus();
  std::unique_lock refresh(latest_refresh_mu, std::defer_lock);
  // Before the first check every request waits for it; later ones use the known id.
  if (latest_checked_ns.load() != 0 && !refresh.try_lock()) return OkStatus();
  if (!refresh.owns_lock()) refresh.lock();
  if (NowNs() - latest_checked_ns.load() <=
      std::chrono::duration_cast<std::chrono::nanoseconds>(kSnapshotRefresh).count()) {
    return OkStatus();
  }
  TESSERA_ASSIGN_OR_RETURN(store::Store * s, ThreadStore());
  TESSERA_ASSIGN_OR_RETURN(auto all, analytics::SnapshotStore(*s).List());
  latest_id = all.empty() ? 0 : all.back().id;
  latest_checked_ns = NowNs();
  return OkStatus();
}

StatusOr<std::shared_ptr<const LoadedSnapshot>> Server::Impl::Snapshot(int64_t id) {
  if (id == 0) TESSERA_RETURN_IF_ERROR(RefreshLatest());
  {
    std::lock_guard lock(snap_mu);
    if (id == 0) {
      if (latest_id == 0) {
        return NotFoundError(
            "no snapshot yet: run `tessera snapshots create` or POST /api/v1/snapshots");
      }
      id = latest_id;
    }
    if (auto it = snapshots.find(id); it != snapshots.end()) return it->second;
  }
  // Loading may take a while for millions of profiles: outside the lock. Two threads may
  // load the same snapshot once each; the first one stored wins.
  TESSERA_ASSIGN_OR_RETURN(store::Store * s, ThreadStore());
  auto loaded = std::make_shared<LoadedSnapshot>();
  TESSERA_ASSIGN_OR_RETURN(loaded->snapshot, analytics::LoadSnapshot(*s, id, true));
  const auto& snap = loaded->snapshot;
  auto positions = std::make_shared<LoadedSnapshot::Positions>();
  positions->reserve(snap.profiles.size());
  for (uint32_t i = 0; i < snap.profiles.size(); ++i) {
    positions->emplace(snap.uuids[snap.profiles[i].customer], i);
  }
  loaded->position_of = std::move(positions);
  loaded->last_modified = HttpDate(snap.info.created_at);
  std::lock_guard lock(snap_mu);
  auto [it, inserted] = snapshots.emplace(id, std::move(loaded));
  while (snapshots.size() > kMaxCachedSnapshots) {
    auto oldest = snapshots.begin();
    if (oldest->first == latest_id) ++oldest;
    snapshots.erase(oldest);
  }
  return it->second;
}

bool Server::Impl::SnapshotInMemory(int64_t id) {
  if (id == 0) {
    if (NowNs() - latest_checked_ns.load() >
        std::chrono::duration_cast<std::chrono::nanoseconds>(kSnapshotRefresh).count()) {
      return false;
    }
    id = latest_id.load();
    if (id == 0) return false;
  }
  std::lock_guard lock(snap_mu);
  return snapshots.contains(id);
}

bool Server::Impl::AnswersFromMemory(std::string_view method, std::string_view target) {
  if (method == "OPTIONS") return true;
  if (method != "GET" && method != "HEAD") return false;
  const size_t q = target.find('?');
  const std::string_view path = target.substr(0, q);
  const std::string_view query = q == std::string_view::npos ? "" : target.substr(q + 1);
  if (path.find('%') != std::string_view::npos) return false;  // decoded by cpp-httplib
  if (path == "/api/v1/health" || path == "/api/v1/openapi.json" || path == "/metrics") {
    return true;
  }
  auto whole_number = [](std::string_view v, int64_t* out) {
    if (v.empty() || v.size() > 18) return false;
    int64_t n = 0;
    for (char c : v) {
      if (c < '0' || c > '9') return false;
      n = n * 10 + (c - '0');
    }
    *out = n;
    return n > 0;
  };
  int64_t id = 0;
  constexpr std::string_view kSnapshots = "/api/v1/snapshots/", kSegments = "/segments";
  if (path.starts_with(kSnapshots) && path.ends_with(kSegments) &&
      path.size() > kSnapshots.size() + kSegments.size()) {
    if (!whole_number(
            path.substr(kSnapshots.size(), path.size() - kSnapshots.size() - kSegments.size()),
            &id)) {
      return false;
    }
  } else if (path != "/api/v1/segments" && path != "/api/v1/distributions" &&
             path != "/api/v1/segments/definitions" && !path.starts_with("/api/v1/profiles/")) {
    return false;
  }
  for (size_t at = 0; at < query.size();) {
    const size_t end = std::min(query.find('&', at), query.size());
    const std::string_view param = query.substr(at, end - at);
    if (param.starts_with("snapshot=") && param != "snapshot=latest" &&
        !whole_number(param.substr(9), &id)) {
      return false;
    }
    if (param.starts_with("predict")) return false;  // fits models on the store's orders
    at = end + 1;
  }
  return SnapshotInMemory(id);
}

std::optional<HttpError> Server::Impl::PredictParams(const httplib::Request& req,
                                                     PredictRequest* out) {
  std::string model;
  if (auto e = ChoiceParam(req, "predict", {"bgnbd", "pnbd"}, &model)) return e;
  double horizon = out->options.clv.horizon_months;
  double discount = out->options.clv.annual_discount_rate;
  if (auto e = NumberParam(req, "horizon_months", 0, 1200, &horizon)) return e;
  if (auto e = NumberParam(req, "discount", 0, 10, &discount)) return e;
  if (model.empty()) {
    for (const char* name : {"horizon_months", "discount"}) {
      if (req.has_param(name)) {
        return BadParameter(name, fmt::format("{} needs predict=bgnbd or predict=pnbd", name));
      }
    }
    return std::nullopt;
  }
  out->wanted = true;
  out->options.count_model =
      model == "pnbd" ? analytics::clv::Model::kParetoNbd : analytics::clv::Model::kBgNbd;
  out->options.clv.horizon_months = horizon;
  out->options.clv.annual_discount_rate = discount;
  out->key = fmt::format("{}/{}/{}", model, horizon, discount);
  return std::nullopt;
}

StatusOr<std::shared_ptr<const LoadedSnapshot>> Server::Impl::Predicted(
    const std::shared_ptr<const LoadedSnapshot>& base, const PredictRequest& p) {
  const std::string key = fmt::format("{}/{}", base->snapshot.info.id, p.key);
  std::lock_guard lock(predict_mu);
  if (auto it = predicted.find(key); it != predicted.end()) return it->second;
  TESSERA_ASSIGN_OR_RETURN(store::Store * s, ThreadStore());
  auto made = std::make_shared<LoadedSnapshot>();
  TESSERA_ASSIGN_OR_RETURN(made->snapshot,
                           analytics::PredictSnapshot(*s, base->snapshot, p.options));
  made->position_of = base->position_of;
  made->last_modified = base->last_modified;
  if (predicted.size() >= kMaxPredictedSnapshots) predicted.erase(predicted.begin());
  predicted.emplace(key, made);
  return std::shared_ptr<const LoadedSnapshot>(std::move(made));
}

std::optional<HttpError> Server::Impl::ApplyPredictions(
    const PredictRequest& p, std::shared_ptr<const LoadedSnapshot>* snap) {
  if (!p.wanted) return std::nullopt;
  auto made = Predicted(*snap, p);
  if (!made.ok()) {
    HttpError e = FromStatus(made.status());
    e.parameter = "predict";
    return e;
  }
  *snap = *made;
  return std::nullopt;
}

std::optional<HttpError> Server::Impl::SnapshotParam(const httplib::Request& req,
                                                     std::shared_ptr<const LoadedSnapshot>* out) {
  int64_t id = 0;
  if (req.has_param("snapshot") && req.get_param_value("snapshot") != "latest") {
    if (auto e = IntParam(req, "snapshot", 1, INT64_MAX, &id)) {
      e->message = "snapshot must be latest or a snapshot id";
      return e;
    }
  }
  auto s = Snapshot(id);
  if (!s.ok()) return FromStatus(s.status());
  *out = *s;
  return std::nullopt;
}

bool Server::Impl::Cached(const httplib::Request& req, httplib::Response& res,
                          const LoadedSnapshot& snap) {
  std::string query;
  for (const auto& [k, v] : req.params) {
    if (k != "key") query += k + "=" + v + "&";
  }
  const std::string etag =
      fmt::format("\"s{}-{}\"", snap.snapshot.info.id, Fnv(req.path + "?" + query));
  res.set_header("X-Tessera-Snapshot", std::to_string(snap.snapshot.info.id));
  res.set_header("ETag", etag);
  if (!snap.last_modified.empty()) res.set_header("Last-Modified", snap.last_modified);
  res.set_header("Cache-Control", "no-cache");
  if (req.get_header_value("If-None-Match") == etag) {
    res.status = 304;
    return true;
  }
  return false;
}

void Server::Impl::Send(httplib::Response& res, const std::string& body, const std::string& format,
                        const std::string& filename) {
  if (format == "csv") {
    res.set_header("Content-Disposition", "inline; filename=\"" + filename + ".csv\"");
    res.set_content(body, "text/csv; charset=utf-8");
  } else {
    res.set_content(body, "application/json");
  }
}

void Server::Impl::Send(const httplib::Request& req, httplib::Response& res,
                        const RenderedBody& body, const std::string& format,
                        const std::string& filename) {
  if (format == "csv") {
    res.set_header("Content-Disposition", "inline; filename=\"" + filename + ".csv\"");
    SendBody(req, res, body, "text/csv; charset=utf-8");
  } else {
    SendBody(req, res, body, "application/json");
  }
}

std::optional<HttpError> Server::Impl::LangFormat(const httplib::Request& req,
                                                  analytics::Lang* lang, std::string* format,
                                                  CsvDialect* dialect) {
  std::string d = "rfc4180";
  if (dialect != nullptr) {
    if (auto e = ChoiceParam(req, "dialect", {"rfc4180", "de"}, &d)) return e;
    *dialect = d == "de" ? kGermanCsv : kRfc4180Csv;
  }
  std::string l = d == "de" ? "de" : "en";
  if (auto e = ChoiceParam(req, "lang", {"en", "de"}, &l)) return e;
  *lang = l == "de" ? analytics::Lang::kDe : analytics::Lang::kEn;
  *format = "json";
  if (dialect == nullptr) return ChoiceParam(req, "format", {"json"}, format);
  if (auto e = ChoiceParam(req, "format", {"json", "csv"}, format)) return e;
  if (req.has_param("dialect") && *format != "csv") {
    return BadParameter("dialect", "dialect is for format=csv");
  }
  return std::nullopt;
}

std::string OpenApiDocument();

namespace {

// A client that asked for CSV and not JSON: the route's format=csv, a .csv path or an Accept
// header naming text/csv (spreadsheets' IMPORTDATA, Power Query's Web.Contents), unless its
// Accept header names application/json (the dashboard, which downloads CSV but reads errors
// as JSON).
bool AsksForCsv(const httplib::Request& req) {
  const std::string accept = req.get_header_value("Accept");
  if (accept.find("application/json") != std::string::npos) return false;
  return (req.has_param("format") && req.get_param_value("format") == "csv") ||
         req.path.ends_with(".csv") || accept.find("text/csv") != std::string::npos;
}

// A JSON error answered to a CSV client as one readable cell, so that a spreadsheet shows
// what went wrong where the data would be ("Tessera error 401 (unauthorized): ..."). The
// status code stays.
void ErrorAsCsvCell(httplib::Response& res) {
  const Json j = Json::parse(res.body, nullptr, false);
  if (j.is_discarded() || !j.contains("error") || !j["error"].is_object()) return;
  const Json& e = j["error"];
  std::string text = fmt::format("Tessera error {} ({}): {}", res.status, e.value("code", ""),
                                 e.value("message", ""));
  if (e.contains("parameter")) text += fmt::format(" [parameter {}]", e.value("parameter", ""));
  res.set_content(CsvTextCell(text) + "\r\n", "text/csv; charset=utf-8");
}

}  // namespace

void Server::Impl::Routes() {
  thread_local std::chrono::steady_clock::time_point request_start;
  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    request_start = std::chrono::steady_clock::now();
    request_identity = {};
    if (!options.cors_origins.empty()) {
      const std::string origin = req.get_header_value("Origin");
      const bool any = std::find(options.cors_origins.begin(), options.cors_origins.end(), "*") !=
                       options.cors_origins.end();
      if (!origin.empty() &&
          (any || std::find(options.cors_origins.begin(), options.cors_origins.end(), origin) !=
                      options.cors_origins.end())) {
        res.set_header("Access-Control-Allow-Origin", any ? "*" : origin);
        res.set_header("Vary", "Origin");
        res.set_header("Access-Control-Expose-Headers", "ETag, X-Tessera-Snapshot");
        if (req.method == "OPTIONS") {
          res.set_header("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS");
          res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type");
          res.set_header("Access-Control-Max-Age", "600");
          res.status = 204;
          return httplib::Server::HandlerResponse::Handled;
        }
      }
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    const auto took = std::chrono::steady_clock::now() - request_start;
    Record(req, res, std::chrono::duration<double>(took).count());
    if (access_log == nullptr) return;
    const std::string route = AccessLogRoute(req.path);
    access_log->Write(
        {std::chrono::system_clock::now(), req.method, route, res.status,
         res.is_chunked_content_provider_
             ? std::nullopt
             : std::optional<uint64_t>(res.body.empty() ? res.content_length_ : res.body.size()),
         std::chrono::duration_cast<std::chrono::microseconds>(took).count(),
         request_identity.key_id, request_identity.role});
  });
  http.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        SendError(res, {500, "internal", "internal error", ""});
      });
  // Every answer of status 400 and above passes here, before compression and Content-Length.
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.body.empty()) {
      if (res.status == 404) {
        SendError(res, {404, "not_found",
                        "no such endpoint: " + req.path + " (see /api/v1/openapi.json)", ""});
      } else if (res.status == 413) {
        SendError(res, {413, "payload_too_large", "the request body is too large", ""});
      } else if (res.status == 400) {
        SendError(res, {400, "invalid_parameter", "malformed request", ""});
      }
    }
    if (AsksForCsv(req) && res.get_header_value("Content-Type") == "application/json") {
      ErrorAsCsvCell(res);
    }
  });

  http.Get("/api/v1/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"status\":\"ok\"}\n", "application/json");
  });
  http.Get("/api/v1/ready", [this](const httplib::Request&, httplib::Response& res) {
    auto s = ThreadStore();
    if (!s.ok()) return SendError(res, {503, "unavailable", s.status().message(), ""});
    auto all = analytics::SnapshotStore(**s).List();
    if (!all.ok()) return SendError(res, {503, "unavailable", all.status().message(), ""});
    Json j;
    j["status"] = "ready";
    j["snapshot_id"] = all->empty() ? Json() : Json(all->back().id);
    res.set_content(j.dump() + "\n", "application/json");
  });
  http.Get("/api/v1/openapi.json", [](const httplib::Request&, httplib::Response& res) {
    static const std::string doc = OpenApiDocument();
    res.set_content(doc, "application/json");
  });
  http.Get("/api/v1/segments",
           [this](const httplib::Request& req, httplib::Response& res) { Segments(req, res, 0); });
  http.Get(R"(/api/v1/snapshots/(\d{1,18})/segments)",
           [this](const httplib::Request& req, httplib::Response& res) {
             Segments(req, res, std::stoll(req.matches[1].str()));
           });
  http.Get("/api/v1/snapshots",
           [this](const httplib::Request& req, httplib::Response& res) { Snapshots(req, res); });
  http.Post("/api/v1/snapshots", [this](const httplib::Request& req, httplib::Response& res) {
    if (req.body.size() > options.max_json_bytes) {
      return SendError(res, {413, "payload_too_large", "the JSON body is too large", ""});
    }
    Recompute(req, res);
  });
  http.Get("/api/v1/migration",
           [this](const httplib::Request& req, httplib::Response& res) { Migration(req, res); });
  http.Get("/api/v1/segments/definitions",
           [this](const httplib::Request& req, httplib::Response& res) {
             SegmentDefinitions(req, res);
           });
  http.Get("/api/v1/distributions", [this](const httplib::Request& req, httplib::Response& res) {
    Distributions(req, res);
  });
  http.Get("/api/v1/profiles",
           [this](const httplib::Request& req, httplib::Response& res) { Profiles(req, res); });
  http.Get(R"(/api/v1/profiles/([^/]+))",
           [this](const httplib::Request& req, httplib::Response& res) { Profile(req, res); });
  http.Post("/api/v1/ingest",
            [this](const httplib::Request& req, httplib::Response& res,
                   const httplib::ContentReader& reader) { Ingest(req, res, reader); });
  http.Get(R"(/api/v1/loads/(\d{1,18})/rejects)",
           [this](const httplib::Request& req, httplib::Response& res) { LoadRejects(req, res); });
  http.Get("/api/v1/loads",
           [this](const httplib::Request& req, httplib::Response& res) { Loads(req, res); });
  http.Get("/api/v1/sources",
           [this](const httplib::Request& req, httplib::Response& res) { Sources(req, res); });
  http.Post(
      R"(/api/v1/sources/([A-Za-z0-9][A-Za-z0-9_.-]{0,63})/webhook)",
      [this](const httplib::Request& req, httplib::Response& res) { SourceWebhook(req, res); });
  http.Get("/metrics",
           [this](const httplib::Request& req, httplib::Response& res) { Metrics(req, res); });
  http.Get("/api/v1/schedule",
           [this](const httplib::Request& req, httplib::Response& res) { Schedule(req, res); });
  // Collaboration: this party, its partners and grants, the audit log (collab_routes.cc).
  using Handler = void (Impl::*)(const httplib::Request&, httplib::Response&);
  auto route = [this](Handler handler) {
    return [this, handler](const httplib::Request& req, httplib::Response& res) {
      (this->*handler)(req, res);
    };
  };
  http.Get("/api/v1/collab/party", route(&Impl::CollabParty));
  http.Get("/api/v1/collab/partners", route(&Impl::CollabPartners));
  http.Get("/api/v1/collab/grants", route(&Impl::CollabGrants));
  http.Post("/api/v1/collab/grants", route(&Impl::CollabCreateGrant));
  http.Post("/api/v1/collab/grants/import", route(&Impl::CollabImportGrant));
  http.Get(R"(/api/v1/collab/grants/([^/]{1,100}))", route(&Impl::CollabGrant));
  http.Post(R"(/api/v1/collab/grants/([^/]{1,100})/revoke)", route(&Impl::CollabRevokeGrant));
  http.Get("/api/v1/collab/audit/verify", route(&Impl::CollabAuditVerify));
  http.Get("/api/v1/collab/audit", route(&Impl::CollabAudit));
  audiences->AddRoutes(http);
  collab_node->AddRoutes(http);
  // The dashboard: embedded files; unknown paths outside /api get the app (client routing).
  http.Get(R"(/(.*))", [](const httplib::Request& req, httplib::Response& res) {
    if (req.path.starts_with("/api/")) {
      return SendError(res, {404, "not_found", "no such endpoint: " + req.path, ""});
    }
    const WebAsset* a = FindWebAsset(req.path == "/" ? "/index.html" : req.path);
    if (a == nullptr && req.path.find('.') == std::string::npos) a = FindWebAsset("/index.html");
    if (a == nullptr) {
      return SendError(res, {404, "not_found",
                             req.path == "/" ? "this build has no dashboard (web/ was not built)"
                                             : "no such file: " + req.path,
                             ""});
    }
    // The dashboard runs only its own scripts, in no one's frame (clickjacking), and talks to
    // this server only.
    res.set_header("Content-Security-Policy",
                   "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                   "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
                   "form-action 'self'; frame-ancestors 'none'");
    res.set_header("X-Frame-Options", "DENY");
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Referrer-Policy", "no-referrer");
    res.set_header("ETag", std::string(a->etag));
    res.set_header("Cache-Control", a->path.starts_with("/assets/")
                                        ? "public, max-age=31536000, immutable"
                                        : "no-cache");
    if (req.get_header_value("If-None-Match") == a->etag) {
      res.status = 304;
      return;
    }
    res.set_content(std::string(a->body), std::string(a->content_type));
  });
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() { Stop(); }

StatusOr<std::unique_ptr<Server>> Server::Start(const ServerOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  if (!options.collaboration_path.empty()) {
    TESSERA_ASSIGN_OR_RETURN(impl->collaboration,
                             collab::LoadCollaboration(options.collaboration_path));
  }
  if (!options.access_log_path.empty()) {
    TESSERA_ASSIGN_OR_RETURN(impl->access_log, internal::AccessLog::Open(options.access_log_path));
  }
  // Open the store once here, so that a wrong location fails at start, not at first request.
  TESSERA_ASSIGN_OR_RETURN(store::Store * store, impl->ThreadStore());
  // Longest first, so that a description is replaced whole before the path inside it.
  internal::Redactions() = {store->Describe(), options.store};
  Impl* self = impl.get();
  impl->audiences = std::make_unique<internal::AudienceApi>(
      audience::DefaultIndexPath(options.store, store->Describe()), options.max_json_bytes,
      internal::AudienceApi::Hooks{[self](const httplib::Request& req, httplib::Response& res,
                                          Role role) { return self->Authorize(req, res, role); },
                                   [self] { return self->ThreadStore(); }});
  internal::CollabNodeApi::Options node;
  node.store_location = options.store;
  node.key_path = options.key_path;
  node.collaboration_path = options.collaboration_path;
  node.index_path = audience::DefaultIndexPath(options.store, store->Describe());
  node.max_body_bytes = options.max_upload_bytes;
  node.max_json_bytes = options.max_json_bytes;
  TESSERA_ASSIGN_OR_RETURN(impl->collab_node,
                           internal::CollabNodeApi::Create(
                               node, {[self](const httplib::Request& req, httplib::Response& res,
                                             Role role) { return self->Authorize(req, res, role); },
                                      [self] { return self->ThreadStore(); }}));
  impl->http.set_read_timeout(options.read_timeout_seconds, 0);
  impl->http.set_write_timeout(options.write_timeout_seconds, 0);
  // The upload handler enforces max_upload_bytes itself (413 with a JSON error).
  impl->http.set_payload_max_length(options.max_upload_bytes + (1 << 20));
  impl->http.set_tcp_nodelay(true);
  impl->http.set_keep_alive_max_count(100000);
  impl->http.set_keep_alive_timeout(30);
  if (!options.tls_cert_path.empty() || !options.tls_key_path.empty()) {
    TESSERA_ASSIGN_OR_RETURN(
        auto tls, internal::TlsContext::Create(options.tls_cert_path, options.tls_key_path));
    impl->http.EnableTls(std::move(tls));
    // Browsers that once reached the server over HTTPS never try it in plain HTTP again.
    impl->http.set_default_headers(
        {{"X-Content-Type-Options", "nosniff"}, {"Strict-Transport-Security", "max-age=31536000"}});
  } else {
    impl->http.set_default_headers({{"X-Content-Type-Options", "nosniff"}});
  }
  internal::FailedKeyLimiter::Options key_limits;
  key_limits.max_failures = options.max_key_failures;
  key_limits.window_ns = int64_t{options.key_failure_window_seconds} * 1000000000;
  impl->failed_keys = std::make_unique<internal::FailedKeyLimiter>(key_limits);
  // cpp-httplib's default also sets SO_REUSEPORT, with which a second server binds the same
  // port and the kernel splits requests between two servers of different stores.
  const bool reuse_port = options.reuse_port;
  impl->http.set_socket_options([reuse_port](socket_t sock) {
    const int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (reuse_port) ::setsockopt(sock, SOL_SOCKET, SO_REUSEPORT, &yes, sizeof yes);
  });
  if (!options.schedule.empty()) {
    TESSERA_ASSIGN_OR_RETURN(auto schedule,
                             DailySchedule::Parse(options.schedule, options.schedule_zone));
    TESSERA_RETURN_IF_ERROR(analytics::Window::Parse(options.schedule_window).status());
    auto clock = [] {
      return std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
    TESSERA_ASSIGN_OR_RETURN(const std::optional<int64_t> last,
                             LastScheduledRunAtStart(store->db(), clock()));
    impl->scheduler = std::make_unique<Scheduler>(
        std::move(schedule), [self](int64_t due) { return self->RunSchedule(due); }, clock, last,
        [self](const ScheduledRun& run) {
          auto s = self->ThreadStore();
          Status recorded = s.ok() ? RecordScheduledRun((**s).db(), run) : s.status();
          if (!recorded.ok()) {
            std::fprintf(stderr, "tessera serve: the scheduled run was not recorded: %s\n",
                         recorded.ToString().c_str());
          }
        });
  }
  impl->Routes();
  if (options.port == 0) {
    impl->port = impl->http.bind_to_any_port(options.host);
    if (impl->port <= 0) return UnavailableError("cannot listen on {}", options.host);
  } else {
    if (!impl->http.bind_to_port(options.host, options.port)) {
      const int bind_errno = errno;
      return UnavailableError("cannot listen on {}:{}: {}", options.host, options.port,
                              bind_errno == EADDRINUSE
                                  ? "address in use (another server listens there; pass "
                                    "--reuse-port to share the port on purpose)"
                                  : "not an address of this machine, or not permitted");
    }
    impl->port = options.port;
  }
  impl->http.DeepenBacklog();
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

int Server::port() const { return impl_->port; }
bool Server::tls() const {
  return !impl_->options.tls_cert_path.empty() || !impl_->options.tls_key_path.empty();
}

Status Server::ReloadTls() {
  if (!tls()) return FailedPreconditionError("the server was started without TLS");
  TESSERA_ASSIGN_OR_RETURN(auto fresh, internal::TlsContext::Create(impl_->options.tls_cert_path,
                                                                    impl_->options.tls_key_path));
  impl_->http.EnableTls(std::move(fresh));
  return OkStatus();
}

Status Server::ReopenAccessLog() {
  return impl_->access_log == nullptr ? OkStatus() : impl_->access_log->Reopen();
}

bool ListensBeyondLoopback(const std::string& host) {
  if (host == "localhost" || host == "::1" || host == "[::1]") return false;
  in_addr v4{};
  return !(::inet_pton(AF_INET, host.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127);
}

Status Server::Run() {
  Impl& impl = *impl_;
  if (impl.scheduler) impl.scheduler->Start();
  internal::EventServer::Limits limits;
  limits.max_body_bytes = impl.options.max_json_bytes;
  limits.max_connections_per_address = impl.options.max_connections_per_address;
  limits.max_busy_per_client = impl.options.max_busy_per_client;
  Status served = impl.http.Serve(
      internal::UsableCpus(), std::max(4, impl.options.threads),
      [&impl](std::string_view method, std::string_view target) {
        return impl.AnswersFromMemory(method, target);
      },
      // Uploads stream: their handler refuses a wrong key or an oversized file from the head;
      // so do the rounds of collaboration sessions (blinded values of every customer).
      [](std::string_view method, std::string_view target) {
        return (method == "POST" && target.substr(0, target.find('?')) == "/api/v1/ingest") ||
               internal::CollabNodeApi::StreamsBody(method, target);
      },
      limits);
  // A scheduled run in progress is finished first: its steps are transactions, each whole.
  if (impl.scheduler) impl.scheduler->Stop();
  return served;
}

void Server::Stop() {
  if (impl_) impl_->http.Stop();
}

}  // namespace tessera::server
