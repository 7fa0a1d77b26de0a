// Pulls from a stand-in shop on the loopback (stand_in_test_support.h), into both stores:
// paging, the cursor, retries, refused credentials, bad bodies, and a run stopped between a
// page's commit and its cursor, run again.

#include "tessera/sources/pull.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <array>
#include <tuple>

#include "sources/stand_in_test_support.h"
#include "store/test_stores.h"
#include "tessera/analytics/profiles.h"
#include "tessera/common/civil_time.h"
#include "tessera/privacy/order_token.h"
#include "tessera/sources/source_store.h"

namespace tessera::sources {
namespace {

using store::Backend;
using store::BackendName;
using testing::Fault;
using testing::ShopifyOrder;
using testing::StandInShop;
using testing::WooOrder;

constexpr int64_t kT0 = 1709286000;  // 2024-03-01T09:40:00Z
constexpr const char* kToken = "shpat_test_token_0123456789";
constexpr const char* kKey = "ck_test_key";
constexpr const char* kSecret = "cs_test_secret";

using StoredOrder = std::tuple<std::string, uint32_t, int64_t, int64_t, uint8_t>;

class PullTest : public store::StoreFixture {
 protected:
  void SetUp() override {
    OpenNewStore("pull.db", &SourceStore::Schema());
    if (IsSkipped() || HasFatalFailure()) return;
    std::array<uint8_t, 32> bytes;
    bytes.fill(7);
    key_ = std::make_unique<privacy::OwnerKey>(privacy::OwnerKey::FromBytes(bytes));
    ::setenv("TESSERA_TEST_SHOP_TOKEN", kToken, 1);
    ::setenv("TESSERA_TEST_WC_KEY", kKey, 1);
    ::setenv("TESSERA_TEST_WC_SECRET", kSecret, 1);
    options_.page_size = 5;
    options_.retry.time_scale = 0.001;
    options_.retry.on_wait = [this](double s, const std::string& reason) {
      waits_.emplace_back(s, reason);
    };
  }

  void AddShopify(store::Store& s, const std::string& name = "shop") {
    SourceConfig c;
    c.name = name;
    c.kind = SourceKind::kShopify;
    c.url = shop_.url();
    c.token.env = "TESSERA_TEST_SHOP_TOKEN";
    const Status added = SourceStore(s.db()).Add(c);
    ASSERT_TRUE(added.ok()) << added.ToString();
  }
  void AddWoo(store::Store& s, const std::string& name = "woo") {
    SourceConfig c;
    c.name = name;
    c.kind = SourceKind::kWooCommerce;
    c.url = shop_.url() + "/";
    c.key.env = "TESSERA_TEST_WC_KEY";
    c.secret.env = "TESSERA_TEST_WC_SECRET";
    const Status added = SourceStore(s.db()).Add(c);
    ASSERT_TRUE(added.ok()) << added.ToString();
  }

  RunOutcome Run(store::Store& s, const std::string& name) {
    auto out = RunSource(s, *key_, name, options_);
    EXPECT_TRUE(out.ok()) << out.status().ToString();
    return out.ok() ? *out : RunOutcome{};
  }

  static std::vector<StoredOrder> Orders(store::Store& s) {
    std::vector<StoredOrder> out;
    const Status scanned = s.ScanOrders([&](const store::OrderColumns& c) {
      for (size_t i = 0; i < c.size(); ++i) {
        out.emplace_back(std::string(c.token(i)), c.customer[i], c.ordered_at[i], c.amount_minor[i],
                         c.kind[i]);
      }
      return OkStatus();
    });
    EXPECT_TRUE(scanned.ok()) << scanned.ToString();
    std::sort(out.begin(), out.end());
    return out;
  }

  std::unique_ptr<store::Store> SecondStore(const std::string& name) {
    auto s = store::Store::Open(stores_.NewLocation(GetParam(), name), true);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }

  // Pulls the shop as it is now into a new store (`name`), which so holds only the orders'
  // final versions, and expects store_ to hold the same orders, give the same profiles and
  // count the same orders and customers.
  void ExpectSameAsAFreshPull(SourceKind kind, const std::string& name);

