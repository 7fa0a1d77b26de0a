// Destinations against a real receiver on loopback (httplib::Server, random port) that checks
// every signature, and against CSV drops; both stores. Generated orders -> store -> snapshot
// -> delivery; a second snapshot with a known change of one segment.

#include "tessera/destinations/destinations.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "audience/test_support.h"
#include "destinations/delivery.h"
#include "tessera/analytics/snapshots.h"
#include "tessera/audience/audience_store.h"
#include "tessera/audience/audiences.h"
#include "tessera/audience/expression.h"
#include "tessera/audience/index.h"

namespace tessera::destinations {
namespace {

using store::Backend;
namespace fs = std::filesystem;

constexpr char kSecretVar[] = "TESSERA_TEST_WEBHOOK_SECRET";
constexpr char kSecret[] = "whsec_test_0123456789abcdef";

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::set<std::string> UuidLines(const std::string& text) {
  std::set<std::string> out;
  std::istringstream in(text);
  std::string line;
  bool header = true;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (header) {
      EXPECT_EQ(line, "uuid");
      header = false;
      continue;
    }
    out.insert(line);
  }
  return out;
}

// A webhook receiver: verifies each request's signature (a request with a bad one is answered
// 401 and counted as bad), records it, and answers with the scripted statuses (then 200).
class Receiver {
 public:
  struct Request {
    std::string key;
    nlohmann::json body;
  };
  struct Answer {
    int status = 200;
    std::string retry_after;
  };

  // `answer`, when given, answers every request instead (nothing is recorded).
  explicit Receiver(httplib::Server::Handler answer = nullptr) {
    if (answer) server_.Post("/hook", std::move(answer));
    server_.Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_.load()));
      std::lock_guard<std::mutex> lock(mutex_);
      const std::string sig = req.get_header_value("X-Tessera-Signature");
      // t=<unix>,v1=<hex>: recompute over "t.body" with the shared secret.
      const size_t comma = sig.find(",v1=");
      const bool shaped = sig.starts_with("t=") && comma != std::string::npos;
      const int64_t t = shaped ? std::stoll(sig.substr(2, comma - 2)) : 0;
      if (!shaped || SignatureHeader(kSecret, t, req.body) != sig) {
        ++bad_signatures_;
        res.status = 401;
        return;
      }
      requests_.push_back(
          {req.get_header_value("X-Tessera-Delivery"), nlohmann::json::parse(req.body)});
      Answer a;
      if (!answers_.empty()) {
        a = answers_.front();
        answers_.pop_front();
      }
      res.status = a.status;
      if (!a.retry_after.empty()) res.set_header("Retry-After", a.retry_after);
      res.set_content("{}", "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~Receiver() {
    server_.stop();
    thread_.join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }
  // Answers each request only after `delay` (a slow receiver).
  void SlowDown(std::chrono::milliseconds delay) { delay_ms_ = delay.count(); }
  void Script(std::vector<Answer> answers) {
    std::lock_guard<std::mutex> lock(mutex_);
    answers_.assign(answers.begin(), answers.end());
  }
  std::vector<Request> requests() {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
  }
  int bad_signatures() {
    std::lock_guard<std::mutex> lock(mutex_);
    return bad_signatures_;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mutex_;
  std::atomic<int64_t> delay_ms_{0};
  std::deque<Answer> answers_;
  std::vector<Request> requests_;
  int bad_signatures_ = 0;
};

// A receiver on a plain socket that reads a request's head and answers one byte every `gap`:
// each read of the client's ends well within its timeout, the answer as a whole takes seconds.
// One connection at a time.
class TricklingReceiver {
 public:
  explicit TricklingReceiver(std::chrono::milliseconds gap) : gap_(gap) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len), 0);
    EXPECT_EQ(::listen(listen_fd_, 8), 0);
    EXPECT_EQ(::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~TricklingReceiver() {
    stop_ = true;
    thread_.join();
    ::close(listen_fd_);
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }
  int connections() const { return connections_; }

 private:
  void Serve() {
    const std::string answer =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      ++connections_;
      std::string head;
      char buf[4096];
      while (head.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) break;
        head.append(buf, static_cast<size_t>(n));
      }
      for (char c : answer) {
        if (stop_ || ::send(fd, &c, 1, MSG_NOSIGNAL) != 1) break;
        std::this_thread::sleep_for(gap_);
      }
      ::close(fd);
    }
  }

  const std::chrono::milliseconds gap_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
};

std::set<std::string> Strings(const nlohmann::json& array) {
  std::set<std::string> out;
  for (const auto& v : array) out.insert(v.get<std::string>());
  return out;
}

std::set<std::string> Strings(const std::vector<privacy::Uuid>& uuids) {
  std::set<std::string> out;
  for (const auto& u : uuids) out.insert(u.ToString());
  return out;
}

class DestinationsTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    TESSERA_SKIP_WITHOUT_POSTGRES(GetParam());
    ::setenv(kSecretVar, kSecret, 1);
    dir_ = audience::testing::TestDir();
    const std::string csv = audience::testing::GenerateCsv(dir_, 400, 10, 23);
    location_ = GetParam() == Backend::kSqlite
                    ? (dir_ / "store.db").string()
                    : stores_.NewLocation(Backend::kPostgres, "destinations");
    store_ = audience::testing::LoadAndSnapshot(location_, csv);
    ASSERT_NE(store_, nullptr);
    ASSERT_TRUE(audience::SetMinExportSize(*store_, audience::testing::TestKey(), 1).ok());
    policy_.initial_backoff = std::chrono::milliseconds(100);
    policy_.max_backoff = std::chrono::milliseconds(5000);
    policy_.max_attempts = 3;
    policy_.timeout = std::chrono::milliseconds(2000);
    policy_.sleep = [this](std::chrono::milliseconds ms) { waits_.push_back(ms.count()); };
  }

  // The members of `key` at the newest snapshot.
  std::set<std::string> Segment(const std::string& key) {
    auto m = CurrentMembers(*store_, *Follows::Parse("segment:" + key), nullptr);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? Strings(m->uuids) : std::set<std::string>();
  }

  // Keeps a second snapshot like the newest, but with `moved_out` members of `key` moved to
  // another segment and `moved_in` customers of other segments moved into it; sets them.
  void SnapshotWithKnownChange(const std::string& key, int moved_out, int moved_in) {
    auto s = analytics::LoadSnapshot(*store_, 0, true);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    int target = -1, other = -1;
    for (size_t i = 0; i < s->segments.size(); ++i) {
      if (s->segments[i].key == key) target = static_cast<int>(i);
    }
    ASSERT_GE(target, 0);
    other = target == 0 ? 1 : 0;
    left_.clear();
    entered_.clear();
    for (auto& p : s->profiles) {
      const std::string u = s->uuids[p.customer].ToString();
      if (p.segment == target && static_cast<int>(left_.size()) < moved_out) {
        p.segment = static_cast<uint16_t>(other);
        left_.insert(u);
      } else if (p.segment != target && static_cast<int>(entered_.size()) < moved_in) {
        p.segment = static_cast<uint16_t>(target);
        entered_.insert(u);
      }
    }
    auto id = analytics::SnapshotStore(*store_).Save(s->info, s->segments, s->profiles, s->uuids);
    ASSERT_TRUE(id.ok()) << id.status().ToString();
  }

  Destination Webhook(const std::string& name, const std::string& url,
                      const std::string& follows = "segment:champions") {
    Destination d;
    d.name = name;
    d.kind = DestinationKind::kWebhook;
    d.follows = follows;
    d.url = url;
    d.secret_env = kSecretVar;
    return d;
  }

  StatusOr<DestinationRun> Run(const std::string& name) { return Run(name, *store_); }
  StatusOr<DestinationRun> Run(const std::string& name, store::Store& store) {
    DeliverOptions options;
    options.policy = policy_;
    auto runs = DeliverAll(store, {name}, options);
    if (!runs.ok()) return runs.status();
    EXPECT_EQ(runs->size(), 1u);
    return (*runs)[0];
  }

  store::TestStores stores_;
  fs::path dir_;
  std::string location_;
  std::unique_ptr<store::Store> store_;
  DeliveryPolicy policy_;
  std::vector<int64_t> waits_;
  std::set<std::string> entered_, left_;
};

INSTANTIATE_TEST_SUITE_P(Backends, DestinationsTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         store::BackendName);

TEST_P(DestinationsTest, AWebhookGetsEveryoneFirstThenWhoEnteredAndWhoLeft) {
  Receiver receiver;
  ASSERT_TRUE(AddDestination(*store_, Webhook("crm-hook", receiver.url())).ok());
  const std::set<std::string> champions = Segment("champions");
  ASSERT_GT(champions.size(), 5u);

  auto first = Run("crm-hook");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_TRUE(first->status.ok()) << first->status.ToString();
  ASSERT_EQ(first->deliveries.size(), 1u);
  EXPECT_EQ(first->deliveries[0].status, DeliveryStatus::kDelivered);
  auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(receiver.bad_signatures(), 0);
  const auto& body = requests[0].body;
  EXPECT_EQ(body["destination"], "crm-hook");
  EXPECT_EQ(body["follows"], "segment:champions");
  EXPECT_EQ(body["snapshot_id"], 1);
  EXPECT_EQ(Strings(body["entered"]), champions);
  EXPECT_TRUE(body["left"].empty());
  EXPECT_EQ(requests[0].key, body["delivery_id"].get<std::string>() + "-1");

  SnapshotWithKnownChange("champions", 3, 2);
  auto second = Run("crm-hook");
  ASSERT_TRUE(second.ok() && second->status.ok());
  requests = receiver.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[1].body["snapshot_id"], 2);
  EXPECT_EQ(Strings(requests[1].body["entered"]), entered_);
  EXPECT_EQ(Strings(requests[1].body["left"]), left_);
  EXPECT_NE(requests[1].body["delivery_id"], requests[0].body["delivery_id"]);
  ASSERT_EQ(second->deliveries.size(), 1u);
  EXPECT_EQ(second->deliveries[0].entered, 2u);
  EXPECT_EQ(second->deliveries[0].left, 3u);

  // Nothing changed: nothing is sent, nothing logged.
  auto third = Run("crm-hook");
  ASSERT_TRUE(third.ok() && third->status.ok());
  EXPECT_TRUE(third->unchanged);
  EXPECT_EQ(receiver.requests().size(), 2u);
  auto log = DestinationStore(*store_).Log("crm-hook");
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(log->size(), 2u);
  EXPECT_EQ((*log)[0].snapshot_id, 2);  // newest first
  EXPECT_EQ((*log)[0].status, DeliveryStatus::kDelivered);
  EXPECT_FALSE((*log)[0].delivered_at.empty());

  auto baseline = DestinationStore(*store_).Baseline("crm-hook");
  ASSERT_TRUE(baseline.ok());
  EXPECT_EQ(Strings(*baseline), Segment("champions"));

  if (GetParam() == Backend::kSqlite) {  // the secret is nowhere in the store file
    store_.reset();
    for (const char* suffix : {"", "-wal"}) {
      EXPECT_EQ(ReadFile(location_ + suffix).find(kSecret), std::string::npos);
    }
  }
}

