#include "server/failed_key_limiter.h"

#include <gtest/gtest.h>

namespace tessera::server::internal {
namespace {

constexpr int64_t kSecond = 1000000000;

FailedKeyLimiter::Options ThreeIn(int64_t window_seconds) {
  FailedKeyLimiter::Options o;
  o.max_failures = 3;
  o.window_ns = window_seconds * kSecond;
  return o;
}

TEST(FailedKeyLimiter, AnAddressWaitsAWholeWindowAfterItsLastAllowedFailure) {
  FailedKeyLimiter limiter(ThreeIn(60));
  int64_t now = 1000 * kSecond;
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(limiter.RetryAfterSeconds("203.0.113.7", now), 0);
    limiter.RecordFailure("203.0.113.7", now);
    now += kSecond;
  }
  EXPECT_EQ(limiter.RetryAfterSeconds("203.0.113.7", now), 0);
  limiter.RecordFailure("203.0.113.7", now);  // the third: blocked for 60 s from here
  EXPECT_EQ(limiter.RetryAfterSeconds("203.0.113.7", now), 60);
  EXPECT_EQ(limiter.RetryAfterSeconds("203.0.113.7", now + 59 * kSecond + 1), 1);
  EXPECT_EQ(limiter.RetryAfterSeconds("203.0.113.7", now + 60 * kSecond), 0);
  // Recovered: a fresh window.
  limiter.RecordFailure("203.0.113.7", now + 60 * kSecond);
  EXPECT_EQ(limiter.RetryAfterSeconds("203.0.113.7", now + 60 * kSecond), 0);
  EXPECT_EQ(limiter.failures(), 4u);
  EXPECT_EQ(limiter.refusals(), 2u);
}

TEST(FailedKeyLimiter, OtherAddressesAreNotAffected) {
  FailedKeyLimiter limiter(ThreeIn(60));
  for (int i = 0; i < 3; ++i) limiter.RecordFailure("203.0.113.7", kSecond);
  EXPECT_GT(limiter.RetryAfterSeconds("203.0.113.7", kSecond), 0);
  EXPECT_EQ(limiter.RetryAfterSeconds("203.0.113.8", kSecond), 0);
  EXPECT_EQ(limiter.RetryAfterSeconds("::1", kSecond), 0);
}

TEST(FailedKeyLimiter, FailuresSpreadOverMoreThanAWindowAreNotBlocked) {
  FailedKeyLimiter limiter(ThreeIn(10));
  for (int i = 0; i < 10; ++i) {
    const int64_t now = i * 6 * kSecond;  // two per window at most
    EXPECT_EQ(limiter.RetryAfterSeconds("198.51.100.1", now), 0) << i;
    limiter.RecordFailure("198.51.100.1", now);
  }
}

TEST(FailedKeyLimiter, AnIpv6ClientCountsByItsSlash64) {
  EXPECT_EQ(ClientOfAddress("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
  EXPECT_EQ(ClientOfAddress("::ffff:192.0.2.1"), "::ffff:192.0.2.1");
  EXPECT_EQ(ClientOfAddress("192.0.2.1"), "192.0.2.1");
  FailedKeyLimiter limiter(ThreeIn(60));
  limiter.RecordFailure("2001:db8:1:2::1", 0);
  limiter.RecordFailure("2001:db8:1:2::2", 0);
  limiter.RecordFailure("2001:db8:1:2:ffff::3", 0);
  EXPECT_GT(limiter.RetryAfterSeconds("2001:db8:1:2::99", 0), 0);
  EXPECT_EQ(limiter.RetryAfterSeconds("2001:db8:1:3::1", 0), 0);
}

TEST(FailedKeyLimiter, ZeroMeansNoLimitButFailuresAreStillCounted) {
  FailedKeyLimiter::Options o;
  o.max_failures = 0;
  FailedKeyLimiter limiter(o);
  for (int i = 0; i < 1000; ++i) limiter.RecordFailure("192.0.2.1", 0);
  EXPECT_EQ(limiter.RetryAfterSeconds("192.0.2.1", 0), 0);
  EXPECT_EQ(limiter.failures(), 1000u);
}

TEST(FailedKeyLimiter, MemoryStaysBoundedAndExpiredAddressesMakeRoom) {
  FailedKeyLimiter::Options o = ThreeIn(10);
  o.max_addresses = 2;
  FailedKeyLimiter limiter(o);
  for (int i = 0; i < 3; ++i) {
    limiter.RecordFailure("192.0.2.1", 0);
    limiter.RecordFailure("192.0.2.2", 0);
    limiter.RecordFailure("192.0.2.3", 0);  // no room: not tracked
  }
  EXPECT_GT(limiter.RetryAfterSeconds("192.0.2.1", 0), 0);
  EXPECT_EQ(limiter.RetryAfterSeconds("192.0.2.3", 0), 0);
  // Once the others' windows are over, a new address is tracked again.
  for (int i = 0; i < 3; ++i) limiter.RecordFailure("192.0.2.3", 11 * kSecond);
  EXPECT_GT(limiter.RetryAfterSeconds("192.0.2.3", 11 * kSecond), 0);
}

}  // namespace
}  // namespace tessera::server::internal
