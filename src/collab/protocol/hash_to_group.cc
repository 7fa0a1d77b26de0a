#include "tessera/collab/hash_to_group.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sodium.h>

#include <algorithm>
#include <array>
#include <memory>

#include "collab/protocol/hash_internal.h"

namespace tessera::collab {
namespace internal {
namespace {

struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

constexpr std::string_view kOversizeDstPrefix = "H2C-OVERSIZE-DST-";

bool Update(EVP_MD_CTX* ctx, std::string_view data) {
  return EVP_DigestUpdate(ctx, data.data(), data.size()) == 1;
}

}  // namespace

// Fetched once and never freed: an explicit fetch avoids OpenSSL 3's per-call implicit fetch.
const EVP_MD* Sha512Md() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA512", nullptr);
  return md;
}

const EVP_MD* Sha256Md() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

Status ExpandMessageXmd(const EVP_MD* md, std::initializer_list<std::string_view> msg_parts,
                        std::string_view dst, std::span<uint8_t> out) {
  if (md == nullptr) return InternalError("the hash of expand_message_xmd is not available");
  const size_t b_in_bytes = static_cast<size_t>(EVP_MD_get_size(md));
  const size_t s_in_bytes = static_cast<size_t>(EVP_MD_get_block_size(md));
  if (b_in_bytes > EVP_MAX_MD_SIZE || s_in_bytes > 256) {
    return InternalError("expand_message_xmd: unsupported hash");
  }
  if (dst.empty()) {
    return InvalidArgumentError("expand_message_xmd: the domain separation tag is empty");
  }
  if (out.empty()) return InvalidArgumentError("expand_message_xmd: no output requested");
  const size_t max_len = std::min<size_t>(255 * b_in_bytes, 65535);
  if (out.size() > max_len) {
    return InvalidArgumentError("expand_message_xmd: {} bytes requested, at most {} possible",
                                out.size(), max_len);
  }
  const size_t ell = (out.size() + b_in_bytes - 1) / b_in_bytes;

  MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx) return InternalError("cannot create a digest context");

  uint8_t short_dst[EVP_MAX_MD_SIZE];
  if (dst.size() > 255) {
    if (EVP_DigestInit_ex2(ctx.get(), md, nullptr) != 1 || !Update(ctx.get(), kOversizeDstPrefix) ||
        !Update(ctx.get(), dst) || EVP_DigestFinal_ex(ctx.get(), short_dst, nullptr) != 1) {
      return InternalError("expand_message_xmd: hashing failed");
    }
    dst = std::string_view(reinterpret_cast<const char*>(short_dst), b_in_bytes);
  }
  const uint8_t dst_len = static_cast<uint8_t>(dst.size());
  const auto dst_prime_ok = [&](EVP_MD_CTX* c) {
    return Update(c, dst) && EVP_DigestUpdate(c, &dst_len, 1) == 1;
  };

  // b_0 = H(Z_pad || msg || I2OSP(len_in_bytes, 2) || I2OSP(0, 1) || DST_prime)
  static constexpr std::array<uint8_t, 256> kZeros{};
  const uint8_t len_and_zero[3] = {static_cast<uint8_t>(out.size() >> 8),
                                   static_cast<uint8_t>(out.size() & 0xff), 0};
  uint8_t b_0[EVP_MAX_MD_SIZE];
  bool ok = EVP_DigestInit_ex2(ctx.get(), md, nullptr) == 1 &&
            EVP_DigestUpdate(ctx.get(), kZeros.data(), s_in_bytes) == 1;
  for (std::string_view part : msg_parts) ok = ok && Update(ctx.get(), part);
  ok = ok && EVP_DigestUpdate(ctx.get(), len_and_zero, sizeof(len_and_zero)) == 1 &&
       dst_prime_ok(ctx.get()) && EVP_DigestFinal_ex(ctx.get(), b_0, nullptr) == 1;

