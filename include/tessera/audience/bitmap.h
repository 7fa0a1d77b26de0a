#pragma once

// Compressed bitmaps of dense customer indexes (CRoaring), and the bit-sliced index that
// answers comparisons on numbers with O(bits) bitmap operations.
//
// Privacy: holds dense customer indexes only, never a pseudonym or an identifier.

#include <roaring/roaring.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/common/status.h"

namespace tessera::audience {

// Owns one roaring bitmap. Movable, copyable by Copy() only (copies can be large).
// Not thread-safe for concurrent writes; concurrent const use is safe.
class Bitmap {
 public:
  Bitmap() : r_(roaring_bitmap_create()) {}
  explicit Bitmap(roaring_bitmap_t* owned) : r_(owned) {}
  ~Bitmap() {
    if (r_ != nullptr) roaring_bitmap_free(r_);
  }
  Bitmap(Bitmap&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  Bitmap& operator=(Bitmap&& o) noexcept {
    std::swap(r_, o.r_);
    return *this;
  }
  Bitmap(const Bitmap&) = delete;
  Bitmap& operator=(const Bitmap&) = delete;

  // [0, n); empty for n = 0 (CRoaring's from_range returns no bitmap for an empty range).
  static Bitmap Range(uint32_t n) {
    return n == 0 ? Bitmap() : Bitmap(roaring_bitmap_from_range(0, n, 1));
  }
  // From indexes in any order (duplicates allowed).
  static Bitmap Of(std::span<const uint32_t> ids);
  Bitmap Copy() const { return Bitmap(roaring_bitmap_copy(r_)); }

  void Add(uint32_t id) { roaring_bitmap_add(r_, id); }
  bool Contains(uint32_t id) const { return roaring_bitmap_contains(r_, id); }
  uint64_t Cardinality() const { return roaring_bitmap_get_cardinality(r_); }
  uint64_t AndCardinality(const Bitmap& o) const {
    return roaring_bitmap_and_cardinality(r_, o.r_);
  }
  bool Empty() const { return roaring_bitmap_is_empty(r_); }
  std::vector<uint32_t> ToVector() const;

  Bitmap And(const Bitmap& o) const { return Bitmap(roaring_bitmap_and(r_, o.r_)); }
  Bitmap Or(const Bitmap& o) const { return Bitmap(roaring_bitmap_or(r_, o.r_)); }
  Bitmap AndNot(const Bitmap& o) const { return Bitmap(roaring_bitmap_andnot(r_, o.r_)); }
  void AndInPlace(const Bitmap& o) { roaring_bitmap_and_inplace(r_, o.r_); }
  void OrInPlace(const Bitmap& o) { roaring_bitmap_or_inplace(r_, o.r_); }
  void AndNotInPlace(const Bitmap& o) { roaring_bitmap_andnot_inplace(r_, o.r_); }
  bool operator==(const Bitmap& o) const { return roaring_bitmap_equals(r_, o.r_); }

  // Run-length encodes where that is smaller and frees spare capacity; for built indexes.
  void Optimize();
  size_t SizeInBytes() const { return roaring_bitmap_portable_size_in_bytes(r_); }

  // The portable format of CRoaring (interoperable with Java/Go implementations).
  void AppendSerialized(std::string* out) const;
  // Errors: kDataLoss when `bytes` is not a valid serialized bitmap.
  static StatusOr<Bitmap> Deserialize(std::string_view bytes, size_t* consumed);

  const roaring_bitmap_t* get() const { return r_; }

 private:
  roaring_bitmap_t* r_;
};

enum class CompareOp { kLt, kLe, kGt, kGe, kEq, kNe };

// A bit-sliced index (O'Neil & Quass): a number per customer, stored as one bitmap per bit of
// (value - min). A comparison with a constant costs one pass over the slices, independent of
// how many customers match. Immutable once built; thread-safe for concurrent reads.
class BitSlicedIndex {
 public:
  BitSlicedIndex() = default;
  // `ids` strictly increasing; values[i] belongs to ids[i].
  static BitSlicedIndex Build(std::span<const uint32_t> ids, std::span<const int64_t> values);

  // The customers with a value v such that `v op constant`; only those in *within when it is
  // given (cheaper: every step works on the candidates only).
  Bitmap Compare(CompareOp op, int64_t constant, const Bitmap* within = nullptr) const;
  const Bitmap& exists() const { return exists_; }
  int64_t min() const { return min_; }
  int64_t max() const { return max_; }
  size_t SizeInBytes() const;

  void AppendSerialized(std::string* out) const;
  static StatusOr<BitSlicedIndex> Deserialize(std::string_view bytes, size_t* consumed);

 private:
  int64_t min_ = 0, max_ = -1;
  Bitmap exists_;
  std::vector<Bitmap> slices_;  // slices_[b]: customers whose (value - min) has bit b set
};

}  // namespace tessera::audience
