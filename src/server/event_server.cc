#include "server/event_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <climits>
#include <cstring>
#include <limits>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>

#include "server/http/framing.h"
#include "server/http_common.h"

namespace tessera::server::internal {
namespace {

using http::ChunkScan;
using http::Framing;
using http::kMaxHeadBytes;
using http::ParseFraming;
using http::ScanChunked;
// Input kept per connection before the loop stops reading it (a client sending faster than
// it is answered), and answers queued before the loop stops answering it (a client that does
// not read them).
constexpr size_t kMaxBufferedIn = 1 << 20;
constexpr size_t kMaxBufferedOut = 256 << 10;
constexpr size_t kReadChunk = 64 << 10;
// After a last answer the loop reads (and drops) what the client still sends, for so long and
// so much at most, before it closes (Loop::Linger).
constexpr int64_t kLingerNs = int64_t{2} * 1000000000;
constexpr size_t kMaxLingerBytes = 16 << 20;
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

const char* ReasonPhrase(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 408:
      return "Request Timeout";
    case 413:
      return "Payload Too Large";
    case 414:
      return "URI Too Long";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    default:
      return "Service Unavailable";
  }
}

// A complete answer of the loop's own, closing the connection: the JSON error envelope of
// every other error (http_common.h).
std::string Refusal(int status, std::string_view code, std::string_view message) {
  Json j;
  j["error"] = {{"status", status}, {"code", code}, {"message", message}};
  const std::string body = j.dump() + "\n";
  return fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n"
      "Connection: close\r\nX-Content-Type-Options: nosniff\r\n{}\r\n{}",
      status, ReasonPhrase(status), body.size(),
      status == 429 || status == 503 ? "Retry-After: 1\r\n" : "", body);
}

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

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
  int64_t request_start_ns = 0;  // when the first byte of the pending request arrived
  int64_t parked_since_ns = 0;
  size_t served = 0;
  uint32_t events = 0;  // the epoll interest registered
  bool busy = false;    // a worker has it; its loop does not touch it
  bool parked = false;  // its next request waits for a worker slot
  bool peer_closed = false;
  bool close_after_flush = false;
  bool continue_sent = false;  // the loop sent "100 Continue" for the pending request
  std::string remote_ip, local_ip;
  int remote_port = 0, local_port = 0;
  std::vector<std::string> slots;  // the clients whose worker slot this request holds
  // The TLS session, when the server speaks TLS. Used by one thread at a time, as the rest.
  std::unique_ptr<SSL, decltype(&SSL_free)> tls{nullptr, &SSL_free};
  bool handshaking = false;      // TLS: no request may be read before the handshake ends
  bool tls_wants_write = false;  // TLS: the session can go on once the socket is writable
  bool tls_wants_read = false;   // TLS: ... once the socket is readable (a write waiting)
  bool tls_failed = false;       // TLS: a fatal error; no close_notify to send
  bool tls_checked = false;      // TLS: its first byte was seen, and was not plain HTTP
  bool lingering = false;        // its last answer is sent; what still comes is read and dropped
  int64_t linger_until_ns = 0;
  size_t lingered_bytes = 0;

  size_t InPending() const { return in.size() - in_pos; }
  size_t OutPending() const { return out.size() - out_pos; }

  // One receive without waiting, through TLS when the connection has it: like recv(2), the
  // bytes received, 0 at the end, or -1 with errno (EAGAIN: nothing yet, or TLS waits to
  // write first, tls_wants_write).
  ssize_t ReceiveSome(char* buf, size_t size) {
    if (!tls) return ::recv(fd, buf, size, 0);
    ERR_clear_error();
    const int r = SSL_read(tls.get(), buf, static_cast<int>(std::min<size_t>(size, INT_MAX)));
    tls_wants_write = false;
    if (r > 0) return r;
    return TlsResult(r);
  }

  // One send without waiting: like send(2) with MSG_NOSIGNAL (-1 and EAGAIN: try again once the
  // socket is writable, or, tls_wants_read, readable). A retry after EAGAIN must send the same
  // bytes (TLS), from wherever they are now.
  ssize_t SendSome(const char* buf, size_t size) {
    if (!tls) return ::send(fd, buf, size, MSG_NOSIGNAL);
    ERR_clear_error();
    const int w = SSL_write(tls.get(), buf, static_cast<int>(std::min<size_t>(size, INT_MAX)));
    tls_wants_read = false;
    if (w > 0) return w;
    return TlsResult(w);
  }

  // The result of a TLS call that did not move data, as recv/send would say it.
  ssize_t TlsResult(int r) {
    switch (SSL_get_error(tls.get(), r)) {
      case SSL_ERROR_ZERO_RETURN:
        return 0;
      case SSL_ERROR_WANT_READ:
        tls_wants_read = true;
        errno = EAGAIN;
        return -1;
      case SSL_ERROR_WANT_WRITE:
        tls_wants_write = true;
        errno = EAGAIN;
        return -1;
      default:
        tls_failed = true;
        errno = ECONNRESET;
        return -1;
    }
  }
};

