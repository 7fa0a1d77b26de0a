#include "tessera/ingest/people_loader.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "ingest/loader_test_support.h"
#include "store/test_stores.h"
#include "tessera/collab/match_token.h"
#include "tessera/io/phone_numbering.h"
#include "tessera/privacy/pseudonymizer.h"

namespace tessera::ingest {
namespace {

using privacy::IdentifierKind;
using store::Backend;
using store::BackendName;
using store::Store;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::TokenHex;
using testing::TokensByPseudonym;

// A stand-in for the module that keeps attributes: a table of its own, written in the batches'
// transactions.
constexpr const char* kTable =
    "CREATE TABLE IF NOT EXISTS test_attributes (customer_idx INTEGER NOT NULL, name TEXT NOT "
    "NULL, value TEXT NOT NULL, PRIMARY KEY (customer_idx, name))";

class PeopleLoaderTest : public testing::LoaderTestBase {
 protected:
  PeopleLoaderTest() : LoaderTestBase("tessera_people") {}

  void SetUp() override {
    LoaderTestBase::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    auto mapping = io::LoadMapping("people");
    ASSERT_TRUE(mapping.ok());
    options_.mapping = *mapping;
    options_.mapping.default_phone_country = *io::FindPhoneCountry("DE");
    options_.match_tokens = true;
    options_.on_reject = [this](const io::Reject& r) { rejects_.push_back(r); };
    sink_.write = [this](store::Database& db,
                         std::span<const PersonAttribute> values) -> StatusOr<uint64_t> {
      ++writes_;
      if (fail_at_write_ == writes_) return InternalError("the attribute table is away");
      uint64_t changed = 0;
      const char* differs =
          db.dialect() == store::Dialect::kPostgres ? "IS DISTINCT FROM" : "IS NOT";
      for (const PersonAttribute& v : values) {
        TESSERA_ASSIGN_OR_RETURN(
            const uint64_t n,
            db.Execute(fmt::format("INSERT INTO test_attributes(customer_idx, name, value) "
                                   "VALUES ($1, $2, $3) ON CONFLICT (customer_idx, name) DO "
                                   "UPDATE SET value = excluded.value WHERE "
                                   "test_attributes.value {} excluded.value",
                                   differs),
                       {v.customer, v.name, v.value}));
        changed += n;
      }
      return changed;
    };
  }

  // A new store with the stand-in attribute table.
  std::unique_ptr<Store> OpenStore(const std::string& name = "store.db") {
    std::unique_ptr<Store> s = LoaderTestBase::OpenStore(name);
    EXPECT_TRUE(s->db().ExecuteScript(kTable).ok());
    return s;
  }

  StatusOr<PeopleLoadSummary> Load(Store& store, const std::vector<std::string>& files) {
    return LoadPeople(store, *key_, files, options_, sink_);
  }

  // The stand-in table as "pseudonym name=value" lines.
  std::set<std::string> Values(Store& store) {
    std::map<int64_t, std::string> uuid;
    EXPECT_TRUE(
        store.ScanCustomers([&](uint32_t i, const privacy::Uuid& u) { uuid[i] = u.ToString(); })
            .ok());
    std::set<std::string> out;
    EXPECT_TRUE(store.db()
                    .Query("SELECT customer_idx, name, value FROM test_attributes", {},
                           [&](const store::SqlRow& row) {
                             EXPECT_TRUE(uuid.contains(row.Int(0)));
                             out.insert(fmt::format("{} {}={}", uuid[row.Int(0)], row.Text(1),
                                                    row.Text(2)));
                             return OkStatus();
                           })
                    .ok());
    return out;
  }

  std::string Pseudonym(IdentifierKind kind, std::string_view normalized) {
    auto p = privacy::Pseudonymizer::Create(*key_);
    EXPECT_TRUE(p.ok());
    return p->Pseudonym(kind, normalized).ToString();
  }

