#pragma once

// The loader's in-memory tables that are not maps of raw identifiers: the SIVs of the orders
// the store holds already (to skip them), and the dictionaries that give category, SKU, store,
// region, channel and currency texts their dense ids. Internal to the ingest module; not
// thread-safe.

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "ingest/flat_string_map.h"

namespace tessera::ingest::internal {

// An open-addressing set of 128-bit keys (the SIVs of stored order tokens). SIVs are
// uniformly random, so their first word is the hash.
class KeySet {
 public:
  void Reserve(size_t n) {
    size_t cap = 16;
    while (cap < n * 2) cap <<= 1;
    std::vector<Key> old = std::move(slots_);
    slots_.assign(cap, Key{});
    size_ = 0;
    for (const Key& k : old) {
      if (k.a != 0 || k.b != 0) Insert(k);
    }
  }
  // Returns false if the key was present.
  bool Insert(std::string_view siv) {
    Key k;
    std::memcpy(&k.a, siv.data(), 8);
    std::memcpy(&k.b, siv.data() + 8, 8);
    if (k.a == 0 && k.b == 0) k.b = 1;  // the empty marker; a zero SIV has probability 2^-128
    return Insert(k);
  }
  // Fetches the first slot of `siv` ahead of an Insert (see FlatStringMap::Prefetch).
  void Prefetch(std::string_view siv) const {
    if (slots_.empty()) return;
    uint64_t a;
    std::memcpy(&a, siv.data(), 8);
    __builtin_prefetch(&slots_[a & (slots_.size() - 1)]);
  }
  bool Contains(std::string_view siv) const {
    if (slots_.empty()) return false;
    Key k;
    std::memcpy(&k.a, siv.data(), 8);
    std::memcpy(&k.b, siv.data() + 8, 8);
    if (k.a == 0 && k.b == 0) k.b = 1;
    for (size_t i = k.a & (slots_.size() - 1);; i = (i + 1) & (slots_.size() - 1)) {
      if (slots_[i].a == k.a && slots_[i].b == k.b) return true;
      if (slots_[i].a == 0 && slots_[i].b == 0) return false;
    }
  }

 private:
  struct Key {
    uint64_t a = 0, b = 0;
  };
  bool Insert(const Key& k) {
    if ((size_ + 1) * 2 > slots_.size()) Reserve(size_ + 1);
    for (size_t i = k.a & (slots_.size() - 1);; i = (i + 1) & (slots_.size() - 1)) {
      if (slots_[i].a == k.a && slots_[i].b == k.b) return false;
      if (slots_[i].a == 0 && slots_[i].b == 0) {
        slots_[i] = k;
        ++size_;
        return true;
      }
    }
  }
  std::vector<Key> slots_;
  size_t size_ = 0;
};

// Strings -> dense ids for one dictionary kind, continuing the store's ids.
struct Dictionary {
  FlatStringMap ids;
  std::vector<bool> written;  // by id: already in the store
  uint32_t next = 1;          // 0 means "none"
  std::string last_value;     // consecutive rows mostly repeat a value
  uint32_t last_id = 0;

  uint32_t Intern(std::string_view value) {
    if (value.empty()) return 0;
    if (last_id != 0 && value == last_value) return last_id;
    const uint32_t id = ids.Insert(value, next).first;
    if (id == next) ++next;
    last_value.assign(value);
    return last_id = id;
  }
};

}  // namespace tessera::ingest::internal
