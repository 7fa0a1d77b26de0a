// Order webhooks: the signature (a known answer from openssl), its check before the body is
// read, and the order loaded as a pulled one; the sources tables on both stores.

#include "tessera/sources/webhook.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <array>
#include <filesystem>
#include <fstream>

#include "sources/stand_in_test_support.h"
#include "store/test_stores.h"
#include "tessera/sources/source_store.h"

namespace tessera::sources {
namespace {

using store::Backend;
using store::BackendName;

// printf '%s' '{"id":1}' | openssl dgst -sha256 -hmac 'whsec_test' -binary | base64
TEST(WebhookSignature, MatchesOpenSslsHmacSha256InBase64) {
  EXPECT_EQ(WebhookSignature("whsec_test", "{\"id\":1}"),
            "KLZisNJHjxbf4kmXEUNS8edT25t7EUtHeFmUfnMUR2M=");
  // printf '%s' 'webhook_id=42' | openssl dgst -sha256 -hmac 'whsec_test' -binary | base64
  EXPECT_EQ(WebhookSignature("whsec_test", "webhook_id=42"),
            "0fE+rbeuUo5VCGYth/Vxwu8onyDwc0BibUgTk4uIUgw=");
}

TEST(WebhookSignature, VerifiesOnlyTheExactSignature) {
  const std::string good = "KLZisNJHjxbf4kmXEUNS8edT25t7EUtHeFmUfnMUR2M=";
  EXPECT_TRUE(VerifyWebhookSignature("whsec_test", "{\"id\":1}", good));
  EXPECT_TRUE(VerifyWebhookSignature("whsec_test", "{\"id\":1}", " " + good + " "));
  EXPECT_FALSE(VerifyWebhookSignature("whsec_test", "{\"id\":2}", good));
  EXPECT_FALSE(VerifyWebhookSignature("whsec_other", "{\"id\":1}", good));
  EXPECT_FALSE(VerifyWebhookSignature("whsec_test", "{\"id\":1}", good.substr(0, 43)));
  EXPECT_FALSE(VerifyWebhookSignature("whsec_test", "{\"id\":1}", ""));
  std::string flipped = good;
  flipped[10] = flipped[10] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(VerifyWebhookSignature("whsec_test", "{\"id\":1}", flipped));
}

class WebhookTest : public store::StoreFixture {
 protected:
  void SetUp() override {
    OpenNewStore("webhook.db", &SourceStore::Schema());
    if (IsSkipped() || HasFatalFailure()) return;
    std::array<uint8_t, 32> bytes;
    bytes.fill(5);
    key_ = std::make_unique<privacy::OwnerKey>(privacy::OwnerKey::FromBytes(bytes));
    ::setenv("TESSERA_TEST_WEBHOOK_SECRET", "whsec_test", 1);
    ::setenv("TESSERA_TEST_SHOP_TOKEN", "t", 1);
    ::setenv("TESSERA_TEST_WC_KEY", "k", 1);
    ::setenv("TESSERA_TEST_WC_SECRET", "s", 1);
    SourceConfig shop;
    shop.name = "shop";
    shop.url = "https://example.myshopify.com";
    shop.token.env = "TESSERA_TEST_SHOP_TOKEN";
    shop.webhook_secret.env = "TESSERA_TEST_WEBHOOK_SECRET";
    ASSERT_TRUE(Sources().Add(shop).ok());
    SourceConfig woo;
    woo.name = "woo";
    woo.kind = SourceKind::kWooCommerce;
    woo.url = "https://shop.example.org/store";
    woo.key.env = "TESSERA_TEST_WC_KEY";
    woo.secret.env = "TESSERA_TEST_WC_SECRET";
    secret_file_ = std::filesystem::path(::testing::TempDir()) /
                   ("tessera_webhook_secret_" + std::to_string(::getpid()));
    std::ofstream(secret_file_) << "whsec_woo\n";
    woo.webhook_secret.file = secret_file_.string();
    ASSERT_TRUE(Sources().Add(woo).ok());
  }
  void TearDown() override { std::filesystem::remove(secret_file_); }

