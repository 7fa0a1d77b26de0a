#pragma once

// Byte strings written as hex in the collab tests, in the layouts the RFCs print them
// (blank-separated groups of digits are joined).

#include <gtest/gtest.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/privacy/order_token.h"

namespace tessera::collab::test {

// The bytes of `hex`, blanks ignored. Fails the test on a malformed literal.
inline std::vector<uint8_t> Bytes(std::string_view hex) {
  std::string digits;
  for (char c : hex) {
    if (c != ' ') digits.push_back(c);
  }
  auto decoded = privacy::HexDecode(digits);
  EXPECT_TRUE(decoded.ok()) << "bad hex literal in the test: " << hex;
  if (!decoded.ok()) return {};
  return std::vector<uint8_t>(decoded->begin(), decoded->end());
}

inline std::string Hex(std::span<const uint8_t> bytes) {
  return privacy::HexEncode(
      std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

// `hex` without blanks, for comparing with Hex().
inline std::string Digits(std::string_view hex) {
  std::string digits;
  for (char c : hex) {
    if (c != ' ') digits.push_back(c);
  }
  return digits;
}

inline std::string_view Text(std::span<const uint8_t> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

}  // namespace tessera::collab::test
