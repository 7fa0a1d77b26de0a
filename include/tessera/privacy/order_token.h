#pragma once

// Order ids, encrypted deterministically with AES-256-SIV (RFC 5297) under a key derived
// from the owner's key: the same order id always gives the same token (so orders deduplicate
// across exports), and the key holder can decrypt a token back to the order id.
//
// Privacy: input is a source order id (it may link to a person in the shop's systems);
// output is its ciphertext. Nothing here stores or logs the order id.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "tessera/common/status.h"
#include "tessera/privacy/owner_key.h"

namespace tessera::privacy {

// Token layout: the 16-byte SIV followed by the ciphertext (as long as the order id). The SIV
// is a pseudorandom function of the order id, so its first bytes serve as a hash key.
class OrderTokenizer {
 public:
  static constexpr size_t kSivSize = 16;
  static constexpr size_t kMaxOrderIdBytes = 255;

  // Errors: kInternal if OpenSSL lacks AES-256-SIV.
  static StatusOr<OrderTokenizer> Create(const OwnerKey& key);

  // Errors: kInvalidArgument if the order id is empty or longer than kMaxOrderIdBytes.
  StatusOr<std::string> Encrypt(std::string_view order_id);
  // Errors: kInvalidArgument if the token is malformed or was made with another key.
  StatusOr<std::string> Decrypt(std::string_view token);

  OrderTokenizer(OrderTokenizer&&) noexcept;
  OrderTokenizer& operator=(OrderTokenizer&&) noexcept;
  ~OrderTokenizer();

 private:
  struct State;
  explicit OrderTokenizer(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;  // not thread-safe: one tokenizer per thread
};

std::string HexEncode(std::string_view bytes);
// Errors: kInvalidArgument on odd length or a non-hex digit.
StatusOr<std::string> HexDecode(std::string_view hex);

}  // namespace tessera::privacy
