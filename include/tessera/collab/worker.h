#pragma once

// The join worker's job: read what two owners send it, line up their session positions
// (join.h), count what the job asks (joint_counts.h) and return only that, labelled with how the
// run is attested (attestation.h). The worker holds no store, no owner key and no identifier;
// apps/tessera-worker runs this on the file descriptors it is handed, sandboxed.
//
// Each owner's stream is a sequence of frames (a 4-byte big-endian length, then the bytes):
//   1. the job, JSON: {"version":1,"session":"<32 hex>","kind":"overlap"|"counts",
//      "k_min":N,"epsilon_micro":N|null}; both owners must send the same job;
//   2. double-blinded values (psi_message.h, type 2) of the OTHER owner's session positions,
//      chunk by chunk, the last one flagged;
//   3. one contribution (joint_counts.h) for its OWN session positions.
// Then the stream ends.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "tessera/collab/attestation.h"
#include "tessera/collab/joint_counts.h"
#include "tessera/collab/psi_message.h"

namespace tessera::collab {

inline constexpr uint32_t kMaxFrameBytes = 1u << 28;  // 256 MiB: a contribution of 2^26 positions

// Reads exactly n bytes into out; false at a clean end before any byte. Errors: kInvalidArgument
// when the stream ends inside what it announced; kInternal for a read error.
using ReadFn = std::function<StatusOr<size_t>(uint8_t* out, size_t n)>;

// The next frame, or none at the end of the stream. Errors: kInvalidArgument (a frame over
// kMaxFrameBytes, a stream that ends inside a frame), those of `read`.
StatusOr<std::optional<std::string>> ReadFrame(const ReadFn& read);
std::string Frame(std::string_view bytes);

struct JoinJob {
  PsiSessionId session{};
  enum class Kind { kOverlap, kCounts } kind = Kind::kOverlap;
  uint64_t k_min = 100;
  std::optional<uint64_t> epsilon_micro;
};
// Errors: kInvalidArgument naming the field.
StatusOr<JoinJob> ParseJoinJob(std::string_view json);
std::string JoinJobJson(const JoinJob& job);

// What one owner sent.
struct OwnerStream {
  std::string job;                // the job as sent
  std::vector<Point> of_partner;  // double-blinded values at the partner's positions
  Contribution contribution;      // for its own positions
};
// Reads one owner's stream to its end. Errors: those of ReadFrame, ParsePsiMessage (with a
// ReplayGuard: chunks once, in sequence, up to the last), ParseContribution, and
// kInvalidArgument for frames out of place or of another session.
StatusOr<OwnerStream> ReadOwnerStream(const ReadFn& read, const std::string& owner);

// The job's result as JSON: {"session", "kind", "dimensions", "cells":[{"labels","count"}],
// "filtered_cells", "k_min", "noise", "attestation": {...}}. Owner A's contribution's positions
// are those B double-blinded, and the other way round. Errors: kInvalidArgument when the owners'
// jobs differ, a session does not match, or the sizes do not fit; those of CountJoint.
StatusOr<std::string> RunJoinJob(const OwnerStream& a, const OwnerStream& b,
                                 const AttestationProvider& attestation, RandomSource& random);

}  // namespace tessera::collab
