#pragma once

// The join worker (apps/tessera-worker, `--sealed`) as a child process of the party that hosts
// it — the requester, or a worker host's node (worker_host.h): owner A's stream on fd 3, owner
// B's on fd 4, its output on fd 5, its error output kept for the message when it fails.
//
// Internal to the collab module.

#include <sys/types.h>

#include <future>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/collab/worker_channel.h"
#include "tessera/common/status.h"

namespace tessera::collab::internal {

class WorkerProcess {
 public:
  // Starts `binary --sealed …`, inside `wrapper` (`wrapper --worker BINARY ARGS…`) when given.
  // Errors: kUnavailable when it cannot start (message names the binary), kInternal for pipes.
  static StatusOr<WorkerProcess> Start(const std::string& binary,
                                       const std::vector<std::string>& wrapper);

  WorkerProcess() = default;
  WorkerProcess(WorkerProcess&& o) noexcept { *this = std::move(o); }
  WorkerProcess& operator=(WorkerProcess&& o) noexcept;
  ~WorkerProcess();  // kills a worker still running

  // Its first frame: the key the owners seal their streams to. Errors: kInternal (it failed,
  // with its error output), the hello's parse errors.
  StatusOr<WorkerHello> Hello();

  // Feeds both streams (on two threads: the worker reads them in its own order), waits for it
  // and returns its result frame (sealed to the requester's result key). Runs once.
  // Errors: kInternal when the worker fails or says nothing (with its error output).
  StatusOr<std::string> Run(std::string_view a, std::string_view b);

  // For a job that keeps its match (worker.h), and then each count on it: feeds both streams
  // without ending them and returns the worker's next result frame; the worker keeps running.
  // Errors: as Run's (a worker that fails has ended; every later call fails).
  StatusOr<std::string> Exchange(std::string_view a, std::string_view b);

 private:
  Status Failed(const std::string& why);

  pid_t pid_ = -1;
  int a_ = -1, b_ = -1, out_ = -1, err_ = -1;
  std::future<std::string> errors_;
};

}  // namespace tessera::collab::internal
