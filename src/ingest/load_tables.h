#pragma once

// The loader's in-memory tables that are not maps of raw identifiers: the SIVs of the orders
// the store holds already (to skip them), and the dictionaries that give category, SKU, store,
// region, channel and currency texts their dense ids. Internal to the ingest module; not
// thread-safe.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "ingest/flat_string_map.h"
#include "tessera/store/store.h"

namespace tessera::ingest::internal {

// "No such slot, order or line" in the loader's 32-bit indexes.
inline constexpr uint32_t kNone = 0xffffffffu;

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

// The six dictionaries of a load: continued from the store's (Restore), added to while
// reading (Intern), each new entry written with the first batch whose orders use it (Use).
class Dictionaries {
 public:
  // An entry the store has.
  void Restore(store::DictKind kind, uint32_t id, const std::string& value) {
    Dictionary& d = at(kind);
    d.ids.Insert(value, id);
    d.next = std::max(d.next, id + 1);
    if (d.written.size() <= id) d.written.resize(id + 1, false);
    d.written[id] = true;
  }
  // The id of `value` (0 for none), a new one on first sight.
  uint32_t Intern(store::DictKind kind, std::string_view value) { return at(kind).Intern(value); }
  // How many ids are taken, counting 0 ("none").
  uint32_t next(store::DictKind kind) const { return dicts_[Index(kind)].next; }

  const std::string& Value(store::DictKind kind, uint32_t id) {
    Dictionary& d = at(kind);
    std::vector<std::string>& values = values_[Index(kind)];
    if (values.size() < d.next) {
      values.assign(d.next, std::string());
      d.ids.ForEach([&](std::string_view v, uint32_t i) { values[i] = std::string(v); });
    }
    return values[id];
  }

  // `id`, making sure the entry is written with `batch` unless the store has it already.
  uint32_t Use(store::DictKind kind, uint32_t id, store::Batch* batch) {
    if (id == 0) return 0;
    Dictionary& d = at(kind);
    if (d.written.size() <= id) d.written.resize(d.next, false);
    if (!d.written[id]) {
      d.written[id] = true;
      batch->new_dict_entries.push_back(store::Batch::DictEntry{kind, id, Value(kind, id)});
    }
    return id;
  }

 private:
  static size_t Index(store::DictKind kind) { return static_cast<size_t>(kind); }
  Dictionary& at(store::DictKind kind) { return dicts_[Index(kind)]; }

  Dictionary dicts_[store::kDictKindCount];
  std::vector<std::string> values_[store::kDictKindCount];  // by id, filled on first Value()
};

}  // namespace tessera::ingest::internal
