#include "tessera/store/store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "store/test_stores.h"
#include "tessera/store/order_columns.h"

namespace tessera::store {
namespace {

std::string TempStorePath(const std::string& name) {
  const auto dir = std::filesystem::path(::testing::TempDir()) /
                   ("tessera_store_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = dir / name;
  for (const char* suffix : {"", "-wal", "-shm", ".lock"})
    std::filesystem::remove(path.string() + suffix);
  return path.string();
}

// `n` distinct pseudonyms for customers first, first + 1, ...
std::vector<privacy::Uuid> NewCustomers(uint32_t first, uint32_t n) {
  std::vector<privacy::Uuid> out(n);
  for (uint32_t i = 0; i < n; ++i) {
    out[i].bytes[15] = static_cast<uint8_t>(first + i);
    out[i].bytes[14] = static_cast<uint8_t>((first + i) >> 8);
  }
  return out;
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

// Decodes `fields` of `blob`, counting the bytes read.
StatusOr<OrderColumns> DecodeCounting(std::string_view blob, uint32_t fields, uint64_t* read) {
  OrderColumns c;
  *read = 0;
  const Status s = OrderColumns::DecodeFields(
      blob.size(),
      [&](uint64_t offset, uint64_t n, char* dst) {
        if (offset + n > blob.size()) return false;
        std::memcpy(dst, blob.data() + offset, n);
        *read += n;
        return true;
      },
      fields, &c);
  if (!s.ok()) return s;
  return c;
}

TEST(OrderColumns, AScanOfSomeGroupsReadsOnlyTheirBytes) {
  const OrderColumns c = TwoOrders();
  const std::string blob = c.Encode();
  uint64_t read_core = 0, read_tokens = 0, read_all = 0;
  auto core = DecodeCounting(blob, kOrderCore, &read_core);
  ASSERT_TRUE(core.ok()) << core.status().ToString();
  EXPECT_EQ(core->customer, c.customer);
  EXPECT_EQ(core->ordered_at, c.ordered_at);
  EXPECT_EQ(core->amount_minor, c.amount_minor);
  EXPECT_EQ(core->kind, c.kind);
  EXPECT_EQ(core->currency, c.currency);
  EXPECT_TRUE(core->token_bytes.empty());
  EXPECT_TRUE(core->item_category.empty());
  EXPECT_TRUE(core->region.empty());
  auto tokens = DecodeCounting(blob, kOrderTokens, &read_tokens);
  ASSERT_TRUE(tokens.ok());
  EXPECT_EQ(tokens->size(), 2u);  // the core comes along: size() and customers need it
  EXPECT_EQ(tokens->token(0), c.token(0));
  EXPECT_EQ(tokens->token(1), c.token(1));
  EXPECT_TRUE(tokens->item_offsets.empty());
  auto all = DecodeCounting(blob, kOrderAll, &read_all);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(read_all, blob.size());
  EXPECT_LT(read_core, read_tokens);
  EXPECT_LT(read_tokens, read_all);
  EXPECT_EQ(all->region, c.region);
  EXPECT_EQ(all->item_sku, c.item_sku);
}

TEST(OrderColumns, ChunksOfTheFirstFormatStillDecode) {
  // "TOC1": magic, then every column as (uint64 length, bytes), tokens first.
  const OrderColumns c = TwoOrders();
  std::string v1("TOC1", 4);
  auto put = [&](const void* data, uint64_t n, size_t width) {
    v1.append(reinterpret_cast<const char*>(&n), 8);
    v1.append(static_cast<const char*>(data), n * width);
  };
  auto column = [&](const auto& v) { put(v.data(), v.size(), sizeof(v[0])); };
  put(c.token_bytes.data(), c.token_bytes.size(), 1);
  column(c.token_offsets);
  column(c.customer);
  column(c.ordered_at);
  column(c.amount_minor);
  column(c.kind);
  column(c.currency);
  column(c.store);
  column(c.region);
  column(c.channel);
  column(c.item_offsets);
  column(c.item_category);
  column(c.item_sku);
  column(c.item_quantity_milli);
  column(c.item_amount_micro);
  auto d = OrderColumns::Decode(v1);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->token(1), c.token(1));
  EXPECT_EQ(d->amount_minor, c.amount_minor);
  EXPECT_EQ(d->channel, c.channel);
  EXPECT_EQ(d->item_amount_micro, c.item_amount_micro);
  EXPECT_EQ(OrderColumns::Decode(std::string_view(v1).substr(0, v1.size() - 1)).status().code(),
            StatusCode::kDataLoss);
}

TEST(OrderColumns, EveryTruncationIsDataLossNeverACrash) {
  const std::string blob = TwoOrders().Encode();
  for (size_t cut = 0; cut < blob.size(); ++cut) {
    for (uint32_t fields : {uint32_t{kOrderCore}, uint32_t{kOrderAll}}) {
      uint64_t read = 0;
      EXPECT_EQ(
          DecodeCounting(std::string_view(blob).substr(0, cut), fields, &read).status().code(),
          StatusCode::kDataLoss)
          << cut;
    }
  }
}

// The contract every implementation keeps: each test runs against SQLite and PostgreSQL.
class StoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override { TESSERA_SKIP_WITHOUT_POSTGRES(GetParam()); }
  std::string NewLocation(const std::string& name) { return stores_.NewLocation(GetParam(), name); }

  // Pretends a newer tessera wrote the store.
  void SetSchemaVersion(const std::string& location, int version) {
    if (GetParam() == Backend::kSqlite) {
      sqlite3* db = nullptr;
      ASSERT_EQ(sqlite3_open(location.c_str(), &db), SQLITE_OK);
      const std::string sql =
          "UPDATE meta SET value='" + std::to_string(version) + "' WHERE key='schema_version'";
      sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
      sqlite3_close(db);
    } else {
      ASSERT_TRUE(internal::PostgresExecute(location, "UPDATE tessera_meta SET value='" +
                                                          std::to_string(version) +
                                                          "' WHERE key='schema_version'")
                      .ok());
    }
  }

  TestStores stores_;
};

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres), BackendName);