TEST_P(DestinationsTest, ARetryAfterA500CarriesTheSameDeliveryIdAndBody) {
  Receiver receiver;
  receiver.Script({{500, ""}, {200, ""}});
  ASSERT_TRUE(AddDestination(*store_, Webhook("hook", receiver.url())).ok());
  auto run = Run("hook");
  ASSERT_TRUE(run.ok() && run->status.ok()) << run->status.ToString();
  const auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 2u);  // the receiver got the first one, but answered 500
  EXPECT_EQ(requests[0].key, requests[1].key);
  EXPECT_EQ(requests[0].body, requests[1].body);
  EXPECT_EQ(run->deliveries[0].attempts, 2u);
  EXPECT_EQ(run->deliveries[0].status, DeliveryStatus::kDelivered);
  EXPECT_EQ(waits_, std::vector<int64_t>{100});
}

TEST_P(DestinationsTest, BackoffDoublesAndRetryAfterIsHonouredUpToTheCap) {
  Receiver receiver;
  receiver.Script({{503, ""}, {429, "2"}, {429, "3600"}, {502, ""}, {200, ""}});
  policy_.max_attempts = 5;
  ASSERT_TRUE(AddDestination(*store_, Webhook("hook", receiver.url())).ok());
  auto run = Run("hook");
  ASSERT_TRUE(run.ok() && run->status.ok()) << run->status.ToString();
  // 100 ms, then Retry-After 2 s, then 3600 s capped at 5 s, then the doubled backoff (800).
  EXPECT_EQ(waits_, (std::vector<int64_t>{100, 2000, 5000, 800}));
  EXPECT_EQ(run->deliveries[0].attempts, 5u);
}

// A server stopping during a minute's backoff (the schedule's destinations step on SIGTERM)
// does not wait it out: the wait ends, the delivery stays pending for the next run, which
// sends the same delivery.
TEST_P(DestinationsTest, AStopDuringTheBackoffEndsTheWaitAndKeepsTheDeliveryPending) {
  Receiver receiver;
  receiver.Script({{503, ""}});
  ASSERT_TRUE(AddDestination(*store_, Webhook("hook", receiver.url())).ok());
  policy_.sleep = nullptr;  // the real wait, in slices
  policy_.initial_backoff = std::chrono::milliseconds(60000);
  policy_.max_backoff = std::chrono::milliseconds(60000);
  const auto started = std::chrono::steady_clock::now();
  policy_.stopped = [started] {
    return std::chrono::steady_clock::now() - started > std::chrono::milliseconds(300);
  };
  auto run = Run("hook");
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->status.code(), StatusCode::kUnavailable) << run->status.ToString();
  EXPECT_NE(run->status.message().find("stays pending"), std::string::npos);
  EXPECT_LT(took, std::chrono::seconds(10));
  ASSERT_EQ(run->deliveries.size(), 1u);
  EXPECT_EQ(run->deliveries[0].status, DeliveryStatus::kPending);
  EXPECT_TRUE(DestinationStore(*store_).Baseline("hook")->empty());
  policy_.stopped = nullptr;
  auto next = Run("hook");
  ASSERT_TRUE(next.ok() && next->status.ok()) << next->status.ToString();
  const auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].key, requests[1].key);
  EXPECT_EQ(next->deliveries[0].status, DeliveryStatus::kDelivered);
}

TEST_P(DestinationsTest, ADeadDeliveryIsRetriedFirstByTheNextRunAndNothingIsSkipped) {
  Receiver receiver;
  receiver.Script({{503, ""}, {503, ""}, {503, ""}});
  ASSERT_TRUE(AddDestination(*store_, Webhook("hook", receiver.url())).ok());
  const std::set<std::string> champions = Segment("champions");
  auto run = Run("hook");
  ASSERT_TRUE(run.ok());
  EXPECT_FALSE(run->status.ok());
  EXPECT_NE(run->status.message().find("dead after 3 attempts"), std::string::npos)
      << run->status.message();
  ASSERT_EQ(run->deliveries.size(), 1u);
  EXPECT_EQ(run->deliveries[0].status, DeliveryStatus::kDead);
  EXPECT_EQ(run->deliveries[0].last_error, "batch 1 of 1: the receiver answered HTTP 503");
  EXPECT_TRUE(DestinationStore(*store_).Baseline("hook")->empty());  // not advanced
  const std::string dead_key = receiver.requests()[0].key;

  // A new snapshot meanwhile; the receiver is back.
  SnapshotWithKnownChange("champions", 2, 4);
  auto next = Run("hook");
  ASSERT_TRUE(next.ok() && next->status.ok()) << next->status.ToString();
  ASSERT_EQ(next->deliveries.size(), 2u);
  EXPECT_EQ(next->deliveries[0].status, DeliveryStatus::kDelivered);
  EXPECT_EQ(next->deliveries[0].attempts, 4u);
  EXPECT_EQ(next->deliveries[1].snapshot_id, 2);
  const auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 5u);
  EXPECT_EQ(requests[3].key, dead_key);  // the same delivery, the same content
  EXPECT_EQ(Strings(requests[3].body["entered"]), champions);
  EXPECT_EQ(Strings(requests[4].body["entered"]), entered_);
  EXPECT_EQ(Strings(requests[4].body["left"]), left_);
  EXPECT_EQ(Strings(*DestinationStore(*store_).Baseline("hook")), Segment("champions"));
}

