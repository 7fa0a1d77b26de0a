#pragma once

// The access log of `tessera serve` (--access-log): one line per answered request, in the
// Common Log Format with two fields added (Apache's "%D" and the key's role):
//
//   - - 3f9a2c1d8e7b6a50 [07/Dec/2026:16:42:42 +0000] "GET /api/v1/segments HTTP/1.1" 200 1234 812
//   viewer
//
// client address and identity (always "-"), the API key's id (or "-"), the time (UTC), the
// method and the route's template (ids, pseudonyms and audience names folded: RouteOf), the
// status, the bytes of the body ("-" when streamed), the microseconds taken and the key's role
// (or "-").
//
// Privacy: a line holds no client address, no query string (where ?key= and parameter values
// travel), no path segment a client chose and never an API key, only its public id.
//
// Internal to the server module.

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "tessera/common/status.h"

namespace tessera::server::internal {

struct AccessLogEntry {
  std::chrono::system_clock::time_point time;
  std::string_view method;  // anything but a known method is written as OTHER
  std::string_view route;   // a route template, never the request's own path
  int status = 0;
  std::optional<uint64_t> bytes;  // nullopt: streamed, size unknown
  int64_t micros = 0;
  std::string_view key_id;  // empty: no key
  std::string_view role;    // empty: no key, or not accepted
};

// The entry's line, with its newline.
std::string FormatAccessLine(const AccessLogEntry& entry);

// Thread-safe: lines from concurrent requests are written whole, one write(2) each.
class AccessLog {
 public:
  // `path` "-" is standard output (journald under systemd); a file is opened for appending
  // and created (mode 0640) when missing. Errors: kPermissionDenied, kNotFound (no such
  // directory), kInternal.
  static StatusOr<std::unique_ptr<AccessLog>> Open(const std::string& path);
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  void Write(const AccessLogEntry& entry);
  // Opens the file again by its name (after logrotate moved it); standard output stays.
  // Errors: Open's, and the log goes on into the file it had.
  Status Reopen();

 private:
  AccessLog(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  static StatusOr<int> OpenFile(const std::string& path);
  const std::string path_;
  std::mutex mu_;
  int fd_;  // GUARDED_BY(mu_) for replacement; owned unless it is standard output
};

}  // namespace tessera::server::internal
