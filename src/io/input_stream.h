#pragma once

// Byte input for the row readers: a file or stdin, plain or gzip, read in large blocks into a
// buffer that keeps the bytes of the row being parsed. Internal to tessera_io.
//
// Privacy: the buffer holds raw input (personal data) only until it is consumed; nothing is
// copied elsewhere and error messages carry zlib's or the OS's reason, never file content.

#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "tessera/common/status.h"

namespace tessera::io::internal {

// Default size of one read, and the initial buffer size.
inline constexpr size_t kDefaultBlockSize = size_t{1} << 20;

// A readable byte stream over a file or stdin. gzip input (one or more concatenated members)
// is recognised by its magic bytes and inflated; anything else is passed through unchanged
// (zlib's "transparent" mode). Owns its file descriptor. Not thread-safe.
class InputStream {
 public:
  // Opens `path`, or stdin when `path` is "-" (stdin itself stays open when this object dies).
  // Errors: kNotFound (no such file), kPermissionDenied, kInvalidArgument (a directory),
  // kInternal (any other open failure).
  static StatusOr<std::unique_ptr<InputStream>> Open(const std::string& path);

  ~InputStream();
  InputStream(const InputStream&) = delete;
  InputStream& operator=(const InputStream&) = delete;

  // Reads up to `size` bytes into `out`, blocking until `size` bytes are read or the input
  // ends. Returns the count read, 0 at end of input. Bytes read before a failure are
  // returned first; the failure is reported by the next call (and every call after it).
  // Errors: kDataLoss (corrupt or truncated gzip data, or a read failure).
  StatusOr<size_t> Read(char* out, size_t size);

  // Bytes consumed from the underlying file: compressed bytes for gzip input (zlib's
  // gzoffset, which excludes its unused read-ahead). When the file offset cannot be queried
  // (stdin is a pipe), the count of bytes returned by Read() instead, i.e. uncompressed bytes.
  uint64_t bytes_consumed() const { return bytes_consumed_; }

  // True once a read error has happened (whether or not Read() has reported it yet).
  bool failed() const { return !pending_error_.ok(); }

  // Name used in messages: the path, or "<stdin>".
  const std::string& name() const { return name_; }

 private:
  InputStream(gzFile file, std::string name) : file_(file), name_(std::move(name)) {}

  gzFile file_;  // owned; closed by the destructor
  std::string name_;
  uint64_t bytes_returned_ = 0;  // uncompressed bytes handed out by Read()
  uint64_t bytes_consumed_ = 0;  // as of the last Read()
  Status pending_error_;         // a read error not yet reported, because bytes came before it
};

// A sliding window over an InputStream. Bytes in [begin(), end()) have been read and not yet
// consumed. Parsers look at the window, Consume() what they have finished with, and call
// Fill() when a row runs past end(); Fill() keeps the unconsumed bytes (moving them to the
// front, growing the buffer when it is full), so a parser can always restart a row from
// begin(). Callers bound how far a row may grow before they give up on it.
//
// A read error is sticky: Fill() then behaves as at end of input, the unconsumed bytes are
// dropped and status() reports the error. Not thread-safe.
class InputBuffer {
 public:
  InputBuffer(std::unique_ptr<InputStream> stream, size_t block_size);
  InputBuffer(const InputBuffer&) = delete;
  InputBuffer& operator=(const InputBuffer&) = delete;

  const char* begin() const { return data_.get() + pos_; }
  const char* end() const { return data_.get() + end_; }
  // Writable view of the window, for in-place unescaping of rows that are being consumed.
  char* mutable_begin() { return data_.get() + pos_; }
  size_t size() const { return end_ - pos_; }

  // True once the stream has returned end of input (or failed): no more Fill() will help.
  bool eof() const { return eof_; }

  // Marks the first `n` bytes of the window consumed. `n` <= size().
  void Consume(size_t n) { pos_ += n; }

  // Reads more input after end(). Returns the number of bytes added, 0 at end of input.
  size_t Fill();

  // Consumes through the first '\n' at or after offset `from` of the window, reading (and
  // discarding) as much input as needed. Returns false if the input ended first (then
  // everything is consumed). Used to skip the rest of a rejected row without buffering it.
  bool SkipPastNewline(size_t from);

  // OK, or the read error that ended the input early.
  const Status& status() const { return status_; }

  uint64_t bytes_consumed() const { return stream_->bytes_consumed(); }
  const std::string& name() const { return stream_->name(); }

 private:
  std::unique_ptr<InputStream> stream_;
  size_t block_size_;
  std::unique_ptr<char[]> data_;
  size_t capacity_ = 0;
  size_t pos_ = 0;  // first unconsumed byte
  size_t end_ = 0;  // one past the last byte read
  bool eof_ = false;
  Status status_;
};

}  // namespace tessera::io::internal