TEST_P(StoreTest, OpeningAMissingStoreWithoutCreateIsNotFound) {
  EXPECT_EQ(Store::Open(NewLocation("missing.db"), false).status().code(), StatusCode::kNotFound);
}

TEST_P(StoreTest, RefusesAStoreOfANewerSchema) {
  const std::string location = NewLocation("newer.db");
  ASSERT_TRUE(Store::Open(location, true).ok());
  SetSchemaVersion(location, 99);
  auto s = Store::Open(location, false);
  EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.status().message().find("99"), std::string::npos);
  EXPECT_NE(s.status().message().find(fmt::format("({})", internal::kSchemaVersion)),
            std::string::npos);  // the version it supports
}

TEST_P(StoreTest, OpeningAStoreAgainKeepsItsData) {
  const std::string location = NewLocation("twice.db");
  {
    auto s = Store::Open(location, true);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    ASSERT_TRUE((*s)->BindKey("tk1:aaaa").ok());
  }
  for (bool create : {true, false}) {
    auto s = Store::Open(location, create);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_EQ(**(*s)->KeyFingerprint(), "tk1:aaaa");
  }
}

TEST_P(StoreTest, BindsOneKeyAndRefusesAnother) {
  auto s = Store::Open(NewLocation("key.db"), true);
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE((*s)->KeyFingerprint()->has_value());
  ASSERT_TRUE((*s)->BindKey("tk1:aaaa").ok());
  EXPECT_TRUE((*s)->BindKey("tk1:aaaa").ok());
  const Status other = (*s)->BindKey("tk1:bbbb");
  EXPECT_EQ(other.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(other.message().find("tk1:aaaa"), std::string::npos);
  EXPECT_EQ(**(*s)->KeyFingerprint(), "tk1:aaaa");
}

TEST_P(StoreTest, AScanOfTheCoreGivesTheSameCoreAsAFullScan) {
  auto s = Store::Open(NewLocation("fields.db"), true);
  ASSERT_TRUE(s.ok());
  auto load = (*s)->BeginLoad();
  ASSERT_TRUE(load.ok());
  for (int batch = 0; batch < 3; ++batch) {
    Batch b;
    b.first_new_customer = batch == 0 ? 0 : 8;
    if (batch == 0) b.new_customers = NewCustomers(0, 8);
    if (batch == 0) b.new_dict_entries.push_back({DictKind::kCurrency, 1, "EUR"});
    b.orders = TwoOrders();
    b.orders.amount_minor[0] += batch;
    ASSERT_TRUE((*s)->AppendBatch(*load, b).ok());
  }
  std::vector<int64_t> full_amounts, core_amounts;
  std::vector<std::string> full_tokens, token_scan;
  ASSERT_TRUE((*s)->ScanOrders([&](const OrderColumns& c) {
                    for (size_t i = 0; i < c.size(); ++i) {
                      full_amounts.push_back(c.amount_minor[i]);
                      full_tokens.emplace_back(c.token(i));
                    }
                    return OkStatus();
                  })
                  .ok());
  ASSERT_TRUE((*s)->ScanOrderFields(kOrderCore,
                                    [&](const OrderColumns& c) {
                                      for (size_t i = 0; i < c.size(); ++i)
                                        core_amounts.push_back(c.amount_minor[i]);
                                      return OkStatus();
                                    })
                  .ok());
  ASSERT_TRUE((*s)->ScanOrderFields(kOrderTokens,
                                    [&](const OrderColumns& c) {
                                      for (size_t i = 0; i < c.size(); ++i)
                                        token_scan.emplace_back(c.token(i));
                                      return OkStatus();
                                    })
                  .ok());
  EXPECT_EQ(full_amounts, (std::vector<int64_t>{1250, -99, 1251, -99, 1252, -99}));
  EXPECT_EQ(core_amounts, full_amounts);
  EXPECT_EQ(token_scan, full_tokens);
}

TEST_P(StoreTest, AppendedBatchesReadBackInOrder) {
  const std::string path = NewLocation("batches.db");
  {
    auto s = Store::Open(path, true);
    ASSERT_TRUE(s.ok());
    auto load = (*s)->BeginLoad();
    ASSERT_TRUE(load.ok());
    Batch b;
    b.first_new_customer = 0;
    b.new_customers = NewCustomers(b.first_new_customer, 8);
    b.new_customers[7].bytes[0] = 0x42;
    b.new_dict_entries.push_back({DictKind::kCurrency, 1, "EUR"});
    b.orders = TwoOrders();
    ASSERT_TRUE((*s)->AppendBatch(*load, b).ok()) << (*s)->AppendBatch(*load, b).ToString();
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
  EXPECT_EQ(stats->chunks, 1u);
  EXPECT_EQ(stats->customers, 8u);
  EXPECT_EQ(stats->loads, 1u);
  auto loads = (*s)->Loads();
  ASSERT_TRUE(loads.ok());
  ASSERT_EQ(loads->size(), 1u);
  EXPECT_EQ((*loads)[0].summary_json, "{}");
  EXPECT_EQ((*loads)[0].started_at.size(), 20u);  // 2025-06-30T12:00:00Z
  EXPECT_FALSE((*loads)[0].finished_at.empty());
}

// Of an order stored in versions, scans pass only the newest (the last appended), with its own
// amount and lines; a chunk holding only superseded orders is not passed; Stats counts each
// order once; and the order_versions rows are written with their batch, or not at all.
TEST_P(StoreTest, ScansPassOnlyTheNewestVersionOfAnOrder) {
  auto s = Store::Open(NewLocation("versions.db"), true);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  Store& store = **s;
  auto load = store.BeginLoad();
  ASSERT_TRUE(load.ok());
  Batch first;
  first.new_customers = NewCustomers(0, 8);
  first.new_dict_entries.push_back({DictKind::kCurrency, 1, "EUR"});
  first.orders = TwoOrders();  // tokens "a"x17 (1250) and "b"x18 (-99)
  const std::string a(first.orders.token(0)), b(first.orders.token(1));
  first.order_versions = {{a, 1, 100}, {b, 1, 100}};
  ASSERT_TRUE(store.AppendBatch(*load, first).ok());
  // Order a again, refunded in part, with one line less: its second version.
  Batch second;
  second.orders = TwoOrders();
  second.orders.token_bytes = a;
  second.orders.token_offsets = {0, static_cast<uint32_t>(a.size())};
  for (auto* v : {&second.orders.customer, &second.orders.currency, &second.orders.store,
                  &second.orders.region, &second.orders.channel}) {
    v->resize(1);
  }
  second.orders.ordered_at.resize(1);
  second.orders.amount_minor = {1000};
  second.orders.kind.resize(1);
  second.orders.item_offsets = {0, 0};
  second.orders.item_category.clear();
  second.orders.item_sku.clear();
  second.orders.item_quantity_milli.clear();
  second.orders.item_amount_micro.clear();
  second.order_versions = {{a, 2, 200}};
  ASSERT_TRUE(store.AppendBatch(*load, second).ok());

  for (const uint32_t fields : {uint32_t{kOrderCore}, uint32_t{kOrderAll}}) {
    SCOPED_TRACE(fields);
    std::vector<int64_t> amounts;
    std::vector<size_t> chunk_sizes;
    size_t items_of_a = 99;
    ASSERT_TRUE(store
                    .ScanOrderFields(fields,
                                     [&](const OrderColumns& c) {
                                       chunk_sizes.push_back(c.size());
                                       for (size_t i = 0; i < c.size(); ++i) {
                                         amounts.push_back(c.amount_minor[i]);
                                         if (fields == kOrderAll && c.token(i) == a) {
                                           items_of_a = c.item_offsets[i + 1] - c.item_offsets[i];
                                         }
                                       }
                                       return OkStatus();
                                     })
                    .ok());
    EXPECT_EQ(chunk_sizes, (std::vector<size_t>{1, 1}));
    EXPECT_EQ(amounts, (std::vector<int64_t>{-99, 1000}));
    if (fields == kOrderAll) {
      EXPECT_EQ(items_of_a, 0u);
    }
  }
  auto stats = store.Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->orders, 2u);
  auto versions = store.OrderVersions();
  ASSERT_TRUE(versions.ok());
  ASSERT_EQ(versions->size(), 2u);
  for (const OrderVersion& v : *versions) {
    EXPECT_EQ(v.versions, v.token == a ? 2u : 1u);
    EXPECT_EQ(v.updated_at, v.token == a ? 200 : 100);
  }

  // A third version whose batch fails is not counted: the scan still passes the second.
  Batch failing;
  failing.orders = second.orders;
  failing.orders.amount_minor = {0};
  failing.order_versions = {{a, 3, 300}};
  failing.commit_with = [](Database&) { return InternalError("stop"); };
  EXPECT_FALSE(store.AppendBatch(*load, failing).ok());
  std::vector<int64_t> amounts;
  ASSERT_TRUE(store
                  .ScanOrders([&](const OrderColumns& c) {
                    amounts.insert(amounts.end(), c.amount_minor.begin(), c.amount_minor.end());
                    return OkStatus();
                  })
                  .ok());
  EXPECT_EQ(amounts, (std::vector<int64_t>{-99, 1000}));

  // A third version that commits: the second's chunk, superseded whole, is not passed.
  failing.commit_with = nullptr;
  failing.orders.amount_minor = {500};
  ASSERT_TRUE(store.AppendBatch(*load, failing).ok());
  amounts.clear();
  std::vector<size_t> chunk_sizes;
  ASSERT_TRUE(store
                  .ScanOrders([&](const OrderColumns& c) {
                    chunk_sizes.push_back(c.size());
                    amounts.insert(amounts.end(), c.amount_minor.begin(), c.amount_minor.end());
                    return OkStatus();
                  })
                  .ok());
  EXPECT_EQ(chunk_sizes, (std::vector<size_t>{1, 1}));
  EXPECT_EQ(amounts, (std::vector<int64_t>{-99, 500}));
  EXPECT_EQ((*store.Stats()).orders, 2u);
  if (GetParam() == Backend::kPostgres) {
    // SQL sees the same: current_orders, and order_items over it (a's newest has no lines).
    auto sum = store.db().QueryInt("SELECT sum(amount_minor) FROM current_orders");
    ASSERT_TRUE(sum.ok()) << sum.status().ToString();
    EXPECT_EQ(*sum, std::optional<int64_t>(401));
    EXPECT_EQ(*store.db().QueryInt("SELECT count(*) FROM current_orders"),
              std::optional<int64_t>(2));
    EXPECT_EQ(*store.db().QueryInt("SELECT count(*) FROM order_items"), std::optional<int64_t>(1));
  }
}

// Every column, token and line item comes back exactly as appended, batch by batch.
TEST_P(StoreTest, ChunksReadBackByteForByte) {
  const std::string path = NewLocation("exact.db");
  auto s = Store::Open(path, true);
  ASSERT_TRUE(s.ok());
  auto load = (*s)->BeginLoad();
  ASSERT_TRUE(load.ok());
  std::vector<OrderColumns> appended;
  for (uint32_t b = 0; b < 3; ++b) {
    Batch batch;
    batch.first_new_customer = 8 * b;
    batch.new_customers = NewCustomers(batch.first_new_customer, 8);
    for (auto& u : batch.new_customers) u.bytes[3] = static_cast<uint8_t>(b + 1);
    batch.new_dict_entries.push_back(
        {DictKind::kCategory, b + 1, "Food > Cheese " + std::to_string(b)});
    OrderColumns c = TwoOrders();
    c.customer[0] = 8 * b + 3;          // a customer first seen in this batch
    if (b > 0) c.customer[1] = 2;       // one seen in the first batch
    c.ordered_at[1] = -86400 * 3 + 17;  // before 1970 still round-trips
    c.amount_minor[0] = INT64_MAX / 2 + b;
    c.item_offsets = {0, 0, 2};  // an order without items, one with two
    c.item_category.assign({5, 6});
    c.item_sku = {7, 0};
    c.item_quantity_milli = {-1500, 2000};
    c.item_amount_micro = {1, -2};
    appended.push_back(c);
    batch.orders = std::move(c);
    ASSERT_TRUE((*s)->AppendBatch(*load, batch).ok()) << (*s)->AppendBatch(*load, batch).ToString();
  }
  size_t i = 0;
  ASSERT_TRUE((*s)->ScanOrders([&](const OrderColumns& c) {
                    EXPECT_LT(i, appended.size());
                    if (i < appended.size()) {
                      EXPECT_EQ(c.Encode(), appended[i].Encode()) << i;
                    }
                    ++i;
                    return OkStatus();
                  })
                  .ok());
  EXPECT_EQ(i, 3u);
  std::vector<std::string> categories;
  ASSERT_TRUE((*s)->ScanDictionaries([&](DictKind k, uint32_t, const std::string& v) {
                    if (k == DictKind::kCategory) categories.push_back(v);
                  })
                  .ok());
  EXPECT_EQ(categories,
            (std::vector<std::string>{"Food > Cheese 0", "Food > Cheese 1", "Food > Cheese 2"}));
  EXPECT_EQ(*(*s)->CustomerCount(), 24u);
}

// Pseudonyms are random, so their order says nothing about their indexes.
TEST_P(StoreTest, CustomersReadBackAtTheirIndexes) {
  auto s = Store::Open(NewLocation("customers.db"), true);
  ASSERT_TRUE(s.ok());
  auto load = (*s)->BeginLoad();
  std::vector<privacy::Uuid> appended;
  for (uint32_t b = 0; b < 2; ++b) {
    Batch batch;
    batch.first_new_customer = 50 * b;
    batch.new_customers = NewCustomers(batch.first_new_customer, 50);
    for (size_t i = 0; i < batch.new_customers.size(); ++i) {
      batch.new_customers[i].bytes[0] = static_cast<uint8_t>((i * 37 + b * 11) % 256);
    }
    appended.insert(appended.end(), batch.new_customers.begin(), batch.new_customers.end());
    ASSERT_TRUE((*s)->AppendBatch(*load, batch).ok());
  }
  std::vector<privacy::Uuid> scanned;
  ASSERT_TRUE((*s)->ScanCustomers([&](uint32_t i, const privacy::Uuid& u) {
                    EXPECT_EQ(i, scanned.size());
                    scanned.push_back(u);
                  })
                  .ok());
  ASSERT_EQ(scanned.size(), appended.size());
  for (size_t i = 0; i < appended.size(); ++i) EXPECT_EQ(scanned[i].bytes, appended[i].bytes) << i;
}

MatchToken TokenOf(uint32_t customer, privacy::IdentifierKind kind, uint8_t fill) {
  MatchToken t;
  t.customer = customer;
  t.kind = kind;
  t.token.fill(fill);
  t.token[31] = static_cast<uint8_t>(customer);
  return t;
}

// Match tokens commit with their batch; one the store has is not stored again (a customer's
// token in a second load, or twice in one batch).
TEST_P(StoreTest, MatchTokensAreStoredOnceAndReadBackByCustomer) {
  using privacy::IdentifierKind;
  auto s = Store::Open(NewLocation("tokens.db"), true);
  ASSERT_TRUE(s.ok());
  auto load = (*s)->BeginLoad();
  ASSERT_TRUE(load.ok());
  Batch first;
  first.new_customers = NewCustomers(0, 3);
  first.orders = TwoOrders();
  first.orders.customer[0] = 2;
  first.new_match_tokens = {
      TokenOf(2, IdentifierKind::kEmail, 0xe1), TokenOf(0, IdentifierKind::kPhone, 0xf0),
      TokenOf(0, IdentifierKind::kEmail, 0xe0), TokenOf(0, IdentifierKind::kEmail, 0xe0)};
  ASSERT_TRUE((*s)->AppendBatch(*load, first).ok()) << (*s)->AppendBatch(*load, first).ToString();
  // A batch of tokens only: one stored already, one new.
  Batch second;
  second.first_new_customer = 3;
  second.new_match_tokens = {TokenOf(2, IdentifierKind::kEmail, 0xe1),
                             TokenOf(1, IdentifierKind::kPhone, 0xf1)};
  ASSERT_TRUE((*s)->AppendBatch(*load, second).ok());
  ASSERT_TRUE((*s)->FinishLoad(*load, "{}").ok());

  std::vector<std::string> got;
  ASSERT_TRUE((*s)->ScanMatchTokens([&](uint32_t customer, IdentifierKind kind,
                                        std::span<const uint8_t, kMatchTokenSize> token) {
                    got.push_back(fmt::format("{} {:c} {:02x}{:02x}", customer,
                                              privacy::IdentifierKindByte(kind), token[0],
                                              token[31]));
                  })
                  .ok());
  EXPECT_EQ(got, (std::vector<std::string>{"0 e e000", "0 p f000", "1 p f101", "2 e e102"}));
  std::set<std::pair<uint32_t, IdentifierKind>> kinds;
  ASSERT_TRUE((*s)->ScanMatchTokenKinds([&](uint32_t customer, IdentifierKind kind) {
                    EXPECT_TRUE(kinds.emplace(customer, kind).second);
                  })
                  .ok());
  EXPECT_EQ(kinds, (std::set<std::pair<uint32_t, IdentifierKind>>{{0, IdentifierKind::kEmail},
                                                                  {0, IdentifierKind::kPhone},
                                                                  {1, IdentifierKind::kPhone},
                                                                  {2, IdentifierKind::kEmail}}));
  // The batches' orders and customers are there as without tokens.
  EXPECT_EQ(*(*s)->CustomerCount(), 3u);
  EXPECT_EQ((*s)->Stats()->orders, 2u);
}

// A batch that fails leaves none of its tokens behind.
TEST_P(StoreTest, TheTokensOfAFailedBatchAreNotStored) {
  auto s = Store::Open(NewLocation("tokens_failed.db"), true);
  ASSERT_TRUE(s.ok());
  auto load = (*s)->BeginLoad();
  ASSERT_TRUE(load.ok());
  Batch bad;
  bad.new_customers = NewCustomers(0, 2);
  bad.new_dict_entries = {{DictKind::kCurrency, 1, "EUR"}, {DictKind::kCurrency, 1, "EUR"}};
  bad.new_match_tokens = {TokenOf(0, privacy::IdentifierKind::kEmail, 0xe0)};
  EXPECT_FALSE((*s)->AppendBatch(*load, bad).ok());
  size_t tokens = 0;
  ASSERT_TRUE((*s)->ScanMatchTokens([&](uint32_t, privacy::IdentifierKind,
                                        std::span<const uint8_t, kMatchTokenSize>) { ++tokens; })
                  .ok());
  EXPECT_EQ(tokens, 0u);
}

TEST_P(StoreTest, ADamagedMatchTokenIsDataLoss) {
  const std::string location = NewLocation("tokens_damaged.db");
  auto s = Store::Open(location, true);
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->db()
                  .Execute("INSERT INTO customer_match_tokens(customer_idx, kind, token) VALUES "
                           "(1, 101, $1)",
                           {SqlValue::Bytes("short")})
                  .ok());
  const Status scanned = (*s)->ScanMatchTokens(
      [](uint32_t, privacy::IdentifierKind, std::span<const uint8_t, kMatchTokenSize>) {});
  EXPECT_EQ(scanned.code(), StatusCode::kDataLoss);
  ASSERT_TRUE((*s)->db()
                  .Execute("INSERT INTO customer_match_tokens(customer_idx, kind, token) VALUES "
                           "(2, 120, $1)",
                           {SqlValue::Bytes(std::string(32, 'x'))})
                  .ok());
  EXPECT_EQ((*s)->ScanMatchTokenKinds([](uint32_t, privacy::IdentifierKind) {}).code(),
            StatusCode::kDataLoss);
}