  std::vector<std::string> Customers(Store& store) {
    std::vector<std::string> out;
    EXPECT_TRUE(store
                    .ScanCustomers([&](uint32_t i, const privacy::Uuid& u) {
                      EXPECT_EQ(i, out.size());
                      out.push_back(u.ToString());
                    })
                    .ok());
    return out;
  }

  LoadOptions options_;
  AttributeSink sink_;
  std::vector<io::Reject> rejects_;
  int writes_ = 0;
  int fail_at_write_ = 0;  // the sink's call that fails (1-based); 0: none
};

INSTANTIATE_TEST_SUITE_P(Backends, PeopleLoaderTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres), BackendName);

constexpr const char* kOrders =
    "order_id,customer_id,email,ordered_at,amount\n"
    "A-1,K1,anna@example.de,2024-03-01,10\n"
    "A-2,,bernd@example.de,2024-03-02,20\n";

constexpr const char* kPeople =
    "customer_id,email,phone,age_band,tariff\n"
    "K1,,0170 1111111,25-34,Max\n"  // a customer of the orders, by number
    ",Bernd@Example.DE,,45-54,\n"   // one by e-mail, spelt otherwise; no tariff
    ",carla@example.de,+49 171 2222222,18-24,Prepaid\n"  // new
    ",,0049 172 3333333,65+,Basic\n";                    // new, by phone

TEST_P(PeopleLoaderTest, PeopleAreCustomersAndOnesWithOrdersAreTheSameCustomer) {
  auto store = OpenStore();
  LoadOptions orders = options_;
  orders.mapping = *io::LoadMapping("generic");
  ASSERT_TRUE(LoadOrders(*store, *key_, {Write("orders.csv", kOrders)}, orders).ok());
  ASSERT_EQ(Customers(*store).size(), 2u);

  auto s = Load(*store, {Write("people.csv", kPeople)});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->rows_read, 4u);
  EXPECT_EQ(s->rows_rejected, 0u);
  EXPECT_EQ(s->people_in_input, 4u);
  EXPECT_EQ(s->people_in_store, 2u);
  EXPECT_EQ(s->people_new, 2u);
  EXPECT_EQ(s->attribute_values, 7u);
  EXPECT_EQ(s->attribute_values_changed, 7u);
  EXPECT_EQ(s->attributes, (std::vector<std::string>{"age_band", "tariff"}));
  EXPECT_EQ(s->batches, 1u);

  const std::string k1 = Pseudonym(IdentifierKind::kCustomerNumber, "K1");
  const std::string bernd = Pseudonym(IdentifierKind::kEmail, "bernd@example.de");
  const std::string carla = Pseudonym(IdentifierKind::kEmail, "carla@example.de");
  const std::string phone = Pseudonym(IdentifierKind::kPhone, "+491723333333");
  EXPECT_EQ(Customers(*store), (std::vector<std::string>{k1, bernd, carla, phone}));
  EXPECT_EQ(
      Values(*store),
      (std::set<std::string>{k1 + " age_band=25-34", k1 + " tariff=Max", bernd + " age_band=45-54",
                             carla + " age_band=18-24", carla + " tariff=Prepaid",
                             phone + " age_band=65+", phone + " tariff=Basic"}));
  auto loads = store->Loads();
  ASSERT_TRUE(loads.ok());
  ASSERT_EQ(loads->size(), 2u);
  EXPECT_THAT(loads->back().summary_json, HasSubstr("\"kind\":\"people\""));
}

