#include "sources/shop_client.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <thread>

#include "sources/secrets.h"
#include "tessera/common/http_error.h"

namespace tessera::sources::internal {

std::string HttpAnswer::Header(const char* name) const {
  const auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

SplitUrl SplitSourceUrl(const std::string& url) {
  const size_t scheme_end = url.find("://");
  const size_t path_at =
      scheme_end == std::string::npos ? std::string::npos : url.find('/', scheme_end + 3);
  SplitUrl out;
  out.origin = url.substr(0, path_at);
  if (path_at != std::string::npos) out.path = url.substr(path_at);
  while (!out.path.empty() && out.path.back() == '/') out.path.pop_back();
  return out;
}

StatusOr<std::unique_ptr<ShopClient>> ShopClient::Create(const SourceConfig& config,
                                                         const RunOptions& options) {
  std::unique_ptr<ShopClient> c(new ShopClient(config, options));
  c->client_ = std::make_unique<httplib::Client>(c->url_.origin);
  c->client_->set_connection_timeout(options.timeout_seconds);
  c->client_->set_read_timeout(options.timeout_seconds);
  c->client_->set_write_timeout(options.timeout_seconds);
  c->client_->set_follow_location(false);  // a redirect would carry the credentials elsewhere
  if (config.kind == SourceKind::kShopify) {
    TESSERA_ASSIGN_OR_RETURN(const std::string token,
                             ReadSecret(config.name, config.token, "its access token"));
    c->client_->set_default_headers(
        {{"X-Shopify-Access-Token", token}, {"Accept", "application/json"}});
    c->credentials_what_ = "the access token in " + config.token.Describe();
  } else {
    TESSERA_ASSIGN_OR_RETURN(const Credentials cred, ReadWooCommerceCredentials(config));
    c->client_->set_basic_auth(cred.key, cred.secret);
    c->client_->set_default_headers({{"Accept", "application/json"}});
    c->credentials_what_ =
        "the consumer key and secret in " +
        (config.key.file.empty() ? config.key.Describe() + " and " + config.secret.Describe()
                                 : config.key.Describe());
  }
  return c;
}

StatusOr<HttpAnswer> ShopClient::Get(const std::string& target, int page) {
  const RetryPolicy& policy = options_.retry;
  const std::string where = fmt::format("source '{}' page {}", config_.name, page);
  std::string last;
  for (int attempt = 1;; ++attempt) {
    auto res = client_->Get(target);
    double wait = std::min(policy.max_wait_seconds,
                           policy.base_seconds * std::pow(2.0, static_cast<double>(attempt - 1)));
    std::string reason;
    if (!res) {
      reason = "connection failed";
      last = fmt::format("{}: the shop cannot be reached at {}: {}", where, url_.origin,
                         HttpErrorText(res.error()));
    } else if (res->status == 200) {
      return HttpAnswer{std::move(res->body), std::move(res->headers)};
    } else if (res->status == 401 || res->status == 403) {
      return PermissionDeniedError(
          "{}: the shop refused the credentials (HTTP {}); check {} and its permission to read "
          "orders",
          where, res->status, credentials_what_);
    } else if (res->status == 404) {
      return NotFoundError("{}: HTTP 404 for the orders endpoint; check the source's URL ({})",
                           where, config_.url);
    } else if (res->status == 429 || res->status >= 500) {
      reason = fmt::format("HTTP {}", res->status);
      last = fmt::format("{}: the shop answered HTTP {}", where, res->status);
      if (res->status == 429) {
        const std::string after = res->get_header_value("Retry-After");
        char* end = nullptr;
        const double seconds = after.empty() ? -1 : std::strtod(after.c_str(), &end);
        if (end != nullptr && *end == '\0' && seconds >= 0 && std::isfinite(seconds)) {
          wait = std::min(policy.max_wait_seconds, seconds);
        }
      }
    } else {
      return InvalidArgumentError("{}: the shop answered HTTP {}", where, res->status);
    }
    if (attempt >= policy.max_attempts) {
      return UnavailableError("{} (gave up after {} attempts)", last, attempt);
    }
    if (policy.on_wait) policy.on_wait(wait, reason);
    // In slices when the run can be stopped, so that a stopping server does not wait out a
    // minute's Retry-After.
    const auto until = std::chrono::steady_clock::now() +
                       std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                           std::chrono::duration<double>(wait * policy.time_scale));
    while (std::chrono::steady_clock::now() < until) {
      if (policy.stopped && policy.stopped()) {
        return UnavailableError("{}: stopped while waiting to retry ({})", where, last);
      }
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
          std::chrono::milliseconds(100), until - std::chrono::steady_clock::now()));
    }
  }
}

}  // namespace tessera::sources::internal
