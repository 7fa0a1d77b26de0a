#pragma once

// The OPRF mode (mode 0x00) of RFC 9497 with the ciphersuite ristretto255-SHA512: a client
// learns F(sk, input) = SHA-512(len ‖ input ‖ len ‖ sk·H(input) ‖ "Finalize") without the server
// learning the input, and without the client learning sk.
//
//   client: auto b = oprf::Blind(input);                 -> sends b->blinded_element
//   server: auto e = oprf::BlindEvaluate(sk, blinded);   -> sends *e
//   client: auto out = oprf::Finalize(input, b->blind, *e);
//
// Every function is pure and thread-safe. Inputs and info strings are at most 65535 bytes
// (RFC 9497 section 1.2: they are length-prefixed with two bytes).
//
// Privacy: `input` is the client's private value (an identifier); it is not kept, and errors
// never repeat it.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "tessera/collab/group.h"
#include "tessera/common/status.h"

namespace tessera::collab::oprf {

// contextString = "OPRFV1-" || I2OSP(0x00, 1) || "-" || "ristretto255-SHA512" (RFC 9497
// section 3.1, 3.2 and 4.1).
inline constexpr std::string_view kContextString{"OPRFV1-\0-ristretto255-SHA512", 28};
inline constexpr size_t kMaxInputBytes = 65535;
inline constexpr size_t kOutputSize = 64;  // Nh for SHA-512

using Output = std::array<uint8_t, kOutputSize>;

struct BlindResult {
  Scalar blind;           // the client keeps it until Finalize; secret
  Point blinded_element;  // sent to the server
};

struct KeyPair {
  Scalar sk;  // skS
  Point pk;   // pkS = sk·B
};

// DeriveKeyPair(seed, info) (RFC 9497 section 3.2.1).
// Errors: kInvalidArgument if info exceeds kMaxInputBytes; kInternal in the (~2^-2000) case
// that 256 counters all hash to zero (DeriveKeyPairError).
StatusOr<KeyPair> DeriveKeyPair(std::span<const uint8_t, Scalar::kSize> seed,
                                std::string_view info);

// Blind(input) (RFC 9497 section 3.3.1) with a fresh random blind.
// Errors: kInvalidArgument if input exceeds kMaxInputBytes or hashes to the identity
// (InvalidInputError); kInternal if libsodium cannot initialize.
StatusOr<BlindResult> Blind(std::string_view input);
// The same with a given blind: for the RFC's test vectors, and for callers that draw the blind
// themselves. Errors: as above, without kInternal.
StatusOr<BlindResult> Blind(std::string_view input, const Scalar& blind);

// BlindEvaluate(skS, blindedElement) = skS · blindedElement (RFC 9497 section 3.3.1). The
// element must come from Point::FromBytes, which rejects the identity (RFC 9497 section 4).
// Errors: kInvalidArgument if the product is the identity (impossible for valid inputs).
StatusOr<Point> BlindEvaluate(const Scalar& sk, const Point& blinded_element);

// Finalize(input, blind, evaluatedElement) (RFC 9497 section 3.3.1).
// Errors: kInvalidArgument if input exceeds kMaxInputBytes; kInternal if OpenSSL lacks SHA-512.
StatusOr<Output> Finalize(std::string_view input, const Scalar& blind,
                          const Point& evaluated_element);

// Evaluate(skS, input): the same output computed by a holder of both key and input.
// Errors: as Blind and Finalize.
StatusOr<Output> Evaluate(const Scalar& sk, std::string_view input);

}  // namespace tessera::collab::oprf
