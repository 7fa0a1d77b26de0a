#pragma once

// Temporary files of a load that does not fit its memory budget: records go to one of N
// partitions (by order token), buffered, and come back one partition at a time.
//
// Privacy: the loader writes only order tokens (encrypted), load-local customer slots,
// dictionary ids, amounts, times, line numbers and hashes keyed per load — never an identifier
// or a pseudonym. The files are unlinked from the start (O_TMPFILE, else created and removed at
// once) and readable by the owner only, so nothing is left behind, even after kill -9.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/common/status.h"

namespace tessera::ingest::internal {

class SpillPartitions {
 public:
  // Errors: kUnavailable when `dir` does not take temporary files.
  static StatusOr<SpillPartitions> Create(const std::string& dir, size_t partitions,
                                          size_t buffer_bytes);

  SpillPartitions(SpillPartitions&& other) noexcept;
  SpillPartitions& operator=(SpillPartitions&&) = delete;
  SpillPartitions(const SpillPartitions&) = delete;
  ~SpillPartitions();

  size_t size() const { return files_.size(); }
  uint64_t bytes_written() const { return bytes_written_; }

  // Appends to partition `p`'s buffer, writing it out when full.
  // Errors: kResourceExhausted (the disk is full), kInternal (another write error).
  Status Append(size_t p, std::string_view bytes) {
    Partition& part = files_[p];
    if (part.buffer.size() + bytes.size() > buffer_bytes_) TESSERA_RETURN_IF_ERROR(Drain(part));
    part.buffer.append(bytes);
    bytes_written_ += bytes.size();
    return OkStatus();
  }
  // Writes out every buffer. Errors: those of Append.
  Status Flush();
  // Everything appended to partition `p` so far (after Flush), into *out.
  // Errors: kInternal on a read error.
  Status Read(size_t p, std::string* out) const;
  // Empties partition `p` (frees its disk space).
  Status Clear(size_t p);

 private:
  struct Partition {
    int fd = -1;
    uint64_t size = 0;  // written to the file
    std::string buffer;
  };
  SpillPartitions(std::string dir, size_t buffer_bytes)
      : dir_(std::move(dir)), buffer_bytes_(buffer_bytes) {}
  Status Drain(Partition& part);

  std::string dir_;
  size_t buffer_bytes_;
  std::vector<Partition> files_;
  uint64_t bytes_written_ = 0;
};

}  // namespace tessera::ingest::internal
