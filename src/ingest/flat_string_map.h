#pragma once

// A string -> uint32_t hash map for the loader's hot paths (order ids, customer ids,
// dictionary values): open addressing over 16-byte slots that keep the full 64-bit hash, and
// keys copied once into an arena, so a lookup costs one hash and usually one comparison.
// Not thread-safe. Internal to the store module.
//
// Privacy: keys may be raw identifiers; they live in this process's memory only and are
// wiped when the map is destroyed.

#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

namespace tessera::ingest::internal {

class FlatStringMap {
 public:
  static constexpr uint32_t kMissing = 0xffffffffu;

  FlatStringMap() { slots_.resize(16); }
  ~FlatStringMap() { Wipe(); }
  FlatStringMap(const FlatStringMap&) = delete;
  FlatStringMap& operator=(const FlatStringMap&) = delete;
  FlatStringMap(FlatStringMap&&) = default;
  FlatStringMap& operator=(FlatStringMap&&) = default;

  size_t size() const { return size_; }
  // Bytes held: slots and key arena.
  size_t MemoryBytes() const {
    return slots_.capacity() * sizeof(Slot) + blocks_.size() * (size_t{1} << 20);
  }
  // Empties the map, wiping its keys, and gives back its memory.
  void Clear() {
    Wipe();
    std::vector<Block>().swap(blocks_);
    std::vector<Slot>(16).swap(slots_);
    size_ = 0;
  }

  // The value of `key`, or kMissing.
  uint32_t Find(std::string_view key) const {
    const uint64_t h = Hash(key);
    for (size_t i = h & mask(); slots_[i].key != nullptr; i = (i + 1) & mask()) {
      const Slot& s = slots_[i];
      if (s.hash == h && s.length == key.size() &&
          std::memcmp(s.key, key.data(), key.size()) == 0) {
        return s.value;
      }
    }
    return kMissing;
  }

  // Asks the CPU to fetch the slot where a look-up of `key` starts, so that a look-up a few
  // rows later finds it in cache: the order index outgrows the caches, and a miss on it was
  // the loader's largest single cost.
  void Prefetch(std::string_view key) const { __builtin_prefetch(&slots_[Hash(key) & mask()]); }

  // Inserts key -> value unless present; returns the stored value and a view of the stored
  // key (valid for the life of the map).
  std::pair<uint32_t, std::string_view> Insert(std::string_view key, uint32_t value) {
    if ((size_ + 1) * 4 > slots_.size() * 3) Grow();
    const uint64_t h = Hash(key);
    size_t i = h & mask();
    for (; slots_[i].key != nullptr; i = (i + 1) & mask()) {
      const Slot& s = slots_[i];
      if (s.hash == h && s.length == key.size() &&
          std::memcmp(s.key, key.data(), key.size()) == 0) {
        return {s.value, std::string_view(s.key, s.length)};
      }
    }
    const char* stored = Store(key);
    slots_[i] = Slot{h, stored, static_cast<uint32_t>(key.size()), value};
    ++size_;
    return {value, std::string_view(stored, key.size())};
  }

  template <typename Fn>
  void ForEach(Fn&& fn) const {
    for (const Slot& s : slots_) {
      if (s.key != nullptr) fn(std::string_view(s.key, s.length), s.value);
    }
  }

 private:
  struct Slot {
    uint64_t hash = 0;
    const char* key = nullptr;
    uint32_t length = 0;
    uint32_t value = 0;
  };
  struct Block {
    std::unique_ptr<char[]> data;
    size_t used = 0, capacity = 0;
  };

  // 64-bit FNV-1a over 8-byte words with a final mix: fast for the short keys seen here.
  static uint64_t Hash(std::string_view s) {
    uint64_t h = 0x9e3779b97f4a7c15ull ^ s.size();
    size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
      uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      h = (h ^ w) * 0x100000001b3ull;
      h ^= h >> 29;
    }
    uint64_t tail = 0;
    std::memcpy(&tail, s.data() + i, s.size() - i);
    h = (h ^ tail) * 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 33);
  }

  size_t mask() const { return slots_.size() - 1; }

  void Wipe() {
    for (auto& block : blocks_) std::memset(block.data.get(), 0, block.used);
  }

  void Grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.size() * 2, Slot{});
    for (const Slot& s : old) {
      if (s.key == nullptr) continue;
      size_t i = s.hash & mask();
      while (slots_[i].key != nullptr) i = (i + 1) & mask();
      slots_[i] = s;
    }
  }

  const char* Store(std::string_view key) {
    if (blocks_.empty() || blocks_.back().capacity - blocks_.back().used < key.size()) {
      const size_t capacity = std::max<size_t>(1 << 20, key.size());
      blocks_.push_back(Block{std::make_unique<char[]>(capacity), 0, capacity});
    }
    Block& b = blocks_.back();
    char* dst = b.data.get() + b.used;
    if (!key.empty()) std::memcpy(dst, key.data(), key.size());
    b.used += key.size();
    return dst;
  }

  std::vector<Slot> slots_;
  std::vector<Block> blocks_;
  size_t size_ = 0;
};

}  // namespace tessera::ingest::internal
