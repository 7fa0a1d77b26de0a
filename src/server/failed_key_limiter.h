#pragma once

// Brute force against API keys: wrong keys are counted per client address, and an address
// that sent too many in a window is refused (429) for a while, good keys included, so that a
// guess cannot be told right from wrong. IPv6 addresses count by their /64, which one client
// usually holds whole.
//
// Internal to the server module.

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace tessera::server::internal {

// Thread-safe.
class FailedKeyLimiter {
 public:
  struct Options {
    // Wrong keys an address may send in one window; 0: no limit. The address that sends the
    // last of them waits a whole window from then.
    int max_failures = 20;
    int64_t window_ns = int64_t{60} * 1000000000;
    // Addresses tracked at once; when all are in a live window, new ones are not tracked
    // (memory stays bounded; such an attacker has that many addresses anyway).
    size_t max_addresses = 100000;
  };

  explicit FailedKeyLimiter(Options options) : options_(options) {}
  FailedKeyLimiter(const FailedKeyLimiter&) = delete;
  FailedKeyLimiter& operator=(const FailedKeyLimiter&) = delete;

  // Whole seconds (at least 1) until `address` may present a key again; 0 when it may now.
  // Counts a refusal when not 0. `now_ns`: a steady clock.
  int64_t RetryAfterSeconds(std::string_view address, int64_t now_ns);
  // Counts a wrong key from `address`.
  void RecordFailure(std::string_view address, int64_t now_ns);

  uint64_t failures() const;  // wrong keys counted
  uint64_t refusals() const;  // requests refused while their address waited

 private:
  struct Entry {
    int64_t window_start_ns = 0;
    int failures = 0;
    int64_t blocked_until_ns = 0;  // 0: not blocked
  };

  bool Expired(const Entry& e, int64_t now_ns) const;

  const Options options_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> by_address_;  // GUARDED_BY(mu_)
  uint64_t failures_ = 0, refusals_ = 0;               // GUARDED_BY(mu_)
};

// The client an address counts as: the address itself, or an IPv6 address's /64 prefix.
std::string ClientOfAddress(std::string_view address);

}  // namespace tessera::server::internal