  StandInShop shop_{kToken, kKey, kSecret};
  std::unique_ptr<privacy::OwnerKey> key_;
  RunOptions options_;
  std::vector<std::pair<double, std::string>> waits_;
};

INSTANTIATE_TEST_SUITE_P(Backends, PullTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres), BackendName);

std::vector<nlohmann::json> ShopifyOrders(int n, int first = 0, int64_t t0 = kT0) {
  std::vector<nlohmann::json> out;
  for (int i = first; i < first + n; ++i) out.push_back(ShopifyOrder(i, t0 + i * 60));
  return out;
}

TEST_P(PullTest, ShopifyPullsEveryPageThenOnlyWhatChanged) {
  AddShopify(*store_);
  shop_.SetOrders(ShopifyOrders(12));
  RunOutcome first = Run(*store_, "shop");
  ASSERT_TRUE(first.status.ok()) << first.status.ToString();
  EXPECT_EQ(first.run.outcome, "ok");
  EXPECT_EQ(first.run.pages, 3u);  // 5 + 5 + 2
  EXPECT_EQ(first.run.orders_seen, 12u);
  EXPECT_EQ(first.run.orders_stored, 12u);
  EXPECT_EQ(first.run.rejects, 0u);
  EXPECT_FALSE(first.run.finished_at.empty());
  EXPECT_EQ(Orders(*store_).size(), 12u);
  const auto targets = shop_.targets();
  ASSERT_EQ(targets.size(), 3u);
  EXPECT_NE(targets[0].find("status=any&limit=5&order=updated_at%20asc"), std::string::npos)
      << targets[0];
  EXPECT_EQ(targets[0].find("updated_at_min"), std::string::npos);
  EXPECT_NE(targets[1].find("page_info="), std::string::npos);

  auto cursor = SourceStore(store_->db()).Cursor("shop");
  ASSERT_TRUE(cursor.ok());
  EXPECT_EQ(cursor->updated_at, kT0 + 11 * 60);
  // The shop's order id as an order token, as the orders table keeps it: never as it is.
  auto tokenizer = privacy::OrderTokenizer::Create(*key_);
  ASSERT_TRUE(tokenizer.ok());
  EXPECT_EQ(cursor->ids,
            std::vector<std::string>{privacy::HexEncode(*tokenizer->Encrypt("450789011"))});

  // Nothing new: one request from the cursor, nothing stored.
  RunOutcome again = Run(*store_, "shop");
  EXPECT_EQ(again.run.outcome, "ok");
  EXPECT_EQ(again.run.orders_seen, 0u);
  EXPECT_EQ(again.run.orders_stored, 0u);
  EXPECT_NE(shop_.targets().back().find("updated_at_min=2024-03-01T09%3A51%3A00Z"),
            std::string::npos)
      << shop_.targets().back();

  // Two orders more: only they are read.
  auto more = ShopifyOrders(14);
  shop_.SetOrders(more);
  RunOutcome third = Run(*store_, "shop");
  EXPECT_EQ(third.run.orders_seen, 2u);
  EXPECT_EQ(third.run.orders_stored, 2u);
  EXPECT_EQ(Orders(*store_).size(), 14u);

  auto runs = SourceStore(store_->db()).Runs("shop", 10);
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 3u);
  EXPECT_EQ((*runs)[0].id, third.run.id);  // newest first
  EXPECT_EQ((*runs)[2].orders_stored, 12u);
  EXPECT_EQ((*runs)[2].trigger, "pull");
}

