#include "tessera/privacy/order_token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstring>

namespace tessera::privacy {
namespace {

using Block = std::array<uint8_t, 16>;

// dbl() of RFC 5297: multiplication by x in GF(2^128).
Block Double(const Block& s) {
  Block out;
  for (int i = 0; i < 15; ++i) out[i] = static_cast<uint8_t>(s[i] << 1 | s[i + 1] >> 7);
  out[15] = static_cast<uint8_t>(s[15] << 1);
  if ((s[0] & 0x80) != 0) out[15] ^= 0x87;
  return out;
}

void Xor(Block* a, const uint8_t* b, size_t n = 16) {
  for (size_t i = 0; i < n; ++i) (*a)[i] ^= b[i];
}

}  // namespace

// AES-SIV (RFC 5297) with AES-256, one plaintext and no associated data, built on two AES-256
// block ciphers keyed once. OpenSSL's own "AES-256-SIV" gives the same bytes (the tests check
// it on every length), but it re-keys CMAC's cipher on every message, which costs a provider
// lookup and shared reference counts that serialize threads; keyed ECB contexts avoid both.
struct OrderTokenizer::State {
  EVP_CIPHER_CTX* mac = nullptr;  // AES-256 with K1 (S2V / CMAC)
  EVP_CIPHER_CTX* ctr = nullptr;  // AES-256 with K2 (CTR keystream)
  Block k1{}, k2{};               // CMAC subkeys
  Block cmac_zero{};              // CMAC(K1, 128 zero bits), S2V's first value

  ~State() {
    EVP_CIPHER_CTX_free(mac);
    EVP_CIPHER_CTX_free(ctr);
    OPENSSL_cleanse(k1.data(), 16);
    OPENSSL_cleanse(k2.data(), 16);
  }

  bool Encrypt(EVP_CIPHER_CTX* ctx, const uint8_t* in, uint8_t* out, size_t blocks) {
    int len = 0;
    return EVP_EncryptUpdate(ctx, out, &len, in, static_cast<int>(blocks * 16)) == 1 &&
           len == static_cast<int>(blocks * 16);
  }

  // AES-CMAC (RFC 4493) of a message of any length under K1.
  bool Cmac(const uint8_t* msg, size_t n, Block* tag) {
    Block x{};
    const size_t blocks = n == 0 ? 1 : (n + 15) / 16;
    for (size_t i = 0; i + 1 < blocks; ++i) {
      Xor(&x, msg + 16 * i);
      if (!Encrypt(mac, x.data(), x.data(), 1)) return false;
    }
    const size_t last = n - 16 * (blocks - 1);
    if (n > 0 && last == 16) {
      Xor(&x, msg + 16 * (blocks - 1));
      Xor(&x, k1.data());
    } else {
      Xor(&x, msg + 16 * (blocks - 1), last);
      x[last] ^= 0x80;
      Xor(&x, k2.data());
    }
    if (!Encrypt(mac, x.data(), tag->data(), 1)) return false;
    return true;
  }

  // S2V(K1, plaintext) with no associated data.
  bool S2V(const uint8_t* p, size_t n, Block* v) {
    if (n >= 16) {
      uint8_t buffer[kMaxOrderIdBytes];
      std::memcpy(buffer, p, n);
      for (size_t i = 0; i < 16; ++i) buffer[n - 16 + i] ^= cmac_zero[i];  // xorend
      const bool ok = Cmac(buffer, n, v);
      OPENSSL_cleanse(buffer, n);
      return ok;
    }
    Block t = Double(cmac_zero);
    Xor(&t, p, n);
    t[n] ^= 0x80;  // pad
    return Cmac(t.data(), 16, v);
  }

