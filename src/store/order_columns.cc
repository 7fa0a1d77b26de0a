#include "tessera/store/order_columns.h"

#include <cstring>

namespace tessera::store {
namespace {

constexpr uint32_t kMagicV1 = 0x31434f54;  // "TOC1": all columns, tokens first
constexpr uint32_t kMagic = 0x32434f54;    // "TOC2": column groups behind a header

// TOC2 header: magic, order count, item count, then the byte size of each column group in
// the order of kGroups.
constexpr size_t kGroupCount = 4;
constexpr uint32_t kGroups[kGroupCount] = {kOrderCore, kOrderAttributes, kOrderItems, kOrderTokens};
constexpr size_t kHeaderSize = 4 + 8 + 8 + 8 * kGroupCount;

template <typename T>
void Put(std::string* out, const std::vector<T>& v) {
  const uint64_t n = v.size();
  out->append(reinterpret_cast<const char*>(&n), sizeof(n));
  out->append(reinterpret_cast<const char*>(v.data()), n * sizeof(T));
}

void PutBytes(std::string* out, std::string_view bytes) {
  const uint64_t n = bytes.size();
  out->append(reinterpret_cast<const char*>(&n), sizeof(n));
  out->append(bytes);
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
  bool Get(std::string* s) {
    uint64_t n = 0;
    if (!Raw(&n, sizeof(n)) || n > blob_.size()) return false;
    s->resize(n);
    return Raw(s->data(), n);
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

bool Ascending(const std::vector<uint32_t>& offsets) {
  for (size_t i = 1; i < offsets.size(); ++i) {
    if (offsets[i - 1] > offsets[i]) return false;
  }
  return true;
}

// Reads one column group of a TOC2 chunk; false if its bytes do not parse.
bool GetGroup(uint32_t group, std::string_view bytes, OrderColumns* c) {
  Reader r(bytes);
  bool ok = false;
  switch (group) {
    case kOrderCore:
      ok = r.Get(&c->customer) && r.Get(&c->ordered_at) && r.Get(&c->amount_minor) &&
           r.Get(&c->kind) && r.Get(&c->currency);
      break;
    case kOrderAttributes:
      ok = r.Get(&c->store) && r.Get(&c->region) && r.Get(&c->channel);
      break;
    case kOrderItems:
      ok = r.Get(&c->item_offsets) && r.Get(&c->item_category) && r.Get(&c->item_sku) &&
           r.Get(&c->item_quantity_milli) && r.Get(&c->item_amount_micro);
      break;
    case kOrderTokens:
      ok = r.Get(&c->token_offsets) && r.Get(&c->token_bytes);
      break;
  }
  return ok && r.done();
}

// Whether the groups in `fields` have the lengths the header promises.
bool Consistent(const OrderColumns& c, uint32_t fields, uint64_t n, uint64_t items) {
  if ((fields & kOrderCore) &&
      !(c.customer.size() == n && c.ordered_at.size() == n && c.amount_minor.size() == n &&
        c.kind.size() == n && c.currency.size() == n)) {
    return false;
  }
  if ((fields & kOrderAttributes) &&
      !(c.store.size() == n && c.region.size() == n && c.channel.size() == n)) {
    return false;
  }
  if ((fields & kOrderItems) &&
      !(c.item_offsets.size() == n + 1 && c.item_offsets.back() == items &&
        c.item_category.size() == items && c.item_sku.size() == items &&
        c.item_quantity_milli.size() == items && c.item_amount_micro.size() == items &&
        Ascending(c.item_offsets))) {
    return false;
  }
  if ((fields & kOrderTokens) &&
      !(c.token_offsets.size() == n + 1 && c.token_offsets.back() == c.token_bytes.size() &&
        Ascending(c.token_offsets))) {
    return false;
  }
  return true;
}

// The first format: every column, tokens first.
Status DecodeV1(std::string_view blob, OrderColumns* c) {
  Reader r(blob);
  uint32_t magic = 0;
  const bool ok = r.Raw(&magic, sizeof(magic)) && magic == kMagicV1 && r.Get(&c->token_bytes) &&
                  r.Get(&c->token_offsets) && r.Get(&c->customer) && r.Get(&c->ordered_at) &&
                  r.Get(&c->amount_minor) && r.Get(&c->kind) && r.Get(&c->currency) &&
                  r.Get(&c->store) && r.Get(&c->region) && r.Get(&c->channel) &&
                  r.Get(&c->item_offsets) && r.Get(&c->item_category) && r.Get(&c->item_sku) &&
                  r.Get(&c->item_quantity_milli) && r.Get(&c->item_amount_micro) && r.done();
  if (!ok) return DataLossError("order chunk is truncated or not in a known format");
  if (!Consistent(*c, kOrderAll, c->customer.size(), c->item_category.size())) {
    return DataLossError("order chunk has columns of different lengths");
  }
  return OkStatus();
}

}  // namespace

std::string_view DictKindName(DictKind kind) {
  static constexpr std::string_view kNames[] = {"currency", "category", "sku",
                                                "store",    "region",   "channel"};
  return kNames[static_cast<size_t>(kind)];
}

void OrderColumns::Clear() { *this = OrderColumns(); }

std::string OrderColumns::Encode() const {
  std::string out(kHeaderSize, '\0');
  out.reserve(kHeaderSize + token_bytes.size() + size() * 48 + item_count() * 24 + 256);
  uint64_t group_size[kGroupCount];
  for (size_t g = 0; g < kGroupCount; ++g) {
    const size_t before = out.size();
    switch (kGroups[g]) {
      case kOrderCore:
        Put(&out, customer);
        Put(&out, ordered_at);
        Put(&out, amount_minor);
        Put(&out, kind);
        Put(&out, currency);
        break;
      case kOrderAttributes:
        Put(&out, store);
        Put(&out, region);
        Put(&out, channel);
        break;
      case kOrderItems:
        Put(&out, item_offsets);
        Put(&out, item_category);
        Put(&out, item_sku);
        Put(&out, item_quantity_milli);
        Put(&out, item_amount_micro);
        break;
      case kOrderTokens:
        Put(&out, token_offsets);
        PutBytes(&out, token_bytes);
        break;
    }
    group_size[g] = out.size() - before;
  }
  const uint64_t counts[2] = {size(), item_count()};
  std::memcpy(out.data(), &kMagic, 4);
  std::memcpy(out.data() + 4, counts, sizeof(counts));
  std::memcpy(out.data() + 20, group_size, sizeof(group_size));
  return out;
}

StatusOr<OrderColumns> OrderColumns::Decode(std::string_view blob) {
  OrderColumns c;
  TESSERA_RETURN_IF_ERROR(DecodeFields(
      blob.size(),
      [&](uint64_t offset, uint64_t size, char* dst) {
        if (offset > blob.size() || blob.size() - offset < size) return false;
        if (size > 0) std::memcpy(dst, blob.data() + offset, size);
        return true;
      },
      kOrderAll, &c));
  return c;
}

Status OrderColumns::DecodeFields(uint64_t blob_size, const ReadFn& read, uint32_t fields,
                                  OrderColumns* out) {
  fields |= kOrderCore;  // size() and every consumer need it; it is the smallest group
  const auto truncated = [] {
    return DataLossError("order chunk is truncated or not in a known format");
  };
  uint32_t magic = 0;
  if (blob_size < 4 || !read(0, 4, reinterpret_cast<char*>(&magic))) return truncated();
  thread_local std::string bytes;  // reused: a scan reads chunk after chunk
  if (magic == kMagicV1) {
    bytes.resize(blob_size);
    if (!read(0, blob_size, bytes.data())) return truncated();
    return DecodeV1(bytes, out);
  }
  char header[kHeaderSize];
  if (magic != kMagic || blob_size < kHeaderSize || !read(4, kHeaderSize - 4, header + 4)) {
    return truncated();
  }
  uint64_t counts[2], group_size[kGroupCount];
  std::memcpy(counts, header + 4, sizeof(counts));
  std::memcpy(group_size, header + 20, sizeof(group_size));
  uint64_t offset = kHeaderSize;
  for (size_t g = 0; g < kGroupCount; ++g) {
    const uint32_t group = kGroups[g];
    if (group_size[g] > blob_size - offset) return truncated();
    if (fields & group) {
      bytes.resize(group_size[g]);
      if (!read(offset, group_size[g], bytes.data()) || !GetGroup(group, bytes, out)) {
        return truncated();
      }
    }
    offset += group_size[g];
  }
  if (offset != blob_size) return truncated();
  // The groups not asked for stay empty (their arrays keep their capacity for the next chunk).
  if (!(fields & kOrderAttributes)) {
    for (auto* v : {&out->store, &out->region, &out->channel}) v->clear();
  }
  if (!(fields & kOrderItems)) {
    for (auto* v : {&out->item_offsets, &out->item_category, &out->item_sku}) v->clear();
    out->item_quantity_milli.clear();
    out->item_amount_micro.clear();
  }
  if (!(fields & kOrderTokens)) {
    out->token_offsets.clear();
    out->token_bytes.clear();
  }
  if (!Consistent(*out, fields, counts[0], counts[1])) {
    return DataLossError("order chunk has columns of different lengths");
  }
  return OkStatus();
}

}  // namespace tessera::store
