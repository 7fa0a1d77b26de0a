#include "tessera/privacy/order_token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstring>

namespace tessera::privacy {

struct OrderTokenizer::State {
  EVP_CIPHER* cipher = nullptr;
  EVP_CIPHER_CTX* ctx = nullptr;
  uint8_t key[64] = {};
  bool encrypting = false;  // `keyed` holds the key, set up for encryption
  EVP_CIPHER_CTX* keyed = EVP_CIPHER_CTX_new();
  ~State() {
    EVP_CIPHER_CTX_free(keyed);
    EVP_CIPHER_CTX_free(ctx);
    EVP_CIPHER_free(cipher);
    OPENSSL_cleanse(key, sizeof(key));
  }
};

OrderTokenizer::OrderTokenizer(std::unique_ptr<State> state) : state_(std::move(state)) {}
OrderTokenizer::OrderTokenizer(OrderTokenizer&&) noexcept = default;
OrderTokenizer& OrderTokenizer::operator=(OrderTokenizer&&) noexcept = default;
OrderTokenizer::~OrderTokenizer() = default;

StatusOr<OrderTokenizer> OrderTokenizer::Create(const OwnerKey& key) {
  auto state = std::make_unique<State>();
  // AES-256-SIV takes two 256-bit keys (one for S2V, one for CTR).
  TESSERA_RETURN_IF_ERROR(key.Derive("tessera order token v1", state->key));
  state->cipher = EVP_CIPHER_fetch(nullptr, "AES-256-SIV", nullptr);
  state->ctx = EVP_CIPHER_CTX_new();
  if (state->cipher == nullptr || state->ctx == nullptr || state->keyed == nullptr) {
    return InternalError("AES-256-SIV is not available from OpenSSL");
  }
  return OrderTokenizer(std::move(state));
}

StatusOr<std::string> OrderTokenizer::Encrypt(std::string_view order_id) {
  if (order_id.empty()) return InvalidArgumentError("order id is empty");
  if (order_id.size() > kMaxOrderIdBytes) {
    return InvalidArgumentError("order id is longer than {} bytes", kMaxOrderIdBytes);
  }
  std::string token(kSivSize + order_id.size(), '\0');
  auto* out = reinterpret_cast<unsigned char*>(token.data());
  int len = 0, final_len = 0;
  EVP_CIPHER_CTX* ctx = state_->ctx;
  // Keying SIV fetches CMAC's cipher (provider lookups under locks); copying a context keyed
  // once is several times cheaper.
  if (!state_->encrypting) {
    if (EVP_EncryptInit_ex2(state_->keyed, state_->cipher, state_->key, nullptr, nullptr) != 1) {
      return InternalError("AES-256-SIV key setup failed");
    }
    state_->encrypting = true;
  }
  if (EVP_CIPHER_CTX_copy(ctx, state_->keyed) != 1 ||
      EVP_EncryptUpdate(ctx, out + kSivSize, &len,
                        reinterpret_cast<const unsigned char*>(order_id.data()),
                        static_cast<int>(order_id.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx, out + kSivSize + len, &final_len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, kSivSize, out) != 1) {
    return InternalError("AES-256-SIV encryption failed");
  }
  return token;
}

StatusOr<std::string> OrderTokenizer::Decrypt(std::string_view token) {
  if (token.size() <= kSivSize || token.size() > kSivSize + kMaxOrderIdBytes) {
    return InvalidArgumentError("not an order token (wrong length)");
  }
  std::string plain(token.size() - kSivSize, '\0');
  int len = 0, final_len = 0;
  EVP_CIPHER_CTX* ctx = state_->ctx;
  auto* in = reinterpret_cast<const unsigned char*>(token.data());
  if (EVP_DecryptInit_ex2(ctx, state_->cipher, state_->key, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, kSivSize, const_cast<unsigned char*>(in)) !=
          1 ||
      EVP_DecryptUpdate(ctx, reinterpret_cast<unsigned char*>(plain.data()), &len, in + kSivSize,
                        static_cast<int>(plain.size())) != 1 ||
      EVP_DecryptFinal_ex(ctx, reinterpret_cast<unsigned char*>(plain.data()) + len, &final_len) !=
          1) {
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
