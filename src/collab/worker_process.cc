#include "collab/worker_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "tessera/collab/worker.h"

extern char** environ;

namespace tessera::collab::internal {
namespace {

// Writes to a stream socket without SIGPIPE: a worker that fails and leaves before reading a
// stream to its end makes this an error (EPIPE), not a signal that ends the process hosting it.
Status WriteAll(int fd, std::string_view s) {
  size_t at = 0;
  while (at < s.size()) {
    const ssize_t w = ::send(fd, s.data() + at, s.size() - at, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return InternalError("writing to the join worker: {}", std::strerror(errno));
    at += static_cast<size_t>(w);
  }
  return OkStatus();
}

ReadFn FdReader(int fd) {
  return [fd](uint8_t* out, size_t n) -> StatusOr<size_t> {
    size_t got = 0;
    while (got < n) {
      const ssize_t r = ::read(fd, out + got, n - got);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return InternalError("reading from the join worker: {}", std::strerror(errno));
      if (r == 0) break;
      got += static_cast<size_t>(r);
    }
    return got;
  };
}

void CloseFd(int* fd) {
  if (*fd >= 0) ::close(*fd);
  *fd = -1;
}

}  // namespace

StatusOr<WorkerProcess> WorkerProcess::Start(const std::string& binary,
                                             const std::vector<std::string>& wrapper) {
  WorkerProcess w;
  int a[2], b[2], out[2], err[2];
  // The owners' streams go over socket pairs, which a write can leave without SIGPIPE (WriteAll).
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a) != 0 ||
      ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, b) != 0 ||
      ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    return InternalError("pipes for the join worker: {}", std::strerror(errno));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, a[0], 3);
  posix_spawn_file_actions_adddup2(&actions, b[0], 4);
  posix_spawn_file_actions_adddup2(&actions, out[1], 5);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  std::vector<std::string> args = wrapper;
  if (!wrapper.empty()) args.emplace_back("--worker");
  args.push_back(binary);
  for (const char* x : {"--sealed", "--a", "fd:3", "--b", "fd:4", "--out", "fd:5"}) {
    args.emplace_back(x);
  }
  std::vector<char*> argv;
  for (std::string& x : args) argv.push_back(x.data());
  argv.push_back(nullptr);
  const int rc = ::posix_spawn(&w.pid_, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  for (int fd : {a[0], b[0], out[1], err[1]}) ::close(fd);
  w.a_ = a[1];
  w.b_ = b[1];
  w.out_ = out[0];
  w.err_ = err[0];
  if (rc != 0) {
    w.pid_ = -1;
    return UnavailableError("cannot start the join worker {}: {} (give its path with --worker)",
                            argv[0], std::strerror(rc));
  }
  // Its error output is read on the side, so that a chatty failure never blocks it.
  const int err_fd = w.err_;
  w.errors_ = std::async(std::launch::async, [err_fd] {
    std::string text;
    char buf[4096];
    ssize_t r;
    while ((r = ::read(err_fd, buf, sizeof buf)) > 0 || (r < 0 && errno == EINTR)) {
      if (r > 0 && text.size() < 4096) text.append(buf, static_cast<size_t>(r));
    }
    return text;
  });
  return w;
}

WorkerProcess& WorkerProcess::operator=(WorkerProcess&& o) noexcept {
  std::swap(pid_, o.pid_);
  std::swap(a_, o.a_);
  std::swap(b_, o.b_);
  std::swap(out_, o.out_);
  std::swap(err_, o.err_);
  std::swap(errors_, o.errors_);
  return *this;
}

WorkerProcess::~WorkerProcess() {
  for (int* fd : {&a_, &b_, &out_}) CloseFd(fd);
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  if (errors_.valid()) errors_.wait();
  CloseFd(&err_);
}

StatusOr<WorkerHello> WorkerProcess::Hello() {
  auto frame = ReadFrame(FdReader(out_));
  if (!frame.ok() || !*frame) return Failed("it sent no hello");
  return ParseWorkerHello(**frame);
}

StatusOr<std::string> WorkerProcess::Run(std::string_view a, std::string_view b) {
  // Each stream ends (its pipe closed) as soon as it is written: the worker reads a stream to
  // its end before it turns to the other.
  int fa = a_, fb = b_;
  a_ = b_ = -1;
  auto feed_a = std::async(std::launch::async, [&a, fa]() mutable {
    Status s = WriteAll(fa, a);
    CloseFd(&fa);
    return s;
  });
  Status wb = WriteAll(fb, b);
  CloseFd(&fb);
  Status wa = feed_a.get();
  auto frame = ReadFrame(FdReader(out_));
  CloseFd(&out_);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !wa.ok() || !wb.ok() || !frame.ok() ||
      !*frame) {
    return Failed(WIFSIGNALED(status) ? fmt::format("killed by signal {}", WTERMSIG(status))
                                      : fmt::format("exit {}", WEXITSTATUS(status)));
  }
  return std::move(**frame);
}

StatusOr<std::string> WorkerProcess::Exchange(std::string_view a, std::string_view b) {
  if (pid_ <= 0 || a_ < 0 || b_ < 0) return InternalError("the join worker has ended");
  const int fa = a_;
  auto feed_a = std::async(std::launch::async, [&a, fa] { return WriteAll(fa, a); });
  Status wb = WriteAll(b_, b);
  Status wa = feed_a.get();
  if (!wa.ok() || !wb.ok()) return Failed(!wa.ok() ? wa.message() : wb.message());
  auto frame = ReadFrame(FdReader(out_));
  if (!frame.ok() || !*frame) return Failed("it sent no result");
  return std::move(**frame);
}

Status WorkerProcess::Failed(const std::string& why) {
  std::string said;
  if (errors_.valid()) {
    CloseFd(&a_);
    CloseFd(&b_);
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
    }
    said = errors_.get();
    while (!said.empty() && (said.back() == '\n' || said.back() == '\r')) said.pop_back();
  }
  return InternalError("the join worker failed ({}){}{}", why, said.empty() ? "" : ": ", said);
}

}  // namespace tessera::collab::internal
