#include "tessera/store/store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>

#include "tessera/store/order_columns.h"

namespace tessera::store {
namespace {

std::string TempStorePath(const std::string& name) {
  const auto dir = std::filesystem::path(::testing::TempDir()) / "tessera_store_test";
  std::filesystem::create_directories(dir);
  const auto path = dir / name;
  for (const char* suffix : {"", "-wal", "-shm", ".lock"})
    std::filesystem::remove(path.string() + suffix);
  return path.string();
}

OrderColumns TwoOrders() {
  OrderColumns c;
  for (int i = 0; i < 2; ++i) {
    c.token_bytes += std::string(17 + i, static_cast<char>('a' + i));
    c.token_offsets.push_back(static_cast<uint32_t>(c.token_bytes.size()));
    c.customer.push_back(i == 0 ? 7 : kAnonymousCustomer);
    c.ordered_at.push_back(1700000000 + i);
    c.amount_minor.push_back(i == 0 ? 1250 : -99);
    c.kind.push_back(static_cast<uint8_t>(i));
    c.currency.push_back(1);
    c.store.push_back(0);
    c.region.push_back(2);
    c.channel.push_back(3);
    c.item_category.push_back(5);
    c.item_sku.push_back(6);
    c.item_quantity_milli.push_back(1000);
    c.item_amount_micro.push_back(12500000);
    c.item_offsets.push_back(static_cast<uint32_t>(c.item_category.size()));
  }
  return c;
}

TEST(OrderColumns, EncodeDecodeRoundTrips) {
  const OrderColumns c = TwoOrders();
  auto d = OrderColumns::Decode(c.Encode());
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->size(), 2u);
  EXPECT_EQ(d->token(1), c.token(1));
  EXPECT_EQ(d->customer, c.customer);
  EXPECT_EQ(d->amount_minor, c.amount_minor);
  EXPECT_EQ(d->item_offsets, c.item_offsets);
  EXPECT_EQ(d->item_amount_micro, c.item_amount_micro);
}

TEST(OrderColumns, DecodeRejectsTruncatedOrInconsistentBlobs) {
  const std::string blob = TwoOrders().Encode();
  for (size_t cut : {size_t{0}, size_t{3}, blob.size() / 2, blob.size() - 1}) {
    EXPECT_EQ(OrderColumns::Decode(std::string_view(blob).substr(0, cut)).status().code(),
              StatusCode::kDataLoss);
  }
  OrderColumns bad = TwoOrders();
  bad.amount_minor.pop_back();
  EXPECT_EQ(OrderColumns::Decode(bad.Encode()).status().code(), StatusCode::kDataLoss);
}

TEST(SqliteStore, OpeningAMissingStoreWithoutCreateIsNotFound) {
  EXPECT_EQ(Store::Open(TempStorePath("missing.db"), false).status().code(), StatusCode::kNotFound);
}

TEST(SqliteStore, RefusesAnSqliteFileThatIsNotAStore) {
  const std::string path = TempStorePath("foreign.db");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_exec(db, "CREATE TABLE t(x)", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  EXPECT_EQ(Store::Open(path, true).status().code(), StatusCode::kDataLoss);
}

TEST(SqliteStore, RefusesAFileThatIsNotSqlite) {
  const std::string path = TempStorePath("text.db");
  std::ofstream(path) << "this is not a database, just some text that is long enough to matter\n";
  EXPECT_EQ(Store::Open(path, true).status().code(), StatusCode::kDataLoss);
}

TEST(SqliteStore, RefusesAStoreOfANewerSchema) {
  const std::string path = TempStorePath("newer.db");
  ASSERT_TRUE(Store::Open(path, true).ok());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_exec(db, "UPDATE meta SET value='99' WHERE key='schema_version'", nullptr, nullptr,
               nullptr);
  sqlite3_close(db);
  auto s = Store::Open(path, false);
  EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.status().message().find("99"), std::string::npos);
}

TEST(SqliteStore, BindsOneKeyAndRefusesAnother) {
  auto s = Store::Open(TempStorePath("key.db"), true);
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE((*s)->KeyFingerprint()->has_value());
  ASSERT_TRUE((*s)->BindKey("tk1:aaaa").ok());
  EXPECT_TRUE((*s)->BindKey("tk1:aaaa").ok());
  const Status other = (*s)->BindKey("tk1:bbbb");
  EXPECT_EQ(other.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(other.message().find("tk1:aaaa"), std::string::npos);
  EXPECT_EQ(**(*s)->KeyFingerprint(), "tk1:aaaa");
}

TEST(SqliteStore, AppendedBatchesReadBackInOrder) {
  const std::string path = TempStorePath("batches.db");
  {
    auto s = Store::Open(path, true);
    ASSERT_TRUE(s.ok());
    auto load = (*s)->BeginLoad();
    ASSERT_TRUE(load.ok());
    Batch b;
    b.first_new_customer = 0;
    b.new_customers.resize(8);
    b.new_customers[7].bytes[0] = 0x42;
    b.new_dict_entries.push_back({DictKind::kCurrency, 1, "EUR"});
    b.orders = TwoOrders();
    ASSERT_TRUE((*s)->AppendBatch(*load, b).ok());
    ASSERT_TRUE((*s)->FinishLoad(*load, "{}").ok());
  }
  auto s = Store::Open(path, false);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*(*s)->CustomerCount(), 8u);
  uint32_t last = 0;
  uint8_t byte = 0;
  ASSERT_TRUE((*s)->ScanCustomers([&](uint32_t i, const privacy::Uuid& u) {
                    last = i;
                    byte = u.bytes[0];
                  })
                  .ok());
  EXPECT_EQ(last, 7u);
  EXPECT_EQ(byte, 0x42);
  size_t orders = 0;
  ASSERT_TRUE((*s)->ScanOrders([&](const OrderColumns& c) {
                    orders += c.size();
                    EXPECT_EQ(c.amount_minor[0], 1250);
                    return OkStatus();
                  })
                  .ok());
  EXPECT_EQ(orders, 2u);
  std::string currency;
  ASSERT_TRUE((*s)->ScanDictionaries([&](DictKind k, uint32_t id, const std::string& v) {
                    if (k == DictKind::kCurrency && id == 1) currency = v;
                  })
                  .ok());
  EXPECT_EQ(currency, "EUR");
  auto stats = (*s)->Stats();
  EXPECT_EQ(stats->orders, 2u);
  EXPECT_EQ(stats->loads, 1u);
}

TEST(SqliteStore, OnlyOneWriterAtATime) {
  const std::string path = TempStorePath("lock.db");
  auto s = Store::Open(path, true);
  ASSERT_TRUE(s.ok());
  auto first = (*s)->LockForWriting();
  ASSERT_TRUE(first.ok());
  auto again = Store::Open(path, false);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->LockForWriting().status().code(), StatusCode::kUnavailable);
  first->reset();
  EXPECT_TRUE((*again)->LockForWriting().ok());
}

}  // namespace
}  // namespace tessera::store

namespace tessera::store {
namespace {

TEST(SqliteStore, AnEmptyDatabaseFromAnInterruptedCreationBecomesAStore) {
  const std::string path = TempStorePath("interrupted.db");
  { std::ofstream touch(path); }  // killed right after creating the file
  EXPECT_EQ(Store::Open(path, false).status().code(), StatusCode::kNotFound);
  auto s = Store::Open(path, true);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(*(*s)->CustomerCount(), 0u);
}

}  // namespace
}  // namespace tessera::store
