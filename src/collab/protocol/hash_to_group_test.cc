#include "tessera/collab/hash_to_group.h"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

#include "collab/protocol/hash_internal.h"
#include "collab/protocol/test_bytes.h"

namespace tessera::collab {
namespace {

using test::Hex;

std::string Q128() { return "q128_" + std::string(128, 'q'); }
std::string A512() { return "a512_" + std::string(512, 'a'); }

struct ExpandCase {
  std::string msg;
  size_t len_in_bytes;
  std::string uniform_bytes;
};

// RFC 9380 Appendix K.3, expand_message_xmd(SHA-512), copied from the RFC's source
// (draft-irtf-cfrg-hash-to-curve.md and poc/vectors/expand_message_xmd_SHA512_38.json in
// github.com/cfrg/draft-irtf-cfrg-hash-to-curve, commit 664b135).
const std::string kSha512Dst = "QUUX-V01-CS02-with-expander-SHA512-256";
std::vector<ExpandCase> Sha512Cases() {
  return {
      {"", 0x20, "6b9a7312411d92f921c6f68ca0b6380730a1a4d982c507211a90964c394179ba"},
      {"abc", 0x20, "0da749f12fbe5483eb066a5f595055679b976e93abe9be6f0f6318bce7aca8dc"},
      {"abcdef0123456789", 0x20,
       "087e45a86e2939ee8b91100af1583c4938e0f5fc6c9db4b107b83346bc967f58"},
      {Q128(), 0x20, "7336234ee9983902440f6bc35b348352013becd88938d2afec44311caf8356b3"},
      {A512(), 0x20, "57b5f7e766d5be68a6bfe1768e3c2b7f1228b3e4b3134956dd73a59b954c66f4"},
      {"", 0x80,
       "41b037d1734a5f8df225dd8c7de38f851efdb45c372887be655212d07251b921"
       "b052b62eaed99b46f72f2ef4cc96bfaf254ebbbec091e1a3b9e4fb5e5b619d2e"
       "0c5414800a1d882b62bb5cd1778f098b8eb6cb399d5d9d18f5d5842cf5d13d7e"
       "b00a7cff859b605da678b318bd0e65ebff70bec88c753b159a805d2c89c55961"},
      {"abc", 0x80,
       "7f1dddd13c08b543f2e2037b14cefb255b44c83cc397c1786d975653e36a6b11"
       "bdd7732d8b38adb4a0edc26a0cef4bb45217135456e58fbca1703cd6032cb134"
       "7ee720b87972d63fbf232587043ed2901bce7f22610c0419751c065922b48843"
       "1851041310ad659e4b23520e1772ab29dcdeb2002222a363f0c2b1c972b3efe1"},
      {"abcdef0123456789", 0x80,
       "3f721f208e6199fe903545abc26c837ce59ac6fa45733f1baaf0222f8b7acb04"
       "24814fcb5eecf6c1d38f06e9d0a6ccfbf85ae612ab8735dfdf9ce84c372a77c8"
       "f9e1c1e952c3a61b7567dd0693016af51d2745822663d0c2367e3f4f0bed827f"
       "eecc2aaf98c949b5ed0d35c3f1023d64ad1407924288d366ea159f46287e61ac"},
      {Q128(), 0x80,
       "b799b045a58c8d2b4334cf54b78260b45eec544f9f2fb5bd12fb603eaee70db7"
       "317bf807c406e26373922b7b8920fa29142703dd52bdf280084fb7ef69da78af"
       "df80b3586395b433dc66cde048a258e476a561e9deba7060af40adf30c64249c"
       "a7ddea79806ee5beb9a1422949471d267b21bc88e688e4014087a0b592b695ed"},
      {A512(), 0x80,
       "05b0bfef265dcee87654372777b7c44177e2ae4c13a27f103340d9cd11c86cb2"
       "426ffcad5bd964080c2aee97f03be1ca18e30a1f14e27bc11ebbd650f305269c"
       "c9fb1db08bf90bfc79b42a952b46daf810359e7bc36452684784a64952c343c5"
       "2e5124cd1f71d474d5197fefc571a92929c9084ffe1112cf5eea5192ebff330b"},
  };
}

// RFC 9380 Appendix K.2, expand_message_xmd(SHA-256) with a 256-byte DST (section 5.3.3),
// copied from the same source (poc/vectors/expand_message_xmd_SHA256_256.json). There is no
// long-DST vector for SHA-512; this one runs the same code with the other hash.
std::string LongSha256Dst() {
  return "QUUX-V01-CS02-with-expander-SHA256-128-long-DST-" + std::string(208, '1');
}
std::vector<ExpandCase> LongDstSha256Cases() {
  return {
      {"", 0x20, "e8dc0c8b686b7ef2074086fbdd2f30e3f8bfbd3bdf177f73f04b97ce618a3ed3"},
      {"abc", 0x20, "52dbf4f36cf560fca57dedec2ad924ee9c266341d8f3d6afe5171733b16bbb12"},
      {"abcdef0123456789", 0x20,
       "35387dcf22618f3728e6c686490f8b431f76550b0b2c61cbc1ce7001536f4521"},
      {Q128(), 0x20, "01b637612bb18e840028be900a833a74414140dde0c4754c198532c3a0ba42bc"},
      {A512(), 0x20, "20cce7033cabc5460743180be6fa8aac5a103f56d481cf369a8accc0c374431b"},
      {"", 0x80,
       "14604d85432c68b757e485c8894db3117992fc57e0e136f71ad987f789a0abc2"
       "87c47876978e2388a02af86b1e8d1342e5ce4f7aaa07a87321e691f6fba7e007"
       "2eecc1218aebb89fb14a0662322d5edbd873f0eb35260145cd4e64f748c5dfe6"
       "0567e126604bcab1a3ee2dc0778102ae8a5cfd1429ebc0fa6bf1a53c36f55dfc"},
      {"abc", 0x80,
       "1a30a5e36fbdb87077552b9d18b9f0aee16e80181d5b951d0471d55b66684914"
       "aef87dbb3626eaabf5ded8cd0686567e503853e5c84c259ba0efc37f71c839da"
       "2129fe81afdaec7fbdc0ccd4c794727a17c0d20ff0ea55e1389d6982d1241cb8"
       "d165762dbc39fb0cee4474d2cbbd468a835ae5b2f20e4f959f56ab24cd6fe267"},
      {"abcdef0123456789", 0x80,
       "d2ecef3635d2397f34a9f86438d772db19ffe9924e28a1caf6f1c8f15603d402"
       "8f40891044e5c7e39ebb9b31339979ff33a4249206f67d4a1e7c765410bcd249"
       "ad78d407e303675918f20f26ce6d7027ed3774512ef5b00d816e51bfcc96c353"
       "9601fa48ef1c07e494bdc37054ba96ecb9dbd666417e3de289d4f424f502a982"},
      {Q128(), 0x80,
       "ed6e8c036df90111410431431a232d41a32c86e296c05d426e5f44e75b9a50d3"
       "35b2412bc6c91e0a6dc131de09c43110d9180d0a70f0d6289cb4e43b05f7ee5e"
       "9b3f42a1fad0f31bac6a625b3b5c50e3a83316783b649e5ecc9d3b1d9471cb50"
       "24b7ccf40d41d1751a04ca0356548bc6e703fca02ab521b505e8e45600508d32"},
      {A512(), 0x80,
       "78b53f2413f3c688f07732c10e5ced29a17c6a16f717179ffbe38d92d6c9ec29"
       "6502eb9889af83a1928cd162e845b0d3c5424e83280fed3d10cffb2f8431f14e"
       "7a23f4c68819d40617589e4c41169d0b56e0e3535be1fd71fbb08bb70c5b5ffe"
       "d953d6c14bf7618b35fc1f4c4b30538236b4b08c9fbf90462447a8ada60be495"},
  };
}

TEST(Rfc9380, ExpandMessageXmdSha512GivesTheAppendixK3Vectors) {
  for (const ExpandCase& c : Sha512Cases()) {
    auto out = ExpandMessageXmdSha512(c.msg, kSha512Dst, c.len_in_bytes);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    EXPECT_EQ(Hex(*out), c.uniform_bytes)
        << "msg " << c.msg.substr(0, 16) << ", len " << c.len_in_bytes;
  }
}

TEST(Rfc9380, ExpandMessageXmdWithAnOversizeDstGivesTheAppendixK2Vectors) {
  const std::string dst = LongSha256Dst();
  ASSERT_EQ(dst.size(), 256u);
  for (const ExpandCase& c : LongDstSha256Cases()) {
    std::vector<uint8_t> out(c.len_in_bytes);
    ASSERT_TRUE(internal::ExpandMessageXmd(internal::Sha256Md(), {c.msg}, dst, out).ok());
    EXPECT_EQ(Hex(out), c.uniform_bytes)
        << "msg " << c.msg.substr(0, 16) << ", len " << c.len_in_bytes;
  }
}

TEST(ExpandMessageXmd, AMessageInPartsHashesAsItsConcatenation) {
  const ExpandCase c = Sha512Cases()[2];  // "abcdef0123456789"
  std::vector<uint8_t> out(c.len_in_bytes);
  ASSERT_TRUE(internal::ExpandMessageXmd(internal::Sha512Md(), {"abc", "", "def0", "123456789"},
                                         kSha512Dst, out)
                  .ok());
  EXPECT_EQ(Hex(out), c.uniform_bytes);
}

TEST(ExpandMessageXmd, AnOversizeSha512DstIsReplacedByItsHash) {
  const std::string long_dst(300, 'x');
  std::array<uint8_t, 64> short_dst;
  ASSERT_TRUE(internal::Sha512({"H2C-OVERSIZE-DST-", long_dst}, short_dst).ok());
  auto with_long = ExpandMessageXmdSha512("abc", long_dst, 96);
  auto with_short = ExpandMessageXmdSha512("abc", test::Text(short_dst), 96);
  ASSERT_TRUE(with_long.ok() && with_short.ok());
  EXPECT_EQ(*with_long, *with_short);
  // 255 bytes is still used as given.
  const std::string dst255(255, 'x');
  auto as_given = ExpandMessageXmdSha512("abc", dst255, 32);
  ASSERT_TRUE(as_given.ok());
  EXPECT_NE(*as_given, *ExpandMessageXmdSha512("abc", std::string(256, 'x'), 32));
}

TEST(ExpandMessageXmd, RefusesEmptyDstEmptyOutputAndMoreThan255Blocks) {
  EXPECT_EQ(ExpandMessageXmdSha512("abc", "", 32).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ExpandMessageXmdSha512("abc", kSha512Dst, 0).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ExpandMessageXmdSha512("abc", kSha512Dst, kMaxExpandBytes + 1).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ExpandMessageXmdSha512("abc", kSha512Dst, size_t{1} << 40).status().code(),
            StatusCode::kInvalidArgument);
  auto longest = ExpandMessageXmdSha512("abc", kSha512Dst, kMaxExpandBytes);
  ASSERT_TRUE(longest.ok());
  EXPECT_EQ(longest->size(), 255u * 64u);
  // A prefix of a longer output is not a shorter output: the length is hashed in.
  auto shorter = ExpandMessageXmdSha512("abc", kSha512Dst, 64);
  ASSERT_TRUE(shorter.ok());
  EXPECT_FALSE(std::equal(shorter->begin(), shorter->end(), longest->begin()));
}

TEST(HashToGroup, IsTheOneWayMapOfTheExpandedMessage) {
  auto uniform = ExpandMessageXmdSha512("abc", kSha512Dst, 64);
  ASSERT_TRUE(uniform.ok());
  auto direct = Point::FromUniformBytes(std::span<const uint8_t, 64>(uniform->data(), 64));
  auto hashed = HashToGroup("abc", kSha512Dst);
  ASSERT_TRUE(direct.ok() && hashed.ok());
  EXPECT_EQ(*hashed, *direct);
  EXPECT_NE(*hashed, *HashToGroup("abd", kSha512Dst));
  EXPECT_NE(*hashed, *HashToGroup("abc", "another DST"));
  EXPECT_EQ(HashToGroup("abc", "").status().code(), StatusCode::kInvalidArgument);
}

TEST(HashToScalar, IsTheWideReductionOfTheExpandedMessage) {
  auto uniform = ExpandMessageXmdSha512("abc", kSha512Dst, 64);
  ASSERT_TRUE(uniform.ok());
  auto direct = Scalar::FromWideBytes(std::span<const uint8_t, 64>(uniform->data(), 64));
  auto hashed = HashToScalar("abc", kSha512Dst);
  ASSERT_TRUE(direct.ok() && hashed.ok());
  EXPECT_EQ(*hashed, *direct);
}

}  // namespace
}  // namespace tessera::collab
