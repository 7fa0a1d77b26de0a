#include "tessera/collab/worker_channel.h"

#include <sodium.h>

#include <cstring>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <vector>

#include "collab/protocol/hash_internal.h"

void tessera::collab::internal::SecretStreamStateDeleter::operator()(
    crypto_secretstream_xchacha20poly1305_state* state) const {
  sodium_memzero(state, sizeof *state);
  delete state;
}

namespace tessera::collab {

namespace {

using StreamState = crypto_secretstream_xchacha20poly1305_state;

// "TWC" (Tessera worker channel) and the version: a stream that is not sealed, or sealed in
// another version, is named as such rather than failing to open.
constexpr char kMagic[3] = {'T', 'W', 'C'};
constexpr uint8_t kVersion = 1;
constexpr size_t kHeaderBytes = sizeof kMagic + 1 + crypto_kx_PUBLICKEYBYTES +
                                crypto_secretstream_xchacha20poly1305_HEADERBYTES;
constexpr size_t kTagBytes = crypto_secretstream_xchacha20poly1305_ABYTES;

static_assert(kMaxSealedPayloadBytes + kTagBytes == kMaxFrameBytes);
static_assert(crypto_kx_PUBLICKEYBYTES == 32 && crypto_kx_SECRETKEYBYTES == 32 &&
              crypto_box_PUBLICKEYBYTES == 32 && crypto_box_SECRETKEYBYTES == 32 &&
              crypto_kx_SEEDBYTES == 32 && crypto_box_SEEDBYTES == 32);
static_assert(crypto_kx_SESSIONKEYBYTES == crypto_secretstream_xchacha20poly1305_KEYBYTES);

void PutLength(uint32_t n, char* out) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>(n >> (24 - 8 * i));
}

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}
unsigned char* Bytes(std::string& s) { return reinterpret_cast<unsigned char*>(s.data()); }

// Wipes the secrets it was given when it goes out of scope, on every path.
class Wipe {
 public:
  Wipe(std::initializer_list<std::span<uint8_t>> secrets) : secrets_(secrets) {}
  ~Wipe() {
    for (std::span<uint8_t> s : secrets_) sodium_memzero(s.data(), s.size());
  }
  Wipe(const Wipe&) = delete;
  Wipe& operator=(const Wipe&) = delete;

 private:
  std::vector<std::span<uint8_t>> secrets_;
};

// Moves a key pair's keys, wiping the secret left behind.
void MoveKeys(X25519PublicKey& public_key, std::array<uint8_t, 32>& secret_key,
              X25519PublicKey& other_public, std::array<uint8_t, 32>& other_secret) {
  public_key = other_public;
  secret_key = other_secret;
  sodium_memzero(other_secret.data(), other_secret.size());
}

}  // namespace

std::string PublicKeyHex(const X25519PublicKey& key) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * key.size());
  for (uint8_t b : key) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xf]);
  }
  return out;
}

StatusOr<X25519PublicKey> ParsePublicKeyHex(std::string_view hex) {
  X25519PublicKey key{};
  if (hex.size() != 2 * key.size()) {
    return InvalidArgumentError("a public key is {} lower-case hex digits, not {} characters",
                                2 * key.size(), hex.size());
  }
  for (size_t i = 0; i < hex.size(); ++i) {
    const char c = hex[i];
    const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return InvalidArgumentError("a public key is lower-case hex digits only");
    key[i / 2] = static_cast<uint8_t>(key[i / 2] << 4 | d);
  }
  return key;
}

StatusOr<WorkerKeyPair> WorkerKeyPair::Generate() {
  TESSERA_RETURN_IF_ERROR(internal::EnsureSodium());
  WorkerKeyPair keys;
  crypto_kx_keypair(keys.public_key_.data(), keys.secret_key_.data());
  return keys;
}

StatusOr<WorkerKeyPair> WorkerKeyPair::FromSeed(std::span<const uint8_t, 32> seed) {
  TESSERA_RETURN_IF_ERROR(internal::EnsureSodium());
  WorkerKeyPair keys;
  crypto_kx_seed_keypair(keys.public_key_.data(), keys.secret_key_.data(), seed.data());
  return keys;
}

WorkerKeyPair::WorkerKeyPair(WorkerKeyPair&& other) noexcept {
  MoveKeys(public_key_, secret_key_, other.public_key_, other.secret_key_);
}

WorkerKeyPair& WorkerKeyPair::operator=(WorkerKeyPair&& other) noexcept {
  if (this != &other) MoveKeys(public_key_, secret_key_, other.public_key_, other.secret_key_);
  return *this;
}

