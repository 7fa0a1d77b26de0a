#include "tessera/ingest/loader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "ingest/loader_test_support.h"
#include "store/test_stores.h"
#include "tessera/collab/match_token.h"
#include "tessera/ingest/staged_file.h"
#include "tessera/io/phone_numbering.h"
#include "tessera/privacy/order_token.h"
#include "tessera/privacy/pseudonymizer.h"

namespace tessera::ingest {
namespace {

using store::Backend;
using store::BackendName;
using store::Batch;
using store::DictKind;
using store::OrderColumns;
using store::Store;
namespace internal = store::internal;

namespace fs = std::filesystem;

using testing::TokenHex;
using testing::TokensByPseudonym;

class LoaderTest : public testing::LoaderTestBase {
 protected:
  LoaderTest() : LoaderTestBase("tessera_loader") {}

  void SetUp() override {
    LoaderTestBase::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    auto mapping = io::LoadMapping("generic");
    ASSERT_TRUE(mapping.ok());
    options_.mapping = *mapping;
    options_.match_tokens = true;  // as a party loads; LoaderTest.NoMatchTokensUnlessAsked
  }

  StatusOr<LoadSummary> Load(Store& store, const std::vector<std::string>& files) {
    return LoadOrders(store, *key_, files, options_);
  }

  // All orders in the store as (customer, amount, kind) sorted, for comparing stores.
  std::multiset<std::tuple<uint32_t, int64_t, uint8_t, int64_t>> Orders(Store& store) {
    std::multiset<std::tuple<uint32_t, int64_t, uint8_t, int64_t>> out;
    EXPECT_TRUE(store
                    .ScanOrders([&](const OrderColumns& c) {
                      for (size_t i = 0; i < c.size(); ++i)
                        out.emplace(c.customer[i], c.amount_minor[i], c.kind[i], c.ordered_at[i]);
                      return OkStatus();
                    })
                    .ok());
    return out;
  }

  LoadOptions options_;
};

INSTANTIATE_TEST_SUITE_P(Backends, LoaderTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres), BackendName);

constexpr const char* kLines =
    "order_id,customer_id,email,ordered_at,sku,category,quantity,unit_price,status\n"
    "A-1,K1,anna@example.de,2024-03-01T10:00:00Z,S1,Food > Cheese,2,1.25,completed\n"
    "A-1,K1,anna@example.de,2024-03-01T10:00:00Z,S2,Food > Milk,1,0.99,completed\n"
    "A-2,K2,bernd@example.de,2024-03-02T11:00:00Z,S1,Food > Cheese,1,1.25,completed\n"
    "A-1,K1,anna@example.de,2024-03-01T10:00:00Z,S2,Food > Milk,1,0.99,completed\n"
    "A-3,,carla@example.de,2024-03-03,S3,Drinks,3,2.00,completed\n"
    "A-4,K1,anna@example.de,2024-03-04,S3,Drinks,1,2.00,returned\n"
    "A-5,K2,bernd@example.de,2024-03-05,S3,Drinks,1,2.00,cancelled\n"
    "A-6,,,2024-03-06,S3,Drinks,1,2.00,completed\n";

TEST_P(LoaderTest, GroupsLineItemsIntoOrdersAndSkipsDuplicateLines) {
  auto store = OpenStore();
  auto summary = Load(*store, {Write("lines.csv", kLines)});
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->rows_read, 8u);
  EXPECT_EQ(summary->duplicate_rows, 1u);
  EXPECT_EQ(summary->orders_stored, 6u);
  EXPECT_EQ(summary->purchases_stored, 4u);
  EXPECT_EQ(summary->credits_stored, 1u);
  EXPECT_EQ(summary->voids_stored, 1u);
  EXPECT_EQ(summary->rows_without_customer, 1u);
  EXPECT_EQ(summary->anonymous_orders_stored, 1u);
  EXPECT_EQ(summary->customers_new, 3u);  // K1, K2 and carla's e-mail
  std::map<int64_t, int64_t> amount_by_time;
  ASSERT_TRUE(store
                  ->ScanOrders([&](const OrderColumns& c) {
                    for (size_t i = 0; i < c.size(); ++i)
                      amount_by_time[c.ordered_at[i]] = c.amount_minor[i];
                    EXPECT_EQ(c.item_offsets[1] - c.item_offsets[0],
                              2u);  // A-1 has two distinct lines
                    return OkStatus();
                  })
                  .ok());
  EXPECT_EQ(amount_by_time.begin()->second, 2 * 125 + 99);
  EXPECT_EQ(amount_by_time.rbegin()->second, 200);          // A-6, anonymous
  int64_t credit = 0;
  for (const auto& [t, a] : amount_by_time) {
    if (a < 0) credit = a;
  }
  EXPECT_EQ(credit, -200);  // a return subtracts even when its amount is written positive
}

TEST_P(LoaderTest, LoadingTheSameFileTwiceStoresEachOrderOnce) {
  auto store = OpenStore();
  const std::string file = Write("lines.csv", kLines);
  ASSERT_TRUE(Load(*store, {file}).ok());
  const auto before = Orders(*store);
  auto second = Load(*store, {file});
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->orders_stored, 0u);
  EXPECT_EQ(second->orders_already_stored, 6u);
  EXPECT_EQ(second->customers_new, 0u);
  EXPECT_EQ(Orders(*store), before);
}