// The connection as cpp-httplib sees it. It reads the request from the received bytes (no
// further than readable_end) unless `read_socket` (a streamed upload, read on a worker, which
// may wait for the socket); it appends the answer to the output, or with `write_socket` sends
// it, waiting up to the server's write timeout.
class EventServer::ConnectionStream final : public httplib::Stream {
 public:
  ConnectionStream(Connection& c, size_t readable_end, int64_t read_timeout_ns,
                   int64_t write_timeout_ns, bool read_socket, bool write_socket,
                   bool swallow_continue)
      : c_(c),
        readable_end_(readable_end),
        read_timeout_ms_(static_cast<int>(read_timeout_ns / 1000000)),
        write_timeout_ms_(static_cast<int>(write_timeout_ns / 1000000)),
        read_socket_(read_socket),
        write_socket_(write_socket),
        swallow_continue_(swallow_continue) {}

  bool is_readable() const override {
    return Available() > 0 || (read_socket_ && ((c_.tls && SSL_pending(c_.tls.get()) > 0) ||
                                                Wait(POLLIN, read_timeout_ms_)));
  }
  bool is_writable() const override { return !write_socket_ || Wait(POLLOUT, write_timeout_ms_); }

  ssize_t read(char* ptr, size_t size) override {
    if (Available() == 0) {
      if (!read_socket_) return 0;
      const ssize_t r = Fill();
      if (r <= 0) return r;
    }
    const size_t n = std::min(size, Available());
    std::memcpy(ptr, c_.in.data() + c_.in_pos, n);
    c_.in_pos += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    // The loop already told the client to send the body; cpp-httplib, seeing the Expect
    // header of a request whose body it has, would say it a second time.
    if (swallow_continue_) {
      swallow_continue_ = false;
      if (std::string_view(ptr, size) == kContinue) return static_cast<ssize_t>(size);
    }
    if (!write_socket_) {
      c_.out.append(ptr, size);
      return static_cast<ssize_t>(size);
    }
    size_t done = 0;
    while (done < size) {
      const ssize_t w = c_.SendSome(ptr + done, size - done);
      if (w > 0) {
        done += static_cast<size_t>(w);
      } else if (w < 0 && errno == EINTR) {
        continue;
      } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!Wait(c_.tls_wants_read ? POLLIN : POLLOUT, write_timeout_ms_)) return -1;
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
      const ssize_t r = c_.ReceiveSome(buf, sizeof buf);
      if (r > 0) {
        c_.in.append(buf, static_cast<size_t>(r));
        return r;
      }
      if (r == 0) return 0;
      if (errno == EINTR) continue;
      if ((errno != EAGAIN && errno != EWOULDBLOCK) ||
          !Wait(c_.tls_wants_write ? POLLOUT : POLLIN, read_timeout_ms_)) {
        return -1;
      }
    }
  }

  Connection& c_;
  const size_t readable_end_;
  const int read_timeout_ms_, write_timeout_ms_;
  const bool read_socket_, write_socket_;
  bool swallow_continue_;
};

