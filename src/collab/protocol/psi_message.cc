#include "tessera/collab/psi_message.h"

#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <unordered_set>

#include "tessera/common/parallel.h"
#include "tessera/privacy/order_token.h"

namespace tessera::collab {

namespace {

constexpr uint8_t kMagic[4] = {'T', 'P', 'S', 'I'};
constexpr uint8_t kVersion = 1;
constexpr uint8_t kFlagLast = 1;

void PutBigEndian(uint32_t v, std::string* out) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}
uint32_t GetBigEndian(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
using PointSet = std::unordered_set<Point, PointHash>;

}  // namespace

StatusOr<PsiSessionId> NewPsiSessionId() {
  if (sodium_init() < 0) return InternalError("libsodium cannot initialize");
  PsiSessionId id;
  randombytes_buf(id.data(), id.size());
  return id;
}

std::string PsiSessionIdHex(const PsiSessionId& id) {
  return privacy::HexEncode(std::string_view(reinterpret_cast<const char*>(id.data()), id.size()));
}

StatusOr<PsiSessionId> ParsePsiSessionIdHex(std::string_view hex) {
  PsiSessionId id{};
  const bool lower = std::all_of(hex.begin(), hex.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
  auto raw = lower && hex.size() == 2 * id.size() ? privacy::HexDecode(hex)
                                                  : StatusOr<std::string>(InvalidArgumentError(""));
  if (!raw.ok() || raw->size() != id.size()) {
    return InvalidArgumentError("a session id is 32 lower-case hex digits");
  }
  std::memcpy(id.data(), raw->data(), id.size());
  return id;
}

StatusOr<std::vector<uint32_t>> ShuffleForSession(uint32_t n) {
  if (sodium_init() < 0) return InternalError("libsodium cannot initialize");
  std::vector<uint32_t> p(n);
  for (uint32_t i = 0; i < n; ++i) p[i] = i;
  for (uint32_t i = n; i > 1; --i) std::swap(p[i - 1], p[randombytes_uniform(i)]);  // Fisher-Yates
  return p;
}

StatusOr<std::string> EncodePsiMessage(const PsiMessage& message, const PsiMessageLimits& limits) {
  if (message.points.size() > limits.max_points) {
    return InvalidArgumentError("a PSI message holds at most {} points, not {}: send chunks",
                                limits.max_points, message.points.size());
  }
  PointSet seen(message.points.size());
  for (const Point& p : message.points) {
    if (!seen.insert(p).second) {
      return InvalidArgumentError("a PSI message cannot hold a value twice: deduplicate first");
    }
  }
  std::string out;
  out.reserve(kPsiHeaderSize + message.points.size() * Point::kSize);
  out.append(reinterpret_cast<const char*>(kMagic), sizeof kMagic);
  out.push_back(static_cast<char>(kVersion));
  out.push_back(static_cast<char>(message.type));
  out.push_back(static_cast<char>(message.last ? kFlagLast : 0));
  out.push_back('\0');
  out.append(reinterpret_cast<const char*>(message.session.data()), message.session.size());
  PutBigEndian(message.sequence, &out);
  PutBigEndian(static_cast<uint32_t>(message.points.size()), &out);
  for (const Point& p : message.points) {
    out.append(reinterpret_cast<const char*>(p.bytes().data()), Point::kSize);
  }
  return out;
}

StatusOr<PsiMessage> ParsePsiMessage(std::span<const uint8_t> bytes, const PsiMessageLimits& limits,
                                     unsigned threads) {
  if (bytes.size() < kPsiHeaderSize) {
    return InvalidArgumentError("PSI message: {} bytes, shorter than its {}-byte header",
                                bytes.size(), kPsiHeaderSize);
  }
  if (std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) {
    return InvalidArgumentError("PSI message: byte 0: not a PSI message (wrong magic)");
  }
  if (bytes[4] != kVersion) {
    return InvalidArgumentError("PSI message: byte 4: version {} is unknown (this tessera: {})",
                                bytes[4], kVersion);
  }
  PsiMessage m;
  if (bytes[5] != static_cast<uint8_t>(PsiMessageType::kBlindedTokens) &&
      bytes[5] != static_cast<uint8_t>(PsiMessageType::kDoubleBlinded)) {
    return InvalidArgumentError("PSI message: byte 5: unknown message type {}", bytes[5]);
  }
  m.type = static_cast<PsiMessageType>(bytes[5]);
  if ((bytes[6] & ~kFlagLast) != 0) {
    return InvalidArgumentError("PSI message: byte 6: unknown flags {:#04x}", bytes[6]);
  }
  m.last = (bytes[6] & kFlagLast) != 0;
  if (bytes[7] != 0) return InvalidArgumentError("PSI message: byte 7: reserved, must be 0");
  std::memcpy(m.session.data(), bytes.data() + 8, m.session.size());
  m.sequence = GetBigEndian(bytes.data() + 24);
  const uint32_t count = GetBigEndian(bytes.data() + 28);
  if (count > limits.max_points) {
    return InvalidArgumentError("PSI message: byte 28: {} points, more than the {} allowed", count,
                                limits.max_points);
  }
  const size_t body = bytes.size() - kPsiHeaderSize;
  if (body != size_t{count} * Point::kSize) {
    return InvalidArgumentError(
        "PSI message: byte 28: {} points need {} bytes after the header, the message has {}", count,
        size_t{count} * Point::kSize, body);
  }
  // Decoding (a square root per point) runs on `threads` threads; the first bad point in order
  // is then reported exactly where a loop in order would have stopped: after any repeat before it.
  m.points.assign(count, Point::Generator());
  std::mutex bad_mutex;
  uint32_t bad = count;  // guarded by bad_mutex: the lowest point that failed to decode
  Status bad_status;     // its error
  const auto offset_of = [](size_t i) { return kPsiHeaderSize + i * Point::kSize; };
  (void)ParallelChunks(
      count, 8192,
      [&](size_t begin, size_t end) {
        for (size_t i = begin; i < end; ++i) {
          auto point = Point::FromBytes(bytes.subspan(offset_of(i), Point::kSize));
          if (!point.ok()) {
            std::lock_guard lock(bad_mutex);
            if (i < bad) {
              bad = static_cast<uint32_t>(i);
              bad_status = point.status();
            }
            return point.status();
          }
          m.points[i] = *point;
        }
        return OkStatus();
      },
      threads);
  PointSet seen(count);
  for (uint32_t i = 0; i < count; ++i) {
    if (i == bad) {
      return InvalidArgumentError("PSI message: byte {}: point {}: {}", offset_of(i), i,
                                  bad_status.message());
    }
    if (!seen.insert(m.points[i]).second) {
      return InvalidArgumentError("PSI message: byte {}: point {} repeats an earlier one",
                                  offset_of(i), i);
    }
  }
  return m;
}

Status ReplayGuard::Accept(const std::string& sender, const PsiMessage& message) {
  Stream& s = streams_[Key{sender, message.session, message.type}];
  if (s.done) {
    return InvalidArgumentError("PSI message: chunk {} after the sender's last chunk (replayed?)",
                                message.sequence);
  }
  if (message.sequence < s.next) {
    return InvalidArgumentError("PSI message: chunk {} was received already (replayed)",
                                message.sequence);
  }
  if (message.sequence > s.next) {
    return InvalidArgumentError("PSI message: chunk {} arrived before chunk {} (out of sequence)",
                                message.sequence, s.next);
  }
  ++s.next;
  s.done = message.last;
  return OkStatus();
}

bool ReplayGuard::Complete(const std::string& sender, const PsiSessionId& session,
                           PsiMessageType type) const {
  auto it = streams_.find(Key{sender, session, type});
  return it != streams_.end() && it->second.done;
}

}  // namespace tessera::collab