TEST_P(StoreTest, AnErrorFromTheScanCallbackStopsTheScan) {
  auto s = Store::Open(NewLocation("stop.db"), true);
  ASSERT_TRUE(s.ok());
  auto load = (*s)->BeginLoad();
  for (int b = 0; b < 2; ++b) {
    Batch batch;
    batch.first_new_customer = 8 * b;
    batch.new_customers = NewCustomers(batch.first_new_customer, 8);
    batch.orders = TwoOrders();
    ASSERT_TRUE((*s)->AppendBatch(*load, batch).ok()) << (*s)->AppendBatch(*load, batch).ToString();
  }
  int calls = 0;
  const Status st = (*s)->ScanOrders([&](const OrderColumns&) {
    ++calls;
    return InvalidArgumentError("stop");
  });
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(calls, 1);
  // The store is usable after a stopped scan.
  EXPECT_EQ((*s)->Stats()->orders, 4u);
  calls = 0;
  EXPECT_TRUE((*s)->ScanOrders([&](const OrderColumns&) {
                    ++calls;
                    return OkStatus();
                  })
                  .ok());
  EXPECT_EQ(calls, 2);
}

TEST_P(StoreTest, OnlyOneWriterAtATime) {
  const std::string path = NewLocation("lock.db");
  auto s = Store::Open(path, true);
  ASSERT_TRUE(s.ok());
  auto first = (*s)->LockForWriting();
  ASSERT_TRUE(first.ok());
  auto again = Store::Open(path, false);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->LockForWriting().status().code(), StatusCode::kUnavailable);
  *first = WriterLock();  // released
  EXPECT_TRUE((*again)->LockForWriting().ok());
}

}  // namespace
}  // namespace tessera::store

