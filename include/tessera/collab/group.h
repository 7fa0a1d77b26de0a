#pragma once

// The prime-order group ristretto255 (RFC 9496) over libsodium: elements (Point) and scalars
// (Scalar) as value types that hold only valid, canonical encodings, so that code above them
// never handles a malformed element, the identity or a zero scalar.
//
// Every fallible function lists its errors; parsing errors never repeat the bytes they reject.

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "tessera/common/status.h"

namespace tessera::collab {
namespace internal {
struct GroupAccess;  // src/collab: builds elements from encodings libsodium just produced
}  // namespace internal

// A ristretto255 element other than the identity, in its canonical 32-byte encoding
// (RFC 9496 section 4.3.2). Immutable value type; thread-safe for concurrent const use.
// Equality compares encodings, which for ristretto255 is equality of elements.
class Point {
 public:
  static constexpr size_t kSize = 32;

  // Decodes an element (RFC 9496 section 4.3.1). Errors: kInvalidArgument for a length other
  // than 32, a non-canonical or negative field element, bytes that encode no element, and the
  // identity (which no protocol here may receive, RFC 9497 section 4.1).
  static StatusOr<Point> FromBytes(std::span<const uint8_t> bytes);
  // The same from 64 hex digits. Errors: as FromBytes, and kInvalidArgument for bad hex.
  static StatusOr<Point> FromHex(std::string_view hex);

  // The one-way map of RFC 9496 section 4.3.4 ("element derivation") from 64 uniformly random
  // bytes. Errors: kInvalidArgument when the result is the identity (probability ~2^-252).
  static StatusOr<Point> FromUniformBytes(std::span<const uint8_t, 64> uniform_bytes);

  // The canonical generator B of RFC 9496 section 4.4.
  static Point Generator();

  const std::array<uint8_t, kSize>& bytes() const { return bytes_; }
  std::string ToHex() const;

  friend bool operator==(const Point&, const Point&) = default;

 private:
  friend struct internal::GroupAccess;
  Point() = default;
  std::array<uint8_t, kSize> bytes_{};
};

// A non-zero scalar modulo the group order L = 2^252 + 27742317777372353535851937790883648493,
// in its canonical 32-byte little-endian encoding. Scalars here are secrets (keys, blinds):
// the bytes are wiped on destruction, never formatted into messages, and compared in constant
// time. Copyable (each copy is wiped); thread-safe for concurrent const use.
class Scalar {
 public:
  static constexpr size_t kSize = 32;
  static constexpr size_t kWideSize = 64;

  // A uniformly random scalar in [1, L-1] from libsodium's CSPRNG.
  // Errors: kInternal if libsodium cannot initialize.
  static StatusOr<Scalar> Random();

  // Decodes a canonical scalar (RFC 9497 section 4.1, DeserializeScalar).
  // Errors: kInvalidArgument for a length other than 32, a value >= L, or zero.
  static StatusOr<Scalar> FromBytes(std::span<const uint8_t> bytes);

  // Interprets 64 bytes as a little-endian integer and reduces it modulo L (the wide reduction
  // used by HashToScalar in RFC 9497 section 4.1). Errors: kInvalidArgument when the result is
  // zero (probability ~2^-252 for uniform input).
  static StatusOr<Scalar> FromWideBytes(std::span<const uint8_t, kWideSize> wide);

  // The multiplicative inverse modulo L (exists: a Scalar is never zero).
  Scalar Inverse() const;
  // The product modulo L (never zero: L is prime).
  friend Scalar operator*(const Scalar& a, const Scalar& b);

  // The secret encoding. Callers must not log it or keep copies beyond their need.
  std::span<const uint8_t, kSize> bytes() const { return bytes_; }

  // Constant time.
  friend bool operator==(const Scalar& a, const Scalar& b);

  Scalar(const Scalar&) = default;
  Scalar& operator=(const Scalar&) = default;
  ~Scalar();

 private:
  Scalar() = default;
  std::array<uint8_t, kSize> bytes_{};
};

// s · P. Errors: kInvalidArgument if the product is the identity, which for a valid Point and
// a non-zero Scalar cannot happen in a prime-order group (kept as a check, not an assumption).
StatusOr<Point> Multiply(const Scalar& s, const Point& p);
// s · B for the generator B. Errors: as Multiply.
StatusOr<Point> MultiplyGenerator(const Scalar& s);
// P + Q and P - Q. Errors: kInvalidArgument when the result is the identity (Q = -P, or Q = P).
StatusOr<Point> Add(const Point& p, const Point& q);
StatusOr<Point> Subtract(const Point& p, const Point& q);

// For unordered containers of points (join keys).
struct PointHash {
  size_t operator()(const Point& p) const;
};

}  // namespace tessera::collab
