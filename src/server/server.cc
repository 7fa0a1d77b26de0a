#include "tessera/server/server.h"

#include <fcntl.h>
#include <httplib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <type_traits>
#include <unordered_map>

#include "server/audience_api.h"
#include "server/event_server.h"
#include "server/http_common.h"
#include "tessera/analytics/pipeline.h"
#include "tessera/analytics/predict.h"
#include "tessera/analytics/snapshots.h"
#include "tessera/common/civil_time.h"
#include "tessera/common/money.h"
#include "tessera/common/text.h"
#include "tessera/ingest/loader.h"
#include "tessera/io/mapping.h"
#include "tessera/privacy/owner_key.h"
#include "tessera/server/api_keys.h"
#include "tessera/server/store_tables.h"
#include "tessera/server/web_assets.h"
#include "tessera/store/store.h"

namespace tessera::server {
namespace {

using internal::BadParameter;
using internal::ChoiceParam;
using internal::FromStatus;
using internal::HttpError;
using internal::IntParam;
using internal::Json;
using internal::NumberParam;
using internal::SendError;

constexpr auto kKeyRefresh = std::chrono::seconds(2);
constexpr auto kSnapshotRefresh = std::chrono::seconds(1);
constexpr size_t kMaxCachedSnapshots = 4;
constexpr size_t kMaxRejectsReported = 1000;

// An answer made once, as it is and gzip-compressed.
struct RenderedBody {
  std::string plain, gzip;
};

std::string Gzip(const std::string& in) {
  std::string out;
  httplib::detail::gzip_compressor z;
  const bool ok = z.compress(in.data(), in.size(), true, [&](const char* data, size_t n) {
    out.append(data, n);
    return true;
  });
  return ok ? out : std::string();
}

// Sets `body` as the answer, compressed when the client accepts gzip (and cpp-httplib would
// choose gzip for it), without compressing it again for every request.
void SendBody(const httplib::Request& req, httplib::Response& res, const RenderedBody& body,
              const std::string& content_type) {
  res.set_content(body.plain, content_type);
  if (body.gzip.empty() ||
      httplib::detail::encoding_type(req, res) != httplib::detail::EncodingType::Gzip) {
    return;
  }
  res.body = body.gzip;
  res.set_header("Content-Encoding", "gzip");
  // cpp-httplib compresses the answer to any request that accepts gzip; this one already is.
  // The request object is the server's own (non-const) one, passed to handlers as const.
  const_cast<httplib::Request&>(req).headers.erase("Accept-Encoding");
}

// A snapshot held in memory with what requests need precomputed.
struct LoadedSnapshot {
  analytics::Snapshot snapshot;
  using Positions = std::unordered_map<privacy::Uuid, uint32_t, privacy::UuidHash>;
  std::shared_ptr<const Positions> position_of;  // uuid -> profile
  std::string last_modified;                     // HTTP date of its creation
  // Answers that depend on the snapshot and the query only (segments, distributions), made
  // once: a snapshot never changes.
  mutable std::mutex rendered_mu;
  mutable std::unordered_map<std::string, std::shared_ptr<const RenderedBody>> rendered;

