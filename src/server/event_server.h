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
// Internal to the server module.

#include <httplib.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

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

  EventServer();
  ~EventServer() override;
  EventServer(const EventServer&) = delete;
  EventServer& operator=(const EventServer&) = delete;

  // After bind_to_port or bind_to_any_port: listen with a deep accept queue (cpp-httplib's is
  // 5, so a burst of new connections loses SYNs and waits a second per retry).
  void DeepenBacklog();

  // Serves the bound socket with `loops` event loops and `workers` worker threads until
  // Stop(). Errors: kUnavailable when there is no bound socket or epoll cannot be set up.
  Status Serve(int loops, int workers, AnswersInline answers_inline);
  void Stop();

 private:
  struct Connection;
  class ConnectionStream;
  class Loop;

  // Answers the request at the start of `c`'s input on the calling thread, reading no further
  // than `readable_end` of the input unless `blocking` (a worker, which may wait for the
  // socket); false when the connection is to be closed once the answer is sent.
  bool Answer(Connection& c, size_t readable_end, bool blocking);
  int64_t read_timeout_ns() const;
  int64_t write_timeout_ns() const;
  int64_t keep_alive_timeout_ns() const;

  AnswersInline answers_inline_;
  std::atomic<bool> stopping_{false};
  std::mutex loops_mu_;
  std::vector<std::unique_ptr<Loop>> loops_;  // GUARDED_BY(loops_mu_) while they start and stop
  std::unique_ptr<httplib::TaskQueue> workers_;
};

// The number of CPUs this process may run on (its affinity mask), at least 1.
int UsableCpus();

}  // namespace tessera::server::internal