TEST_P(DestinationsTest, A400IsDeadAtOnceWithTheReasonAndRetryRecoversIt) {
  Receiver receiver;
  receiver.Script({{400, ""}});
  ASSERT_TRUE(AddDestination(*store_, Webhook("hook", receiver.url())).ok());
  auto run = Run("hook");
  ASSERT_TRUE(run.ok());
  ASSERT_EQ(run->deliveries.size(), 1u);
  EXPECT_EQ(run->deliveries[0].status, DeliveryStatus::kDead);
  EXPECT_EQ(run->deliveries[0].attempts, 1u);
  EXPECT_NE(run->deliveries[0].last_error.find("HTTP 400"), std::string::npos);
  EXPECT_TRUE(waits_.empty());

  DeliverOptions options;
  options.policy = policy_;
  auto retried = RetryOutstanding(*store_, "hook", options);
  ASSERT_TRUE(retried.ok() && retried->status.ok()) << retried->status.ToString();
  ASSERT_EQ(retried->deliveries.size(), 1u);
  EXPECT_EQ(retried->deliveries[0].status, DeliveryStatus::kDelivered);
  EXPECT_EQ(retried->deliveries[0].attempts, 2u);
  auto again = RetryOutstanding(*store_, "hook", options);  // nothing outstanding
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->unchanged);
  EXPECT_EQ(receiver.requests().size(), 2u);
}

TEST_P(DestinationsTest, AReceiverThatIsDownMakesTheDeliveryDeadAfterTheAttempts) {
  int port = 0;
  {
    Receiver gone;  // a port that was just free; nothing listens on it any more
    port = std::stoi(gone.url().substr(17, gone.url().find('/', 17) - 17));
  }
  ASSERT_TRUE(
      AddDestination(*store_, Webhook("hook", "http://127.0.0.1:" + std::to_string(port) + "/hook"))
          .ok());
  auto run = Run("hook");
  ASSERT_TRUE(run.ok());
  ASSERT_EQ(run->deliveries.size(), 1u);
  EXPECT_EQ(run->deliveries[0].status, DeliveryStatus::kDead);
  EXPECT_EQ(run->deliveries[0].attempts, 3u);
  EXPECT_NE(run->deliveries[0].last_error.find("could not be reached"), std::string::npos);
  EXPECT_EQ(waits_, (std::vector<int64_t>{100, 200}));
}

TEST_P(DestinationsTest, AReceiverTricklingItsAnswerTimesOutWithinTheDeadline) {
  // 80 bytes at 100 ms each: 8 s an answer, while every single read takes 100 ms.
  TricklingReceiver receiver(std::chrono::milliseconds(100));
  policy_.timeout = std::chrono::milliseconds(300);
  policy_.max_attempts = 2;
  ASSERT_TRUE(AddDestination(*store_, Webhook("hook", receiver.url())).ok());
  const auto start = std::chrono::steady_clock::now();
  auto run = Run("hook");
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(run.ok());
  EXPECT_LT(took, policy_.max_attempts * 5 * policy_.timeout);
  EXPECT_FALSE(run->status.ok());
  ASSERT_EQ(run->deliveries.size(), 1u);
  EXPECT_EQ(run->deliveries[0].status, DeliveryStatus::kDead);
  EXPECT_EQ(run->deliveries[0].attempts, 2u);
  EXPECT_EQ(run->deliveries[0].last_error,
            "batch 1 of 1: the receiver did not answer within the 300 ms a request may take");
  EXPECT_EQ(waits_, std::vector<int64_t>{100});  // retried once, after the backoff
  EXPECT_EQ(receiver.connections(), 2);
  EXPECT_TRUE(DestinationStore(*store_).Baseline("hook")->empty());
  auto outstanding = DestinationStore(*store_).Outstanding("hook");
  ASSERT_TRUE(outstanding.ok() && outstanding->has_value());
  EXPECT_EQ((*outstanding)->status, DeliveryStatus::kDead);
}

TEST_P(DestinationsTest, AnEndlessAnswerIsReadOnlyUpToTheCapAndItsStatusCounts) {
  Receiver receiver([](const httplib::Request&, httplib::Response& res) {
    res.status = 200;
    res.set_chunked_content_provider("application/json", [](size_t, httplib::DataSink& sink) {
      const std::string chunk(16 * 1024, ' ');
      return sink.write(chunk.data(), chunk.size());
    });
  });
  ASSERT_TRUE(AddDestination(*store_, Webhook("hook", receiver.url())).ok());
  const auto start = std::chrono::steady_clock::now();
  auto run = Run("hook");
  ASSERT_TRUE(run.ok() && run->status.ok()) << run->status.ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, policy_.timeout);
  ASSERT_EQ(run->deliveries.size(), 1u);
  EXPECT_EQ(run->deliveries[0].status, DeliveryStatus::kDelivered);
  EXPECT_EQ(run->deliveries[0].attempts, 1u);
  EXPECT_EQ(Strings(*DestinationStore(*store_).Baseline("hook")), Segment("champions"));
}