class EventServer::Loop {
 public:
  Loop(EventServer& server, int listen_fd)
      : server_(server),
        listen_fd_(listen_fd),
        max_buffered_in_(
            std::max<size_t>(kMaxBufferedIn, server.limits_.max_body_bytes + 2 * kMaxHeadBytes)) {}

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
          RetryParked();
        } else {
          OnEvent(static_cast<Connection*>(tag), events[static_cast<size_t>(i)].events);
        }
      }
      if (now_ - last_sweep >= 1000000000) {
        Sweep();
        RetryParked();
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
      auto c = std::make_unique<Connection>();
      c->fd = fd;
      c->last_active_ns = now_;
      AddressOf(addr, &c->remote_ip, &c->remote_port);
      if (!server_.AdmitConnection(c->remote_ip)) {
        // Best effort: the answer fits the socket's send buffer of a new connection. A TLS
        // client would not understand it before a handshake, which is not worth its cost here.
        if (!server_.tls_on_.load()) {
          const std::string answer =
              Refusal(503, "too_many_connections", "too many connections from this address");
          [[maybe_unused]] const ssize_t w = ::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
        }
        ::close(fd);
        ++server_.refused_connections_;
        continue;
      }
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      sockaddr_storage local{};
      socklen_t local_len = sizeof local;
      if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) == 0) {
        AddressOf(local, &c->local_ip, &c->local_port);
      }
      if (server_.tls_on_.load()) {
        c->tls.reset(server_.NewTlsSession());
        if (!c->tls || SSL_set_fd(c->tls.get(), fd) != 1) {
          server_.ReleaseConnection(c->remote_ip);
          ::close(fd);
          continue;
        }
        SSL_set_accept_state(c->tls.get());
        c->handshaking = true;
        c->request_start_ns = now_;  // the handshake has the read timeout
      }
      epoll_event e{};
      e.events = EPOLLIN;
      e.data.ptr = c.get();
      if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &e) != 0) {
        server_.ReleaseConnection(c->remote_ip);
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
      c->request_start_ns = now_;
      epoll_event e{};
      e.events = EPOLLIN;
      e.data.ptr = c;
      if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c->fd, &e) != 0) {
        Close(c);
        continue;
      }
      c->events = EPOLLIN;
      if (c->close_after_flush) {
        Linger(c);
        continue;
      }
      Process(c);
    }
  }

  // A worker slot may have come free: the waiting connections try again, oldest first.
  void RetryParked() {
    if (parked_.empty()) return;
    const std::vector<Connection*> waiting = parked_;
    for (Connection* c : waiting) {
      if (c->parked && connections_.contains(c->fd)) Process(c);
    }
  }

  void OnEvent(Connection* c, uint32_t events) {
    if (c->lingering) return Drain(c);
    if (c->handshaking) {
      if (!Handshake(c) || c->handshaking) return;
      events |= EPOLLIN;  // the request may have come with the handshake's last message
    }
    if ((events & EPOLLOUT) && !Flush(c)) return;
    // TLS may need the socket writable to go on reading (a key update to answer).
    if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) || ((events & EPOLLOUT) && c->tls_wants_write)) {
      if (!Receive(c)) return;
    }
    Process(c);
  }

  // Takes the TLS handshake of `c` one step further; false when the connection was closed (a
  // failed handshake, or plain HTTP).
  bool Handshake(Connection* c) {
    if (!c->tls_checked && !PlainHttpCheck(c)) return false;
    ERR_clear_error();
    const int r = SSL_do_handshake(c->tls.get());
    c->last_active_ns = now_;
    c->tls_wants_write = false;
    if (r == 1) {
      c->handshaking = false;
      c->request_start_ns = now_;
      return true;
    }
    if (c->TlsResult(r) < 0 && errno == EAGAIN) {
      UpdateInterest(c);
      return true;
    }
    ++server_.refused_tls_;
    Close(c);
    return false;
  }

  // Before the handshake's first step: a client speaking plain HTTP to the TLS port (a
  // mistyped http://) is told so in plain HTTP, as nginx does, rather than left with a reset.
  // False when it was (and the connection closed).
  bool PlainHttpCheck(Connection* c) {
    char first = 0;
    const ssize_t n = ::recv(c->fd, &first, 1, MSG_PEEK);
    c->tls_checked = n == 1;
    if (n != 1 || first < 'A' || first > 'Z') return true;  // a TLS record starts with 0x16
    const std::string answer = Refusal(
        400, "https_required", "this server speaks HTTPS only: use https:// in the address");
    [[maybe_unused]] const ssize_t w = ::send(c->fd, answer.data(), answer.size(), MSG_NOSIGNAL);
    // Closing with the request unread would reset the connection, and the client might lose
    // the answer: the request is read (what has arrived of it) and the close is a FIN.
    for (int i = 0; i < 4 && ::recv(c->fd, buffer_.data(), buffer_.size(), 0) > 0; ++i) {
    }
    ::shutdown(c->fd, SHUT_WR);
    c->tls_failed = true;
    ++server_.refused_tls_;
    Close(c);
    return false;
  }

  // Reads what has arrived; false when the connection failed and was closed.
  bool Receive(Connection* c) {
    if (c->in_pos == c->in.size()) {
      c->in.clear();
      c->in_pos = 0;
    }
    const bool new_request = c->InPending() == 0;
    size_t received = 0;
    while (received < kMaxBufferedIn && c->InPending() < max_buffered_in_) {
      const ssize_t r = c->ReceiveSome(buffer_.data(), buffer_.size());
      if (r > 0) {
        c->in.append(buffer_.data(), static_cast<size_t>(r));
        received += static_cast<size_t>(r);
        // A short read emptied the socket; TLS returns one record at a time, so it reads on
        // until it would block.
        if (!c->tls && static_cast<size_t>(r) < buffer_.size()) break;
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
    if (received > 0) {
      c->last_active_ns = now_;
      if (new_request) c->request_start_ns = now_;
    }
    return true;
  }

  // Answers what the loop answers itself and closes the connection after it.
  void Refuse(Connection* c, int status, std::string_view code, std::string_view message) {
    c->out += Refusal(status, code, message);
    c->close_after_flush = true;
    c->in_pos = c->in.size();
    if (c->parked) Unpark(c);
  }

  // Answers the complete requests received, as long as they may be answered here, and sends
  // the answers; hands the connection to a worker at the first request that may not, once
  // its body is here.
  void Process(Connection* c) {
    for (;;) {
      bool answered = false;
      while (!c->close_after_flush && c->OutPending() < kMaxBufferedOut && c->InPending() > 0) {
        // Empty lines before a request line are ignored (RFC 9112 section 2.2): some clients
        // send one after a body.
        while (c->InPending() >= 2 && c->in[c->in_pos] == '\r' && c->in[c->in_pos + 1] == '\n') {
          c->in_pos += 2;
        }
        if (c->InPending() == 0) break;
        const std::string_view pending(c->in.data() + c->in_pos, c->InPending());
        const size_t end = pending.find("\r\n\r\n");
        if (end == std::string_view::npos) {
          if (pending.size() > kMaxHeadBytes) {
            const size_t line_end = pending.find("\r\n");
            if (line_end == std::string_view::npos || line_end > kMaxHeadBytes) {
              Refuse(c, 414, "uri_too_long", "the request line is too long");
            } else {
              Refuse(c, 431, "headers_too_large", "the request's headers are too large");
            }
          }
          break;
        }
        const std::string_view head = pending.substr(0, end + 4);
        const size_t method_end = head.find(' ');
        const size_t target_end =
            method_end == std::string_view::npos ? method_end : head.find(' ', method_end + 1);
        if (target_end == std::string_view::npos || target_end > head.find("\r\n")) {
          Refuse(c, 400, "invalid_parameter", "malformed request line");
          ++server_.refused_bad_framing_;
          break;
        }
        const std::string_view method = head.substr(0, method_end);
        const std::string_view target = head.substr(method_end + 1, target_end - method_end - 1);
        const Framing f = ParseFraming(head);
        if (f.bad != nullptr) {
          Refuse(c, 400, "invalid_parameter", std::string("malformed request: ") + f.bad);
          ++server_.refused_bad_framing_;
          break;
        }
        size_t request_end = c->in_pos + head.size();
        bool read_socket = false;
        const std::string_view body = pending.substr(head.size());
        if (f.kind != Framing::kNone) {
          const bool streams = server_.streams_body_(method, target);
          const size_t limit = server_.limits_.max_body_bytes;
          bool complete = true;
          if (f.kind == Framing::kLength) {
            if (f.length > limit && !streams) {
              Refuse(c, 413, "payload_too_large",
                     fmt::format("the request body is too large (at most {} bytes)", limit));
              ++server_.refused_too_large_;
              break;
            }
            read_socket = f.length > limit;
            complete = read_socket || body.size() >= f.length;
            if (!read_socket) request_end += f.length;
          } else if (streams) {
            read_socket = true;
          } else {
            size_t body_end = 0;
            const ChunkScan scan = ScanChunked(body, limit, &body_end);
            if (scan == ChunkScan::kBad) {
              Refuse(c, 400, "invalid_parameter", "malformed request: bad chunked encoding");
              ++server_.refused_bad_framing_;
              break;
            }
            if (scan == ChunkScan::kTooLarge) {
              Refuse(c, 413, "payload_too_large",
                     fmt::format("the request body is too large (at most {} bytes)", limit));
              ++server_.refused_too_large_;
              break;
            }
            complete = scan == ChunkScan::kComplete;
            request_end += body_end;
          }
          if (!complete) {
            // The body is on its way: ask for it if the client waits to be asked.
            if (f.expect_continue && !c->continue_sent) {
              c->out += kContinue;
              c->continue_sent = true;
            }
            break;
          }
        } else if (server_.answers_inline_(method, target)) {
          if (!server_.Answer(*c, request_end, false, false, false)) c->close_after_flush = true;
          c->in_pos = request_end;
          c->request_start_ns = now_;
          answered = true;
          continue;
        }
        if (!server_.TakeWorkerSlot(*c, f.token)) {
          Park(c);
          break;
        }
        return HandOff(c, request_end, read_socket);
      }
      if (c->peer_closed && !c->parked) c->close_after_flush = true;
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
      const ssize_t w = c->SendSome(c->out.data() + c->out_pos, c->OutPending());
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
      Linger(c);
      return false;
    }
    return true;
  }

  // The last answer is sent, but the client may still be sending (a body refused from its
  // head, an upload its handler refused): closing with its bytes unread would reset the
  // connection, and the client could lose the answer before reading it. So the loop ends its
  // side (close_notify over TLS, then FIN) and reads and drops what still comes, until the
  // client closes, kLingerNs pass or kMaxLingerBytes arrive (nginx's lingering close).
  void Linger(Connection* c) {
    if (c->peer_closed) return Close(c);
    if (c->tls && !c->handshaking && !c->tls_failed) {
      ERR_clear_error();
      SSL_shutdown(c->tls.get());
    }
    c->tls_failed = true;  // nothing more to say over TLS, close_notify included
    ::shutdown(c->fd, SHUT_WR);
    c->lingering = true;
    c->linger_until_ns = now_ + kLingerNs;
    c->in.clear();
    c->in_pos = 0;
    if (c->parked) Unpark(c);
    UpdateInterest(c);
  }

  // Reads and drops what a lingering connection's client sends; closes it at the end.
  void Drain(Connection* c) {
    for (;;) {
      const ssize_t r = ::recv(c->fd, buffer_.data(), buffer_.size(), 0);
      if (r > 0) {
        c->lingered_bytes += static_cast<size_t>(r);
        if (c->lingered_bytes > kMaxLingerBytes) return Close(c);
        continue;
      }
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      return Close(c);
    }
  }

  void UpdateInterest(Connection* c) {
    uint32_t want = 0;
    if (c->lingering) {
      want = EPOLLIN;
    } else if (c->handshaking) {
      want = c->tls_wants_write ? EPOLLOUT : EPOLLIN;
    } else {
      if (!c->peer_closed && c->InPending() < max_buffered_in_) want |= EPOLLIN;
      if (c->OutPending() > 0 || c->tls_wants_write) want |= EPOLLOUT;
    }
    if (want == c->events) return;
    epoll_event e{};
    e.events = want;
    e.data.ptr = c;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c->fd, &e);
    c->events = want;
  }

  void Park(Connection* c) {
    if (c->parked) return;
    c->parked = true;
    c->parked_since_ns = now_;
    parked_.push_back(c);
    ++server_.parked_;
  }

  void Unpark(Connection* c) {
    c->parked = false;
    parked_.erase(std::find(parked_.begin(), parked_.end(), c));
    --server_.parked_;
  }

  void HandOff(Connection* c, size_t request_end, bool read_socket) {
    if (c->parked) Unpark(c);
    c->busy = true;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c->fd, nullptr);
    c->events = 0;
    const bool swallow_continue = c->continue_sent;
    c->continue_sent = false;
    server_.workers_->enqueue([this, c, request_end, read_socket, swallow_continue] {
      // Earlier answers first, then this request, on the worker's thread.
      ConnectionStream s(*c, 0, server_.read_timeout_ns(), server_.write_timeout_ns(), false, true,
                         false);
      bool keep = c->OutPending() == 0 || s.write(c->out.data() + c->out_pos, c->OutPending()) ==
                                              static_cast<ssize_t>(c->OutPending());
      c->out.clear();
      c->out_pos = 0;
      keep =
          keep && server_.Answer(*c, read_socket ? std::numeric_limits<size_t>::max() : request_end,
                                 read_socket, true, swallow_continue);
      // What a handler left unread of a body the loop read is skipped, not parsed as the
      // next request.
      if (!read_socket) c->in_pos = std::max(c->in_pos, request_end);
      c->close_after_flush = !keep;
      server_.ReleaseWorkerSlot(*c);
      GiveBack(c);
      if (server_.parked_.load() > 0) server_.WakeLoops();
    });
  }

  void Close(Connection* c) {
    const int fd = c->fd;
    if (c->parked) Unpark(c);
    // TLS: tell the client the answer is complete (close_notify), without waiting for its own.
    if (c->tls && !c->handshaking && !c->tls_failed) {
      ERR_clear_error();
      SSL_shutdown(c->tls.get());
    }
    server_.ReleaseConnection(c->remote_ip);
    ::close(fd);  // also leaves the epoll set
    connections_.erase(fd);
  }

  // Ends connections that waited too long: for the rest of a request (the read timeout from
  // its first byte, however slowly it trickles in), for a worker slot (the read timeout), for
  // the client to take an answer (write timeout), or idle (keep-alive timeout).
  void Sweep() {
    std::vector<Connection*> expired, timed_out, waited;
    const int64_t read_timeout = server_.read_timeout_ns();
    std::vector<Connection*> handshakes;
    std::vector<Connection*> lingered;
    for (auto& [fd, c] : connections_) {
      if (c->busy) continue;
      if (c->lingering) {
        if (now_ >= c->linger_until_ns) lingered.push_back(c.get());
      } else if (c->handshaking) {
        if (now_ - c->request_start_ns > read_timeout) handshakes.push_back(c.get());
      } else if (c->parked) {
        if (now_ - c->parked_since_ns > read_timeout) waited.push_back(c.get());
      } else if (c->OutPending() > 0) {
        if (now_ - c->last_active_ns > server_.write_timeout_ns()) expired.push_back(c.get());
      } else if (c->InPending() > 0) {
        if (now_ - c->request_start_ns > read_timeout) timed_out.push_back(c.get());
      } else if (now_ - c->last_active_ns > server_.keep_alive_timeout_ns()) {
        expired.push_back(c.get());
      }
    }
    for (Connection* c : expired) Close(c);
    for (Connection* c : lingered) Close(c);
    for (Connection* c : handshakes) {
      ++server_.refused_tls_;
      Close(c);
    }
    for (Connection* c : timed_out) {
      Refuse(c, 408, "request_timeout", "the request did not arrive in time");
      ++server_.refused_timeout_;
      Flush(c);
    }
    for (Connection* c : waited) {
      Refuse(c, 429, "too_many_requests",
             "too many requests at once from this address or API key; try again");
      ++server_.refused_busy_;
      Flush(c);
    }
  }

  EventServer& server_;
  const int listen_fd_;
  const size_t max_buffered_in_;
  int epoll_fd_ = -1, wake_fd_ = -1;
  char listen_tag_ = 0, wake_tag_ = 0;
  std::thread thread_;
  int64_t now_ = 0;
  std::array<char, kReadChunk> buffer_;
  std::unordered_map<int, std::unique_ptr<Connection>> connections_;  // by descriptor
  std::vector<Connection*> parked_;                                   // oldest first
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

