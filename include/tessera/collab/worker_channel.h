#pragma once

// The channel between the data owners and the join worker (worker.h), for when someone else
// relays the owners' streams — the requester of a query, who may host the worker itself. The
// relay and the worker's host see ciphertext and its sizes only; the result is sealed to its
// recipient, so that only the holder of the result key reads it.
//
//   1. The worker generates a key pair per run (WorkerKeyPair) and announces its public key
//      first, with how it is attested (WorkerHello, one frame on its output).
//   2. Each owner seals its stream to that key (SealedStreamWriter): an ephemeral crypto_kx key
//      pair gives a key shared with the worker only, and libsodium's secretstream
//      (XChaCha20-Poly1305) seals each frame of worker.h's owner stream under it, in order, the
//      last one tagged final. The worker opens it (SealedStreamReader) and reads the plaintext
//      frames as worker.h describes; a frame damaged, dropped, reordered, replayed from another
//      stream, forged, or missing at the end is refused.
//   3. The worker seals its result to the recipient's key named by the job (crypto_box_seal);
//      only the recipient opens it (ResultKeyPair).
//
// libsodium only, its primitives as documented; nothing here is a construction of its own. The
// owners authenticate the worker through its hello (attestation); the worker does not
// authenticate the owners — the job and the grants behind it do (docs/collaboration.md, "The
// channel to the worker").
//
// A sealed stream on the wire is a sequence of worker.h frames:
//   header: "TWC" 0x01 ‖ the owner's ephemeral public key (32) ‖ the secretstream header (24);
//   then one frame per plaintext frame: its secretstream ciphertext (the payload plus 17 bytes).
//
// Privacy: what goes in is an owner's stream (double-blinded values, audience bits, attribute
// codes; never an identifier) and the worker's aggregate result; what comes out is ciphertext
// readable only by the worker or by the result's recipient. Secret keys are never written out
// and are wiped when their holder is destroyed.

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "tessera/collab/attestation.h"
#include "tessera/collab/worker.h"
#include "tessera/common/status.h"

// libsodium's secretstream state, kept behind a pointer so that this header needs no sodium.h.
struct crypto_secretstream_xchacha20poly1305_state;

namespace tessera::collab {

using X25519PublicKey = std::array<uint8_t, 32>;  // as in worker.h

namespace internal {
// Wipes a secretstream state (it holds the stream's key) and frees it.
struct SecretStreamStateDeleter {
  void operator()(crypto_secretstream_xchacha20poly1305_state* state) const;
};
using SecretStreamState =
    std::unique_ptr<crypto_secretstream_xchacha20poly1305_state, SecretStreamStateDeleter>;
}  // namespace internal

// 64 lower-case hex digits for a public key, and back. Errors: kInvalidArgument (the message
// says what is wrong, not which field: callers add that).
std::string PublicKeyHex(const X25519PublicKey& key);
StatusOr<X25519PublicKey> ParsePublicKeyHex(std::string_view hex);

// The worker's per-run key pair (crypto_kx). Move-only; the secret key is wiped on destruction
// and in the object moved from. Thread-safe for concurrent const use.
class WorkerKeyPair {
 public:
  // A fresh key pair. Errors: kInternal if libsodium cannot initialize.
  static StatusOr<WorkerKeyPair> Generate();
  // The key pair derived from a 32-byte seed (crypto_kx_seed_keypair): for tests and fuzzing
  // only, never for a run. Errors: kInternal if libsodium cannot initialize.
  static StatusOr<WorkerKeyPair> FromSeed(std::span<const uint8_t, 32> seed);

  const X25519PublicKey& public_key() const { return public_key_; }

  WorkerKeyPair(WorkerKeyPair&& other) noexcept;
  WorkerKeyPair& operator=(WorkerKeyPair&& other) noexcept;
  WorkerKeyPair(const WorkerKeyPair&) = delete;
  WorkerKeyPair& operator=(const WorkerKeyPair&) = delete;
  ~WorkerKeyPair();

 private:
  friend class SealedStreamReader;  // derives a stream's key from the secret key
  WorkerKeyPair() = default;
  X25519PublicKey public_key_{};
  std::array<uint8_t, 32> secret_key_{};
};

// What the worker announces first on its output: its public key and how it is attested.
struct WorkerHello {
  X25519PublicKey public_key{};
  AttestationMode mode = AttestationMode::kSimulated;
  std::string evidence;  // empty for simulated; a quote for sgx-dcap (binds the public key)
};
// One line of JSON: {"version":1,"public_key":"<64 hex>","attestation":"simulated"|"sgx-dcap",
// "evidence":"<base64>"}.
std::string EncodeWorkerHello(const WorkerHello& hello);
// Strict: every field present and nothing else, the key in lower-case hex, evidence empty for
// `simulated` and present for `sgx-dcap`. Checks the form only: verifying a quote is the
// attestation's business. Errors: kInvalidArgument naming the field.
StatusOr<WorkerHello> ParseWorkerHello(std::string_view json);

// The largest plaintext frame a sealed stream carries: a worker.h frame, less the
// authentication tag.
inline constexpr size_t kMaxSealedPayloadBytes = kMaxFrameBytes - 17;

// Owner side: seals the frames of an owner stream (worker.h) to the worker's public key.
// Move-only; its stream state is wiped on destruction. Not thread-safe.
class SealedStreamWriter {
 public:
  // Errors: kInvalidArgument for a public key no key can be agreed with (a low-order point);
  // kInternal if libsodium cannot initialize.
  static StatusOr<SealedStreamWriter> Create(const X25519PublicKey& worker_public_key);

