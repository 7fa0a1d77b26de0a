#pragma once

// The wire format of PSI messages: the blinded tokens one party sends another in round 1, and
// the double-blinded values each party sends the join worker in round 2 (psi.h). Parsed by
// parties and by the worker from bytes that may be hostile, so every field is checked and
// every failure is a clear error naming the byte offset, never a crash.
//
//   offset  size  field
//   0       4     magic "TPSI"
//   4       1     version (1)
//   5       1     type (1: blinded tokens, 2: double-blinded values)
//   6       1     flags (bit 0: the sender's last chunk of this session; the others 0)
//   7       1     reserved (0)
//   8       16    session id (random per session, chosen by the session's initiator)
//   24      4     sequence: the chunk's number in the sender's stream, from 0 (big-endian)
//   28      4     count of points (big-endian)
//   32      32·n  the points: canonical ristretto255 encodings, none the identity, none twice
//
// A point's position is its index in the session: the owner of the customers behind round-1
// values shuffles them (ShuffleForSession) before it blinds them, so that positions follow no
// order of its customers, and keeps the permutation to itself; whoever double-blinds the values
// keeps their positions, so that the join worker can line up what each owner contributes for a
// position (its audience bits) with the values that match.
//
// Who signs a message and proves it is fresh across connections is the transport's business
// (requests between nodes are signed with party keys); ReplayGuard refuses a chunk it has seen.
//
// Privacy: the points are blinded values, unlinkable between sessions; no identifier, token or
// pseudonym is ever in a message.

#include <array>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "tessera/collab/group.h"
#include "tessera/common/status.h"

namespace tessera::collab {

enum class PsiMessageType : uint8_t {
  kBlindedTokens = 1,  // round 1: r·k·H(x), from one party to the other
  kDoubleBlinded = 2,  // round 2: r_A·k_A·r_B·k_B·H(x), from a party to the join worker
};

using PsiSessionId = std::array<uint8_t, 16>;

struct PsiMessage {
  PsiMessageType type = PsiMessageType::kBlindedTokens;
  PsiSessionId session{};
  uint32_t sequence = 0;
  bool last = false;
  std::vector<Point> points;  // in session order, none twice
};

struct PsiMessageLimits {
  // Points per message: 2^20 points are 32 MiB, a chunk a receiver can hold while it checks it.
  uint32_t max_points = 1u << 20;
};

inline constexpr size_t kPsiHeaderSize = 32;

// A fresh random session id. Errors: kInternal if libsodium cannot initialize.
StatusOr<PsiSessionId> NewPsiSessionId();
// 32 lower-case hex digits, and back. Errors: kInvalidArgument for anything else.
std::string PsiSessionIdHex(const PsiSessionId& id);
StatusOr<PsiSessionId> ParsePsiSessionIdHex(std::string_view hex);

// The message's bytes. Errors: kInvalidArgument for more points than `limits` allow, or a point
// given twice.
StatusOr<std::string> EncodePsiMessage(const PsiMessage& message,
                                       const PsiMessageLimits& limits = {});

// A uniformly random permutation of `n` positions (libsodium's CSPRNG): position i of the
// session holds item permutation[i]. Errors: kInternal if libsodium cannot initialize.
StatusOr<std::vector<uint32_t>> ShuffleForSession(uint32_t n);

// Errors: kInvalidArgument naming the offset and what is wrong: too short, wrong magic, an
// unknown version, type or flag, a non-zero reserved byte, a count over the limit or not
// matching the length, a point that is not a canonical encoding of an element or is the
// identity, a point repeated. Points are decoded on `threads` threads (0: one per core); the
// sandboxed worker, which may not start threads, parses on its own (the default).
StatusOr<PsiMessage> ParsePsiMessage(std::span<const uint8_t> bytes,
                                     const PsiMessageLimits& limits = {}, unsigned threads = 1);

// What a receiver has accepted of each sender's stream, to refuse a chunk sent again (a replay),
// a chunk after the sender's last one, and a chunk out of sequence. Not thread-safe.
class ReplayGuard {
 public:
  // `sender`: who sent it, as the transport authenticated it (a party id).
  // Errors: kInvalidArgument (replayed, out of sequence, after the last chunk).
  Status Accept(const std::string& sender, const PsiMessage& message);
  // Whether `sender`'s stream of `type` in `session` has had its last chunk.
  bool Complete(const std::string& sender, const PsiSessionId& session, PsiMessageType type) const;

 private:
  struct Stream {
    uint32_t next = 0;
    bool done = false;
  };
  using Key = std::tuple<std::string, PsiSessionId, PsiMessageType>;
  std::map<Key, Stream> streams_;
};

}  // namespace tessera::collab
