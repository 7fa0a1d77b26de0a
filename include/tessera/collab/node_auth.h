#pragma once

// Requests between the nodes of a collaboration (docs/collaboration.md, "Between nodes"): each
// request and each reply is signed with its sender's party key (party.h), names its receiver,
// and carries a time and a random nonce, so that a receiver knows who sent it, that it was meant
// for it, and that it is neither old nor sent twice.
//
// The signed bytes (UTF-8, '\n' between fields, no trailing newline):
//   "tessera.collab.node.v1" \n op \n from \n to \n time \n nonce \n SHA-256(body) as hex
// `op` names the step ("round1", "round1.reply", ...), so that a signature made for one step is
// never valid for another; `from` and `to` are party ids ("tp1:..."), time is Unix seconds in
// decimal, the nonce 32 lowercase hex digits (16 random bytes).
//
// A request also carries a signature of its head, checked before a byte of its body is read, so
// that nobody who merely knows a party id makes a node read (and hold) a large body:
//   "tessera.collab.node.head.v1" \n op \n from \n to \n time \n nonce \n the body's size in bytes
//
// Over HTTP the fields travel as headers: Tessera-From, Tessera-To, Tessera-Time,
// Tessera-Nonce, Tessera-Signature (128 hex digits), Tessera-Head-Signature (128 hex digits);
// the body's size is the request's Content-Length.
//
// Privacy: nothing here touches personal data; the bodies signed are blinded values and
// aggregates.

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "tessera/collab/party.h"
#include "tessera/common/status.h"

namespace tessera::collab {

inline constexpr std::string_view kNodeSignatureContext = "tessera.collab.node.v1";
inline constexpr std::string_view kNodeHeadSignatureContext = "tessera.collab.node.head.v1";
// How far a message's time may lie from the receiver's clock.
inline constexpr int64_t kNodeClockSkewSeconds = 300;

struct NodeSignature {
  std::string from;         // the sender's party id
  std::string to;           // the receiver's party id
  int64_t time = 0;         // Unix seconds
  std::string nonce;        // 32 lowercase hex digits
  std::string signature;    // 128 lowercase hex digits
  std::string head;         // 128 lowercase hex digits: the head's signature (requests)
  uint64_t body_bytes = 0;  // the body's size, as the head's signature covers it
};

// Signs `body` for step `op` from `key`'s party to `to` at `now`, with a fresh nonce, and the
// head (body_bytes: the body's size).
// Errors: kInternal if libsodium cannot initialize.
StatusOr<NodeSignature> SignNodeMessage(const PartyKey& key, std::string_view op, const PartyId& to,
                                        std::string_view body, int64_t now);

// Checks a signature's form and that it is `from`'s over `body` for `op`, addressed to `to`.
// Does not check time or nonce (NonceCache does). Errors: kPermissionDenied naming what is wrong
// (never a value of the body).
Status VerifyNodeMessage(const NodeSignature& sig, std::string_view op, const PartyId& from,
                         const PartyId& to, std::string_view body);

// What a node checks of a request for step `op` before it reads its body: the sender is a party
// of `collaboration`, the request is addressed to `self`, its time lies within
// kNodeClockSkewSeconds of `now`, its nonce and signature are well-formed, and the head's
// signature verifies for `op` and body_bytes with the sender's key. A transport calls it first
// (body_bytes the Content-Length), so that nobody makes a node read a body without the sender's
// signature of its size. Errors: kPermissionDenied naming what is wrong.
Status AdmitNodeMessage(const NodeSignature& signature, std::string_view op,
                        const Collaboration& collaboration, const PartyId& self, int64_t now);

class NonceCache;

// The rest of a node's checks, once it has admitted a request (AdmitNodeMessage) and read its
// body: no larger than `max_body`, of the size its head was signed for, signed by its sender for
// `op` over this body and addressed to `self`, its nonce not seen before. Returns the sender.
// Errors: kInvalidArgument for a body too large; kPermissionDenied as VerifyNodeMessage and
// NonceCache::Accept.
StatusOr<PartyId> AcceptNodeMessage(const NodeSignature& signature, std::string_view op,
                                    std::string_view body, uint64_t max_body, const PartyId& self,
                                    NonceCache& nonces, int64_t now);

// The nonces a node has accepted within the allowed clock skew: refuses a message that is too
// old, from the future, or seen before. Thread-safe.
//
// The cache lives in memory: a node that restarts forgets the nonces it saw. So that a message
// captured before a restart cannot be replayed after it, a node refuses every message signed
// before it started (RefuseSignedBefore); a sender whose message crossed the restart sends again.
class NonceCache {
 public:
  // Errors: kPermissionDenied for a time outside now ± kNodeClockSkewSeconds or before the time
  // given to RefuseSignedBefore, or a nonce seen from this sender before.
  Status Accept(const NodeSignature& sig, int64_t now);
  // From now on refuses messages whose time is before `time` (the node's start).
  void RefuseSignedBefore(int64_t time);

 private:
  std::mutex mu_;
  std::map<std::string, int64_t> seen_;  // from + nonce -> time
  int64_t not_before_ = INT64_MIN;       // guarded by mu_
};

}  // namespace tessera::collab
