#pragma once

// The match tokens of a load (docs/ingest.md, "Match tokens"): every e-mail and phone a row
// carries is noted for the row's customer while the files are read; its token k · H(kind ‖
// normalized identifier) (collab/match_token.h) is computed when a batch asks for the
// customer's tokens, once per distinct identifier and load, on all cores. Internal to the
// ingest module; not thread-safe (Append runs threads of its own and waits for them).
//
// Privacy: the raw and normalized e-mails and phones are held in this process's memory for the
// duration of the load only (wiped when destroyed); what leaves is tokens.

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ingest/flat_string_map.h"
#include "ingest/load_tables.h"
#include "tessera/collab/match_token.h"
#include "tessera/privacy/pseudonymizer.h"
#include "tessera/store/store.h"

namespace tessera::ingest::internal {

// A set of identifier kinds, one bit per privacy::IdentifierKind.
using KindSet = uint8_t;
constexpr KindSet KindBit(privacy::IdentifierKind kind) {
  return static_cast<KindSet>(1u << static_cast<unsigned>(kind));
}
inline constexpr KindSet kMatchKinds =
    KindBit(privacy::IdentifierKind::kEmail) | KindBit(privacy::IdentifierKind::kPhone);

class MatchTokens {
 public:
  MatchTokens(collab::MatchTokenKey key, privacy::PhoneDefaults phone)
      : key_(std::move(key)), phone_(std::move(phone)) {}
  MatchTokens(const MatchTokens&) = delete;
  MatchTokens& operator=(const MatchTokens&) = delete;

  // Notes the row's e-mail and phone (raw; either may be empty) for the customer in `slot`.
  // A value that does not normalize is counted (invalid()) and left out; the row stays.
  void Note(uint32_t slot, std::string_view email, std::string_view phone);

  // The tokens to append for one customer: its load slot, its index in the store, and which
  // kinds of its identifiers.
  struct Request {
    uint32_t slot = kNone;
    uint32_t customer = 0;
    KindSet kinds = kMatchKinds;
  };
  // Appends the tokens of `requests` to `batch`, computing those not computed yet in this load.
  // Errors: kInvalidArgument for an identifier that hashes to the identity (probability
  // ~2^-252; the message names no identifier).
  Status Append(std::span<const Request> requests, store::Batch* batch);

  uint64_t invalid() const { return invalid_; }    // e-mails and phones left out
  uint64_t computed() const { return computed_; }  // tokens computed (distinct identifiers)
  double seconds() const { return seconds_; }      // spent computing them

 private:
  static constexpr uint32_t kInvalid = 0xfffffffeu;  // a raw value that does not normalize
  struct Identifier {
    std::string_view normalized;  // into normalized_'s keys
    privacy::IdentifierKind kind;
  };
  struct Link {
    uint32_t identifier;
    uint32_t next;
  };

  // The identifier of a raw value of `kind`, kInvalid when it does not normalize.
  uint32_t Identify(privacy::IdentifierKind kind, std::string_view raw);
  void Attach(uint32_t slot, uint32_t identifier);
  Status Compute(std::span<const uint32_t> identifiers);

  const collab::MatchTokenKey key_;
  const privacy::PhoneDefaults phone_;
  FlatStringMap raw_email_, raw_phone_;  // raw value -> identifier, or kInvalid
  FlatStringMap normalized_;             // kind byte + normalized value -> identifier
  std::vector<Identifier> identifiers_;
  std::vector<std::array<uint8_t, store::kMatchTokenSize>> tokens_;  // by identifier
  std::vector<uint8_t> computed_flag_;                               // by identifier
  std::vector<uint32_t> first_link_;  // by slot: the first of its identifiers, or kNone
  std::vector<Link> links_;
  uint64_t invalid_ = 0, computed_ = 0;
  double seconds_ = 0;
  // Consecutive rows mostly repeat the customer and its identifiers.
  uint32_t last_slot_ = kNone;
  std::string last_email_, last_phone_;
};

}  // namespace tessera::ingest::internal
