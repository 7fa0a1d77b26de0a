#pragma once

// The pseudonymous order history in columns: one OrderColumns holds a batch of orders (a
// chunk of the store), each column a plain array, so loading appends arrays and analytics
// scan arrays instead of rows.
//
// Privacy: holds only pseudonymous data — encrypted order tokens, dense customer indexes
// (mapped to pseudonym UUIDs by the store), times, amounts and dictionary ids.

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/common/status.h"

namespace tessera::store {

inline constexpr uint32_t kAnonymousCustomer = 0xffffffffu;  // orders without a customer id

// Dictionary kinds: small integer ids for repeated strings (currencies, categories, ...).
enum class DictKind : uint8_t { kCurrency = 0, kCategory, kSku, kStore, kRegion, kChannel };
inline constexpr size_t kDictKindCount = 6;
std::string_view DictKindName(DictKind kind);

// Column groups of OrderColumns, as a bit set: what a scan asks the store for.
enum OrderFields : uint32_t {
  kOrderCore = 1,        // customer, ordered_at, amount_minor, kind, currency; always read
  kOrderAttributes = 2,  // store, region, channel
  kOrderItems = 4,       // item_offsets and the item_* columns
  kOrderTokens = 8,      // token_offsets, token_bytes
  kOrderAll = 15,
};

struct OrderColumns {
  // Order tokens (AES-SIV ciphertexts), concatenated; token i is
  // token_bytes[token_offsets[i] .. token_offsets[i+1]).
  std::string token_bytes;
  std::vector<uint32_t> token_offsets{0};
  std::vector<uint32_t> customer;     // dense customer index or kAnonymousCustomer
  std::vector<int64_t> ordered_at;    // Unix seconds, UTC
  std::vector<int64_t> amount_minor;  // net order amount in minor units; credits negative
  std::vector<uint8_t> kind;          // io::OrderKind
  std::vector<uint32_t> currency;     // dictionary ids (DictKind::kCurrency)
  std::vector<uint32_t> store, region, channel;  // dictionary ids, 0 = none
  // Line items of order i: items [item_offsets[i], item_offsets[i+1]).
  std::vector<uint32_t> item_offsets{0};
  std::vector<uint32_t> item_category, item_sku;  // dictionary ids, 0 = none
  std::vector<int64_t> item_quantity_milli;
  std::vector<int64_t> item_amount_micro;

  size_t size() const { return customer.size(); }
  size_t item_count() const { return item_category.size(); }
  std::string_view token(size_t i) const {
    return std::string_view(token_bytes)
        .substr(token_offsets[i], token_offsets[i + 1] - token_offsets[i]);
  }
  void Clear();

  // A compact, versioned binary form (little-endian arrays), one blob per chunk. The column
  // groups (OrderFields) lie one after the other behind a fixed header that gives their
  // sizes, core first, so a scan that needs only some groups reads only their bytes.
  std::string Encode() const;
  // Errors: kDataLoss if the blob is truncated or inconsistent.
  static StatusOr<OrderColumns> Decode(std::string_view blob);
  // Decodes the groups in `fields` of a blob of `blob_size` bytes into `*out` (reusing its
  // arrays), asking `read(offset, size, dst)` for exactly the bytes it needs: the header,
  // then each wanted group (the core always). The other groups' columns are left empty. Chunks
  // written before the groups existed are read whole. Errors: kDataLoss (truncated, inconsistent,
  // or `read` returned false).
  using ReadFn = std::function<bool(uint64_t offset, uint64_t size, char* dst)>;
  static Status DecodeFields(uint64_t blob_size, const ReadFn& read, uint32_t fields,
                             OrderColumns* out);
};

}  // namespace tessera::store