namespace tessera::store {
namespace {

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

TEST(SqliteStore, AnEmptyDatabaseFromAnInterruptedCreationBecomesAStore) {
  const std::string path = TempStorePath("interrupted.db");
  { std::ofstream touch(path); }  // killed right after creating the file
  EXPECT_EQ(Store::Open(path, false).status().code(), StatusCode::kNotFound);
  auto s = Store::Open(path, true);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(*(*s)->CustomerCount(), 0u);
}

TEST(SqliteStore, ANewStoreAndItsLogAreReadableByTheOwnerOnly) {
  const std::string path = TempStorePath("private.db");
  const mode_t old_umask = ::umask(022);  // what a user's shell usually has
  {
    auto s = Store::Open(path, true);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    AddTestCustomers(**s, 3, 1);
    for (const std::string& f : {path, path + "-wal"}) {
      struct stat st;
      ASSERT_EQ(::stat(f.c_str(), &st), 0) << f;
      EXPECT_EQ(st.st_mode & 0777, 0600u) << f;
    }
  }
  ::umask(old_umask);
}

}  // namespace
}  // namespace tessera::store

namespace tessera::store {
namespace {

TEST(PostgresStore, AConnectionErrorNamesHostAndDatabaseButNeverThePassword) {
  // Port 1 on loopback: nothing listens there, so the connection is refused at once.
  auto s =
      Store::Open("postgresql://tessera:s3cret-pw@127.0.0.1:1/shop_db?connect_timeout=2", false);
  ASSERT_EQ(s.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(s.status().message().find("shop_db"), std::string::npos) << s.status().message();
  EXPECT_NE(s.status().message().find("127.0.0.1:1"), std::string::npos) << s.status().message();
  EXPECT_EQ(s.status().message().find("s3cret"), std::string::npos) << s.status().message();
  EXPECT_EQ(internal::DescribePostgresLocation("host=db.example password=s3cret dbname=x"),
            "database x on db.example:5432");
}

TEST(PostgresStore, LocationsAreRecognizedByScheme) {
  EXPECT_TRUE(internal::IsPostgresLocation("postgresql://host/db"));
  EXPECT_TRUE(internal::IsPostgresLocation("postgres:///db?host=/tmp"));
  EXPECT_TRUE(internal::IsPostgresLocation("host=/tmp dbname=x"));
  EXPECT_FALSE(internal::IsPostgresLocation("/var/lib/tessera/store.db"));
  EXPECT_FALSE(internal::IsPostgresLocation("sqlite:store.db"));
}

class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { TESSERA_SKIP_WITHOUT_POSTGRES(Backend::kPostgres); }
  TestStores stores_;
};

TEST_F(PostgresStoreTest, ADatabaseMissingOnTheServerIsNotFound) {
  auto location = internal::PostgresLocationWithDatabase(TestPostgresUrl(), "tessera_no_such_db");
  ASSERT_TRUE(location.ok());
  auto s = Store::Open(*location, true);
  EXPECT_EQ(s.status().code(), StatusCode::kNotFound);
  EXPECT_NE(s.status().message().find("tessera_no_such_db"), std::string::npos);
}

TEST_F(PostgresStoreTest, RefusesADatabaseHoldingAnotherApplicationsTables) {
  const std::string location = stores_.NewLocation(Backend::kPostgres, "foreign");
  ASSERT_TRUE(internal::PostgresExecute(location, "CREATE TABLE orders (id int)").ok());
  EXPECT_EQ(Store::Open(location, true).status().code(), StatusCode::kDataLoss);
}

TEST_F(PostgresStoreTest, TwoProcessesCreatingOneStoreAtOnceBothSucceed) {
  const std::string location = stores_.NewLocation(Backend::kPostgres, "race");
  std::vector<std::thread> threads;
  std::vector<std::string> errors(4);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      auto s = Store::Open(location, true);
      if (!s.ok()) errors[i] = s.status().ToString();
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& e : errors) EXPECT_EQ(e, "");
  EXPECT_EQ(*internal::PostgresQueryValue(
                location, "SELECT value FROM tessera_meta WHERE key = 'schema_version'"),
            std::to_string(internal::kSchemaVersion));
}

// The scan reads the table in heap order and puts rows back in load order: here an update
// moved the first order of the first batch behind everything else.
TEST_F(PostgresStoreTest, OrdersStoredOutOfLoadOrderReadBackAsAppended) {
  const std::string location = stores_.NewLocation(Backend::kPostgres, "heap_order");
  auto s = Store::Open(location, true);
  ASSERT_TRUE(s.ok());
  auto load = (*s)->BeginLoad();
  ASSERT_TRUE(load.ok());
  std::vector<std::string> appended;
  for (uint32_t b = 0; b < 3; ++b) {
    Batch batch;
    batch.first_new_customer = 8 * b;
    batch.new_customers = NewCustomers(batch.first_new_customer, 8);
    batch.orders = TwoOrders();
    batch.orders.customer[0] = 8 * b;
    batch.orders.amount_minor[0] = 100 * b;
    batch.orders.item_offsets = {0, 2, 2};
    batch.orders.item_category = {b, b + 1};
    batch.orders.item_sku = {1, 2};
    batch.orders.item_quantity_milli = {3, 4};
    batch.orders.item_amount_micro = {5, 6};
    appended.push_back(batch.orders.Encode());
    ASSERT_TRUE((*s)->AppendBatch(*load, batch).ok());
  }
  ASSERT_TRUE(internal::PostgresExecute(location,
                                        "UPDATE orders SET order_no = order_no WHERE order_no = 0")
                  .ok());
  EXPECT_EQ(*internal::PostgresQueryValue(
                location, "SELECT string_agg(order_no::text, ' ' ORDER BY ctid) FROM orders"),
            "1 2 3 4 5 0");
  std::vector<std::string> scanned;
  ASSERT_TRUE((*s)->ScanOrders([&](const OrderColumns& c) {
                    scanned.push_back(c.Encode());
                    return OkStatus();
                  })
                  .ok());
  EXPECT_EQ(scanned, appended);
}

// Order numbers run on over batches and loads; a batch without orders takes none.
TEST_F(PostgresStoreTest, OrderNumbersContinueAcrossBatchesAndLoads) {
  const std::string location = stores_.NewLocation(Backend::kPostgres, "order_no");
  auto s = Store::Open(location, true);
  ASSERT_TRUE(s.ok());
  for (uint32_t l = 0; l < 2; ++l) {
    auto load = (*s)->BeginLoad();
    ASSERT_TRUE(load.ok());
    Batch customers_only;
    customers_only.first_new_customer = 16 * l;
    customers_only.new_customers = NewCustomers(customers_only.first_new_customer, 8);
    ASSERT_TRUE((*s)->AppendBatch(*load, customers_only).ok());
    Batch batch;
    batch.first_new_customer = 16 * l + 8;
    batch.new_customers = NewCustomers(batch.first_new_customer, 8);
    batch.orders = TwoOrders();
    ASSERT_TRUE((*s)->AppendBatch(*load, batch).ok());
  }
  EXPECT_EQ(*internal::PostgresQueryValue(
                location, "SELECT string_agg(order_no::text, ' ' ORDER BY order_no) FROM orders"),
            "0 1 2 3");
  EXPECT_EQ(*internal::PostgresQueryValue(
                location,
                "SELECT string_agg(format('%s:%s+%s', batch_no, first_order_no, order_count), ' ' "
                "ORDER BY load_id, batch_no) FROM batches"),
            "0:0+0 1:0+2 0:2+0 1:2+2");
  size_t chunks = 0;
  ASSERT_TRUE((*s)->ScanOrders([&](const OrderColumns& c) {
                    EXPECT_EQ(c.size(), 2u);
                    ++chunks;
                    return OkStatus();
                  })
                  .ok());
  EXPECT_EQ(chunks, 2u);
}

TEST_F(PostgresStoreTest, AMissingOrderRowIsDataLoss) {
  const std::string location = stores_.NewLocation(Backend::kPostgres, "missing_row");
  auto s = Store::Open(location, true);
  ASSERT_TRUE(s.ok());
  auto load = (*s)->BeginLoad();
  Batch batch;
  batch.new_customers = NewCustomers(0, 8);
  batch.orders = TwoOrders();
  ASSERT_TRUE((*s)->AppendBatch(*load, batch).ok());
  ASSERT_TRUE(internal::PostgresExecute(location, "DELETE FROM orders WHERE order_no = 1").ok());
  int calls = 0;
  const Status st = (*s)->ScanOrders([&](const OrderColumns&) {
    ++calls;
    return OkStatus();
  });
  EXPECT_EQ(st.code(), StatusCode::kDataLoss) << st.ToString();
  EXPECT_EQ(calls, 0);
}

// The server ends the store's session between two batches (a restart, a failover, an
// administrator): the next batch reconnects, takes the writer lock again and commits.
TEST_F(PostgresStoreTest, ALostConnectionIsRetriedAndNoBatchIsLostOrDoubled) {
  const std::string location = stores_.NewLocation(Backend::kPostgres, "retry");
  auto s = Store::Open(location, true);
  ASSERT_TRUE(s.ok());
  auto lock = (*s)->LockForWriting();
  ASSERT_TRUE(lock.ok());
  auto load = (*s)->BeginLoad();
  ASSERT_TRUE(load.ok());
  for (uint32_t b = 0; b < 3; ++b) {
    if (b > 0) {
      ASSERT_TRUE(internal::PostgresExecute(
                      location,
                      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
                      "current_database() AND pid <> pg_backend_pid()")
                      .ok());
    }
    Batch batch;
    batch.first_new_customer = 8 * b;
    batch.new_customers = NewCustomers(batch.first_new_customer, 8);
    batch.new_customers[0].bytes[0] = static_cast<uint8_t>(b + 1);
    batch.orders = TwoOrders();
    batch.orders.customer[0] = 8 * b;
    const Status st = (*s)->AppendBatch(*load, batch);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  EXPECT_EQ((*s)->Stats()->orders, 6u);
  EXPECT_EQ((*s)->Stats()->chunks, 3u);
  EXPECT_EQ(*(*s)->CustomerCount(), 24u);
  auto other = Store::Open(location, false);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ((*other)->LockForWriting().status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace tessera::store
