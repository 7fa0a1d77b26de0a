#pragma once

// Test support: a stand-in shop on 127.0.0.1 (a random port) that speaks the documented shapes
// of Shopify's Admin REST API (orders.json, X-Shopify-Access-Token, paging by the Link header's
// page_info) and WooCommerce's REST API v3 (wp-json/wc/v3/orders, basic auth, page numbers,
// X-WP-TotalPages), with faults to order: HTTP statuses (429 with Retry-After, 5xx, 401) and
// garbage bodies, each for one request.

#include <httplib.h>
#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tessera/common/civil_time.h"
#include "tessera/io/value_parse.h"

namespace tessera::sources::testing {

using Json = nlohmann::json;

struct Fault {
  int status = 0;           // 0: answer 200 with `body`
  std::string retry_after;  // for 429
  std::string body;         // for status 0: the body sent instead of the page
};

class StandInShop {
 public:
  StandInShop(std::string token, std::string key, std::string secret)
      : token_(std::move(token)), key_(std::move(key)), secret_(std::move(secret)) {
    server_.Get("/admin/api/2024-01/orders.json",
                [this](const httplib::Request& req, httplib::Response& res) { Shopify(req, res); });
    server_.Get("/wp-json/wc/v3/orders",
                [this](const httplib::Request& req, httplib::Response& res) { Woo(req, res); });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~StandInShop() {
    server_.stop();
    thread_.join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }

  void SetOrders(std::vector<Json> orders) {
    std::lock_guard lock(mu_);
    orders_ = std::move(orders);
  }
  void AddFault(Fault f) {
    std::lock_guard lock(mu_);
    faults_.push_back(std::move(f));
  }
  // Faults served at the n-th data request (1-based), counting from now.
  void FaultAtRequest(int n, Fault f) {
    std::lock_guard lock(mu_);
    fault_at_[requests_ + n] = std::move(f);
  }
  int requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }
  // Orders of one modification second come in a different order at each request when sorted
  // by modification time (as a database sorting on a key with ties may give them), unlike the
  // default (ties by id). Sorted by id they stay stable, as in WooCommerce.
  void ShuffleTies(uint32_t seed) {
    std::lock_guard lock(mu_);
    shuffle_ = std::mt19937(seed);
    shuffle_ties_ = true;
  }
  std::vector<std::string> targets() {
    std::lock_guard lock(mu_);
    return targets_;
  }

 private:
  static std::string Base64(const std::string& in) {
    std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(in.data()),
                                  static_cast<int>(in.size()));
    out.resize(static_cast<size_t>(n));
    return out;
  }

  static int64_t Seconds(const std::string& iso) {
    auto p = io::TimestampParser::Create("", "UTC");
    auto t = p->Parse(iso);
    return t.ok() ? *t : 0;
  }

  // Serves a fault if one is due; true when it did.
  bool Faulted(httplib::Response& res) {
    ++requests_;
    Fault f;
    if (auto it = fault_at_.find(requests_); it != fault_at_.end()) {
      f = it->second;
      fault_at_.erase(it);
    } else if (!faults_.empty()) {
      f = faults_.front();
      faults_.pop_front();
    } else {
      return false;
    }
    if (f.status == 0) {
      res.set_content(f.body, "application/json");
      return true;
    }
    res.status = f.status;
    if (!f.retry_after.empty()) res.set_header("Retry-After", f.retry_after);
    res.set_content("{\"errors\":\"fault\"}", "application/json");
    return true;
  }

  // Orders sorted by (updated time, id) with their time, filtered by `after` (and `before`,
  // exclusive); by id alone with `by_id`. Ties of time shuffled after ShuffleTies.
  std::vector<const Json*> Sorted(const char* field, int64_t min, bool inclusive,
                                  int64_t before = INT64_MAX, bool by_id = false) {
    std::vector<const Json*> out;
    for (const Json& o : orders_) {
      const int64_t t = Seconds(o[field].get<std::string>());
      if ((inclusive ? t >= min : t > min) && t < before) out.push_back(&o);
    }
    if (shuffle_ties_ && !by_id) std::shuffle(out.begin(), out.end(), shuffle_);
    std::stable_sort(out.begin(), out.end(), [&](const Json* a, const Json* b) {
      if (!by_id) {
        const int64_t ta = Seconds((*a)[field].get<std::string>());
        const int64_t tb = Seconds((*b)[field].get<std::string>());
        if (ta != tb) return ta < tb;
        if (shuffle_ties_) return false;
      }
      return (*a)["id"].get<int64_t>() < (*b)["id"].get<int64_t>();
    });
    return out;
  }