TEST_P(PullTest, ShopifyOrdersBecomeThePresetsRecords) {
  AddShopify(*store_);
  std::vector<nlohmann::json> orders = {ShopifyOrder(1, kT0), ShopifyOrder(2, kT0 + 1, "refunded"),
                                        ShopifyOrder(3, kT0 + 2, "pending"),
                                        ShopifyOrder(4, kT0 + 3, "partially_refunded")};
  orders[3]["refunds"] = nlohmann::json::parse(
      R"([{"transactions": [{"kind": "refund", "status": "success", "amount": "5.90"},
                            {"kind": "refund", "status": "failure", "amount": "3.00"}]}])");
  orders[0]["line_items"].push_back(orders[0]["line_items"][0]);  // the same item twice
  orders[0]["total_price"] = "45.80";
  shop_.SetOrders(orders);
  RunOutcome r = Run(*store_, "shop");
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  const auto stored = Orders(*store_);
  ASSERT_EQ(stored.size(), 3u);  // the pending order is skipped
  // Purchases at their totals net of successful refunds; the refunded order void.
  std::vector<int64_t> purchases;
  int voids = 0;
  for (const auto& o : stored) {
    if (std::get<4>(o) == static_cast<uint8_t>(io::OrderKind::kPurchase)) {
      purchases.push_back(std::get<3>(o));
    } else if (std::get<4>(o) == static_cast<uint8_t>(io::OrderKind::kVoid)) {
      ++voids;
    }
  }
  std::sort(purchases.begin(), purchases.end());
  EXPECT_EQ(purchases, (std::vector<int64_t>{2000, 4580}));
  EXPECT_EQ(voids, 1);
  // Created 10:00 at +01:00.
  EXPECT_EQ(std::get<2>(stored[0]), 1709283600);
  // The store knows the cheese twice over (quantities summed), and the loader saw no duplicate.
  EXPECT_EQ(r.run.rejects, 0u);
}

TEST_P(PullTest, WooCommercePullsEveryPageByNumberFromTheCursor) {
  AddWoo(*store_);
  std::vector<nlohmann::json> orders;
  for (int i = 0; i < 12; ++i) orders.push_back(WooOrder(i, kT0 + i * 60));
  shop_.SetOrders(orders);
  RunOutcome first = Run(*store_, "woo");
  ASSERT_TRUE(first.status.ok()) << first.status.ToString();
  EXPECT_EQ(first.run.orders_stored, 12u);
  EXPECT_EQ(first.run.pages, 3u);
  EXPECT_EQ(Orders(*store_).size(), 12u);
  const auto targets = shop_.targets();
  EXPECT_NE(targets[0].find("/wp-json/wc/v3/orders?per_page=5&page=1&orderby=modified&order=asc"),
            std::string::npos)
      << targets[0];
  // The second page asks from the cursor, one second early.
  EXPECT_NE(targets[1].find("modified_after=2024-03-01T09%3A43%3A59"), std::string::npos)
      << targets[1];

  orders.push_back(WooOrder(12, kT0 + 3600, "cancelled"));
  orders.push_back(WooOrder(13, kT0 + 3601, "on-hold"));
  shop_.SetOrders(orders);
  RunOutcome second = Run(*store_, "woo");
  EXPECT_EQ(second.run.orders_seen, 2u);
  EXPECT_EQ(second.run.orders_stored, 1u);  // cancelled: a void order; on-hold: skipped
  EXPECT_EQ(Orders(*store_).size(), 13u);
}

TEST_P(PullTest, OrdersOfOneSecondAcrossPagesAreAllStoredOnce) {
  AddWoo(*store_);
  AddShopify(*store_);
  std::vector<nlohmann::json> woo, shopify;
  for (int i = 0; i < 13; ++i) {
    woo.push_back(WooOrder(i, kT0));  // all in the same second
  }
  shop_.SetOrders(woo);
  RunOutcome w = Run(*store_, "woo");
  ASSERT_TRUE(w.status.ok()) << w.status.ToString();
  EXPECT_EQ(w.run.orders_stored, 13u);
  EXPECT_EQ(Orders(*store_).size(), 13u);
  auto cursor = SourceStore(store_->db()).Cursor("woo");
  ASSERT_TRUE(cursor.ok());
  EXPECT_EQ(cursor->ids.size(), 13u);
  RunOutcome again = Run(*store_, "woo");
  EXPECT_EQ(again.run.orders_seen, 0u);

  for (int i = 0; i < 11; ++i) shopify.push_back(ShopifyOrder(i, kT0));
  shop_.SetOrders(shopify);
  RunOutcome s = Run(*store_, "shop");
  EXPECT_EQ(s.run.orders_stored, 11u);
  RunOutcome s2 = Run(*store_, "shop");
  EXPECT_EQ(s2.run.orders_seen, 0u);
  EXPECT_EQ(Orders(*store_).size(), 24u);
}

