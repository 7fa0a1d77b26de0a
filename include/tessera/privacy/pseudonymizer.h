#pragma once

// Turning personal identifiers into pseudonyms before anything is stored.
//
// Privacy: input is a customer number or e-mail address (personal data); output is a
// version-8 UUID (RFC 9562) computed as HMAC-SHA256 under a key derived from the owner's
// key. Without the key the UUID cannot be linked to the identifier; with it, the owner can
// recompute the UUID of a known identifier (for erasure requests and audience activation).
// Nothing here stores or logs the identifier.

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "tessera/common/status.h"
#include "tessera/privacy/owner_key.h"

namespace tessera::privacy {

struct Uuid {
  std::array<uint8_t, 16> bytes{};

  std::string ToString() const;  // 8-4-4-4-12 lowercase hex
  // Errors: kInvalidArgument if `text` is not a UUID in 8-4-4-4-12 hex form.
  static StatusOr<Uuid> Parse(std::string_view text);
  friend bool operator==(const Uuid&, const Uuid&) = default;
  friend auto operator<=>(const Uuid&, const Uuid&) = default;
};

struct UuidHash {
  size_t operator()(const Uuid& u) const noexcept {
    uint64_t h;
    static_assert(sizeof(h) <= sizeof(u.bytes));
    __builtin_memcpy(&h, u.bytes.data(), sizeof(h));  // the bytes are already uniform
    return static_cast<size_t>(h);
  }
};

enum class IdentifierKind : uint8_t { kCustomerNumber, kEmail };

// Normalization, so that the same person gets the same pseudonym across exports:
//  - customer number: surrounding blanks trimmed; a number written as a float by a
//    spreadsheet ("17850.0", "17850.00") loses its zero fraction; otherwise kept as is
//    (case and leading zeros are significant).
//  - e-mail: surrounding blanks trimmed, ASCII letters lower-cased; must be local@domain with
//    one '@', no blanks, non-empty parts and a dot in the domain.
// Errors: kInvalidArgument with a reason that never repeats the value; kNotFound when the
// value is empty after trimming (a missing identifier, which callers count separately).
StatusOr<std::string> NormalizeCustomerNumber(std::string_view raw);
StatusOr<std::string> NormalizeEmail(std::string_view raw);
StatusOr<std::string> NormalizeIdentifier(IdentifierKind kind, std::string_view raw);

// Computes customer pseudonyms. Not thread-safe (it reuses one MAC context); use one per
// thread. Owns its OpenSSL state; movable, not copyable.
class Pseudonymizer {
 public:
  // Errors: kInternal if OpenSSL cannot set up HMAC-SHA256.
  static StatusOr<Pseudonymizer> Create(const OwnerKey& key);

  // The UUID of an already normalized identifier. The kind is part of the MAC input, so a
  // customer number and an e-mail with the same text never collide.
  Uuid Pseudonym(IdentifierKind kind, std::string_view normalized);

  Pseudonymizer(Pseudonymizer&&) noexcept;
  Pseudonymizer& operator=(Pseudonymizer&&) noexcept;
  ~Pseudonymizer();

 private:
  struct State;
  explicit Pseudonymizer(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace tessera::privacy
