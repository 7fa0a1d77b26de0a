#include "server/event_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <limits>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

namespace tessera::server::internal {
namespace {

// A request head longer than this without its end goes to a worker, where cpp-httplib
// answers it (414 or 400) as it always did.
constexpr size_t kMaxHeadBytes = 16 << 10;
// Input kept per connection before the loop stops reading it (a client sending faster than
// it is answered), and answers queued before the loop stops answering it (a client that does
// not read them).
constexpr size_t kMaxBufferedIn = 1 << 20;
constexpr size_t kMaxBufferedOut = 256 << 10;
constexpr size_t kReadChunk = 64 << 10;
constexpr int kMaxEvents = 128;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t SecondsToNs(time_t sec, time_t usec) {
  return static_cast<int64_t>(sec) * 1000000000 + static_cast<int64_t>(usec) * 1000;
}

void AddressOf(const sockaddr_storage& a, std::string* ip, int* port) {
  char text[INET6_ADDRSTRLEN] = {};
  if (a.ss_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(a);
    ::inet_ntop(AF_INET, &v4.sin_addr, text, sizeof text);
    *port = ntohs(v4.sin_port);
  } else if (a.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(a);
    ::inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof text);
    *port = ntohs(v6.sin6_port);
  }
  *ip = text;
}

bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

// Whether a request head announces a body (or asks for 100-continue): such requests are read
// by a worker, which may wait for the body.
bool HasBody(std::string_view head) {
  size_t at = head.find("\r\n");
  while (at != std::string_view::npos && at + 2 < head.size()) {
    const size_t next = head.find("\r\n", at + 2);
    std::string_view line = head.substr(at + 2, next - at - 2);
    if (StartsWithIgnoreCase(line, "transfer-encoding:") || StartsWithIgnoreCase(line, "expect:")) {
      return true;
    }
    if (StartsWithIgnoreCase(line, "content-length:")) {
      line.remove_prefix(15);
      while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
      while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
      if (line != "0") return true;
    }
    at = next;
  }
  return false;
}

}  // namespace

int UsableCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return 1;
  return std::max(1, CPU_COUNT(&set));
}

struct EventServer::Connection {
  int fd = -1;
  std::string in;  // received; the next request starts at in_pos
  size_t in_pos = 0;
  std::string out;  // answers not sent yet, from out_pos
  size_t out_pos = 0;
  int64_t last_active_ns = 0;
  size_t served = 0;
  uint32_t events = 0;  // the epoll interest registered
  bool busy = false;    // a worker has it; its loop does not touch it
  bool peer_closed = false;
  bool close_after_flush = false;
  std::string remote_ip, local_ip;
  int remote_port = 0, local_port = 0;

  size_t InPending() const { return in.size() - in_pos; }
  size_t OutPending() const { return out.size() - out_pos; }
};

// The connection as cpp-httplib sees it. On a loop it reads the request head from the
// received bytes (no further: the request has no body) and appends the answer to the output;
// on a worker it reads and writes the socket, waiting up to the server's timeouts.
class EventServer::ConnectionStream final : public httplib::Stream {
 public:
  ConnectionStream(Connection& c, size_t readable_end, int64_t read_timeout_ns,
                   int64_t write_timeout_ns, bool blocking)
      : c_(c),
        readable_end_(readable_end),
        read_timeout_ms_(static_cast<int>(read_timeout_ns / 1000000)),
        write_timeout_ms_(static_cast<int>(write_timeout_ns / 1000000)),
        blocking_(blocking) {}

  bool is_readable() const override {
    return Available() > 0 || (blocking_ && Wait(POLLIN, read_timeout_ms_));
  }
  bool is_writable() const override { return !blocking_ || Wait(POLLOUT, write_timeout_ms_); }

