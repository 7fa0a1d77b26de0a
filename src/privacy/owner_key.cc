#include "tessera/privacy/owner_key.h"

#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "privacy/mac.h"
#include "tessera/privacy/order_token.h"

namespace tessera::privacy {
namespace {

constexpr std::string_view kKeyFileTag = "tessera-owner-key-v1";

}  // namespace

namespace internal {

StatusOr<std::string> HmacSha256(std::span<const uint8_t> key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  size_t out_len = 0;
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), key.size(),
                reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, sizeof(out),
                &out_len) == nullptr) {
    return InternalError("HMAC-SHA256 is not available from OpenSSL");
  }
  return std::string(reinterpret_cast<const char*>(out), out_len);
}

Status HkdfSha256(std::span<const uint8_t> ikm, std::string_view salt, std::string_view info,
                  std::span<uint8_t> out) {
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  if (kdf == nullptr) return InternalError("HKDF is not available from OpenSSL");
  EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
  EVP_KDF_free(kdf);
  if (ctx == nullptr) return InternalError("cannot create an HKDF context");
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(ikm.data()),
                                        ikm.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<char*>(salt.data()),
                                        salt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()),
                                        info.size()),
      OSSL_PARAM_construct_end()};
  const int ok = EVP_KDF_derive(ctx, out.data(), out.size(), params);
  EVP_KDF_CTX_free(ctx);
  if (ok != 1) return InternalError("HKDF derivation failed");
  return OkStatus();
}

}  // namespace internal

OwnerKey::~OwnerKey() { OPENSSL_cleanse(bytes_.data(), bytes_.size()); }

StatusOr<OwnerKey> OwnerKey::Generate() {
  OwnerKey key;
  if (RAND_bytes(key.bytes_.data(), static_cast<int>(key.bytes_.size())) != 1) {
    return InternalError("the system's random number generator failed");
  }
  return key;
}

OwnerKey OwnerKey::FromBytes(std::span<const uint8_t, kSize> bytes) {
  OwnerKey key;
  std::memcpy(key.bytes_.data(), bytes.data(), kSize);
  return key;
}

StatusOr<OwnerKey> OwnerKey::Load(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      return NotFoundError(
          "no key file at {}; create one with `tessera keys init --key {}` (or point --key / "
          "TESSERA_KEY at the data owner's key)",
          path, path);
    }
    return PermissionDeniedError("cannot read key file {}: {}", path, std::strerror(errno));
  }
  if ((st.st_mode & 077) != 0) {
    return PermissionDeniedError(
        "key file {} is accessible by group or others (mode {:o}); run `chmod 600 {}`", path,
        st.st_mode & 0777, path);
  }
  std::ifstream in(path);
  if (!in) return PermissionDeniedError("cannot read key file {}", path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string tag, hex;
    fields >> tag >> hex;
    if (tag != kKeyFileTag || hex.size() != 2 * kSize) break;
    auto bytes = HexDecode(hex);
    if (!bytes.ok()) break;
    OwnerKey key;
    std::memcpy(key.bytes_.data(), bytes->data(), kSize);
    OPENSSL_cleanse(bytes->data(), bytes->size());
    OPENSSL_cleanse(hex.data(), hex.size());
    return key;
  }
  return InvalidArgumentError(
      "{} is not a Tessera key file (expected a line \"{} <64 hex digits>\")", path, kKeyFileTag);
}

Status OwnerKey::Save(const std::string& path) const {
  std::error_code ec;
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty() && !std::filesystem::exists(parent, ec)) {
    std::filesystem::create_directories(parent, ec);
    if (ec)
      return PermissionDeniedError("cannot create directory {}: {}", parent.string(), ec.message());
    ::chmod(parent.c_str(), 0700);
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) {
      return AlreadyExistsError(
          "a key already exists at {}; Tessera never overwrites a key (every pseudonym in a "
          "store depends on it). Move it away first if you really mean to start over",
          path);
    }
    return PermissionDeniedError("cannot create key file {}: {}", path, std::strerror(errno));
  }
  std::string text = fmt::format(
      "# Tessera data owner key. Keep it secret and backed up, and never inside a store:\n"
      "# every pseudonym and order token is derived from it. Fingerprint: {}\n{} {}\n",
      Fingerprint(), kKeyFileTag,
      HexEncode(std::string_view(reinterpret_cast<const char*>(bytes_.data()), bytes_.size())));
  const ssize_t written = ::write(fd, text.data(), text.size());
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  OPENSSL_cleanse(text.data(), text.size());
  if (written != static_cast<ssize_t>(text.size()) || !synced) {
    ::unlink(path.c_str());
    return InternalError("could not write key file {}", path);
  }
  return OkStatus();
}

std::string OwnerKey::Fingerprint() const {
  auto mac = internal::HmacSha256(bytes_, "tessera key fingerprint v1");
  if (!mac.ok()) return "tk1:unavailable";
  return "tk1:" + HexEncode(std::string_view(*mac).substr(0, 16));
}

Status OwnerKey::Derive(std::string_view label, std::span<uint8_t> out) const {
  static constexpr std::string_view kSalt = "tessera hkdf salt v1";
  return internal::HkdfSha256(bytes_, kSalt, label, out);
}

std::string DefaultKeyPath() {
  if (const char* env = std::getenv("TESSERA_KEY"); env != nullptr && *env != '\0') return env;
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg != nullptr && *xdg != '\0') {
    return std::string(xdg) + "/tessera/owner.key";
  }
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr ? home : ".") + "/.config/tessera/owner.key";
}

}  // namespace tessera::privacy