  SourceStore Sources() { return SourceStore(store_->db()); }
  uint64_t StoredOrders() {
    auto stats = store_->Stats();
    EXPECT_TRUE(stats.ok());
    return stats.ok() ? stats->orders : 0;
  }

  std::unique_ptr<privacy::OwnerKey> key_;
  std::filesystem::path secret_file_;
};

INSTANTIATE_TEST_SUITE_P(Backends, WebhookTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres), BackendName);

TEST_P(WebhookTest, ASignedShopifyOrderIsLoadedOnce) {
  const std::string body = testing::ShopifyOrder(3, 1709286000).dump();
  const std::string sig = WebhookSignature("whsec_test", body);
  auto r = ReceiveWebhook(*store_, *key_, "shop", sig, body, false);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->ping);
  EXPECT_EQ(r->orders_stored, 1u);
  EXPECT_EQ(StoredOrders(), 1u);
  // The same delivery again (shops retry): stored once.
  auto again = ReceiveWebhook(*store_, *key_, "shop", sig, body, false);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->orders_stored, 0u);
  EXPECT_EQ(StoredOrders(), 1u);
  auto runs = Sources().Runs("shop", 5);
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 2u);
  EXPECT_EQ((*runs)[1].trigger, "webhook");
  EXPECT_EQ((*runs)[1].orders_stored, 1u);
  EXPECT_EQ((*runs)[1].outcome, "ok");
}

// An "order updated" webhook stores the newer version in place of the stored one; one that
// arrives late, with an older updated_at, changes nothing.
TEST_P(WebhookTest, ANewerVersionReplacesTheOrderAndALateOlderOneChangesNothing) {
  const auto deliver = [&](const nlohmann::json& order) {
    const std::string body = order.dump();
    auto r =
        ReceiveWebhook(*store_, *key_, "shop", WebhookSignature("whsec_test", body), body, false);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->orders_stored : uint64_t{99};
  };
  const auto amounts = [&] {
    std::vector<int64_t> out;
    EXPECT_TRUE(store_
                    ->ScanOrders([&](const store::OrderColumns& c) {
                      out.insert(out.end(), c.amount_minor.begin(), c.amount_minor.end());
                      return OkStatus();
                    })
                    .ok());
    return out;
  };
  const nlohmann::json created = testing::ShopifyOrder(3, 1709286000);
  nlohmann::json refunded = created;
  refunded["financial_status"] = "partially_refunded";
  refunded["refunds"] = nlohmann::json::array(
      {{{"transactions", nlohmann::json::array(
                             {{{"kind", "refund"}, {"status", "success"}, {"amount", "5.90"}}})}}});
  refunded["updated_at"] = FormatIsoTimestamp(1709286000 + 600);

  EXPECT_EQ(deliver(created), 1u);
  EXPECT_EQ(amounts(), std::vector<int64_t>{2590});
  EXPECT_EQ(deliver(refunded), 1u);
  EXPECT_EQ(amounts(), std::vector<int64_t>{2000});
  EXPECT_EQ(StoredOrders(), 1u);
  // The creation's delivery again, after the update's: older, so skipped.
  EXPECT_EQ(deliver(created), 0u);
  EXPECT_EQ(deliver(refunded), 0u);
  EXPECT_EQ(amounts(), std::vector<int64_t>{2000});
  EXPECT_EQ(StoredOrders(), 1u);
  auto versions = store_->OrderVersions();
  ASSERT_TRUE(versions.ok());
  ASSERT_EQ(versions->size(), 1u);
  EXPECT_EQ((*versions)[0].versions, 2u);
  EXPECT_EQ((*versions)[0].updated_at, 1709286000 + 600);
}

