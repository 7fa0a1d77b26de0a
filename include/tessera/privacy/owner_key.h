#pragma once

// The data owner's secret. Every pseudonym and order token is derived from it, so it lives
// in a file of the owner's (mode 0600), never in the store; the store keeps only its
// fingerprint to refuse a different key.

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "tessera/common/status.h"

namespace tessera::privacy {

// A 256-bit secret. Copyable value type; the bytes are wiped on destruction.
// Thread-safe for concurrent const use.
class OwnerKey {
 public:
  static constexpr size_t kSize = 32;

  // A fresh key from the operating system's CSPRNG (OpenSSL RAND_bytes).
  // Errors: kInternal if the CSPRNG fails.
  static StatusOr<OwnerKey> Generate();
  static OwnerKey FromBytes(std::span<const uint8_t, kSize> bytes);

  // Reads a key file written by Save().
  // Errors: kNotFound (no file: the message says how to create one), kPermissionDenied (the
  // file is readable by group or others, or unreadable), kInvalidArgument (not a key file).
  static StatusOr<OwnerKey> Load(const std::string& path);

  // Writes the key to a new file with mode 0600, creating parent directories (mode 0700).
  // Errors: kAlreadyExists (never overwrites a key: that would orphan every pseudonym),
  // kPermissionDenied / kInternal for I/O failures.
  Status Save(const std::string& path) const;

  // A public, non-reversible identifier of the key: "tk1:" + 32 hex digits of
  // HMAC-SHA256(key, "tessera key fingerprint v1").
  std::string Fingerprint() const;

  // Derives `out.size()` bytes for a purpose named by `label` (HKDF-SHA256), so each use of
  // the key (customer pseudonyms, order tokens) has a key of its own.
  Status Derive(std::string_view label, std::span<uint8_t> out) const;

  OwnerKey(const OwnerKey&) = default;
  OwnerKey& operator=(const OwnerKey&) = default;
  ~OwnerKey();

 private:
  OwnerKey() = default;
  std::array<uint8_t, kSize> bytes_{};
};

// The documented default location: $TESSERA_KEY, else $XDG_CONFIG_HOME/tessera/owner.key,
// else ~/.config/tessera/owner.key.
std::string DefaultKeyPath();

}  // namespace tessera::privacy
