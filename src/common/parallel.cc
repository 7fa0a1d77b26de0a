#include "tessera/common/parallel.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

namespace tessera {

Status ParallelChunks(size_t n, size_t chunk, const std::function<Status(size_t, size_t)>& work,
                      unsigned threads) {
  if (n == 0) return OkStatus();
  chunk = std::max<size_t>(chunk, 1);
  const size_t chunks = (n + chunk - 1) / chunk;
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  const size_t used = std::min<size_t>(threads, chunks);
  if (used <= 1) {
    for (size_t begin = 0; begin < n; begin += chunk) {
      TESSERA_RETURN_IF_ERROR(work(begin, std::min(n, begin + chunk)));
    }
    return OkStatus();
  }
  // Chunks are claimed in increasing order; a failure stops new claims. Every chunk claimed
  // before the first failing one has begun and runs to its end, so the lowest failing begin is
  // the one an in-order loop would have hit first.
  std::atomic<size_t> next = 0;
  std::atomic<bool> stop = false;
  std::mutex failure_mutex;
  size_t failed_at = n;  // guarded by failure_mutex
  Status failure;        // guarded by failure_mutex
  const auto run = [&] {
    while (!stop.load(std::memory_order_relaxed)) {
      const size_t begin = next.fetch_add(chunk);
      if (begin >= n) return;
      Status s = work(begin, std::min(n, begin + chunk));
      if (!s.ok()) {
        std::lock_guard lock(failure_mutex);
        if (begin < failed_at) {
          failed_at = begin;
          failure = std::move(s);
        }
        stop.store(true, std::memory_order_relaxed);
      }
    }
  };
  std::vector<std::thread> helpers;
  helpers.reserve(used - 1);
  for (size_t t = 1; t < used; ++t) helpers.emplace_back(run);
  run();
  for (std::thread& t : helpers) t.join();
  return failure;
}

}  // namespace tessera
