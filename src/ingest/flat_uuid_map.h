#pragma once

// A Uuid -> uint32_t hash map for the loader's customer tables: open addressing over 20-byte
// entries held inline, so a look-up costs one memory access where std::unordered_map costs a
// bucket, a node and an allocation per entry (~56 bytes per customer against ~27-53 here).
// Pseudonyms are uniformly random, so their first eight bytes are the hash.
// Not thread-safe. Internal to the store module.

#include <cstdint>
#include <utility>
#include <vector>

#include "tessera/privacy/pseudonymizer.h"

namespace tessera::ingest::internal {

class FlatUuidMap {
 public:
  static constexpr uint32_t kMissing = 0xffffffffu;  // also marks an empty entry

  FlatUuidMap() { entries_.resize(16); }

  // The value of `uuid`, or kMissing.
  uint32_t Find(const privacy::Uuid& uuid) const {
    for (size_t i = Start(uuid);; i = (i + 1) & mask()) {
      const Entry& e = entries_[i];
      if (e.value == kMissing) return kMissing;
      if (e.uuid == uuid) return e.value;
    }
  }

  // Inserts uuid -> value (value != kMissing) unless present; returns the stored value and
  // whether it was inserted.
  std::pair<uint32_t, bool> Insert(const privacy::Uuid& uuid, uint32_t value) {
    if ((size_ + 1) * 4 > entries_.size() * 3) Rehash(entries_.size() * 2);
    size_t i = Start(uuid);
    for (; entries_[i].value != kMissing; i = (i + 1) & mask()) {
      if (entries_[i].uuid == uuid) return {entries_[i].value, false};
    }
    entries_[i] = Entry{uuid, value};
    ++size_;
    return {value, true};
  }

 private:
  struct Entry {
    privacy::Uuid uuid;
    uint32_t value = kMissing;
  };

  size_t mask() const { return entries_.size() - 1; }
  size_t Start(const privacy::Uuid& uuid) const { return privacy::UuidHash()(uuid) & mask(); }

  void Rehash(size_t capacity) {
    std::vector<Entry> old = std::move(entries_);
    entries_.assign(capacity, Entry{});
    for (const Entry& e : old) {
      if (e.value == kMissing) continue;
      size_t i = Start(e.uuid);
      while (entries_[i].value != kMissing) i = (i + 1) & mask();
      entries_[i] = e;
    }
  }

  std::vector<Entry> entries_;
  size_t size_ = 0;
};

}  // namespace tessera::ingest::internal