  ssize_t read(char* ptr, size_t size) override {
    if (Available() == 0) {
      if (!blocking_) return 0;
      const ssize_t r = Fill();
      if (r <= 0) return r;
    }
    const size_t n = std::min(size, Available());
    std::memcpy(ptr, c_.in.data() + c_.in_pos, n);
    c_.in_pos += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (!blocking_) {
      c_.out.append(ptr, size);
      return static_cast<ssize_t>(size);
    }
    size_t done = 0;
    while (done < size) {
      const ssize_t w = ::send(c_.fd, ptr + done, size - done, MSG_NOSIGNAL);
      if (w > 0) {
        done += static_cast<size_t>(w);
      } else if (w < 0 && errno == EINTR) {
        continue;
      } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!Wait(POLLOUT, write_timeout_ms_)) return -1;
      } else {
        return -1;
      }
    }
    return static_cast<ssize_t>(size);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = c_.remote_ip;
    port = c_.remote_port;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = c_.local_ip;
    port = c_.local_port;
  }
  socket_t socket() const override { return c_.fd; }

 private:
  size_t Available() const {
    const size_t end = std::min(readable_end_, c_.in.size());
    return end > c_.in_pos ? end - c_.in_pos : 0;
  }

  bool Wait(short what, int timeout_ms) const {
    pollfd p{c_.fd, what, 0};
    for (;;) {
      const int r = ::poll(&p, 1, timeout_ms);
      if (r < 0 && errno == EINTR) continue;
      return r > 0;
    }
  }

  // Receives more of the request; what recv returns (0 at the end, -1 on an error or timeout).
  ssize_t Fill() {
    c_.in.erase(0, c_.in_pos);
    c_.in_pos = 0;
    char buf[kReadChunk];
    for (;;) {
      const ssize_t r = ::recv(c_.fd, buf, sizeof buf, 0);
      if (r > 0) {
        c_.in.append(buf, static_cast<size_t>(r));
        return r;
      }
      if (r == 0) return 0;
      if (errno == EINTR) continue;
      if ((errno != EAGAIN && errno != EWOULDBLOCK) || !Wait(POLLIN, read_timeout_ms_)) return -1;
    }
  }

  Connection& c_;
  const size_t readable_end_;
  const int read_timeout_ms_, write_timeout_ms_;
  const bool blocking_;
};

class EventServer::Loop {
 public:
  Loop(EventServer& server, int listen_fd) : server_(server), listen_fd_(listen_fd) {}