// With replace_stored_orders (shop APIs), a stored order comes again as a newer version when
// its update time is later than the stored one's; an equal or older one is skipped; an order a
// plain load stored is replaced by any version. In memory and through spilled partitions.
TEST_P(LoaderTest, ReplacingLoadsStoreNewerVersionsAndSkipOlderOnes) {
  const std::string header = "order_id,customer_id,ordered_at,amount\n";
  const std::string v1 = Write("v1.csv", header +
                                             "1,C1,2024-01-01,10.00\n2,C2,2024-01-02,20.00\n"
                                             "4,C4,2024-01-04,40.00\n");
  const std::string v2 = Write("v2.csv", header +
                                             "1,C1,2024-01-01,7.00\n2,C2,2024-01-02,20.00\n"
                                             "3,C3,2024-01-03,30.00\n4,C4,2024-01-04,35.00\n");
  auto tokenizer = privacy::OrderTokenizer::Create(*key_);
  ASSERT_TRUE(tokenizer.ok());
  const auto versions = [&](std::initializer_list<std::pair<const char*, int64_t>> times) {
    std::unordered_map<std::string, int64_t> out;
    for (const auto& [id, t] : times) out[*tokenizer->Encrypt(id)] = t;
    return out;
  };
  for (const uint64_t budget : {uint64_t{0}, uint64_t{1}}) {
    SCOPED_TRACE(budget);
    options_.memory_budget = budget;
    options_.temp_dir = dir_.string();
    auto store = OpenStore(fmt::format("replace-{}.db", budget));
    // Order 4 from an export: a plain load, no update time recorded.
    ASSERT_TRUE(Load(*store, {Write("export.csv", header + "4,C4,2024-01-04,40.00\n")}).ok());
    options_.replace_stored_orders = true;
    options_.order_versions = versions({{"1", 100}, {"2", 100}, {"4", 100}});
    auto first = Load(*store, {v1});
    ASSERT_TRUE(first.ok()) << first.status().ToString();
    EXPECT_EQ(first->orders_stored, 3u);  // 1 and 2, and 4 in place of the export's
    EXPECT_EQ(first->orders_replaced, 1u);
    options_.order_versions = versions({{"1", 200}, {"2", 100}, {"3", 200}, {"4", 100}});
    auto second = Load(*store, {v2});
    ASSERT_TRUE(second.ok()) << second.status().ToString();
    EXPECT_EQ(second->orders_stored, 2u);  // 1 (newer) and 3 (new)
    EXPECT_EQ(second->orders_replaced, 1u);
    EXPECT_EQ(second->orders_already_stored, 2u);  // 2 and 4: the same update time
    // The first versions again, late: older, skipped.
    options_.order_versions = versions({{"1", 100}, {"2", 100}, {"4", 100}});
    auto late = Load(*store, {v1});
    ASSERT_TRUE(late.ok());
    EXPECT_EQ(late->orders_stored, 0u);
    EXPECT_EQ(late->orders_already_stored, 3u);
    // A plain load skips every stored order, whatever its version.
    options_.replace_stored_orders = false;
    options_.order_versions.clear();
    auto plain = Load(*store, {v2});
    ASSERT_TRUE(plain.ok());
    EXPECT_EQ(plain->orders_stored, 0u);
    EXPECT_EQ(plain->orders_already_stored, 4u);

    std::multiset<int64_t> amounts;
    for (const auto& o : Orders(*store)) amounts.insert(std::get<1>(o));
    EXPECT_EQ(amounts, (std::multiset<int64_t>{700, 2000, 3000, 4000}));
    EXPECT_EQ((*store->Stats()).orders, 4u);
  }
}

TEST_P(LoaderTest, OverlappingExportsGiveTheSameStoreInOneLoadOrTwo) {
  const std::string header = "order_id,customer_id,ordered_at,amount\n";
  const std::string a = Write(
      "a.csv", header + "1,C1,2024-01-01,10.00\n2,C2,2024-01-02,20.00\n3,C1,2024-01-03,30.00\n");
  const std::string b = Write("b.csv", header + "3,C1,2024-01-03,30.00\n4,C3,2024-01-04,40.00\n");
  auto together = OpenStore("together.db");
  auto s1 = Load(*together, {a, b});
  ASSERT_TRUE(s1.ok());
  EXPECT_EQ(s1->orders_stored, 4u);
  EXPECT_EQ(s1->duplicate_rows, 1u);
  auto apart = OpenStore("apart.db");
  ASSERT_TRUE(Load(*apart, {a}).ok());
  auto s2 = Load(*apart, {b});
  ASSERT_TRUE(s2.ok());
  EXPECT_EQ(s2->orders_stored, 1u);
  EXPECT_EQ(s2->orders_already_stored, 1u);
  EXPECT_EQ(Orders(*together), Orders(*apart));
}

TEST_P(LoaderTest, ARepeatedOrderIdWithOtherValuesKeepsTheFirst) {
  auto store = OpenStore();
  auto s = Load(*store, {Write("o.csv",
                               "order_id,customer_id,ordered_at,amount\n1,C1,2024-01-01,10.00\n1,"
                               "C1,2024-01-01,99.00\n")});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->orders_stored, 1u);
  EXPECT_EQ(s->conflicting_rows, 1u);
  EXPECT_EQ(std::get<1>(*Orders(*store).begin()), 1000);
}

TEST_P(LoaderTest, SpellingsOfOneCustomerNumberShareAPseudonym) {
  auto store = OpenStore();
  auto s = Load(*store, {Write("o.csv",
                               "order_id,customer_id,ordered_at,amount\n1,17850.0,2024-01-01,1\n2, "
                               "17850 ,2024-01-02,1\n3,17851,2024-01-02,1\n")});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->customers_new, 2u);
}

TEST_P(LoaderTest, BadRowsAreRejectedAndGoodRowsStillLand) {
  auto store = OpenStore();
  std::vector<io::Reject> rejects;
  options_.on_reject = [&](const io::Reject& r) { rejects.push_back(r); };
  auto s = Load(*store, {Write("bad.csv",
                               "order_id,customer_id,email,ordered_at,amount\n"
                               "1,C1,,2024-01-01,10.00\n"
                               "2,C2,,2024-13-01,10.00\n"
                               "3,,not-an-email-4711,2024-01-01,10.00\n"
                               "4,C4,,2024-01-01,ten\n"
                               "5,C5,,2024-01-01,5.00\n")});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->orders_stored, 2u);
  EXPECT_EQ(s->rows_rejected, 3u);
  ASSERT_EQ(rejects.size(), 3u);
  EXPECT_EQ(rejects[0].line, 3u);
  EXPECT_EQ(rejects[0].column, 4u);
  EXPECT_EQ(rejects[0].column_name, "ordered_at");
  EXPECT_EQ(rejects[0].reason_code, "bad_timestamp");
  EXPECT_EQ(rejects[1].line, 4u);
  EXPECT_EQ(rejects[1].column_name, "email");
  EXPECT_EQ(rejects[1].reason_code, "bad_email");
  EXPECT_EQ(rejects[1].reason.find("4711"), std::string::npos);
  EXPECT_EQ(rejects[2].reason_code, "bad_number");
  EXPECT_EQ(rejects[2].column, 5u);
  EXPECT_EQ(s->rejected_by_reason.at("bad_timestamp"), 1u);
}

