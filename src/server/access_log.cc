#include "server/access_log.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace tessera::server::internal {

std::string FormatAccessLine(const AccessLogEntry& e) {
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  static constexpr std::string_view kMethods[] = {"GET",    "HEAD",    "POST", "PUT",
                                                  "DELETE", "OPTIONS", "PATCH"};
  std::string_view method = "OTHER";
  for (std::string_view m : kMethods) {
    if (e.method == m) method = m;
  }
  const std::time_t t = std::chrono::system_clock::to_time_t(e.time);
  std::tm utc{};
  gmtime_r(&t, &utc);
  return fmt::format(
      "- - {} [{:02d}/{}/{:04d}:{:02d}:{:02d}:{:02d} +0000] \"{} {} HTTP/1.1\" {} {} {} {}\n",
      e.key_id.empty() ? "-" : e.key_id, utc.tm_mday, kMonths[utc.tm_mon], utc.tm_year + 1900,
      utc.tm_hour, utc.tm_min, utc.tm_sec, method, e.route, e.status,
      e.bytes ? std::to_string(*e.bytes) : std::string("-"), e.micros,
      e.role.empty() ? "-" : e.role);
}

StatusOr<int> AccessLog::OpenFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd >= 0) return fd;
  const int err = errno;
  if (err == EACCES || err == EPERM || err == EROFS) {
    return PermissionDeniedError("--access-log: cannot write '{}': {}", path, std::strerror(err));
  }
  if (err == ENOENT) {
    return NotFoundError("--access-log: no such directory for '{}'", path);
  }
  return InternalError("--access-log: cannot open '{}': {}", path, std::strerror(err));
}

StatusOr<std::unique_ptr<AccessLog>> AccessLog::Open(const std::string& path) {
  if (path == "-") return std::unique_ptr<AccessLog>(new AccessLog(path, STDOUT_FILENO));
  TESSERA_ASSIGN_OR_RETURN(const int fd, OpenFile(path));
  return std::unique_ptr<AccessLog>(new AccessLog(path, fd));
}

AccessLog::~AccessLog() {
  if (fd_ != STDOUT_FILENO) ::close(fd_);
}

void AccessLog::Write(const AccessLogEntry& entry) {
  const std::string line = FormatAccessLine(entry);
  std::lock_guard lock(mu_);
  // O_APPEND (or a pipe to journald) keeps each line whole; a full disk loses lines, never the
  // answer.
  [[maybe_unused]] const ssize_t n = ::write(fd_, line.data(), line.size());
}

Status AccessLog::Reopen() {
  if (path_ == "-") return OkStatus();
  TESSERA_ASSIGN_OR_RETURN(const int fd, OpenFile(path_));
  std::lock_guard lock(mu_);
  ::close(fd_);
  fd_ = fd;
  return OkStatus();
}

}  // namespace tessera::server::internal