TEST_P(PeopleLoaderTest, EveryEmailAndPhoneOfAPersonBecomesAMatchToken) {
  auto store = OpenStore();
  LoadOptions orders = options_;
  orders.mapping = *io::LoadMapping("generic");
  ASSERT_TRUE(LoadOrders(*store, *key_, {Write("orders.csv", kOrders)}, orders).ok());
  auto s = Load(*store, {Write("people.csv", kPeople)});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const auto token = [&](const std::string& who, char kind, std::string_view id) {
    return fmt::format("{} {} {}", who, kind,
                       TokenHex(*key_, static_cast<collab::MatchKind>(kind), id));
  };
  const std::string k1 = Pseudonym(IdentifierKind::kCustomerNumber, "K1");
  const std::string bernd = Pseudonym(IdentifierKind::kEmail, "bernd@example.de");
  const std::string carla = Pseudonym(IdentifierKind::kEmail, "carla@example.de");
  const std::string phone = Pseudonym(IdentifierKind::kPhone, "+491723333333");
  // K1 had an e-mail's token from its order and gets the phone's (a kind it lacked); Bernd has
  // his e-mail's already.
  EXPECT_EQ(TokensByPseudonym(*store),
            (std::set<std::string>{
                token(k1, 'e', "anna@example.de"), token(k1, 'p', "+491701111111"),
                token(bernd, 'e', "bernd@example.de"), token(carla, 'e', "carla@example.de"),
                token(carla, 'p', "+491712222222"), token(phone, 'p', "+491723333333")}));
  EXPECT_EQ(s->match_tokens, 4u);
  // Without match tokens asked for, none.
  options_.match_tokens = false;
  auto plain = OpenStore("plain.db");
  ASSERT_TRUE(Load(*plain, {Write("people.csv", kPeople)}).ok());
  EXPECT_TRUE(TokensByPseudonym(*plain).empty());
}

TEST_P(PeopleLoaderTest, BadRowsAreRejectedByPositionAndGoodRowsLand) {
  auto store = OpenStore();
  const std::string path = Write(
      "bad.csv",
      "customer_id,email,phone,age_band,tariff\n"
      ",,,25-34,Max\n"                             // 2: no identifier
      ",not-an-email,,25-34,Max\n"                 // 3: the e-mail decides and is bad
      ",dora@example.de,,25-34,Max\n"              // 4: good
      ",dora@example.de,,25-34,Max\n"              // 5: a duplicate: merged
      ",DORA@example.de,,,Basic\n"                 // 6: another tariff: conflicting
      ",dora@example.de,+49 170 9999999,25-34,\n"  // 7: adds a phone: merged
      ",erik@example.de,,25-34," +
          std::string(300, 'z') +
          "\n"                                          // 8: too long
          ",fritz@example.de,not a phone,35-44,Plus\n"  // 9: a bad phone beside the e-mail: kept
          "\"geheim,x\n");
  auto s = Load(*store, {path});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->rows_read, 9u);
  EXPECT_EQ(s->rows_rejected, 5u);
  EXPECT_EQ(s->rejected_by_reason, (std::map<std::string, uint64_t>{{"bad_attribute", 1},
                                                                    {"bad_email", 1},
                                                                    {"conflicting_value", 1},
                                                                    {"missing_identifier", 1},
                                                                    {"unterminated_quote", 1}}));
  EXPECT_EQ(s->rows_repeating, 2u);
  EXPECT_EQ(s->people_new, 2u);
  EXPECT_EQ(s->match_identifiers_invalid, 1u);
  ASSERT_EQ(rejects_.size(), 5u);
  EXPECT_EQ(rejects_[0].line, 2u);
  EXPECT_EQ(rejects_[1].line, 3u);
  EXPECT_EQ(rejects_[1].column, 2u);
  EXPECT_EQ(rejects_[1].column_name, "email");
  EXPECT_EQ(rejects_[2].line, 6u);
  EXPECT_EQ(rejects_[2].column, 5u);
  EXPECT_EQ(rejects_[2].reason_code, "conflicting_value");
  EXPECT_EQ(rejects_[3].line, 8u);
  for (const io::Reject& r : rejects_) {
    EXPECT_EQ(r.file, path);
    for (const char* value : {"not-an-email", "dora", "Basic", "zzz", "geheim"}) {
      EXPECT_THAT(r.reason, Not(HasSubstr(value))) << r.reason_code;
    }
  }
  const std::string dora = Pseudonym(IdentifierKind::kEmail, "dora@example.de");
  const std::string fritz = Pseudonym(IdentifierKind::kEmail, "fritz@example.de");
  EXPECT_EQ(Values(*store),
            (std::set<std::string>{dora + " age_band=25-34", dora + " tariff=Max",
                                   fritz + " age_band=35-44", fritz + " tariff=Plus"}));
  // Dora's phone came with a merged row; the rejected row gave nothing.
  const std::set<std::string> tokens = TokensByPseudonym(*store);
  EXPECT_EQ(tokens.size(), 3u);
  EXPECT_TRUE(tokens.contains(
      fmt::format("{} p {}", dora, TokenHex(*key_, collab::MatchKind::kPhone, "+491709999999"))));
  // The store keeps the rejects with the load.
  auto kept = store->LoadRejects(s->load_id);
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->size(), 5u);
}