// A damaged input (here a gzip file cut in half) ends the reading early: the rows before the
// cut are only part of the file, so the load fails and writes nothing, in memory or spilled.
TEST_P(LoaderTest, ATruncatedGzipFailsTheLoadWithNothingWritten) {
  std::string csv = "order_id,customer_id,ordered_at,amount\n";
  for (int i = 0; i < 20000; ++i)
    csv += fmt::format("A{},K{},2024-01-05,{}.00\n", i, i % 700, i % 90);
  const std::string whole = WriteGzip("whole.csv.gz", csv);
  const std::string bytes = ReadFile(whole);
  const std::string cut = Write("cut.csv.gz", bytes.substr(0, bytes.size() / 2));
  for (const uint64_t budget : {uint64_t{0}, uint64_t{1}}) {  // 0: the default (in memory)
    auto store = OpenStore(budget == 0 ? "memory.db" : "spilled.db");
    if (budget != 0) options_.memory_budget = budget;
    auto s = Load(*store, {cut});
    ASSERT_FALSE(s.ok()) << "budget " << budget;
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(s.status().message().find("damaged"), std::string::npos) << s.status().message();
    EXPECT_NE(s.status().message().find("cut.csv.gz"), std::string::npos) << s.status().message();
    EXPECT_EQ(store->Stats()->orders, 0u);
    EXPECT_EQ(store->Stats()->customers, 0u);
    EXPECT_TRUE(store->Loads()->empty());
  }
  // The whole file loads.
  auto store = OpenStore("whole.db");
  options_.memory_budget = 0;
  auto s = Load(*store, {whole});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->orders_stored, 20000u);
}

// Damage within the first block read (the header row's), in a small file: a damaged input like
// damage further on (exit 2), not an error of the machine (it was kDataLoss, exit 1).
TEST_P(LoaderTest, ASmallGzipDamagedBeforeItsEndFailsAsADamagedInput) {
  const std::string bytes = ReadFile(
      WriteGzip("small.csv.gz", "order_id,customer_id,ordered_at,amount\nA1,K1,2024-01-05,1\n"));
  std::string bad_crc = bytes;
  bad_crc[bad_crc.size() - 8] ^= 0x5a;  // the trailer's CRC-32
  for (const auto& [name, content] : {std::pair<std::string, std::string>{"crc.csv.gz", bad_crc},
                                      {"cut.csv.gz", bytes.substr(0, bytes.size() - 5)},
                                      {"header.csv.gz", bytes.substr(0, 6)}}) {
    auto store = OpenStore(name + ".db");
    auto s = Load(*store, {Write(name, content)});
    ASSERT_FALSE(s.ok()) << name;
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument) << s.status().ToString();
    EXPECT_NE(s.status().message().find(name + ": the input is damaged"), std::string::npos)
        << s.status().message();
    EXPECT_EQ(store->Stats()->orders, 0u);
  }
}

TEST_P(LoaderTest, TheRejectLimitFailsTheLoadBeforeAnythingIsWritten) {
  auto store = OpenStore();
  options_.max_rejects = 1;
  auto s = Load(
      *store,
      {Write("bad.csv",
             "order_id,customer_id,ordered_at,amount\n1,C1,x,1\n2,C1,y,1\n3,C1,2024-01-01,1\n")});
  EXPECT_EQ(s.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(store->Stats()->orders, 0u);
  EXPECT_EQ(store->Stats()->customers, 0u);
}

TEST_P(LoaderTest, AFileThatCannotBeMappedStopsTheLoadWithNothingWritten) {
  auto store = OpenStore();
  const std::string good =
      Write("good.csv", "order_id,customer_id,ordered_at,amount\n1,C1,2024-01-01,1\n");
  const std::string odd = Write("odd.csv", "foo,bar\n1,2\n");
  auto s = Load(*store, {good, odd});
  ASSERT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("foo, bar"), std::string::npos);
  EXPECT_EQ(store->Stats()->orders, 0u);
}

TEST_P(LoaderTest, RefusesAStoreWrittenWithAnotherKey) {
  auto store = OpenStore();
  const std::string file =
      Write("o.csv", "order_id,customer_id,ordered_at,amount\n1,C1,2024-01-01,1\n");
  ASSERT_TRUE(Load(*store, {file}).ok());
  std::array<uint8_t, 32> other;
  other.fill(1);
  auto s = LoadOrders(*store, privacy::OwnerKey::FromBytes(other), {file}, options_);
  EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition);
}

TEST_P(LoaderTest, BatchesBecomeChunksOfTheGivenSize) {
  auto store = OpenStore();
  options_.batch_orders = 2;
  auto s =
      Load(*store, {Write("o.csv",
                          "order_id,customer_id,ordered_at,amount\n1,C1,2024-01-01,1\n2,C2,2024-01-"
                          "01,1\n3,C3,2024-01-01,1\n4,C1,2024-01-01,1\n5,C5,2024-01-01,1\n")});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->batches, 3u);
  std::vector<size_t> sizes;
  ASSERT_TRUE(store
                  ->ScanOrders([&](const OrderColumns& c) {
                    sizes.push_back(c.size());
                    return OkStatus();
                  })
                  .ok());
  EXPECT_EQ(sizes, (std::vector<size_t>{2, 2, 1}));
  // Customers first seen in a batch are committed with it: indexes stay dense.
  EXPECT_EQ(*store->CustomerCount(), 4u);
}

