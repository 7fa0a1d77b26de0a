#include "tessera/collab/psi.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <string>
#include <unordered_set>
#include <vector>

#include "collab/protocol/test_bytes.h"
#include "tessera/collab/hash_to_group.h"
#include "tessera/collab/match_token.h"

namespace tessera::collab {
namespace {

privacy::OwnerKey KeyOf(uint8_t fill) {
  std::array<uint8_t, privacy::OwnerKey::kSize> bytes;
  bytes.fill(fill);
  return privacy::OwnerKey::FromBytes(bytes);
}

MatchTokenKey MatchKeyOf(uint8_t fill) {
  auto key = MatchTokenKey::Create(KeyOf(fill));
  EXPECT_TRUE(key.ok()) << key.status().ToString();
  return std::move(*key);
}

SessionScalar NewSession() {
  auto r = SessionScalar::Random();
  EXPECT_TRUE(r.ok());
  return std::move(*r);
}

TEST(MatchToken, IsDeterministicForOneKeyAndInput) {
  const MatchTokenKey key = MatchKeyOf(1);
  auto a = key.Token(MatchKind::kEmail, "anna@example.de");
  auto b = MatchKeyOf(1).Token(MatchKind::kEmail, "anna@example.de");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
}

TEST(MatchToken, DiffersBetweenKindsOfTheSameString) {
  const MatchTokenKey key = MatchKeyOf(1);
  const Point customer = *key.Token(MatchKind::kCustomerNumber, "4917612345678");
  const Point email = *key.Token(MatchKind::kEmail, "4917612345678");
  const Point phone = *key.Token(MatchKind::kPhone, "4917612345678");
  EXPECT_NE(customer, email);
  EXPECT_NE(customer, phone);
  EXPECT_NE(email, phone);
}

TEST(MatchToken, DiffersBetweenKeysAndValues) {
  const Point a = *MatchKeyOf(1).Token(MatchKind::kEmail, "anna@example.de");
  EXPECT_NE(a, *MatchKeyOf(2).Token(MatchKind::kEmail, "anna@example.de"));
  EXPECT_NE(a, *MatchKeyOf(1).Token(MatchKind::kEmail, "anne@example.de"));
}

// The token is k · HashToGroup(kind byte ‖ id) with k from the owner key's HKDF output reduced
// modulo the group order, as documented.
TEST(MatchToken, IsTheKeyTimesTheHashOfKindAndIdentifier) {
  const privacy::OwnerKey owner = KeyOf(7);
  std::array<uint8_t, 64> wide;
  ASSERT_TRUE(owner.Derive("tessera match token v1", wide).ok());
  auto k = Scalar::FromWideBytes(wide);
  ASSERT_TRUE(k.ok());
  auto h = HashToGroup("p+4917612345678", kMatchTokenDst);
  ASSERT_TRUE(h.ok());
  auto expected = Multiply(*k, *h);
  ASSERT_TRUE(expected.ok());
  auto key = MatchTokenKey::Create(owner);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(*key->Token(MatchKind::kPhone, "+4917612345678"), *expected);
}

TEST(Blind, IsMultiplicationByTheSessionScalar) {
  std::array<uint8_t, 32> three{};
  three[0] = 3;
  auto r = SessionScalar::FromBytes(three);
  ASSERT_TRUE(r.ok());
  auto blinded = Blind(Point::Generator(), *r);
  ASSERT_TRUE(blinded.ok());
  // RFC 9496 Appendix A.1, B[3].
  EXPECT_EQ(blinded->ToHex(), "94741f5d5d52755ece4f23f044ee27d5d1ea1e2bd196b462166b16152a9d0259");
  EXPECT_EQ(SessionScalar::FromBytes(std::array<uint8_t, 32>{}).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(Blind, BatchesAgreeWithSingleBlinding) {
  const MatchTokenKey key = MatchKeyOf(3);
  std::vector<Point> tokens;
  for (int i = 0; i < 20; ++i) {
    tokens.push_back(*key.Token(MatchKind::kCustomerNumber, std::to_string(1000 + i)));
  }
  const SessionScalar r = NewSession();
  auto copied = BlindBatch(std::span<const Point>(tokens), r);
  ASSERT_TRUE(copied.ok());
  ASSERT_EQ(copied->size(), tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    EXPECT_EQ((*copied)[i], *Blind(tokens[i], r));
    EXPECT_NE((*copied)[i], tokens[i]);
  }
  auto in_place = BlindBatch(std::vector<Point>(tokens), r);
  ASSERT_TRUE(in_place.ok());
  EXPECT_EQ(*in_place, *copied);
  auto empty = BlindBatch(std::vector<Point>{}, r);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(Blind, TwoSessionsGiveUnlinkableValues) {
  const Point token = *MatchKeyOf(1).Token(MatchKind::kEmail, "anna@example.de");
  EXPECT_NE(*Blind(token, NewSession()), *Blind(token, NewSession()));
}

// The whole ECDH PSI of psi.h between two owners with their own keys: the double-blinded values
// agree exactly on the identifiers both hold.
TEST(Psi, DoubleBlindedValuesMatchExactlyOnSharedIdentifiers) {
  const MatchTokenKey key_a = MatchKeyOf(0xa1);
  const MatchTokenKey key_b = MatchKeyOf(0xb2);
  const std::vector<std::string> ids_a = {"anna@example.de", "ben@example.de", "carl@example.de",
                                          "dora@example.de"};
  const std::vector<std::string> ids_b = {"carl@example.de", "erik@example.de", "anna@example.de"};
  std::vector<Point> tokens_a, tokens_b;
  for (const auto& id : ids_a) tokens_a.push_back(*key_a.Token(MatchKind::kEmail, id));
  for (const auto& id : ids_b) tokens_b.push_back(*key_b.Token(MatchKind::kEmail, id));

  const SessionScalar r_a = NewSession();
  const SessionScalar r_b = NewSession();
  // Round 1: each sends its re-blinded tokens to the other.
  auto to_b = BlindBatch(std::span<const Point>(tokens_a), r_a);
  auto to_a = BlindBatch(std::span<const Point>(tokens_b), r_b);
  ASSERT_TRUE(to_b.ok() && to_a.ok());
  // Round 2: each applies its session and key to what it received; both go to the worker.
  auto from_b = BlindBatch(std::move(*to_b), r_b.WithMatchKey(key_b));
  auto from_a = BlindBatch(std::move(*to_a), r_a.WithMatchKey(key_a));
  ASSERT_TRUE(from_b.ok() && from_a.ok());

  const std::unordered_set<Point, PointHash> side_b(from_a->begin(), from_a->end());
  std::vector<std::string> matched;
  for (size_t i = 0; i < ids_a.size(); ++i) {
    if (side_b.contains((*from_b)[i])) matched.push_back(ids_a[i]);
  }
  EXPECT_EQ(matched, (std::vector<std::string>{"anna@example.de", "carl@example.de"}));
}

// Not a timed test: prints the rate of Blind on this machine for the record, asserts nothing
// about it.
TEST(Blind, ReportsItsRate) {
  const MatchTokenKey key = MatchKeyOf(5);
  std::vector<Point> tokens;
  for (int i = 0; i < 64; ++i) {
    tokens.push_back(*key.Token(MatchKind::kCustomerNumber, std::to_string(i)));
  }
  const SessionScalar r = NewSession();
  constexpr int kRounds = 64;
  const auto start = std::chrono::steady_clock::now();
  size_t done = 0;
  for (int round = 0; round < kRounds; ++round) {
    auto blinded = BlindBatch(std::move(tokens), r);
    ASSERT_TRUE(blinded.ok());
    tokens = std::move(*blinded);
    done += tokens.size();
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("[   INFO   ] Blind: %zu scalar multiplications in %.3f s, %.0f per second\n", done,
              seconds, static_cast<double>(done) / seconds);
  EXPECT_EQ(done, size_t{64} * kRounds);
}

}  // namespace
}  // namespace tessera::collab
