#include "sources/secrets.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace tessera::sources::internal {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() &&
         (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n')) {
    s.remove_prefix(1);
  }
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

StatusOr<std::string> ReadFileText(const std::string& source, const std::string& path,
                                   std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return FailedPreconditionError("source '{}': cannot read {} ({}): {}", source, path, what,
                                   std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return FailedPreconditionError("source '{}': cannot read {} ({})", source, path, what);
  }
  return text.str();
}

}  // namespace

StatusOr<std::string> ReadSecret(const std::string& source, const SecretRef& ref,
                                 std::string_view what) {
  std::string value;
  if (!ref.env.empty()) {
    const char* v = std::getenv(ref.env.c_str());
    if (v == nullptr || *v == '\0') {
      return FailedPreconditionError("source '{}': the environment variable {} ({}) is not set",
                                     source, ref.env, what);
    }
    value = std::string(Trim(v));
  } else if (!ref.file.empty()) {
    TESSERA_ASSIGN_OR_RETURN(const std::string text, ReadFileText(source, ref.file, what));
    value = std::string(Trim(text));
  } else {
    return FailedPreconditionError("source '{}' has no {}", source, what);
  }
  if (value.empty()) {
    return FailedPreconditionError("source '{}': {} ({}) is empty", source, ref.Describe(), what);
  }
  return value;
}

StatusOr<Credentials> ReadWooCommerceCredentials(const SourceConfig& c) {
  Credentials out;
  if (!c.key.file.empty()) {
    TESSERA_ASSIGN_OR_RETURN(const std::string text,
                             ReadFileText(c.name, c.key.file, "its consumer key and secret"));
    const std::string_view t = Trim(text);
    const size_t newline = t.find('\n');
    const size_t split = newline != std::string_view::npos ? newline : t.find(':');
    if (split == std::string_view::npos) {
      return FailedPreconditionError(
          "source '{}': {} must hold KEY:SECRET or the key and the secret on two lines", c.name,
          c.key.file);
    }
    out.key = std::string(Trim(t.substr(0, split)));
    out.secret = std::string(Trim(t.substr(split + 1)));
    if (out.key.empty() || out.secret.empty()) {
      return FailedPreconditionError("source '{}': {} lacks the key or the secret", c.name,
                                     c.key.file);
    }
    return out;
  }
  TESSERA_ASSIGN_OR_RETURN(out.key, ReadSecret(c.name, c.key, "its consumer key"));
  TESSERA_ASSIGN_OR_RETURN(out.secret, ReadSecret(c.name, c.secret, "its consumer secret"));
  return out;
}

StatusOr<MemoryFile> MemoryFile::Create(std::string_view data) {
  const int fd = ::memfd_create("tessera-source-page", MFD_CLOEXEC);
  if (fd < 0) return InternalError("cannot create a memory file: {}", std::strerror(errno));
  MemoryFile file(fd);
  while (!data.empty()) {
    const ssize_t w = ::write(fd, data.data(), data.size());
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return InternalError("cannot fill a memory file: {}", std::strerror(errno));
    data.remove_prefix(static_cast<size_t>(w));
  }
  return file;
}

MemoryFile::~MemoryFile() {
  if (fd_ >= 0) ::close(fd_);
}

std::string MemoryFile::path() const { return "/proc/self/fd/" + std::to_string(fd_); }

}  // namespace tessera::sources::internal
