#pragma once

// Parties of a collaboration: who a Tessera installation is to its partners, and whom it knows.
//
// A party is an ordinary installation (its own store and owner key). Its identity is an
// Ed25519 key pair derived from the owner key, so that a party is the same party wherever its
// key file is, and a new owner key is a new party:
//
//   seed = OwnerKey::Derive("tessera party signing key v1", 32 bytes)
//   (public key, secret key) = crypto_sign_seed_keypair(seed)        (RFC 8032 Ed25519)
//
// Its party id is the public key in printable form: "tp1:" followed by the 32 bytes of the
// public key as 64 lowercase hex digits (the convention of the owner key's fingerprint,
// "tk1:"). An id is thus self-certifying: whoever knows a party's id can verify its
// signatures, and no other lookup can substitute a key. Ids are compared as strings; only the
// lowercase form is accepted, so that each party has exactly one id.
//
// Partners know each other by a collaboration file (TOML), the same file at every party:
//
//   [[party]]
//   name = "Grocer"                       # 1..64 characters, see ValidatePartyName
//   id = "tp1:3d40...660c"                # the party's id, as `tessera party show` prints it
//   endpoint = "https://grocer.example:8443"
//   roles = ["data_owner", "worker_host"] # data_owner, analyst, worker_host
//
// Every key is required and no other is accepted. An endpoint is https://, or http:// to a
// loopback host only (localhost, 127.x.x.x, [::1]): results between parties never cross a
// network in clear text. No user name or password in it, no query or fragment.
//
// Privacy: nothing here touches personal data. The secret key never leaves PartyKey: the store
// keeps the party's name and id only.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/common/status.h"
#include "tessera/privacy/owner_key.h"
#include "tessera/store/database.h"

namespace tessera::collab {

// The label of the party key's derivation from the owner key. Never change it: every party id
// in the field depends on it.
inline constexpr std::string_view kPartyKeyLabel = "tessera party signing key v1";

// An Ed25519 detached signature (RFC 8032 section 5.1.6).
using Signature = std::array<uint8_t, 64>;

// A party's identity: its Ed25519 public key, printed as "tp1:" + 64 lowercase hex digits.
// Immutable value type; thread-safe for concurrent const use.
class PartyId {
 public:
  static constexpr size_t kKeySize = 32;
  static constexpr std::string_view kPrefix = "tp1:";

  // Errors: kInvalidArgument when `text` does not start with "tp1:", is not followed by exactly
  // 64 lowercase hex digits, or these are not a valid Ed25519 public key (a non-canonical
  // encoding, a point off the curve, or one of small order, which would verify forgeries).
  static StatusOr<PartyId> Parse(std::string_view text);
  // The same from the 32 bytes of a public key. Errors: kInvalidArgument as Parse.
  static StatusOr<PartyId> FromPublicKey(std::span<const uint8_t> key);

  const std::array<uint8_t, kKeySize>& public_key() const { return key_; }
  // "tp1:" + 64 lowercase hex digits.
  std::string ToString() const;

  friend bool operator==(const PartyId&, const PartyId&) = default;
  friend auto operator<=>(const PartyId&, const PartyId&) = default;

 private:
  PartyId() = default;
  std::array<uint8_t, kKeySize> key_{};
};

// Whether `signature` is `signer`'s Ed25519 signature of `message` (libsodium's
// crypto_sign_verify_detached, which refuses non-canonical signatures). False for a signature
// of the wrong length.
bool Verify(const PartyId& signer, std::string_view message, std::span<const uint8_t> signature);

// A party's Ed25519 signing key. Move-only; the secret is wiped on destruction and when moved
// from. Thread-safe for concurrent const use.
class PartyKey {
 public:
  static constexpr size_t kSeedSize = 32;

  // The party key of `owner_key` (see the top of this file). Errors: kInternal when libsodium
  // cannot initialize or the derivation fails.
  static StatusOr<PartyKey> Derive(const privacy::OwnerKey& owner_key);
  // The key pair of an RFC 8032 secret key (a 32-byte seed): for known-answer tests and for
  // Derive. Errors: kInternal when libsodium cannot initialize.
  static StatusOr<PartyKey> FromSeed(std::span<const uint8_t, kSeedSize> seed);

