// The HTTP API against a real `tessera serve` process on a random loopback port, over a store
// made by the real CLI: every endpoint, every role, bad keys, bad parameters, CSV escaping,
// caching headers, gzip, pagination to the end, uploads and recomputation. Runs on SQLite,
// and on PostgreSQL when a test server is set.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "server/serve_test_support.h"
#include "store/backends.h"
#include "store/test_stores.h"
#include "tessera/analytics/segments.h"
#include "tessera/sources/webhook.h"

namespace tessera::server {
namespace {

// A connection to the server on loopback (for requests written by hand); -1 on failure.
int ConnectTo(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (fd >= 0) ::close(fd);
    return -1;
  }
  return fd;
}

// Sends a request head alone (its body never follows) and reads the JSON error that answers
// it: the server must refuse from the head. (A client still writing a body may see the
// connection close before it reads the answer, so these are sent by hand.)
std::string AnswerToHead(int port, const std::string& head) {
  const int fd = ConnectTo(port);
  if (fd < 0) return "no connection";
  std::string answer;
  if (::send(fd, head.data(), head.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(head.size())) {
    char buf[4096];
    ssize_t n;
    while (answer.find("}\n") == std::string::npos && (n = ::read(fd, buf, sizeof buf)) > 0) {
      answer.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return answer;
}

using Json = nlohmann::json;
using store::Backend;

using test_support::Tessera;
using test_support::Trim;

// A store with orders, three snapshots and four keys, served by a `tessera serve` process.
class Environment {
 public:
  explicit Environment(Backend backend) {
    dir_ =
        std::filesystem::path(::testing::TempDir()) /
        ("tessera_api_" + std::to_string(::getpid()) + (backend == Backend::kSqlite ? "_s" : "_p"));
    std::filesystem::create_directories(dir_);
    store_ = stores_.NewLocation(backend, "api.db");
    key_ = (dir_ / "owner.key").string();
    ::setenv("TESSERA_KEY", key_.c_str(), 1);
    std::filesystem::remove(key_);
    Tessera({"keys", "init", "--key", key_}, store_);
    const std::string orders = (dir_ / "orders.csv").string();
    Tessera({"generate", "--customers", "1500", "--months", "24", "--seed", "4", "--end",
             "2025-06-30", "--output", orders},
            store_);
    Tessera({"ingest", orders, "--quiet"}, store_);
    // Snapshot 1 with segment names a spreadsheet would run as formulas.
    std::string rules;
    {
      std::ifstream in(std::string(TESSERA_SOURCE_DIR) + "/config/segments.toml");
      std::stringstream ss;
      ss << in.rdbuf();
      rules = ss.str();
    }
    for (size_t at = 0; (at = rules.find("en = \"", at)) != std::string::npos; ++at) {
      rules.insert(at + 6, "=HYPERLINK(\\\"x\\\")+");  // TOML: =HYPERLINK(\"x\")+
      break;
    }
    const std::string evil = (dir_ / "evil.toml").string();
    std::ofstream(evil) << rules;
    Tessera(
        {"snapshots", "create", "--as-of", "2024-12-31", "--window", "12m", "--rules", evil, "-q"},
        store_);
    Tessera({"snapshots", "create", "--as-of", "2025-01-31", "--window", "12m", "-q"}, store_);
    Tessera({"snapshots", "create", "--as-of", "2025-06-30", "--window", "12m", "-q"}, store_);
    viewer_ =
        Trim(Tessera({"keys", "api", "create", "--role", "viewer", "--allow-query-key"}, store_));
    analyst_ = Trim(Tessera({"keys", "api", "create", "--role", "analyst"}, store_));
    admin_ = Trim(Tessera({"keys", "api", "create", "--role", "admin"}, store_));
    revoked_ = Trim(Tessera({"keys", "api", "create", "--role", "admin"}, store_));
    Tessera({"keys", "api", "revoke", revoked_.substr(4, 16)}, store_);
    StartServer();
  }

  void StartServer() {
    // These tests send wrong keys by the hundred on purpose; the limit on them is
    // tests/e2e/key_guessing.sh's subject.
    server_.Start(
        {"--store", store_, "--key", key_, "--with-key", "--threads", "16", "--max-upload-mb", "1",
         "--cors-origin", "https://bi.example", "--max-key-failures", "100000"},
        (dir_ / "serve.log").string());
    port_ = server_.port();
  }

  httplib::Client Client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(30, 0);
    return c;
  }
  httplib::Headers Auth(const std::string& key) const {
    return {{"Authorization", "Bearer " + key}};
  }

  store::TestStores stores_;
  std::filesystem::path dir_;
  std::string store_, key_, viewer_, analyst_, admin_, revoked_;
  test_support::ServeProcess server_;
  int port_ = 0;
};

class ApiTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    TESSERA_SKIP_WITHOUT_POSTGRES(GetParam());
    auto& e = envs_[GetParam()];
    if (!e) e = std::make_unique<Environment>(GetParam());
    env_ = e.get();
  }
  static void TearDownTestSuite() { envs_.clear(); }

  httplib::Result Get(const std::string& path, const std::string& key) {
    auto c = env_->Client();
    return key.empty() ? c.Get(path.c_str()) : c.Get(path.c_str(), env_->Auth(key));
  }
  static Json Body(const httplib::Result& r) { return Json::parse(r->body); }
  // Expects a JSON error with this status (and parameter, when given); to a request that asked
  // for CSV (format=csv), the same as one CSV cell.
  static void ExpectError(const httplib::Result& r, int status, const std::string& parameter = "") {
    ASSERT_TRUE(r) << "no response";
    EXPECT_EQ(r->status, status) << r->body;
    if (r->get_header_value("Content-Type").starts_with("text/csv")) {
      // The cell is quoted when the message holds a comma.
      const size_t start = r->body.starts_with('"') ? 1 : 0;
      EXPECT_EQ(r->body.find(fmt::format("Tessera error {} (", status)), start) << r->body;
      EXPECT_TRUE(r->body.ends_with("\r\n") && r->body.find('\n') == r->body.size() - 1) << r->body;
      if (!parameter.empty()) {
        EXPECT_NE(r->body.find("[parameter " + parameter + "]"), std::string::npos) << r->body;
      }
      return;
    }
    const Json j = Json::parse(r->body, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << r->body;
    EXPECT_EQ(j["error"]["status"], status);
    EXPECT_FALSE(j["error"]["message"].get<std::string>().empty());
    if (!parameter.empty()) {
      EXPECT_EQ(j["error"]["parameter"], parameter) << r->body;
    }
  }

  static inline std::map<Backend, std::unique_ptr<Environment>> envs_;
  Environment* env_ = nullptr;
};

INSTANTIATE_TEST_SUITE_P(Backends, ApiTest, ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         store::BackendName);

TEST_P(ApiTest, HealthReadinessAndOpenApiNeedNoKey) {
  auto h = Get("/api/v1/health", "");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(Body(h)["status"], "ok");
  auto r = Get("/api/v1/ready", "");
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(Body(r)["snapshot_id"], 3);
  auto o = Get("/api/v1/openapi.json", "");
  EXPECT_EQ(o->status, 200);
  const Json doc = Body(o);
  EXPECT_EQ(doc["openapi"], "3.0.3");
  for (const char* path :
       {"/api/v1/segments", "/api/v1/snapshots", "/api/v1/snapshots/{id}/segments",
        "/api/v1/migration", "/api/v1/distributions", "/api/v1/profiles", "/api/v1/profiles/{uuid}",
        "/api/v1/ingest", "/api/v1/loads", "/api/v1/loads/{id}/rejects", "/api/v1/schedule",
        "/api/v1/sources", "/metrics"}) {
    EXPECT_TRUE(doc["paths"].contains(path)) << path;
  }
}

TEST_P(ApiTest, EveryEndpointButHealthNeedsAValidKey) {
  const std::vector<std::string> paths = {"/api/v1/segments",
                                          "/api/v1/snapshots",
                                          "/api/v1/snapshots/3/segments",
                                          "/api/v1/migration",
                                          "/api/v1/distributions",
                                          "/api/v1/profiles",
                                          "/api/v1/profiles/00000000-0000-8000-8000-000000000000",
                                          "/api/v1/loads",
                                          "/api/v1/schedule",
                                          "/api/v1/sources",
                                          "/metrics"};
  for (const auto& p : paths) {
    SCOPED_TRACE(p);
    ExpectError(Get(p, ""), 401);
    ExpectError(Get(p, "tsk_0000000000000000_nonsense"), 401);
    ExpectError(Get(p, "not even a key"), 401);
    ExpectError(Get(p, env_->revoked_), 401);
    // One character off in the secret.
    std::string wrong = env_->admin_;
    wrong.back() = wrong.back() == 'a' ? 'b' : 'a';
    ExpectError(Get(p, wrong), 401);
  }
  auto c = env_->Client();
  ExpectError(c.Post("/api/v1/snapshots", "{}", "application/json"), 401);
  ExpectError(c.Post("/api/v1/ingest", "x", "text/csv"), 401);
}

TEST_P(ApiTest, RolesGrantWhatTheySay) {
  struct Case {
    std::string path;
    int viewer, analyst, admin;
  };
  for (const Case& k : std::vector<Case>{{"/api/v1/segments", 200, 200, 200},
                                         {"/api/v1/snapshots", 200, 200, 200},
                                         {"/api/v1/migration", 200, 200, 200},
                                         {"/api/v1/distributions", 200, 200, 200},
                                         {"/metrics", 200, 200, 200},
                                         {"/api/v1/schedule", 200, 200, 200},
                                         {"/api/v1/profiles", 403, 200, 200},
                                         {"/api/v1/sources", 403, 200, 200},
                                         {"/api/v1/loads", 403, 403, 200}}) {
    SCOPED_TRACE(k.path);
    EXPECT_EQ(Get(k.path, env_->viewer_)->status, k.viewer);
    EXPECT_EQ(Get(k.path, env_->analyst_)->status, k.analyst);
    EXPECT_EQ(Get(k.path, env_->admin_)->status, k.admin);
    if (k.viewer == 403) ExpectError(Get(k.path, env_->viewer_), 403);
  }
  auto c = env_->Client();
  ExpectError(c.Post("/api/v1/snapshots", env_->Auth(env_->analyst_), "{}", "application/json"),
              403);
  ExpectError(c.Post("/api/v1/ingest", env_->Auth(env_->analyst_), "x", "text/csv"), 403);
}

TEST_P(ApiTest, QueryKeysOnlyForKeysThatAllowThem) {
  auto ok = Get("/api/v1/segments?format=csv&key=" + env_->viewer_, "");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  ExpectError(Get("/api/v1/segments?key=" + env_->admin_, ""), 401, "key");
}

TEST_P(ApiTest, SegmentsAreWhatTheCliKept) {
  const std::string cli_json =
      Tessera({"snapshots", "show", "latest", "--format", "json"}, env_->store_);
  auto r = Get("/api/v1/segments", env_->viewer_);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(r->body, cli_json);
  EXPECT_EQ(r->get_header_value("X-Tessera-Snapshot"), "3");
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");

  const std::string cli_csv =
      Tessera({"snapshots", "show", "2", "--format", "csv", "--lang", "de"}, env_->store_);
  auto csv = Get("/api/v1/segments?snapshot=2&format=csv&lang=de", env_->viewer_);
  ASSERT_EQ(csv->status, 200);
  EXPECT_EQ(csv->body, cli_csv);
  EXPECT_EQ(csv->get_header_value("Content-Type"), "text/csv; charset=utf-8");
  EXPECT_NE(csv->body.find("VIPs,champions,"), std::string::npos);
  EXPECT_EQ(Get("/api/v1/snapshots/2/segments?format=csv&lang=de", env_->viewer_)->body, cli_csv);

  const Json j = Body(r);
  ASSERT_EQ(j["segments"].size(), 9u);
  uint64_t customers = 0;
  double share = 0;
  for (const auto& s : j["segments"]) {
    customers += s["uuid_count"].get<uint64_t>();
    share += s["share_percent"].get<double>();
  }
  EXPECT_EQ(customers, j["customer_count"].get<uint64_t>());
  EXPECT_NEAR(share, 100.0, 1e-9);
}

TEST_P(ApiTest, CsvCellsNeverRunAsFormulas) {
  auto r = Get("/api/v1/segments?snapshot=1&format=csv", env_->viewer_);
  ASSERT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("\"'=HYPERLINK(\"\"x\"\")+Champions\",champions,"), std::string::npos)
      << r->body;
  auto p = Get("/api/v1/profiles?snapshot=1&format=csv&segment=champions", env_->analyst_);
  ASSERT_EQ(p->status, 200);
  EXPECT_NE(p->body.find(",champions,\"'=HYPERLINK("), std::string::npos);
  EXPECT_EQ(p->body.find(",=HYPERLINK"), std::string::npos);
}

TEST_P(ApiTest, BadParametersAreNamedNeverACrash) {
  struct Case {
    std::string path, parameter;
    int status = 400;
  };
  for (const Case& k : std::vector<Case>{
           {"/api/v1/profiles?limit=0", "limit"},
           {"/api/v1/profiles?limit=1001", "limit"},
           {"/api/v1/profiles?limit=ten", "limit"},
           {"/api/v1/profiles?limit=5x", "limit"},
           {"/api/v1/profiles?limit=99999999999999999999999", "limit"},
           {"/api/v1/profiles?r_min=6", "r_min"},
           {"/api/v1/profiles?m_max=0", "m_max"},
           {"/api/v1/profiles?segment=nobody", "segment"},
           {"/api/v1/profiles?cursor=%%%", "cursor"},
           {"/api/v1/profiles?cursor=bm9wZQ", "cursor"},
           {"/api/v1/profiles?cursor=My45OTk5OTk5", "cursor"},
           {"/api/v1/segments?lang=fr", "lang"},
           {"/api/v1/segments?format=xml", "format"},
           {"/api/v1/segments?dialect=de", "dialect"},
           {"/api/v1/segments?format=csv&dialect=fr", "dialect"},
           {"/api/v1/segments?snapshot=abc", "snapshot"},
           {"/api/v1/segments?snapshot=-1", "snapshot"},
           {"/api/v1/distributions?bins=0", "bins"},
           {"/api/v1/distributions?bins=201", "bins"},
           {"/api/v1/migration?from=1", "to"},
           {"/api/v1/migration?from=x&to=2", "from"},
           {"/api/v1/profiles/not-a-uuid", "uuid"},
           {"/api/v1/profiles/00000000-0000-8000-8000-000000000000?format=csv", "format"},
           {"/api/v1/profiles?predict=gg", "predict"},
           {"/api/v1/profiles?predict=bgnbd&horizon_months=soon", "horizon_months"},
           {"/api/v1/profiles?predict=bgnbd&horizon_months=1201", "horizon_months"},
           {"/api/v1/profiles?predict=pnbd&horizon_months=nan", "horizon_months"},
           {"/api/v1/segments?predict=bgnbd&discount=-0.1", "discount"},
           {"/api/v1/segments?predict=bgnbd&discount=5%25", "discount"},
           {"/api/v1/segments?horizon_months=6", "horizon_months"},
           {"/api/v1/profiles/00000000-0000-8000-8000-000000000000?discount=0.1", "discount"},
           {"/api/v1/segments?snapshot=999", "", 404},
           {"/api/v1/snapshots/999/segments", "", 404},
           {"/api/v1/migration?from=1&to=999", "", 404},
           {"/api/v1/profiles/00000000-0000-8000-8000-000000000000", "", 404},
           {"/api/v1/no-such-thing", "", 404},
       }) {
    SCOPED_TRACE(k.path);
    ExpectError(Get(k.path, env_->admin_), k.status, k.parameter);
  }
}

// A missing snapshot is a 404 that says so without showing where the store is; the dashboard
// comes with headers that keep it out of other sites' frames and its scripts its own.
TEST_P(ApiTest, ErrorsDoNotShowTheStoresLocationAndTheDashboardIsFramedByNoOne) {
  auto missing = Get("/api/v1/snapshots/999/segments", env_->viewer_);
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  const std::string location = env_->store_;
  const std::string file = location.substr(location.find_last_of('/') + 1);
  EXPECT_EQ(missing->body.find(location), std::string::npos) << missing->body;
  EXPECT_EQ(missing->body.find(file), std::string::npos) << missing->body;
  EXPECT_NE(missing->body.find("the store"), std::string::npos) << missing->body;
  auto page = Get("/", "");
  ASSERT_TRUE(page);
  if (page->status == 200) {
    EXPECT_EQ(page->get_header_value("X-Frame-Options"), "DENY");
    EXPECT_NE(page->get_header_value("Content-Security-Policy").find("frame-ancestors 'none'"),
              std::string::npos);
    EXPECT_NE(page->get_header_value("Content-Security-Policy").find("script-src 'self'"),
              std::string::npos);
    EXPECT_EQ(page->get_header_value("X-Content-Type-Options"), "nosniff");
  } else {
    EXPECT_NE(page->body.find("has no dashboard"), std::string::npos) << page->body;
  }
}

// ?predict= gives the numbers `tessera profiles|segments --predict` gives for the snapshot's
// as-of date and window: per profile (every page, and one by one) and averaged per segment.
TEST_P(ApiTest, PredictionsAreWhatTheCliComputes) {
  const std::vector<std::string> options = {
      "--as-of", "2025-06-30",       "--window", "12m",        "--predict", "--predict-model",
      "pnbd",    "--horizon-months", "6",        "--discount", "0.05"};
  const std::string query = "predict=pnbd&horizon_months=6&discount=0.05";
  std::vector<std::string> args = {"profiles", "--format", "jsonl"};
  args.insert(args.end(), options.begin(), options.end());
  std::map<std::string, Json> cli;
  std::istringstream lines(Tessera(args, env_->store_));
  for (std::string line; std::getline(lines, line);) {
    Json j = Json::parse(line);
    cli[j["uuid"].get<std::string>()] = j;
  }
  ASSERT_GT(cli.size(), 100u);
  size_t seen = 0, with_predictions = 0;
  std::string path = "/api/v1/profiles?limit=1000&" + query;
  while (!path.empty()) {
    auto r = Get(path, env_->analyst_);
    ASSERT_EQ(r->status, 200) << r->body;
    const Json page = Body(r);
    for (const auto& item : page["items"]) {
      const std::string uuid = item["uuid"];
      ASSERT_TRUE(cli.contains(uuid)) << uuid;
      const Json& want = cli[uuid];
      EXPECT_EQ(item["p_alive"], want["p_alive"]) << uuid;
      EXPECT_EQ(item["expected_purchases"], want["expected_purchases"]) << uuid;
      EXPECT_EQ(item["predicted_clv"], want["predicted_clv"]) << uuid;
      if (item["p_alive"].is_number()) ++with_predictions;
      ++seen;
    }
    path = page["next"].is_null() ? "" : page["next"].get<std::string>();
  }
  EXPECT_EQ(seen, cli.size());
  EXPECT_GT(with_predictions, cli.size() / 2);

  const std::string uuid = cli.begin()->first;
  const Json one = Body(Get("/api/v1/profiles/" + uuid + "?" + query, env_->analyst_));
  EXPECT_EQ(one["predicted_clv"], cli[uuid]["predicted_clv"]);
  EXPECT_EQ(one["p_alive"], cli[uuid]["p_alive"]);
  EXPECT_FALSE(Body(Get("/api/v1/profiles/" + uuid, env_->analyst_)).contains("p_alive"));

  args = {"segments", "--format", "json"};
  args.insert(args.end(), options.begin(), options.end());
  const Json cli_segments = Json::parse(Tessera(args, env_->store_));
  const Json segments = Body(Get("/api/v1/segments?" + query, env_->viewer_));
  EXPECT_EQ(segments["predictions"], cli_segments["predictions"]);
  ASSERT_EQ(segments["segments"].size(), cli_segments["segments"].size());
  for (size_t i = 0; i < segments["segments"].size(); ++i) {
    EXPECT_EQ(segments["segments"][i]["avg_p_alive"], cli_segments["segments"][i]["avg_p_alive"]);
    EXPECT_EQ(segments["segments"][i]["avg_predicted_clv"],
              cli_segments["segments"][i]["avg_predicted_clv"]);
  }
  EXPECT_FALSE(Body(Get("/api/v1/segments", env_->viewer_))["segments"][0].contains("avg_p_alive"));

  const auto csv = Get("/api/v1/profiles?format=csv&predict=bgnbd", env_->analyst_);
  EXPECT_EQ(csv->body.substr(0, csv->body.find('\r')),
            "uuid,segment_key,segment,r_score,f_score,m_score,order_count,clv,avg_order_value,"
            "recency_days,first_order,last_order,currency,p_alive,expected_purchases,"
            "predicted_clv");
  const auto seg_csv = Get("/api/v1/segments?format=csv&predict=bgnbd", env_->viewer_);
  EXPECT_NE(
      seg_csv->body.substr(0, seg_csv->body.find('\r')).find(",avg_p_alive,avg_predicted_clv"),
      std::string::npos);
}

TEST_P(ApiTest, PagingReachesEveryProfileOnce) {
  const Json segments = Body(Get("/api/v1/segments", env_->viewer_));
  const uint64_t expected = segments["customer_count"];
  std::set<std::string> seen;
  std::string next = "/api/v1/profiles?limit=97";
  int pages = 0;
  while (!next.empty()) {
    auto r = Get(next, env_->analyst_);
    ASSERT_EQ(r->status, 200) << next << " " << r->body;
    const Json j = Body(r);
    EXPECT_EQ(j["total"], expected);
    EXPECT_EQ(j["snapshot_id"], 3);
    for (const auto& item : j["items"]) {
      EXPECT_TRUE(seen.insert(item["uuid"].get<std::string>()).second) << "twice: " << item;
    }
    ++pages;
    if (j["next"].is_null()) {
      EXPECT_TRUE(j["next_cursor"].is_null());
      next.clear();
    } else {
      EXPECT_EQ(j["items"].size(), 97u);
      next = j["next"];
    }
    ASSERT_LT(pages, 1000);
  }
  EXPECT_EQ(seen.size(), expected);
  EXPECT_EQ(pages, static_cast<int>((expected + 96) / 97));
  // The CSV has the same customers, one row each.
  auto csv = Get("/api/v1/profiles?format=csv", env_->analyst_);
  EXPECT_EQ(static_cast<uint64_t>(std::count(csv->body.begin(), csv->body.end(), '\n')),
            expected + 1);
}

TEST_P(ApiTest, FiltersSelectTheMatchingProfiles) {
  const Json segments = Body(Get("/api/v1/segments?lang=de", env_->viewer_));
  for (const auto& s : segments["segments"]) {
    const std::string key = s["key"];
    auto r = Get("/api/v1/profiles?limit=1000&segment=" + key, env_->analyst_);
    ASSERT_EQ(r->status, 200);
    const Json j = Body(r);
    EXPECT_EQ(j["total"], s["uuid_count"]) << key;
    for (const auto& item : j["items"]) EXPECT_EQ(item["segment_key"], key);
  }
  // By German name, and by score ranges.
  auto vips = Body(Get("/api/v1/profiles?segment=VIPs&lang=de&limit=5", env_->analyst_));
  ASSERT_GT(vips["items"].size(), 0u) << vips.dump();
  EXPECT_EQ(vips["items"][0]["segment"], "VIPs");
  auto high = Body(Get("/api/v1/profiles?r_min=4&f_min=5&m_max=3&limit=1000", env_->analyst_));
  // The filter must select something for the checks below to mean anything.
  ASSERT_GT(high["items"].size(), 0u) << high.dump();
  EXPECT_EQ(high["total"], high["items"].size());
  for (const auto& item : high["items"]) {
    EXPECT_GE(item["r_score"].get<int>(), 4);
    EXPECT_EQ(item["f_score"].get<int>(), 5);
    EXPECT_LE(item["m_score"].get<int>(), 3);
  }
  // One profile by its pseudonym.
  const Json first = vips["items"][0];
  auto one =
      Get("/api/v1/profiles/" + first["uuid"].get<std::string>() + "?lang=de", env_->analyst_);
  ASSERT_EQ(one->status, 200);
  Json got = Body(one);
  EXPECT_EQ(got["snapshot_id"], 3);
  got.erase("snapshot_id");
  EXPECT_EQ(got, first);
}

TEST_P(ApiTest, DistributionsAndMigrationAddUp) {
  const Json d = Body(Get("/api/v1/distributions?bins=10", env_->viewer_));
  const uint64_t n = d["customer_count"];
  for (const char* h : {"clv", "order_count", "recency_days"}) {
    ASSERT_EQ(d[h]["counts"].size(), 10u) << h;
    EXPECT_EQ(d[h]["edges"].size(), 11u) << h;
    uint64_t sum = 0;
    for (const auto& c : d[h]["counts"]) sum += c.get<uint64_t>();
    EXPECT_EQ(sum, n) << h;
  }
  ASSERT_EQ(d["rf_grid"].size(), 25u);
  uint64_t grid = 0;
  for (const auto& c : d["rf_grid"]) grid += c["customers"].get<uint64_t>();
  EXPECT_EQ(grid, n);

  const Json m = Body(Get("/api/v1/migration", env_->viewer_));
  EXPECT_EQ(m["from"]["id"], 2);
  EXPECT_EQ(m["to"]["id"], 3);
  uint64_t into_newer = 0;
  for (const auto& move : m["moves"]) {
    if (!move["to_key"].is_null()) into_newer += move["customers"].get<uint64_t>();
  }
  EXPECT_EQ(into_newer, n);
  auto csv = Get("/api/v1/migration?from=2&to=3&format=csv", env_->viewer_);
  EXPECT_EQ(csv->body.substr(0, csv->body.find('\r')),
            "from_group,from_key,to_group,to_key,customers");
  EXPECT_EQ(Body(Get("/api/v1/snapshots", env_->viewer_)).size(), 3u);
}

TEST_P(ApiTest, CachingHeadersAndGzip) {
  auto first = Get("/api/v1/segments", env_->viewer_);
  const std::string etag = first->get_header_value("ETag");
  ASSERT_FALSE(etag.empty());
  EXPECT_FALSE(first->get_header_value("Last-Modified").empty());
  auto c = env_->Client();
  auto again = c.Get("/api/v1/segments",
                     {{"Authorization", "Bearer " + env_->viewer_}, {"If-None-Match", etag}});
  EXPECT_EQ(again->status, 304);
  EXPECT_TRUE(again->body.empty());
  // Another representation has another ETag.
  EXPECT_NE(Get("/api/v1/segments?lang=de", env_->viewer_)->get_header_value("ETag"), etag);

  httplib::Client raw("127.0.0.1", env_->port_);
  raw.set_decompress(false);
  auto gz = raw.Get("/api/v1/segments",
                    {{"Authorization", "Bearer " + env_->viewer_}, {"Accept-Encoding", "gzip"}});
  EXPECT_EQ(gz->get_header_value("Content-Encoding"), "gzip");
  ASSERT_GE(gz->body.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(gz->body[0]), 0x1f);  // gzip magic
  EXPECT_LT(gz->body.size(), first->body.size());
  // The compressed answer is kept beside the plain one: both say the same, every time.
  for (int i = 0; i < 2; ++i) {
    auto unzipped = c.Get("/api/v1/segments", {{"Authorization", "Bearer " + env_->viewer_},
                                               {"Accept-Encoding", "gzip"}});
    ASSERT_TRUE(unzipped);
    EXPECT_EQ(unzipped->get_header_value("Content-Encoding"), "gzip");
    EXPECT_EQ(unzipped->body, first->body);
  }
}

// Requests sent back to back on one connection, some answered from memory and some (store
// queries) by a worker thread, come back complete and in order, and the connection stays open.
TEST_P(ApiTest, OneConnectionAnswersPipelinedRequestsInOrder) {
  const int fd = ConnectTo(env_->port_);
  ASSERT_GE(fd, 0);
  const std::vector<std::string> paths = {"/api/v1/segments", "/api/v1/snapshots", "/api/v1/health",
                                          "/api/v1/loads", "/api/v1/segments?format=csv"};
  auto request = [&](const std::string& path) {
    return "GET " + path + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + env_->admin_ +
           "\r\n\r\n";
  };
  for (int round = 0; round < 2; ++round) {
    std::string all;
    for (const auto& p : paths) all += request(p);
    ASSERT_EQ(::send(fd, all.data(), all.size(), MSG_NOSIGNAL), static_cast<ssize_t>(all.size()));
    std::string in;
    std::vector<std::string> bodies;
    char buf[65536];
    while (bodies.size() < paths.size()) {
      const size_t head_end = in.find("\r\n\r\n");
      const size_t length_at = in.find("Content-Length: ");
      if (head_end != std::string::npos && length_at < head_end) {
        const size_t length = std::stoul(in.substr(length_at + 16));
        if (in.size() >= head_end + 4 + length) {
          EXPECT_EQ(in.substr(0, 15), "HTTP/1.1 200 OK") << in.substr(0, 200);
          bodies.push_back(in.substr(head_end + 4, length));
          in.erase(0, head_end + 4 + length);
          continue;
        }
      }
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      ASSERT_GT(n, 0) << "the server closed the connection after " << bodies.size() << " answers";
      in.append(buf, static_cast<size_t>(n));
    }
    EXPECT_TRUE(in.empty());
    for (size_t i = 0; i < paths.size(); ++i) {
      EXPECT_EQ(bodies[i], Get(paths[i], env_->admin_)->body) << paths[i];
    }
  }
  ::close(fd);
}

TEST_P(ApiTest, MetricsCountRequests) {
  Get("/api/v1/segments", env_->viewer_);
  // A request is counted just after its answer is sent, so the next request may come first:
  // ask again until it shows (or give up after ~2 s).
  const std::string counted =
      "tessera_http_requests_total{route=\"/api/v1/segments\",status=\"200\"}";
  auto m = Get("/metrics", env_->viewer_);
  for (int i = 0; i < 100 && m && m->body.find(counted) == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    m = Get("/metrics", env_->viewer_);
  }
  ASSERT_EQ(m->status, 200);
  EXPECT_NE(m->body.find(counted), std::string::npos);
  EXPECT_NE(m->body.find("tessera_http_request_duration_seconds_count"), std::string::npos);
  EXPECT_NE(m->body.find("tessera_latest_snapshot_id 3"), std::string::npos);
}

// Any bytes in a path (%ff decodes to an invalid UTF-8 byte) get a 404, never a 500, and
// unknown paths are one series in /metrics, which stays ASCII.
TEST_P(ApiTest, UnknownPathsAreOneMetricSeriesAndNeverA500) {
  auto raw = [&](const std::string& target) {
    const int fd = ConnectTo(env_->port_);
    EXPECT_GE(fd, 0);
    const std::string request =
        "GET " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    EXPECT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(request.size()));
    std::string answer;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) answer.append(buf, static_cast<size_t>(n));
    ::close(fd);
    return answer;
  };
  for (const std::string& target : {std::string("/api/v1/%ff"), std::string("/api/v1/%ff%fe/x"),
                                    std::string("/api/v1/%C0%AF"), std::string("/api/%00")}) {
    const std::string answer = raw(target);
    EXPECT_TRUE(answer.starts_with("HTTP/1.1 404")) << target << ": " << answer.substr(0, 300);
  }
  for (int i = 0; i < 30; ++i) {
    EXPECT_TRUE(raw("/api/v1/nope" + std::to_string(i)).starts_with("HTTP/1.1 404"));
  }
  // One series for them all, counting at least these 34 (other tests may add to it).
  const std::string unknown = "route=\"/api/ (unknown)\",status=\"404\"} ";
  auto count = [&](const std::string& body) -> long {
    const size_t at = body.find(unknown);
    return at == std::string::npos ? 0 : std::stol(body.substr(at + unknown.size()));
  };
  auto m = Get("/metrics", env_->viewer_);
  for (int i = 0; i < 100 && m && count(m->body) < 34; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    m = Get("/metrics", env_->viewer_);
  }
  ASSERT_TRUE(m);
  EXPECT_GE(count(m->body), 34) << m->body;
  EXPECT_EQ(m->body.find(unknown), m->body.rfind(unknown));
  EXPECT_EQ(m->body.find("nope"), std::string::npos);
  for (unsigned char ch : m->body) ASSERT_LT(ch, 0x80) << "metrics are not ASCII";
}

