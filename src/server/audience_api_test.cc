// The audience routes of the HTTP API against a real `tessera serve` process on a random
// loopback port, over a store made by the real CLI: every route, every role, expression errors
// with their column and suggestion, the export policy, exports equal to the CLI's, counts
// equal to the library's on the same index, the index rebuilt after writes through the API,
// names with blanks, slashes and umlauts. Runs on SQLite, and on PostgreSQL when a test server
// is set.

#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "server/serve_test_support.h"
#include "store/test_stores.h"
#include "tessera/audience/index.h"
#include "tessera/audience/report.h"
#include "tessera/store/store.h"

namespace tessera::server {
namespace {

using Json = nlohmann::json;
using store::Backend;
using test_support::Tessera;
using test_support::Trim;

constexpr const char* kFood = R"(segment in ["VIPs", "loyal"] and bought("Food"))";
// Five predicates.
constexpr const char* kFive =
    R"(bought("Food", within=90d) and region = "Süd" and clv > 20 and recency_days <= 120 )"
    R"(and not channel = "online")";

std::string UrlEncode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A store with line items (categories, stores, regions, channels), one snapshot and three
// keys, served by a `tessera serve` process.
class Environment {
 public:
  Environment(Backend backend, const std::string& name, bool with_snapshot,
              const char* customers = nullptr) {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("tessera_audapi_" + std::to_string(::getpid()) + "_" + name +
            (backend == Backend::kSqlite ? "_s" : "_p"));
    std::filesystem::create_directories(dir_);
    // The index of a PostgreSQL store lives in the cache directory: keep it in the test's.
    ::setenv("XDG_CACHE_HOME", (dir_ / "cache").c_str(), 1);
    store_ = stores_.NewLocation(backend, name + ".db");
    key_ = (dir_ / "owner.key").string();
    ::setenv("TESSERA_KEY", key_.c_str(), 1);
    std::filesystem::remove(key_);
    Tessera({"keys", "init", "--key", key_}, store_);
    const std::string orders = (dir_ / "orders.csv").string();
    if (customers == nullptr) customers = with_snapshot ? "1500" : "200";
    if (std::string_view(customers) == "0") {
      std::ofstream(orders) << "order_id,customer_id,ordered_at,amount,currency\n";
    } else {
      Tessera({"generate", "--customers", customers, "--months", "14", "--seed", "5", "--end",
               "2025-06-30", "--categories", "60", "--output", orders},
              store_);
    }
    Tessera({"ingest", orders, "--quiet"}, store_);
    if (with_snapshot) {
      Tessera({"snapshots", "create", "--as-of", "2025-06-30", "--window", "12m", "-q"}, store_);
    }
    viewer_ = Trim(Tessera({"keys", "api", "create", "--role", "viewer"}, store_));
    analyst_ = Trim(Tessera({"keys", "api", "create", "--role", "analyst"}, store_));
    admin_ = Trim(Tessera({"keys", "api", "create", "--role", "admin"}, store_));
    log_ = dir_ / "serve.log";
    server_.Start({"--store", store_, "--key", key_, "--with-key", "--threads", "8"},
                  log_.string());
  }

  // The index the server answers from, read from the same file.
  audience::AudienceIndex Index() {
    auto s = store::Store::Open(store_, false);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    bool rebuilt = false;
    ::setenv("XDG_CACHE_HOME", (dir_ / "cache").c_str(), 1);  // as the server was started
    auto index = audience::LoadOrBuildIndex(
        **s, audience::DefaultIndexPath(store_, (*s)->Describe()), &rebuilt);
    EXPECT_TRUE(index.ok()) << index.status().ToString();
    EXPECT_FALSE(rebuilt) << "the server (or the CLI) should have written the index";
    return std::move(*index);
  }

