#pragma once

// Hashing byte strings to ristretto255: expand_message_xmd with SHA-512 (RFC 9380 section
// 5.3.1), hash_to_ristretto255 (RFC 9380 Appendix B, suite
// "ristretto255_XMD:SHA-512_R255MAP_RO_") and hashing to a scalar (RFC 9497 section 4.1).
//
// Every function is pure and thread-safe.
//
// Privacy: messages may be identifiers (match_token.h hashes e-mails and phone numbers); nothing
// is kept, the intermediate hash blocks are wiped, and no error repeats a message.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "tessera/collab/group.h"
#include "tessera/common/status.h"

namespace tessera::collab {

// The suite identifier of RFC 9380 Appendix B for hash_to_ristretto255 with
// expand_message_xmd(SHA-512); protocols build their domain separation tags from it.
inline constexpr std::string_view kRistretto255Suite = "ristretto255_XMD:SHA-512_R255MAP_RO_";

// The largest output of expand_message_xmd with SHA-512: 255 blocks of 64 bytes.
inline constexpr size_t kMaxExpandBytes = 255 * 64;

// expand_message_xmd(msg, DST, out.size()) with H = SHA-512 (RFC 9380 section 5.3.1), written
// into `out`. A DST longer than 255 bytes is first replaced by
// SHA-512("H2C-OVERSIZE-DST-" || DST) (RFC 9380 section 5.3.3).
// Errors: kInvalidArgument for an empty DST (RFC 9380 section 3.1: tags MUST have nonzero
// length), an empty `out`, or more than kMaxExpandBytes requested (ell > 255); kInternal if
// OpenSSL lacks SHA-512.
Status ExpandMessageXmdSha512(std::string_view msg, std::string_view dst, std::span<uint8_t> out);
// The same, returning a new buffer of `len_in_bytes` bytes. Errors: as above.
StatusOr<std::vector<uint8_t>> ExpandMessageXmdSha512(std::string_view msg, std::string_view dst,
                                                      size_t len_in_bytes);

// hash_to_ristretto255(msg) with the given DST: uniform_bytes = expand_message_xmd(msg, DST,
// 64), then the one-way map of RFC 9496 section 4.3.4.
// Errors: as ExpandMessageXmdSha512, and kInvalidArgument when the result is the identity
// (probability ~2^-252).
StatusOr<Point> HashToGroup(std::string_view msg, std::string_view dst);

// expand_message_xmd(msg, DST, 64) read as a little-endian integer and reduced modulo the group
// order (RFC 9497 section 4.1, HashToScalar for ristretto255).
// Errors: as ExpandMessageXmdSha512, and kInvalidArgument when the result is zero.
StatusOr<Scalar> HashToScalar(std::string_view msg, std::string_view dst);

}  // namespace tessera::collab
