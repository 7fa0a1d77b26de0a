#include "io/input_stream.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

namespace tessera::io::internal {
namespace {

// zlib's own input buffer for compressed bytes; its default (8 KiB) costs a syscall per 8 KiB.
constexpr unsigned kZlibBufferSize = 256 * 1024;

// gzerror() prefixes its message with the name zlib knows the file by ("<fd:3>"), which
// means nothing to a user: keep only the reason.
const char* ZlibReason(const char* message) {
  if (std::strncmp(message, "<fd:", 4) == 0) {
    if (const char* colon = std::strstr(message, ": ")) return colon + 2;
  }
  return message;
}

}  // namespace

StatusOr<std::unique_ptr<InputStream>> InputStream::Open(const std::string& path) {
  const bool is_stdin = path == "-";
  const std::string name = is_stdin ? "<stdin>" : path;
  // dup() stdin so that gzclose() closes our copy, not the process's stdin.
  const int fd = is_stdin ? ::dup(STDIN_FILENO) : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR) return NotFoundError("{}: no such file", name);
    if (err == EACCES || err == EPERM) return PermissionDeniedError("{}: permission denied", name);
    return InternalError("{}: cannot open: {}", name, std::strerror(err));
  }
  struct stat st;
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    ::close(fd);
    return InvalidArgumentError("{}: is a directory", name);
  }
  gzFile file = ::gzdopen(fd, "rb");
  if (file == nullptr) {
    ::close(fd);
    return InternalError("{}: cannot open: out of memory", name);
  }
  ::gzbuffer(file, kZlibBufferSize);
  return std::unique_ptr<InputStream>(new InputStream(file, name));
}

InputStream::~InputStream() { ::gzclose(file_); }

StatusOr<size_t> InputStream::Read(char* out, size_t size) {
  if (!pending_error_.ok()) return pending_error_;
  size_t total = 0;
  while (total < size) {
    // gzread takes an unsigned length and returns an int; read at most 1 GiB per call.
    const unsigned chunk = static_cast<unsigned>(std::min<size_t>(size - total, 1u << 30));
    const int n = ::gzread(file_, out + total, chunk);
    int errnum = Z_OK;
    const char* message = ::gzerror(file_, &errnum);
    // gzread reports a truncated gzip member as end of input plus a pending error.
    if (n < 0 || (n == 0 && errnum != Z_OK && errnum != Z_STREAM_END)) {
      if (errnum == Z_ERRNO) {
        pending_error_ = DataLossError("{}: read error: {}", name_, std::strerror(errno));
      } else {
        // The input itself is damaged (a truncated or corrupt gzip), not the disk or the store:
        // callers that sort failures by whose fault they are (a watched folder) tell by the
        // detail.
        pending_error_ = DataLossError("{}: read error: {}", name_, ZlibReason(message));
        pending_error_.SetDetail("damaged_input", int64_t{1});
      }
      if (total > 0) break;  // hand over what was read; the error comes with the next call
      return pending_error_;
    }
    if (n == 0) break;
    total += static_cast<size_t>(n);
  }
  bytes_returned_ += total;
  // Cached here rather than queried by bytes_consumed(): callers may ask once per row, and
  // gzoffset() costs an lseek() system call.
  const z_off_t offset = ::gzoffset(file_);
  bytes_consumed_ = offset >= 0 ? static_cast<uint64_t>(offset) : bytes_returned_;
  return total;
}

InputBuffer::InputBuffer(std::unique_ptr<InputStream> stream, size_t block_size)
    : stream_(std::move(stream)), block_size_(std::max<size_t>(block_size, 4)) {}

size_t InputBuffer::Fill() {
  if (eof_) return 0;
  if (data_ == nullptr) {
    capacity_ = block_size_;
    data_ = std::make_unique_for_overwrite<char[]>(capacity_);
  }
  if (pos_ > 0) {
    // What is left is the start of an unfinished row: usually a few bytes.
    std::memmove(data_.get(), data_.get() + pos_, end_ - pos_);
    end_ -= pos_;
    pos_ = 0;
  }
  if (end_ == capacity_) {
    // One row fills the whole buffer: grow it so the row can be finished.
    const size_t grown = capacity_ * 2;
    auto bigger = std::make_unique_for_overwrite<char[]>(grown);
    std::memcpy(bigger.get(), data_.get(), end_);
    data_ = std::move(bigger);
    capacity_ = grown;
  }
  // Read whole blocks when there is room, so that a file is read with few, large calls.
  const size_t wanted = capacity_ - end_;
  StatusOr<size_t> n = stream_->Read(data_.get() + end_, wanted);
  if (!n.ok()) {
    status_ = n.status();
    eof_ = true;
    pos_ = end_ = 0;
    return 0;
  }
  // Read() only returns short at end of input or before an error; knowing it now saves a
  // parser one more round. After an error, the next Fill() reports it and drops the partial
  // row, which is truncated garbage.
  if (*n < wanted && !stream_->failed()) eof_ = true;
  end_ += *n;
  return *n;
}

bool InputBuffer::SkipPastNewline(size_t from) {
  for (;;) {
    const void* newline =
        from < size() ? std::memchr(begin() + from, '\n', size() - from) : nullptr;
    if (newline != nullptr) {
      Consume(static_cast<const char*>(newline) + 1 - begin());
      return true;
    }
    Consume(size());
    from = 0;
    if (Fill() == 0) return false;
  }
}

}  // namespace tessera::io::internal
