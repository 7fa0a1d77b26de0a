#include "tessera/server/api_keys.h"

#include <sodium.h>

namespace tessera::server {
namespace {

constexpr std::string_view kPrefix = "tsk_";
constexpr size_t kIdBytes = 8, kSecretBytes = 32, kSaltBytes = 16, kHashBytes = 32;

Status InitSodium() {
  static const int rc = sodium_init();
  return rc < 0 ? InternalError("libsodium cannot initialize") : OkStatus();
}

std::string Hex(const unsigned char* p, size_t n) {
  std::string out(n * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), p, n);
  out.pop_back();
  return out;
}

std::string HashSecret(std::string_view secret, const std::string& salt) {
  std::string out(kHashBytes, '\0');
  crypto_generichash(reinterpret_cast<unsigned char*>(out.data()), out.size(),
                     reinterpret_cast<const unsigned char*>(secret.data()), secret.size(),
                     reinterpret_cast<const unsigned char*>(salt.data()), salt.size());
  return out;
}

}  // namespace

StatusOr<Role> ParseRole(std::string_view name) {
  if (name == "viewer") return Role::kViewer;
  if (name == "analyst") return Role::kAnalyst;
  if (name == "admin") return Role::kAdmin;
  return InvalidArgumentError("unknown role '{}' (viewer, analyst or admin)", name);
}

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kViewer:
      return "viewer";
    case Role::kAnalyst:
      return "analyst";
    case Role::kAdmin:
      return "admin";
  }
  return "viewer";
}

StatusOr<NewApiKey> MakeApiKey(Role role, bool allow_query_key, std::string label) {
  TESSERA_RETURN_IF_ERROR(InitSodium());
  unsigned char id[kIdBytes], secret[kSecretBytes];
  randombytes_buf(id, sizeof id);
  randombytes_buf(secret, sizeof secret);
  NewApiKey k;
  const std::string secret_hex = Hex(secret, sizeof secret);
  k.record.id = Hex(id, sizeof id);
  k.record.role = std::string(RoleName(role));
  k.record.label = std::move(label);
  k.record.allow_query_key = allow_query_key;
  k.record.salt.resize(kSaltBytes);
  randombytes_buf(k.record.salt.data(), kSaltBytes);
  k.record.hash = HashSecret(secret_hex, k.record.salt);
  k.key = std::string(kPrefix) + k.record.id + "_" + secret_hex;
  sodium_memzero(secret, sizeof secret);
  return k;
}

std::optional<server::ApiKeyRecord> MatchApiKey(const std::vector<server::ApiKeyRecord>& keys,
                                                std::string_view presented) {
  if (!InitSodium().ok() || !presented.starts_with(kPrefix)) return std::nullopt;
  presented.remove_prefix(kPrefix.size());
  const size_t sep = presented.find('_');
  if (sep == std::string_view::npos) return std::nullopt;
  const std::string_view id = presented.substr(0, sep), secret = presented.substr(sep + 1);
  // The id is public (listed, logged, named in errors): compared as text. The secret is
  // compared only as its salted hash, in constant time.
  for (const auto& k : keys) {
    if (k.id != id) continue;
    if (!k.revoked_at.empty() || k.hash.size() != kHashBytes) return std::nullopt;
    const std::string h = HashSecret(secret, k.salt);
    if (sodium_memcmp(h.data(), k.hash.data(), kHashBytes) != 0) return std::nullopt;
    return k;
  }
  return std::nullopt;
}

}  // namespace tessera::server
