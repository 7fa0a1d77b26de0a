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
#include "tessera/store/store.h"

namespace tessera::server {

enum class Role { kViewer = 1, kAnalyst = 2, kAdmin = 3 };

// Errors: kInvalidArgument unless "viewer", "analyst" or "admin".
StatusOr<Role> ParseRole(std::string_view name);
std::string_view RoleName(Role role);

struct NewApiKey {
  std::string key;  // the whole key, to be shown once
  store::ApiKeyRecord record;
};

// Errors: kInternal when libsodium cannot initialize.
StatusOr<NewApiKey> MakeApiKey(Role role, bool allow_query_key, std::string label);

// The record of a valid (not revoked) key matching `presented`, or nullopt. Malformed input
// is simply no match.
std::optional<store::ApiKeyRecord> MatchApiKey(const std::vector<store::ApiKeyRecord>& keys,
                                               std::string_view presented);

}  // namespace tessera::server