  ~Loop() {
    for (auto& [fd, c] : connections_) ::close(fd);
    if (wake_fd_ >= 0) ::close(wake_fd_);
    if (epoll_fd_ >= 0) ::close(epoll_fd_);
  }

  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  Status Init() {
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epoll_fd_ < 0 || wake_fd_ < 0) return UnavailableError("epoll: {}", std::strerror(errno));
    // Every loop waits on the listening socket; EPOLLEXCLUSIVE wakes one of them per
    // connection rather than all.
    epoll_event listen{};
    listen.events = EPOLLIN | EPOLLEXCLUSIVE;
    listen.data.ptr = &listen_tag_;
    epoll_event wake{};
    wake.events = EPOLLIN;
    wake.data.ptr = &wake_tag_;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &listen) != 0 ||
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &wake) != 0) {
      return UnavailableError("epoll: {}", std::strerror(errno));
    }
    return OkStatus();
  }

  void Start() {
    thread_ = std::thread([this] { Run(); });
  }
  void Join() {
    if (thread_.joinable()) thread_.join();
  }
  void Wake() {
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t w = ::write(wake_fd_, &one, sizeof one);
  }

  // From a worker: the connection is the loop's again.
  void GiveBack(Connection* c) {
    {
      std::lock_guard lock(returned_mu_);
      returned_.push_back(c);
    }
    Wake();
  }

 private:
  void Run() {
    std::array<epoll_event, kMaxEvents> events;
    int64_t last_sweep = NowNs();
    while (!server_.stopping_.load()) {
      const int n = ::epoll_wait(epoll_fd_, events.data(), kMaxEvents, 1000);
      if (n < 0 && errno != EINTR) break;
      now_ = NowNs();
      for (int i = 0; i < n; ++i) {
        void* tag = events[static_cast<size_t>(i)].data.ptr;
        if (tag == &listen_tag_) {
          Accept();
        } else if (tag == &wake_tag_) {
          TakeBack();
        } else {
          OnEvent(static_cast<Connection*>(tag), events[static_cast<size_t>(i)].events);
        }
      }
      if (now_ - last_sweep >= 1000000000) {
        Sweep();
        last_sweep = now_;
      }
    }
  }

  void Accept() {
    for (int i = 0; i < 64; ++i) {
      sockaddr_storage addr{};
      socklen_t len = sizeof addr;
      const int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len,
                               SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR) continue;
        // Out of descriptors: the connection waits in the accept queue; do not spin on it.
        if (errno == EMFILE || errno == ENFILE) {
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return;
      }
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      auto c = std::make_unique<Connection>();
      c->fd = fd;
      c->last_active_ns = now_;
      AddressOf(addr, &c->remote_ip, &c->remote_port);
      sockaddr_storage local{};
      socklen_t local_len = sizeof local;
      if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) == 0) {
        AddressOf(local, &c->local_ip, &c->local_port);
      }
      epoll_event e{};
      e.events = EPOLLIN;
      e.data.ptr = c.get();
      if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &e) != 0) {
        ::close(fd);
        continue;
      }
      c->events = EPOLLIN;
      connections_.emplace(fd, std::move(c));
    }
  }

  void TakeBack() {
    uint64_t count;
    [[maybe_unused]] const ssize_t r = ::read(wake_fd_, &count, sizeof count);
    std::vector<Connection*> back;
    {
      std::lock_guard lock(returned_mu_);
      back.swap(returned_);
    }
    for (Connection* c : back) {
      c->busy = false;
      c->last_active_ns = now_;
      if (c->close_after_flush) {
        Close(c);
        continue;
      }
      epoll_event e{};
      e.events = EPOLLIN;
      e.data.ptr = c;
      if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c->fd, &e) != 0) {
        Close(c);
        continue;
      }
      c->events = EPOLLIN;
      Process(c);
    }
  }

  void OnEvent(Connection* c, uint32_t events) {
    if ((events & EPOLLOUT) && !Flush(c)) return;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
      if (!Receive(c)) return;
    }
    Process(c);
  }

  // Reads what has arrived; false when the connection failed and was closed.
  bool Receive(Connection* c) {
    if (c->in_pos == c->in.size()) {
      c->in.clear();
      c->in_pos = 0;
    }
    size_t received = 0;
    while (received < kMaxBufferedIn && c->InPending() < kMaxBufferedIn) {
      const ssize_t r = ::recv(c->fd, buffer_.data(), buffer_.size(), 0);
      if (r > 0) {
        c->in.append(buffer_.data(), static_cast<size_t>(r));
        received += static_cast<size_t>(r);
        if (static_cast<size_t>(r) < buffer_.size()) break;
        continue;
      }
      if (r == 0) {
        c->peer_closed = true;
        break;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      Close(c);
      return false;
    }
    if (received > 0) c->last_active_ns = now_;
    return true;
  }

  // Answers the complete requests received, as long as they may be answered here, and sends
  // the answers; hands the connection to a worker at the first request that may not.
  void Process(Connection* c) {
    for (;;) {
      bool answered = false;
      while (!c->close_after_flush && c->OutPending() < kMaxBufferedOut) {
        const std::string_view pending(c->in.data() + c->in_pos, c->InPending());
        const size_t end = pending.find("\r\n\r\n");
        if (end == std::string_view::npos) {
          if (pending.size() > kMaxHeadBytes) return HandOff(c);
          break;
        }
        const std::string_view head = pending.substr(0, end + 4);
        const size_t method_end = head.find(' ');
        const size_t target_end =
            method_end == std::string_view::npos ? method_end : head.find(' ', method_end + 1);
        if (target_end == std::string_view::npos || HasBody(head) ||
            !server_.answers_inline_(head.substr(0, method_end),
                                     head.substr(method_end + 1, target_end - method_end - 1))) {
          return HandOff(c);
        }
        const size_t next = c->in_pos + head.size();
        if (!server_.Answer(*c, next, false)) c->close_after_flush = true;
        c->in_pos = next;
        answered = true;
      }
      if (c->peer_closed) c->close_after_flush = true;
      if (!Flush(c)) return;
      if (!answered || c->OutPending() > 0) break;
    }
    if (c->in_pos == c->in.size()) {
      c->in.clear();
      c->in_pos = 0;
    }
    UpdateInterest(c);
  }

  // Sends queued answers; false when the connection was closed (an error, or done).
  bool Flush(Connection* c) {
    while (c->OutPending() > 0) {
      const ssize_t w = ::send(c->fd, c->out.data() + c->out_pos, c->OutPending(), MSG_NOSIGNAL);
      if (w > 0) {
        c->out_pos += static_cast<size_t>(w);
        c->last_active_ns = now_;
        continue;
      }
      if (w < 0 && errno == EINTR) continue;
      if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        UpdateInterest(c);
        return true;
      }
      Close(c);
      return false;
    }
    c->out.clear();
    c->out_pos = 0;
    if (c->close_after_flush) {
      Close(c);
      return false;
    }
    return true;
  }

  void UpdateInterest(Connection* c) {
    uint32_t want = 0;
    if (!c->peer_closed && c->InPending() < kMaxBufferedIn) want |= EPOLLIN;
    if (c->OutPending() > 0) want |= EPOLLOUT;
    if (want == c->events) return;
    epoll_event e{};
    e.events = want;
    e.data.ptr = c;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c->fd, &e);
    c->events = want;
  }

  void HandOff(Connection* c) {
    c->busy = true;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c->fd, nullptr);
    c->events = 0;
    server_.workers_->enqueue([this, c] {
      // Earlier answers first, then this request, on the worker's thread.
      ConnectionStream s(*c, 0, server_.read_timeout_ns(), server_.write_timeout_ns(), true);
      bool keep = c->OutPending() == 0 || s.write(c->out.data() + c->out_pos, c->OutPending()) ==
                                              static_cast<ssize_t>(c->OutPending());
      c->out.clear();
      c->out_pos = 0;
      keep = keep && server_.Answer(*c, std::numeric_limits<size_t>::max(), true);
      c->close_after_flush = !keep;
      GiveBack(c);
    });
  }

  void Close(Connection* c) {
    const int fd = c->fd;
    ::close(fd);  // also leaves the epoll set
    connections_.erase(fd);
  }

  // Closes connections that waited too long: for the rest of a request (read timeout), for
  // the client to take an answer (write timeout), or idle (keep-alive timeout).
  void Sweep() {
    std::vector<Connection*> expired;
    for (auto& [fd, c] : connections_) {
      if (c->busy) continue;
      const int64_t limit = c->OutPending() > 0  ? server_.write_timeout_ns()
                            : c->InPending() > 0 ? server_.read_timeout_ns()
                                                 : server_.keep_alive_timeout_ns();
      if (now_ - c->last_active_ns > limit) expired.push_back(c.get());
    }
    for (Connection* c : expired) Close(c);
  }

  EventServer& server_;
  const int listen_fd_;
  int epoll_fd_ = -1, wake_fd_ = -1;
  char listen_tag_ = 0, wake_tag_ = 0;
  std::thread thread_;
  int64_t now_ = 0;
  std::array<char, kReadChunk> buffer_;
  std::unordered_map<int, std::unique_ptr<Connection>> connections_;  // by descriptor
  std::mutex returned_mu_;
  std::vector<Connection*> returned_;  // GUARDED_BY(returned_mu_)
};