// A WooCommerce bulk action modifies hundreds of orders within one second, and the shop's
// database returns rows of equal modification time in any order: pages by number over that
// second repeat some orders and miss others. Read by id instead, they are all stored once.
TEST_P(PullTest, ManyOrdersModifiedInOneSecondAreAllStoredOnceWhateverTheirTieOrder) {
  AddWoo(*store_);
  std::vector<nlohmann::json> woo;
  for (int i = 0; i < 5; ++i) woo.push_back(WooOrder(1000 + i, kT0 - 60));  // before
  for (int i = 0; i < 37; ++i) woo.push_back(WooOrder(i, kT0));             // the bulk action
  for (int i = 0; i < 4; ++i) woo.push_back(WooOrder(2000 + i, kT0 + 5));   // after
  shop_.SetOrders(woo);
  shop_.ShuffleTies(20261208);
  options_.page_size = 5;
  RunOutcome w = Run(*store_, "woo");
  ASSERT_TRUE(w.status.ok()) << w.status.ToString();
  EXPECT_EQ(w.run.orders_stored, 46u);
  EXPECT_EQ(Orders(*store_).size(), 46u);
  RunOutcome again = Run(*store_, "woo");
  ASSERT_TRUE(again.status.ok()) << again.status.ToString();
  EXPECT_EQ(again.run.orders_seen, 0u);
  EXPECT_EQ(Orders(*store_).size(), 46u);
  // The second was read by id, within its bounds.
  bool by_id = false;
  for (const std::string& t : shop_.targets()) {
    if (t.find("orderby=id") != std::string::npos &&
        t.find("modified_before=") != std::string::npos) {
      by_id = true;
    }
  }
  EXPECT_TRUE(by_id);
}

TEST_P(PullTest, RetriesAfter429ForRetryAfterAndAfter500) {
  AddShopify(*store_);
  shop_.SetOrders(ShopifyOrders(7));
  shop_.AddFault({429, "2", ""});
  shop_.FaultAtRequest(3, {500, "", ""});  // page 2's first try
  RunOutcome r = Run(*store_, "shop");
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.run.orders_stored, 7u);
  ASSERT_EQ(waits_.size(), 2u);
  EXPECT_EQ(waits_[0], std::make_pair(2.0, std::string("HTTP 429")));
  EXPECT_EQ(waits_[1], std::make_pair(1.0, std::string("HTTP 500")));
  EXPECT_EQ(shop_.requests(), 4);
}

// A server stopping while a shop asks to wait a minute (Retry-After: 60) does not wait it out:
// the run fails at once as stopped, with the cursor where the last committed page left it.
TEST_P(PullTest, AStopDuringARetryAfterEndsTheWait) {
  AddWoo(*store_);
  shop_.SetOrders({WooOrder(1, kT0)});
  testing::Fault busy;
  busy.status = 429;
  busy.retry_after = "60";
  shop_.AddFault(busy);
  options_.retry.time_scale = 1;
  const auto started = std::chrono::steady_clock::now();
  options_.retry.stopped = [started] {
    return std::chrono::steady_clock::now() - started > std::chrono::milliseconds(300);
  };
  RunOutcome r = Run(*store_, "woo");
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(r.status.code(), StatusCode::kUnavailable) << r.status.ToString();
  EXPECT_NE(r.status.message().find("stopped while waiting"), std::string::npos);
  EXPECT_LT(took, std::chrono::seconds(10));
  EXPECT_EQ(r.run.outcome, "failed");
  EXPECT_EQ(Orders(*store_).size(), 0u);
  options_.retry.stopped = nullptr;
  RunOutcome again = Run(*store_, "woo");
  ASSERT_TRUE(again.status.ok()) << again.status.ToString();
  EXPECT_EQ(Orders(*store_).size(), 1u);
}

TEST_P(PullTest, GivesUpAfterTheLastAttemptWithBackoffCapped) {
  AddWoo(*store_);
  shop_.SetOrders({WooOrder(1, kT0)});
  options_.retry.max_attempts = 4;
  options_.retry.base_seconds = 2;
  options_.retry.max_wait_seconds = 5;
  for (int i = 0; i < 4; ++i) shop_.AddFault({503, "", ""});
  RunOutcome r = Run(*store_, "woo");
  EXPECT_EQ(r.status.code(), StatusCode::kUnavailable);
  EXPECT_EQ(r.run.outcome, "failed");
  EXPECT_NE(r.run.error.find("source 'woo' page 1"), std::string::npos) << r.run.error;
  EXPECT_NE(r.run.error.find("gave up after 4 attempts"), std::string::npos) << r.run.error;
  ASSERT_EQ(waits_.size(), 3u);
  EXPECT_EQ(waits_[0].first, 2.0);
  EXPECT_EQ(waits_[1].first, 4.0);
  EXPECT_EQ(waits_[2].first, 5.0);
  EXPECT_TRUE(Orders(*store_).empty());
}

