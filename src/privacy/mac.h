#pragma once

// HMAC-SHA256 and HKDF-SHA256 (OpenSSL 3), the two primitives every key of Tessera comes
// from; general over key, salt and info so that the RFC 4231 and RFC 5869 vectors test them
// (privacy_test.cc). Internal to the privacy module.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "tessera/common/status.h"

namespace tessera::privacy::internal {

// The 32-byte MAC. Errors: kInternal when OpenSSL lacks HMAC-SHA256.
StatusOr<std::string> HmacSha256(std::span<const uint8_t> key, std::string_view data);

// RFC 5869 extract-and-expand into `out` (at most 255 * 32 bytes). Errors: kInternal.
Status HkdfSha256(std::span<const uint8_t> ikm, std::string_view salt, std::string_view info,
                  std::span<uint8_t> out);

}  // namespace tessera::privacy::internal