TEST_P(LoaderTest, TheStoreHoldsNoRawIdentifier) {
  options_.mapping.default_phone_country = *io::FindPhoneCountry("DE");
  const std::string location = NewLocation("privacy.db");
  {
    auto store = Store::Open(location, true);
    ASSERT_TRUE(store.ok());
    // Identifiers long enough not to occur by chance in a store's random bytes, padded with
    // blanks and in mixed case, so that both the raw and the normalized forms are looked for.
    // Phones as written and in E.164, of a customer with a number (a match token only) and of
    // one the phone identifies.
    const char* kPrivate =
        "order_id,customer_id,email,phone,ordered_at,sku,category,quantity,unit_price,status\n"
        "ORD-PRIV-0001,  KUNDE-PRIV-0001 ,  Anna.Privat@Example.DE ,0151 2345 6789,2024-03-01,S1,"
        "Food > Cheese,2,1.25,completed\n"
        "ORD-PRIV-0002,kunde-priv-0002,bernd.privat@example.de,,2024-03-02,S1,Food > Cheese,1,"
        "1.25,completed\n"
        "ORD-PRIV-0003,,  CARLA.PRIVAT@EXAMPLE.DE,+49 (0)160 9876 5432,2024-03-03,S3,Drinks,3,"
        "2.00,completed\n"
        "ORD-PRIV-0004,,,0049 177 3456 7890,2024-03-04,S3,Drinks,1,2.00,completed\n";
    auto summary = Load(**store, {Write("lines.csv", kPrivate)});
    ASSERT_TRUE(summary.ok()) << summary.status().ToString();
    ASSERT_EQ(summary->orders_stored, 4u);
    ASSERT_EQ(summary->customers_new, 4u);
    ASSERT_EQ(summary->match_tokens, 6u);
  }
  // Everything the store holds: the database files, or every table's rows as text.
  std::string bytes;
  if (GetParam() == Backend::kSqlite) {
    for (const char* suffix : {"", "-wal"}) {
      std::ifstream in(location + suffix, std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      bytes += ss.str();
    }
  } else {
    for (const char* table : {"tessera_meta", "customers", "dictionary", "loads", "batches",
                              "orders", "order_items", "customer_match_tokens"}) {
      auto rows = internal::PostgresQueryValue(
          location, fmt::format("SELECT string_agg(t::text, '|') FROM {} t", table));
      ASSERT_TRUE(rows.ok()) << rows.status().ToString();
      bytes += *rows;
    }
  }
  ASSERT_GT(bytes.size(), 1000u);
  for (const char* raw :
       {"ORD-PRIV",     "KUNDE-PRIV",   "kunde-priv",   "Anna.Privat",    "anna.privat",
        "bernd.privat", "CARLA.PRIVAT", "carla.privat", "Example.DE",     "example.de",
        "EXAMPLE.DE",   "2345 6789",    "23456789",     "+4915123456789", "4915123456789",
        "9876 5432",    "98765432",     "+491609876",   "491609876",      "3456 7890",
        "34567890",     "491773456"}) {
    EXPECT_EQ(bytes.find(raw), std::string::npos) << "found " << raw;
  }
  EXPECT_NE(bytes.find("Food > Cheese"), std::string::npos);  // categories are not personal
}

// An export whose orders are spread out: an order's lines come apart (some in a second
// file), lines repeat byte for byte, some customers have only an e-mail, some rows none.
struct SpreadOutExport {
  std::string a, b;
};
SpreadOutExport MakeSpreadOutExport(int orders) {
  const std::string header =
      "order_id,customer_id,email,ordered_at,sku,category,quantity,unit_price,currency,status\n";
  SpreadOutExport out{header, header};
  std::vector<std::string> later;  // lines held back to come after other orders
  for (int i = 0; i < orders; ++i) {
    const int customer = (i * 7) % (orders / 3 + 1);
    const std::string who = customer % 5 == 0    ? fmt::format(",c{}@example.org", customer)
                            : customer % 11 == 0 ? ","
                                                 : fmt::format("K{},", customer);
    const char* status = i % 13 == 0 ? "returned" : i % 17 == 0 ? "cancelled" : "completed";
    auto line = [&](int item) {
      return fmt::format(
          "O-{},{},2024-{:02}-{:02}T10:00:00Z,S{},Cat{} > Sub{},{},{}.{:02},EUR,{}\n", i, who,
          1 + i % 12, 1 + i % 28, item, item % 4, item % 9, 1 + item % 3, item % 50, i % 100,
          status);
    };
    out.a += line(i % 40);
    if (i % 3 == 0) out.a += line(i % 40);  // a byte-identical repeat
    if (i % 4 == 0) later.push_back(line(i % 40 + 1));
    if (i % 6 == 0) out.b += line(i % 40 + 2);
    if (later.size() == 50) {
      for (const auto& l : later) out.a += l;
      later.clear();
    }
  }
  for (const auto& l : later) out.a += l;
  return out;
}

// Every order of a store by its customer's pseudonym (customer indexes depend on the order
// in which a load writes), with its lines' categories, SKUs and amounts.
std::multiset<std::string> OrdersByPseudonym(Store& store) {
  std::map<uint32_t, std::string> uuid;
  EXPECT_TRUE(
      store.ScanCustomers([&](uint32_t i, const privacy::Uuid& u) { uuid[i] = u.ToString(); })
          .ok());
  std::multiset<std::string> out;
  EXPECT_TRUE(store
                  .ScanOrders([&](const OrderColumns& c) {
                    for (size_t i = 0; i < c.size(); ++i) {
                      std::string row =
                          fmt::format("{} {} {} {} {} {}|", uuid[c.customer[i]], c.token(i),
                                      c.ordered_at[i], c.amount_minor[i], c.kind[i], c.currency[i]);
                      std::multiset<std::string> items;
                      for (uint32_t j = c.item_offsets[i]; j < c.item_offsets[i + 1]; ++j) {
                        items.insert(fmt::format("{},{},{},{}", c.item_category[j], c.item_sku[j],
                                                 c.item_quantity_milli[j], c.item_amount_micro[j]));
                      }
                      for (const auto& item : items) row += item + ";";
                      out.insert(row);
                    }
                    return OkStatus();
                  })
                  .ok());
  return out;
}

TEST_P(LoaderTest, ALoadOverItsMemoryBudgetGivesTheSameStoreAsOneInMemory) {
  const SpreadOutExport data = MakeSpreadOutExport(6000);
  const std::vector<std::string> files = {Write("a.csv", data.a), Write("b.csv", data.b)};
  options_.batch_orders = 1000;
  auto memory = OpenStore("memory.db");
  auto in_memory = Load(*memory, files);
  ASSERT_TRUE(in_memory.ok()) << in_memory.status().ToString();
  EXPECT_EQ(in_memory->spilled_bytes, 0u);
  const auto expected = OrdersByPseudonym(*memory);
  // 1 byte: everything goes through the temporary files; 64 KiB: the first rows' orders are
  // gathered in memory, then spilled when the budget is reached.
  for (uint64_t budget : {uint64_t{1}, uint64_t{64} << 10}) {
    SCOPED_TRACE(budget);
    options_.memory_budget = budget;
    options_.temp_dir = dir_.string();
    auto spilled_store = OpenStore(fmt::format("spilled-{}.db", budget));
    auto spilled = Load(*spilled_store, files);
    ASSERT_TRUE(spilled.ok()) << spilled.status().ToString();
    EXPECT_GT(spilled->spilled_bytes, 0u);
    for (auto field :
         {&LoadSummary::rows_read, &LoadSummary::rows_rejected, &LoadSummary::duplicate_rows,
          &LoadSummary::conflicting_rows, &LoadSummary::rows_without_customer,
          &LoadSummary::orders_in_input, &LoadSummary::orders_stored,
          &LoadSummary::purchases_stored, &LoadSummary::credits_stored, &LoadSummary::voids_stored,
          &LoadSummary::anonymous_orders_stored, &LoadSummary::customers_in_input,
          &LoadSummary::customers_new}) {
      EXPECT_EQ((*spilled).*field, (*in_memory).*field);
    }
    EXPECT_EQ(OrdersByPseudonym(*spilled_store), expected);
    // Loading again stores nothing twice, spilled too.
    auto again = Load(*spilled_store, files);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->orders_stored, 0u);
    EXPECT_EQ(again->orders_already_stored, in_memory->orders_stored);
    EXPECT_EQ(OrdersByPseudonym(*spilled_store), expected);
    // The temporary files are gone.
    for (const auto& entry : fs::directory_iterator(dir_)) {
      EXPECT_EQ(entry.path().filename().string().find("tessera-spill"), std::string::npos);
    }
  }
}

