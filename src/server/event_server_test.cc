#include "server/event_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "server/tls_test_support.h"

namespace tessera::server::internal {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// An EventServer on a loopback port with a few routes, served on a thread of its own:
//   GET /fast     answered on the loop
//   GET /slow     a worker, 300 ms, counting how many run at once
//   POST /echo    a worker: "<length>:<body>"
//   POST /upload  a streamed body (larger than the limit), read by the handler
class TestServer {
 public:
  explicit TestServer(EventServer::Limits limits, int read_timeout_seconds = 2, int workers = 4,
                      std::unique_ptr<TlsContext> tls = nullptr) {
    if (tls) http_.EnableTls(std::move(tls));
    http_.set_read_timeout(read_timeout_seconds, 0);
    http_.set_write_timeout(5, 0);
    http_.set_keep_alive_timeout(30);
    http_.Get("/fast", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("fast", "text/plain");
    });
    http_.Get("/slow", [this](const httplib::Request&, httplib::Response& res) {
      const int now = ++running_;
      int seen = max_running_.load();
      while (now > seen && !max_running_.compare_exchange_weak(seen, now)) {
      }
      std::this_thread::sleep_for(milliseconds(slow_ms_));
      --running_;
      res.set_content("slow", "text/plain");
    });
    // A write(2) to a peer that has gone, as OpenSSL's writes are: "EPIPE" when it failed
    // rather than raising SIGPIPE.
    http_.Get("/pipe", [](const httplib::Request&, httplib::Response& res) {
      int pair[2];
      ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
      ::close(pair[1]);
      const ssize_t w = ::write(pair[0], "x", 1);
      const int error = errno;
      ::close(pair[0]);
      res.set_content(w < 0 && error == EPIPE ? "EPIPE" : "wrote", "text/plain");
    });
    http_.Post("/echo", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content(std::to_string(req.body.size()) + ":" + req.body, "text/plain");
    });
    http_.Post("/upload", [](const httplib::Request&, httplib::Response& res,
                             const httplib::ContentReader& reader) {
      size_t n = 0;
      reader([&](const char*, size_t len) {
        n += len;
        return true;
      });
      res.set_content("uploaded " + std::to_string(n), "text/plain");
    });
    port_ = http_.bind_to_any_port("127.0.0.1");
    http_.DeepenBacklog();
    thread_ = std::thread([this, limits, workers] {
      status_ = http_.Serve(
          1, workers, [](std::string_view, std::string_view target) { return target == "/fast"; },
          [](std::string_view method, std::string_view target) {
            return method == "POST" && target == "/upload";
          },
          limits);
    });
  }
  ~TestServer() {
    http_.Stop();
    thread_.join();
  }
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  int port() const { return port_; }
  int max_running() const { return max_running_.load(); }
  EventServer& http() { return http_; }
  void set_slow_ms(int ms) { slow_ms_ = ms; }

 private:
  EventServer http_;
  int port_ = 0;
  std::atomic<int> running_{0}, max_running_{0};
  int slow_ms_ = 300;
  std::thread thread_;
  Status status_ = OkStatus();
};

// A raw client connection, from `source` (any 127.0.0.0/8 address is this machine's).
class Conn {
 public:
  Conn(int port, const char* source = "127.0.0.1") {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    ::inet_pton(AF_INET, source, &from.sin_addr);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof from), 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<uint16_t>(port));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
  }
  ~Conn() { ::close(fd_); }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  void Send(std::string_view data) {
    ASSERT_EQ(::send(fd_, data.data(), data.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(data.size()));
  }
  // Sends what it can, without failing the test when the server has closed the connection.
  void TrySend(std::string_view data) {
    [[maybe_unused]] const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
  }
  // Receives what arrives within `timeout`, at most one read; false when nothing did.
  bool ReadMore(milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::max<int64_t>(0, timeout.count()))) <= 0) return false;
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return false;
    received_.append(buf, static_cast<size_t>(n));
    return true;
  }
  // What arrived until `needle` has been seen (or the peer closes, or `timeout` passes).
  std::string ReadUntil(std::string_view needle, milliseconds timeout = milliseconds(5000)) {
    const auto deadline = Clock::now() + timeout;
    while (received_.find(needle) == std::string::npos) {
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
      if (left.count() <= 0 || !ReadMore(left)) break;
    }
    return received_;
  }
  // One whole answer (its head, and a body of its Content-Length), taken off what arrived.
  std::string Response(milliseconds timeout = milliseconds(5000)) {
    const auto deadline = Clock::now() + timeout;
    const std::string all = ReadUntil("\r\n\r\n", timeout);
    const size_t head_end = all.find("\r\n\r\n");
    if (head_end == std::string::npos) {
      received_.clear();
      return all;
    }
    const size_t cl = all.find("Content-Length: ");
    size_t length = 0;
    if (cl != std::string::npos && cl < head_end) length = std::stoul(all.substr(cl + 16));
    while (received_.size() < head_end + 4 + length) {
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
      if (left.count() <= 0 || !ReadMore(left)) break;
    }
    std::string answer = received_.substr(0, std::min(received_.size(), head_end + 4 + length));
    received_.erase(0, answer.size());
    return answer;
  }
  bool ClosedByPeer(milliseconds timeout = milliseconds(3000)) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
    char c;
    return ::recv(fd_, &c, 1, MSG_PEEK) == 0;
  }

 private:
  int fd_ = -1;
  std::string received_;
};