  // out = in XOR CTR keystream from the counter block derived from the SIV.
  bool Ctr(const Block& siv, const uint8_t* in, uint8_t* out, size_t n) {
    Block q = siv;
    q[8] &= 0x7f;
    q[12] &= 0x7f;
    uint8_t counters[kMaxOrderIdBytes + 16], stream[kMaxOrderIdBytes + 16];
    const size_t blocks = (n + 15) / 16;
    for (size_t b = 0; b < blocks; ++b) {
      std::memcpy(counters + 16 * b, q.data(), 16);
      for (int i = 15; i >= 0 && ++q[static_cast<size_t>(i)] == 0; --i) {
      }
    }
    if (!Encrypt(ctr, counters, stream, blocks)) return false;
    for (size_t i = 0; i < n; ++i) out[i] = in[i] ^ stream[i];
    OPENSSL_cleanse(stream, sizeof(stream));
    return true;
  }
};

OrderTokenizer::OrderTokenizer(std::unique_ptr<State> state) : state_(std::move(state)) {}
OrderTokenizer::OrderTokenizer(OrderTokenizer&&) noexcept = default;
OrderTokenizer& OrderTokenizer::operator=(OrderTokenizer&&) noexcept = default;
OrderTokenizer::~OrderTokenizer() = default;

StatusOr<OrderTokenizer> OrderTokenizer::Create(const OwnerKey& key) {
  // AES-256-SIV takes two 256-bit keys: K1 for S2V, K2 for CTR.
  uint8_t keys[64];
  TESSERA_RETURN_IF_ERROR(key.Derive("tessera order token v1", keys));
  auto state = std::make_unique<State>();
  state->mac = EVP_CIPHER_CTX_new();
  state->ctr = EVP_CIPHER_CTX_new();
  const bool keyed =
      state->mac != nullptr && state->ctr != nullptr &&
      EVP_EncryptInit_ex2(state->mac, EVP_aes_256_ecb(), keys, nullptr, nullptr) == 1 &&
      EVP_EncryptInit_ex2(state->ctr, EVP_aes_256_ecb(), keys + 32, nullptr, nullptr) == 1 &&
      EVP_CIPHER_CTX_set_padding(state->mac, 0) == 1 &&
      EVP_CIPHER_CTX_set_padding(state->ctr, 0) == 1;
  OPENSSL_cleanse(keys, sizeof(keys));
  if (!keyed) return InternalError("AES-256 is not available from OpenSSL");
  Block zero{}, l{};
  if (!state->Encrypt(state->mac, zero.data(), l.data(), 1)) {
    return InternalError("AES-256 encryption failed");
  }
  state->k1 = Double(l);
  state->k2 = Double(state->k1);
  OPENSSL_cleanse(l.data(), 16);
  if (!state->Cmac(zero.data(), 16, &state->cmac_zero)) {
    return InternalError("AES-CMAC failed");
  }
  return OrderTokenizer(std::move(state));
}

StatusOr<std::string> OrderTokenizer::Encrypt(std::string_view order_id) {
  if (order_id.empty()) return InvalidArgumentError("order id is empty");
  if (order_id.size() > kMaxOrderIdBytes) {
    return InvalidArgumentError("order id is longer than {} bytes", kMaxOrderIdBytes);
  }
  const auto* p = reinterpret_cast<const uint8_t*>(order_id.data());
  Block v;
  std::string token(kSivSize + order_id.size(), '\0');
  auto* out = reinterpret_cast<uint8_t*>(token.data());
  if (!state_->S2V(p, order_id.size(), &v) || !state_->Ctr(v, p, out + kSivSize, order_id.size())) {
    return InternalError("AES-256-SIV encryption failed");
  }
  std::memcpy(out, v.data(), kSivSize);
  return token;
}

StatusOr<std::string> OrderTokenizer::Decrypt(std::string_view token) {
  if (token.size() <= kSivSize || token.size() > kSivSize + kMaxOrderIdBytes) {
    return InvalidArgumentError("not an order token (wrong length)");
  }
  const auto* in = reinterpret_cast<const uint8_t*>(token.data());
  Block v, check;
  std::memcpy(v.data(), in, kSivSize);
  std::string plain(token.size() - kSivSize, '\0');
  auto* p = reinterpret_cast<uint8_t*>(plain.data());
  if (!state_->Ctr(v, in + kSivSize, p, plain.size()) || !state_->S2V(p, plain.size(), &check)) {
    return InternalError("AES-256-SIV decryption failed");
  }
  if (CRYPTO_memcmp(v.data(), check.data(), kSivSize) != 0) {
    OPENSSL_cleanse(plain.data(), plain.size());
    return InvalidArgumentError(
        "order token does not decrypt under this key (wrong key or damaged token)");
  }
  return plain;
}

std::string HexEncode(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    const auto b = static_cast<unsigned char>(bytes[i]);
    out[2 * i] = kHex[b >> 4];
    out[2 * i + 1] = kHex[b & 15];
  }
  return out;
}

StatusOr<std::string> HexDecode(std::string_view hex) {
  auto value = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (hex.size() % 2 != 0) return InvalidArgumentError("odd number of hex digits");
  std::string out(hex.size() / 2, '\0');
  for (size_t i = 0; i < out.size(); ++i) {
    const int hi = value(hex[2 * i]), lo = value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return InvalidArgumentError("not a hex digit");
    out[i] = static_cast<char>(hi << 4 | lo);
  }
  return out;
}

}  // namespace tessera::privacy