// The schedule of `tessera serve` and a `tessera destination run` at once: two runs, each with
// its own store handle, while a dead delivery is outstanding and a new change waits behind it.
TEST_P(DestinationsTest, TwoRunsAtOnceSendEachDeliveryOnceAndOneSaysInProgressElsewhere) {
  Receiver receiver;
  receiver.Script({{503, ""}});
  policy_.max_attempts = 1;
  ASSERT_TRUE(AddDestination(*store_, Webhook("hook", receiver.url())).ok());
  auto dead = Run("hook");
  ASSERT_TRUE(dead.ok());
  ASSERT_EQ(dead->deliveries.size(), 1u);
  ASSERT_EQ(dead->deliveries[0].status, DeliveryStatus::kDead);
  SnapshotWithKnownChange("champions", 2, 3);
  policy_.max_attempts = 3;

  const size_t before = receiver.requests().size();
  receiver.SlowDown(std::chrono::milliseconds(400));
  auto other_store = store::Store::Open(location_, false);
  ASSERT_TRUE(other_store.ok()) << other_store.status().ToString();
  StatusOr<DestinationRun> runs[2] = {InternalError("not run"), InternalError("not run")};
  std::thread first([&] { runs[0] = Run("hook", *store_); });
  std::thread second([&] { runs[1] = Run("hook", **other_store); });
  first.join();
  second.join();

  // Each delivery id went out once: the dead one's, then the new change's.
  std::map<std::string, int> posts;
  const auto requests = receiver.requests();
  for (size_t i = before; i < requests.size(); ++i) ++posts[requests[i].key];
  ASSERT_EQ(posts.size(), 2u);
  EXPECT_TRUE(posts.contains(dead->deliveries[0].key + "-1"));
  for (const auto& [key, n] : posts) EXPECT_EQ(n, 1) << key;
  ASSERT_TRUE(runs[0].ok() && runs[1].ok());
  const int winner = runs[0]->deliveries.empty() ? 1 : 0;
  const DestinationRun& won = *runs[winner];
  const DestinationRun& skipped = *runs[1 - winner];
  EXPECT_TRUE(won.status.ok()) << won.status.ToString();
  ASSERT_EQ(won.deliveries.size(), 2u);
  EXPECT_EQ(won.deliveries[0].status, DeliveryStatus::kDelivered);
  EXPECT_EQ(won.deliveries[1].status, DeliveryStatus::kDelivered);
  EXPECT_TRUE(skipped.status.ok()) << skipped.status.ToString();
  EXPECT_TRUE(skipped.deliveries.empty());
  ASSERT_TRUE(skipped.elsewhere.has_value());
  EXPECT_NE(skipped.ToText().find("hook: in progress elsewhere (run "), std::string::npos)
      << skipped.ToText();

  // The log agrees: both delivered, none pending; the lease is given up.
  auto log = DestinationStore(*store_).Log("hook");
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(log->size(), 2u);
  for (const auto& d : *log) EXPECT_EQ(d.status, DeliveryStatus::kDelivered);
  EXPECT_EQ(Strings(*DestinationStore(*store_).Baseline("hook")), Segment("champions"));
  auto again = Run("hook");
  ASSERT_TRUE(again.ok() && again->status.ok());
  EXPECT_TRUE(again->unchanged);
  EXPECT_FALSE(again->elsewhere.has_value());
}

TEST_P(DestinationsTest, AKilledRunsLeaseRunsOutAndTheNextRunTakesOver) {
  Receiver receiver;
  ASSERT_TRUE(AddDestination(*store_, Webhook("hook", receiver.url())).ok());
  // A run that claimed the destination and was killed: its lease is never released.
  const Lease killed{"hook", "killed-run", std::chrono::milliseconds(300)};
  auto claimed = DestinationStore(*store_).Claim(killed);
  ASSERT_TRUE(claimed.ok() && !claimed->has_value());

  auto blocked = Run("hook");
  ASSERT_TRUE(blocked.ok() && blocked->status.ok());
  ASSERT_TRUE(blocked->elsewhere.has_value());
  EXPECT_EQ(blocked->elsewhere->holder, "killed-run");
  EXPECT_LE(blocked->elsewhere->remaining_ms, 300);
  EXPECT_TRUE(receiver.requests().empty());

  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  auto taken = Run("hook");
  ASSERT_TRUE(taken.ok() && taken->status.ok()) << taken->status.ToString();
  EXPECT_FALSE(taken->elsewhere.has_value());
  ASSERT_EQ(taken->deliveries.size(), 1u);
  EXPECT_EQ(taken->deliveries[0].status, DeliveryStatus::kDelivered);
  EXPECT_EQ(receiver.requests().size(), 1u);
  // The killed run, had it woken up, finds its lease gone and writes nothing.
  EXPECT_EQ(DestinationStore(*store_).Renew(killed).code(), StatusCode::kFailedPrecondition);
  const Lease removed{"no-such-hook", "a-run", std::chrono::seconds(10)};
  EXPECT_EQ(DestinationStore(*store_).Claim(removed).status().code(), StatusCode::kNotFound);
}