EventServer::EventServer() = default;

EventServer::~EventServer() {
  Stop();
  const socket_t sock = svr_sock_.exchange(INVALID_SOCKET);
  if (sock != INVALID_SOCKET) ::close(sock);
}

void EventServer::DeepenBacklog() { ::listen(svr_sock_, SOMAXCONN); }

int64_t EventServer::read_timeout_ns() const {
  return SecondsToNs(read_timeout_sec_, read_timeout_usec_);
}
int64_t EventServer::write_timeout_ns() const {
  return SecondsToNs(write_timeout_sec_, write_timeout_usec_);
}
int64_t EventServer::keep_alive_timeout_ns() const {
  return SecondsToNs(keep_alive_timeout_sec_, 0);
}

bool EventServer::Answer(Connection& c, size_t readable_end, bool blocking) {
  ConnectionStream s(c, readable_end, read_timeout_ns(), write_timeout_ns(), blocking);
  const bool last = ++c.served >= keep_alive_max_count_;
  bool closed = false;
  const bool ok = process_request(s, last, closed, nullptr);
  return ok && !closed && !last;
}

Status EventServer::Serve(int loops, int workers, AnswersInline answers_inline) {
  const socket_t listen_fd = svr_sock_;
  if (listen_fd == INVALID_SOCKET) return UnavailableError("the server has no bound socket");
  answers_inline_ = std::move(answers_inline);
  ::fcntl(listen_fd, F_SETFL, ::fcntl(listen_fd, F_GETFL) | O_NONBLOCK);
  workers_ = std::make_unique<httplib::ThreadPool>(static_cast<size_t>(std::max(1, workers)));
  Status status = OkStatus();
  {
    std::lock_guard lock(loops_mu_);
    for (int i = 0; i < std::max(1, loops) && status.ok(); ++i) {
      loops_.push_back(std::make_unique<Loop>(*this, listen_fd));
      status = loops_.back()->Init();
    }
    if (status.ok()) {
      for (auto& l : loops_) l->Start();
    }
  }
  for (auto& l : loops_) l->Join();
  workers_->shutdown();
  std::lock_guard lock(loops_mu_);
  loops_.clear();
  return status;
}

void EventServer::Stop() {
  stopping_ = true;
  std::lock_guard lock(loops_mu_);
  for (auto& l : loops_) l->Wake();
}

}  // namespace tessera::server::internal
