#pragma once

// The server's state and its route handlers, shared by the files that implement them:
// server.cc (wiring: authorization, snapshots in memory, caching, routes, start and stop),
// segments_routes.cc (segments, snapshots, migration, distributions), profiles_routes.cc,
// loads_routes.cc (recompute, uploads, loads and their rejects), metrics_routes.cc and
// collab_routes.cc (this party, its partners, grants and the audit log).
// Internal to the server module.

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

#include "server/access_log.h"
#include "server/audience_api.h"
#include "server/collab_node_api.h"
#include "server/event_server.h"
#include "server/failed_key_limiter.h"
#include "server/http_common.h"
#include "server/schedule.h"
#include "tessera/analytics/pipeline.h"
#include "tessera/analytics/predict.h"
#include "tessera/analytics/profile_rows.h"
#include "tessera/analytics/snapshots.h"
#include "tessera/collab/party.h"
#include "tessera/common/civil_time.h"
#include "tessera/common/money.h"
#include "tessera/common/text.h"
#include "tessera/ingest/loader.h"
#include "tessera/io/mapping.h"
#include "tessera/privacy/owner_key.h"
#include "tessera/server/api_keys.h"
#include "tessera/server/server.h"
#include "tessera/server/store_tables.h"
#include "tessera/server/web_assets.h"
#include "tessera/store/store.h"

