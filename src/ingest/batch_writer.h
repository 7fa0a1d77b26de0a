#pragma once

// The writing seam of a load: batches committed on a thread of their own while the loader
// gathers the next. Internal to the ingest module.

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "tessera/common/status.h"
#include "tessera/store/store.h"

namespace tessera::ingest::internal {

// Commits batches on its own thread, in the order given, while the caller builds the next
// one: the store's work (encoding, SQLite pages or COPY) overlaps with gathering orders. At
// most one batch waits. After a failed commit no later batch is written, and Submit and
// Finish return the failure.
class BatchWriter {
 public:
  explicit BatchWriter(std::function<Status(const store::Batch&)> commit)
      : commit_(std::move(commit)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~BatchWriter() { (void)Finish(); }
  BatchWriter(const BatchWriter&) = delete;
  BatchWriter& operator=(const BatchWriter&) = delete;

  // Hands over `batch` (waits while a batch is already waiting).
  Status Submit(store::Batch batch) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return !waiting_ || !status_.ok(); });
    if (!status_.ok()) return status_;
    next_ = std::move(batch);
    waiting_ = true;
    changed_.notify_all();
    return OkStatus();
  }

  // Waits until every handed-over batch is committed; the first failure, if any.
  Status Finish() {
    {
      std::lock_guard lock(mutex_);
      if (done_) return status_;
      done_ = true;
      changed_.notify_all();
    }
    thread_.join();
    std::lock_guard lock(mutex_);
    return status_;
  }

 private:
  void Run() {
    for (;;) {
      store::Batch batch;
      {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return waiting_ || done_; });
        if (!waiting_) return;
        batch = std::move(next_);
        waiting_ = false;
        changed_.notify_all();
        if (!status_.ok()) continue;  // after a failure, batches are dropped unwritten
      }
      Status s = commit_(batch);
      if (!s.ok()) {
        std::lock_guard lock(mutex_);
        status_ = std::move(s);
        changed_.notify_all();
      }
    }
  }

  std::function<Status(const store::Batch&)> commit_;
  std::thread thread_;
  std::mutex mutex_;  // guards everything below
  std::condition_variable changed_;
  store::Batch next_;
  bool waiting_ = false, done_ = false;
  Status status_;
};

}  // namespace tessera::ingest::internal
