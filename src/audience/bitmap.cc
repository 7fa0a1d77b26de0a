#include "tessera/audience/bitmap.h"

#include <algorithm>
#include <bit>

#include "audience/serial.h"

namespace tessera::audience {

Bitmap Bitmap::Of(std::span<const uint32_t> ids) {
  Bitmap b;
  if (!ids.empty()) roaring_bitmap_add_many(b.r_, ids.size(), ids.data());
  return b;
}

std::vector<uint32_t> Bitmap::ToVector() const {
  std::vector<uint32_t> v(Cardinality());
  roaring_bitmap_to_uint32_array(r_, v.data());
  return v;
}

void Bitmap::Optimize() {
  roaring_bitmap_run_optimize(r_);
  roaring_bitmap_shrink_to_fit(r_);
}

void Bitmap::AppendSerialized(std::string* out) const {
  const size_t n = roaring_bitmap_portable_size_in_bytes(r_);
  internal::PutU64(out, n);
  const size_t at = out->size();
  out->resize(at + n);
  roaring_bitmap_portable_serialize(r_, out->data() + at);
}

StatusOr<Bitmap> Bitmap::Deserialize(std::string_view bytes, size_t* consumed) {
  internal::Reader r(bytes);
  uint64_t n = 0;
  TESSERA_RETURN_IF_ERROR(r.Count(&n, 1));
  roaring_bitmap_t* b = roaring_bitmap_portable_deserialize_safe(r.Rest().data(), n);
  if (b == nullptr) return internal::Reader::Truncated();
  *consumed = 8 + n;
  return Bitmap(b);
}

BitSlicedIndex BitSlicedIndex::Build(std::span<const uint32_t> ids,
                                     std::span<const int64_t> values) {
  BitSlicedIndex bsi;
  bsi.exists_ = Bitmap::Of(ids);
  bsi.exists_.Optimize();
  if (ids.empty()) return bsi;
  bsi.min_ = *std::min_element(values.begin(), values.end());
  bsi.max_ = *std::max_element(values.begin(), values.end());
  const uint64_t span = static_cast<uint64_t>(bsi.max_) - static_cast<uint64_t>(bsi.min_);
  const int bits = span == 0 ? 0 : std::bit_width(span);
  std::vector<std::vector<uint32_t>> members(bits);
  for (size_t i = 0; i < ids.size(); ++i) {
    uint64_t u = static_cast<uint64_t>(values[i]) - static_cast<uint64_t>(bsi.min_);
    while (u != 0) {
      const int b = std::countr_zero(u);
      members[b].push_back(ids[i]);
      u &= u - 1;
    }
  }
  bsi.slices_.reserve(bits);
  for (auto& m : members) {
    bsi.slices_.push_back(Bitmap::Of(m));
    bsi.slices_.back().Optimize();
  }
  return bsi;
}

Bitmap BitSlicedIndex::Compare(CompareOp op, int64_t constant, const Bitmap* within) const {
  const Bitmap base = within != nullptr ? exists_.And(*within) : exists_.Copy();
  // Constants outside [min, max] need no slices.
  if (base.Empty() || constant < min_ || constant > max_) {
    const bool all = constant < min_
                         ? (op == CompareOp::kGt || op == CompareOp::kGe || op == CompareOp::kNe)
                         : (op == CompareOp::kLt || op == CompareOp::kLe || op == CompareOp::kNe);
    return all ? base.Copy() : Bitmap();
  }
  const uint64_t c = static_cast<uint64_t>(constant) - static_cast<uint64_t>(min_);
  // O'Neil's comparison: walk the bits from the top, keeping those still equal to the
  // constant's prefix (eq) and those already known to be greater (gt).
  Bitmap gt;
  Bitmap eq = base.Copy();
  for (size_t b = slices_.size(); b-- > 0;) {
    if ((c >> b) & 1) {
      eq.AndInPlace(slices_[b]);
    } else {
      gt.OrInPlace(eq.And(slices_[b]));
      eq.AndNotInPlace(slices_[b]);
    }
  }
  switch (op) {
    case CompareOp::kEq:
      return eq;
    case CompareOp::kNe:
      return base.AndNot(eq);
    case CompareOp::kGt:
      return gt;
    case CompareOp::kGe:
      gt.OrInPlace(eq);
      return gt;
    case CompareOp::kLe:
      return base.AndNot(gt);
    case CompareOp::kLt:
      gt.OrInPlace(eq);
      return base.AndNot(gt);
  }
  return Bitmap();
}

size_t BitSlicedIndex::SizeInBytes() const {
  size_t n = exists_.SizeInBytes();
  for (const auto& s : slices_) n += s.SizeInBytes();
  return n;
}

void BitSlicedIndex::AppendSerialized(std::string* out) const {
  internal::PutI64(out, min_);
  internal::PutI64(out, max_);
  exists_.AppendSerialized(out);
  internal::PutU64(out, slices_.size());
  for (const auto& s : slices_) s.AppendSerialized(out);
}

StatusOr<BitSlicedIndex> BitSlicedIndex::Deserialize(std::string_view bytes, size_t* consumed) {
  internal::Reader r(bytes);
  BitSlicedIndex bsi;
  TESSERA_RETURN_IF_ERROR(r.I64(&bsi.min_));
  TESSERA_RETURN_IF_ERROR(r.I64(&bsi.max_));
  size_t used = 0;
  TESSERA_ASSIGN_OR_RETURN(bsi.exists_, Bitmap::Deserialize(r.Rest(), &used));
  r.Skip(used);
  uint64_t n = 0;
  TESSERA_RETURN_IF_ERROR(r.Count(&n, 8));
  if (n > 64) return internal::Reader::Truncated();
  for (uint64_t i = 0; i < n; ++i) {
    TESSERA_ASSIGN_OR_RETURN(Bitmap s, Bitmap::Deserialize(r.Rest(), &used));
    r.Skip(used);
    bsi.slices_.push_back(std::move(s));
  }
  *consumed = bytes.size() - r.Rest().size();
  return bsi;
}

}  // namespace tessera::audience
