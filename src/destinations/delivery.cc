#include "destinations/delivery.h"

#include <fcntl.h>
#include <httplib.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "tessera/common/http_error.h"
#include "tessera/common/text.h"
#include "tessera/privacy/order_token.h"

namespace tessera::destinations {

StatusOr<UrlParts> SplitUrl(const std::string& url) {
  const size_t scheme_end = url.find("://");
  const std::string scheme = scheme_end == std::string::npos ? "" : url.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") {
    return InvalidArgumentError("a webhook URL starts with http:// or https://");
  }
  const size_t host_start = scheme_end + 3;
  size_t path_start = url.find_first_of("/?", host_start);
  if (path_start == std::string::npos) path_start = url.size();
  if (path_start == host_start) return InvalidArgumentError("the webhook URL names no host");
  if (url.find('@', host_start) < path_start) {
    return InvalidArgumentError("a webhook URL with a user or password is not supported");
  }
  if (scheme == "http") {
    std::string_view host = std::string_view(url).substr(host_start, path_start - host_start);
    host =
        host.starts_with('[') ? host.substr(0, host.find(']') + 1) : host.substr(0, host.find(':'));
    if (!IsLoopbackHost(host)) {
      return InvalidArgumentError(
          "a webhook URL to another machine must be https:// (pseudonyms and the signature would "
          "cross the network in clear); http:// is for this machine only");
    }
  }
  UrlParts parts{url.substr(0, path_start), url.substr(path_start)};
  if (parts.path.empty() || parts.path[0] != '/') parts.path = "/" + parts.path;
  return parts;
}

uint32_t BatchCount(const Destination& d, const ChangeSet& change) {
  if (d.kind != DestinationKind::kWebhook) return 1;
  const uint64_t n = change.entered.size() + change.left.size();
  const uint64_t size = std::max<uint32_t>(d.batch_size, 1);
  return static_cast<uint32_t>(std::max<uint64_t>(1, (n + size - 1) / size));
}

std::string SignatureHeader(std::string_view secret, int64_t unix_time, std::string_view body) {
  const std::string message = std::to_string(unix_time) + "." + std::string(body);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &len);
  return fmt::format("t={},v1={}", unix_time,
                     privacy::HexEncode(std::string_view(reinterpret_cast<const char*>(mac), len)));
}

StatusOr<std::string> ReadSecret(const Destination& d) {
  std::string secret;
  if (!d.secret_env.empty()) {
    const char* v = std::getenv(d.secret_env.c_str());
    if (v == nullptr || *v == '\0') {
      return FailedPreconditionError(
          "destination '{}': the environment variable {} that holds its secret is not set", d.name,
          d.secret_env);
    }
    secret = v;
  } else {
    std::ifstream in(d.secret_file, std::ios::binary);
    if (!in) {
      return FailedPreconditionError("destination '{}': cannot read its secret file {}: {}", d.name,
                                     d.secret_file, std::strerror(errno));
    }
    std::ostringstream s;
    s << in.rdbuf();
    secret = s.str();
    while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  }
  if (secret.size() < 16) {
    return FailedPreconditionError(
        "destination '{}': its secret is shorter than 16 characters; use a long random one "
        "(e.g. `openssl rand -hex 32`)",
        d.name);
  }
  return secret;
}

