#pragma once

// Turning personal identifiers into pseudonyms before anything is stored.
//
// Privacy: input is a customer number, e-mail address or phone number (personal data); output is a
// version-8 UUID (RFC 9562) computed as HMAC-SHA256 under a key derived from the owner's
// key. Without the key the UUID cannot be linked to the identifier; with it, the owner can
// recompute the UUID of a known identifier (for erasure requests and audience activation).
// Nothing here stores or logs the identifier.

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "tessera/common/status.h"
#include "tessera/io/phone_numbering.h"
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

enum class IdentifierKind : uint8_t { kCustomerNumber, kEmail, kPhone };

// The byte that stands for `kind` wherever an identifier's kind is part of a keyed value or
// stored: 'c', 'e', 'p'. It prefixes the identifier in the pseudonym's MAC (so that two kinds
// never collide) and is the byte of collab::MatchKind. Never change: every pseudonym and match
// token in the field depends on it.
constexpr uint8_t IdentifierKindByte(IdentifierKind kind) {
  return kind == IdentifierKind::kEmail ? 'e' : kind == IdentifierKind::kPhone ? 'p' : 'c';
}
// The kind of a byte of IdentifierKindByte; nullopt for any other byte.
std::optional<IdentifierKind> IdentifierKindOfByte(uint8_t byte);

// How phone numbers without a country code are read (from the mapping, io::Mapping).
struct PhoneDefaults {
  // The country of national numbers; nullopt: a number without a country code is rejected.
  std::optional<io::PhoneCountry> country;
  // Digits with neither '+', "00", a leading 0 nor the country's trunk prefix begin with their
  // country code (MSISDNs); false: they are national numbers of `country`.
  bool bare_digits_international = false;
};

// Normalization, so that the same person gets the same pseudonym across exports:
//  - customer number: surrounding blanks trimmed; a number written as a float by a
//    spreadsheet ("17850.0", "17850.00") loses its zero fraction; otherwise kept as is
//    (case and leading zeros are significant).
//  - e-mail: surrounding blanks trimmed, ASCII letters lower-cased; must be local@domain with
//    one '@', no blanks, non-empty parts and a dot in the domain.
//  - phone: E.164, '+' and 8 to 15 digits. Blanks (also no-break spaces), '-', '.', '/' and
//    parentheses are dropped; a leading "00" is the international prefix ('+'); a number with
//    neither is national: a leading trunk prefix of the default country (0 in Germany; none in
//    Italy, whose 0 is part of the number) is removed and its calling code put in front. In an
//    international number a 0 right after the calling code of a country whose trunk prefix is
//    0 is the national prefix written along ("+49 (0)30 ...") and removed (a second 0 is
//    rejected). Anything else (a letter, an extension, a '+' inside) is rejected. See
//    docs/ingest.md for the table.
// Errors: kInvalidArgument with a reason that never repeats the value; kNotFound when the
// value is empty after trimming (a missing identifier, which callers count separately).
StatusOr<std::string> NormalizeCustomerNumber(std::string_view raw);
StatusOr<std::string> NormalizeEmail(std::string_view raw);
StatusOr<std::string> NormalizePhone(std::string_view raw, const PhoneDefaults& defaults);
// `phone` is used for kPhone only.
StatusOr<std::string> NormalizeIdentifier(IdentifierKind kind, std::string_view raw,
                                          const PhoneDefaults& phone = {});

// Computes customer pseudonyms. Not thread-safe (it reuses one MAC context); use one per
// thread. Owns its OpenSSL state; movable, not copyable.
class Pseudonymizer {
 public:
  // Errors: kInternal if OpenSSL cannot set up HMAC-SHA256.
  static StatusOr<Pseudonymizer> Create(const OwnerKey& key);

  // The UUID of an already normalized identifier. The kind is part of the MAC input
  // (IdentifierKindByte), so a customer number, an e-mail and a phone with the same text never
  // collide.
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
