#include "tessera/collab/oprf.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "collab/protocol/test_bytes.h"
#include "tessera/collab/hash_to_group.h"

namespace tessera::collab::oprf {
namespace {

using test::Bytes;
using test::Digits;
using test::Hex;
using test::Text;

// RFC 9497 Appendix A.1.1, OPRF(ristretto255, SHA-512) in OPRF mode, copied from the RFC's
// source (draft-irtf-cfrg-voprf.md, and poc/vectors/allVectors.json which agrees, in
// github.com/cfrg/draft-irtf-cfrg-voprf, commit 43da59f).
constexpr const char* kSeed = "a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3";
constexpr const char* kKeyInfo = "74657374206b6579";
constexpr const char* kSkSm = "5ebcea5ee37023ccb9fc2d2019f9d7737be85591ae8652ffa9ef0f4d37063b0e";

struct Vector {
  const char* input;
  const char* blind;
  const char* blinded_element;
  const char* evaluation_element;
  const char* output;
};
constexpr Vector kVectors[] = {
    // Test Vector 1, Batch Size 1
    {"00", "64d37aed22a27f5191de1c1d69fadb899d8862b58eb4220029e036ec4c1f6706",
     "609a0ae68c15a3cf6903766461307e5c8bb2f95e7e6550e1ffa2dc99e412803c",
     "7ec6578ae5120958eb2db1745758ff379e77cb64fe77b0b2d8cc917ea0869c7e",
     "527759c3d9366f277d8c6020418d96bb393ba2afb20ff90df23fb7708264e2f3"
     "ab9135e3bd69955851de4b1f9fe8a0973396719b7912ba9ee8aa7d0b5e24bcf6"},
    // Test Vector 2, Batch Size 1
    {"5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a",
     "64d37aed22a27f5191de1c1d69fadb899d8862b58eb4220029e036ec4c1f6706",
     "da27ef466870f5f15296299850aa088629945a17d1f5b7f5ff043f76b3c06418",
     "b4cbf5a4f1eeda5a63ce7b77c7d23f461db3fcab0dd28e4e17cecb5c90d02c25",
     "f4a74c9c592497375e796aa837e907b1a045d34306a749db9f34221f7e750cb4"
     "f2a6413a6bf6fa5e19ba6348eb673934a722a7ede2e7621306d18951e7cf2c73"},
};

KeyPair DerivedKey() {
  const std::vector<uint8_t> seed = Bytes(kSeed);
  const std::vector<uint8_t> info = Bytes(kKeyInfo);
  auto key = DeriveKeyPair(std::span<const uint8_t, 32>(seed.data(), 32), Text(info));
  EXPECT_TRUE(key.ok()) << key.status().ToString();
  return std::move(*key);
}

// "groupDST" of the ristretto255-SHA512 OPRF-mode entry of poc/vectors/allVectors.json.
TEST(Rfc9497, HashToGroupDstIsBuiltFromTheContextString) {
  EXPECT_EQ(kContextString.size(), 28u);
  EXPECT_EQ(kContextString[7], '\0');
  const std::string dst = "HashToGroup-" + std::string(kContextString);
  EXPECT_EQ(Hex({reinterpret_cast<const uint8_t*>(dst.data()), dst.size()}),
            "48617368546f47726f75702d4f50524656312d002d72697374726574746f3235352d534841353132");
}

TEST(Rfc9497, DeriveKeyPairGivesTheAppendixA11Key) {
  const KeyPair key = DerivedKey();
  EXPECT_EQ(Hex(key.sk.bytes()), kSkSm);
  auto pk = MultiplyGenerator(key.sk);
  ASSERT_TRUE(pk.ok());
  EXPECT_EQ(key.pk, *pk);
}

TEST(Rfc9497, BlindEvaluateAndFinalizeGiveTheAppendixA11Vectors) {
  const KeyPair key = DerivedKey();
  for (const Vector& v : kVectors) {
    const std::vector<uint8_t> input = Bytes(v.input);
    auto blind = Scalar::FromBytes(Bytes(v.blind));
    ASSERT_TRUE(blind.ok()) << blind.status().ToString();

    auto blinded = Blind(Text(input), *blind);
    ASSERT_TRUE(blinded.ok()) << blinded.status().ToString();
    EXPECT_EQ(blinded->blinded_element.ToHex(), v.blinded_element) << "input " << v.input;

    auto evaluated = BlindEvaluate(key.sk, blinded->blinded_element);
    ASSERT_TRUE(evaluated.ok());
    EXPECT_EQ(evaluated->ToHex(), v.evaluation_element) << "input " << v.input;

    auto output = Finalize(Text(input), blinded->blind, *evaluated);
    ASSERT_TRUE(output.ok()) << output.status().ToString();
    EXPECT_EQ(Hex(*output), Digits(v.output)) << "input " << v.input;

    auto direct = Evaluate(key.sk, Text(input));
    ASSERT_TRUE(direct.ok());
    EXPECT_EQ(*direct, *output);
  }
}

// The vectors also pin HashToGroup (RFC 9380 Appendix B; RFC 9380 has no ristretto255 vectors of
// its own): BlindedElement = Blind · HashToGroup(Input, "HashToGroup-" || contextString).
TEST(Rfc9497, TheVectorsPinHashToRistretto255) {
  const std::string dst = "HashToGroup-" + std::string(kContextString);
  for (const Vector& v : kVectors) {
    auto blind = Scalar::FromBytes(Bytes(v.blind));
    auto blinded = Point::FromHex(v.blinded_element);
    ASSERT_TRUE(blind.ok() && blinded.ok());
    auto unblinded = Multiply(blind->Inverse(), *blinded);
    auto hashed = HashToGroup(Text(Bytes(v.input)), dst);
    ASSERT_TRUE(unblinded.ok() && hashed.ok());
    EXPECT_EQ(*hashed, *unblinded) << "input " << v.input;
  }
}

TEST(Oprf, ARandomBlindGivesTheSameOutput) {
  const KeyPair key = DerivedKey();
  const Vector& v = kVectors[1];
  const std::vector<uint8_t> input = Bytes(v.input);
  auto blinded = Blind(Text(input));
  ASSERT_TRUE(blinded.ok());
  EXPECT_NE(blinded->blinded_element.ToHex(), v.blinded_element);
  auto evaluated = BlindEvaluate(key.sk, blinded->blinded_element);
  ASSERT_TRUE(evaluated.ok());
  auto output = Finalize(Text(input), blinded->blind, *evaluated);
  ASSERT_TRUE(output.ok());
  EXPECT_EQ(Hex(*output), Digits(v.output));
}

TEST(Oprf, AnotherKeyGivesAnotherOutput) {
  const KeyPair key = DerivedKey();
  std::vector<uint8_t> seed = Bytes(kSeed);
  seed[0] ^= 1;
  auto other = DeriveKeyPair(std::span<const uint8_t, 32>(seed.data(), 32), "test key");
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other->sk == key.sk);
  EXPECT_NE(*Evaluate(other->sk, "x"), *Evaluate(key.sk, "x"));
}

TEST(Oprf, RefusesInputsAndInfoLongerThan65535Bytes) {
  const KeyPair key = DerivedKey();
  const std::string too_long(kMaxInputBytes + 1, 'a');
  EXPECT_EQ(Blind(too_long).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Evaluate(key.sk, too_long).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Finalize(too_long, key.sk, key.pk).status().code(), StatusCode::kInvalidArgument);
  const std::vector<uint8_t> seed = Bytes(kSeed);
  EXPECT_EQ(DeriveKeyPair(std::span<const uint8_t, 32>(seed.data(), 32), too_long).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(Blind(std::string(kMaxInputBytes, 'a')).ok());
}

}  // namespace
}  // namespace tessera::collab::oprf