TEST_P(ApiTest, CorsOnlyForTheConfiguredOrigin) {
  auto c = env_->Client();
  auto pre = c.Options("/api/v1/segments", {{"Origin", "https://bi.example"},
                                            {"Access-Control-Request-Method", "GET"},
                                            {"Access-Control-Request-Headers", "authorization"}});
  ASSERT_TRUE(pre);
  EXPECT_EQ(pre->status, 204);
  EXPECT_EQ(pre->get_header_value("Access-Control-Allow-Origin"), "https://bi.example");
  EXPECT_NE(pre->get_header_value("Access-Control-Allow-Headers").find("Authorization"),
            std::string::npos);
  auto get = c.Get("/api/v1/segments", {{"Origin", "https://bi.example"},
                                        {"Authorization", "Bearer " + env_->viewer_}});
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->get_header_value("Access-Control-Allow-Origin"), "https://bi.example");
  auto other = c.Get("/api/v1/segments", {{"Origin", "https://evil.example"},
                                          {"Authorization", "Bearer " + env_->viewer_}});
  EXPECT_FALSE(other->has_header("Access-Control-Allow-Origin"));
}

// The tests below change the store: they run last.

TEST_P(ApiTest, UploadsLoadOrdersAndReportRejectsByLineWithoutValues) {
  const std::string csv =
      "order_id,customer_id,ordered_at,amount,currency\n"
      "API-1,api-customer-1,2025-06-01,12.50,EUR\n"
      "API-2,api-customer-2,not-a-date,3.00,EUR\n"
      "API-3,api-customer-1,2025-06-02,7.25,EUR\n";
  auto c = env_->Client();
  auto r = c.Post("/api/v1/ingest?name=june.csv", env_->Auth(env_->admin_), csv, "text/csv");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 201) << r->body;
  const Json j = Body(r);
  EXPECT_EQ(j["summary"]["orders_stored"], 2);
  EXPECT_EQ(j["rejects_total"], 1);
  EXPECT_EQ(j["rejects"][0]["file"], "june.csv");
  EXPECT_EQ(j["rejects"][0]["line"], 3);
  EXPECT_EQ(j["rejects"][0]["column_name"], "ordered_at");
  EXPECT_EQ(r->body.find("not-a-date"), std::string::npos);
  EXPECT_EQ(r->body.find("api-customer"), std::string::npos);
  EXPECT_EQ(r->body.find("tessera-upload"), std::string::npos);  // no temp path
  // Again: idempotent.
  auto again = c.Post("/api/v1/ingest?name=june.csv", env_->Auth(env_->admin_), csv, "text/csv");
  EXPECT_EQ(Body(again)["summary"]["orders_stored"], 0);
  auto loads = Body(Get("/api/v1/loads", env_->admin_));
  EXPECT_GE(loads.size(), 3u);
  // The upload's rejects are kept with its load, under the client's file name.
  const int64_t load_id = j["summary"]["load_id"];
  auto kept = Get("/api/v1/loads/" + std::to_string(load_id) + "/rejects", env_->admin_);
  ASSERT_EQ(kept->status, 200) << kept->body;
  ASSERT_EQ(Body(kept).size(), 1u);
  EXPECT_EQ(Body(kept)[0], j["rejects"][0]);
  auto kept_csv =
      Get("/api/v1/loads/" + std::to_string(load_id) + "/rejects?format=csv", env_->admin_);
  EXPECT_EQ(kept_csv->body,
            "file,line,column,column_name,reason_code,reason\r\njune.csv,3,3,ordered_at,"
            "bad_timestamp," +
                j["rejects"][0]["reason"].get<std::string>() + "\r\n");
  ExpectError(Get("/api/v1/loads/" + std::to_string(load_id) + "/rejects", env_->analyst_), 403);
  ExpectError(Get("/api/v1/loads/999/rejects", env_->admin_), 404);

  // A Shopify export without ?mapping=: read with the shopify preset, and the summary says so.
  const std::string shopify =
      "Name,Email,Financial Status,Currency,Total,Created at,Lineitem quantity,Lineitem price\n"
      "#77,shop-buyer@example.com,paid,EUR,24.90,2025-06-03 10:00:00 +0200,2,10.00\n";
  auto shop = c.Post("/api/v1/ingest?name=orders_export.csv", env_->Auth(env_->admin_), shopify,
                     "text/csv");
  ASSERT_EQ(shop->status, 201) << shop->body;
  EXPECT_EQ(Body(shop)["summary"]["mapping"], "shopify");
  EXPECT_EQ(Body(shop)["summary"]["mapping_detected"], true);
  EXPECT_EQ(Body(shop)["summary"]["purchases_stored"], 1);
  EXPECT_EQ(Body(shop)["summary"]["rows_read"], 1);
  EXPECT_EQ(j["summary"]["mapping"], "generic");
  EXPECT_EQ(j["summary"]["mapping_detected"], false);

  ExpectError(c.Post("/api/v1/ingest", env_->Auth(env_->admin_), "", "text/csv"), 400, "body");
  ExpectError(
      c.Post("/api/v1/ingest?mapping=../../etc/x", env_->Auth(env_->admin_), csv, "text/csv"), 400,
      "mapping");
  ExpectError(
      c.Post("/api/v1/ingest", env_->Auth(env_->admin_), "just,some\ncolumns,here\n", "text/csv"),
      400);
  // A file without a header row: its first row (a name, an e-mail) is not echoed as columns.
  auto headerless = c.Post("/api/v1/ingest", env_->Auth(env_->admin_),
                           "K7,Jane Doe,jane@example.de,2024-01-01,12.50\n", "text/csv");
  ExpectError(headerless, 400);
  EXPECT_NE(headerless->body.find("5 columns in a first row that looks like data"),
            std::string::npos)
      << headerless->body;
  for (const char* cell : {"K7", "Jane", "jane@example.de", "2024-01-01", "12.50"}) {
    EXPECT_EQ(headerless->body.find(cell), std::string::npos) << cell << ": " << headerless->body;
  }
  // Over --max-upload-mb 1: refused from the headers, before any of the body is read. (Sent
  // by hand: a client still writing the body may see the connection close before it reads
  // the answer.)
  const std::string answer = AnswerToHead(
      env_->port_, "POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                       env_->admin_ +
                       "\r\nContent-Type: text/csv\r\nContent-Length: 1200000\r\n\r\n");
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 413")) << answer;
  EXPECT_NE(answer.find("payload_too_large"), std::string::npos) << answer;
}