TEST_P(DestinationsTest, LargeChangesGoInBatchesEachWithItsOwnKeyAndResumeAfterAFailure) {
  Receiver receiver;
  receiver.Script({{200, ""}, {500, ""}});  // the second batch fails once
  Destination d = Webhook("hook", receiver.url(), "segment:champions");
  d.batch_size = 4;
  ASSERT_TRUE(AddDestination(*store_, d).ok());
  const std::set<std::string> champions = Segment("champions");
  const size_t batches = (champions.size() + 3) / 4;
  auto run = Run("hook");
  ASSERT_TRUE(run.ok() && run->status.ok()) << run->status.ToString();
  const auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), batches + 1);
  std::set<std::string> got, keys;
  for (const auto& r : requests) {
    EXPECT_LE(r.body["entered"].size(), 4u);
    EXPECT_EQ(r.body["batches"], batches);
    for (const auto& u : Strings(r.body["entered"])) got.insert(u);
    keys.insert(r.key);
  }
  EXPECT_EQ(got, champions);
  EXPECT_EQ(keys.size(), batches);  // batch 2 sent twice, under its own key both times
  EXPECT_EQ(requests[1].key, requests[2].key);
  EXPECT_NE(requests[0].key, requests[1].key);
  EXPECT_EQ(run->deliveries[0].attempts, batches + 1);
}

TEST_P(DestinationsTest, AnAudienceIsFollowedThroughTheAudienceIndex) {
  auto index = audience::BuildIndex(*store_);
  ASSERT_TRUE(index.ok());
  const std::string expression = "segment in ['champions', 'loyal'] and orders >= 2";
  ASSERT_TRUE(audience::SaveAudience(*store_, *index, "vips", expression, false).ok());
  auto e = audience::Expression::Parse(expression, *index);
  ASSERT_TRUE(e.ok());
  auto uuids = store_->CustomerPseudonyms();
  ASSERT_TRUE(uuids.ok());
  std::set<std::string> expected;
  for (uint32_t c : e->Evaluate().ToVector()) expected.insert((*uuids)[c].ToString());

  Receiver receiver;
  ASSERT_TRUE(AddDestination(*store_, Webhook("hook", receiver.url(), "audience:vips")).ok());
  DeliverOptions options;
  options.policy = policy_;
  options.index = &*index;
  auto runs = DeliverAll(*store_, {}, options);
  ASSERT_TRUE(runs.ok() && (*runs)[0].status.ok()) << (*runs)[0].status.ToString();
  ASSERT_EQ(receiver.requests().size(), 1u);
  EXPECT_EQ(Strings(receiver.requests()[0].body["entered"]), expected);

  // An audience deleted after the destination was added: the run says so.
  EXPECT_EQ(AddDestination(*store_, Webhook("other", receiver.url(), "audience:nope")).code(),
            StatusCode::kNotFound);
  ASSERT_TRUE(AddDestination(*store_, Webhook("other", receiver.url(), "audience:vips")).ok());
  ASSERT_TRUE(*audience::AudienceStore(*store_).Delete("vips"));
  auto missing = Run("other");
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status.code(), StatusCode::kNotFound);
}

TEST_P(DestinationsTest, TheMinimumExportSizeHoldsForDestinationsToo) {
  ASSERT_TRUE(audience::SetMinExportSize(*store_, audience::testing::TestKey(), 100000).ok());
  Receiver receiver;
  ASSERT_TRUE(AddDestination(*store_, Webhook("hook", receiver.url())).ok());
  auto run = Run("hook");
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->status.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(run->status.message().find("minimum export size 100000"), std::string::npos);
  EXPECT_EQ(run->ToText().rfind("hook: not delivered: segment:champions has ", 0), 0u);
  EXPECT_TRUE(receiver.requests().empty());
  EXPECT_TRUE(DestinationStore(*store_).Log("hook")->empty());
}

TEST_P(DestinationsTest, BelowTheMinimumWhoLeftIsDeliveredAndWhoEnteredIsHeldBack) {
  Receiver receiver;
  ASSERT_TRUE(AddDestination(*store_, Webhook("hook", receiver.url())).ok());
  const std::set<std::string> before = Segment("champions");
  ASSERT_GT(before.size(), 8u);
  auto first = Run("hook");
  ASSERT_TRUE(first.ok() && first->status.ok()) << first->status.ToString();

  // The segment shrinks by 3 (5 leave, 2 enter), below a minimum it met before.
  SnapshotWithKnownChange("champions", 5, 2);
  const std::set<std::string> entered = entered_, left = left_;
  ASSERT_TRUE(
      audience::SetMinExportSize(*store_, audience::testing::TestKey(), before.size() - 1).ok());
  auto shrunk = Run("hook");
  ASSERT_TRUE(shrunk.ok());
  EXPECT_EQ(shrunk->status.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(shrunk->status.message().find("who entered is held back"), std::string::npos)
      << shrunk->status.message();
  EXPECT_EQ(shrunk->held_back, 2u);
  ASSERT_EQ(shrunk->deliveries.size(), 1u);
  EXPECT_EQ(shrunk->deliveries[0].status, DeliveryStatus::kDelivered);
  EXPECT_EQ(shrunk->deliveries[0].entered, 0u);
  EXPECT_EQ(shrunk->deliveries[0].left, 5u);
  auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_TRUE(requests[1].body["entered"].empty());
  EXPECT_EQ(Strings(requests[1].body["left"]), left);
  // The baseline is what the receiver was told: the first members less who left.
  std::set<std::string> told = before;
  for (const auto& u : left) told.erase(u);
  EXPECT_EQ(Strings(*DestinationStore(*store_).Baseline("hook")), told);

  // Nothing new while it stays small: the held-back entrants are not sent, nothing is logged.
  auto again = Run("hook");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->held_back, 2u);
  EXPECT_TRUE(again->deliveries.empty());
  EXPECT_EQ(receiver.requests().size(), 2u);

  // Large enough again (the owner lowers the minimum): who entered meanwhile is delivered.
  ASSERT_TRUE(audience::SetMinExportSize(*store_, audience::testing::TestKey(), 1).ok());
  auto grown = Run("hook");
  ASSERT_TRUE(grown.ok() && grown->status.ok()) << grown->status.ToString();
  EXPECT_EQ(grown->held_back, 0u);
  requests = receiver.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(Strings(requests[2].body["entered"]), entered);
  EXPECT_TRUE(requests[2].body["left"].empty());
  EXPECT_EQ(Strings(*DestinationStore(*store_).Baseline("hook")), Segment("champions"));
  EXPECT_EQ(receiver.bad_signatures(), 0);
}