void EventServer::EnableTls(std::unique_ptr<TlsContext> tls) {
  std::unique_ptr<TlsContext> previous;  // freed outside the lock
  std::lock_guard lock(tls_mu_);
  previous = std::exchange(tls_, std::move(tls));
  tls_on_ = tls_ != nullptr;
}

SSL* EventServer::NewTlsSession() {
  // The session holds a reference to its context: a context replaced meanwhile lives on
  // until its last connection ends.
  std::lock_guard lock(tls_mu_);
  return tls_ ? SSL_new(tls_->get()) : nullptr;
}

int64_t EventServer::read_timeout_ns() const {
  return SecondsToNs(read_timeout_sec_, read_timeout_usec_);
}
int64_t EventServer::write_timeout_ns() const {
  return SecondsToNs(write_timeout_sec_, write_timeout_usec_);
}
int64_t EventServer::keep_alive_timeout_ns() const {
  return SecondsToNs(keep_alive_timeout_sec_, 0);
}

bool EventServer::Answer(Connection& c, size_t readable_end, bool read_socket, bool write_socket,
                         bool swallow_continue) {
  ConnectionStream s(c, readable_end, read_timeout_ns(), write_timeout_ns(), read_socket,
                     write_socket, swallow_continue);
  const bool last = ++c.served >= keep_alive_max_count_;
  bool closed = false;
  const bool ok = process_request(s, last, closed, nullptr);
  return ok && !closed && !last;
}

