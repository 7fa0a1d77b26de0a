#include "tessera/ingest/staged_file.h"

#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace tessera::ingest {

StatusOr<StagedFile> StagedFile::Create(const std::string& dir, uint64_t max_bytes) {
  std::error_code ec;
  const std::filesystem::path base =
      dir.empty() ? std::filesystem::temp_directory_path(ec) : std::filesystem::path(dir);
  if (ec) return InternalError("no temporary directory: {}", ec.message());
  std::string path = (base / "tessera-upload-XXXXXX").string();
  const int fd = ::mkstemp(path.data());  // mode 0600
  if (fd < 0) {
    return InternalError("cannot create a temporary file in {}: {}", base.string(),
                         std::strerror(errno));
  }
  return StagedFile(std::move(path), fd, max_bytes);
}

StagedFile::StagedFile(StagedFile&& other) noexcept
    : path_(std::move(other.path_)),
      fd_(other.fd_),
      max_bytes_(other.max_bytes_),
      size_(other.size_) {
  other.fd_ = -1;
  other.path_.clear();
}

StagedFile::~StagedFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!path_.empty()) ::unlink(path_.c_str());
}

Status StagedFile::Append(std::string_view data) {
  if (fd_ < 0) return InternalError("the staged file is closed");
  if (data.size() > max_bytes_ - size_) {
    size_ = max_bytes_ + 1;
    return ResourceExhaustedError("the input exceeds {} bytes", max_bytes_);
  }
  size_ += data.size();
  while (!data.empty()) {
    const ssize_t w = ::write(fd_, data.data(), data.size());
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return InternalError("cannot store the input: {}", std::strerror(errno));
    data.remove_prefix(static_cast<size_t>(w));
  }
  return OkStatus();
}

Status StagedFile::Finish() {
  if (fd_ >= 0) {
    const int closed = ::close(fd_);
    fd_ = -1;
    if (closed != 0) return InternalError("cannot store the input: {}", std::strerror(errno));
  }
  if (size_ == 0) return InvalidArgumentError("the input is empty");
  return OkStatus();
}

StatusOr<LoadSummary> StagedFile::Load(store::Store& store, const privacy::OwnerKey& key,
                                       const std::string& name, LoadOptions options) const {
  options.file_labels = {name};
  auto summary = LoadOrders(store, key, {path_}, options);
  if (summary.ok()) return summary;
  // The reader names the file; the client knows it by its own name, not by the staged path.
  std::string message = summary.status().message();
  for (size_t at; (at = message.find(path_)) != std::string::npos;) {
    message.replace(at, path_.size(), name);
  }
  return Status(summary.status().code(), message);
}

}  // namespace tessera::ingest
