#pragma once

// An input that arrives as a stream (an HTTP upload, a pipe) kept in a private temporary file
// until it is loaded: never whole in memory, capped in size, readable by this user only, and
// removed when the StagedFile goes, whatever happens in between.
//
// Privacy: the file holds the input as sent, raw identifiers included, for the duration of the
// load only; its name says nothing about its content.

#include <cstdint>
#include <string>
#include <string_view>

#include "tessera/common/status.h"
#include "tessera/ingest/loader.h"

namespace tessera::ingest {

class StagedFile {
 public:
  // A new empty file in `dir` (empty: the system's temporary directory), mode 0600, that
  // takes at most `max_bytes`. Errors: kInternal when the file cannot be created.
  static StatusOr<StagedFile> Create(const std::string& dir, uint64_t max_bytes);

  StagedFile(StagedFile&& other) noexcept;
  StagedFile& operator=(StagedFile&&) = delete;
  StagedFile(const StagedFile&) = delete;
  ~StagedFile();  // closes and removes the file

  // Appends a piece of the input. Errors: kResourceExhausted past max_bytes (nothing more is
  // written), kInternal when the write fails (a full disk).
  Status Append(std::string_view data);
  // Ends the input. Errors: kInvalidArgument when it is empty; kInternal when closing fails.
  Status Finish();

  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

  // Loads the staged input as LoadOrders does, its rejects and errors naming it `name` (the
  // client's name of the file), never the temporary path. Errors: those of LoadOrders.
  StatusOr<LoadSummary> Load(store::Store& store, const privacy::OwnerKey& key,
                             const std::string& name, LoadOptions options) const;

 private:
  StagedFile(std::string path, int fd, uint64_t max_bytes)
      : path_(std::move(path)), fd_(fd), max_bytes_(max_bytes) {}

  std::string path_;
  int fd_ = -1;
  uint64_t max_bytes_ = 0;
  uint64_t size_ = 0;
};

}  // namespace tessera::ingest
