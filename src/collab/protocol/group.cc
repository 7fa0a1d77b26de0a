#include "tessera/collab/group.h"

#include <sodium.h>

#include <cassert>
#include <cstring>

#include "collab/protocol/hash_internal.h"
#include "tessera/privacy/order_token.h"

namespace tessera::collab {

static_assert(Point::kSize == crypto_core_ristretto255_BYTES);
static_assert(Scalar::kSize == crypto_core_ristretto255_SCALARBYTES);
static_assert(Scalar::kWideSize == crypto_core_ristretto255_NONREDUCEDSCALARBYTES);
static_assert(crypto_core_ristretto255_HASHBYTES == 64);

namespace internal {

// libsodium encodes its results canonically; decoding them again would only cost time.
struct GroupAccess {
  static Point Wrap(const uint8_t (&bytes)[Point::kSize]) {
    Point p;
    std::memcpy(p.bytes_.data(), bytes, Point::kSize);
    return p;
  }
};

}  // namespace internal

StatusOr<Point> Point::FromBytes(std::span<const uint8_t> bytes) {
  if (bytes.size() != kSize) {
    return InvalidArgumentError("a ristretto255 element has {} bytes, not {}", kSize, bytes.size());
  }
  // libsodium's decoder is RFC 9496's Decode: it refuses non-canonical and negative field
  // elements, non-square x^2, negative xy and y = 0. It accepts the identity (all zeros).
  if (crypto_core_ristretto255_is_valid_point(bytes.data()) != 1) {
    return InvalidArgumentError("not the canonical encoding of a ristretto255 element");
  }
  if (sodium_is_zero(bytes.data(), kSize)) {
    return InvalidArgumentError("the identity element is not accepted as a ristretto255 input");
  }
  Point p;
  std::memcpy(p.bytes_.data(), bytes.data(), kSize);
  return p;
}

StatusOr<Point> Point::FromHex(std::string_view hex) {
  if (hex.size() != 2 * kSize) {
    return InvalidArgumentError("a ristretto255 element is {} hex digits, not {}", 2 * kSize,
                                hex.size());
  }
  TESSERA_ASSIGN_OR_RETURN(const std::string bytes, privacy::HexDecode(hex));
  return FromBytes({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
}

StatusOr<Point> Point::FromUniformBytes(std::span<const uint8_t, 64> uniform_bytes) {
  Point p;
  // Always 0 in libsodium 1.0.18; the map is total.
  if (crypto_core_ristretto255_from_hash(p.bytes_.data(), uniform_bytes.data()) != 0 ||
      sodium_is_zero(p.bytes_.data(), kSize)) {
    return InvalidArgumentError("the bytes map to the identity element");
  }
  return p;
}

Point Point::Generator() {
  static const Point generator = [] {
    // 1 as a scalar; the base-point multiplication cannot fail for it.
    const uint8_t one[Scalar::kSize] = {1};
    Point p;
    [[maybe_unused]] const int rc = crypto_scalarmult_ristretto255_base(p.bytes_.data(), one);
    assert(rc == 0);
    return p;
  }();
  return generator;
}

std::string Point::ToHex() const {
  return privacy::HexEncode(std::string_view(reinterpret_cast<const char*>(bytes_.data()), kSize));
}

Scalar::~Scalar() { sodium_memzero(bytes_.data(), bytes_.size()); }

StatusOr<Scalar> Scalar::Random() {
  TESSERA_RETURN_IF_ERROR(internal::EnsureSodium());
  Scalar s;
  // Uniform in [1, L-1]: libsodium draws 253-bit values until one is canonical and non-zero.
  crypto_core_ristretto255_scalar_random(s.bytes_.data());
  return s;
}

StatusOr<Scalar> Scalar::FromBytes(std::span<const uint8_t> bytes) {
  if (bytes.size() != kSize) {
    return InvalidArgumentError("a ristretto255 scalar has {} bytes, not {}", kSize, bytes.size());
  }
  // Canonical iff reducing the value modulo L leaves it unchanged; libsodium 1.0.18 exports no
  // canonicity check for scalars, but it does export the reduction.
  uint8_t wide[kWideSize] = {};
  std::memcpy(wide, bytes.data(), kSize);
  Scalar s;
  crypto_core_ristretto255_scalar_reduce(s.bytes_.data(), wide);
  const bool canonical = sodium_memcmp(s.bytes_.data(), bytes.data(), kSize) == 0;
  sodium_memzero(wide, sizeof(wide));
  if (!canonical) {
    return InvalidArgumentError("not a canonical ristretto255 scalar (not below the group order)");
  }
  if (sodium_is_zero(s.bytes_.data(), kSize)) {
    return InvalidArgumentError("the scalar is zero");
  }
  return s;
}

StatusOr<Scalar> Scalar::FromWideBytes(std::span<const uint8_t, kWideSize> wide) {
  Scalar s;
  crypto_core_ristretto255_scalar_reduce(s.bytes_.data(), wide.data());
  if (sodium_is_zero(s.bytes_.data(), kSize)) {
    return InvalidArgumentError("the bytes reduce to the zero scalar");
  }
  return s;
}

Scalar Scalar::Inverse() const {
  Scalar inverse;
  [[maybe_unused]] const int rc =
      crypto_core_ristretto255_scalar_invert(inverse.bytes_.data(), bytes_.data());
  assert(rc == 0 && "a Scalar is never zero");
  return inverse;
}

Scalar operator*(const Scalar& a, const Scalar& b) {
  Scalar product;
  crypto_core_ristretto255_scalar_mul(product.bytes_.data(), a.bytes_.data(), b.bytes_.data());
  return product;
}

bool operator==(const Scalar& a, const Scalar& b) {
  return sodium_memcmp(a.bytes_.data(), b.bytes_.data(), Scalar::kSize) == 0;
}

StatusOr<Point> Multiply(const Scalar& s, const Point& p) {
  uint8_t out[Point::kSize];
  // Returns -1 when the product is the identity (or `p` is not an element).
  if (crypto_scalarmult_ristretto255(out, s.bytes().data(), p.bytes().data()) != 0) {
    return InvalidArgumentError("the scalar multiplication gives the identity element");
  }
  return internal::GroupAccess::Wrap(out);
}

StatusOr<Point> MultiplyGenerator(const Scalar& s) {
  uint8_t out[Point::kSize];
  if (crypto_scalarmult_ristretto255_base(out, s.bytes().data()) != 0) {
    return InvalidArgumentError("the scalar multiplication gives the identity element");
  }
  return internal::GroupAccess::Wrap(out);
}

StatusOr<Point> Add(const Point& p, const Point& q) {
  uint8_t out[Point::kSize];
  if (crypto_core_ristretto255_add(out, p.bytes().data(), q.bytes().data()) != 0) {
    return InternalError("libsodium refused a valid ristretto255 element");
  }
  if (sodium_is_zero(out, sizeof(out))) {
    return InvalidArgumentError("the sum is the identity element");
  }
  return internal::GroupAccess::Wrap(out);
}

StatusOr<Point> Subtract(const Point& p, const Point& q) {
  uint8_t out[Point::kSize];
  if (crypto_core_ristretto255_sub(out, p.bytes().data(), q.bytes().data()) != 0) {
    return InternalError("libsodium refused a valid ristretto255 element");
  }
  if (sodium_is_zero(out, sizeof(out))) {
    return InvalidArgumentError("the difference is the identity element");
  }
  return internal::GroupAccess::Wrap(out);
}

size_t PointHash::operator()(const Point& p) const {
  // Encodings of hashed or blinded elements are uniformly distributed; eight bytes suffice.
  size_t h;
  std::memcpy(&h, p.bytes().data(), sizeof(h));
  return h;
}

}  // namespace tessera::collab