namespace tessera::server {

using internal::BadParameter;
using internal::ChoiceParam;
using internal::FromStatus;
using internal::HttpError;
using internal::IntParam;
using internal::Json;
using internal::NumberParam;
using internal::SendError;

inline constexpr auto kKeyRefresh = std::chrono::seconds(2);
inline constexpr auto kSnapshotRefresh = std::chrono::seconds(1);
inline constexpr size_t kMaxCachedSnapshots = 4;
inline constexpr size_t kMaxRejectsReported = 1000;

// An answer made once, as it is and gzip-compressed.
struct RenderedBody {
  std::string plain, gzip;
};

inline std::string Gzip(const std::string& in) {
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
inline void SendBody(const httplib::Request& req, httplib::Response& res, const RenderedBody& body,
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

  // Profile listings' orders (?sort=, analytics::SortProfiles), made once per field and
  // direction; at most kMaxOrders kept (4 bytes a profile each), the oldest given up first.
  static constexpr size_t kMaxOrders = 4;
  mutable std::mutex orders_mu;
  mutable std::vector<std::pair<std::string, std::shared_ptr<const std::vector<uint32_t>>>>
      orders;  // GUARDED_BY(orders_mu)

  std::shared_ptr<const std::vector<uint32_t>> Order(const analytics::ProfileSort& sort) const {
    const std::string key = sort.ToString();
    {
      std::lock_guard lock(orders_mu);
      for (const auto& [k, order] : orders) {
        if (k == key) return order;
      }
    }
    auto made = std::make_shared<const std::vector<uint32_t>>(
        analytics::SortProfiles(snapshot.profiles, sort));
    std::lock_guard lock(orders_mu);
    if (orders.size() >= kMaxOrders) orders.erase(orders.begin());
    orders.emplace_back(key, made);
    return made;
  }

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

inline std::string HttpDate(const std::string& iso) {
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
inline std::string PromLabel(std::string_view v) {
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
inline std::string RouteOf(const std::string& path) {
  if (path.starts_with("/api/v1/profiles/")) return "/api/v1/profiles/{uuid}";
  if (path.starts_with("/api/v1/snapshots/")) return "/api/v1/snapshots/{id}/segments";
  if (path.starts_with("/api/v1/loads/")) return "/api/v1/loads/{id}/rejects";
  // Source names are the customer's words: folded.
  if (path.starts_with("/api/v1/sources/") && path.ends_with("/webhook")) {
    return "/api/v1/sources/{name}/webhook";
  }
  if (path.starts_with("/api/v1/collab/")) {
    static const std::string kRoutes[] = {
        "/api/v1/collab/party", "/api/v1/collab/partners",     "/api/v1/collab/grants",
        "/api/v1/collab/audit", "/api/v1/collab/audit/verify", "/api/v1/collab/grants/import",
        "/api/v1/collab/count", "/api/v1/collab/overlap",      "/api/v1/collab/activate"};
    for (const auto& r : kRoutes) {
      if (path == r) return r;
    }
    if (path.starts_with("/api/v1/collab/grants/")) {
      return path.ends_with("/revoke") ? "/api/v1/collab/grants/{id}/revoke"
                                       : "/api/v1/collab/grants/{id}";
    }
    return "/api/ (unknown)";
  }
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
      "/api/v1/ingest",    "/api/v1/loads",     "/api/v1/audiences",     "/api/v1/schedule",
      "/api/v1/sources",   "/metrics"};
  if (path == "/api/v1/segments/definitions") return path;
  for (const auto& r : kFixed) {
    if (path == r) return r;
  }
  if (path.starts_with("/api/")) return "/api/ (unknown)";
  return "/ (dashboard)";
}

// Base64url without padding, for cursors.
inline std::string B64(std::string_view in) {
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

inline std::optional<std::string> UnB64(std::string_view in) {
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
inline std::string Fnv(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return fmt::format("{:016x}", h);
}

struct Server::Impl {
  ServerOptions options;
  // The parties of options.collaboration_path, read once at start; nullopt without one.
  std::optional<collab::Collaboration> collaboration;
  // Declared before `http`, so that it outlives the handlers that use it.
  std::unique_ptr<internal::AudienceApi> audiences;
  // Collaboration queries: this node's part as an owner, and queries it runs as requester.
  std::unique_ptr<internal::CollabNodeApi> collab_node;
  internal::EventServer http;
  int port = 0;

  // API keys, refreshed from the store every kKeyRefresh (so revocations take effect) by one
  // request at a time while the others use the previous list.
  using KeyList = std::vector<server::ApiKeyRecord>;
  std::mutex keys_mu, keys_refresh_mu;
  std::shared_ptr<const KeyList> keys;
  std::atomic<int64_t> keys_loaded_ns{0};
  // Wrong keys per client address (brute force); made in Start from the options.
  std::unique_ptr<internal::FailedKeyLimiter> failed_keys;

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
  // --access-log; null without one.
  std::unique_ptr<internal::AccessLog> access_log;
  std::chrono::system_clock::time_point started = std::chrono::system_clock::now();

  // One store per server thread: stores are not thread-safe.
  StatusOr<store::Store*> ThreadStore();

  static int64_t NowNs();

  StatusOr<std::shared_ptr<const KeyList>> Keys();

  // Checks the request's key and role; on failure fills `res` and returns false. On success
  // sets `*granted` (when given) to the key's role.
  bool Authorize(const httplib::Request& req, httplib::Response& res, Role needed,
                 Role* granted = nullptr);

  // The snapshot `id` (0: the newest), from memory or loaded once.
  Status RefreshLatest();

  StatusOr<std::shared_ptr<const LoadedSnapshot>> Snapshot(int64_t id);

  // Whether snapshot `id` (0: the newest) is in memory, and the newest one known recently
  // enough that no request will ask the store for it.
  bool SnapshotInMemory(int64_t id);

  // Whether a request may be answered on an event loop (event_server.h): its answer comes
  // from memory. Requests that may read the store at length, load a snapshot or compress a
  // large file go to a worker thread. Errs towards the worker, which answers any request.
  bool AnswersFromMemory(std::string_view method, std::string_view target);

  // Predictions asked for with ?predict=bgnbd|pnbd[&horizon_months=12][&discount=0.1], the
  // options of `tessera profiles --predict`.
  struct PredictRequest {
    bool wanted = false;
    analytics::ProfilePredictionOptions options;
    std::string key;  // the options, for the cache
  };

  static std::optional<HttpError> PredictParams(const httplib::Request& req, PredictRequest* out);

  // `base` with the predictions of `p` in its profiles and segment statistics: fitted on the
  // store's purchases up to the snapshot's as-of date, as `tessera profiles --predict` does for
  // the same as-of date and window. Errors: the fits' (named as the predict parameter).
  StatusOr<std::shared_ptr<const LoadedSnapshot>> Predicted(
      const std::shared_ptr<const LoadedSnapshot>& base, const PredictRequest& p);

  // Replaces `snap` by its predicted version when the request asks for predictions.
  std::optional<HttpError> ApplyPredictions(const PredictRequest& p,
                                            std::shared_ptr<const LoadedSnapshot>* snap);

  // Parses ?snapshot=latest|<id>.
  std::optional<HttpError> SnapshotParam(const httplib::Request& req,
                                         std::shared_ptr<const LoadedSnapshot>* out);

  // Sets the caching headers of a snapshot-derived answer; true when the client's copy is
  // current (304 sent).
  bool Cached(const httplib::Request& req, httplib::Response& res, const LoadedSnapshot& snap);

  void Send(httplib::Response& res, const std::string& body, const std::string& format,
            const std::string& filename);

  void Send(const httplib::Request& req, httplib::Response& res, const RenderedBody& body,
            const std::string& format, const std::string& filename);

  // Common read parameters: lang, format and, where CSV is allowed (`dialect` not null),
  // dialect: rfc4180 (the default) or de (German Excel and Sheets: `;`, decimal comma,
  // German headers, a UTF-8 byte order mark; names in German unless lang says otherwise).
  std::optional<HttpError> LangFormat(const httplib::Request& req, analytics::Lang* lang,
                                      std::string* format, CsvDialect* dialect = nullptr);

  void Segments(const httplib::Request& req, httplib::Response& res, int64_t forced_id);

  void Snapshots(const httplib::Request& req, httplib::Response& res);

  void Migration(const httplib::Request& req, httplib::Response& res);

  static Json Histogram(std::vector<double> values, int bins, bool money);

  void Distributions(const httplib::Request& req, httplib::Response& res);

  // GET /api/v1/segments/definitions: the snapshot's segment rules and what its scores meant.
  void SegmentDefinitions(const httplib::Request& req, httplib::Response& res);

  void Profiles(const httplib::Request& req, httplib::Response& res);

  void Profile(const httplib::Request& req, httplib::Response& res);

  void Recompute(const httplib::Request& req, httplib::Response& res);

  // Recomputes the segments with `o` (the default rules) and keeps them as a new snapshot, which
  // the next read sees. Takes write_mu. Errors: the store's and the analysis's.
  struct Recomputed {
    int64_t snapshot_id = 0;
    analytics::ProfileSet set;
    analytics::SegmentRules rules;
  };
  StatusOr<Recomputed> RecomputeSnapshot(const analytics::ProfileOptions& o);

  // The job of --schedule (schedule.h): sources, recompute, destinations, each a step of the
  // returned run. GET /api/v1/schedule shows the schedule and its last runs.
  ScheduledRun RunSchedule(int64_t scheduled_for);
  ScheduledRun::Step SourcesStep();       // every source (sources::RunSources)
  ScheduledRun::Step DestinationsStep();  // every destination (destinations::DeliverAll)
  void Schedule(const httplib::Request& req, httplib::Response& res);

  void Ingest(const httplib::Request& req, httplib::Response& res,
              const httplib::ContentReader& reader);

  void Loads(const httplib::Request& req, httplib::Response& res);

  void LoadRejects(const httplib::Request& req, httplib::Response& res);

  void Metrics(const httplib::Request& req, httplib::Response& res);

  // POST /api/v1/sources/{name}/webhook (sources_routes.cc): an order pushed by a shop.
  void SourceWebhook(const httplib::Request& req, httplib::Response& res);
  void Sources(const httplib::Request& req, httplib::Response& res);

  // Collaboration (collab_routes.cc, docs/api.md "Collaboration").
  void CollabParty(const httplib::Request& req, httplib::Response& res);
  void CollabPartners(const httplib::Request& req, httplib::Response& res);
  void CollabGrants(const httplib::Request& req, httplib::Response& res);
  void CollabGrant(const httplib::Request& req, httplib::Response& res);
  void CollabCreateGrant(const httplib::Request& req, httplib::Response& res);
  void CollabRevokeGrant(const httplib::Request& req, httplib::Response& res);
  void CollabImportGrant(const httplib::Request& req, httplib::Response& res);
  void CollabAudit(const httplib::Request& req, httplib::Response& res);
  void CollabAuditVerify(const httplib::Request& req, httplib::Response& res);

  void Record(const httplib::Request& req, const httplib::Response& res, double seconds);

  void Routes();

  std::unique_ptr<Scheduler> scheduler;  // --schedule's thread; last, so it stops first
};

}  // namespace tessera::server
