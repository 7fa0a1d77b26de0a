#include "tessera/server/server.h"

#include <gtest/gtest.h>

namespace tessera::server {
namespace {

TEST(ListensBeyondLoopback, OnlyLoopbackAddressesAndLocalhostStayOnThisMachine) {
  for (const char* host : {"127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"}) {
    EXPECT_FALSE(ListensBeyondLoopback(host)) << host;
  }
  for (const char* host :
       {"0.0.0.0", "::", "[::]", "192.168.1.5", "10.0.0.1", "128.0.0.1", "tessera.example.org"}) {
    EXPECT_TRUE(ListensBeyondLoopback(host)) << host;
  }
}

}  // namespace
}  // namespace tessera::server
