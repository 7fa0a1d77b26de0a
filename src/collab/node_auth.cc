#include "tessera/collab/node_auth.h"

#include <openssl/sha.h>
#include <sodium.h>

#include <array>

#include "tessera/common/text.h"

namespace tessera::collab {
namespace {

std::string Hex(std::span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
  return out;
}

bool IsLowerHex(std::string_view s, size_t n) {
  if (s.size() != n) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string SignedBytes(std::string_view op, std::string_view from, std::string_view to,
                        int64_t time, std::string_view nonce, std::string_view body) {
  std::array<uint8_t, SHA256_DIGEST_LENGTH> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(body.data()), body.size(), digest.data());
  return fmt::format("{}\n{}\n{}\n{}\n{}\n{}\n{}", kNodeSignatureContext, op, from, to, time, nonce,
                     Hex(digest));
}

std::string HeadBytes(std::string_view op, std::string_view from, std::string_view to, int64_t time,
                      std::string_view nonce, uint64_t body_bytes) {
  return fmt::format("{}\n{}\n{}\n{}\n{}\n{}\n{}", kNodeHeadSignatureContext, op, from, to, time,
                     nonce, body_bytes);
}

std::array<uint8_t, 64> RawSignature(const std::string& hex) {
  std::array<uint8_t, 64> raw{};
  for (size_t i = 0; i < raw.size(); ++i) {
    raw[i] = static_cast<uint8_t>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
  }
  return raw;
}

}  // namespace

StatusOr<NodeSignature> SignNodeMessage(const PartyKey& key, std::string_view op, const PartyId& to,
                                        std::string_view body, int64_t now) {
  if (sodium_init() < 0) return InternalError("libsodium cannot initialize");
  std::array<uint8_t, 16> nonce{};
  randombytes_buf(nonce.data(), nonce.size());
  NodeSignature sig;
  sig.from = key.id().ToString();
  sig.to = to.ToString();
  sig.time = now;
  sig.nonce = Hex(nonce);
  const Signature s = key.Sign(SignedBytes(op, sig.from, sig.to, now, sig.nonce, body));
  sig.signature = Hex(s);
  sig.body_bytes = body.size();
  sig.head = Hex(key.Sign(HeadBytes(op, sig.from, sig.to, now, sig.nonce, sig.body_bytes)));
  return sig;
}

Status VerifyNodeMessage(const NodeSignature& sig, std::string_view op, const PartyId& from,
                         const PartyId& to, std::string_view body) {
  if (sig.from != from.ToString()) {
    return PermissionDeniedError("node message: sent by another party than expected");
  }
  if (sig.to != to.ToString()) {
    return PermissionDeniedError("node message: addressed to another party");
  }
  if (!IsLowerHex(sig.nonce, 32)) {
    return PermissionDeniedError("node message: the nonce is not 32 lowercase hex digits");
  }
  if (!IsLowerHex(sig.signature, 128)) {
    return PermissionDeniedError("node message: the signature is not 128 lowercase hex digits");
  }
  if (!Verify(from, SignedBytes(op, sig.from, sig.to, sig.time, sig.nonce, body),
              RawSignature(sig.signature))) {
    return PermissionDeniedError("node message: the signature does not verify for step '{}'", op);
  }
  return OkStatus();
}

Status NonceCache::Accept(const NodeSignature& sig, int64_t now) {
  if (sig.time < now - kNodeClockSkewSeconds || sig.time > now + kNodeClockSkewSeconds) {
    return PermissionDeniedError(
        "node message: its time is more than {} seconds from this node's clock (check both "
        "clocks)",
        kNodeClockSkewSeconds);
  }
  std::lock_guard lock(mu_);
  if (sig.time < not_before_) {
    return PermissionDeniedError(
        "node message: signed before this node started (it may have been captured before a "
        "restart): send it again");
  }
  for (auto it = seen_.begin(); it != seen_.end();) {
    it = it->second < now - 2 * kNodeClockSkewSeconds ? seen_.erase(it) : std::next(it);
  }
  if (!seen_.emplace(sig.from + "/" + sig.nonce, sig.time).second) {
    return PermissionDeniedError("node message: replayed (its nonce was seen before)");
  }
  return OkStatus();
}

void NonceCache::RefuseSignedBefore(int64_t time) {
  std::lock_guard lock(mu_);
  not_before_ = time;
}

Status AdmitNodeMessage(const NodeSignature& signature, std::string_view op,
                        const Collaboration& collaboration, const PartyId& self, int64_t now) {
  auto from = PartyId::Parse(signature.from);
  if (!from.ok()) return PermissionDeniedError("node message: the sender is not a party id");
  if (collaboration.Find(*from) == nullptr) {
    return PermissionDeniedError(
        "node message: the sender is not a party of this node's collaboration file");
  }
  if (signature.to != self.ToString()) {
    return PermissionDeniedError("node message: addressed to another party");
  }
  if (signature.time < now - kNodeClockSkewSeconds ||
      signature.time > now + kNodeClockSkewSeconds) {
    return PermissionDeniedError(
        "node message: its time is more than {} seconds from this node's clock (check both "
        "clocks)",
        kNodeClockSkewSeconds);
  }
  if (!IsLowerHex(signature.nonce, 32) || !IsLowerHex(signature.signature, 128)) {
    return PermissionDeniedError("node message: a malformed nonce or signature");
  }
  if (!IsLowerHex(signature.head, 128)) {
    return PermissionDeniedError(
        "node message: no signature of its head (Tessera-Head-Signature, 128 lowercase hex "
        "digits)");
  }
  if (!Verify(*from,
              HeadBytes(op, signature.from, signature.to, signature.time, signature.nonce,
                        signature.body_bytes),
              RawSignature(signature.head))) {
    return PermissionDeniedError(
        "node message: the head's signature does not verify for step '{}' and a body of {} bytes",
        op, signature.body_bytes);
  }
  return OkStatus();
}

StatusOr<PartyId> AcceptNodeMessage(const NodeSignature& signature, std::string_view op,
                                    std::string_view body, uint64_t max_body, const PartyId& self,
                                    NonceCache& nonces, int64_t now) {
  TESSERA_ASSIGN_OR_RETURN(PartyId from, PartyId::Parse(signature.from));
  if (body.size() > max_body) {
    return InvalidArgumentError("node message: a body larger than step '{}' takes", op);
  }
  if (body.size() != signature.body_bytes) {
    return PermissionDeniedError(
        "node message: a body of another size than its head was signed for");
  }
  TESSERA_RETURN_IF_ERROR(VerifyNodeMessage(signature, op, from, self, body));
  TESSERA_RETURN_IF_ERROR(nonces.Accept(signature, now));
  return from;
}

}  // namespace tessera::collab
