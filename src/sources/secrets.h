#pragma once

// Reading a source's secrets from where its configuration points (an environment variable, a
// file) when they are needed, and an anonymous in-memory file for the loader. Internal to the
// module.
//
// Privacy: a secret is returned to the caller and kept nowhere; messages name the variable or
// the file, never the secret. A MemoryFile holds raw order records in memory only (memfd: no
// file system shows it, it vanishes with its last descriptor).

#include <string>
#include <string_view>

#include "tessera/common/status.h"
#include "tessera/sources/source_store.h"

namespace tessera::sources::internal {

// The secret `ref` points to, blanks and line ends around it removed. `what` names it in
// messages ("its access token"). Errors: kFailedPrecondition naming the source and the variable
// or file (unset, empty, unreadable).
StatusOr<std::string> ReadSecret(const std::string& source, const SecretRef& ref,
                                 std::string_view what);

// A WooCommerce source's consumer key and secret: two variables, or one file holding
// "KEY:SECRET" or the key and the secret on two lines. Errors as ReadSecret's.
struct Credentials {
  std::string key, secret;
};
StatusOr<Credentials> ReadWooCommerceCredentials(const SourceConfig& config);

// An anonymous file in memory holding `data`, readable through path() by this process.
class MemoryFile {
 public:
  // Errors: kInternal when the kernel refuses (no memfd, out of memory).
  static StatusOr<MemoryFile> Create(std::string_view data);
  MemoryFile(MemoryFile&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  MemoryFile& operator=(MemoryFile&&) = delete;
  MemoryFile(const MemoryFile&) = delete;
  ~MemoryFile();
  std::string path() const;  // /proc/self/fd/N

 private:
  explicit MemoryFile(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace tessera::sources::internal
