#pragma once

// `tessera serve`: the HTTP API (docs/api.md, docs/audiences.md) and the dashboard, over one
// store. A thin layer: every answer comes from the analytics and audience libraries, mostly
// from a kept snapshot or the audience index held in memory.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tessera/common/status.h"

namespace tessera::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port (see Server::port())
  std::string store;
  std::string key_path;  // the owner's key, needed for uploads only; empty: uploads refused
  std::vector<std::string> cors_origins;  // allowed origins; "*" for any; empty: no CORS
  uint64_t max_upload_bytes = uint64_t{4} << 30;
  size_t max_json_bytes = 1 << 20;
  int threads = 128;  // requests served at once off the event loops (store reads, uploads)
  // A whole request (head and body; uploads excepted) must arrive within the read timeout.
  int read_timeout_seconds = 30, write_timeout_seconds = 120;
  // Per client address: connections open at once, and requests on worker threads at once (also
  // per API key); 0 for no limit (behind a proxy, every client has the proxy's address).
  int max_connections_per_address = 256;
  int max_busy_per_client = 32;
  bool reuse_port = false;  // share the port with another server (SO_REUSEPORT), on purpose
  // TLS (both, or neither): the certificate (PEM, with its chain) and its private key (PEM).
  // With them the server speaks HTTPS only (TLS 1.2 and 1.3) and sends HSTS.
  std::string tls_cert_path, tls_key_path;
  // Wrong API keys one client address may send per window before it waits a whole window
  // (429, Retry-After), good keys included; 0: no limit (behind a reverse proxy every client
  // has the proxy's address: limit there instead).
  int max_key_failures = 20;
  int key_failure_window_seconds = 60;
  // The collaboration file of this party (collab/party.h, docs/collaboration.md): parsed once
  // at start, which fails with its error when the file is bad. Empty: none, and the
  // /api/v1/collab routes that need it answer 409.
  std::string collaboration_path;
  // The access log (server/access_log.h): one line per request with the route's template,
  // status, bytes, time taken and the API key's id and role; never a client address, a query
  // or a key. "-": standard output; empty: none.
  std::string access_log_path;
  // --schedule: local times of day ("03:00", or "06:00,18:30") in schedule_zone (an IANA name;
  // empty: UTC) at which the server pulls its sources, recomputes the segments over
  // schedule_window into a kept snapshot, and delivers the changes to its destinations. Empty:
  // no schedule. A time missed while the server was down runs once at start.
  std::string schedule, schedule_zone;
  std::string schedule_window = "24m";
};

// Whether `host` (--listen's) reaches beyond this machine: anything but a loopback address or
// "localhost".
bool ListensBeyondLoopback(const std::string& host);

class Server {
 public:
  // Opens the store (which must exist), reads the collaboration file (if any), loads the TLS
  // certificate and key (if any) and binds the socket. Errors: the store's; the collaboration
  // file's (collab::LoadCollaboration); kInvalidArgument for a TLS certificate or key that is
  // missing, unreadable, not PEM, expired or not a pair; kUnavailable when the address cannot
  // be bound.
  static StatusOr<std::unique_ptr<Server>> Start(const ServerOptions& options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int port() const;
  bool tls() const;
  // Reads the TLS certificate and key again from their files (after a renewal): connections
  // accepted from then on use them, open ones keep theirs. Thread-safe. Errors: those of
  // Start for the files, and the server keeps the pair it has; kFailedPrecondition when it
  // was started without TLS.
  Status ReloadTls();
  // Opens the access log file again by its name (after logrotate moved it); the log goes on
  // into the old file when that fails. Thread-safe. Errors: kPermissionDenied, kNotFound,
  // kInternal for the file; OK without a log file.
  Status ReopenAccessLog();
  // "refreshing daily at 03:00 (Europe/Berlin) over 24m; next run 2026-12-08T02:00:00Z" with
  // --schedule; empty without.
  std::string ScheduleSummary() const;

  // Serves until Stop() (from another thread or a signal handler's thread).
  Status Run();
  void Stop();

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tessera::server
