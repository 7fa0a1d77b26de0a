#pragma once

// The transport of `tessera serve`: one epoll event loop per core in front of cpp-httplib's
// request handling (parsing, routing, handlers, error handler, logger, compression).
//
// cpp-httplib serves each keep-alive connection on a thread of its own; with 64 busy
// connections on one core most of the server's time went to the kernel switching between
// them. Here the loops hold every connection and answer the requests that need no waiting
// (the caller says which: answers from memory) one after another on their own thread; any
// other request (a body to read, a store query, a snapshot to load) goes to a worker thread,
// which answers it on the same connection and then gives the connection back to its loop.
// Requests on one connection are answered in order either way.
//
// No client can hold the workers: a request's body is read on the loop, in full, before a
// worker sees the request (only the routes the caller names stream larger bodies, and their
// handlers decide before reading them); a whole request must arrive within the read timeout;
// each client address and each API key has at most so many requests on workers at once (the
// rest wait on the loop, their order kept) and so many connections open.
//
// With TLS (EnableTls) the loops also drive each connection's TLS session over the same
// non-blocking socket: the handshake must end within the read timeout, and every limit above
// holds for the decrypted requests as for plain ones. A plain HTTP request to a TLS server is
// answered 400 in plain text, naming https.
//
// Internal to the server module.

#include <httplib.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "server/tls.h"
#include "tessera/common/status.h"

namespace tessera::server::internal {

// Thread-safety: configure (the httplib setters, Get/Post, bind) before Serve(); Serve() runs
// on one thread until Stop(), which any thread (a signal waiter) may call, also before Serve().
class EventServer : public httplib::Server {
 public:
  // Whether a request (its method and raw request target, a complete head and no body) may
  // be answered on an event loop: its handler must not block (no store query that may take
  // long, no snapshot to load). Called on the loops' threads, concurrently.
  using AnswersInline = std::function<bool(std::string_view method, std::string_view target)>;

  // Whether a request may send a body larger than Limits::max_body_bytes, read by its handler
  // on a worker as it arrives (uploads). Called on the loops' threads, concurrently.
  using StreamsBody = std::function<bool(std::string_view method, std::string_view target)>;

  struct Limits {
    // Bodies up to this size are read on the loop; larger ones are refused (413) from the
    // head alone unless the route streams its body.
    size_t max_body_bytes = 1 << 20;
    // Connections open at once from one address; more are answered 503 and closed. 0: none.
    int max_connections_per_address = 256;
    // Requests on workers at once from one address, and with one API key (Authorization);
    // more wait on their loop until one finishes, up to the read timeout (then 429). 0: none.
    int max_busy_per_client = 32;
  };

  // Requests the loops answered themselves without a handler, by reason; for /metrics.
  struct Refusals {
    uint64_t too_large = 0;    // 413: a declared body over max_body_bytes
    uint64_t bad_framing = 0;  // 400: conflicting or malformed Content-Length, bad chunks
    uint64_t timeout = 0;      // 408: a request not complete within the read timeout
    uint64_t busy = 0;         // 429: waited the read timeout for a worker slot
    uint64_t connections = 0;  // 503: over max_connections_per_address
    uint64_t tls = 0;          // a failed TLS handshake, or plain HTTP to a TLS server
  };

  EventServer();
  ~EventServer() override;
  EventServer(const EventServer&) = delete;
  EventServer& operator=(const EventServer&) = delete;

  // After bind_to_port or bind_to_any_port: listen with a deep accept queue (cpp-httplib's is
  // 5, so a burst of new connections loses SYNs and waits a second per retry).
  void DeepenBacklog();

  // Every connection accepted from now on speaks TLS with this context; those open keep the
  // one they have. Before or during Serve() (a renewed certificate), from any thread.
  void EnableTls(std::unique_ptr<TlsContext> tls);

  // Serves the bound socket with `loops` event loops and `workers` worker threads until
  // Stop(). Errors: kUnavailable when there is no bound socket or epoll cannot be set up.
  Status Serve(int loops, int workers, AnswersInline answers_inline, StreamsBody streams_body,
               Limits limits);
  void Stop();
  Refusals refusals() const;

 private:
  struct Connection;
  class ConnectionStream;
  class Loop;

  // Answers the request at the start of `c`'s input on the calling thread, reading no further
  // than `readable_end` of the input unless `read_socket` (a worker streaming a body, which
  // may wait for the socket), and sending the answer with `write_socket` (a worker) or queuing
  // it; false when the connection is to be closed once the answer is sent.
  bool Answer(Connection& c, size_t readable_end, bool read_socket, bool write_socket,
              bool swallow_continue);
  void WakeLoops();
  int64_t read_timeout_ns() const;
  int64_t write_timeout_ns() const;
  int64_t keep_alive_timeout_ns() const;

  // Counts of a client's connections and busy requests: "a" + address, "k" + a hash of its
  // API key. Shared by the loops.
  bool AdmitConnection(const std::string& address);
  void ReleaseConnection(const std::string& address);
  bool TakeWorkerSlot(Connection& c, std::string_view token);
  void ReleaseWorkerSlot(Connection& c);

  AnswersInline answers_inline_;
  StreamsBody streams_body_;
  Limits limits_;
  std::mutex clients_mu_;
  std::unordered_map<std::string, int> connections_by_address_;  // GUARDED_BY(clients_mu_)
  std::unordered_map<std::string, int> busy_by_client_;          // GUARDED_BY(clients_mu_)
  std::atomic<int> parked_{0};  // connections waiting for a worker slot, on all loops
  std::atomic<uint64_t> refused_too_large_{0}, refused_bad_framing_{0}, refused_timeout_{0},
      refused_busy_{0}, refused_connections_{0}, refused_tls_{0};
  std::atomic<bool> stopping_{false};
  std::mutex loops_mu_;
  std::vector<std::unique_ptr<Loop>> loops_;  // GUARDED_BY(loops_mu_) while they start and stop
  std::unique_ptr<httplib::TaskQueue> workers_;
  // A new TLS session for a connection just accepted; null without TLS or on an error.
  SSL* NewTlsSession();

  std::mutex tls_mu_;
  std::unique_ptr<TlsContext> tls_;  // GUARDED_BY(tls_mu_); null: plain HTTP
  std::atomic<bool> tls_on_{false};  // tls_ != null
};

// The number of CPUs this process may run on (its affinity mask), at least 1.
int UsableCpus();

}  // namespace tessera::server::internal
