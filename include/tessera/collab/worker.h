#pragma once

// The join worker's job: read what two owners send it, line up their session positions
// (join.h), count what the job asks (joint_counts.h) and return only that, labelled with how the
// run is attested (attestation.h). The worker holds no store, no owner key and no identifier;
// apps/tessera-worker runs this on the file descriptors it is handed, sandboxed.
//
// Each owner's stream is a sequence of frames (a 4-byte big-endian length, then the bytes):
//   1. the job, JSON: {"version":1,"session":"<32 hex>","kind":"overlap"|"counts"|"activation",
//      "k_min":N,"epsilon_micro":N|null[,"result_key":"<64 hex>"]}; both owners must send the
//      same job;
//   2. double-blinded values (psi_message.h, type 2) of the OTHER owner's session positions,
//      chunk by chunk, the last one flagged;
//   3. one contribution (joint_counts.h) for its OWN session positions.
// Then the stream ends. Relayed by someone else, the stream travels sealed to the worker
// (worker_channel.h): the same frames, each sealed, and the result sealed to `result_key`.

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/collab/attestation.h"
#include "tessera/collab/joint_counts.h"
#include "tessera/collab/psi_message.h"

namespace tessera::collab {

using X25519PublicKey = std::array<uint8_t, 32>;  // as in worker_channel.h

inline constexpr uint32_t kMaxFrameBytes = 1u << 28;  // 256 MiB: a contribution of 2^26 positions

// Reads exactly n bytes into out; false at a clean end before any byte. Errors: kInvalidArgument
// when the stream ends inside what it announced; kInternal for a read error.
using ReadFn = std::function<StatusOr<size_t>(uint8_t* out, size_t n)>;

// The next frame, or none at the end of the stream. Memory grows with the bytes that arrive,
// not with the length a frame announces. Errors: kInvalidArgument (a frame over kMaxFrameBytes,
// a stream that ends inside a frame), those of `read`.
StatusOr<std::optional<std::string>> ReadFrame(const ReadFn& read);
std::string Frame(std::string_view bytes);

// The frames of bytes held in memory (a node request's body), without copying them.
class FrameCursor {
 public:
  explicit FrameCursor(std::string_view bytes) : bytes_(bytes) {}
  // The next frame, none at the end. Errors: kInvalidArgument for a frame cut short.
  StatusOr<std::optional<std::string_view>> Next();
  // What follows the frames read so far.
  std::string_view rest() const { return bytes_.substr(at_); }

