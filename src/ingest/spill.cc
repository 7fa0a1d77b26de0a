#include "ingest/spill.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tessera::ingest::internal {
namespace {

// An unnamed file in `dir`: O_TMPFILE where the file system has it, else a named one that is
// unlinked before anything is written to it.
int OpenUnlinked(const std::string& dir) {
#ifdef O_TMPFILE
  const int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0) return fd;
#endif
  std::string path = dir + "/tessera-spill-XXXXXX";
  const int named = ::mkostemp(path.data(), O_CLOEXEC);
  if (named < 0) return -1;
  ::unlink(path.c_str());
  return named;
}

Status WriteError(int err) {
  if (err == ENOSPC || err == EDQUOT) {
    return ResourceExhaustedError(
        "the disk of the temporary directory is full (a load larger than its memory budget "
        "needs about 85 bytes per line of temporary space; see --temp-dir)");
  }
  return InternalError("cannot write a temporary file: {}", std::strerror(err));
}

}  // namespace

StatusOr<SpillPartitions> SpillPartitions::Create(const std::string& dir, size_t partitions,
                                                  size_t buffer_bytes) {
  SpillPartitions spill(dir, buffer_bytes);
  spill.files_.resize(partitions);
  for (Partition& part : spill.files_) {
    part.fd = OpenUnlinked(dir);
    if (part.fd < 0) {
      return UnavailableError("cannot create temporary files in {}: {}", dir, std::strerror(errno));
    }
  }
  return spill;
}

SpillPartitions::SpillPartitions(SpillPartitions&& other) noexcept
    : dir_(std::move(other.dir_)),
      buffer_bytes_(other.buffer_bytes_),
      files_(std::move(other.files_)),
      bytes_written_(other.bytes_written_) {
  other.files_.clear();
}

SpillPartitions::~SpillPartitions() {
  for (Partition& part : files_) {
    if (part.fd >= 0) ::close(part.fd);
  }
}

Status SpillPartitions::Drain(Partition& part) {
  size_t done = 0;
  while (done < part.buffer.size()) {
    const ssize_t n = ::pwrite(part.fd, part.buffer.data() + done, part.buffer.size() - done,
                               static_cast<off_t>(part.size + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return WriteError(errno);
    }
    done += static_cast<size_t>(n);
  }
  part.size += done;
  part.buffer.clear();
  return OkStatus();
}

Status SpillPartitions::Flush() {
  for (Partition& part : files_) TESSERA_RETURN_IF_ERROR(Drain(part));
  return OkStatus();
}

Status SpillPartitions::Read(size_t p, std::string* out) const {
  const Partition& part = files_[p];
  out->resize(part.size);
  size_t done = 0;
  while (done < part.size) {
    const ssize_t n =
        ::pread(part.fd, out->data() + done, part.size - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return InternalError("cannot read a temporary file: {}",
                           n < 0 ? std::strerror(errno) : "unexpected end");
    }
    done += static_cast<size_t>(n);
  }
  return OkStatus();
}

Status SpillPartitions::Clear(size_t p) {
  Partition& part = files_[p];
  part.buffer.clear();
  part.buffer.shrink_to_fit();
  part.size = 0;
  if (::ftruncate(part.fd, 0) != 0) {
    return InternalError("cannot truncate a temporary file: {}", std::strerror(errno));
  }
  return OkStatus();
}

}  // namespace tessera::ingest::internal