TEST_P(PullTest, RefusedCredentialsFailAtOnceNamingTheSource) {
  AddShopify(*store_);
  AddWoo(*store_);
  shop_.SetOrders(ShopifyOrders(3));
  ::setenv("TESSERA_TEST_SHOP_TOKEN", "shpat_wrong_token_987", 1);
  RunOutcome r = Run(*store_, "shop");
  EXPECT_EQ(r.status.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(r.run.error.find("source 'shop' page 1: the shop refused the credentials (HTTP 401)"),
            std::string::npos)
      << r.run.error;
  EXPECT_NE(r.run.error.find("$TESSERA_TEST_SHOP_TOKEN"), std::string::npos);
  EXPECT_EQ(r.run.error.find("shpat_"), std::string::npos);
  EXPECT_EQ(shop_.requests(), 0);  // the stand-in counts requests it let in
  EXPECT_TRUE(waits_.empty());
  EXPECT_EQ(shop_.targets().size(), 1u);

  ::setenv("TESSERA_TEST_WC_SECRET", "cs_wrong", 1);
  RunOutcome w = Run(*store_, "woo");
  EXPECT_EQ(w.status.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(w.run.error.find("$TESSERA_TEST_WC_KEY and $TESSERA_TEST_WC_SECRET"), std::string::npos)
      << w.run.error;

  ::unsetenv("TESSERA_TEST_WC_SECRET");
  RunOutcome unset = Run(*store_, "woo");
  EXPECT_EQ(unset.status.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(unset.run.error.find("TESSERA_TEST_WC_SECRET"), std::string::npos);
}

TEST_P(PullTest, ABadBodyFailsThePageNamingSourcePageAndReasonAndIsResumed) {
  AddShopify(*store_);
  shop_.SetOrders(ShopifyOrders(12));
  shop_.FaultAtRequest(2, {0, "", "{\"orders\": [{\"id\": 1, \"email\": \"leak@example.com\""});
  RunOutcome r = Run(*store_, "shop");
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.run.error.find("source 'shop' page 2: the body is not JSON"), std::string::npos)
      << r.run.error;
  EXPECT_EQ(r.run.error.find("leak"), std::string::npos);
  EXPECT_EQ(r.run.pages, 1u);
  EXPECT_EQ(Orders(*store_).size(), 5u);  // page 1 only

  // An order of the wrong shape (without its total) is a rejected row, named by source, page,
  // position and reason: the page's other orders load and the cursor moves on.
  auto broken = ShopifyOrders(12);
  broken[7].erase("total_price");
  shop_.SetOrders(broken);
  std::vector<io::Reject> rejects;
  RunOptions o = options_;
  o.on_reject = [&](const io::Reject& j) { rejects.push_back(j); };
  auto shape = RunSource(*store_, *key_, "shop", o);
  ASSERT_TRUE(shape.ok());
  ASSERT_TRUE(shape->status.ok()) << shape->status.ToString();
  EXPECT_EQ(shape->run.rejects, 1u);
  ASSERT_EQ(rejects.size(), 1u);
  EXPECT_EQ(rejects[0].file, "source shop page 1");
  EXPECT_EQ(rejects[0].reason_code, "bad_order");
  EXPECT_NE(rejects[0].reason.find("'total_price' is missing"), std::string::npos)
      << rejects[0].reason;
  EXPECT_EQ(Orders(*store_).size(), 11u);

  // The shop mends the order (its update time moves on): the next pull takes it.
  auto mended = ShopifyOrders(12);
  mended[7]["updated_at"] = "2030-01-01T00:00:00Z";
  shop_.SetOrders(mended);
  RunOutcome resumed = Run(*store_, "shop");
  ASSERT_TRUE(resumed.status.ok()) << resumed.status.ToString();
  EXPECT_EQ(resumed.run.orders_stored, 1u);
  EXPECT_EQ(Orders(*store_).size(), 12u);
}

// A run stopped after a page's orders are committed and before its cursor moves (the worst
// moment for a kill), then run again, ends as an uninterrupted pull: 0 lost, 0 duplicated.
TEST_P(PullTest, AStoppedRunRunAgainEqualsAnUninterruptedPull) {
  for (const SourceKind kind : {SourceKind::kShopify, SourceKind::kWooCommerce}) {
    SCOPED_TRACE(std::string(SourceKindName(kind)));
    std::vector<nlohmann::json> orders;
    for (int i = 0; i < 23; ++i) {
      // Pairs of orders share a second, so that pages end inside a second.
      orders.push_back(kind == SourceKind::kShopify ? ShopifyOrder(i, kT0 + i / 2)
                                                    : WooOrder(i, kT0 + i / 2));
    }
    shop_.SetOrders(orders);
    const std::string name = kind == SourceKind::kShopify ? "shop" : "woo";
    auto uninterrupted = SecondStore("whole-" + name + ".db");
    ASSERT_NE(uninterrupted, nullptr);
    auto stopped = SecondStore("stopped-" + name + ".db");
    ASSERT_NE(stopped, nullptr);
    for (store::Store* s : {uninterrupted.get(), stopped.get()}) {
      kind == SourceKind::kShopify ? AddShopify(*s) : AddWoo(*s);
    }
    RunOutcome whole = Run(*uninterrupted, name);
    ASSERT_TRUE(whole.status.ok()) << whole.status.ToString();
    ASSERT_EQ(Orders(*uninterrupted).size(), 23u);

    // Each run commits one page more and stops after the next page's commit (page numbers
    // count per run, from the cursor).
    for (int attempt = 0; attempt < 4; ++attempt) {
      const int stop_at = attempt == 0 ? 1 : 2;
      RunOptions o = options_;
      o.after_page_loaded = [stop_at](int page) {
        return page == stop_at ? UnavailableError("killed after page {}", page) : OkStatus();
      };
      auto r = RunSource(*stopped, *key_, name, o);
      ASSERT_TRUE(r.ok());
      EXPECT_EQ(r->run.outcome, "failed");
    }
    RunOutcome rest = Run(*stopped, name);
    ASSERT_TRUE(rest.status.ok()) << rest.status.ToString();
    EXPECT_EQ(Orders(*stopped), Orders(*uninterrupted));
    auto stats = stopped->Stats();
    ASSERT_TRUE(stats.ok());
    EXPECT_EQ(stats->orders, 23u);
    EXPECT_EQ(stats->customers, (*uninterrupted->Stats()).customers);
  }
}

// What a store's orders and profiles say, by pseudonym rather than by the indexes and
// dictionary ids a store gives in load order: each order (token, customer, time, amount,
// kind, its lines' quantities and amounts) and each customer's profile over two years.
using PseudonymousOrder = std::tuple<std::string, std::string, int64_t, int64_t, uint8_t,
                                     std::vector<std::pair<int64_t, int64_t>>>;
using ProfileFacts = std::tuple<std::string, uint32_t, int64_t, int32_t, int32_t, int32_t>;

std::string PseudonymOf(const std::vector<privacy::Uuid>& uuids, uint32_t customer) {
  if (customer >= uuids.size()) return "anonymous";
  return std::string(reinterpret_cast<const char*>(uuids[customer].bytes.data()), 16);
}

std::vector<PseudonymousOrder> OrdersByPseudonym(store::Store& s) {
  std::vector<PseudonymousOrder> out;
  auto uuids = s.CustomerPseudonyms();
  EXPECT_TRUE(uuids.ok());
  const Status scanned = s.ScanOrders([&](const store::OrderColumns& c) {
    for (size_t i = 0; i < c.size(); ++i) {
      std::vector<std::pair<int64_t, int64_t>> lines;
      for (uint32_t k = c.item_offsets[i]; k < c.item_offsets[i + 1]; ++k) {
        lines.emplace_back(c.item_quantity_milli[k], c.item_amount_micro[k]);
      }
      std::sort(lines.begin(), lines.end());
      out.emplace_back(std::string(c.token(i)), PseudonymOf(*uuids, c.customer[i]), c.ordered_at[i],
                       c.amount_minor[i], c.kind[i], std::move(lines));
    }
    return OkStatus();
  });
  EXPECT_TRUE(scanned.ok()) << scanned.ToString();
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<ProfileFacts> ProfilesByPseudonym(store::Store& s) {
  analytics::ProfileOptions o;
  o.as_of_day = DayOfTimestamp(kT0) + 30;
  auto set = analytics::ComputeProfiles(s, o);
  EXPECT_TRUE(set.ok()) << set.status().ToString();
  std::vector<ProfileFacts> out;
  if (!set.ok()) return out;
  for (const analytics::Profile& p : set->profiles) {
    out.emplace_back(PseudonymOf(set->uuids, p.customer), p.order_count, p.revenue_minor,
                     p.recency_days, p.first_day, p.last_day);
  }
  std::sort(out.begin(), out.end());
  return out;
}

int64_t Revenue(const std::vector<ProfileFacts>& profiles) {
  int64_t sum = 0;
  for (const auto& p : profiles) sum += std::get<2>(p);
  return sum;
}

void PullTest::ExpectSameAsAFreshPull(SourceKind kind, const std::string& name) {
  auto fresh = SecondStore(name);
  ASSERT_NE(fresh, nullptr);
  kind == SourceKind::kShopify ? AddShopify(*fresh) : AddWoo(*fresh);
  ASSERT_TRUE(Run(*fresh, kind == SourceKind::kShopify ? "shop" : "woo").status.ok());
  EXPECT_EQ(OrdersByPseudonym(*store_), OrdersByPseudonym(*fresh));
  EXPECT_EQ(ProfilesByPseudonym(*store_), ProfilesByPseudonym(*fresh));
  auto stats = store_->Stats();
  auto fresh_stats = fresh->Stats();
  ASSERT_TRUE(stats.ok() && fresh_stats.ok());
  EXPECT_EQ(stats->orders, fresh_stats->orders);
  EXPECT_EQ(stats->customers, fresh_stats->customers);
}

// The shop changes three stored orders after the first pull, each with a later updated_at:
// order 3 refunded in part (5.90 of 25.90), order 5 cancelled, order 7 edited to one line.
std::vector<nlohmann::json> ChangedShopifyOrders(int n, int64_t changed_at) {
  auto orders = ShopifyOrders(n);
  orders[3]["financial_status"] = "partially_refunded";
  orders[3]["refunds"] = nlohmann::json::array(
      {{{"transactions", nlohmann::json::array(
                             {{{"kind", "refund"}, {"status", "success"}, {"amount", "5.90"}}})}}});
  orders[3]["updated_at"] = FormatIsoTimestamp(changed_at);
  orders[5]["financial_status"] = "voided";
  orders[5]["cancelled_at"] = FormatIsoTimestamp(changed_at + 1);
  orders[5]["updated_at"] = FormatIsoTimestamp(changed_at + 1);
  orders[7]["line_items"] =
      nlohmann::json::array({{{"sku", "CHEESE-1"}, {"quantity", 1}, {"price", "9.95"}}});
  orders[7]["total_price"] = "10.95";
  orders[7]["updated_at"] = FormatIsoTimestamp(changed_at + 2);
  return orders;
}

TEST_P(PullTest, OrdersChangedInTheShopReplaceTheirStoredVersions) {
  AddShopify(*store_);
  shop_.SetOrders(ShopifyOrders(12));
  ASSERT_TRUE(Run(*store_, "shop").status.ok());
  const auto before = ProfilesByPseudonym(*store_);

  const auto changed = ChangedShopifyOrders(12, kT0 + 3600);
  shop_.SetOrders(changed);
  RunOutcome again = Run(*store_, "shop");
  ASSERT_TRUE(again.status.ok()) << again.status.ToString();
  EXPECT_EQ(again.run.orders_seen, 3u);
  EXPECT_EQ(again.run.orders_stored, 3u);

  ExpectSameAsAFreshPull(SourceKind::kShopify, "direct.db");
  // 5.90 refunded and 25.90 cancelled; the edited order is 10.95 instead of 25.90.
  EXPECT_EQ(Revenue(before) - Revenue(ProfilesByPseudonym(*store_)), 590 + 2590 + 2590 - 1095);
  EXPECT_EQ((*store_->Stats()).orders, 12u);

  auto versions = store_->OrderVersions();
  ASSERT_TRUE(versions.ok());
  size_t replaced = 0;
  for (const store::OrderVersion& v : *versions) replaced += v.versions == 2 ? 1 : 0;
  EXPECT_EQ(versions->size(), 12u);
  EXPECT_EQ(replaced, 3u);
}

TEST_P(PullTest, WooCommerceOrdersChangedInTheShopReplaceTheirStoredVersions) {
  AddWoo(*store_);
  std::vector<nlohmann::json> orders;
  for (int i = 0; i < 8; ++i) orders.push_back(WooOrder(i, kT0 + i * 60));
  shop_.SetOrders(orders);
  ASSERT_TRUE(Run(*store_, "woo").status.ok());
  const auto before = ProfilesByPseudonym(*store_);
  orders[2]["status"] = "cancelled";
  orders[2]["date_modified_gmt"] = FormatIsoTimestamp(kT0 + 3600).substr(0, 19);
  orders[4]["refunds"] = nlohmann::json::array({{{"total", "-5.50"}}});
  orders[4]["date_modified_gmt"] = FormatIsoTimestamp(kT0 + 3601).substr(0, 19);
  shop_.SetOrders(orders);
  RunOutcome again = Run(*store_, "woo");
  ASSERT_TRUE(again.status.ok()) << again.status.ToString();
  EXPECT_EQ(again.run.orders_stored, 2u);

  ExpectSameAsAFreshPull(SourceKind::kWooCommerce, "direct-woo.db");
  // Cancelled: 31.00; refunded: 5.50.
  EXPECT_EQ(Revenue(before) - Revenue(ProfilesByPseudonym(*store_)), 3100 + 550);
  EXPECT_EQ((*store_->Stats()).orders, 8u);
}

// A run stopped after the page of changed orders is committed and before the cursor moves
// pulls the same versions again: they are not stored twice, nor counted as versions twice.
TEST_P(PullTest, ChangedOrdersPulledAgainAfterAStopAreStoredOnce) {
  AddShopify(*store_);
  shop_.SetOrders(ShopifyOrders(12));
  ASSERT_TRUE(Run(*store_, "shop").status.ok());
  auto changed = ChangedShopifyOrders(14, kT0 + 3600);  // and orders 12 and 13 are new
  shop_.SetOrders(changed);
  RunOptions o = options_;
  o.after_page_loaded = [](int page) {
    return page == 1 ? UnavailableError("killed after page {}", page) : OkStatus();
  };
  auto stopped = RunSource(*store_, *key_, "shop", o);
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(stopped->run.outcome, "failed");
  EXPECT_GT(stopped->run.orders_stored, 0u);
  RunOutcome rest = Run(*store_, "shop");
  ASSERT_TRUE(rest.status.ok()) << rest.status.ToString();
  // 12, 13, then 3, 5, 7 (by updated_at), each stored once over both runs.
  EXPECT_EQ(stopped->run.orders_stored + rest.run.orders_stored, 5u);

  ExpectSameAsAFreshPull(SourceKind::kShopify, "direct-after-stop.db");
  EXPECT_EQ((*store_->Stats()).orders, 14u);
  auto versions = store_->OrderVersions();
  ASSERT_TRUE(versions.ok());
  for (const store::OrderVersion& v : *versions) EXPECT_LE(v.versions, 2u);
}

TEST_P(PullTest, RunSourcesRunsEachAndReportsEachOutcome) {
  AddShopify(*store_);
  AddWoo(*store_);
  shop_.SetOrders(ShopifyOrders(3));
  ::unsetenv("TESSERA_TEST_WC_KEY");
  auto all = RunSources(*store_, *key_, {}, options_);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].run.source, "shop");
  EXPECT_EQ((*all)[0].run.outcome, "ok");
  EXPECT_EQ((*all)[1].run.source, "woo");
  EXPECT_EQ((*all)[1].run.outcome, "failed");
  EXPECT_NE((*all)[1].run.error.find("the environment variable TESSERA_TEST_WC_KEY"),
            std::string::npos)
      << (*all)[1].run.error;
  EXPECT_EQ(RunSources(*store_, *key_, {"nope"}, options_).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace tessera::sources