 private:
  std::string_view bytes_;
  size_t at_ = 0;
};

// A source of whole frames: the next one, or none at the end (ReadFrame over a ReadFn, or
// SealedStreamReader::Next of worker_channel.h).
using FrameSource = std::function<StatusOr<std::optional<std::string>>()>;

struct JoinJob {
  PsiSessionId session{};
  // kActivation: the matched pairs both owners' bits admit, released as owner A's positions
  // (A alone can map them to its customers) — never B's — or withheld under k_min.
  enum class Kind { kOverlap, kCounts, kActivation } kind = Kind::kOverlap;
  uint64_t k_min = 100;
  std::optional<uint64_t> epsilon_micro;  // none for an activation: a list takes no noise
  // Whom the result is sealed to (worker_channel.h's SealResult); none: the result goes out as
  // it is. JSON: "result_key":"<64 lower-case hex>", absent for none.
  std::optional<X25519PublicKey> result_key;
  // An overlap or counts job whose match the worker keeps for further counts (KeptJoin; session.h
  // KeptMatch), until its streams end. JSON: "keep":true, absent for false.
  bool keep = false;
  // A count on a kept match (`session` is the match's): its own id, never used twice on that
  // match, and the hash both owners accepted of the count's request (so that both accepted the
  // same one). Its stream carries the job and a contribution, no values. JSON: "count":"<32
  // hex>","request":"<64 hex>", both absent otherwise. Only kind counts.
  std::optional<PsiSessionId> count;
  std::string request;
};
// Errors: kInvalidArgument naming the field (an activation with an ε too).
StatusOr<JoinJob> ParseJoinJob(std::string_view json);
std::string JoinJobJson(const JoinJob& job);

// What one owner sent (for a count on a kept match, no values).
struct OwnerStream {
  std::string job;                // the job as sent
  std::vector<Point> of_partner;  // double-blinded values at the partner's positions
  Contribution contribution;      // for its own positions
};
// Reads one owner's stream to its end. Errors: those of ReadFrame, ParsePsiMessage (with a
// ReplayGuard: chunks once, in sequence, up to the last), ParseContribution, and
// kInvalidArgument for frames out of place or of another session. Every message starts with
// "owner <owner>: ".
StatusOr<OwnerStream> ReadOwnerStream(const ReadFn& read, const std::string& owner);
// The same over frames from `next` (the plaintext frames of a sealed stream). Errors: those of
// `next` and of the above.
StatusOr<OwnerStream> ReadOwnerStream(const FrameSource& next, const std::string& owner);

// The job's result as JSON: {"session", "kind", "dimensions", "cells":[{"labels","count"}],
// "filtered_cells", "k_min", "noise", "attestation": {...}}. Owner A's contribution's positions
// are those B double-blinded, and the other way round.
//
// An activation's result is {"session", "kind":"activation", "withheld":true, "k_min",
// "attestation"} when fewer than k_min matched pairs are in both owners' audiences — nothing
// else, not even how many — and otherwise {"session", "kind", "withheld":false, "count":N,
// "positions":"<hex>", "k_min", "attestation"}: owner A's positions of those pairs as a bit set
// (EncodePositionBits). Activation contributions carry no breakdown.
//
// Errors: kInvalidArgument when the owners' jobs differ, a session does not match, the sizes do
// not fit, a dimension's value is not UTF-8 (the result is JSON), an activation's contribution has
// dimensions; those of CountJoint.
StatusOr<std::string> RunJoinJob(const OwnerStream& a, const OwnerStream& b,
                                 const AttestationProvider& attestation, RandomSource& random);

// A match the worker keeps after a job that asked for it (JoinJob::keep), for counts on it.
struct KeptJoin {
  JoinJob job;                     // the job that made the match
  std::vector<MatchedPair> pairs;  // owner A's and owner B's positions of each matched value
  uint32_t a_positions = 0, b_positions = 0;
  std::vector<PsiSessionId> counts;  // ids of the counts run on it (each runs once)
};
// As above, and when the job asks to keep its match (and `kept` is given), the match in *kept.
// Errors: as above, and kInvalidArgument for a count on a kept match (RunKeptCount's).
StatusOr<std::string> RunJoinJob(const OwnerStream& a, const OwnerStream& b,
                                 const AttestationProvider& attestation, RandomSource& random,
                                 KeptJoin* kept);
// A count on a kept match: both owners' jobs equal, of kind counts, on that match's session, with
// a count id not used before on it; each contribution of the size of the owner's positions in
// the match. Result as RunJoinJob's for counts, with "count":"<32 hex>" after "session".
// Errors: kInvalidArgument naming what does not fit; those of CountJoint.
StatusOr<std::string> RunKeptCount(KeptJoin& kept, const OwnerStream& a, const OwnerStream& b,
                                   const AttestationProvider& attestation, RandomSource& random);

// Positions of an owner's session (each below `size`) as lower-case hex of ceil(size / 8)
// bytes, position i being bit i % 8 (least significant first) of byte i / 8: at most 8 MiB of
// bits (16 MiB of hex) for kMaxContributionPositions, however many are listed.
std::string EncodePositionBits(std::span<const uint32_t> positions, uint32_t size);
// The positions set, ascending. Errors: kInvalidArgument for text that is not lower-case hex of
// whole bytes, or longer than kMaxContributionPositions bits.
StatusOr<std::vector<uint32_t>> DecodePositionBits(std::string_view hex);

}  // namespace tessera::collab