TEST_P(LoaderTest, ASpilledLoadRejectsAnotherCurrencyInALaterRunOfAnOrder) {
  const std::string header = "order_id,customer_id,ordered_at,sku,quantity,unit_price,currency\n";
  const std::string file = Write("o.csv", header +
                                              "1,C1,2024-01-01,S1,1,10.00,EUR\n"
                                              "2,C2,2024-01-01,S1,1,10.00,EUR\n"
                                              "1,C1,2024-01-01,S2,1,5.00,USD\n"
                                              "1,C1,2024-01-01,S3,1,1.00,EUR\n");
  options_.memory_budget = 1;
  options_.temp_dir = dir_.string();
  std::vector<io::Reject> rejects;
  options_.on_reject = [&](const io::Reject& r) { rejects.push_back(r); };
  {
    options_.max_rejects = 0;  // the limit holds although the line is found only while writing
    auto store = OpenStore("limited.db");
    auto s = Load(*store, {file});
    EXPECT_EQ(s.status().code(), StatusCode::kResourceExhausted);
    EXPECT_EQ(store->Stats()->orders, 0u);
  }
  options_.max_rejects = UINT64_MAX;
  rejects.clear();
  auto store = OpenStore();
  auto s = Load(*store, {file});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->orders_stored, 2u);
  EXPECT_EQ(s->rows_rejected, 1u);
  ASSERT_EQ(rejects.size(), 1u);
  EXPECT_EQ(rejects[0].file, file);
  EXPECT_EQ(rejects[0].line, 4u);
  EXPECT_EQ(rejects[0].column, 7u);
  EXPECT_EQ(rejects[0].reason_code, "mixed_currency");
  std::set<int64_t> amounts;
  for (const auto& o : Orders(*store)) amounts.insert(std::get<1>(o));
  EXPECT_EQ(amounts, (std::set<int64_t>{1000, 1100}));  // order 1: 10.00 + 1.00
}

// Issue 15 #9: lines of one order that disagree with its first line on the customer or the
// day are rejected as conflicting_line (they were merged into the first line's customer), in
// memory and spilled alike; another hour of the same day is the same order.
TEST_P(LoaderTest, LinesOfAnOrderAtOddsWithItsFirstLineAreRejectedInMemoryAndSpilled) {
  const std::string header = "order_id,customer_id,ordered_at,sku,quantity,unit_price,currency\n";
  const std::string file = Write("o.csv", header +
                                              "1,C1,2024-01-01T09:00:00Z,S1,1,10.00,EUR\n"
                                              "2,C2,2024-01-01,S1,1,10.00,EUR\n"
                                              "1,C2,2024-01-01T09:00:00Z,S2,1,5.00,EUR\n"
                                              "1,C1,2024-01-02T09:00:00Z,S3,1,7.00,EUR\n"
                                              "1,C1,2024-01-01T17:30:00Z,S4,1,1.00,EUR\n");
  std::multiset<std::tuple<uint32_t, int64_t, uint8_t, int64_t>> first;
  for (uint64_t budget : {uint64_t{0}, uint64_t{1}}) {
    SCOPED_TRACE(budget);
    options_.memory_budget = budget;
    options_.temp_dir = dir_.string();
    std::vector<io::Reject> rejects;
    options_.on_reject = [&](const io::Reject& r) { rejects.push_back(r); };
    auto store = OpenStore(fmt::format("s{}.db", budget));
    auto s = Load(*store, {file});
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_EQ(s->spilled_bytes > 0, budget == 1);
    EXPECT_EQ(s->orders_stored, 2u);
    EXPECT_EQ(s->rejected_by_reason["conflicting_line"], 2u);
    ASSERT_EQ(rejects.size(), 2u);
    EXPECT_EQ(rejects[0].line, 4u);
    EXPECT_EQ(rejects[0].column, 2u);  // customer_id
    EXPECT_EQ(rejects[0].reason, "the customer differs from that of the order's first line");
    EXPECT_EQ(rejects[1].line, 5u);
    EXPECT_EQ(rejects[1].column, 3u);  // ordered_at
    std::set<int64_t> amounts;
    for (const auto& o : Orders(*store)) amounts.insert(std::get<1>(o));
    EXPECT_EQ(amounts, (std::set<int64_t>{1000, 1100}));  // order 1: 10.00 + 1.00
    if (budget == 0) {
      first = Orders(*store);
    } else {
      EXPECT_EQ(Orders(*store), first);
    }
  }
}

// Issue 15 #8: a sale with a negative total is a refund: stored as a return, never a purchase
// (a single -50 order made a "new customer" with CLV -50); a zero total is a free purchase.
TEST_P(LoaderTest, ANegativeTotalWithoutAReturnStatusIsStoredAsAReturn) {
  const std::string file = Write("n.csv",
                                 "order_id,customer_id,ordered_at,amount,currency\n"
                                 "n1,C1,2026-01-02,-50.00,EUR\n"
                                 "n2,C2,2026-01-03,0.00,EUR\n"
                                 "n3,C2,2026-01-04,20.00,EUR\n");
  auto store = OpenStore();
  auto s = Load(*store, {file});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->negative_purchases_as_returns, 1u);
  EXPECT_EQ(s->purchases_stored, 2u);
  EXPECT_EQ(s->credits_stored, 1u);
  std::multiset<std::pair<int64_t, uint8_t>> stored;  // amount, kind
  for (const auto& o : Orders(*store)) stored.emplace(std::get<1>(o), std::get<2>(o));
  const auto purchase = static_cast<uint8_t>(io::OrderKind::kPurchase);
  const auto credit = static_cast<uint8_t>(io::OrderKind::kCredit);
  EXPECT_EQ(stored, (std::multiset<std::pair<int64_t, uint8_t>>{
                        {-5000, credit}, {0, purchase}, {2000, purchase}}));
}