  store::TestStores stores_;
  std::filesystem::path dir_, log_;
  std::string store_, key_, viewer_, analyst_, admin_;
  test_support::ServeProcess server_;
};

class AudienceApiTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    TESSERA_SKIP_WITHOUT_POSTGRES(GetParam());
    auto& e = envs_[GetParam()];
    if (!e) e = std::make_unique<Environment>(GetParam(), "audiences", true);
    env_ = e.get();
  }
  static void TearDownTestSuite() { envs_.clear(); }

  static httplib::Headers Auth(const std::string& key) {
    return {{"Authorization", "Bearer " + key}};
  }
  httplib::Result Get(const std::string& path, const std::string& key) {
    auto c = env_->server_.Client();
    return key.empty() ? c.Get(path.c_str()) : c.Get(path.c_str(), Auth(key));
  }
  httplib::Result Post(const std::string& path, const std::string& key, const Json& body) {
    auto c = env_->server_.Client();
    return c.Post(path.c_str(), Auth(key), body.dump(), "application/json");
  }
  httplib::Result Put(const std::string& path, const std::string& key, const Json& body) {
    auto c = env_->server_.Client();
    return c.Put(path.c_str(), Auth(key), body.dump(), "application/json");
  }
  httplib::Result Delete(const std::string& path, const std::string& key) {
    auto c = env_->server_.Client();
    return c.Delete(path.c_str(), Auth(key));
  }
  Json Count(const std::string& expression, const std::string& key = "") {
    auto r = Post("/api/v1/audiences/count", key.empty() ? env_->viewer_ : key,
                  {{"expression", expression}});
    EXPECT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
    return Json::parse(r->body);
  }
  static Json Body(const httplib::Result& r) { return Json::parse(r->body); }
  // Expects a JSON error with this status (and parameter, when given); returns the error.
  static Json ExpectError(const httplib::Result& r, int status, const std::string& parameter = "") {
    EXPECT_TRUE(r) << "no response";
    if (!r) return Json();
    EXPECT_EQ(r->status, status) << r->body;
    const Json j = Json::parse(r->body, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r->body;
    if (j.is_discarded()) return Json();
    EXPECT_EQ(j["error"]["status"], status);
    EXPECT_FALSE(j["error"]["message"].get<std::string>().empty());
    if (!parameter.empty()) {
      EXPECT_EQ(j["error"]["parameter"], parameter) << r->body;
    }
    return j["error"];
  }

  static inline std::map<Backend, std::unique_ptr<Environment>> envs_;
  Environment* env_ = nullptr;
};

INSTANTIATE_TEST_SUITE_P(Backends, AudienceApiTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         store::BackendName);

TEST_P(AudienceApiTest, SchemaDescribesTheIndex) {
  auto r = Get("/api/v1/audiences/schema", env_->viewer_);
  ASSERT_EQ(r->status, 200) << r->body;
  const Json j = Body(r);
  const audience::AudienceIndex index = env_->Index();
  EXPECT_EQ(j["snapshot_id"], index.info().snapshot_id);
  EXPECT_EQ(r->get_header_value("X-Tessera-Snapshot"), std::to_string(index.info().snapshot_id));
  EXPECT_EQ(j["as_of"], "2025-06-30");
  EXPECT_EQ(j["window"], "12m");
  EXPECT_EQ(j["currency"], "EUR");
  EXPECT_EQ(j["customers"], index.info().customers);
  EXPECT_EQ(j["has_predictions"], false);
  ASSERT_EQ(j["segments"].size(), index.segments().size());
  EXPECT_EQ(j["segments"][0]["key"], index.segments()[0].key);
  EXPECT_EQ(j["segments"][0]["name"], index.segments()[0].name_en);
  const Json de = Body(Get("/api/v1/audiences/schema?lang=de", env_->viewer_));
  EXPECT_EQ(de["segments"][0]["name"], index.segments()[0].name_de);
  std::map<std::string, std::string> units;
  for (const auto& n : j["numbers"]) units[n["name"]] = n["unit"];
  EXPECT_EQ(units["clv"], "money");
  EXPECT_EQ(units["orders"], "count");
  EXPECT_EQ(units["recency_days"], "days");
  EXPECT_EQ(units["r_score"], "score");
  EXPECT_FALSE(units.contains("p_alive"));  // a snapshot without predictions
  const Json regions = j["attributes"]["region"];
  EXPECT_NE(std::find(regions.begin(), regions.end(), "Süd"), regions.end()) << regions;
  EXPECT_TRUE(j["attributes"].contains("channel"));
  EXPECT_TRUE(j["attributes"].contains("store"));
  EXPECT_EQ(j["windows"], Json::parse(R"(["30d", "90d", "180d", "365d"])"));
  ExpectError(Get("/api/v1/audiences/schema?lang=fr", env_->viewer_), 400, "lang");
}

TEST_P(AudienceApiTest, CategoriesMatchByPathAndRankNamesStartingWithTheText) {
  const Json top = Body(Get("/api/v1/audiences/categories", env_->viewer_));
  ASSERT_FALSE(top["categories"].empty());
  EXPECT_EQ(top["total"], top["categories"].size());
  for (const auto& c : top["categories"]) {
    EXPECT_EQ(c["depth"], 1) << c;
    EXPECT_EQ(c["path"], c["name"]);
  }
  // Buyers in the whole window, as bought() counts them.
  const Json first = top["categories"][0];
  EXPECT_EQ(first["customers"],
            Count("bought(\"" + first["path"].get<std::string>() + "\")")["size"]);
  for (size_t i = 1; i < top["categories"].size(); ++i) {
    EXPECT_GE(top["categories"][i - 1]["customers"], top["categories"][i]["customers"]);
  }

  auto r = Get("/api/v1/audiences/categories?q=food&limit=500", env_->viewer_);
  ASSERT_EQ(r->status, 200) << r->body;
  const Json food = Body(r);
  ASSERT_GE(food["total"], 2);
  EXPECT_EQ(food["categories"][0]["path"], "Food");  // its name starts with the text
  for (const auto& c : food["categories"]) {
    std::string path = c["path"];
    for (char& ch : path) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    EXPECT_NE(path.find("food"), std::string::npos) << path;
  }
  const Json two = Body(Get("/api/v1/audiences/categories?q=FOOD&limit=2", env_->viewer_));
  EXPECT_EQ(two["total"], food["total"]);
  ASSERT_EQ(two["categories"].size(), 2u);
  EXPECT_EQ(two["categories"][1], food["categories"][1]);
  EXPECT_EQ(Body(Get("/api/v1/audiences/categories?q=nothing-like-it", env_->viewer_))["total"], 0);
  ExpectError(Get("/api/v1/audiences/categories?limit=0", env_->viewer_), 400, "limit");
  ExpectError(Get("/api/v1/audiences/categories?limit=501", env_->viewer_), 400, "limit");
}

TEST_P(AudienceApiTest, CountIsTheLibrarysCountOnTheSameIndex) {
  const audience::AudienceIndex index = env_->Index();
  for (const std::string& expression :
       {std::string(kFood), std::string(kFive), std::string("orders >= 3 or r_score = 5"),
        std::string("not segment in [\"VIPs\"]"), std::string("region = 'Süd'")}) {
    SCOPED_TRACE(expression);
    // The API's additions to the library's JSON: the time taken, "name" beside "segment".
    auto strip = [](Json j) {
      EXPECT_TRUE(j["millis"].is_number());
      j.erase("millis");
      for (auto& g : j["segments"]) {
        EXPECT_EQ(g["name"], g["segment"]);
        g.erase("name");
      }
      return j;
    };
    const Json api = strip(Count(expression));
    auto lib = audience::CountAudience(index, expression, analytics::Lang::kEn);
    ASSERT_TRUE(lib.ok()) << lib.status().ToString();
    EXPECT_EQ(api, Json::parse(lib->ToJson()));
    EXPECT_GT(api["size"], 0);
    // GET with the expression in the query says the same.
    auto g = Get("/api/v1/audiences/count?expression=" + UrlEncode(expression), env_->viewer_);
    ASSERT_EQ(g->status, 200) << g->body;
    EXPECT_EQ(strip(Body(g)), api);
  }
  const Json de = Body(Post("/api/v1/audiences/count?lang=de", env_->viewer_,
                            {{"expression", "segment = \"VIPs\""}}));
  EXPECT_EQ(de["segments"][0]["name"], index.segments()[0].name_de);
  EXPECT_EQ(de["segments"][0]["segment"], index.segments()[0].name_de);
}

TEST_P(AudienceApiTest, ExpressionErrorsPointAtTheColumnWithASuggestion) {
  Json e = ExpectError(Post("/api/v1/audiences/count", env_->viewer_,
                            {{"expression", "segment = \"VIPs\" and clvv > 100"}}),
                       400, "expression");
  EXPECT_EQ(e["code"], "invalid_expression");
  EXPECT_EQ(e["column"], 22);
  EXPECT_EQ(e["suggestion"], "clv");
  EXPECT_NE(e["message"].get<std::string>().find("column 22: unknown field 'clvv'"),
            std::string::npos);

  e = ExpectError(
      Post("/api/v1/audiences/count", env_->viewer_, {{"expression", "orders >= 3 and"}}), 400,
      "expression");
  EXPECT_EQ(e["column"], 16);
  EXPECT_FALSE(e["expected"].get<std::string>().empty()) << e;

  // An unknown category: a top-level name with a letter left out.
  const Json top = Body(Get("/api/v1/audiences/categories", env_->viewer_));
  std::string name;
  for (const auto& c : top["categories"]) {
    if (c["name"].get<std::string>().size() > name.size()) name = c["name"];
  }
  ASSERT_GE(name.size(), 4u);
  std::string wrong = name;
  wrong.erase(2, 1);
  e = ExpectError(
      Post("/api/v1/audiences/count", env_->viewer_, {{"expression", "bought(\"" + wrong + "\")"}}),
      400, "expression");
  EXPECT_EQ(e["column"], 8);
  EXPECT_EQ(e["suggestion"], name) << e;

  e = ExpectError(
      Post("/api/v1/audiences/count", env_->viewer_, {{"expression", "region = \"Sud\""}}), 400,
      "expression");
  EXPECT_EQ(e["suggestion"], "Süd") << e;

  ExpectError(Get("/api/v1/audiences/count", env_->viewer_), 400, "expression");
  ExpectError(Post("/api/v1/audiences/count", env_->viewer_, Json::array()), 400, "body");
  ExpectError(Post("/api/v1/audiences/count", env_->viewer_, {{"expression", 3}}), 400,
              "expression");
  ExpectError(Post("/api/v1/audiences/count", env_->viewer_, {{"expresion", "orders > 1"}}), 400,
              "expresion");
}

TEST_P(AudienceApiTest, OverlapIsTheLibrarysOverlap) {
  const std::vector<std::string> expressions = {kFood, "region = \"Süd\"", "orders >= 3"};
  auto r = Post("/api/v1/audiences/overlap", env_->viewer_, {{"expressions", expressions}});
  ASSERT_EQ(r->status, 200) << r->body;
  auto lib = audience::OverlapAudiences(env_->Index(), expressions);
  ASSERT_TRUE(lib.ok());
  EXPECT_EQ(Body(r), Json::parse(lib->ToJson()));

  const Json e = ExpectError(Post("/api/v1/audiences/overlap", env_->viewer_,
                                  {{"expressions", {"orders >= 3", "segment = \"VIPz\""}}}),
                             400, "expressions");
  EXPECT_EQ(e["expression_index"], 2);
  EXPECT_EQ(e["column"], 11);
  EXPECT_EQ(e["suggestion"], "VIPs");
  ExpectError(Post("/api/v1/audiences/overlap", env_->viewer_, {{"expressions", {"orders > 1"}}}),
              400, "expressions");
  ExpectError(Post("/api/v1/audiences/overlap", env_->viewer_, {{"expressions", {1, 2}}}), 400,
              "expressions");
}

TEST_P(AudienceApiTest, RolesGrantWhatTheySay) {
  const std::string path = "/api/v1/audiences/" + UrlEncode("role check");
  for (const std::string& p :
       {std::string("/api/v1/audiences/schema"), std::string("/api/v1/audiences/categories"),
        std::string("/api/v1/audiences/count?expression=orders%3E1"),
        std::string("/api/v1/audiences"), path, path + "/export"}) {
    SCOPED_TRACE(p);
    ExpectError(Get(p, ""), 401);
    ExpectError(Get(p, "tsk_0000000000000000_nonsense"), 401);
  }
  // Viewers read.
  EXPECT_EQ(Get("/api/v1/audiences", env_->viewer_)->status, 200);
  EXPECT_EQ(Post("/api/v1/audiences/overlap", env_->viewer_,
                 {{"expressions", {"orders > 1", "orders > 2"}}})
                ->status,
            200);
  // Analysts write and export; viewers may not.
  ExpectError(Post("/api/v1/audiences", env_->viewer_,
                   {{"name", "role check"}, {"expression", "orders > 1"}}),
              403);
  ASSERT_EQ(Post("/api/v1/audiences", env_->analyst_,
                 {{"name", "role check"}, {"expression", "orders > 1"}})
                ->status,
            201);
  EXPECT_EQ(Get(path, env_->viewer_)->status, 200);
  ExpectError(Put(path, env_->viewer_, {{"expression", "orders > 2"}}), 403);
  ExpectError(Get(path + "/export", env_->viewer_), 403);
  ExpectError(Delete(path, env_->viewer_), 403);
  EXPECT_EQ(Put(path, env_->analyst_, {{"expression", "orders > 2"}})->status, 200);
  EXPECT_EQ(Get(path + "/export", env_->analyst_)->status, 200);
  EXPECT_EQ(Get(path + "/export", env_->admin_)->status, 200);
  EXPECT_EQ(Delete(path, env_->analyst_)->status, 204);
}

TEST_P(AudienceApiTest, SavedAudiencesLiveUnderTheirEncodedNames) {
  for (const std::string& name :
       {std::string("Käse-Fans im Süden 2025"), std::string("a/b"), std::string("export")}) {
    SCOPED_TRACE(name);
    const std::string path = "/api/v1/audiences/" + UrlEncode(name);
    auto created =
        Post("/api/v1/audiences", env_->analyst_, {{"name", name}, {"expression", kFood}});
    ASSERT_EQ(created->status, 201) << created->body;
    const uint64_t size = Count(kFood)["size"];
    EXPECT_EQ(Body(created)["name"], name);
    EXPECT_EQ(Body(created)["expression"], kFood);
    EXPECT_EQ(Body(created)["size"], size);
    // Percent-encoded; cpp-httplib's client hands out header values decoded.
    EXPECT_EQ(created->get_header_value("Location"), "/api/v1/audiences/" + name);
    ExpectError(
        Post("/api/v1/audiences", env_->analyst_, {{"name", name}, {"expression", "orders > 1"}}),
        409, "name");

    bool listed = false;
    for (const auto& a : Body(Get("/api/v1/audiences", env_->viewer_))) {
      if (a["name"] == name) {
        listed = true;
        EXPECT_EQ(a["size"], size);
      }
    }
    EXPECT_TRUE(listed);

    auto shown = Get(path, env_->viewer_);
    ASSERT_EQ(shown->status, 200) << shown->body;
    EXPECT_EQ(Body(shown)["name"], name);
    EXPECT_EQ(Body(shown)["size"], size);
    ASSERT_EQ(Body(shown)["history"].size(), 1u);
    EXPECT_EQ(Body(shown)["history"][0]["event"], "saved");

    auto updated = Put(path, env_->analyst_, {{"expression", "orders >= 3"}});
    ASSERT_EQ(updated->status, 200) << updated->body;
    EXPECT_EQ(Body(updated)["size"], Count("orders >= 3")["size"]);
    const Json e =
        ExpectError(Put(path, env_->analyst_, {{"expression", "orders >= "}}), 400, "expression");
    EXPECT_EQ(e["column"], 11);
    EXPECT_EQ(Body(Get(path, env_->viewer_))["expression"], "orders >= 3");  // unchanged

    EXPECT_EQ(Delete(path, env_->analyst_)->status, 204);
    ExpectError(Delete(path, env_->analyst_), 404);
    ExpectError(Get(path, env_->viewer_), 404);
    ExpectError(Put(path, env_->analyst_, {{"expression", "orders > 1"}}), 404);
  }
  ExpectError(Get("/api/v1/audiences/never%20saved/export", env_->analyst_), 404);
  ExpectError(
      Post("/api/v1/audiences", env_->analyst_, {{"name", " padded"}, {"expression", kFood}}), 400,
      "name");
  ExpectError(Post("/api/v1/audiences", env_->analyst_, {{"name", "count"}, {"expression", kFood}}),
              400, "name");
  ExpectError(Post("/api/v1/audiences", env_->analyst_, {{"name", "no expression"}}), 400,
              "expression");
  const Json e = ExpectError(
      Post("/api/v1/audiences", env_->analyst_, {{"name", "bad"}, {"expression", "clvv > 1"}}), 400,
      "expression");
  EXPECT_EQ(e["suggestion"], "clv");
  ExpectError(Get("/api/v1/audiences/bad", env_->viewer_), 404);  // nothing was saved
}

TEST_P(AudienceApiTest, ExportsArePseudonymsAsTheCliWritesThemAboveTheMinimumOnly) {
  ASSERT_EQ(
      Post("/api/v1/audiences", env_->analyst_, {{"name", "Käse Fans"}, {"expression", kFood}})
          ->status,
      201);
  ASSERT_EQ(Post("/api/v1/audiences", env_->analyst_,
                 {{"name", "few"}, {"expression", "segment = \"champions\" and orders >= 12"}})
                ->status,
            201);
  const uint64_t few = Count("segment = \"champions\" and orders >= 12")["size"];
  ASSERT_LT(few, 100u);
  const Json e = ExpectError(Get("/api/v1/audiences/few/export", env_->analyst_), 409);
  EXPECT_EQ(e["code"], "below_min_export_size");
  EXPECT_EQ(e["size"], few);
  EXPECT_EQ(e["min_export_size"], 100);
  const std::string message = e["message"];
  EXPECT_NE(message.find(fmt::format("has {} customers", few)), std::string::npos) << message;
  EXPECT_NE(message.find("minimum export size 100"), std::string::npos) << message;

  auto r = Get("/api/v1/audiences/" + UrlEncode("Käse Fans") + "/export", env_->analyst_);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/csv; charset=utf-8");
  const std::string disposition = r->get_header_value("Content-Disposition");
  EXPECT_EQ(disposition.rfind("attachment; filename=\"audience-K_se_Fans.csv\"", 0), 0u)
      << disposition;
  // RFC 5987 percent-encoding, which cpp-httplib's client hands out decoded.
  EXPECT_NE(disposition.find("filename*=UTF-8''audience-Käse Fans.csv"), std::string::npos)
      << disposition;
  // Pseudonyms only, one per member, as the CLI writes the same audience.
  const uint64_t size = Count(kFood)["size"];
  ASSERT_GE(size, 100u);
  EXPECT_TRUE(r->body.starts_with("uuid\r\n"));
  const std::regex line("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");
  size_t lines = 0;
  std::istringstream in(r->body.substr(6));
  for (std::string l; std::getline(in, l);) {
    ASSERT_TRUE(l.ends_with('\r'));
    l.pop_back();
    EXPECT_TRUE(std::regex_match(l, line)) << l;
    ++lines;
  }
  EXPECT_EQ(lines, size);
  const auto cli = env_->dir_ / "cli-export.csv";
  Tessera({"audience", "export", "Käse Fans", "-q", "-o", cli.string()}, env_->store_);
  EXPECT_EQ(r->body, ReadFile(cli));
  // The export is in the audience's history, as the CLI records it.
  const Json history =
      Body(Get("/api/v1/audiences/" + UrlEncode("Käse Fans"), env_->viewer_))["history"];
  int exports = 0;
  for (const auto& h : history) exports += h["event"] == "exported" ? 1 : 0;
  EXPECT_EQ(exports, 2);  // the API's and the CLI's
  // Raising the minimum above the size refuses it (only the owner's key may).
  Tessera(
      {"audience", "policy", "--key", env_->key_, "--min-export-size", std::to_string(size + 1)},
      env_->store_);
  const Json refused = ExpectError(
      Get("/api/v1/audiences/" + UrlEncode("Käse Fans") + "/export", env_->analyst_), 409);
  EXPECT_EQ(refused["min_export_size"], size + 1);
  Tessera({"audience", "policy", "--key", env_->key_, "--min-export-size", "100"}, env_->store_);
}

TEST_P(AudienceApiTest, OpenApiDocumentsEveryRouteAndMetricsFoldNames) {
  const Json doc = Body(Get("/api/v1/openapi.json", ""));
  for (const char* path :
       {"/api/v1/audiences/schema", "/api/v1/audiences/categories", "/api/v1/audiences/count",
        "/api/v1/audiences/overlap", "/api/v1/audiences", "/api/v1/audiences/{name}",
        "/api/v1/audiences/{name}/export"}) {
    EXPECT_TRUE(doc["paths"].contains(path)) << path;
  }
  for (const char* method : {"get", "put", "delete"}) {
    EXPECT_TRUE(doc["paths"]["/api/v1/audiences/{name}"].contains(method)) << method;
  }
  EXPECT_TRUE(doc["paths"]["/api/v1/audiences/count"].contains("post"));
  EXPECT_TRUE(doc["paths"]["/api/v1/audiences"].contains("post"));
  Get("/api/v1/audiences/" + UrlEncode("secret campaign"), env_->viewer_);
  Count("orders >= 1");
  // A request is counted once its answer is sent: the count may show a moment later.
  std::string metrics;
  for (int i = 0; i < 50; ++i) {
    metrics = Get("/metrics", env_->viewer_)->body;
    // Both requests, each counted by the thread that answered it.
    if (metrics.find("route=\"/api/v1/audiences/count\"") != std::string::npos &&
        metrics.find("route=\"/api/v1/audiences/{name}\"") != std::string::npos) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_NE(metrics.find("route=\"/api/v1/audiences/{name}\""), std::string::npos);
  EXPECT_NE(metrics.find("route=\"/api/v1/audiences/count\""), std::string::npos);
  EXPECT_EQ(metrics.find("secret"), std::string::npos);
}

// The tests below change the store: they run last.

TEST_P(AudienceApiTest, AnIngestThroughTheApiRebuildsTheIndexBeforeItAnswers) {
  const Json before = Count("not orders >= 1");
  const std::string csv =
      "order_id,customer_id,ordered_at,amount,currency\n"
      "AUD-1,audience-new-1,2025-06-01,12.50,EUR\n"
      "AUD-2,audience-new-2,2025-06-02,7.25,EUR\n";
  auto c = env_->server_.Client();
  auto r = c.Post("/api/v1/ingest?name=new.csv", Auth(env_->admin_), csv, "text/csv");
  ASSERT_EQ(r->status, 201) << r->body;
  const Json after = Count("not orders >= 1");
  // Two new customers, without a purchase in the snapshot's segments until the next one.
  EXPECT_EQ(after["customers"], before["customers"].get<uint64_t>() + 2);
  EXPECT_EQ(after["size"], before["size"].get<uint64_t>() + 2);
  EXPECT_EQ(after["snapshot_id"], before["snapshot_id"]);
  // A new snapshot through the API: counted at once, from it.
  auto s = c.Post("/api/v1/snapshots", Auth(env_->admin_),
                  R"({"window": "12m", "as_of": "2025-06-30"})", "application/json");
  ASSERT_EQ(s->status, 201) << s->body;
  const Json fresh = Count("not orders >= 1");
  EXPECT_EQ(fresh["snapshot_id"], Body(s)["snapshot_id"]);
  EXPECT_EQ(fresh["size"], before["size"]);  // the two have purchases in the window now
  // The server wrote the index file: the library (and the CLI) read it without a rebuild.
  EXPECT_EQ(env_->Index().info().snapshot_id, fresh["snapshot_id"]);
  // No pseudonym or identifier in the server's log.
  const std::string log = ReadFile(env_->log_);
  EXPECT_FALSE(std::regex_search(log, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-"))) << log;
  EXPECT_EQ(log.find("audience-new"), std::string::npos);
}

TEST_P(AudienceApiTest, WithoutASnapshotTheAnswerSaysToMakeOne) {
  Environment bare(GetParam(), "bare", false);
  auto c = bare.server_.Client();
  for (const std::string& p :
       {std::string("/api/v1/audiences/schema"), std::string("/api/v1/audiences/categories"),
        std::string("/api/v1/audiences/count?expression=orders%3E1"),
        std::string("/api/v1/audiences")}) {
    SCOPED_TRACE(p);
    const Json e = ExpectError(c.Get(p.c_str(), Auth(bare.viewer_)), 409);
    EXPECT_EQ(e["code"], "no_snapshot");
    EXPECT_NE(e["message"].get<std::string>().find("tessera snapshots create"), std::string::npos);
  }
  auto s = c.Post("/api/v1/snapshots", Auth(bare.admin_),
                  R"({"window": "12m", "as_of": "2025-06-30"})", "application/json");
  ASSERT_EQ(s->status, 201) << s->body;
  auto r = c.Post("/api/v1/audiences/count", Auth(bare.viewer_), R"({"expression": "orders >= 1"})",
                  "application/json");
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_GT(Body(r)["size"], 0);
  EXPECT_EQ(Body(r)["snapshot_id"], Body(s)["snapshot_id"]);
}

TEST_P(AudienceApiTest, AStoreWithoutCustomersAnswersZeroAndKeepsServing) {
  Environment empty(GetParam(), "empty", true, "0");
  auto c = empty.server_.Client();
  auto schema = c.Get("/api/v1/audiences/schema", Auth(empty.viewer_));
  ASSERT_TRUE(schema) << "the server went away";
  ASSERT_EQ(schema->status, 200) << schema->body;
  EXPECT_EQ(Body(schema)["customers"], 0) << schema->body;
  auto r = c.Post("/api/v1/audiences/count", Auth(empty.viewer_),
                  R"({"expression": "orders >= 1 or not orders >= 1"})", "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(Body(r)["size"], 0);
  auto o = c.Post("/api/v1/audiences/overlap", Auth(empty.viewer_),
                  R"({"expressions": ["orders >= 1", "clv > 5"]})", "application/json");
  ASSERT_TRUE(o);
  EXPECT_EQ(o->status, 200) << o->body;
  auto health = c.Get("/api/v1/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

}  // namespace
}  // namespace tessera::server