// The store keeps API keys as salted hashes: no key, and no secret of one, is in it.
// An order webhook needs no API key but its signature (sources/webhook.h); a valid one loads
// the order once, a missing or wrong one is 401 and loads nothing.
TEST_P(ApiTest, OrderWebhooksLoadOnlyWithAValidSignature) {
  const std::string secret_file = (env_->dir_ / "webhook.secret").string();
  std::ofstream(secret_file) << "whsec_api_test\n";
  const std::string source = GetParam() == Backend::kSqlite ? "hook-shop" : "hook-shop-pg";
  ::setenv("TESSERA_API_TEST_SHOP_TOKEN", "unused", 1);
  Tessera({"source", "add", "shopify", "--name", source, "--shop-url", "https://hook.myshopify.com",
           "--token-env", "TESSERA_API_TEST_SHOP_TOKEN", "--webhook-secret-file", secret_file},
          env_->store_);
  const std::string body =
      R"({"id": 77001, "name": "#77001", "email": "hook.buyer@example.com", )"
      R"("created_at": "2025-06-03T10:00:00+02:00", "updated_at": "2025-06-03T08:00:00Z", )"
      R"("currency": "EUR", "total_price": "42.00", "financial_status": "paid", "line_items": []})";
  // printf '%s' "$body" | openssl dgst -sha256 -hmac whsec_api_test -binary | base64
  const std::string signature = sources::WebhookSignature("whsec_api_test", body);
  const std::string path = "/api/v1/sources/" + source + "/webhook";
  auto c = env_->Client();
  ExpectError(c.Post(path, body, "application/json"), 401);
  auto bad = c.Post(path, {{"X-Shopify-Hmac-Sha256", "x" + signature.substr(1)}}, body,
                    "application/json");
  ExpectError(bad, 401);
  EXPECT_EQ(Body(bad)["error"]["code"], "bad_signature");
  EXPECT_EQ(bad->body.find("hook.buyer"), std::string::npos);
  auto ok = c.Post(path, {{"X-Shopify-Hmac-Sha256", signature}}, body, "application/json");
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->status, 200) << ok->body;
  EXPECT_EQ(Body(ok)["orders_stored"], 1);
  auto again = c.Post(path, {{"X-Shopify-Hmac-Sha256", signature}}, body, "application/json");
  EXPECT_EQ(Body(again)["orders_stored"], 0);
  // An unknown source is answered as a bad signature: anyone may call the route, and it must not
  // tell which sources exist.
  auto unknown = c.Post("/api/v1/sources/no-such-source/webhook",
                        {{"X-Shopify-Hmac-Sha256", signature}}, body, "application/json");
  ExpectError(unknown, 401);
  EXPECT_EQ(Body(unknown)["error"]["message"], Body(bad)["error"]["message"]);
  const Json doc = Body(Get("/api/v1/openapi.json", ""));
  EXPECT_TRUE(doc["paths"].contains("/api/v1/sources/{name}/webhook"));
}