namespace {

std::string BatchBody(const Destination& d, const Delivery& delivery, const ChangeSet& change,
                      uint32_t batch) {
  const uint64_t size = std::max<uint32_t>(d.batch_size, 1);
  const uint64_t total = change.entered.size() + change.left.size();
  const uint64_t begin = batch * size, end = std::min(total, begin + size);
  nlohmann::json entered = nlohmann::json::array(), left = nlohmann::json::array();
  for (uint64_t i = begin; i < end; ++i) {
    if (i < change.entered.size()) {
      entered.push_back(change.entered[i].ToString());
    } else {
      left.push_back(change.left[i - change.entered.size()].ToString());
    }
  }
  nlohmann::json j;
  j["destination"] = d.name;
  j["follows"] = d.follows;
  j["snapshot_id"] = delivery.snapshot_id;
  j["delivery_id"] = delivery.key;
  j["batch"] = batch + 1;
  j["batches"] = delivery.batches;
  j["entered"] = std::move(entered);
  j["left"] = std::move(left);
  return j.dump();
}

enum class Outcome { kAccepted, kRetry, kRefused };
struct Response {
  Outcome outcome;
  std::string error;
  std::optional<std::chrono::milliseconds> retry_after;
};

// The most of a response's body that is read: only its status and headers count.
constexpr size_t kMaxResponseBody = 64 * 1024;

// Stops `client` once `deadline` passes, again and again until destroyed (a stop before the
// connection exists does nothing to it): httplib's timeouts bound each read and write, not a
// request, so a receiver that trickles its answer would otherwise hold the run forever.
class Watchdog {
 public:
  Watchdog(httplib::Client& client, std::chrono::steady_clock::time_point deadline)
      : thread_([this, &client, deadline] {
          std::unique_lock<std::mutex> lock(mutex_);
          if (done_cv_.wait_until(lock, deadline, [this] { return done_; })) return;
          fired_ = true;
          do {
            client.stop();
          } while (
              !done_cv_.wait_for(lock, std::chrono::milliseconds(20), [this] { return done_; }));
        }) {}
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    done_cv_.notify_all();
    thread_.join();
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  bool fired() {
    std::lock_guard<std::mutex> lock(mutex_);
    return fired_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable done_cv_;
  bool done_ = false;   // guarded by mutex_
  bool fired_ = false;  // guarded by mutex_
  std::thread thread_;  // last: starts once the members it uses exist
};

Response Post(const UrlParts& url, const httplib::Headers& headers, const std::string& body,
              const DeliveryPolicy& policy) {
  httplib::Client client(url.origin);
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(policy.timeout).count();
  const auto usecs =
      std::chrono::duration_cast<std::chrono::microseconds>(policy.timeout).count() % 1000000;
  client.set_connection_timeout(secs, usecs);
  client.set_read_timeout(secs, usecs);
  client.set_write_timeout(secs, usecs);
  client.set_follow_location(false);
  httplib::Request req;
  req.method = "POST";
  req.path = url.path;
  req.headers = headers;
  req.headers.emplace("Content-Type", "application/json");
  req.body = body;
  // The status and headers are kept when they arrive; the body is read up to the cap, then
  // the request stops (httplib calls that "canceled") and the status counts.
  std::optional<httplib::Response> head;
  req.response_handler = [&](const httplib::Response& r) {
    head = r;
    return true;
  };
  size_t body_read = 0;
  bool capped = false;
  req.content_receiver = [&](const char*, size_t n, uint64_t, uint64_t) {
    body_read += n;
    capped = body_read > kMaxResponseBody;
    return !capped;
  };
  httplib::Response res;
  httplib::Error error = httplib::Error::Success;
  bool sent = false;
  bool timed_out = false;
  {
    Watchdog watchdog(client, std::chrono::steady_clock::now() + policy.timeout);
    sent = client.send(req, res, error);
    timed_out = watchdog.fired();
  }
  if (!sent && !(capped && head)) {
    if (timed_out) {
      return {Outcome::kRetry,
              fmt::format("the receiver did not answer within the {} ms a request may take",
                          policy.timeout.count()),
              std::nullopt};
    }
    return {Outcome::kRetry, "the receiver could not be reached: " + HttpErrorText(error),
            std::nullopt};
  }
  const httplib::Response& answer = head ? *head : res;
  const int code = answer.status;
  if (code >= 200 && code < 300) return {Outcome::kAccepted, "", std::nullopt};
  Response r;
  r.error = fmt::format("the receiver answered HTTP {}", code);
  if (code == 429 || code >= 500) {
    r.outcome = Outcome::kRetry;
    const std::string after = answer.get_header_value("Retry-After");
    char* end = nullptr;
    const long long seconds = std::strtoll(after.c_str(), &end, 10);
    if (!after.empty() && end != nullptr && *end == '\0' && seconds >= 0) {
      r.retry_after = std::chrono::seconds(seconds);
    }
  } else {
    r.outcome = Outcome::kRefused;
    if (code >= 300 && code < 400) r.error += " (a redirect; give the final URL)";
  }
  return r;
}

}  // namespace

Status SendWebhook(DestinationStore& ds, const Lease& lease, const Destination& d,
                   const ChangeSet& change, const DeliveryPolicy& policy, Delivery& delivery) {
  TESSERA_ASSIGN_OR_RETURN(const UrlParts url, SplitUrl(d.url));
  auto secret = ReadSecret(d);
  if (!secret.ok()) {
    // Not an attempt: nothing was sent. The delivery waits for the secret.
    delivery.last_error = secret.status().message();
    TESSERA_RETURN_IF_ERROR(ds.RecordAttempt(lease, delivery.id, delivery.attempts,
                                             delivery.batches_done, delivery.status,
                                             delivery.last_error));
    return secret.status();
  }
  uint32_t this_run = 0;
  std::chrono::milliseconds backoff = policy.initial_backoff;
  while (delivery.batches_done < delivery.batches) {
    const uint32_t batch = delivery.batches_done;
    const std::string body = BatchBody(d, delivery, change, batch);
    const std::string key = fmt::format("{}-{}", delivery.key, batch + 1);
    // Still this run's to send: a run that lost its lease (it was suspended past it, and
    // another run took over) must not send the batch a second time.
    TESSERA_RETURN_IF_ERROR(ds.Renew(lease));
    ++delivery.attempts;
    ++this_run;
    const httplib::Headers headers = {
        {"X-Tessera-Delivery", key},
        {"X-Tessera-Signature", SignatureHeader(*secret, policy.now(), body)},
        {"User-Agent", "tessera-destinations/1"}};
    const Response r = Post(url, headers, body, policy);
    if (r.outcome == Outcome::kAccepted) {
      ++delivery.batches_done;
      delivery.last_error.clear();
      delivery.status = DeliveryStatus::kPending;
      if (delivery.batches_done < delivery.batches) {
        TESSERA_RETURN_IF_ERROR(ds.RecordAttempt(lease, delivery.id, delivery.attempts,
                                                 delivery.batches_done, delivery.status, ""));
      }
      backoff = policy.initial_backoff;
      continue;
    }
    delivery.last_error = fmt::format("batch {} of {}: {}", batch + 1, delivery.batches, r.error);
    const bool dead = r.outcome == Outcome::kRefused || this_run >= policy.max_attempts;
    delivery.status = dead ? DeliveryStatus::kDead : DeliveryStatus::kPending;
    TESSERA_RETURN_IF_ERROR(ds.RecordAttempt(lease, delivery.id, delivery.attempts,
                                             delivery.batches_done, delivery.status,
                                             delivery.last_error));
    if (dead) {
      return UnavailableError("destination '{}': delivery {} is dead after {} attempt{}: {}",
                              d.name, delivery.id, delivery.attempts,
                              delivery.attempts == 1 ? "" : "s", delivery.last_error);
    }
    policy.sleep(std::min(r.retry_after.value_or(backoff), policy.max_backoff));
    if (policy.stopped && policy.stopped()) {
      return UnavailableError(
          "destination '{}': delivery {} stays pending for the next run (stopped while waiting "
          "to retry): {}",
          d.name, delivery.id, delivery.last_error);
    }
    backoff = std::min(backoff * 2, policy.max_backoff);
  }
  TESSERA_RETURN_IF_ERROR(ds.MarkDelivered(lease, delivery.id, delivery.attempts));
  delivery.status = DeliveryStatus::kDelivered;
  delivery.last_error.clear();
  return OkStatus();
}

namespace {

// Writes `text` to `path` through a temporary name beside it, checked at every step; the
// temporary file is removed on failure.
Status WriteAtomically(const std::string& path, const std::string& text, std::string* tmp_out) {
  const std::string tmp = fmt::format("{}.tmp-{}", path, ::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return PermissionDeniedError("cannot write {}: {}", path, std::strerror(errno));
  int err = 0;
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      err = errno;
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err != 0) {
    ::unlink(tmp.c_str());
    if (err == ENOSPC || err == EDQUOT) {
      return ResourceExhaustedError("cannot write {}: {}", path, std::strerror(err));
    }
    return InternalError("cannot write {}: {}", path, std::strerror(err));
  }
  *tmp_out = tmp;
  return OkStatus();
}

std::string UuidCsv(const std::vector<privacy::Uuid>& uuids) {
  std::string out = "uuid\r\n";
  out.reserve(out.size() + uuids.size() * 38);
  for (const auto& u : uuids) (out += u.ToString()) += "\r\n";
  return out;
}

}  // namespace

Status DropCsv(DestinationStore& ds, const Lease& lease, const Destination& d,
               const ChangeSet& change, const DeliveryPolicy& policy, Delivery& delivery) {
  std::string base = fmt::format("{}/{}-{}", d.dir, d.name, delivery.snapshot_id);
  // A second delivery for the same snapshot (a saved audience changed in between) never
  // replaces the first one's files, which a consumer may not have read yet.
  std::error_code ec;
  if (std::filesystem::exists(base + "-entered.csv", ec) ||
      std::filesystem::exists(base + "-left.csv", ec)) {
    base += fmt::format("-{}", delivery.id);
  }
  const std::string paths[2] = {base + "-entered.csv", base + "-left.csv"};
  const std::string texts[2] = {UuidCsv(change.entered), UuidCsv(change.left)};
  std::string tmps[2];
  Status written = OkStatus();
  for (int i = 0; i < 2 && written.ok(); ++i)
    written = WriteAtomically(paths[i], texts[i], &tmps[i]);
  for (int i = 0; i < 2 && written.ok(); ++i) {
    if (std::rename(tmps[i].c_str(), paths[i].c_str()) != 0) {
      written = InternalError("cannot write {}: {}", paths[i], std::strerror(errno));
    } else {
      tmps[i].clear();
    }
  }
  for (const auto& tmp : tmps) {
    if (!tmp.empty()) ::unlink(tmp.c_str());
  }
  // The renames are durable before the delivery is marked delivered.
  if (written.ok()) {
    const int dir_fd = ::open(d.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0 || ::fsync(dir_fd) != 0) {
      written = InternalError("cannot sync the folder {}: {}", d.dir, std::strerror(errno));
    }
    if (dir_fd >= 0) ::close(dir_fd);
  }
  ++delivery.attempts;
  if (!written.ok()) {
    delivery.last_error = written.message();
    delivery.status =
        delivery.attempts >= policy.max_attempts ? DeliveryStatus::kDead : DeliveryStatus::kPending;
    TESSERA_RETURN_IF_ERROR(ds.RecordAttempt(lease, delivery.id, delivery.attempts, 0,
                                             delivery.status, delivery.last_error));
    return written.WithContext(fmt::format("destination '{}'", d.name));
  }
  TESSERA_RETURN_IF_ERROR(ds.MarkDelivered(lease, delivery.id, delivery.attempts));
  delivery.status = DeliveryStatus::kDelivered;
  delivery.last_error.clear();
  return OkStatus();
}

std::string LogToTable(const std::vector<Delivery>& log) {
  std::string out =
      fmt::format("{:>5}  {:<20} {:>8} {:>8} {:>8} {:>8}  {:<9}  {:<20}  {}\n", "id", "destination",
                  "snapshot", "entered", "left", "attempts", "status", "updated", "last error");
  for (const auto& d : log) {
    out += fmt::format("{:>5}  {:<20} {:>8} {:>8} {:>8} {:>8}  {:<9}  {:<20}  {}\n", d.id,
                       d.destination, d.snapshot_id, d.entered, d.left, d.attempts,
                       StatusName(d.status), d.updated_at, d.last_error);
  }
  return out;
}

std::string LogToJson(const std::vector<Delivery>& log) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& d : log) {
    out.push_back({{"id", d.id},
                   {"destination", d.destination},
                   {"delivery_id", d.key},
                   {"snapshot_id", d.snapshot_id},
                   {"entered", d.entered},
                   {"left", d.left},
                   {"batches", d.batches},
                   {"batches_done", d.batches_done},
                   {"attempts", d.attempts},
                   {"status", StatusName(d.status)},
                   {"last_error", d.last_error},
                   {"created_at", d.created_at},
                   {"updated_at", d.updated_at},
                   {"delivered_at", d.delivered_at}});
  }
  return out.dump(2) + "\n";
}

std::string DestinationsToTable(const std::vector<Destination>& destinations) {
  std::string out = fmt::format("{:<20} {:<8} {:<30} {}\n", "name", "kind", "follows", "to");
  for (const auto& d : destinations) {
    const std::string to =
        d.kind == DestinationKind::kCsv
            ? d.dir
            : (SplitUrl(d.url).ok() ? SplitUrl(d.url)->origin + "/..." : std::string("?")) +
                  " secret " +
                  (d.secret_env.empty() ? "file " + d.secret_file : "env " + d.secret_env);
    out += fmt::format("{:<20} {:<8} {:<30} {}\n", d.name, KindName(d.kind), d.follows, to);
  }
  return out;
}

}  // namespace tessera::destinations
