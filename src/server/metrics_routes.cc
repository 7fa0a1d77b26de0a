// Routes: Prometheus metrics and the per-request record behind them.

#include "server/server_impl.h"

namespace tessera::server {

void Server::Impl::Metrics(const httplib::Request& req, httplib::Response& res) {
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
                                  {"connections", refused.connections},
                                  {"tls", refused.tls}}) {
    out += fmt::format("tessera_http_refused_total{{reason=\"{}\"}} {}\n", reason, n);
  }
  out += "# HELP tessera_api_key_failures_total Requests with an unknown or revoked API key.\n";
  out += "# TYPE tessera_api_key_failures_total counter\n";
  out += fmt::format("tessera_api_key_failures_total {}\n", failed_keys->failures());
  out +=
      "# HELP tessera_api_key_lockouts_total Requests refused (429) because their address sent "
      "too many wrong API keys.\n";
  out += "# TYPE tessera_api_key_lockouts_total counter\n";
  out += fmt::format("tessera_api_key_lockouts_total {}\n", failed_keys->refusals());
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

void Server::Impl::Record(const httplib::Request& req, const httplib::Response& res,
                          double seconds) {
  std::lock_guard lock(metrics_mu);
  ++requests[{RouteOf(req.path), res.status}];
  size_t b = 0;
  while (b < std::size(kBuckets) && seconds > kBuckets[b]) ++b;
  ++duration_counts[b];
  duration_sum += seconds;
}

}  // namespace tessera::server