  template <typename Fn>
  std::shared_ptr<const RenderedBody> Render(const std::string& key, Fn make) const {
    {
      std::lock_guard lock(rendered_mu);
      if (auto it = rendered.find(key); it != rendered.end()) return it->second;
    }
    RenderedBody made;
    made.plain = make();
    made.gzip = Gzip(made.plain);
    auto body = std::make_shared<const RenderedBody>(std::move(made));
    std::lock_guard lock(rendered_mu);
    if (rendered.size() < 256) rendered.emplace(key, body);
    return body;
  }
};

std::string HttpDate(const std::string& iso) {
  // "2026-11-23T13:20:00Z" -> "Mon, 23 Nov 2026 13:20:00 GMT"
  auto day = ParseIsoDate(std::string_view(iso).substr(0, 10));
  if (!day.ok() || iso.size() < 19) return "";
  static constexpr const char* kDays[] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const CivilDate d = CivilFromDays(*day);
  return fmt::format("{}, {:02d} {} {} {} GMT", kDays[((*day % 7) + 7) % 7], d.day,
                     kMonths[d.month - 1], d.year, iso.substr(11, 8));
}

// Escaping for the Prometheus text format's label values.
std::string PromLabel(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

// The route a path belongs to, for metrics (ids and UUIDs folded).
std::string RouteOf(const std::string& path) {
  if (path.starts_with("/api/v1/profiles/")) return "/api/v1/profiles/{uuid}";
  if (path.starts_with("/api/v1/snapshots/")) return "/api/v1/snapshots/{id}/segments";
  if (path.starts_with("/api/v1/loads/")) return "/api/v1/loads/{id}/rejects";
  // Audience names are the customer's words: folded, never a label.
  if (path.starts_with("/api/v1/audiences/")) {
    static const std::string kRoutes[] = {"/api/v1/audiences/schema",
                                          "/api/v1/audiences/categories", "/api/v1/audiences/count",
                                          "/api/v1/audiences/overlap"};
    for (const auto& r : kRoutes) {
      if (path == r) return r;
    }
    return path.ends_with("/export") ? "/api/v1/audiences/{name}/export"
                                     : "/api/v1/audiences/{name}";
  }
  // Only routes that exist become labels: an unknown path (any bytes a client sends) is one
  // series, not one each.
  static const std::string kFixed[] = {
      "/api/v1/health",    "/api/v1/ready",     "/api/v1/openapi.json",  "/api/v1/segments",
      "/api/v1/snapshots", "/api/v1/migration", "/api/v1/distributions", "/api/v1/profiles",
      "/api/v1/ingest",    "/api/v1/loads",     "/api/v1/audiences",     "/metrics"};
  for (const auto& r : kFixed) {
    if (path == r) return r;
  }
  if (path.starts_with("/api/")) return "/api/ (unknown)";
  return "/ (dashboard)";
}

// Base64url without padding, for cursors.
std::string B64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kAlphabet[(acc >> bits) & 63];
    }
  }
  if (bits > 0) out += kAlphabet[(acc << (6 - bits)) & 63];
  return out;
}

std::optional<std::string> UnB64(std::string_view in) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      v = c - '0' + 52;
    } else if (c == '-') {
      v = 62;
    } else if (c == '_') {
      v = 63;
    } else {
      return std::nullopt;
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

// Lowercase hex FNV-1a, for ETags.
std::string Fnv(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return fmt::format("{:016x}", h);
}

}  // namespace

struct Server::Impl {
  ServerOptions options;
  // Declared before `http`, so that it outlives the handlers that use it.
  std::unique_ptr<internal::AudienceApi> audiences;
  internal::EventServer http;
  int port = 0;

  // API keys, refreshed from the store every kKeyRefresh (so revocations take effect) by one
  // request at a time while the others use the previous list.
  using KeyList = std::vector<server::ApiKeyRecord>;
  std::mutex keys_mu, keys_refresh_mu;
  std::shared_ptr<const KeyList> keys;
  std::atomic<int64_t> keys_loaded_ns{0};

  // Snapshots in memory, by id; the newest id re-read every kSnapshotRefresh by one request
  // at a time.
  std::mutex snap_mu, latest_refresh_mu;
  std::map<int64_t, std::shared_ptr<const LoadedSnapshot>> snapshots;
  std::atomic<int64_t> latest_id{0};
  std::atomic<int64_t> latest_checked_ns{0};

  // One ingest or recomputation at a time.
  std::mutex write_mu;

  // Snapshots with predictions fitted on request (?predict=), by snapshot id and options; one
  // fit at a time.
  static constexpr size_t kMaxPredictedSnapshots = 4;
  std::mutex predict_mu;
  std::map<std::string, std::shared_ptr<const LoadedSnapshot>> predicted;  // GUARDED_BY(predict_mu)