  const PartyId& id() const { return id_; }
  // The Ed25519 signature of `message` (deterministic: the same message, the same signature).
  // Callers put a type or a context into what they sign, so that a signature made for one
  // purpose is never valid for another (grants carry "type": "tessera.grant.v1").
  Signature Sign(std::string_view message) const;

  PartyKey(PartyKey&& other) noexcept;
  PartyKey& operator=(PartyKey&& other) noexcept;
  PartyKey(const PartyKey&) = delete;
  PartyKey& operator=(const PartyKey&) = delete;
  ~PartyKey();

 private:
  PartyKey(const PartyId& id, std::span<const uint8_t, 64> secret);
  PartyId id_;
  std::array<uint8_t, 64> secret_{};  // libsodium's layout: seed, then public key
};

// Errors: kInvalidArgument unless `name` is valid UTF-8 of 1 to 64 characters (code points),
// none of them a control character (U+0000..U+001F, U+007F..U+009F) or a line or paragraph
// separator (U+2028, U+2029), and neither starts nor ends with a space.
Status ValidatePartyName(std::string_view name);

// This installation as a party: what `tessera party show` prints.
struct PartyProfile {
  std::string name;
  PartyId id;
  std::string created_at;  // ISO 8601 UTC, set by the store
};

// The store's own party: its name and id in the table collab_party (one row). Never the
// secret key. Borrows the connection; not thread-safe (one per thread, as connections are).
class PartyStore {
 public:
  explicit PartyStore(store::Database& db) : db_(db) {}

  // Makes this store the party of `key` with the name `name`, or renames it when it is that
  // party already (the id stays; partners know the party by its id). Returns the profile.
  // Errors: kInvalidArgument for a bad name (ValidatePartyName); kFailedPrecondition when the
  // store is already another party (a key derived from another owner key); the store's errors.
  StatusOr<PartyProfile> Init(std::string_view name, const PartyKey& key);
  // Errors: kNotFound before Init (the message says to run `tessera party init`); kDataLoss
  // when the stored id does not parse; the store's errors.
  StatusOr<PartyProfile> Show();

  // The tables this class owns, with their migrations.
  static const store::Schema& Schema();

 private:
  StatusOr<std::optional<PartyProfile>> Read();
  store::Database& db_;
};

enum class PartyRole { kDataOwner, kAnalyst, kWorkerHost };

// "data_owner", "analyst", "worker_host".
std::string_view PartyRoleName(PartyRole role);
// Errors: kInvalidArgument for any other text.
StatusOr<PartyRole> ParsePartyRole(std::string_view name);

// One party of a collaboration file.
struct CollaborationParty {
  std::string name;
  PartyId id;
  std::string endpoint;          // https://host[:port][/path]
  std::vector<PartyRole> roles;  // non-empty, no role twice, in the file's order
  int line = 0;                  // of its [[party]] table in the file

  bool HasRole(PartyRole role) const;
};

// The parties of a collaboration file, in the file's order. Value type.
struct Collaboration {
  std::vector<CollaborationParty> parties;

  // The party with this id or name, or nullptr.
  const CollaborationParty* Find(const PartyId& id) const;
  const CollaborationParty* FindByName(std::string_view name) const;
};

// Parses a collaboration file's text; `origin` names it in errors. Errors: kInvalidArgument,
// the message "origin:line:column: field: reason" (TOML syntax, an unknown or missing key, a
// wrong type, a bad name, id, endpoint or role, an id or a name given twice, no party at
// all), with the details "line" (int) and "field" (text) where they apply.
StatusOr<Collaboration> ParseCollaboration(std::string_view toml_text, std::string_view origin);
// Reads and parses the file at `path`. Errors: kNotFound without the file; kPermissionDenied
// when it cannot be read; those of ParseCollaboration.
StatusOr<Collaboration> LoadCollaboration(const std::string& path);

// Validates an endpoint URL as described at the top of this file. Errors: kInvalidArgument
// naming what is wrong.
Status ValidateEndpoint(std::string_view url);

}  // namespace tessera::collab