TEST_P(WebhookTest, ABadOrMissingSignatureLoadsNothingAndReadsNoBody) {
  const std::string body = testing::ShopifyOrder(3, 1709286000).dump();
  auto bad = ReceiveWebhook(*store_, *key_, "shop", WebhookSignature("wrong", body), body, false);
  EXPECT_EQ(bad.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(bad.status().message().find("X-Shopify-Hmac-Sha256 does not match"), std::string::npos);
  auto missing = ReceiveWebhook(*store_, *key_, "shop", "", body, false);
  EXPECT_EQ(missing.status().code(), StatusCode::kPermissionDenied);
  // Garbage under a wrong signature is refused for its signature, not parsed.
  auto garbage = ReceiveWebhook(*store_, *key_, "shop", "x", "{not json", false);
  EXPECT_EQ(garbage.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(StoredOrders(), 0u);
  auto runs = Sources().Runs("shop", 5);
  ASSERT_TRUE(runs.ok());
  EXPECT_TRUE(runs->empty());
}

TEST_P(WebhookTest, WooCommercePingsAndOrders) {
  const std::string ping = "webhook_id=42";
  auto p = ReceiveWebhook(*store_, *key_, "woo", WebhookSignature("whsec_woo", ping), ping, false);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_TRUE(p->ping);
  // WooCommerce sends its ping unsigned (WC_Webhook::deliver_ping): only that exact shape passes.
  auto unsigned_ping = ReceiveWebhook(*store_, *key_, "woo", "", ping, false);
  ASSERT_TRUE(unsigned_ping.ok()) << unsigned_ping.status().ToString();
  EXPECT_TRUE(unsigned_ping->ping);
  EXPECT_EQ(ReceiveWebhook(*store_, *key_, "woo", "", "webhook_id=42&x=1", false).status().code(),
            StatusCode::kPermissionDenied);
  EXPECT_EQ(ReceiveWebhook(*store_, *key_, "woo", "bad", ping, false).status().code(),
            StatusCode::kPermissionDenied);
  // A Shopify source has no ping.
  EXPECT_EQ(ReceiveWebhook(*store_, *key_, "shop", "", ping, false).status().code(),
            StatusCode::kPermissionDenied);
  const std::string body = testing::WooOrder(1, 1709286000).dump();
  auto r = ReceiveWebhook(*store_, *key_, "woo", WebhookSignature("whsec_woo", body), body, false);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->orders_stored, 1u);
  EXPECT_EQ(StoredOrders(), 1u);
}

TEST_P(WebhookTest, ASignedBodyThatIsNoOrderIsRefusedWithItsReason) {
  const std::string garbage = "{\"id\": 1, \"email\": \"leak@example.com\"";
  auto g = ReceiveWebhook(*store_, *key_, "shop", WebhookSignature("whsec_test", garbage), garbage,
                          false);
  EXPECT_EQ(g.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(g.status().message().find("source 'shop' webhook: the body is not JSON"),
            std::string::npos)
      << g.status().message();
  EXPECT_EQ(g.status().message().find("leak"), std::string::npos);
  // A number beyond a double's range: nlohmann throws out_of_range, not parse_error (found by
  // the shop_orders fuzz target; it ended the process).
  const std::string huge = "{\"id\": 450e789469, \"email\": \"leak@example.com\"}";
  auto h =
      ReceiveWebhook(*store_, *key_, "shop", WebhookSignature("whsec_test", huge), huge, false);
  EXPECT_EQ(h.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(h.status().message().find("a number is out of range"), std::string::npos)
      << h.status().message();
  EXPECT_EQ(h.status().message().find("450e789469"), std::string::npos);
  const std::string no_total =
      "{\"id\": 1, \"updated_at\": \"2024-03-01T10:00:00Z\", "
      "\"created_at\": \"2024-03-01T10:00:00Z\"}";
  auto t = ReceiveWebhook(*store_, *key_, "shop", WebhookSignature("whsec_test", no_total),
                          no_total, false);
  EXPECT_EQ(t.status().message(), "source 'shop' webhook: 'total_price' is missing");
  EXPECT_EQ(StoredOrders(), 0u);
}

TEST_P(WebhookTest, ASourceWithoutWebhookSecretRefusesWebhooks) {
  SourceConfig plain;
  plain.name = "plain";
  plain.url = "https://plain.myshopify.com";
  plain.token.env = "TESSERA_TEST_SHOP_TOKEN";
  ASSERT_TRUE(Sources().Add(plain).ok());
  auto r = ReceiveWebhook(*store_, *key_, "plain", "x", "{}", false);
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReceiveWebhook(*store_, *key_, "nope", "x", "{}", false).status().code(),
            StatusCode::kNotFound);
}

TEST_P(WebhookTest, SourcesKeepWhereCredentialsAreNeverThem) {
  auto all = Sources().List();
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name, "shop");
  EXPECT_EQ((*all)[0].token.env, "TESSERA_TEST_SHOP_TOKEN");
  EXPECT_EQ((*all)[0].webhook_secret.env, "TESSERA_TEST_WEBHOOK_SECRET");
  EXPECT_EQ((*all)[1].url, "https://shop.example.org/store");
  EXPECT_EQ((*all)[1].webhook_secret.file, secret_file_.string());
  EXPECT_EQ((*all)[1].created_at.size(), 20u);
  // No secret in any table.
  for (const char* sql : {"SELECT credentials FROM sources", "SELECT error FROM source_runs"}) {
    const Status s = store_->db().Query(sql, {}, [&](const store::SqlRow& row) {
      EXPECT_EQ(row.Text(0).find("whsec_"), std::string::npos);
      return OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
  }

  SourceConfig c = (*all)[0];
  EXPECT_EQ(Sources().Add(c).code(), StatusCode::kAlreadyExists);
  c.name = "remote-http";
  c.url = "http://shop.example.com";
  EXPECT_EQ(Sources().Add(c).code(), StatusCode::kInvalidArgument);
  c.url = "https://user:pw@shop.example.com";
  EXPECT_EQ(Sources().Add(c).code(), StatusCode::kInvalidArgument);
  c.url = "http://127.0.0.1:8080";
  EXPECT_TRUE(Sources().Add(c).ok());
  c.name = "bad-env";
  c.token.env = "shpat_this-is-a-token-not-a-name";
  const Status bad_env = Sources().Add(c);
  EXPECT_EQ(bad_env.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad_env.message().find("shpat_"), std::string::npos);
  c.token = {};
  EXPECT_EQ(Sources().Add(c).code(), StatusCode::kInvalidArgument);  // no token
  c.name = "bad name!";
  EXPECT_EQ(Sources().Add(c).code(), StatusCode::kInvalidArgument);

  auto removed = Sources().Remove("remote-http");
  ASSERT_TRUE(removed.ok());
  EXPECT_TRUE(*removed);
  EXPECT_FALSE(*Sources().Remove("remote-http"));
  EXPECT_EQ(Sources().Get("remote-http").status().code(), StatusCode::kNotFound);
}

TEST_P(WebhookTest, TheCursorNeverMovesBack) {
  ASSERT_TRUE(Sources().AdvanceCursor("shop", {100, {"1", "2"}}).ok());
  ASSERT_TRUE(Sources().AdvanceCursor("shop", {100, {"2", "3"}}).ok());
  ASSERT_TRUE(Sources().AdvanceCursor("shop", {99, {"9"}}).ok());
  auto c = Sources().Cursor("shop");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->updated_at, 100);
  EXPECT_EQ(c->ids, (std::vector<std::string>{"1", "2", "3"}));
  ASSERT_TRUE(Sources().AdvanceCursor("shop", {101, {"7"}}).ok());
  EXPECT_EQ(Sources().Cursor("shop")->ids, std::vector<std::string>{"7"});
}

}  // namespace
}  // namespace tessera::sources