  // Metrics.
  std::mutex metrics_mu;
  std::map<std::pair<std::string, int>, uint64_t> requests;  // (route, status) -> count
  static constexpr double kBuckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,   0.25,   0.5,   1,    2.5,   10};
  std::array<uint64_t, std::size(kBuckets) + 1> duration_counts{};
  double duration_sum = 0;
  std::atomic<uint64_t> orders_ingested{0}, snapshots_created{0};
  std::chrono::system_clock::time_point started = std::chrono::system_clock::now();

  // One store per server thread: stores are not thread-safe.
  StatusOr<store::Store*> ThreadStore() {
    thread_local std::map<const Impl*, std::unique_ptr<store::Store>> stores;
    auto& s = stores[this];
    if (!s) {
      TESSERA_ASSIGN_OR_RETURN(s, OpenStore(options.store, false));
    }
    return s.get();
  }

  static int64_t NowNs() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  StatusOr<std::shared_ptr<const KeyList>> Keys() {
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

  // Checks the request's key and role; on failure fills `res` and returns false.
  bool Authorize(const httplib::Request& req, httplib::Response& res, Role needed) {
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
    auto all = Keys();
    if (!all.ok()) {
      SendError(res, FromStatus(all.status()));
      return false;
    }
    auto key = MatchApiKey(**all, presented);
    if (!key) {
      res.set_header("WWW-Authenticate", "Bearer error=\"invalid_token\"");
      SendError(res, {401, "unauthorized", "unknown or revoked API key", ""});
      return false;
    }
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
    return true;
  }

  // The snapshot `id` (0: the newest), from memory or loaded once.
  Status RefreshLatest() {
    const bool stale =
        NowNs() - latest_checked_ns.load() >
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

  StatusOr<std::shared_ptr<const LoadedSnapshot>> Snapshot(int64_t id) {
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

  // Whether snapshot `id` (0: the newest) is in memory, and the newest one known recently
  // enough that no request will ask the store for it.
  bool SnapshotInMemory(int64_t id) {
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

  // Whether a request may be answered on an event loop (event_server.h): its answer comes
  // from memory. Requests that may read the store at length, load a snapshot or compress a
  // large file go to a worker thread. Errs towards the worker, which answers any request.
  bool AnswersFromMemory(std::string_view method, std::string_view target) {
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
               !path.starts_with("/api/v1/profiles/")) {
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

  // Predictions asked for with ?predict=bgnbd|pnbd[&horizon_months=12][&discount=0.1], the
  // options of `tessera profiles --predict`.
  struct PredictRequest {
    bool wanted = false;
    analytics::ProfilePredictionOptions options;
    std::string key;  // the options, for the cache
  };

  static std::optional<HttpError> PredictParams(const httplib::Request& req, PredictRequest* out) {
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

  // `base` with the predictions of `p` in its profiles and segment statistics: fitted on the
  // store's purchases up to the snapshot's as-of date, as `tessera profiles --predict` does for
  // the same as-of date and window. Errors: the fits' (named as the predict parameter).
  StatusOr<std::shared_ptr<const LoadedSnapshot>> Predicted(
      const std::shared_ptr<const LoadedSnapshot>& base, const PredictRequest& p) {
    const std::string key = fmt::format("{}/{}", base->snapshot.info.id, p.key);
    std::lock_guard lock(predict_mu);
    if (auto it = predicted.find(key); it != predicted.end()) return it->second;
    TESSERA_ASSIGN_OR_RETURN(store::Store * s, ThreadStore());
    analytics::ProfileSet set = analytics::ProfileSetOf(base->snapshot);
    TESSERA_RETURN_IF_ERROR(analytics::PredictProfiles(*s, p.options, &set));
    auto made = std::make_shared<LoadedSnapshot>();
    made->snapshot = base->snapshot;
    made->position_of = base->position_of;
    made->last_modified = base->last_modified;
    auto& snap = made->snapshot;
    snap.info.prediction_models = set.prediction_models;
    snap.info.prediction_horizon_months = set.prediction_horizon_months;
    for (size_t i = 0; i < snap.profiles.size(); ++i) {
      snap.profiles[i].p_alive = set.profiles[i].p_alive;
      snap.profiles[i].expected_purchases = set.profiles[i].expected_purchases;
      snap.profiles[i].predicted_clv = set.profiles[i].predicted_clv;
    }
    analytics::SegmentReport averages;
    averages.segments.resize(snap.segments.size());
    analytics::SetPredictionAverages(set, &averages);
    for (size_t i = 0; i < snap.segments.size(); ++i) {
      snap.segments[i].avg_p_alive = averages.segments[i].avg_p_alive;
      snap.segments[i].avg_predicted_clv = averages.segments[i].avg_predicted_clv;
    }
    if (predicted.size() >= kMaxPredictedSnapshots) predicted.erase(predicted.begin());
    predicted.emplace(key, made);
    return std::shared_ptr<const LoadedSnapshot>(std::move(made));
  }

  // Replaces `snap` by its predicted version when the request asks for predictions.
  std::optional<HttpError> ApplyPredictions(const PredictRequest& p,
                                            std::shared_ptr<const LoadedSnapshot>* snap) {
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

  // Parses ?snapshot=latest|<id>.
  std::optional<HttpError> SnapshotParam(const httplib::Request& req,
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

  // Sets the caching headers of a snapshot-derived answer; true when the client's copy is
  // current (304 sent).
  bool Cached(const httplib::Request& req, httplib::Response& res, const LoadedSnapshot& snap) {
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

  void Send(httplib::Response& res, const std::string& body, const std::string& format,
            const std::string& filename) {
    if (format == "csv") {
      res.set_header("Content-Disposition", "inline; filename=\"" + filename + ".csv\"");
      res.set_content(body, "text/csv; charset=utf-8");
    } else {
      res.set_content(body, "application/json");
    }
  }

  void Send(const httplib::Request& req, httplib::Response& res, const RenderedBody& body,
            const std::string& format, const std::string& filename) {
    if (format == "csv") {
      res.set_header("Content-Disposition", "inline; filename=\"" + filename + ".csv\"");
      SendBody(req, res, body, "text/csv; charset=utf-8");
    } else {
      SendBody(req, res, body, "application/json");
    }
  }

  // Common read parameters: lang and format.
  std::optional<HttpError> LangFormat(const httplib::Request& req, analytics::Lang* lang,
                                      std::string* format, bool csv_allowed) {
    std::string l = "en";
    if (auto e = ChoiceParam(req, "lang", {"en", "de"}, &l)) return e;
    *lang = l == "de" ? analytics::Lang::kDe : analytics::Lang::kEn;
    *format = "json";
    if (csv_allowed) return ChoiceParam(req, "format", {"json", "csv"}, format);
    return ChoiceParam(req, "format", {"json"}, format);
  }

  void Segments(const httplib::Request& req, httplib::Response& res, int64_t forced_id) {
    if (!Authorize(req, res, Role::kViewer)) return;
    analytics::Lang lang;
    std::string format;
    if (auto e = LangFormat(req, &lang, &format, true)) return SendError(res, *e);
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
    const auto body = snap->Render(
        fmt::format("segments/{}/{}", lang == analytics::Lang::kDe ? "de" : "en", format), [&] {
          const auto report = analytics::SnapshotReport(snap->snapshot, lang);
          return format == "csv" ? report.ToCsv() : report.ToJson();
        });
    Send(req, res, *body, format,
         fmt::format("segments-{}", FormatIsoDate(snap->snapshot.info.as_of_day)));
  }

  void Snapshots(const httplib::Request& req, httplib::Response& res) {
    if (!Authorize(req, res, Role::kViewer)) return;
    auto s = ThreadStore();
    if (!s.ok()) return SendError(res, FromStatus(s.status()));
    auto all = analytics::SnapshotStore(**s).List();
    if (!all.ok()) return SendError(res, FromStatus(all.status()));
    res.set_content(analytics::SnapshotsToJson(*all), "application/json");
  }

  void Migration(const httplib::Request& req, httplib::Response& res) {
    if (!Authorize(req, res, Role::kViewer)) return;
    analytics::Lang lang;
    std::string format;
    if (auto e = LangFormat(req, &lang, &format, true)) return SendError(res, *e);
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
    Send(res, format == "csv" ? m->ToCsv(lang) : m->ToJson(lang), format,
         fmt::format("migration-{}-{}", m->from.id, m->to.id));
  }

  static Json Histogram(std::vector<double> values, int bins, bool money) {
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

  void Distributions(const httplib::Request& req, httplib::Response& res) {
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

  static Json ProfileJson(const analytics::Snapshot& s, const analytics::Profile& p,
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

  static std::string ProfileCsvHeader(bool predictions) {
    return std::string(
               "uuid,segment_key,segment,r_score,f_score,m_score,order_count,clv,avg_order_value,"
               "recency_days,first_order,last_order,currency") +
           (predictions ? ",p_alive,expected_purchases,predicted_clv\r\n" : "\r\n");
  }

  static void ProfileCsv(const analytics::Snapshot& s, const analytics::Profile& p,
                         analytics::Lang lang, std::string* out) {
    const int exp = s.info.currency_exponent;
    const auto& g = s.segments[p.segment];
    const int64_t aov =
        p.order_count > 0 ? p.revenue_minor / static_cast<int64_t>(p.order_count) : 0;
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

  void Profiles(const httplib::Request& req, httplib::Response& res) {
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
        return SendError(
            res, BadParameter("segment", fmt::format("unknown segment (known: {})", known)));
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

  void Profile(const httplib::Request& req, httplib::Response& res) {
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

  void Recompute(const httplib::Request& req, httplib::Response& res) {
    if (!Authorize(req, res, Role::kAdmin)) return;
    Json body = Json::object();
    if (!req.body.empty()) {
      body = Json::parse(req.body, nullptr, false);
      if (body.is_discarded() || !body.is_object()) {
        return SendError(res, BadParameter("body", "the body must be a JSON object"));
      }
    }
    analytics::ProfileOptions o;
    o.as_of_day = TodayUtc();
    for (const auto& [k, v] : body.items()) {
      if (k != "window" && k != "as_of" && k != "currency" && k != "lang") {
        return SendError(res, BadParameter(k, "unknown field (window, as_of, currency, lang)"));
      }
      if (!v.is_string()) return SendError(res, BadParameter(k, k + " must be a string"));
    }
    if (body.contains("window")) {
      auto w = analytics::Window::Parse(body["window"].get<std::string>());
      if (!w.ok()) return SendError(res, BadParameter("window", w.status().message()));
      o.window = *w;
    }
    if (body.contains("as_of")) {
      auto d = ParseIsoDate(body["as_of"].get<std::string>());
      if (!d.ok()) return SendError(res, BadParameter("as_of", d.status().message()));
      o.as_of_day = *d;
    }
    if (body.contains("currency")) o.currency = body["currency"].get<std::string>();
    analytics::Lang lang = analytics::Lang::kEn;
    if (body.contains("lang")) {
      auto l = analytics::ParseLang(body["lang"].get<std::string>());
      if (!l.ok()) return SendError(res, BadParameter("lang", l.status().message()));
      lang = *l;
    }
    std::lock_guard lock(write_mu);
    auto s = ThreadStore();
    if (!s.ok()) return SendError(res, FromStatus(s.status()));
    auto rules = analytics::SegmentRules::Default();
    if (!rules.ok()) return SendError(res, FromStatus(rules.status()));
    analytics::AnalysisOptions analysis;
    analysis.profiles = o;
    auto set = analytics::Analyze(**s, analysis, *rules);
    if (!set.ok()) return SendError(res, FromStatus(set.status()));
    auto id = analytics::SaveSnapshot(**s, *set, *rules);
    if (!id.ok()) return SendError(res, FromStatus(id.status()));
    ++snapshots_created;
    latest_id = *id;  // the next read sees the new snapshot
    latest_checked_ns = NowNs();
    audiences->StoreChanged();  // and the next count
    auto report = analytics::BuildReport(*set, *rules, lang);
    report.snapshot_id = *id;
    res.status = 201;
    res.set_header("X-Tessera-Snapshot", std::to_string(*id));
    res.set_header("Location", fmt::format("/api/v1/snapshots/{}/segments", *id));
    res.set_content(report.ToJson(), "application/json");
  }

  void Ingest(const httplib::Request& req, httplib::Response& res,
              const httplib::ContentReader& reader) {
    if (!Authorize(req, res, Role::kAdmin)) return;
    if (options.key_path.empty()) {
      return SendError(res, {409, "conflict",
                             "this server has no owner's key; start it with --key (or "
                             "TESSERA_KEY) to accept uploads",
                             ""});
    }
    std::string mapping_name = "generic";
    if (req.has_param("mapping")) mapping_name = req.get_param_value("mapping");
    // Presets only: a mapping file path from a client would read the server's files.
    if (mapping_name.find('/') != std::string::npos ||
        mapping_name.find('.') != std::string::npos) {
      return SendError(res, BadParameter("mapping", "mapping must be a preset name"));
    }
    auto mapping = io::LoadMapping(mapping_name);
    if (!mapping.ok()) return SendError(res, BadParameter("mapping", mapping.status().message()));
    if (req.is_multipart_form_data()) {
      return SendError(res, BadParameter("body", "send the file itself as the body, not a form"));
    }
    const auto too_large_error = [&] {
      SendError(res, {413, "payload_too_large",
                      fmt::format("the upload exceeds {} bytes (--max-upload-mb)",
                                  options.max_upload_bytes),
                      ""});
    };
    if (req.has_header("Content-Length") &&
        std::strtoull(req.get_header_value("Content-Length").c_str(), nullptr, 10) >
            options.max_upload_bytes) {
      return too_large_error();
    }
    // Stream the body to a private temporary file (mode 0600), never whole into memory.
    std::string tmp = (std::filesystem::temp_directory_path() / "tessera-upload-XXXXXX").string();
    const int fd = ::mkstemp(tmp.data());
    if (fd < 0) return SendError(res, {500, "internal", "cannot create a temporary file", ""});
    struct Remove {
      std::string path;
      ~Remove() { std::remove(path.c_str()); }
    } remove{tmp};
    uint64_t size = 0;
    bool too_large = false, write_failed = false;
    const bool complete = reader([&](const char* data, size_t n) {
      size += n;
      if (size > options.max_upload_bytes) {
        too_large = true;
        return false;
      }
      while (n > 0) {
        const ssize_t w = ::write(fd, data, n);
        if (w <= 0) {
          write_failed = true;
          return false;
        }
        data += w;
        n -= static_cast<size_t>(w);
      }
      return true;
    });
    ::close(fd);
    if (too_large) return too_large_error();
    if (!complete && !write_failed) {
      return SendError(res, BadParameter("body", "the upload ended early"));
    }
    if (write_failed) return SendError(res, {507, "internal", "cannot store the upload", ""});
    if (size == 0) return SendError(res, BadParameter("body", "the body is empty"));
    auto key = privacy::OwnerKey::Load(options.key_path);
    if (!key.ok()) return SendError(res, FromStatus(key.status()));
    std::lock_guard lock(write_mu);
    auto s = ThreadStore();
    if (!s.ok()) return SendError(res, FromStatus(s.status()));
    ingest::LoadOptions lo;
    lo.mapping = std::move(*mapping);
    Json rejects = Json::array();
    uint64_t reject_count = 0;
    const std::string name = req.has_param("name") ? req.get_param_value("name") : "upload";
    lo.file_labels = {name};
    lo.on_reject = [&](const io::Reject& r) {
      ++reject_count;
      if (rejects.size() >= kMaxRejectsReported) return;
      rejects.push_back({{"file", r.file},
                         {"line", r.line},
                         {"column", r.column},
                         {"column_name", r.column_name},
                         {"reason_code", r.reason_code},
                         {"reason", r.reason}});
    };
    auto summary = ingest::LoadOrders(**s, *key, {tmp}, lo);
    if (!summary.ok()) {
      // The reader names the file; the client knows it by its own name, not our temp path.
      std::string msg = summary.status().message();
      for (size_t at; (at = msg.find(tmp)) != std::string::npos;) msg.replace(at, tmp.size(), name);
      HttpError e = FromStatus(summary.status());
      e.message = msg;
      if (e.status == 500 && summary.status().code() == StatusCode::kInvalidArgument)
        e.status = 400;
      return SendError(res, e);
    }
    orders_ingested += summary->orders_stored;
    audiences->StoreChanged();
    Json j;
    j["summary"] = Json::parse(summary->ToJson(), nullptr, false);
    j["rejects"] = std::move(rejects);
    j["rejects_reported"] = j["rejects"].size();
    j["rejects_total"] = reject_count;
    res.status = 201;
    std::string body = j.dump(2);
    for (size_t at; (at = body.find(tmp)) != std::string::npos;) body.replace(at, tmp.size(), name);
    res.set_content(body + "\n", "application/json");
  }

  void Loads(const httplib::Request& req, httplib::Response& res) {
    if (!Authorize(req, res, Role::kAdmin)) return;
    auto s = ThreadStore();
    if (!s.ok()) return SendError(res, FromStatus(s.status()));
    auto loads = (*s)->Loads();
    if (!loads.ok()) return SendError(res, FromStatus(loads.status()));
    Json j = Json::array();
    for (const auto& l : *loads) {
      Json e;
      e["load_id"] = l.load_id;
      e["started_at"] = l.started_at;
      e["finished_at"] = l.finished_at.empty() ? Json() : Json(l.finished_at);
      e["summary"] = l.summary_json.empty() ? Json() : Json::parse(l.summary_json, nullptr, false);
      j.push_back(std::move(e));
    }
    res.set_content(j.dump(2) + "\n", "application/json");
  }

  void LoadRejects(const httplib::Request& req, httplib::Response& res) {
    if (!Authorize(req, res, Role::kAdmin)) return;
    std::string format = "json";
    if (auto e = ChoiceParam(req, "format", {"json", "csv"}, &format)) return SendError(res, *e);
    const int64_t id = std::stoll(req.matches[1].str());
    auto s = ThreadStore();
    if (!s.ok()) return SendError(res, FromStatus(s.status()));
    auto rejects = (*s)->LoadRejects(id);
    if (!rejects.ok()) return SendError(res, FromStatus(rejects.status()));
    if (format == "csv") {
      std::string out = std::string(io::kRejectsCsvHeader) + "\r\n";
      for (const auto& r : *rejects) out += io::RejectCsvRow(r) + "\r\n";
      return Send(res, out, "csv", fmt::format("load-{}-rejects", id));
    }
    Json j = Json::array();
    for (const auto& r : *rejects) {
      j.push_back({{"file", r.file},
                   {"line", r.line},
                   {"column", r.column},
                   {"column_name", r.column_name},
                   {"reason_code", r.reason_code},
                   {"reason", r.reason}});
    }
    res.set_content(j.dump(2) + "\n", "application/json");
  }

  void Metrics(const httplib::Request& req, httplib::Response& res) {
    if (!Authorize(req, res, Role::kViewer)) return;
    std::string out;
    out += "# HELP tessera_http_requests_total HTTP requests by route and status.\n";
    out += "# TYPE tessera_http_requests_total counter\n";
    std::array<uint64_t, std::size(kBuckets) + 1> buckets;
    double sum;
    {
      std::lock_guard lock(metrics_mu);
      for (const auto& [k, n] : requests) {
        out += fmt::format("tessera_http_requests_total{{route=\"{}\",status=\"{}\"}} {}\n",
                           PromLabel(k.first), k.second, n);
      }
      buckets = duration_counts;
      sum = duration_sum;
    }
    out += "# HELP tessera_http_request_duration_seconds Time to answer a request.\n";
    out += "# TYPE tessera_http_request_duration_seconds histogram\n";
    uint64_t cumulative = 0;
    for (size_t i = 0; i < std::size(kBuckets); ++i) {
      cumulative += buckets[i];
      out += fmt::format("tessera_http_request_duration_seconds_bucket{{le=\"{}\"}} {}\n",
                         kBuckets[i], cumulative);
    }
    cumulative += buckets.back();
    out +=
        fmt::format("tessera_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {}\n", cumulative);
    out += fmt::format("tessera_http_request_duration_seconds_sum {}\n", sum);
    out += fmt::format("tessera_http_request_duration_seconds_count {}\n", cumulative);
    const internal::EventServer::Refusals refused = http.refusals();
    out += "# HELP tessera_http_refused_total Requests answered before any handler, by reason.\n";
    out += "# TYPE tessera_http_refused_total counter\n";
    for (const auto& [reason, n] : {std::pair{"too_large", refused.too_large},
                                    {"bad_framing", refused.bad_framing},
                                    {"timeout", refused.timeout},
                                    {"busy", refused.busy},
                                    {"connections", refused.connections}}) {
      out += fmt::format("tessera_http_refused_total{{reason=\"{}\"}} {}\n", reason, n);
    }
    const int64_t latest = latest_id.load();
    out += "# HELP tessera_latest_snapshot_id The newest snapshot the server has seen.\n";
    out += "# TYPE tessera_latest_snapshot_id gauge\n";
    out += fmt::format("tessera_latest_snapshot_id {}\n", latest);
    out += "# TYPE tessera_orders_ingested_total counter\n";
    out += fmt::format("tessera_orders_ingested_total {}\n", orders_ingested.load());
    out += "# TYPE tessera_snapshots_created_total counter\n";
    out += fmt::format("tessera_snapshots_created_total {}\n", snapshots_created.load());
    out += "# TYPE tessera_start_time_seconds gauge\n";
    out += fmt::format(
        "tessera_start_time_seconds {}\n",
        std::chrono::duration_cast<std::chrono::seconds>(started.time_since_epoch()).count());
    res.set_content(out, "text/plain; version=0.0.4; charset=utf-8");
  }

  void Record(const httplib::Request& req, const httplib::Response& res, double seconds) {
    std::lock_guard lock(metrics_mu);
    ++requests[{RouteOf(req.path), res.status}];
    size_t b = 0;
    while (b < std::size(kBuckets) && seconds > kBuckets[b]) ++b;
    ++duration_counts[b];
    duration_sum += seconds;
  }

  void Routes();
};

std::string OpenApiDocument();

void Server::Impl::Routes() {
  thread_local std::chrono::steady_clock::time_point request_start;
  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    request_start = std::chrono::steady_clock::now();
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
    Record(req, res,
           std::chrono::duration<double>(std::chrono::steady_clock::now() - request_start).count());
  });
  http.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        SendError(res, {500, "internal", "internal error", ""});
      });
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 404) {
      SendError(res, {404, "not_found",
                      "no such endpoint: " + req.path + " (see /api/v1/openapi.json)", ""});
    } else if (res.status == 413) {
      SendError(res, {413, "payload_too_large", "the request body is too large", ""});
    } else if (res.status == 400) {
      SendError(res, {400, "invalid_parameter", "malformed request", ""});
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
  http.Get("/metrics",
           [this](const httplib::Request& req, httplib::Response& res) { Metrics(req, res); });
  audiences->AddRoutes(http);
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
  // Open the store once here, so that a wrong location fails at start, not at first request.
  TESSERA_ASSIGN_OR_RETURN(store::Store * store, impl->ThreadStore());
  Impl* self = impl.get();
  impl->audiences = std::make_unique<internal::AudienceApi>(
      audience::DefaultIndexPath(options.store, store->Describe()), options.max_json_bytes,
      internal::AudienceApi::Hooks{[self](const httplib::Request& req, httplib::Response& res,
                                          Role role) { return self->Authorize(req, res, role); },
                                   [self] { return self->ThreadStore(); }});
  impl->http.set_read_timeout(options.read_timeout_seconds, 0);
  impl->http.set_write_timeout(options.write_timeout_seconds, 0);
  // The upload handler enforces max_upload_bytes itself (413 with a JSON error).
  impl->http.set_payload_max_length(options.max_upload_bytes + (1 << 20));
  impl->http.set_tcp_nodelay(true);
  impl->http.set_keep_alive_max_count(100000);
  impl->http.set_keep_alive_timeout(30);
  impl->http.set_default_headers({{"X-Content-Type-Options", "nosniff"}});
  // cpp-httplib's default also sets SO_REUSEPORT, with which a second server binds the same
  // port and the kernel splits requests between two servers of different stores.
  const bool reuse_port = options.reuse_port;
  impl->http.set_socket_options([reuse_port](socket_t sock) {
    const int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (reuse_port) ::setsockopt(sock, SOL_SOCKET, SO_REUSEPORT, &yes, sizeof yes);
  });
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

Status Server::Run() {
  Impl& impl = *impl_;
  internal::EventServer::Limits limits;
  limits.max_body_bytes = impl.options.max_json_bytes;
  limits.max_connections_per_address = impl.options.max_connections_per_address;
  limits.max_busy_per_client = impl.options.max_busy_per_client;
  return impl.http.Serve(
      internal::UsableCpus(), std::max(4, impl.options.threads),
      [&impl](std::string_view method, std::string_view target) {
        return impl.AnswersFromMemory(method, target);
      },
      // Uploads stream: their handler refuses a wrong key or an oversized file from the head.
      [](std::string_view method, std::string_view target) {
        return method == "POST" && target.substr(0, target.find('?')) == "/api/v1/ingest";
      },
      limits);
}

void Server::Stop() {
  if (impl_) impl_->http.Stop();
}

}  // namespace tessera::server