TEST_P(DestinationsTest, AMissingSecretSendsNothingAndKeepsTheDeliveryPending) {
  Receiver receiver;
  Destination d = Webhook("hook", receiver.url());
  d.secret_env = "TESSERA_TEST_UNSET_SECRET";
  ::unsetenv(d.secret_env.c_str());
  ASSERT_TRUE(AddDestination(*store_, d).ok());
  auto run = Run("hook");
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->status.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(run->status.message().find("TESSERA_TEST_UNSET_SECRET"), std::string::npos);
  EXPECT_TRUE(receiver.requests().empty());
  auto outstanding = DestinationStore(*store_).Outstanding("hook");
  ASSERT_TRUE(outstanding.ok() && outstanding->has_value());
  EXPECT_EQ((*outstanding)->status, DeliveryStatus::kPending);
  EXPECT_EQ((*outstanding)->attempts, 0u);
}

TEST_P(DestinationsTest, ACsvDropWritesBothFilesAtomicallyAndThenTheChange) {
  const fs::path out = dir_ / "drop";
  fs::create_directories(out);
  Destination d;
  d.name = "crm-drop";
  d.kind = DestinationKind::kCsv;
  d.follows = "segment:champions";
  d.dir = out.string();
  ASSERT_TRUE(AddDestination(*store_, d).ok());
  const std::set<std::string> champions = Segment("champions");
  auto run = Run("crm-drop");
  ASSERT_TRUE(run.ok() && run->status.ok()) << run->status.ToString();
  EXPECT_EQ(UuidLines(ReadFile(out / "crm-drop-1-entered.csv")), champions);
  EXPECT_TRUE(UuidLines(ReadFile(out / "crm-drop-1-left.csv")).empty());

  SnapshotWithKnownChange("champions", 1, 2);
  run = Run("crm-drop");
  ASSERT_TRUE(run.ok() && run->status.ok()) << run->status.ToString();
  EXPECT_EQ(UuidLines(ReadFile(out / "crm-drop-2-entered.csv")), entered_);
  EXPECT_EQ(UuidLines(ReadFile(out / "crm-drop-2-left.csv")), left_);
  std::set<std::string> files;
  for (const auto& e : fs::directory_iterator(out)) files.insert(e.path().filename().string());
  EXPECT_EQ(files, (std::set<std::string>{"crm-drop-1-entered.csv", "crm-drop-1-left.csv",
                                          "crm-drop-2-entered.csv", "crm-drop-2-left.csv"}));
}

TEST_P(DestinationsTest, ACsvDropIntoAReadOnlyFolderFailsClearlyAndKeepsTheBaseline) {
  fs::path out = dir_ / "read-only";
  fs::create_directories(out);
  ::chmod(out.c_str(), 0555);
  if (::geteuid() == 0) out = "/proc";  // root writes anywhere but there
  Destination d;
  d.name = "drop";
  d.kind = DestinationKind::kCsv;
  d.follows = "segment:champions";
  d.dir = out.string();
  ASSERT_TRUE(AddDestination(*store_, d).ok());
  auto run = Run("drop");
  ASSERT_TRUE(run.ok());
  EXPECT_FALSE(run->status.ok());
  EXPECT_NE(run->status.message().find("destination 'drop': cannot write " + out.string() +
                                       "/drop-1-entered.csv"),
            std::string::npos)
      << run->status.message();
  ASSERT_EQ(run->deliveries.size(), 1u);
  EXPECT_EQ(run->deliveries[0].status, DeliveryStatus::kPending);
  EXPECT_TRUE(DestinationStore(*store_).Baseline("drop")->empty());
  if (out != "/proc") {
    EXPECT_TRUE(fs::is_empty(out));  // no temporary file left
    ::chmod(out.c_str(), 0755);
  }
}