// GET /api/v1/sources: every source with where it reads from and its last runs, as the store
// recorded them; where credentials are kept only to admins, the credentials never.
TEST_P(ApiTest, SourcesShowWhereTheyReadFromAndTheirLastRuns) {
  const std::string suffix = GetParam() == Backend::kSqlite ? "" : "-pg";
  const std::filesystem::path inbox = env_->dir_ / ("inbox" + suffix);
  std::filesystem::create_directories(inbox);
  const std::filesystem::path file = inbox / "orders.csv";
  std::ofstream(file) << "order_id,customer_id,email,ordered_at,amount\n"
                         "api-src-1,SRC1,src.buyer@example.com,2025-06-01,12.50\n";
  std::filesystem::last_write_time(
      file, std::filesystem::file_time_type::clock::now() - std::chrono::minutes(5));
  const std::string folder = "exports" + suffix;
  Tessera({"source", "add", "folder", "--name", folder, "--dir", inbox.string()}, env_->store_);
  // The key by name: TESSERA_KEY is the last environment's set up (each backend has its own).
  Tessera({"source", "run", folder, "--quiet", "--key", env_->key_}, env_->store_);
  ::setenv("TESSERA_API_TEST_LIST_TOKEN", "shpat_never_shown", 1);
  const std::string shop = "listed-shop" + suffix;
  Tessera({"source", "add", "shopify", "--name", shop, "--shop-url", "https://listed.myshopify.com",
           "--token-env", "TESSERA_API_TEST_LIST_TOKEN"},
          env_->store_);

  auto find = [](const Json& body, const std::string& name) {
    for (const Json& s : body["sources"]) {
      if (s["name"] == name) return s;
    }
    return Json();
  };
  auto analyst = Get("/api/v1/sources", env_->analyst_);
  ASSERT_EQ(analyst->status, 200) << analyst->body;
  EXPECT_EQ(analyst->body.find("shpat_never_shown"), std::string::npos);
  EXPECT_EQ(analyst->body.find("TESSERA_API_TEST_LIST_TOKEN"), std::string::npos);
  EXPECT_EQ(analyst->body.find("src.buyer"), std::string::npos);
  const Json f = find(Body(analyst), folder);
  ASSERT_TRUE(f.is_object());
  EXPECT_EQ(f["kind"], "folder");
  EXPECT_EQ(f["location"], inbox.string());
  EXPECT_FALSE(f.contains("credentials_from"));
  ASSERT_EQ(f["runs"].size(), 1u);
  const Json& run = f["runs"][0];
  EXPECT_EQ(run["outcome"], "ok") << run.dump();
  EXPECT_EQ(run["trigger"], "pull");
  EXPECT_EQ(run["orders_stored"], 1);
  EXPECT_EQ(run["rejects"], 0);
  EXPECT_EQ(run["files_loaded"], 1);
  EXPECT_TRUE(run["error"].is_null());
  EXPECT_TRUE(run["finished"].is_string());
  const Json sa = find(Body(analyst), shop);
  ASSERT_TRUE(sa.is_object());
  EXPECT_EQ(sa["kind"], "shopify");
  EXPECT_EQ(sa["location"], "https://listed.myshopify.com");
  EXPECT_FALSE(sa.contains("credentials_from"));
  EXPECT_TRUE(sa["runs"].empty());

  auto admin = Get("/api/v1/sources", env_->admin_);
  ASSERT_EQ(admin->status, 200);
  EXPECT_EQ(admin->body.find("shpat_never_shown"), std::string::npos);
  EXPECT_EQ(find(Body(admin), shop)["credentials_from"]["token"], "$TESSERA_API_TEST_LIST_TOKEN");
  ExpectError(Get("/api/v1/sources", env_->viewer_), 403);
}