bool EventServer::AdmitConnection(const std::string& address) {
  std::lock_guard lock(clients_mu_);
  int& n = connections_by_address_[address];
  if (limits_.max_connections_per_address > 0 && n >= limits_.max_connections_per_address) {
    if (n == 0) connections_by_address_.erase(address);
    return false;
  }
  ++n;
  return true;
}

void EventServer::ReleaseConnection(const std::string& address) {
  std::lock_guard lock(clients_mu_);
  auto it = connections_by_address_.find(address);
  if (it != connections_by_address_.end() && --it->second <= 0) connections_by_address_.erase(it);
}

bool EventServer::TakeWorkerSlot(Connection& c, std::string_view token) {
  std::vector<std::string> clients{"a" + c.remote_ip};
  // Privacy: API keys are secrets; only a hash of one is kept, in memory, while it is busy.
  if (!token.empty()) clients.push_back("k" + std::to_string(std::hash<std::string_view>{}(token)));
  std::lock_guard lock(clients_mu_);
  const int limit = limits_.max_busy_per_client;
  if (limit > 0) {
    for (const std::string& k : clients) {
      auto it = busy_by_client_.find(k);
      if (it != busy_by_client_.end() && it->second >= limit) return false;
    }
  }
  for (const std::string& k : clients) ++busy_by_client_[k];
  c.slots = std::move(clients);
  return true;
}

