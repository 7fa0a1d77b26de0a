#pragma once

// The hashing core behind hash_to_group.h, internal to the collab module: expand_message_xmd
// general over the hash (so that the RFC 9380 SHA-256 vectors, including the oversize-DST ones,
// test the same code as SHA-512) and over a message given in parts (so that callers hash
// "kind ‖ identifier" or "seed ‖ len ‖ info ‖ counter" without building the concatenation).

#include <openssl/evp.h>

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string_view>

#include "tessera/collab/group.h"
#include "tessera/common/status.h"

namespace tessera::collab::internal {

// SHA-512 and SHA-256 from OpenSSL's default provider, fetched once; nullptr if unavailable.
const EVP_MD* Sha512Md();
const EVP_MD* Sha256Md();

// RFC 9380 section 5.3.1 (and 5.3.3 for a DST over 255 bytes) with hash `md` on the message
// msg_parts[0] ‖ msg_parts[1] ‖ ..., into `out`. Errors: as ExpandMessageXmdSha512.
Status ExpandMessageXmd(const EVP_MD* md, std::initializer_list<std::string_view> msg_parts,
                        std::string_view dst, std::span<uint8_t> out);

// SHA-512 of the concatenation of `parts`. Errors: kInternal if OpenSSL lacks SHA-512.
Status Sha512(std::initializer_list<std::string_view> parts, std::span<uint8_t, 64> out);

// expand_message_xmd(SHA-512, 64 bytes) reduced modulo the group order, which may be zero
// (DeriveKeyPair of RFC 9497 retries on zero instead of failing). Errors: as ExpandMessageXmd.
Status HashToScalarBytes(std::initializer_list<std::string_view> msg_parts, std::string_view dst,
                         std::span<uint8_t, 32> out);

// hash_to_ristretto255 of msg_parts[0] ‖ msg_parts[1] ‖ ... Errors: as HashToGroup.
StatusOr<Point> HashToGroupParts(std::initializer_list<std::string_view> msg_parts,
                                 std::string_view dst);

// The bytes of `data` as a string_view, for feeding binary data to the functions above.
inline std::string_view AsText(std::span<const uint8_t> data) {
  return {reinterpret_cast<const char*>(data.data()), data.size()};
}

// libsodium's one-time initialization (thread-safe, idempotent).
// Errors: kInternal if libsodium cannot initialize.
Status EnsureSodium();

}  // namespace tessera::collab::internal