TEST_P(PeopleLoaderTest, LoadingAgainChangesNothingAndAChangedValueReplacesTheOld) {
  auto store = OpenStore();
  const std::string path = Write("people.csv", kPeople);
  ASSERT_TRUE(Load(*store, {path}).ok());
  const auto customers = Customers(*store);
  const auto values = Values(*store);
  const auto tokens = TokensByPseudonym(*store);

  auto again = Load(*store, {path});
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->people_new, 0u);
  EXPECT_EQ(again->people_in_store, 4u);
  EXPECT_EQ(again->attribute_values, 7u);
  EXPECT_EQ(again->attribute_values_changed, 0u);
  EXPECT_EQ(again->match_tokens, 0u);
  EXPECT_EQ(Customers(*store), customers);
  EXPECT_EQ(Values(*store), values);
  EXPECT_EQ(TokensByPseudonym(*store), tokens);

  // K1 moves up a tariff; Carla's cell is empty: her tariff stays.
  auto changed =
      Load(*store,
           {Write("changed.csv", "customer_id,email,tariff\nK1,,Unlimited\n,carla@example.de,\n")});
  ASSERT_TRUE(changed.ok()) << changed.status().ToString();
  EXPECT_EQ(changed->attribute_values, 1u);
  EXPECT_EQ(changed->attribute_values_changed, 1u);
  const std::string k1 = Pseudonym(IdentifierKind::kCustomerNumber, "K1");
  const std::string carla = Pseudonym(IdentifierKind::kEmail, "carla@example.de");
  EXPECT_TRUE(Values(*store).contains(k1 + " tariff=Unlimited"));
  EXPECT_FALSE(Values(*store).contains(k1 + " tariff=Max"));
  EXPECT_TRUE(Values(*store).contains(carla + " tariff=Prepaid"));
}

TEST_P(PeopleLoaderTest, TheRejectLimitFailsTheLoadBeforeAnythingIsWritten) {
  auto store = OpenStore();
  options_.max_rejects = 1;
  auto s = Load(*store, {Write("bad.csv", "email,tariff\n,Max\n,Max\na@x.de,Max\n")});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(Customers(*store).empty());
  EXPECT_TRUE(Values(*store).empty());
  EXPECT_TRUE(store->Loads()->empty());
}

TEST_P(PeopleLoaderTest, ARefusedAttributeNameStopsTheLoadBeforeAnythingIsWritten) {
  auto store = OpenStore();
  sink_.check_name = [](std::string_view name) {
    return name == "region" ? InvalidArgumentError("'region' is a built-in field") : OkStatus();
  };
  const std::string good = Write("good.csv", "email,tariff\na@x.de,Max\n");
  const std::string bad = Write("bad.csv", "email,region\nb@x.de,Süd\n");
  auto s = Load(*store, {good, bad});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), HasSubstr("bad.csv"));
  EXPECT_THAT(s.status().message(), HasSubstr("built-in"));
  EXPECT_TRUE(Customers(*store).empty());
  EXPECT_TRUE(store->Loads()->empty());
}

