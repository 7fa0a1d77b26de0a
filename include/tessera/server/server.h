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
  // The collaboration file of this party (collab/party.h, docs/collaboration.md): parsed once
  // at start, which fails with its error when the file is bad. Empty: none, and the
  // /api/v1/collab routes that need it answer 409.
  std::string collaboration_path;
};

class Server {
 public:
  // Opens the store (which must exist), reads the collaboration file (if any) and binds the
  // socket. Errors: the store's; the collaboration file's (collab::LoadCollaboration);
  // kUnavailable when the address cannot be bound.
  static StatusOr<std::unique_ptr<Server>> Start(const ServerOptions& options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int port() const;
  // Serves until Stop() (from another thread or a signal handler's thread).
  Status Run();
  void Stop();

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tessera::server
