#pragma once

// The index file's building blocks: little-endian integers, length-prefixed strings and
// bounds-checked reading. Internal to the audience module.

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "tessera/common/status.h"

namespace tessera::audience::internal {

inline void PutU64(std::string* out, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out->append(b, 8);
}
inline void PutI64(std::string* out, int64_t v) { PutU64(out, static_cast<uint64_t>(v)); }
inline void PutString(std::string* out, std::string_view s) {
  PutU64(out, s.size());
  out->append(s);
}

// Reads what the Put functions wrote; every read checks the bounds.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}
  Status U64(uint64_t* v) {
    if (bytes_.size() - pos_ < 8) return Truncated();
    uint64_t r = 0;
    for (int i = 0; i < 8; ++i)
      r |= static_cast<uint64_t>(static_cast<uint8_t>(bytes_[pos_ + i])) << (8 * i);
    pos_ += 8;
    *v = r;
    return OkStatus();
  }
  Status I64(int64_t* v) {
    uint64_t u = 0;
    TESSERA_RETURN_IF_ERROR(U64(&u));
    *v = static_cast<int64_t>(u);
    return OkStatus();
  }
  // A count that cannot exceed the bytes left (each element takes at least `min_bytes`).
  Status Count(uint64_t* n, size_t min_bytes) {
    TESSERA_RETURN_IF_ERROR(U64(n));
    if (*n > (bytes_.size() - pos_) / (min_bytes == 0 ? 1 : min_bytes)) return Truncated();
    return OkStatus();
  }
  Status String(std::string* s) {
    uint64_t n = 0;
    TESSERA_RETURN_IF_ERROR(Count(&n, 1));
    s->assign(bytes_.substr(pos_, n));
    pos_ += n;
    return OkStatus();
  }
  std::string_view Rest() const { return bytes_.substr(pos_); }
  void Skip(size_t n) { pos_ += n; }
  bool AtEnd() const { return pos_ == bytes_.size(); }
  static Status Truncated() { return DataLossError("the audience index is truncated or damaged"); }

 private:
  std::string_view bytes_;
  size_t pos_ = 0;
};

}  // namespace tessera::audience::internal
