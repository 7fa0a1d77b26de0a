#include "tessera/collab/match_token.h"

#include <sodium.h>

#include <array>

#include "collab/protocol/hash_internal.h"

namespace tessera::collab {

StatusOr<MatchTokenKey> MatchTokenKey::Create(const privacy::OwnerKey& owner_key) {
  // 64 bytes reduced modulo L: the bias of the reduction is below 2^-250.
  std::array<uint8_t, Scalar::kWideSize> wide;
  TESSERA_RETURN_IF_ERROR(owner_key.Derive("tessera match token v1", wide));
  auto k = Scalar::FromWideBytes(wide);
  sodium_memzero(wide.data(), wide.size());
  if (!k.ok()) {
    return FailedPreconditionError("this owner key derives a zero match-token key");
  }
  return MatchTokenKey(std::move(*k));
}

StatusOr<Point> MatchTokenKey::Token(MatchKind kind, std::string_view normalized) const {
  const char kind_byte = static_cast<char>(kind);
  TESSERA_ASSIGN_OR_RETURN(
      const Point h,
      internal::HashToGroupParts({std::string_view(&kind_byte, 1), normalized}, kMatchTokenDst));
  return Multiply(k_, h);
}

}  // namespace tessera::collab