TEST_P(LoaderTest, AWideColumnTheMappingDoesNotUseChangesNothing) {
  // Rows with a 3,000-byte column the mapping does not use load as narrow ones do, and a
  // lower-case currency (upper-cased apart from the row) is the order's currency either way.
  const std::string header =
      "order_id,customer_id,ordered_at,sku,category,quantity,unit_price,currency,note\n";
  std::string narrow = header, wide = header;
  for (int i = 0; i < 40; ++i) {
    const std::string row =
        fmt::format("W-{},K{},2024-03-{:02}T10:00:00Z,S{},Cat > {},1,{}.50,{},", i / 2, i / 2 % 7,
                    1 + i / 2, i % 5, i % 3, i, i % 2 ? "eur" : "EUR");
    narrow += row + "short\n";
    wide += row + std::string(i % 3 == 0 ? 3000 : 10, 'x') + "\n";
  }
  auto dictionaries = [](Store& store) {
    std::set<std::pair<int, std::string>> out;
    EXPECT_TRUE(store
                    .ScanDictionaries([&](DictKind kind, uint32_t, const std::string& v) {
                      out.emplace(static_cast<int>(kind), v);
                    })
                    .ok());
    return out;
  };
  auto a = OpenStore("narrow.db");
  auto b = OpenStore("wide.db");
  auto narrow_load = Load(*a, {Write("narrow.csv", narrow)});
  auto wide_load = Load(*b, {Write("wide.csv", wide)});
  ASSERT_TRUE(narrow_load.ok()) << narrow_load.status().ToString();
  ASSERT_TRUE(wide_load.ok()) << wide_load.status().ToString();
  EXPECT_EQ(wide_load->rows_rejected, 0u);
  EXPECT_EQ(wide_load->orders_stored, 20u);
  EXPECT_EQ(wide_load->customers_new, 7u);
  EXPECT_EQ(OrdersByPseudonym(*b), OrdersByPseudonym(*a));
  const auto values = dictionaries(*b);
  EXPECT_EQ(values, dictionaries(*a));
  std::set<std::pair<int, std::string>> expected = {{0, "EUR"}};
  for (int c = 0; c < 3; ++c) expected.emplace(1, fmt::format("Cat > {}", c));
  for (int s = 0; s < 5; ++s) expected.emplace(2, fmt::format("S{}", s));
  EXPECT_EQ(values, expected);
}

TEST_P(LoaderTest, TheTemporaryFilesOfASpilledLoadHoldNoRawIdentifier) {
  const fs::path spill_dir = dir_ / "spill";
  fs::create_directories(spill_dir);
  options_.memory_budget = 1;
  options_.temp_dir = spill_dir.string();
  options_.batch_orders = 1;
  // While the load writes, its temporary files are open (and unlinked): read them through
  // /proc/self/fd.
  std::string bytes;
  size_t files = 0;
  options_.on_progress = [&](const LoadProgress& p) {
    if (!p.writing || files > 0) return;
    for (const auto& fd : fs::directory_iterator("/proc/self/fd")) {
      std::error_code ec;
      const fs::path target = fs::read_symlink(fd.path(), ec);
      if (ec || !target.string().starts_with(spill_dir.string())) continue;
      std::ifstream in(fd.path(), std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      bytes += ss.str();
      ++files;
    }
  };
  auto store = OpenStore();
  ASSERT_TRUE(Load(*store, {Write("lines.csv", kLines)}).ok());
  EXPECT_GT(files, 1u);
  EXPECT_GT(bytes.size(), 100u);  // the partitions not yet written
  for (const char* raw : {"anna@example.de", "bernd@example.de", "carla@example.de", "anna", "A-1",
                          "A-2", "A-6", "K1", "K2"}) {
    EXPECT_EQ(bytes.find(raw), std::string::npos) << "found " << raw;
  }
  EXPECT_TRUE(fs::is_empty(spill_dir));
}

}  // namespace
}  // namespace tessera::ingest

namespace tessera::ingest {
namespace {

// A store that is no party of a collaboration pays nothing for match tokens: none computed,
// none stored; loading the same file as a party later fills them in.
TEST_P(LoaderTest, NoMatchTokensUnlessAsked) {
  auto store = OpenStore();
  const std::string file = Write("orders.csv",
                                 "order_id,email,ordered_at,amount\n"
                                 "o1,a@x.de,2026-01-02,10\n"
                                 "o2,b@x.de,2026-01-03,20\n");
  options_.match_tokens = false;
  auto plain = Load(*store, {file});
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_EQ(plain->match_tokens, 0u);
  EXPECT_EQ(store->db().QueryInt("SELECT count(*) FROM customer_match_tokens")->value_or(-1), 0);
  options_.match_tokens = true;
  auto party = Load(*store, {file});
  ASSERT_TRUE(party.ok()) << party.status().ToString();
  EXPECT_EQ(party->orders_stored, 0u);  // the orders were there already
  EXPECT_EQ(party->match_tokens, 2u);   // their customers' tokens were not
  EXPECT_EQ(store->db().QueryInt("SELECT count(*) FROM customer_match_tokens")->value_or(-1), 2);
}

// An upload staged on its way into a load (staged_file.h).
TEST_P(LoaderTest, AStagedInputIsPrivateCappedRemovedAndNamedByItsClientsName) {
  std::string path;
  {
    auto staged = StagedFile::Create(dir_.string(), 64);
    ASSERT_TRUE(staged.ok()) << staged.status().ToString();
    path = staged->path();
    EXPECT_EQ(fs::status(path).permissions() & fs::perms::all,
              fs::perms::owner_read | fs::perms::owner_write);
    ASSERT_TRUE(staged->Append("order_id,customer_id,ordered_at,amount\n").ok());
    ASSERT_TRUE(staged->Append("o1,c1,2026-01-02,10\n").ok());
    EXPECT_EQ(staged->Append("o2,c1,2026-01-03,10 and more than the cap allows\n").code(),
              StatusCode::kResourceExhausted);
  }
  EXPECT_FALSE(fs::exists(path)) << "removed with the StagedFile";

  auto empty = StagedFile::Create(dir_.string(), 64);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->Finish().code(), StatusCode::kInvalidArgument);