TEST_P(PeopleLoaderTest, AFailedBatchLeavesNothingOfItsPeopleAndARunAgainCompletes) {
  auto store = OpenStore();
  options_.batch_orders = 2;
  fail_at_write_ = 2;
  const std::string path = Write("people.csv", kPeople);
  auto s = Load(*store, {path});
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("attribute table is away"));
  // The first batch (two people with their values and tokens) is whole; of the second nothing.
  const auto customers = Customers(*store);
  ASSERT_EQ(customers.size(), 2u);
  EXPECT_EQ(Values(*store).size(), 3u);  // K1's two, Bernd's one
  for (const std::string& t : TokensByPseudonym(*store)) {
    EXPECT_TRUE(t.starts_with(customers[0]) || t.starts_with(customers[1])) << t;
  }
  fail_at_write_ = 0;
  auto again = Load(*store, {path});
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->people_new, 2u);
  EXPECT_EQ(again->batches, 2u);
  // The same store as one uninterrupted load.
  auto whole = OpenStore("whole.db");
  options_.batch_orders = 250'000;
  ASSERT_TRUE(Load(*whole, {path}).ok());
  EXPECT_EQ(Customers(*store), Customers(*whole));
  EXPECT_EQ(Values(*store), Values(*whole));
  EXPECT_EQ(TokensByPseudonym(*store), TokensByPseudonym(*whole));
}

TEST_P(PeopleLoaderTest, AnEmptyFileIsRefusedAndAHeaderOnlyFileLoadsNobody) {
  auto store = OpenStore();
  auto empty = Load(*store, {Write("empty.csv", "")});
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), StatusCode::kInvalidArgument);
  auto header = Load(*store, {Write("header.csv", "email,tariff\n")});
  ASSERT_TRUE(header.ok()) << header.status().ToString();
  EXPECT_EQ(header->rows_read, 0u);
  EXPECT_EQ(header->people_in_input, 0u);
  EXPECT_EQ(header->batches, 0u);
  EXPECT_TRUE(Customers(*store).empty());
}

TEST_P(PeopleLoaderTest, TheStoreHoldsNoRawIdentifier) {
  const std::string location = NewLocation("privacy.db");
  {
    auto store = Store::Open(location, true);
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->db().ExecuteScript(kTable).ok());
    auto s =
        Load(**store, {Write("people.csv",
                             "customer_id,email,phone,tariff\n"
                             "  KUNDE-PRIV-0001 ,  Anna.Privat@Example.DE ,0151 2345 6789,Max\n"
                             ",bernd.privat@example.de,,Plus\n"
                             ",,+49 (0)160 9876 5432,Basic\n")});
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    ASSERT_EQ(s->people_new, 3u);
    ASSERT_EQ(s->match_tokens, 4u);
  }
  std::string bytes;
  if (GetParam() == Backend::kSqlite) {
    for (const char* suffix : {"", "-wal"}) {
      std::ifstream in(location + suffix, std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      bytes += ss.str();
    }
  } else {
    for (const char* table : {"tessera_meta", "customers", "loads", "batches",
                              "customer_match_tokens", "test_attributes"}) {
      auto rows = store::internal::PostgresQueryValue(
          location, fmt::format("SELECT string_agg(t::text, '|') FROM {} t", table));
      ASSERT_TRUE(rows.ok()) << rows.status().ToString();
      bytes += *rows;
    }
  }
  ASSERT_GT(bytes.size(), 500u);
  for (const char* raw :
       {"KUNDE-PRIV", "kunde-priv", "Anna.Privat", "anna.privat", "bernd.privat", "Example.DE",
        "example.de", "2345 6789", "23456789", "9876 5432", "98765432", "491609876"}) {
    EXPECT_EQ(bytes.find(raw), std::string::npos) << "found " << raw;
  }
  EXPECT_NE(bytes.find("Plus"), std::string::npos);  // attribute values are kept
}

}  // namespace
}  // namespace tessera::ingest
