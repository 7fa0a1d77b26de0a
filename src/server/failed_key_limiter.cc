#include "server/failed_key_limiter.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

namespace tessera::server::internal {

std::string ClientOfAddress(std::string_view address) {
  std::string text(address);
  in6_addr a{};
  if (::inet_pton(AF_INET6, text.c_str(), &a) != 1 || IN6_IS_ADDR_V4MAPPED(&a)) return text;
  std::memset(a.s6_addr + 8, 0, 8);
  char out[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET6, &a, out, sizeof out);
  return std::string(out) + "/64";
}

bool FailedKeyLimiter::Expired(const Entry& e, int64_t now_ns) const {
  return e.blocked_until_ns != 0 ? now_ns >= e.blocked_until_ns
                                 : now_ns - e.window_start_ns >= options_.window_ns;
}

int64_t FailedKeyLimiter::RetryAfterSeconds(std::string_view address, int64_t now_ns) {
  if (options_.max_failures <= 0) return 0;
  std::lock_guard lock(mu_);
  auto it = by_address_.find(ClientOfAddress(address));
  if (it == by_address_.end()) return 0;
  if (Expired(it->second, now_ns)) {
    by_address_.erase(it);
    return 0;
  }
  if (it->second.blocked_until_ns == 0) return 0;
  ++refusals_;
  return std::max<int64_t>(1, (it->second.blocked_until_ns - now_ns + 999999999) / 1000000000);
}

void FailedKeyLimiter::RecordFailure(std::string_view address, int64_t now_ns) {
  std::lock_guard lock(mu_);
  ++failures_;
  if (options_.max_failures <= 0) return;
  const std::string client = ClientOfAddress(address);
  auto it = by_address_.find(client);
  if (it == by_address_.end()) {
    if (by_address_.size() >= options_.max_addresses) {
      std::erase_if(by_address_, [&](const auto& kv) { return Expired(kv.second, now_ns); });
      if (by_address_.size() >= options_.max_addresses) return;
    }
    it = by_address_.emplace(client, Entry{now_ns, 0, 0}).first;
  } else if (Expired(it->second, now_ns)) {
    it->second = Entry{now_ns, 0, 0};
  }
  Entry& e = it->second;
  if (++e.failures >= options_.max_failures && e.blocked_until_ns == 0) {
    e.blocked_until_ns = now_ns + options_.window_ns;
  }
}

uint64_t FailedKeyLimiter::failures() const {
  std::lock_guard lock(mu_);
  return failures_;
}

uint64_t FailedKeyLimiter::refusals() const {
  std::lock_guard lock(mu_);
  return refusals_;
}

}  // namespace tessera::server::internal