std::string Post(std::string_view path, std::string_view body, std::string_view extra = "") {
  return std::string("POST ") + std::string(path) + " HTTP/1.1\r\nHost: x\r\n" +
         std::string(extra) + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
         std::string(body);
}

constexpr char kGetSlow[] = "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n";

EventServer::Limits Unlimited() {
  EventServer::Limits l;
  l.max_body_bytes = 1024;
  l.max_connections_per_address = 0;
  l.max_busy_per_client = 0;
  return l;
}

TEST(EventServer, SlowBodiesDoNotHoldTheWorkers) {
  TestServer server(Unlimited(), /*read_timeout_seconds=*/10, /*workers=*/4);
  // Five times as many unfinished bodies as there are workers.
  std::vector<std::unique_ptr<Conn>> slow;
  for (int i = 0; i < 20; ++i) {
    slow.push_back(std::make_unique<Conn>(server.port()));
    slow.back()->Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789");
  }
  std::this_thread::sleep_for(milliseconds(200));
  const auto start = Clock::now();
  Conn good(server.port());
  good.Send(Post("/echo", "hello"));
  EXPECT_TRUE(good.Response().ends_with("\r\n\r\n5:hello"));
  good.Send(kGetSlow);
  EXPECT_TRUE(good.Response().ends_with("slow"));
  EXPECT_LT(Clock::now() - start, milliseconds(3000));
  // A slow body that does arrive in the end is answered as any other.
  slow[0]->Send(std::string(90, 'x'));
  EXPECT_TRUE(slow[0]->Response().ends_with("100:0123456789" + std::string(90, 'x')));
}

TEST(EventServer, ARequestMustArriveWithinTheReadTimeoutHoweverSlowlyItTrickles) {
  TestServer server(Unlimited(), /*read_timeout_seconds=*/2);
  Conn c(server.port());
  const auto start = Clock::now();
  c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n");
  // A byte every 300 ms: each one is activity, but the request as a whole is late.
  for (int i = 0; i < 20; ++i) {
    std::this_thread::sleep_for(milliseconds(300));
    if (c.ReadMore(milliseconds(0))) break;
    c.TrySend("x");
  }
  const std::string answer = c.Response();
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 408 ")) << answer;
  EXPECT_NE(answer.find("\"request_timeout\""), std::string::npos) << answer;
  const auto took = Clock::now() - start;
  EXPECT_GE(took, milliseconds(1900));
  EXPECT_LT(took, milliseconds(4500));
  EXPECT_TRUE(c.ClosedByPeer());
  EXPECT_EQ(server.http().refusals().timeout, 1u);
}

TEST(EventServer, ADeclaredBodyOverTheLimitIsRefusedFromTheHeadUnlessTheRouteStreams) {
  TestServer server(Unlimited());
  Conn c(server.port());
  c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n");
  const std::string answer = c.Response();
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 413 ")) << answer;
  EXPECT_NE(answer.find("at most 1024 bytes"), std::string::npos) << answer;
  EXPECT_NE(answer.find("Connection: close"), std::string::npos) << answer;
  EXPECT_TRUE(c.ClosedByPeer());
  // Chunks that add up to more than the limit, too.
  Conn chunked(server.port());
  chunked.Send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n300\r\n" +
               std::string(0x300, 'a') + "\r\n300\r\n" + std::string(0x300, 'b') + "\r\n0\r\n\r\n");
  EXPECT_TRUE(chunked.Response().starts_with("HTTP/1.1 413 "));
  // An upload route reads its large body as it comes.
  Conn upload(server.port());
  upload.Send(Post("/upload", std::string(5000, 'u')));
  EXPECT_TRUE(upload.Response().ends_with("uploaded 5000"));
  EXPECT_EQ(server.http().refusals().too_large, 2u);
}