WorkerKeyPair::~WorkerKeyPair() { sodium_memzero(secret_key_.data(), secret_key_.size()); }

std::string EncodeWorkerHello(const WorkerHello& hello) {
  std::string evidence(
      sodium_base64_ENCODED_LEN(hello.evidence.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(evidence.data(), evidence.size(), Bytes(hello.evidence), hello.evidence.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  evidence.resize(std::strlen(evidence.c_str()));
  nlohmann::ordered_json j;
  j["version"] = 1;
  j["public_key"] = PublicKeyHex(hello.public_key);
  j["attestation"] = AttestationModeName(hello.mode);
  j["evidence"] = evidence;
  return j.dump();  // one line: dump() without indentation never breaks lines
}

StatusOr<WorkerHello> ParseWorkerHello(std::string_view json) {
  const auto j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return InvalidArgumentError("worker hello: not a JSON object");
  }
  for (const auto& [k, v] : j.items()) {
    if (k != "version" && k != "public_key" && k != "attestation" && k != "evidence") {
      return InvalidArgumentError("worker hello: unknown field '{}'", k);
    }
  }
  if (!j.contains("version") || j["version"] != 1) {
    return InvalidArgumentError("worker hello: version must be 1");
  }
  WorkerHello hello;
  if (!j.contains("public_key") || !j["public_key"].is_string()) {
    return InvalidArgumentError("worker hello: public_key is missing");
  }
  auto key = ParsePublicKeyHex(j["public_key"].get<std::string>());
  if (!key.ok())
    return InvalidArgumentError("worker hello: public_key: {}", key.status().message());
  hello.public_key = *key;
  if (!j.contains("attestation") || !j["attestation"].is_string()) {
    return InvalidArgumentError("worker hello: attestation is missing");
  }
  auto mode = ParseAttestationMode(j["attestation"].get<std::string>());
  if (!mode.ok() || *mode == AttestationMode::kNone) {
    return InvalidArgumentError("worker hello: attestation must be simulated or sgx-dcap");
  }
  hello.mode = *mode;
  if (!j.contains("evidence") || !j["evidence"].is_string()) {
    return InvalidArgumentError("worker hello: evidence is missing (empty for simulated)");
  }
  const std::string b64 = j["evidence"].get<std::string>();
  hello.evidence.resize(b64.size() / 4 * 3);
  size_t size = 0;
  const char* end = nullptr;
  if (sodium_base642bin(Bytes(hello.evidence), hello.evidence.size(), b64.data(), b64.size(),
                        nullptr, &size, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != b64.data() + b64.size()) {
    return InvalidArgumentError("worker hello: evidence must be base64 (with padding)");
  }
  hello.evidence.resize(size);
  if (hello.mode == AttestationMode::kSimulated && !hello.evidence.empty()) {
    return InvalidArgumentError("worker hello: evidence must be empty for simulated attestation");
  }
  if (hello.mode == AttestationMode::kSgxDcap && hello.evidence.empty()) {
    return InvalidArgumentError("worker hello: evidence (a quote) is missing for sgx-dcap");
  }
  return hello;
}

StatusOr<SealedStreamWriter> SealedStreamWriter::Create(const X25519PublicKey& worker_public_key) {
  TESSERA_RETURN_IF_ERROR(internal::EnsureSodium());
  std::array<uint8_t, crypto_kx_PUBLICKEYBYTES> public_key;
  std::array<uint8_t, crypto_kx_SECRETKEYBYTES> secret_key;
  std::array<uint8_t, crypto_kx_SESSIONKEYBYTES> rx, tx;
  const Wipe wipe{secret_key, rx, tx};
  // A fresh key pair per stream: the stream's key is known to this owner and the worker only,
  // and a frame of one stream never opens in another.
  crypto_kx_keypair(public_key.data(), secret_key.data());
  if (crypto_kx_client_session_keys(rx.data(), tx.data(), public_key.data(), secret_key.data(),
                                    worker_public_key.data()) != 0) {
    return InvalidArgumentError(
        "the worker's public key is not usable: no key can be agreed with it");
  }
  SealedStreamWriter writer;
  writer.state_.reset(new StreamState);
  std::array<uint8_t, crypto_secretstream_xchacha20poly1305_HEADERBYTES> stream_header;
  if (crypto_secretstream_xchacha20poly1305_init_push(writer.state_.get(), stream_header.data(),
                                                      tx.data()) != 0) {
    return InternalError("libsodium cannot start a secretstream");
  }
  std::string header(kMagic, sizeof kMagic);
  header.push_back(static_cast<char>(kVersion));
  header.append(reinterpret_cast<const char*>(public_key.data()), public_key.size());
  header.append(reinterpret_cast<const char*>(stream_header.data()), stream_header.size());
  writer.header_ = Frame(header);
  return writer;
}

StatusOr<std::string> SealedStreamWriter::Seal(std::string_view payload, bool last) {
  if (state_ == nullptr) return FailedPreconditionError("a sealed stream moved elsewhere");
  if (done_) {
    return FailedPreconditionError(
        "the sealed stream is complete: nothing follows its final frame");
  }
  if (payload.size() > kMaxSealedPayloadBytes) {
    return InvalidArgumentError("a sealed frame carries at most {} bytes, not {}",
                                kMaxSealedPayloadBytes, payload.size());
  }
  // The frame's length, then the ciphertext written in place.
  std::string out(4 + payload.size() + kTagBytes, '\0');
  PutLength(static_cast<uint32_t>(payload.size() + kTagBytes), out.data());
  const unsigned char tag = last ? crypto_secretstream_xchacha20poly1305_TAG_FINAL
                                 : crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
  if (crypto_secretstream_xchacha20poly1305_push(state_.get(), Bytes(out) + 4, nullptr,
                                                 Bytes(payload), payload.size(), nullptr, 0,
                                                 tag) != 0) {
    return InternalError("libsodium cannot seal a frame");
  }
  done_ = last;
  return out;
}

StatusOr<SealedStreamReader> SealedStreamReader::Open(ReadFn read, const WorkerKeyPair& keys) {
  TESSERA_ASSIGN_OR_RETURN(std::optional<SealedStreamReader> reader,
                           OpenNext(std::move(read), keys));
  if (!reader) return InvalidArgumentError("the sealed stream ends before its header");
  reader->ends_at_final_ = false;
  return std::move(*reader);
}

StatusOr<std::optional<SealedStreamReader>> SealedStreamReader::OpenNext(
    ReadFn read, const WorkerKeyPair& keys) {
  TESSERA_RETURN_IF_ERROR(internal::EnsureSodium());
  auto frame = ReadFrame(read);
  if (!frame.ok()) return frame.status().WithContext("the sealed stream's header");
  if (!*frame) return std::optional<SealedStreamReader>();
  const std::string& header = **frame;
  if (header.size() < sizeof kMagic + 1 || std::memcmp(header.data(), kMagic, sizeof kMagic) != 0) {
    return InvalidArgumentError("not a sealed worker stream: its first frame is no TWC header");
  }
  if (static_cast<uint8_t>(header[sizeof kMagic]) != kVersion) {
    return InvalidArgumentError("a sealed worker stream of version {}, not {}",
                                static_cast<uint8_t>(header[sizeof kMagic]), kVersion);
  }
  if (header.size() != kHeaderBytes) {
    return InvalidArgumentError("a sealed stream's header has {} bytes, not {}", header.size(),
                                kHeaderBytes);
  }
  const unsigned char* owner_key = Bytes(header) + sizeof kMagic + 1;
  const unsigned char* stream_header = owner_key + crypto_kx_PUBLICKEYBYTES;
  std::array<uint8_t, crypto_kx_SESSIONKEYBYTES> rx, tx;
  const Wipe wipe{rx, tx};
  if (crypto_kx_server_session_keys(rx.data(), tx.data(), keys.public_key_.data(),
                                    keys.secret_key_.data(), owner_key) != 0) {
    return InvalidArgumentError(
        "the owner's key in the sealed stream's header is not usable: no key can be agreed");
  }
  SealedStreamReader reader;
  reader.state_.reset(new StreamState);
  if (crypto_secretstream_xchacha20poly1305_init_pull(reader.state_.get(), stream_header,
                                                      rx.data()) != 0) {
    return InvalidArgumentError("the sealed stream's header is not valid");
  }
  reader.read_ = std::move(read);
  reader.ends_at_final_ = true;
  return std::optional<SealedStreamReader>(std::move(reader));
}

StatusOr<std::optional<std::string>> SealedStreamReader::Next() {
  if (state_ == nullptr) return FailedPreconditionError("a sealed stream moved elsewhere");
  // Once refused, a stream stays refused: nothing after a bad frame is worth reading.
  const auto fail = [this](Status s) {
    phase_ = Phase::kFailed;
    return s;
  };
  switch (phase_) {
    case Phase::kFailed:
      return InvalidArgumentError("the sealed stream was refused at an earlier frame");
    case Phase::kEnded:
      return std::optional<std::string>();
    case Phase::kFinal: {
      if (ends_at_final_) {
        phase_ = Phase::kEnded;
        return std::optional<std::string>();
      }
      auto extra = ReadFrame(read_);
      if (!extra.ok() && extra.status().code() != StatusCode::kInvalidArgument) {
        return fail(extra.status());
      }
      if (!extra.ok() || *extra) {
        return fail(InvalidArgumentError("bytes after the sealed stream's final frame"));
      }
      phase_ = Phase::kEnded;
      return std::optional<std::string>();
    }
    case Phase::kOpen:
      break;
  }
  const uint64_t number = frames_ + 1;
  auto frame = ReadFrame(read_);
  if (!frame.ok()) return fail(frame.status().WithContext(fmt::format("sealed frame {}", number)));
  if (!*frame) {
    return fail(InvalidArgumentError(
        "the sealed stream ends after {} frames without its final frame: it was cut short",
        frames_));
  }
  const std::string& sealed = **frame;
  if (sealed.size() < kTagBytes) {
    return fail(InvalidArgumentError("sealed frame {} has {} bytes, fewer than its tag's {}",
                                     number, sealed.size(), kTagBytes));
  }
  std::string plain(sealed.size() - kTagBytes, '\0');
  unsigned char tag = 0;
  if (crypto_secretstream_xchacha20poly1305_pull(state_.get(), Bytes(plain), nullptr, &tag,
                                                 Bytes(sealed), sealed.size(), nullptr, 0) != 0) {
    // The stream's key and its position in the stream authenticate each frame together: a
    // changed byte, a frame dropped, moved, taken from another stream or sealed to another key
    // all fail the same check, and nothing tells them apart.
    return fail(InvalidArgumentError(
        "sealed frame {} does not open: it was damaged or forged, is out of place (a frame "
        "dropped, reordered or replayed from another stream), or was sealed to another "
        "worker's key",
        number));
  }
  if (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL) {
    phase_ = Phase::kFinal;
  } else if (tag != crypto_secretstream_xchacha20poly1305_TAG_MESSAGE) {
    return fail(
        InvalidArgumentError("sealed frame {} carries a tag this stream never uses", number));
  }
  frames_ = number;
  return std::optional<std::string>(std::move(plain));
}

StatusOr<ResultKeyPair> ResultKeyPair::Generate() {
  TESSERA_RETURN_IF_ERROR(internal::EnsureSodium());
  ResultKeyPair keys;
  crypto_box_keypair(keys.public_key_.data(), keys.secret_key_.data());
  return keys;
}

StatusOr<ResultKeyPair> ResultKeyPair::FromSeed(std::span<const uint8_t, 32> seed) {
  TESSERA_RETURN_IF_ERROR(internal::EnsureSodium());
  ResultKeyPair keys;
  crypto_box_seed_keypair(keys.public_key_.data(), keys.secret_key_.data(), seed.data());
  return keys;
}

StatusOr<std::string> ResultKeyPair::Open(std::string_view sealed) const {
  if (sealed.size() < crypto_box_SEALBYTES) {
    return InvalidArgumentError("a sealed result has at least {} bytes, not {}",
                                crypto_box_SEALBYTES, sealed.size());
  }
  std::string result(sealed.size() - crypto_box_SEALBYTES, '\0');
  if (crypto_box_seal_open(Bytes(result), Bytes(sealed), sealed.size(), public_key_.data(),
                           secret_key_.data()) != 0) {
    return InvalidArgumentError(
        "the sealed result does not open: it was sealed to another key, or damaged");
  }
  return result;
}

ResultKeyPair::ResultKeyPair(ResultKeyPair&& other) noexcept {
  MoveKeys(public_key_, secret_key_, other.public_key_, other.secret_key_);
}

ResultKeyPair& ResultKeyPair::operator=(ResultKeyPair&& other) noexcept {
  if (this != &other) MoveKeys(public_key_, secret_key_, other.public_key_, other.secret_key_);
  return *this;
}

ResultKeyPair::~ResultKeyPair() { sodium_memzero(secret_key_.data(), secret_key_.size()); }

StatusOr<std::string> SealResult(std::string_view result, const X25519PublicKey& recipient) {
  TESSERA_RETURN_IF_ERROR(internal::EnsureSodium());
  std::string sealed(result.size() + crypto_box_SEALBYTES, '\0');
  if (crypto_box_seal(Bytes(sealed), Bytes(result), result.size(), recipient.data()) != 0) {
    return InvalidArgumentError(
        "the result's recipient key is not usable: no key can be agreed with it");
  }
  return sealed;
}

}  // namespace tessera::collab
