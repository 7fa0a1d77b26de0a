#include "tessera/collab/oprf.h"

#include <sodium.h>

#include <string>

#include "collab/protocol/hash_internal.h"
#include "tessera/collab/hash_to_group.h"

namespace tessera::collab::oprf {
namespace {

const std::string& HashToGroupDst() {
  static const std::string dst = "HashToGroup-" + std::string(kContextString);
  return dst;
}

const std::string& DeriveKeyPairDst() {
  static const std::string dst = "DeriveKeyPair" + std::string(kContextString);
  return dst;
}

// I2OSP(n, 2) (RFC 8017 section 4.1) for n < 2^16.
std::array<char, 2> TwoBytes(size_t n) {
  return {static_cast<char>((n >> 8) & 0xff), static_cast<char>(n & 0xff)};
}

Status CheckLength(std::string_view what, std::string_view value) {
  if (value.size() > kMaxInputBytes) {
    return InvalidArgumentError("OPRF {} has {} bytes, at most {} allowed", what, value.size(),
                                kMaxInputBytes);
  }
  return OkStatus();
}

StatusOr<Point> InputElement(std::string_view input) {
  TESSERA_RETURN_IF_ERROR(CheckLength("input", input));
  auto element = HashToGroup(input, HashToGroupDst());
  if (!element.ok() && element.status().code() == StatusCode::kInvalidArgument) {
    return InvalidArgumentError("OPRF input maps to the identity element (InvalidInputError)");
  }
  return element;
}

// Hash(I2OSP(len(input), 2) || input || I2OSP(len(element), 2) || element || "Finalize")
StatusOr<Output> FinalizeHash(std::string_view input, const Point& element) {
  const std::array<char, 2> input_len = TwoBytes(input.size());
  const std::array<char, 2> element_len = TwoBytes(Point::kSize);
  Output out;
  TESSERA_RETURN_IF_ERROR(internal::Sha512(
      {std::string_view(input_len.data(), 2), input, std::string_view(element_len.data(), 2),
       internal::AsText(element.bytes()), "Finalize"},
      out));
  return out;
}

}  // namespace

StatusOr<KeyPair> DeriveKeyPair(std::span<const uint8_t, Scalar::kSize> seed,
                                std::string_view info) {
  TESSERA_RETURN_IF_ERROR(CheckLength("key info", info));
  const std::array<char, 2> info_len = TwoBytes(info.size());
  std::array<uint8_t, Scalar::kSize> sk_bytes;
  for (int counter = 0; counter <= 255; ++counter) {
    const char counter_byte = static_cast<char>(counter);
    TESSERA_RETURN_IF_ERROR(
        internal::HashToScalarBytes({internal::AsText(seed), std::string_view(info_len.data(), 2),
                                     info, std::string_view(&counter_byte, 1)},
                                    DeriveKeyPairDst(), sk_bytes));
    auto sk = Scalar::FromBytes(sk_bytes);  // refuses only zero: the bytes are reduced
    sodium_memzero(sk_bytes.data(), sk_bytes.size());
    if (!sk.ok()) continue;
    TESSERA_ASSIGN_OR_RETURN(Point pk, MultiplyGenerator(*sk));
    return KeyPair{std::move(*sk), std::move(pk)};
  }
  return InternalError("DeriveKeyPair: every counter gave a zero key (DeriveKeyPairError)");
}

StatusOr<BlindResult> Blind(std::string_view input) {
  TESSERA_ASSIGN_OR_RETURN(Scalar blind, Scalar::Random());
  return Blind(input, blind);
}

StatusOr<BlindResult> Blind(std::string_view input, const Scalar& blind) {
  TESSERA_ASSIGN_OR_RETURN(const Point element, InputElement(input));
  TESSERA_ASSIGN_OR_RETURN(Point blinded, Multiply(blind, element));
  return BlindResult{blind, std::move(blinded)};
}

StatusOr<Point> BlindEvaluate(const Scalar& sk, const Point& blinded_element) {
  return Multiply(sk, blinded_element);
}

StatusOr<Output> Finalize(std::string_view input, const Scalar& blind,
                          const Point& evaluated_element) {
  TESSERA_RETURN_IF_ERROR(CheckLength("input", input));
  TESSERA_ASSIGN_OR_RETURN(const Point unblinded, Multiply(blind.Inverse(), evaluated_element));
  return FinalizeHash(input, unblinded);
}

StatusOr<Output> Evaluate(const Scalar& sk, std::string_view input) {
  TESSERA_ASSIGN_OR_RETURN(const Point element, InputElement(input));
  TESSERA_ASSIGN_OR_RETURN(const Point evaluated, Multiply(sk, element));
  return FinalizeHash(input, evaluated);
}

}  // namespace tessera::collab::oprf
