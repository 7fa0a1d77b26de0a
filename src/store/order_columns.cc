#include "tessera/store/order_columns.h"

#include <cstring>

namespace tessera::store {
namespace {

constexpr uint32_t kMagic = 0x31434f54;  // "TOC1"

template <typename T>
void Put(std::string* out, const std::vector<T>& v) {
  const uint64_t n = v.size();
  out->append(reinterpret_cast<const char*>(&n), sizeof(n));
  out->append(reinterpret_cast<const char*>(v.data()), n * sizeof(T));
}

class Reader {
 public:
  explicit Reader(std::string_view blob) : blob_(blob) {}
  template <typename T>
  bool Get(std::vector<T>* v) {
    uint64_t n = 0;
    if (!Raw(&n, sizeof(n)) || n > blob_.size() / sizeof(T) + 1) return false;
    v->resize(n);
    return Raw(v->data(), n * sizeof(T));
  }
  bool Raw(void* dst, size_t n) {
    if (blob_.size() - pos_ < n) return false;
    if (n > 0) std::memcpy(dst, blob_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  bool done() const { return pos_ == blob_.size(); }

 private:
  std::string_view blob_;
  size_t pos_ = 0;
};

}  // namespace

std::string_view DictKindName(DictKind kind) {
  static constexpr std::string_view kNames[] = {"currency", "category", "sku",
                                                "store",    "region",   "channel"};
  return kNames[static_cast<size_t>(kind)];
}

void OrderColumns::Clear() { *this = OrderColumns(); }

std::string OrderColumns::Encode() const {
  std::string out;
  out.reserve(token_bytes.size() + size() * 48 + item_count() * 24 + 256);
  out.append(reinterpret_cast<const char*>(&kMagic), sizeof(kMagic));
  const uint64_t token_size = token_bytes.size();
  out.append(reinterpret_cast<const char*>(&token_size), sizeof(token_size));
  out.append(token_bytes);
  Put(&out, token_offsets);
  Put(&out, customer);
  Put(&out, ordered_at);
  Put(&out, amount_minor);
  Put(&out, kind);
  Put(&out, currency);
  Put(&out, store);
  Put(&out, region);
  Put(&out, channel);
  Put(&out, item_offsets);
  Put(&out, item_category);
  Put(&out, item_sku);
  Put(&out, item_quantity_milli);
  Put(&out, item_amount_micro);
  return out;
}

StatusOr<OrderColumns> OrderColumns::Decode(std::string_view blob) {
  Reader r(blob);
  uint32_t magic = 0;
  OrderColumns c;
  std::vector<char> tokens;
  const bool ok = r.Raw(&magic, sizeof(magic)) && magic == kMagic && r.Get(&tokens) &&
                  r.Get(&c.token_offsets) && r.Get(&c.customer) && r.Get(&c.ordered_at) &&
                  r.Get(&c.amount_minor) && r.Get(&c.kind) && r.Get(&c.currency) &&
                  r.Get(&c.store) && r.Get(&c.region) && r.Get(&c.channel) &&
                  r.Get(&c.item_offsets) && r.Get(&c.item_category) && r.Get(&c.item_sku) &&
                  r.Get(&c.item_quantity_milli) && r.Get(&c.item_amount_micro) && r.done();
  if (!ok) return DataLossError("order chunk is truncated or not in a known format");
  c.token_bytes.assign(tokens.begin(), tokens.end());
  const size_t n = c.customer.size();
  const bool consistent = c.token_offsets.size() == n + 1 && c.ordered_at.size() == n &&
                          c.amount_minor.size() == n && c.kind.size() == n &&
                          c.currency.size() == n && c.store.size() == n && c.region.size() == n &&
                          c.channel.size() == n && c.item_offsets.size() == n + 1 &&
                          c.token_offsets.back() == c.token_bytes.size() &&
                          c.item_offsets.back() == c.item_category.size() &&
                          c.item_sku.size() == c.item_category.size() &&
                          c.item_quantity_milli.size() == c.item_category.size() &&
                          c.item_amount_micro.size() == c.item_category.size();
  if (!consistent) return DataLossError("order chunk has columns of different lengths");
  for (size_t i = 0; i < n; ++i) {
    if (c.token_offsets[i] > c.token_offsets[i + 1] || c.item_offsets[i] > c.item_offsets[i + 1]) {
      return DataLossError("order chunk has decreasing offsets");
    }
  }
  return c;
}

}  // namespace tessera::store