  // b_1 = H(b_0 || I2OSP(1, 1) || DST_prime); b_i = H(strxor(b_0, b_(i-1)) || I2OSP(i, 1) || ...)
  uint8_t b_i[EVP_MAX_MD_SIZE];
  uint8_t chained[EVP_MAX_MD_SIZE];
  size_t written = 0;
  for (size_t i = 1; ok && i <= ell; ++i) {
    for (size_t j = 0; j < b_in_bytes; ++j) chained[j] = i == 1 ? b_0[j] : b_0[j] ^ b_i[j];
    const uint8_t index = static_cast<uint8_t>(i);
    ok = EVP_DigestInit_ex2(ctx.get(), md, nullptr) == 1 &&
         EVP_DigestUpdate(ctx.get(), chained, b_in_bytes) == 1 &&
         EVP_DigestUpdate(ctx.get(), &index, 1) == 1 && dst_prime_ok(ctx.get()) &&
         EVP_DigestFinal_ex(ctx.get(), b_i, nullptr) == 1;
    if (!ok) break;
    const size_t n = std::min(b_in_bytes, out.size() - written);
    std::copy_n(b_i, n, out.begin() + static_cast<std::ptrdiff_t>(written));
    written += n;
  }
  // The blocks derive from the message, which may be an identifier.
  OPENSSL_cleanse(b_0, sizeof(b_0));
  OPENSSL_cleanse(b_i, sizeof(b_i));
  OPENSSL_cleanse(chained, sizeof(chained));
  if (!ok) {
    OPENSSL_cleanse(out.data(), out.size());
    return InternalError("expand_message_xmd: hashing failed");
  }
  return OkStatus();
}

Status Sha512(std::initializer_list<std::string_view> parts, std::span<uint8_t, 64> out) {
  const EVP_MD* md = Sha512Md();
  if (md == nullptr) return InternalError("SHA-512 is not available from OpenSSL");
  MdCtx ctx(EVP_MD_CTX_new());
  bool ok = ctx && EVP_DigestInit_ex2(ctx.get(), md, nullptr) == 1;
  for (std::string_view part : parts) ok = ok && Update(ctx.get(), part);
  ok = ok && EVP_DigestFinal_ex(ctx.get(), out.data(), nullptr) == 1;
  if (!ok) return InternalError("SHA-512 failed");
  return OkStatus();
}

Status HashToScalarBytes(std::initializer_list<std::string_view> msg_parts, std::string_view dst,
                         std::span<uint8_t, 32> out) {
  uint8_t uniform[64];
  TESSERA_RETURN_IF_ERROR(ExpandMessageXmd(Sha512Md(), msg_parts, dst, uniform));
  crypto_core_ristretto255_scalar_reduce(out.data(), uniform);
  sodium_memzero(uniform, sizeof(uniform));
  return OkStatus();
}

StatusOr<Point> HashToGroupParts(std::initializer_list<std::string_view> msg_parts,
                                 std::string_view dst) {
  std::array<uint8_t, 64> uniform;
  TESSERA_RETURN_IF_ERROR(ExpandMessageXmd(Sha512Md(), msg_parts, dst, uniform));
  auto point = Point::FromUniformBytes(uniform);
  sodium_memzero(uniform.data(), uniform.size());
  return point;
}

Status EnsureSodium() {
  static const int rc = sodium_init();  // 0 first time, 1 when already done, -1 on failure
  if (rc < 0) return InternalError("libsodium cannot initialize");
  return OkStatus();
}

}  // namespace internal

Status ExpandMessageXmdSha512(std::string_view msg, std::string_view dst, std::span<uint8_t> out) {
  return internal::ExpandMessageXmd(internal::Sha512Md(), {msg}, dst, out);
}

StatusOr<std::vector<uint8_t>> ExpandMessageXmdSha512(std::string_view msg, std::string_view dst,
                                                      size_t len_in_bytes) {
  // Checked before allocating, so that a huge request fails instead of allocating.
  if (len_in_bytes > kMaxExpandBytes) {
    return InvalidArgumentError("expand_message_xmd: {} bytes requested, at most {} possible",
                                len_in_bytes, kMaxExpandBytes);
  }
  std::vector<uint8_t> out(len_in_bytes);
  TESSERA_RETURN_IF_ERROR(ExpandMessageXmdSha512(msg, dst, out));
  return out;
}

StatusOr<Point> HashToGroup(std::string_view msg, std::string_view dst) {
  return internal::HashToGroupParts({msg}, dst);
}

StatusOr<Scalar> HashToScalar(std::string_view msg, std::string_view dst) {
  std::array<uint8_t, 32> reduced;
  TESSERA_RETURN_IF_ERROR(internal::HashToScalarBytes({msg}, dst, reduced));
  auto scalar = Scalar::FromBytes(reduced);
  sodium_memzero(reduced.data(), reduced.size());
  if (!scalar.ok()) return InvalidArgumentError("HashToScalar: the message hashes to zero");
  return scalar;
}

}  // namespace tessera::collab
