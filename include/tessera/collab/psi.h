#pragma once

// Blinding for ECDH private set intersection (the "2HashDH" construction) on ristretto255.
//
// A session between owners A and B, each with its match-token key k (match_token.h) and a fresh
// session scalar r:
//   1. A sends Blind(its tokens, r_A) = r_A·k_A·H(x) to B; B likewise sends r_B·k_B·H(y).
//   2. Each multiplies what it received by its own r·k (SessionScalar::WithMatchKey) and sends
//      the double-blinded values r_A·k_A·r_B·k_B·H(·) to the join worker, never back to the
//      other party. Equal identifiers give equal values; nothing else matches.
// A fresh r per session makes the values of two sessions unlinkable; k makes a party unable to
// compute anyone's values for identifiers it merely guesses.
//
// Privacy: in go match tokens (keyed values that never leave the owner unblinded) or a
// partner's blinded values; out come blinded values, safe to send to the party named above.

#include <cstdint>
#include <functional>
#include <span>
#include <utility>
#include <vector>

#include "tessera/collab/group.h"
#include "tessera/collab/match_token.h"
#include "tessera/common/status.h"

namespace tessera::collab {

// A per-session secret scalar. Move-only, so that a session's secret is not copied by accident;
// wiped on destruction. Thread-safe for concurrent const use (Blind may run on many threads
// with one SessionScalar).
class SessionScalar {
 public:
  // A fresh uniformly random scalar. Errors: kInternal if libsodium cannot initialize.
  static StatusOr<SessionScalar> Random();
  // A given scalar, for tests and for resuming a session from encrypted state.
  // Errors: as Scalar::FromBytes.
  static StatusOr<SessionScalar> FromBytes(std::span<const uint8_t> bytes);

  // r·k: the scalar that applies this owner's session and match-token key to the values a
  // partner sent in round 1.
  SessionScalar WithMatchKey(const MatchTokenKey& key) const;

  const Scalar& scalar() const { return scalar_; }

  SessionScalar(SessionScalar&&) noexcept = default;
  SessionScalar& operator=(SessionScalar&&) noexcept = default;
  SessionScalar(const SessionScalar&) = delete;
  SessionScalar& operator=(const SessionScalar&) = delete;

 private:
  explicit SessionScalar(Scalar s) : scalar_(std::move(s)) {}
  Scalar scalar_;
};

// r · P. Errors: kInvalidArgument if the result is the identity (impossible for valid inputs in
// a prime-order group; checked rather than assumed).
StatusOr<Point> Blind(const Point& point, const SessionScalar& r);

// r · P for every point, in order, on `threads` threads (0: one per core; the sandboxed worker
// passes 1). Errors: as Blind, with the index of the first offending point in the detail
// "index".
StatusOr<std::vector<Point>> BlindBatch(std::span<const Point> points, const SessionScalar& r,
                                        unsigned threads = 0);
// The same, overwriting the given vector in place (no allocation: for large batches).
StatusOr<std::vector<Point>> BlindBatch(std::vector<Point>&& points, const SessionScalar& r,
                                        unsigned threads = 0);
// r · decode(encoded(i)) for i in [0, n), in order: an owner's stored tokens blinded without
// first holding them all decoded. Errors: the decoding's (Point::FromBytes) or Blind's, of the
// first offending item, with its index in the detail "index".
StatusOr<std::vector<Point>> DecodeAndBlind(
    size_t n, const std::function<std::span<const uint8_t>(size_t)>& encoded,
    const SessionScalar& r, unsigned threads = 0);

}  // namespace tessera::collab
