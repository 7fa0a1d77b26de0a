#pragma once

// GET requests to a shop's API with its credentials and the retries of a RetryPolicy.
// Internal to the module.
//
// Privacy: the credentials are held in memory for the life of the client and sent only to the
// source's own origin. Messages name the source, the page and the HTTP status, never a body.

#include <httplib.h>

#include <memory>
#include <string>

#include "tessera/common/status.h"
#include "tessera/sources/pull.h"

namespace tessera::sources::internal {

struct HttpAnswer {
  std::string body;
  httplib::Headers headers;
  std::string Header(const char* name) const;  // "" when absent
};

// "https://host:port/base" split: origin "https://host:port", base path "/base" (or "").
struct SplitUrl {
  std::string origin, path;
};
SplitUrl SplitSourceUrl(const std::string& url);

class ShopClient {
 public:
  // Reads the source's credentials. Errors: ReadSecret's.
  static StatusOr<std::unique_ptr<ShopClient>> Create(const SourceConfig& config,
                                                      const RunOptions& options);
  ShopClient(const ShopClient&) = delete;
  ShopClient& operator=(const ShopClient&) = delete;

  // GETs `target` (a path and query on the source's origin), retrying per the policy.
  // Errors (naming the source and page): kPermissionDenied (401, 403: the credentials),
  // kNotFound (404), kUnavailable (429, 5xx or no connection after the retries),
  // kInvalidArgument (any other status).
  StatusOr<HttpAnswer> Get(const std::string& target, int page);

  const SplitUrl& url() const { return url_; }

 private:
  ShopClient(const SourceConfig& config, const RunOptions& options)
      : config_(config), options_(options), url_(SplitSourceUrl(config.url)) {}

  const SourceConfig& config_;
  const RunOptions& options_;
  SplitUrl url_;
  std::unique_ptr<httplib::Client> client_;
  std::string credentials_what_;  // "the access token in $VAR", for messages
};

}  // namespace tessera::sources::internal
