#pragma once

// Match tokens: the keyed form in which a data owner holds each identifier it may match with a
// partner, k · H(kind ‖ id) on ristretto255 (ARCHITECTURE.md section 3, "Collaboration").
//
// A match token is a keyed value, like a pseudonym: it never leaves the owner in this form.
// Tokens under one key are deterministic, so a token given away would let its holder link
// records across exports. What goes to a partner or the join worker is always a token
// re-blinded per session with a fresh SessionScalar (psi.h), which makes the values of two
// sessions unlinkable.
//
// Privacy: in goes a normalized identifier (customer number, e-mail, phone); out comes its
// token. The identifier is neither kept nor logged, and no error repeats it.

#include <cstdint>
#include <string_view>
#include <utility>

#include "tessera/collab/group.h"
#include "tessera/common/status.h"
#include "tessera/privacy/owner_key.h"

namespace tessera::collab {

class SessionScalar;

// What an identifier is. The value is the byte that prefixes the identifier before hashing,
// so the same string as two kinds gives two unrelated tokens. Never renumber: every token in
// the field depends on these bytes.
enum class MatchKind : uint8_t {
  kCustomerNumber = 'c',
  kEmail = 'e',
  kPhone = 'p',
};

// The domain separation tag of match tokens (RFC 9380 section 3.1 asks for one per protocol).
inline constexpr std::string_view kMatchTokenDst =
    "tessera-match-token-v1-ristretto255_XMD:SHA-512_R255MAP_RO_";

// The owner's match-token key k, a scalar derived from the owner key:
// OwnerKey::Derive("tessera match token v1", 64 bytes) reduced modulo the group order.
// Copyable value; the scalar is wiped on destruction. Thread-safe for concurrent const use.
class MatchTokenKey {
 public:
  // Errors: kInternal if the key derivation fails; kFailedPrecondition if the derived scalar is
  // zero (probability ~2^-252: such an owner key cannot make match tokens).
  static StatusOr<MatchTokenKey> Create(const privacy::OwnerKey& owner_key);

  // k · HashToGroup(kind byte ‖ normalized, kMatchTokenDst). `normalized` must already be
  // normalized (privacy::NormalizeIdentifier for customer numbers and e-mails); this function
  // hashes bytes as given.
  // Errors: kInvalidArgument in the (~2^-252) case that the identifier hashes to the identity.
  StatusOr<Point> Token(MatchKind kind, std::string_view normalized) const;

 private:
  friend class SessionScalar;
  explicit MatchTokenKey(Scalar k) : k_(std::move(k)) {}
  Scalar k_;
};

}  // namespace tessera::collab