TEST_P(ApiTest, TheStoreHoldsNoApiKeySecret) {
  std::string bytes;
  if (GetParam() == Backend::kSqlite) {
    for (const char* suffix : {"", "-wal"}) {
      std::ifstream in(env_->store_ + suffix, std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      bytes += ss.str();
    }
  } else {
    auto rows = store::internal::PostgresQueryValue(
        env_->store_, "SELECT string_agg(t::text, '|') FROM api_keys t");
    ASSERT_TRUE(rows.ok()) << rows.status().ToString();
    bytes = *rows;
  }
  ASSERT_GT(bytes.size(), 100u);
  for (const std::string& key : {env_->viewer_, env_->analyst_, env_->admin_}) {
    const std::string secret = key.substr(key.rfind('_') + 1);
    ASSERT_GE(secret.size(), 40u);
    EXPECT_EQ(bytes.find(secret.substr(0, 16)), std::string::npos) << "a secret is in the store";
    // The public id is, as the record's name.
    EXPECT_NE(bytes.find(key.substr(4, 16)), std::string::npos);
  }
}

// More slow request bodies than there are worker threads (16), sent with a viewer key: the
// bodies are read on the event loops, so every route keeps answering, a 401 too.
TEST_P(ApiTest, SlowRequestBodiesDoNotFreezeTheApi) {
  std::vector<int> slow;
  for (int i = 0; i < 40; ++i) {
    const int fd = ConnectTo(env_->port_);
    ASSERT_GE(fd, 0);
    const std::string head =
        "POST /api/v1/audiences/count HTTP/1.1\r\nHost: x\r\n"
        "Authorization: Bearer " +
        env_->viewer_ +
        "\r\nContent-Type: application/json\r\nContent-Length: 900\r\n\r\n"
        "{\"expression\": ";
    ASSERT_EQ(::send(fd, head.data(), head.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(head.size()));
    slow.push_back(fd);
  }
  auto c = env_->Client();
  c.set_read_timeout(5, 0);
  auto seg = c.Get("/api/v1/segments", env_->Auth(env_->viewer_));
  ASSERT_TRUE(seg) << "no answer while slow bodies are pending";
  EXPECT_EQ(seg->status, 200);
  auto loads = c.Get("/api/v1/loads", env_->Auth(env_->admin_));
  ASSERT_TRUE(loads);
  EXPECT_EQ(loads->status, 200);
  ExpectError(c.Get("/api/v1/snapshots", env_->Auth("tsk_0000000000000000_nonsense")), 401);
  // Authentication schemes are case-insensitive.
  auto lower = c.Get("/api/v1/snapshots", {{"Authorization", "bearer " + env_->viewer_}});
  ASSERT_TRUE(lower);
  EXPECT_EQ(lower->status, 200) << lower->body;
  // A JSON body declared over the limit (1 MiB) is refused from its head, before it is sent.
  {
    const std::string answer =
        AnswerToHead(env_->port_,
                     "POST /api/v1/audiences/count HTTP/1.1\r\nHost: x\r\n"
                     "Authorization: Bearer " +
                         env_->viewer_ + "\r\nContent-Length: 2097152\r\n\r\n");
    EXPECT_TRUE(answer.starts_with("HTTP/1.1 413")) << answer;
    EXPECT_NE(answer.find("payload_too_large"), std::string::npos) << answer;
  }
  for (int fd : slow) ::close(fd);
  auto metrics = c.Get("/metrics", env_->Auth(env_->viewer_));
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("tessera_http_refused_total{reason=\"too_large\"} 1"),
            std::string::npos)
      << metrics->body;
}

// A second server on a port in use is refused (cpp-httplib's SO_REUSEPORT would let it share
// the port, and the kernel split requests between two stores).
TEST_P(ApiTest, AServerOnAPortInUseIsRefused) {
  const std::string cmd = std::string("'" TESSERA_BINARY "' serve --store '") + env_->store_ +
                          "' --listen 127.0.0.1:" + std::to_string(env_->port_) + " 2>&1";
  std::FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = ::pclose(p);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << out;
  EXPECT_NE(out.find("address in use"), std::string::npos) << out;
  auto health = env_->Client().Get("/api/v1/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

TEST_P(ApiTest, RecomputationKeepsANewSnapshotThatReadsSeeAtOnce) {
  auto c = env_->Client();
  ExpectError(c.Post("/api/v1/snapshots", env_->Auth(env_->admin_), "{\"window\": \"12x\"}",
                     "application/json"),
              400, "window");
  ExpectError(c.Post("/api/v1/snapshots", env_->Auth(env_->admin_), "[1, 2]", "application/json"),
              400, "body");
  ExpectError(c.Post("/api/v1/snapshots", env_->Auth(env_->admin_), "{\"colour\": \"red\"}",
                     "application/json"),
              400, "colour");
  auto r = c.Post("/api/v1/snapshots", env_->Auth(env_->admin_),
                  "{\"window\": \"24m\", \"as_of\": \"2025-06-30\"}", "application/json");
  ASSERT_EQ(r->status, 201) << r->body;
  EXPECT_EQ(Body(r)["snapshot_id"], 4);
  EXPECT_EQ(Body(r)["window"]["length"], "24m");
  auto seg = Get("/api/v1/segments", env_->viewer_);
  EXPECT_EQ(seg->get_header_value("X-Tessera-Snapshot"), "4");
  EXPECT_EQ(seg->body, r->body);
}

// GET /api/v1/segments/definitions gives the rules the snapshot was made with, as the scoring
// applied them: every customer is in the first segment whose returned ranges hold its scores,
// and every score's band holds the values of the customers with that score.
TEST_P(ApiTest, SegmentDefinitionsAreTheRulesTheScoringApplied) {
  auto r = Get("/api/v1/segments/definitions?snapshot=3&lang=de", env_->viewer_);
  ASSERT_EQ(r->status, 200) << r->body;
  const Json d = Body(r);
  EXPECT_EQ(d["snapshot_id"], 3);
  EXPECT_EQ(d["rules_recorded"], true);
  EXPECT_EQ(d["matching"], "first");
  // The shipped rule file, read here on its own.
  auto shipped =
      analytics::SegmentRules::LoadFile(std::string(TESSERA_SOURCE_DIR) + "/config/segments.toml");
  ASSERT_TRUE(shipped.ok()) << shipped.status().ToString();
  const auto& rules = shipped->rules();
  ASSERT_EQ(d["segments"].size(), rules.size());
  const Json counts = Body(Get("/api/v1/segments?snapshot=3", env_->viewer_));
  for (size_t i = 0; i < rules.size(); ++i) {
    const Json& s = d["segments"][i];
    SCOPED_TRACE(rules[i].key);
    EXPECT_EQ(s["position"], i + 1);
    EXPECT_EQ(s["key"], rules[i].key);
    EXPECT_EQ(s["group"], rules[i].name_de);
    EXPECT_EQ(s["name_en"], rules[i].name_en);
    EXPECT_EQ(s["name_de"], rules[i].name_de);
    EXPECT_EQ(s["recency"], Json({{"min", rules[i].recency.lo}, {"max", rules[i].recency.hi}}));
    EXPECT_EQ(s["frequency"],
              Json({{"min", rules[i].frequency.lo}, {"max", rules[i].frequency.hi}}));
    EXPECT_EQ(s["monetary"], Json({{"min", rules[i].monetary.lo}, {"max", rules[i].monetary.hi}}));
    EXPECT_EQ(s["uuid_count"], counts["segments"][i]["uuid_count"]);
    EXPECT_FALSE(s["rule_en"].get<std::string>().empty());
    EXPECT_FALSE(s["rule_de"].get<std::string>().empty());
  }
  EXPECT_EQ(d["segments"][6]["unless"], Json::array({"cant_lose"}));

  // Every customer of the snapshot, as the profiles route gives them.
  uint64_t seen = 0;
  for (std::string next = "/api/v1/profiles?snapshot=3&limit=1000"; !next.empty();) {
    const Json page = Body(Get(next, env_->analyst_));
    for (const auto& p : page["items"]) {
      const int scores[] = {p["r_score"], p["f_score"], p["m_score"]};
      std::string first;
      for (const auto& s : d["segments"]) {
        bool holds = true;
        int k = 0;
        for (const char* dim : {"recency", "frequency", "monetary"}) {
          holds = holds && scores[k] >= s[dim]["min"].get<int>() &&
                  scores[k] <= s[dim]["max"].get<int>();
          ++k;
        }
        if (holds) {
          first = s["key"].get<std::string>();
          break;
        }
      }
      EXPECT_EQ(p["segment_key"], first) << p.dump();
      const double values[] = {p["recency_days"].get<double>(), p["order_count"].get<double>(),
                               std::stod(p["clv"].get<std::string>())};
      for (int k = 0; k < 3; ++k) {
        const char* dims[] = {"recency", "frequency", "monetary"};
        const Json& band = d["scores"][dims[k]]["bands"][scores[k] - 1];
        auto number = [](const Json& v) {
          return v.is_string() ? std::stod(v.get<std::string>()) : v.get<double>();
        };
        EXPECT_GE(values[k], number(band["min"])) << dims[k] << " " << p.dump();
        EXPECT_LE(values[k], number(band["max"])) << dims[k] << " " << p.dump();
      }
      ++seen;
    }
    next = page["next"].is_null() ? "" : page["next"].get<std::string>();
  }
  EXPECT_EQ(seen, d["customer_count"].get<uint64_t>());

  // A snapshot made with a rule file of its own shows that file's names; CSV as other routes.
  const Json own = Body(Get("/api/v1/segments/definitions?snapshot=1", env_->viewer_));
  EXPECT_EQ(own["segments"][0]["name_en"], "=HYPERLINK(\"x\")+Champions");
  auto csv = Get("/api/v1/segments/definitions?snapshot=3&format=csv", env_->viewer_);
  ASSERT_EQ(csv->status, 200);
  EXPECT_EQ(csv->get_header_value("Content-Type"), "text/csv; charset=utf-8");
  EXPECT_EQ(csv->body.substr(0, csv->body.find('\r')),
            "position,key,group,name_en,name_de,recency_min,recency_max,frequency_min,"
            "frequency_max,monetary_min,monetary_max,unless,uuid_count,rule");
  EXPECT_NE(csv->body.find("\r\n1,champions,Champions,Champions,VIPs,4,5,4,5,4,5,,"),
            std::string::npos)
      << csv->body;
  auto own_csv = Get("/api/v1/segments/definitions?snapshot=1&format=csv", env_->viewer_);
  EXPECT_NE(own_csv->body.find(",\"'=HYPERLINK("), std::string::npos) << own_csv->body;
  auto german = Get("/api/v1/segments/definitions?snapshot=3&format=csv&dialect=de", env_->viewer_);
  EXPECT_TRUE(german->body.starts_with("\xEF\xBB\xBFPosition;Schlüssel;Segment;")) << german->body;
  EXPECT_NE(german->body.find("\r\n1;champions;VIPs;Champions;VIPs;4;5;4;5;4;5;;"),
            std::string::npos);
  ExpectError(Get("/api/v1/segments/definitions?format=xml", env_->viewer_), 400, "format");
  ExpectError(Get("/api/v1/segments/definitions?snapshot=999", env_->viewer_), 404);
  ExpectError(Get("/api/v1/segments/definitions", ""), 401);
  const Json doc = Body(Get("/api/v1/openapi.json", ""));
  EXPECT_TRUE(doc["paths"].contains("/api/v1/segments/definitions"));
}

// ?sort= orders the profiles across pages: every customer once, in the field's order either
// way, equal values in customer order; CSV in the same order; a bad sort or a cursor of another
// order is a 400 that says what to send.
TEST_P(ApiTest, ProfilesSortAcrossPagesAndEqualValuesStayInCustomerOrder) {
  // Customer order: the listing without sort.
  std::map<std::string, size_t> place;
  for (std::string next = "/api/v1/profiles?snapshot=3&limit=1000"; !next.empty();) {
    const Json page = Body(Get(next, env_->analyst_));
    for (const auto& p : page["items"]) place.emplace(p["uuid"].get<std::string>(), place.size());
    next = page["next"].is_null() ? "" : page["next"].get<std::string>();
  }
  auto value = [](const Json& p, const std::string& field) {
    const Json& v = p[field];
    return v.is_string() ? (field.ends_with("order")
                                ? static_cast<double>(std::stoll(v.get<std::string>().substr(0, 4) +
                                                                 v.get<std::string>().substr(5, 2) +
                                                                 v.get<std::string>().substr(8, 2)))
                                : std::stod(v.get<std::string>()))
                         : v.get<double>();
  };
  for (const std::string sort : {"-clv", "clv", "order_count", "-order_count", "recency_days",
                                 "-avg_order_value", "-last_order", "r_score"}) {
    for (const std::string filter : {"", "&segment=loyal"}) {
      SCOPED_TRACE(sort + filter);
      const std::string field = sort[0] == '-' ? sort.substr(1) : sort;
      const bool down = sort[0] == '-';
      std::vector<Json> listed;
      uint64_t total = 0;
      int pages = 0;
      for (std::string next = "/api/v1/profiles?snapshot=3&limit=97&sort=" + sort + filter;
           !next.empty(); ++pages) {
        auto r = Get(next, env_->analyst_);
        ASSERT_EQ(r->status, 200) << next << " " << r->body;
        const Json page = Body(r);
        EXPECT_EQ(page["sort"], sort);
        total = page["total"];
        for (const auto& p : page["items"]) listed.push_back(p);
        next = page["next"].is_null() ? "" : page["next"].get<std::string>();
        ASSERT_LT(pages, 100);
      }
      ASSERT_EQ(listed.size(), total);
      EXPECT_EQ(pages, static_cast<int>((total + 96) / 97));
      std::set<std::string> once;
      for (size_t i = 0; i < listed.size(); ++i) {
        EXPECT_TRUE(once.insert(listed[i]["uuid"].get<std::string>()).second);
        if (!filter.empty()) EXPECT_EQ(listed[i]["segment_key"], "loyal");
        if (i == 0) continue;
        const double a = value(listed[i - 1], field), b = value(listed[i], field);
        if (a == b) {
          EXPECT_LT(place.at(listed[i - 1]["uuid"].get<std::string>()),
                    place.at(listed[i]["uuid"].get<std::string>()))
              << "a tie out of customer order at " << i;
        } else {
          EXPECT_EQ(down ? a > b : a < b, true)
              << "out of order at " << i << ": " << a << ", " << b;
        }
      }
      if (filter.empty()) EXPECT_EQ(listed.size(), place.size());
      // The CSV has the same rows in the same order.
      auto csv =
          Get("/api/v1/profiles?snapshot=3&format=csv&sort=" + sort + filter, env_->analyst_);
      ASSERT_EQ(csv->status, 200);
      std::istringstream lines(csv->body);
      std::string line;
      std::getline(lines, line);  // the header
      for (size_t i = 0; std::getline(lines, line); ++i) {
        ASSERT_LT(i, listed.size());
        EXPECT_EQ(line.substr(0, 36), listed[i]["uuid"].get<std::string>()) << i;
      }
    }
  }
  auto bad = Get("/api/v1/profiles?sort=CLV", env_->analyst_);
  ExpectError(bad, 400, "sort");
  for (const char* allowed :
       {"clv, -clv", "order_count, -order_count", "recency_days", "-last_order"}) {
    EXPECT_NE(bad->body.find(allowed), std::string::npos) << bad->body;
  }
  // A cursor continues the order it was given out with, and nothing else.
  const Json first = Body(Get("/api/v1/profiles?snapshot=3&limit=5&sort=-clv", env_->analyst_));
  const std::string cursor = first["next_cursor"];
  ExpectError(Get("/api/v1/profiles?limit=5&sort=clv&cursor=" + cursor, env_->analyst_), 400,
              "cursor");
  auto plain = Get("/api/v1/profiles?limit=5&cursor=" + cursor, env_->analyst_);
  ExpectError(plain, 400, "cursor");
  EXPECT_NE(plain->body.find("sort=-clv"), std::string::npos) << plain->body;
  const Json unsorted = Body(Get("/api/v1/profiles?snapshot=3&limit=5", env_->analyst_));
  ExpectError(
      Get("/api/v1/profiles?limit=5&sort=clv&cursor=" + unsorted["next_cursor"].get<std::string>(),
          env_->analyst_),
      400, "cursor");
  EXPECT_EQ(
      Body(Get("/api/v1/profiles?limit=5&sort=-clv&cursor=" + cursor, env_->analyst_))["items"]
          .size(),
      5u);
}

}  // namespace
}  // namespace tessera::server
