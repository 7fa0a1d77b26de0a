#pragma once

// The reading seam of a load: OrderReader::Next on a thread of its own, a batch of parsed rows
// ahead of the loader. Internal to the ingest module.

#include <array>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tessera/io/order_reader.h"

namespace tessera::ingest::internal {

// Rows read ahead by a parsing thread, in batches that own their bytes.
struct ParsedRow {
  io::OrderReader::Result result = io::OrderReader::Result::kEnd;
  io::OrderLine line;
  io::Reject reject;
  // The line's text fields, as offsets into the batch's arena (the reader's buffer moves on).
  std::array<uint32_t, 10> offset{}, length{};
};

struct RowBatch {
  std::vector<ParsedRow> rows;
  std::string arena;
  uint64_t bytes_read = 0;

  static std::array<std::string_view*, 10> Fields(io::OrderLine* l) {
    return {&l->order_id, &l->customer_id, &l->email,  &l->currency, &l->category,
            &l->sku,      &l->store,       &l->region, &l->channel,  &l->phone};
  }
  // Copies the text fields of a kLine row into the arena.
  void Keep(ParsedRow* row) {
    const auto fields = Fields(&row->line);
    for (size_t i = 0; i < fields.size(); ++i) {
      row->offset[i] = static_cast<uint32_t>(arena.size());
      row->length[i] = static_cast<uint32_t>(fields[i]->size());
      arena.append(*fields[i]);
    }
  }
  // Points a kLine row's views at the arena (valid while the batch lives).
  void Bind(ParsedRow* row) const {
    const auto fields = Fields(&row->line);
    for (size_t i = 0; i < fields.size(); ++i) {
      *fields[i] = std::string_view(arena.data() + row->offset[i], row->length[i]);
    }
  }
};

// Runs OrderReader::Next on its own thread and hands over batches of rows through a small
// bounded queue. Next() returns batches in file order and nullptr at the end; the previous
// batch stays valid until the following call.
class RowPipeline {
 public:
  static constexpr size_t kBatchRows = 4096;
  static constexpr size_t kQueueBatches = 8;

  explicit RowPipeline(io::OrderReader& reader) : reader_(reader) {
    thread_ = std::thread([this] { Produce(); });
  }
  ~RowPipeline() {
    Stop();
    thread_.join();
  }
  RowPipeline(const RowPipeline&) = delete;
  RowPipeline& operator=(const RowPipeline&) = delete;

  RowBatch* Next() {
    std::unique_lock lock(mutex_);
    if (current_) free_.push_back(std::move(current_));
    changed_.notify_all();
    changed_.wait(lock, [&] { return !ready_.empty() || done_; });
    if (ready_.empty()) return nullptr;
    current_ = std::move(ready_.front());
    ready_.erase(ready_.begin());
    changed_.notify_all();
    return current_.get();
  }

  void Stop() {
    std::lock_guard lock(mutex_);
    stop_ = true;
    changed_.notify_all();
  }

 private:
  void Produce() {
    for (;;) {
      std::unique_ptr<RowBatch> batch;
      {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return stop_ || ready_.size() < kQueueBatches; });
        if (stop_) break;
        if (!free_.empty()) {
          batch = std::move(free_.back());
          free_.pop_back();
        }
      }
      if (!batch) batch = std::make_unique<RowBatch>();
      batch->rows.resize(kBatchRows);
      batch->arena.clear();
      size_t n = 0;
      bool end = false;
      while (n < kBatchRows) {
        ParsedRow& row = batch->rows[n];
        row.result = reader_.Next(&row.line, &row.reject);
        if (row.result == io::OrderReader::Result::kEnd) {
          end = true;
          break;
        }
        if (row.result == io::OrderReader::Result::kLine) batch->Keep(&row);
        ++n;
      }
      batch->rows.resize(n);
      batch->bytes_read = reader_.bytes_read();
      std::lock_guard lock(mutex_);
      if (n > 0) ready_.push_back(std::move(batch));
      if (end) break;
      changed_.notify_all();
    }
    std::lock_guard lock(mutex_);
    done_ = true;
    changed_.notify_all();
  }

  io::OrderReader& reader_;
  std::thread thread_;
  std::mutex mutex_;  // guards everything below
  std::condition_variable changed_;
  std::vector<std::unique_ptr<RowBatch>> ready_, free_;
  std::unique_ptr<RowBatch> current_;
  bool stop_ = false, done_ = false;
};

}  // namespace tessera::ingest::internal