TEST_P(DestinationsTest, AddListAndRemove) {
  Receiver receiver;
  ASSERT_TRUE(AddDestination(*store_, Webhook("b-hook", receiver.url())).ok());
  EXPECT_EQ(AddDestination(*store_, Webhook("b-hook", receiver.url())).code(),
            StatusCode::kAlreadyExists);
  Destination csv;
  csv.name = "a-drop";
  csv.kind = DestinationKind::kCsv;
  csv.follows = "audience:vips";
  csv.dir = "/tmp";
  const Status no_audience = AddDestination(*store_, csv);
  EXPECT_EQ(no_audience.code(), StatusCode::kNotFound);
  EXPECT_NE(no_audience.message().find("no saved audience named 'vips'"), std::string::npos);
  auto index = audience::BuildIndex(*store_);
  ASSERT_TRUE(index.ok());
  ASSERT_TRUE(audience::SaveAudience(*store_, *index, "vips", "segment = 'champions'", false).ok());
  ASSERT_TRUE(AddDestination(*store_, csv).ok());
  const Status typo = AddDestination(*store_, Webhook("c-hook", receiver.url(), "segment:champs"));
  EXPECT_EQ(typo.code(), StatusCode::kNotFound);
  EXPECT_NE(typo.message().find("no segment 'champs'; its segments: champions, loyal"),
            std::string::npos)
      << typo.message();
  EXPECT_TRUE(AddDestination(*store_, Webhook("c-hook", receiver.url(), "segment:VIPs")).ok());
  auto list = DestinationStore(*store_).List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].name, "a-drop");
  EXPECT_EQ((*list)[1].secret_env, kSecretVar);
  ASSERT_TRUE(Run("b-hook").ok());
  EXPECT_TRUE(*DestinationStore(*store_).Remove("b-hook"));
  EXPECT_FALSE(*DestinationStore(*store_).Remove("b-hook"));
  EXPECT_TRUE(DestinationStore(*store_).Log("b-hook")->empty());
  EXPECT_TRUE(DestinationStore(*store_).Baseline("b-hook")->empty());
  EXPECT_EQ(Run("b-hook").status().code(), StatusCode::kNotFound);
}

// A known answer, computed once with
//   printf '%s' '1700000000.{"hello":"world"}' | openssl dgst -sha256 -hmac whsec_0123456789abcdef
TEST(SignatureHeader, MatchesOpenssl) {
  EXPECT_EQ(SignatureHeader("whsec_0123456789abcdef", 1700000000, R"({"hello":"world"})"),
            "t=1700000000,v1=27081fd1d84a8689b430c048f40cfc8f1b82009320edcd4d277d5ebf838bff42");
}

TEST(Diff, SaysWhoEnteredAndWhoLeft) {
  std::vector<privacy::Uuid> u(5);
  for (int i = 0; i < 5; ++i) u[i].bytes[0] = static_cast<uint8_t>(i);
  const ChangeSet c = Diff({u[0], u[1], u[2]}, {u[1], u[2], u[3], u[4]});
  EXPECT_EQ(c.entered, (std::vector<privacy::Uuid>{u[3], u[4]}));
  EXPECT_EQ(c.left, (std::vector<privacy::Uuid>{u[0]}));
  EXPECT_EQ(Diff({}, {u[0]}).entered.size(), 1u);
}

TEST(ValidateDestination, NamesTheRuleABadDestinationBreaks) {
  Destination d;
  d.name = "hook";
  d.follows = "segment:champions";
  d.url = "https://example.com/hook?token=abc";
  d.secret_env = "HOOK_SECRET";
  EXPECT_TRUE(ValidateDestination(d).ok());
  auto with = [&](auto change) {
    Destination e = d;
    change(e);
    return ValidateDestination(e);
  };
  EXPECT_NE(with([](Destination& e) { e.name = "../x"; }).message().find("destination name"),
            std::string::npos);
  EXPECT_NE(with([](Destination& e) { e.follows = "champions"; }).message().find("segment:<key>"),
            std::string::npos);
  EXPECT_NE(with([](Destination& e) { e.follows = "audience:"; }).message().find("empty"),
            std::string::npos);
  const Status ftp = with([](Destination& e) { e.url = "ftp://example.com/?token=abc"; });
  EXPECT_NE(ftp.message().find("http://"), std::string::npos);
  EXPECT_EQ(ftp.message().find("token"), std::string::npos);  // never the URL
  EXPECT_NE(with([](Destination& e) { e.secret_file = "/s"; }).message().find("exactly one"),
            std::string::npos);
  EXPECT_NE(with([](Destination& e) { e.secret_env = "s3cr3t=value!"; }).message().find("NAME"),
            std::string::npos);
  d.kind = DestinationKind::kCsv;
  EXPECT_NE(ValidateDestination(d).message().find("--dir"), std::string::npos);
}

TEST(SplitUrl, KeepsThePathAndQuery) {
  auto u = SplitUrl("http://127.0.0.1:8080/a/b?x=1");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->origin, "http://127.0.0.1:8080");
  EXPECT_EQ(u->path, "/a/b?x=1");
  EXPECT_EQ(SplitUrl("https://example.com")->path, "/");
  EXPECT_FALSE(SplitUrl("http:///x").ok());
  EXPECT_FALSE(SplitUrl("http://user:pw@example.com/").ok());
}

TEST(SplitUrl, PlainHttpOnlyToThisMachine) {
  for (const char* ok : {"http://127.0.0.1:9/h", "http://localhost/h", "http://[::1]:80/h",
                         "http://127.1.2.3/h", "https://crm.example.com/h"}) {
    EXPECT_TRUE(SplitUrl(ok).ok()) << ok;
  }
  for (const char* far : {"http://crm.example.com/h", "http://127.attacker.example/h",
                          "http://127.0.0.1.nip.io:8000/h", "http://10.0.0.1/h"}) {
    auto u = SplitUrl(far);
    ASSERT_FALSE(u.ok()) << far;
    EXPECT_NE(u.status().message().find("must be https://"), std::string::npos) << far;
  }
}

}  // namespace
}  // namespace tessera::destinations