  auto store = OpenStore();
  auto good = StagedFile::Create(dir_.string(), 1 << 20);
  ASSERT_TRUE(good.ok());
  ASSERT_TRUE(good->Append("order_id,customer_id,ordered_at,amount\n"
                           "o1,c1,2026-01-02,10\n"
                           "o2,c1,not a date,10\n")
                  .ok());
  ASSERT_TRUE(good->Finish().ok());
  std::vector<io::Reject> rejects;
  options_.on_reject = [&](const io::Reject& r) { rejects.push_back(r); };
  auto summary = good->Load(*store, *key_, "orders.csv", options_);
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->orders_stored, 1u);
  ASSERT_EQ(rejects.size(), 1u);
  EXPECT_EQ(rejects[0].file, "orders.csv");

  // A damaged upload (a gzip cut in half) is refused by the name the client gave it.
  std::string csv = "order_id,customer_id,ordered_at,amount\n";
  for (int i = 0; i < 20000; ++i) csv += fmt::format("x{},c{},2026-01-02,{}\n", i, i % 97, i);
  const std::string whole = WriteGzip("whole.csv.gz", csv);
  const std::string bytes = ReadFile(whole);
  auto cut = StagedFile::Create(dir_.string(), 1 << 20);
  ASSERT_TRUE(cut.ok());
  ASSERT_TRUE(cut->Append(bytes.substr(0, bytes.size() / 2)).ok());
  ASSERT_TRUE(cut->Finish().ok());
  auto refused = cut->Load(*store, *key_, "orders.csv.gz", options_);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("orders.csv.gz"), std::string::npos)
      << refused.status().message();
  EXPECT_EQ(refused.status().message().find(cut->path()), std::string::npos)
      << refused.status().message();
}

}  // namespace
}  // namespace tessera::ingest

namespace tessera::ingest {
namespace {

constexpr const char* kPhones =
    "order_id,customer_id,email,phone,ordered_at,amount\n"
    "P-1,K1,anna@example.de,030 1234567,2024-03-01,10\n"
    "P-2,K1,Anna@Example.DE,+49 (0)30 123 45 67,2024-03-02,10\n"  // the same two, spelt apart
    "P-3,,bernd@example.de,0170 7654321,2024-03-03,10\n"
    "P-4,,,0171 1111111,2024-03-04,10\n"
    "P-5,,,+49 171 1111111,2024-03-05,10\n"  // the same customer as P-4
    "P-6,,,0172 CALLME,2024-03-06,10\n"      // the phone decides and is bad: rejected
    "P-7,K7,,0172 CALLME,2024-03-07,10\n"    // a bad phone that does not decide: row kept
    "P-8,,,,2024-03-08,10\n";

TEST_P(LoaderTest, APhoneIdentifiesACustomerWithoutNumberOrEmail) {
  options_.mapping.default_phone_country = *io::FindPhoneCountry("DE");
  std::vector<io::Reject> rejects;
  options_.on_reject = [&](const io::Reject& r) { rejects.push_back(r); };
  auto store = OpenStore();
  auto s = Load(*store, {Write("phones.csv", kPhones)});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->orders_stored, 7u);
  EXPECT_EQ(s->customers_new, 4u);  // K1, bernd's e-mail, the phone of P-4/P-5, K7
  EXPECT_EQ(s->rows_without_customer, 1u);
  EXPECT_EQ(s->match_identifiers_invalid, 1u);  // P-7's phone
  ASSERT_EQ(rejects.size(), 1u);
  EXPECT_EQ(rejects[0].line, 7u);
  EXPECT_EQ(rejects[0].column, 4u);
  EXPECT_EQ(rejects[0].column_name, "phone");
  EXPECT_EQ(rejects[0].reason_code, "bad_phone");
  EXPECT_EQ(rejects[0].reason.find("CALLME"), std::string::npos);
  EXPECT_EQ(rejects[0].reason.find("0172"), std::string::npos);
  // The phone's customer is the pseudonym of its E.164 form, in the phone's own domain.
  auto p = privacy::Pseudonymizer::Create(*key_);
  const auto pseudonyms = store->CustomerPseudonyms();
  ASSERT_TRUE(pseudonyms.ok());
  EXPECT_NE(std::find(pseudonyms->begin(), pseudonyms->end(),
                      p->Pseudonym(privacy::IdentifierKind::kPhone, "+491711111111")),
            pseudonyms->end());
}

TEST_P(LoaderTest, ANationalPhoneWithoutADefaultCountryIsRejectedWhenItDecides) {
  std::vector<io::Reject> rejects;
  options_.on_reject = [&](const io::Reject& r) { rejects.push_back(r); };
  auto store = OpenStore();
  auto s = Load(*store, {Write("phones.csv",
                               "order_id,mobile,ordered_at,amount\n"
                               "1,0170 1234567,2024-03-01,10\n"
                               "2,+49 170 1234567,2024-03-02,10\n")});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->orders_stored, 1u);
  ASSERT_EQ(rejects.size(), 1u);
  EXPECT_EQ(rejects[0].reason_code, "bad_phone");
  EXPECT_EQ(rejects[0].column_name, "mobile");
  EXPECT_NE(rejects[0].reason.find("default_phone_country"), std::string::npos);
}

// Every e-mail and phone of a row is kept as a match token of the row's customer, also when the
// customer number decides; one per distinct identifier and customer.
TEST_P(LoaderTest, EveryEmailAndPhoneBecomesAMatchTokenOfItsCustomer) {
  options_.mapping.default_phone_country = *io::FindPhoneCountry("DE");
  auto store = OpenStore();
  auto s = Load(*store, {Write("phones.csv", kPhones)});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto p = privacy::Pseudonymizer::Create(*key_);
  using privacy::IdentifierKind;
  const auto customer = [&](IdentifierKind kind, std::string_view id) {
    return p->Pseudonym(kind, id).ToString();
  };
  const auto token = [&](std::string who, char kind, std::string_view id) {
    return fmt::format("{} {} {}", who, kind,
                       TokenHex(*key_, static_cast<collab::MatchKind>(kind), id));
  };
  const std::string k1 = customer(IdentifierKind::kCustomerNumber, "K1");
  const std::string bernd = customer(IdentifierKind::kEmail, "bernd@example.de");
  const std::string phone = customer(IdentifierKind::kPhone, "+491711111111");
  const std::set<std::string> expected = {
      token(k1, 'e', "anna@example.de"),     token(k1, 'p', "+49301234567"),
      token(bernd, 'e', "bernd@example.de"), token(bernd, 'p', "+491707654321"),
      token(phone, 'p', "+491711111111"),
  };
  EXPECT_EQ(TokensByPseudonym(*store), expected);
  EXPECT_EQ(s->match_tokens, 5u);
}