TEST(EventServer, BodiesOfEveryFramingArriveWholeAndBadFramingIsRefused) {
  TestServer server(Unlimited());
  {
    Conn c(server.port());
    c.Send(
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\n\r\n");
    const std::string r = c.Response();
    EXPECT_TRUE(r.ends_with("11:hello world")) << r;
    // Pipelined after it on the same connection, in two pieces.
    c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nab");
    std::this_thread::sleep_for(milliseconds(100));
    c.Send("cdef\r\n" + Post("/echo", "z"));
    EXPECT_TRUE(c.Response().ends_with("6:abcdef"));
    EXPECT_TRUE(c.Response().ends_with("1:z"));
  }
  const std::vector<std::string> bad = {
      // Two lengths: a proxy in front may have framed the request by the other one.
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0x10\r\n\r\n",
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
      "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
      "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n",
      "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n",
      "POST /echo HTTP/1.1\r\nHost: x\r\n Folded: header\r\nContent-Length: 1\r\n\r\nx",
  };
  for (const std::string& request : bad) {
    SCOPED_TRACE(request);
    Conn c(server.port());
    const auto start = Clock::now();
    c.Send(request);
    const std::string answer = c.Response();
    EXPECT_TRUE(answer.starts_with("HTTP/1.1 400 ")) << answer;
    EXPECT_LT(Clock::now() - start, milliseconds(1000)) << "refused from the head, not waited";
    EXPECT_TRUE(c.ClosedByPeer());
  }
  EXPECT_EQ(server.http().refusals().bad_framing, bad.size());
  // Equal duplicates are one length (RFC 9110 section 8.6).
  Conn same(server.port());
  same.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok");
  EXPECT_TRUE(same.Response().ends_with("2:ok"));
}

TEST(EventServer, ExpectContinueIsAnsweredOnceAndTheBodyReadOnTheLoop) {
  TestServer server(Unlimited());
  Conn c(server.port());
  c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
  EXPECT_EQ(c.ReadUntil("\r\n\r\n"), "HTTP/1.1 100 Continue\r\n\r\n");
  c.Send("hello");
  std::string all = c.Response();  // the 100 Continue
  EXPECT_EQ(all, "HTTP/1.1 100 Continue\r\n\r\n");
  all = c.Response();
  EXPECT_TRUE(all.starts_with("HTTP/1.1 200 ")) << all;
  EXPECT_TRUE(all.ends_with("5:hello")) << all;
  // No second "100 Continue" before or after the answer.
  EXPECT_EQ(c.ReadUntil("100 Continue", milliseconds(300)), "");
}

TEST(EventServer, OneClientGetsAtMostItsShareOfTheWorkersAndTheRestWaitTheirTurn) {
  EventServer::Limits limits = Unlimited();
  limits.max_busy_per_client = 2;
  TestServer server(limits, /*read_timeout_seconds=*/10, /*workers=*/8);
  std::vector<std::unique_ptr<Conn>> conns;
  for (int i = 0; i < 6; ++i) {
    conns.push_back(std::make_unique<Conn>(server.port()));
    conns.back()->Send(kGetSlow);
  }
  // None is refused: they wait, two at a time.
  for (auto& c : conns) EXPECT_TRUE(c->Response().ends_with("slow"));
  EXPECT_EQ(server.max_running(), 2);
  // The loop still answers what it answers itself while the workers are busy.
  Conn a(server.port());
  Conn b(server.port());
  a.Send(kGetSlow);
  b.Send(kGetSlow);
  Conn fast(server.port());
  fast.Send("GET /fast HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(fast.Response(milliseconds(200)).ends_with("fast"));
}

TEST(EventServer, OneApiKeyFromManyAddressesGetsAtMostItsShareToo) {
  EventServer::Limits limits = Unlimited();
  limits.max_busy_per_client = 2;
  TestServer server(limits, /*read_timeout_seconds=*/10, /*workers=*/8);
  const std::string with_key =
      "GET /slow HTTP/1.1\r\nHost: x\r\nAuthorization: bearer tsk_same\r\n\r\n";
  std::vector<std::unique_ptr<Conn>> conns;
  for (int i = 0; i < 4; ++i) {
    const std::string source = "127.0.0." + std::to_string(10 + i);
    conns.push_back(std::make_unique<Conn>(server.port(), source.c_str()));
    conns.back()->Send(with_key);
  }
  for (auto& c : conns) EXPECT_TRUE(c->Response().ends_with("slow"));
  EXPECT_EQ(server.max_running(), 2);
  // Without a shared key, four addresses run four at once.
  TestServer open(limits, 10, 8);
  std::vector<std::unique_ptr<Conn>> others;
  for (int i = 0; i < 4; ++i) {
    const std::string source = "127.0.0." + std::to_string(20 + i);
    others.push_back(std::make_unique<Conn>(open.port(), source.c_str()));
    others.back()->Send(kGetSlow);
  }
  for (auto& c : others) EXPECT_TRUE(c->Response().ends_with("slow"));
  EXPECT_EQ(open.max_running(), 4);
}

TEST(EventServer, ARequestThatWaitsLongerThanTheReadTimeoutForAWorkerGets429) {
  EventServer::Limits limits = Unlimited();
  limits.max_busy_per_client = 1;
  TestServer server(limits, /*read_timeout_seconds=*/1, /*workers=*/4);
  server.set_slow_ms(3500);
  Conn first(server.port());
  first.Send(kGetSlow);
  std::this_thread::sleep_for(milliseconds(100));
  Conn second(server.port());
  second.Send(kGetSlow);
  const std::string answer = second.Response(milliseconds(3000));
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 429 ")) << answer;
  EXPECT_NE(answer.find("Retry-After: 1"), std::string::npos) << answer;
  EXPECT_TRUE(first.Response().ends_with("slow"));
  EXPECT_EQ(server.http().refusals().busy, 1u);
}

TEST(EventServer, ConnectionsPerAddressAreBounded) {
  EventServer::Limits limits = Unlimited();
  limits.max_connections_per_address = 3;
  TestServer server(limits);
  std::vector<std::unique_ptr<Conn>> held;
  for (int i = 0; i < 3; ++i) held.push_back(std::make_unique<Conn>(server.port(), "127.0.0.5"));
  // The connections are counted once the loop accepted them: a request on each says so.
  for (auto& c : held) {
    c->Send("GET /fast HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_TRUE(c->Response().ends_with("fast"));
  }
  Conn fourth(server.port(), "127.0.0.5");
  const std::string refused = fourth.Response();
  EXPECT_TRUE(refused.starts_with("HTTP/1.1 503 ")) << refused;
  EXPECT_NE(refused.find("too_many_connections"), std::string::npos);
  Conn elsewhere(server.port(), "127.0.0.6");
  elsewhere.Send("GET /fast HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(elsewhere.Response().ends_with("fast"));
  // A closed connection gives its place back.
  held.pop_back();
  std::this_thread::sleep_for(milliseconds(200));
  Conn again(server.port(), "127.0.0.5");
  again.Send("GET /fast HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(again.Response().ends_with("fast"));
  EXPECT_EQ(server.http().refusals().connections, 1u);
}

TEST(EventServer, OversizedHeadsAreRefusedOnTheLoop) {
  TestServer server(Unlimited());
  Conn line(server.port());
  line.Send("GET /" + std::string(20000, 'a'));
  EXPECT_TRUE(line.Response().starts_with("HTTP/1.1 414 "));
  Conn headers(server.port());
  std::string head = "GET /fast HTTP/1.1\r\n";
  while (head.size() < 20000) head += "X-Filler: " + std::string(100, 'f') + "\r\n";
  headers.Send(head);
  EXPECT_TRUE(headers.Response().starts_with("HTTP/1.1 431 "));
}

// TLS: a certificate made for the test, the server's context, and clients that check the
// server against the certificate.
class TlsFiles {
 public:
  TlsFiles()
      : dir_(std::filesystem::temp_directory_path() /
             ("tessera_event_tls_" + std::to_string(::getpid()))) {
    std::filesystem::create_directories(dir_);
    test_support::WriteSelfSignedPair(cert(), key());
  }
  ~TlsFiles() { std::filesystem::remove_all(dir_); }
  TlsFiles(const TlsFiles&) = delete;
  TlsFiles& operator=(const TlsFiles&) = delete;

  std::string cert() const { return (dir_ / "cert.pem").string(); }
  std::string key() const { return (dir_ / "key.pem").string(); }
  std::unique_ptr<TlsContext> Context() const {
    auto tls = TlsContext::Create(cert(), key());
    EXPECT_TRUE(tls.ok()) << tls.status().ToString();
    return tls.ok() ? std::move(*tls) : nullptr;
  }
  std::unique_ptr<httplib::SSLClient> Client(int port) const {
    auto c = std::make_unique<httplib::SSLClient>("127.0.0.1", port);
    c->set_ca_cert_path(cert());
    c->enable_server_certificate_verification(true);
    c->set_read_timeout(10, 0);
    return c;
  }

 private:
  std::filesystem::path dir_;
};

// A raw TLS client connection (blocking), for requests no library client would send.
class TlsConn {
 public:
  // `max_version`: the newest TLS version the client offers (0: any); older ones than 1.2 are
  // offered at OpenSSL's security level 0, so that only the server can refuse them.
  TlsConn(int port, const std::string& ca_path, int max_version = 0)
      : ctx_(SSL_CTX_new(TLS_client_method())) {
    SSL_CTX_load_verify_locations(ctx_, ca_path.c_str(), nullptr);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    if (max_version != 0) {
      SSL_CTX_set_min_proto_version(ctx_, 0);
      SSL_CTX_set_max_proto_version(ctx_, max_version);
      SSL_CTX_set_security_level(ctx_, 0);
      SSL_CTX_set_cipher_list(ctx_, "DEFAULT:@SECLEVEL=0");
    }
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<uint16_t>(port));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    ERR_clear_error();
    connected_ = SSL_connect(ssl_) == 1;
    if (!connected_) error_ = ERR_GET_REASON(ERR_peek_error());
  }
  ~TlsConn() {
    SSL_free(ssl_);
    ::close(fd_);
    SSL_CTX_free(ctx_);
  }
  TlsConn(const TlsConn&) = delete;
  TlsConn& operator=(const TlsConn&) = delete;

  bool connected() const { return connected_; }
  int error() const { return error_; }  // OpenSSL's reason when the handshake failed
  void Send(std::string_view data) {
    ASSERT_EQ(SSL_write(ssl_, data.data(), static_cast<int>(data.size())),
              static_cast<int>(data.size()));
  }
  // Everything until the server closes the connection (or 10 s pass).
  std::string ReadAll() {
    std::string all;
    char buf[4096];
    int n;
    while ((n = SSL_read(ssl_, buf, sizeof buf)) > 0) all.append(buf, static_cast<size_t>(n));
    return all;
  }

 private:
  SSL_CTX* ctx_;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
  bool connected_ = false;
  int error_ = 0;
};

EventServer::Limits MegabyteBodies() {
  EventServer::Limits l = Unlimited();
  l.max_body_bytes = 1 << 20;
  return l;
}

TEST(EventServerTls, RequestsOfEveryKindAreAnsweredOverTls) {
  TlsFiles files;
  TestServer server(MegabyteBodies(), 2, 4, files.Context());
  auto client = files.Client(server.port());
  // On the loop and on a worker, one keep-alive connection for all.
  for (int i = 0; i < 20; ++i) {
    auto fast = client->Get("/fast");
    ASSERT_TRUE(fast) << httplib::to_string(fast.error());
    EXPECT_EQ(fast->body, "fast");
  }
  auto slow = client->Get("/slow");
  ASSERT_TRUE(slow);
  EXPECT_EQ(slow->body, "slow");
  // Pipelined in one TLS record, answered in order: the loop's, a worker's, the loop's.
  TlsConn pipelined(server.port(), files.cert());
  ASSERT_TRUE(pipelined.connected());
  pipelined.Send(
      "GET /fast HTTP/1.1\r\nHost: x\r\n\r\nGET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /fast HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const std::string answers = pipelined.ReadAll();
  const size_t first = answers.find("\r\n\r\nfast"), second = answers.find("\r\n\r\nslow"),
               third = answers.rfind("\r\n\r\nfast");
  EXPECT_TRUE(first != std::string::npos && first < second && second != std::string::npos &&
              second < third && third != first)
      << answers;
  // A body of many TLS records read on the loop, one streamed to its handler, and one over
  // the limit refused from the head.
  std::string body(700000, 'b');
  for (size_t i = 0; i < body.size(); i += 1000) body[i] = static_cast<char>('a' + i % 26);
  auto echo = client->Post("/echo", body, "text/plain");
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->body, "700000:" + body);
  auto upload = client->Post("/upload", std::string(3000000, 'u'), "text/plain");
  ASSERT_TRUE(upload);
  EXPECT_EQ(upload->body, "uploaded 3000000");
  TlsConn too_large(server.port(), files.cert());
  ASSERT_TRUE(too_large.connected());
  too_large.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2097152\r\n\r\n");
  const std::string refused = too_large.ReadAll();
  EXPECT_TRUE(refused.starts_with("HTTP/1.1 413 ")) << refused;
  EXPECT_EQ(server.http().refusals().too_large, 1u);
}

TEST(EventServerTls, AClientStillSendingARefusedBodyReadsTheRefusal) {
  // Without "Expect: 100-continue" a client sends the whole body before it reads; were the
  // connection closed with the body unread, the reset would lose it the 413.
  TlsFiles files;
  TestServer server(MegabyteBodies(), 2, 4, files.Context());
  TestServer plain_server(MegabyteBodies());
  const std::string body(3 << 20, 'x');
  for (int i = 0; i < 3; ++i) {
    auto tls = files.Client(server.port())->Post("/echo", body, "text/plain");
    ASSERT_TRUE(tls) << httplib::to_string(tls.error());
    EXPECT_EQ(tls->status, 413);
    httplib::Client plain("127.0.0.1", plain_server.port());
    auto answer = plain.Post("/echo", body, "text/plain");
    ASSERT_TRUE(answer) << httplib::to_string(answer.error());
    EXPECT_EQ(answer->status, 413);
  }
}

TEST(EventServerTls, SlowTlsBodiesDoNotHoldTheWorkersAndTimeOut) {
  TlsFiles files;
  TestServer server(MegabyteBodies(), /*read_timeout_seconds=*/2, /*workers=*/4, files.Context());
  std::vector<std::unique_ptr<TlsConn>> slow;
  for (int i = 0; i < 12; ++i) {
    slow.push_back(std::make_unique<TlsConn>(server.port(), files.cert()));
    ASSERT_TRUE(slow.back()->connected());
    slow.back()->Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789");
  }
  std::this_thread::sleep_for(milliseconds(200));
  const auto start = Clock::now();
  auto answer = files.Client(server.port())->Get("/slow");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->body, "slow");
  EXPECT_LT(Clock::now() - start, milliseconds(1500));
  for (auto& c : slow) {
    const std::string late = c->ReadAll();
    EXPECT_TRUE(late.starts_with("HTTP/1.1 408 ")) << late;
  }
  EXPECT_EQ(server.http().refusals().timeout, 12u);
}

TEST(EventServerTls, AWriteToAClientThatHasGoneFailsWithoutSigpipe) {
  TlsFiles files;
  TestServer server(MegabyteBodies(), 2, 4, files.Context());
  // As a shell started from a terminal leaves it: SIGPIPE ends the process. (cpp-httplib
  // ignores it process-wide from some of its calls, the server's own not all of them.)
  auto* const previous = ::signal(SIGPIPE, SIG_DFL);
  TlsConn c(server.port(), files.cert());
  ASSERT_TRUE(c.connected());
  c.Send("GET /pipe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const std::string answer = c.ReadAll();
  ::signal(SIGPIPE, previous);
  EXPECT_TRUE(answer.ends_with("\r\n\r\nEPIPE")) << answer;
}

TEST(EventServerTls, PlainHttpOldTlsAndSilentHandshakesAreRefused) {
  TlsFiles files;
  TestServer server(MegabyteBodies(), /*read_timeout_seconds=*/2, 4, files.Context());
  Conn plain(server.port());
  plain.Send("GET /fast HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string answer = plain.Response();
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 400 ")) << answer;
  EXPECT_NE(answer.find("\"https_required\""), std::string::npos) << answer;
  EXPECT_EQ(answer.find("fast"), std::string::npos) << answer;
  EXPECT_TRUE(plain.ClosedByPeer());

  TlsConn tls11(server.port(), files.cert(), TLS1_1_VERSION);
  EXPECT_FALSE(tls11.connected());
  EXPECT_EQ(tls11.error(), SSL_R_TLSV1_ALERT_PROTOCOL_VERSION);  // the server's alert
  TlsConn tls12(server.port(), files.cert(), TLS1_2_VERSION);
  EXPECT_TRUE(tls12.connected());

  const auto start = Clock::now();
  Conn silent(server.port());
  EXPECT_TRUE(silent.ClosedByPeer(milliseconds(5000)));
  EXPECT_GE(Clock::now() - start, milliseconds(1900));
  EXPECT_EQ(server.http().refusals().tls, 3u);
}

}  // namespace
}  // namespace tessera::server::internal