void EventServer::ReleaseWorkerSlot(Connection& c) {
  std::lock_guard lock(clients_mu_);
  for (const std::string& k : c.slots) {
    auto it = busy_by_client_.find(k);
    if (it != busy_by_client_.end() && --it->second <= 0) busy_by_client_.erase(it);
  }
  c.slots.clear();
}

void EventServer::WakeLoops() {
  std::lock_guard lock(loops_mu_);
  for (auto& l : loops_) l->Wake();
}

EventServer::Refusals EventServer::refusals() const {
  return {refused_too_large_.load(), refused_bad_framing_.load(), refused_timeout_.load(),
          refused_busy_.load(),      refused_connections_.load(), refused_tls_.load()};
}

Status EventServer::Serve(int loops, int workers, AnswersInline answers_inline,
                          StreamsBody streams_body, Limits limits) {
  const socket_t listen_fd = svr_sock_;
  if (listen_fd == INVALID_SOCKET) return UnavailableError("the server has no bound socket");
  answers_inline_ = std::move(answers_inline);
  streams_body_ = std::move(streams_body);
  limits_ = limits;
  ::fcntl(listen_fd, F_SETFL, ::fcntl(listen_fd, F_GETFL) | O_NONBLOCK);
  // OpenSSL writes to a socket with write(2), which raises SIGPIPE when the client has gone
  // (the loops' own sends say MSG_NOSIGNAL). The server's threads, started here, inherit this
  // thread's signal mask with SIGPIPE blocked, so such a write fails with EPIPE instead of
  // ending the process; this thread's mask is restored once they run.
  sigset_t pipe_signal, caller_mask;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  ::pthread_sigmask(SIG_BLOCK, &pipe_signal, &caller_mask);
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
  ::pthread_sigmask(SIG_SETMASK, &caller_mask, nullptr);
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