  // The bytes to send first (already framed with worker.h's Frame): the owner's ephemeral public
  // key and the secretstream header.
  const std::string& header() const { return header_; }

  // One plaintext frame payload (what worker.h's stream puts in one frame), sealed and framed;
  // `last` = true on the final one (TAG_FINAL). Errors: kFailedPrecondition after the last;
  // kInvalidArgument for a payload over kMaxSealedPayloadBytes.
  StatusOr<std::string> Seal(std::string_view payload, bool last);

  SealedStreamWriter(SealedStreamWriter&&) noexcept = default;
  SealedStreamWriter& operator=(SealedStreamWriter&&) noexcept = default;
  SealedStreamWriter(const SealedStreamWriter&) = delete;
  SealedStreamWriter& operator=(const SealedStreamWriter&) = delete;

 private:
  SealedStreamWriter() = default;
  std::string header_;
  internal::SecretStreamState state_;
  bool done_ = false;
};

// Worker side: the plaintext frames of a sealed stream read through `read`. Keeps `read`, not
// the key pair. Move-only; its stream state is wiped on destruction. Not thread-safe.
class SealedStreamReader {
 public:
  // Reads the header. Errors: kInvalidArgument (no header, a header of the wrong size or
  // version, an owner key no key can be agreed with), those of ReadFrame.
  static StatusOr<SealedStreamReader> Open(ReadFn read, const WorkerKeyPair& keys);
  // The next of several sealed streams that follow each other on one descriptor (the counts on
  // a kept match, worker.h): none at a clean end before a header; the stream ends at its final
  // frame, without waiting for the descriptor to end. Errors: as Open's.
  static StatusOr<std::optional<SealedStreamReader>> OpenNext(ReadFn read,
                                                              const WorkerKeyPair& keys);

  // The next plaintext frame; none after the final one (once the underlying stream has ended
  // there). Errors: kInvalidArgument for a damaged, reordered, replayed or forged frame, one
  // sealed to another worker key, a stream that ends without its final frame (truncated), bytes
  // after the final frame; those of ReadFrame. After an error, every call fails.
  StatusOr<std::optional<std::string>> Next();

  SealedStreamReader(SealedStreamReader&&) noexcept = default;
  SealedStreamReader& operator=(SealedStreamReader&&) noexcept = default;
  SealedStreamReader(const SealedStreamReader&) = delete;
  SealedStreamReader& operator=(const SealedStreamReader&) = delete;

 private:
  SealedStreamReader() = default;
  ReadFn read_;
  internal::SecretStreamState state_;
  uint64_t frames_ = 0;  // frames opened so far
  bool ends_at_final_ = false;
  enum class Phase { kOpen, kFinal, kEnded, kFailed } phase_ = Phase::kOpen;
};

// The recipient's key pair for a result (crypto_box). Move-only; the secret key is wiped on
// destruction and in the object moved from. Thread-safe for concurrent const use.
class ResultKeyPair {
 public:
  // Errors: kInternal if libsodium cannot initialize.
  static StatusOr<ResultKeyPair> Generate();
  // The key pair derived from a 32-byte seed (crypto_box_seed_keypair): for tests only.
  // Errors: kInternal if libsodium cannot initialize.
  static StatusOr<ResultKeyPair> FromSeed(std::span<const uint8_t, 32> seed);

  const X25519PublicKey& public_key() const { return public_key_; }

  // The result sealed to this key. Errors: kInvalidArgument if it was sealed to another key or
  // is damaged.
  StatusOr<std::string> Open(std::string_view sealed) const;

  ResultKeyPair(ResultKeyPair&& other) noexcept;
  ResultKeyPair& operator=(ResultKeyPair&& other) noexcept;
  ResultKeyPair(const ResultKeyPair&) = delete;
  ResultKeyPair& operator=(const ResultKeyPair&) = delete;
  ~ResultKeyPair();

 private:
  ResultKeyPair() = default;
  X25519PublicKey public_key_{};
  std::array<uint8_t, 32> secret_key_{};
};

// `result` sealed to `recipient` (crypto_box_seal: an ephemeral key, 48 bytes longer). Anyone
// may seal; only the recipient opens. Errors: kInvalidArgument for a public key no key can be
// agreed with; kInternal if libsodium cannot initialize.
StatusOr<std::string> SealResult(std::string_view result, const X25519PublicKey& recipient);

}  // namespace tessera::collab
