#pragma once

// Test support for the loaders (loader.h, people_loader.h), run against both store backends
// (TEST_P over store::Backend): a fresh directory per test, an owner key, input files written
// into the directory (plain or gzip), new stores of the backend under test, and the match
// tokens a store holds, by pseudonym.

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>

#include "store/test_stores.h"
#include "tessera/collab/match_token.h"
#include "tessera/privacy/owner_key.h"
#include "tessera/privacy/pseudonymizer.h"
#include "tessera/store/store.h"

namespace tessera::ingest::testing {

class LoaderTestBase : public ::testing::TestWithParam<store::Backend> {
 protected:
  // `dir_prefix` names the test's directory: <TempDir>/<dir_prefix>_<pid>_<test name>.
  explicit LoaderTestBase(std::string dir_prefix) : dir_prefix_(std::move(dir_prefix)) {}

  // Skips PostgreSQL without a test server; makes an empty dir_ and key_ (all bytes 9). A
  // subclass's SetUp calls this first and returns when the test is skipped or failed.
  void SetUp() override {
    TESSERA_SKIP_WITHOUT_POSTGRES(GetParam());
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::replace(name.begin(), name.end(), '/', '_');
    dir_ = std::filesystem::path(::testing::TempDir()) /
           (dir_prefix_ + "_" + std::to_string(::getpid()) + "_" + name);
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    std::array<uint8_t, 32> bytes;
    bytes.fill(9);
    key_ = std::make_unique<privacy::OwnerKey>(privacy::OwnerKey::FromBytes(bytes));
  }

  // Writes `text` to dir_/`name`; returns the path.
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }

  // Writes `text` gzip-compressed to dir_/`name`; returns the path.
  std::string WriteGzip(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    gzFile gz = gzopen(path.c_str(), "wb");
    EXPECT_NE(gz, nullptr) << path;
    if (gz == nullptr) return path;
    EXPECT_EQ(gzwrite(gz, text.data(), static_cast<unsigned>(text.size())),
              static_cast<int>(text.size()));
    EXPECT_EQ(gzclose(gz), Z_OK);
    return path;
  }

  // The bytes of the file at `path` ("" when it cannot be read).
  static std::string ReadFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }

  // A new store location of the backend under test; SQLite stores live in this test's
  // directory.
  std::string NewLocation(const std::string& name) {
    return GetParam() == store::Backend::kSqlite
               ? (dir_ / name).string()
               : stores_.NewLocation(store::Backend::kPostgres, name);
  }

  // A new, empty store at NewLocation(`name`).
  std::unique_ptr<store::Store> OpenStore(const std::string& name = "store.db") {
    auto s = store::Store::Open(NewLocation(name), true);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return std::move(*s);
  }

  store::TestStores stores_;
  std::filesystem::path dir_;
  std::unique_ptr<privacy::OwnerKey> key_;

 private:
  std::string dir_prefix_;
};

// The match token of `normalized` under `key`, in hex.
inline std::string TokenHex(const privacy::OwnerKey& key, collab::MatchKind kind,
                            std::string_view normalized) {
  auto k = collab::MatchTokenKey::Create(key);
  EXPECT_TRUE(k.ok());
  auto t = k->Token(kind, normalized);
  EXPECT_TRUE(t.ok());
  return t->ToHex();
}

// The store's match tokens as "<customer pseudonym> <kind byte> <token hex>" lines.
inline std::set<std::string> TokensByPseudonym(store::Store& store) {
  std::map<uint32_t, std::string> uuid;
  EXPECT_TRUE(
      store.ScanCustomers([&](uint32_t i, const privacy::Uuid& u) { uuid[i] = u.ToString(); })
          .ok());
  std::set<std::string> out;
  EXPECT_TRUE(store
                  .ScanMatchTokens([&](uint32_t customer, privacy::IdentifierKind kind,
                                       std::span<const uint8_t, store::kMatchTokenSize> token) {
                    std::string hex;
                    for (uint8_t b : token) hex += fmt::format("{:02x}", b);
                    EXPECT_TRUE(uuid.contains(customer)) << customer;
                    out.insert(fmt::format("{} {:c} {}", uuid[customer],
                                           privacy::IdentifierKindByte(kind), hex));
                  })
                  .ok());
  return out;
}

}  // namespace tessera::ingest::testing
