#pragma once

// API keys of `tessera serve`: "tsk_<id>_<secret>". The id is public (it names the key in
// lists and logs); the secret is 256 random bits, shown once at creation; the store keeps a
// salted BLAKE2b hash of it (libsodium's crypto_generichash keyed with a random salt), and
// keys are compared in constant time.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/common/status.h"
#include "tessera/store/database.h"

namespace tessera::server {

// An HTTP API key as the store keeps it: never the key itself, only a salted hash of its
// secret part.
struct ApiKeyRecord {
  std::string id;                      // public part of the key, unique
  std::string role;                    // "viewer", "analyst" or "admin"
  std::string label;                   // free text from its creator
  std::string salt, hash;              // bytes
  bool allow_query_key = false;        // may be sent as ?key= (IMPORTDATA)
  std::string created_at, revoked_at;  // ISO 8601 UTC; revoked_at empty while valid
};

// The API keys of a store: the server's own table (api_keys), brought up to date on first
// use. Borrows the connection; not thread-safe (one per thread, as connections are).
class ApiKeyStore {
 public:
  explicit ApiKeyStore(store::Database& db) : db_(db) {}

  // Keeps a new key; `key.created_at` is set by the store. Errors: kAlreadyExists for a
  // duplicate id; the store's errors.
  Status Add(const ApiKeyRecord& key);
  // Every key, revoked ones too, oldest first.
  StatusOr<std::vector<ApiKeyRecord>> List();
  // False for an unknown or already revoked id.
  StatusOr<bool> Revoke(const std::string& id);

  // The tables this class owns, with their migrations.
  static const store::Schema& Schema();

 private:
  store::Database& db_;
};

enum class Role { kViewer = 1, kAnalyst = 2, kAdmin = 3 };

// Errors: kInvalidArgument unless "viewer", "analyst" or "admin".
StatusOr<Role> ParseRole(std::string_view name);
std::string_view RoleName(Role role);

struct NewApiKey {
  std::string key;  // the whole key, to be shown once
  ApiKeyRecord record;
};

// Errors: kInternal when libsodium cannot initialize.
StatusOr<NewApiKey> MakeApiKey(Role role, bool allow_query_key, std::string label);

// The record of a valid (not revoked) key matching `presented`, or nullopt. Malformed input
// is simply no match.
std::optional<ApiKeyRecord> MatchApiKey(const std::vector<ApiKeyRecord>& keys,
                                        std::string_view presented);

}  // namespace tessera::server