  void Shopify(const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu_);
    targets_.push_back(req.target);
    if (req.get_header_value("X-Shopify-Access-Token") != token_) {
      res.status = 401;
      res.set_content("{\"errors\":\"[API] Invalid API key or access token\"}", "application/json");
      return;
    }
    if (Faulted(res)) return;
    const int limit = std::stoi(req.get_param_value("limit"));
    size_t offset = 0;
    int64_t min = 0;
    if (req.has_param("page_info")) {
      // Our page_info: "<offset>_<min>"; Shopify forbids other filters beside it.
      const std::string info = req.get_param_value("page_info");
      offset = std::stoul(info.substr(0, info.find('_')));
      min = std::stoll(info.substr(info.find('_') + 1));
      if (req.has_param("updated_at_min") || req.has_param("status")) {
        res.status = 400;
        return;
      }
    } else if (req.has_param("updated_at_min")) {
      min = Seconds(req.get_param_value("updated_at_min"));
    }
    const auto all = Sorted("updated_at", min, /*inclusive=*/true);
    Json page = Json::array();
    for (size_t i = offset; i < all.size() && i < offset + limit; ++i) page.push_back(*all[i]);
    if (offset + limit < all.size()) {
      res.set_header("Link", "<" + url() +
                                 "/admin/api/2024-01/orders.json?limit=" + std::to_string(limit) +
                                 "&page_info=" + std::to_string(offset + limit) + "_" +
                                 std::to_string(min) + ">; rel=\"next\"");
    }
    res.set_content(Json{{"orders", page}}.dump(), "application/json");
  }

  void Woo(const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu_);
    targets_.push_back(req.target);
    const std::string expected = "Basic " + Base64(key_ + ":" + secret_);
    if (req.get_header_value("Authorization") != expected) {
      res.status = 401;
      res.set_content("{\"code\":\"woocommerce_rest_cannot_view\"}", "application/json");
      return;
    }
    if (Faulted(res)) return;
    const int per_page = std::stoi(req.get_param_value("per_page"));
    const int page = std::stoi(req.get_param_value("page"));
    int64_t after = INT64_MIN;
    if (req.has_param("modified_after")) {
      after = Seconds(req.get_param_value("modified_after"));  // dates_are_gmt: UTC
    }
    int64_t before = INT64_MAX;
    if (req.has_param("modified_before")) before = Seconds(req.get_param_value("modified_before"));
    const bool by_id = req.get_param_value("orderby") == "id";
    const auto all = Sorted("date_modified_gmt", after, /*inclusive=*/false, before, by_id);
    Json out = Json::array();
    const size_t from = static_cast<size_t>(page - 1) * per_page;
    for (size_t i = from; i < all.size() && i < from + per_page; ++i) out.push_back(*all[i]);
    res.set_header("X-WP-Total", std::to_string(all.size()));
    res.set_header("X-WP-TotalPages", std::to_string((all.size() + per_page - 1) / per_page));
    res.set_content(out.dump(), "application/json");
  }

  std::string token_, key_, secret_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<Json> orders_;          // GUARDED_BY(mu_)
  std::deque<Fault> faults_;          // GUARDED_BY(mu_)
  std::mt19937 shuffle_;              // GUARDED_BY(mu_)
  bool shuffle_ties_ = false;         // GUARDED_BY(mu_)
  std::map<int, Fault> fault_at_;     // GUARDED_BY(mu_)
  int requests_ = 0;                  // GUARDED_BY(mu_)
  std::vector<std::string> targets_;  // GUARDED_BY(mu_)
};

// A Shopify order of the API: `i` picks its id, name, customer (one of 7) and times.
inline Json ShopifyOrder(int i, int64_t updated_at, std::string status = "paid") {
  return Json{
      {"id", 450789000 + i},
      {"name", "#" + std::to_string(1000 + i)},
      {"email", "Customer" + std::to_string(i % 7) + "@Example.com"},
      {"created_at", "2024-03-01T10:00:00+01:00"},
      {"updated_at", FormatIsoTimestamp(updated_at)},
      {"currency", "EUR"},
      {"total_price", "25.90"},
      {"financial_status", status},
      {"cancelled_at", nullptr},
      {"discount_codes", Json::array({Json{{"code", "SPRING"}, {"amount", "1.00"}}})},
      {"billing_address", Json{{"country_code", "DE"}, {"phone", "+49 30 1234567"}}},
      {"line_items", Json::array({Json{{"sku", "CHEESE-1"}, {"quantity", 2}, {"price", "9.95"}},
                                  Json{{"sku", "WINE-7"}, {"quantity", 1}, {"price", "7.00"}}})},
  };
}

inline Json WooOrder(int i, int64_t modified, std::string status = "completed") {
  return Json{
      {"id", 7000 + i},
      {"status", status},
      {"currency", "EUR"},
      {"date_created_gmt", "2024-03-01T09:00:00"},
      {"date_modified_gmt", FormatIsoTimestamp(modified).substr(0, 19)},
      {"total", "31.00"},
      {"customer_id", 0},
      {"billing", Json{{"email", "buyer" + std::to_string(i % 5) + "@example.org"},
                       {"phone", ""},
                       {"country", "AT"}}},
      {"coupon_lines", Json::array({Json{{"code", "WELCOME"}}})},
      {"line_items",
       Json::array({Json{{"sku", "TEA-3"}, {"quantity", 3}, {"price", 8.5}, {"total", "25.50"}}})},
      {"refunds", Json::array()},
  };
}

}  // namespace tessera::sources::testing