TEST_P(LoaderTest, MatchTokensAreEqualUnderOneKeyAndDifferUnderAnother) {
  options_.mapping.default_phone_country = *io::FindPhoneCountry("DE");
  const std::string file = Write("phones.csv", kPhones);
  auto a = OpenStore("a.db");
  auto b = OpenStore("b.db");
  ASSERT_TRUE(Load(*a, {file}).ok());
  ASSERT_TRUE(Load(*b, {file}).ok());
  const auto tokens_a = TokensByPseudonym(*a);
  EXPECT_EQ(tokens_a.size(), 5u);
  EXPECT_EQ(TokensByPseudonym(*b), tokens_a);

  std::array<uint8_t, 32> other_bytes;
  other_bytes.fill(10);
  const privacy::OwnerKey other = privacy::OwnerKey::FromBytes(other_bytes);
  auto c = OpenStore("c.db");
  ASSERT_TRUE(LoadOrders(*c, other, {file}, options_).ok());
  std::set<std::string> raw_a, raw_c;
  const auto collect = [](Store& store, std::set<std::string>* out) {
    ASSERT_TRUE(store
                    .ScanMatchTokens([&](uint32_t, privacy::IdentifierKind,
                                         std::span<const uint8_t, store::kMatchTokenSize> t) {
                      out->insert(std::string(t.begin(), t.end()));
                    })
                    .ok());
  };
  collect(*a, &raw_a);
  collect(*c, &raw_c);
  EXPECT_EQ(raw_c.size(), raw_a.size());
  for (const std::string& t : raw_c) EXPECT_FALSE(raw_a.contains(t));
}

TEST_P(LoaderTest, LoadingAgainStoresNoTokenTwiceAndBackfillsMissingOnes) {
  options_.mapping.default_phone_country = *io::FindPhoneCountry("DE");
  const std::string file = Write("phones.csv", kPhones);
  const std::string location = NewLocation("again.db");
  auto store = Store::Open(location, true);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE(Load(**store, {file}).ok());
  const auto first = TokensByPseudonym(**store);
  // Nothing new: no customer has a new order, and each has its tokens.
  auto again = Load(**store, {file});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->orders_stored, 0u);
  EXPECT_EQ(again->match_tokens, 0u);
  EXPECT_EQ(TokensByPseudonym(**store), first);
  // A new order of a known customer brings its tokens again (its e-mail could be new); the
  // store keeps one of each.
  auto more = Load(**store, {Write("more.csv",
                                   "order_id,customer_id,email,phone,ordered_at,amount\n"
                                   "P-9,K1,anna@example.de,,2024-04-01,10\n")});
  ASSERT_TRUE(more.ok());
  EXPECT_EQ(more->orders_stored, 1u);
  EXPECT_EQ(more->match_tokens, 1u);  // its e-mail (the row has no phone)
  EXPECT_EQ(TokensByPseudonym(**store), first);
  // A store whose customers lack tokens (as one made before them) gets them from a load that
  // stores no order.
  ASSERT_TRUE(
      (*store)->db().Execute("DELETE FROM customer_match_tokens WHERE kind = $1", {int{'p'}}).ok());
  EXPECT_LT(TokensByPseudonym(**store).size(), first.size());
  auto backfill = Load(**store, {file});
  ASSERT_TRUE(backfill.ok());
  EXPECT_EQ(backfill->orders_stored, 0u);
  EXPECT_EQ(backfill->match_tokens, 3u);  // the phones only
  EXPECT_EQ(TokensByPseudonym(**store), first);
}

TEST_P(LoaderTest, ASpilledLoadStoresTheMatchTokensOfOneInMemory) {
  options_.mapping.default_phone_country = *io::FindPhoneCountry("DE");
  // Customers with numbers, e-mails and phones, their orders spread over the file.
  std::string csv = "order_id,customer_id,email,phone,ordered_at,sku,quantity,unit_price\n";
  for (int i = 0; i < 6000; ++i) {  // more rows than the reader's batch: spilled mid-way
    const int c = (i * 7) % 701;
    const std::string number = c % 3 == 0 ? fmt::format("K{}", c) : "";
    const std::string email = c % 2 == 0 ? fmt::format("c{}@example.org", c) : "";
    const std::string phone = c % 5 != 1 ? fmt::format("0170 {:07}", c) : "";
    csv += fmt::format("O-{},{},{},{},2024-{:02}-01,S{},1,{}.00\n", i, number, email, phone,
                       1 + i % 12, i % 9, 1 + i % 40);
    if (i % 4 == 0) {
      csv += fmt::format("O-{},{},{},{},2024-{:02}-01,T{},1,1.00\n", i, number, email, phone,
                         1 + i % 12, i % 9);
    }
  }
  const std::vector<std::string> files = {Write("spread.csv", csv)};
  options_.batch_orders = 500;
  auto memory = OpenStore("memory.db");
  auto in_memory = Load(*memory, files);
  ASSERT_TRUE(in_memory.ok()) << in_memory.status().ToString();
  const auto expected = TokensByPseudonym(*memory);
  EXPECT_EQ(expected.size(), 912u);
  for (uint64_t budget : {uint64_t{1}, uint64_t{32} << 10}) {
    SCOPED_TRACE(budget);
    options_.memory_budget = budget;
    options_.temp_dir = dir_.string();
    auto spilled_store = OpenStore(fmt::format("spilled-{}.db", budget));
    auto spilled = Load(*spilled_store, files);
    ASSERT_TRUE(spilled.ok()) << spilled.status().ToString();
    EXPECT_GT(spilled->spilled_bytes, 0u);
    EXPECT_EQ(spilled->match_tokens, in_memory->match_tokens);
    EXPECT_EQ(TokensByPseudonym(*spilled_store), expected);
  }
}

}  // namespace
}  // namespace tessera::ingest
