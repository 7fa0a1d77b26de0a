// The collaboration routes (/api/v1/collab/...) against real `tessera serve` processes on
// loopback, over stores made by the real CLI: a party (Frischmarkt) with a collaboration file,
// a grant it issued to its partner (Telco, a second store with its own key) and one it
// received from it, ε spent from the budget, and audit entries. Every route with every role,
// and the error cases: no party, no collaboration file, no owner's key, bad specs, forged and
// misaddressed grants, bad paging, a damaged audit log. Runs on SQLite, and on PostgreSQL when
// a test server is set.

#include <gtest/gtest.h>
#include <httplib.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "server/serve_test_support.h"
#include "store/test_stores.h"
#include "tessera/collab/audit_log.h"
#include "tessera/collab/budget_ledger.h"
#include "tessera/collab/party.h"
#include "tessera/common/civil_time.h"
#include "tessera/server/store_tables.h"

namespace tessera::server {
namespace {

using Json = nlohmann::json;
using store::Backend;
using test_support::Tessera;
using test_support::Trim;

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs a shell command; returns its exit status and (in *output) its stdout and stderr.
int RunCommand(const std::string& command, std::string* output) {
  std::FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  output->clear();
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) output->append(buf, n);
  const int rc = ::pclose(p);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// Two parties with their stores and keys, a third (Brand) known by its id only, the
// collaboration file naming all three, grants both ways, and three servers over Frischmarkt's
// store: with the collaboration file and the owner's key (full_), with neither (bare_), and one
// over a store that is no party (plain_).
class Environment {
 public:
  explicit Environment(Backend backend) {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("tessera_collab_api_" + std::to_string(::getpid()) +
            (backend == Backend::kSqlite ? "_s" : "_p"));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    store_ = stores_.NewLocation(backend, "grocer.db");
    partner_store_ = stores_.NewLocation(backend, "telco.db");
    plain_store_ = stores_.NewLocation(backend, "plain.db");
    key_ = (dir_ / "grocer.key").string();
    partner_key_ = (dir_ / "telco.key").string();
    Tessera({"keys", "init", "--key", key_}, store_);
    Tessera({"keys", "init", "--key", partner_key_}, partner_store_);
    self_id_ = Json::parse(
        Tessera({"party", "init", "--name", "Frischmarkt", "--key", key_, "--format", "json"},
                store_))["party_id"];
    partner_id_ = Json::parse(
        Tessera({"party", "init", "--name", "Telco", "--key", partner_key_, "--format", "json"},
                partner_store_))["party_id"];
    std::array<uint8_t, 32> seed{};
    seed.fill(7);
    brand_id_ = collab::PartyKey::FromSeed(seed)->id().ToString();
    collaboration_ = (dir_ / "collab.toml").string();
    std::ofstream(collaboration_) << "[[party]]\nname = \"Frischmarkt\"\nid = \"" << self_id_
                                  << "\"\nendpoint = \"http://127.0.0.1:1\"\n"
                                     "roles = [\"data_owner\", \"worker_host\"]\n\n"
                                     "[[party]]\nname = \"Telco\"\nid = \""
                                  << partner_id_
                                  << "\"\nendpoint = \"https://telco.example:8443\"\n"
                                     "roles = [\"data_owner\"]\n\n"
                                     "[[party]]\nname = \"Brand\"\nid = \""
                                  << brand_id_
                                  << "\"\nendpoint = \"https://brand.example\"\n"
                                     "roles = [\"analyst\"]\n";
    // Frischmarkt allows Telco counts with noise; Telco allows Frischmarkt an overlap.
    issued_document_ = Trim(Tessera({"grant",           "create",
                                     "--partner",       "Telco",
                                     "--collaboration", collaboration_,
                                     "--purpose",       "audience_counts",
                                     "--outputs",       "cell_counts,audience_count",
                                     "--fields",        "age_band,region",
                                     "--k-min",         "50",
                                     "--epsilon",       "0.5",
                                     "--budget",        "3",
                                     "--valid-for",     "6m",
                                     "--key",           key_},
                                    store_));
    issued_id_ = Json::parse(issued_document_)["grant_id"];
    const std::string received = (dir_ / "from_telco.json").string();
    Tessera({"grant", "create", "--partner", "Frischmarkt", "--collaboration", collaboration_,
             "--purpose", "overlap", "--outputs", "overlap_size", "--fields", "tariff",
             "--valid-for", "90d", "--key", partner_key_, "--out", received},
            partner_store_);
    received_id_ = Json::parse(ReadFile(received))["grant_id"];
    Tessera({"grant", "import", received, "--collaboration", collaboration_, "--key", key_},
            store_);
    {
      // Telco spent 0.5 of this month's budget; three requests are in the audit log.
      auto s = OpenStore(store_, false);
      EXPECT_TRUE(s.ok()) << s.status().ToString();
      const int64_t now = std::time(nullptr);
      collab::BudgetLedger ledger((*s)->db());
      auto r = ledger.Reserve(partner_id_, issued_id_, 500'000, 3'000'000, now);
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_TRUE(ledger.Commit(r->id).ok());
      collab::AuditLog log((*s)->db());
      collab::AuditRecord ok{now - 60,
                             partner_id_,
                             issued_id_,
                             "audience_counts",
                             *collab::QueryHash("count 1"),
                             4,
                             500'000,
                             collab::AttestationMode::kSimulated,
                             collab::AuditOutcome::kOk,
                             ""};
      collab::AuditRecord refused = ok;
      refused.time = now - 30;
      refused.query_hash = *collab::QueryHash("count 2");
      refused.cells_returned = 0;
      refused.epsilon_micro = 0;
      refused.attestation = collab::AttestationMode::kNone;
      refused.outcome = collab::AuditOutcome::kRefused;
      refused.reason = "budget_exhausted";
      collab::AuditRecord failed = refused;
      failed.time = now - 10;
      failed.outcome = collab::AuditOutcome::kFailed;
      failed.reason = "partner_unreachable";
      for (const auto& record : {ok, refused, failed}) {
        auto e = log.Append(record);
        EXPECT_TRUE(e.ok()) << e.status().ToString();
      }
      // A store that is no party, for the 404s.
      auto plain = OpenStore(plain_store_, true);
      EXPECT_TRUE(plain.ok()) << plain.status().ToString();
    }
    viewer_ = Trim(Tessera({"keys", "api", "create", "--role", "viewer"}, store_));
    analyst_ = Trim(Tessera({"keys", "api", "create", "--role", "analyst"}, store_));
    admin_ = Trim(Tessera({"keys", "api", "create", "--role", "admin"}, store_));
    plain_admin_ = Trim(Tessera({"keys", "api", "create", "--role", "admin"}, plain_store_));
    full_.Start({"--store", store_, "--key", key_, "--with-key", "--collaboration", collaboration_,
                 "--threads", "8"},
                (dir_ / "full.log").string());
    bare_.Start({"--store", store_, "--threads", "8"}, (dir_ / "bare.log").string());
    plain_.Start({"--store", plain_store_, "--collaboration", collaboration_, "--threads", "8"},
                 (dir_ / "plain.log").string());
  }

  store::TestStores stores_;
  std::filesystem::path dir_;
  std::string store_, partner_store_, plain_store_, key_, partner_key_, collaboration_;
  std::string self_id_, partner_id_, brand_id_;
  std::string issued_document_, issued_id_, received_id_;
  std::string viewer_, analyst_, admin_, plain_admin_;
  test_support::ServeProcess full_, bare_, plain_;
};

class CollabApiTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    TESSERA_SKIP_WITHOUT_POSTGRES(GetParam());
    auto& e = envs_[GetParam()];
    if (!e) e = std::make_unique<Environment>(GetParam());
    env_ = e.get();
  }
  static void TearDownTestSuite() { envs_.clear(); }

  static httplib::Headers Auth(const std::string& key) {
    return {{"Authorization", "Bearer " + key}};
  }
  httplib::Result Get(const std::string& path, const std::string& key) {
    return Get(env_->full_, path, key);
  }
  static httplib::Result Get(const test_support::ServeProcess& server, const std::string& path,
                             const std::string& key) {
    auto c = server.Client();
    return key.empty() ? c.Get(path.c_str()) : c.Get(path.c_str(), Auth(key));
  }
  httplib::Result Post(const std::string& path, const std::string& key, const std::string& body) {
    return Post(env_->full_, path, key, body);
  }
  static httplib::Result Post(const test_support::ServeProcess& server, const std::string& path,
                              const std::string& key, const std::string& body) {
    auto c = server.Client();
    return key.empty() ? c.Post(path.c_str(), body, "application/json")
                       : c.Post(path.c_str(), Auth(key), body, "application/json");
  }
  static Json Body(const httplib::Result& r) { return Json::parse(r->body); }
  // Expects a JSON error with this status, code (when given) and parameter (when given).
  static Json ExpectError(const httplib::Result& r, int status, const std::string& code = "",
                          const std::string& parameter = "") {
    if (!r) {
      ADD_FAILURE() << "no response";
      return Json();
    }
    EXPECT_EQ(r->status, status) << r->body;
    const Json j = Json::parse(r->body, nullptr, false);
    if (j.is_discarded() || !j.contains("error")) {
      ADD_FAILURE() << "not a JSON error: " << r->body;
      return Json();
    }
    EXPECT_EQ(j["error"]["status"], status);
    EXPECT_FALSE(j["error"]["message"].get<std::string>().empty());
    if (!code.empty()) {
      EXPECT_EQ(j["error"]["code"], code) << r->body;
    }
    if (!parameter.empty()) {
      EXPECT_EQ(j["error"].value("parameter", ""), parameter) << r->body;
    }
    return j["error"];
  }

  // The stored grants as `tessera grant list --format json` prints them, by id.
  std::map<std::string, Json> CliGrants() {
    std::map<std::string, Json> out;
    for (const Json& g : Json::parse(Tessera({"grant", "list", "--format", "json"}, env_->store_)))
      out[g["grant_id"]] = g;
    return out;
  }

  // A grant Frischmarkt issues to Telco through the API; its JSON.
  Json CreateGrant(const std::string& purpose = "overlap") {
    auto r = Post("/api/v1/collab/grants", env_->admin_,
                  Json{{"partner", "Telco"},
                       {"purpose", purpose},
                       {"output_kinds", {"overlap_size"}},
                       {"valid_for", "30d"}}
                      .dump());
    EXPECT_TRUE(r && r->status == 201) << (r ? r->body : "no response");
    return r ? Body(r) : Json();
  }

  static inline std::map<Backend, std::unique_ptr<Environment>> envs_;
  Environment* env_ = nullptr;
};

INSTANTIATE_TEST_SUITE_P(Backends, CollabApiTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         store::BackendName);

TEST_P(CollabApiTest, EveryRouteNeedsAKeyOfItsRole) {
  struct Case {
    std::string path;
    int viewer, analyst, admin;
  };
  const std::string grant = "/api/v1/collab/grants/" + env_->issued_id_;
  for (const Case& k : std::vector<Case>{{"/api/v1/collab/party", 200, 200, 200},
                                         {"/api/v1/collab/partners", 200, 200, 200},
                                         {"/api/v1/collab/grants", 403, 200, 200},
                                         {grant, 403, 200, 200},
                                         {"/api/v1/collab/audit", 403, 403, 200},
                                         {"/api/v1/collab/audit/verify", 403, 403, 200}}) {
    SCOPED_TRACE(k.path);
    ExpectError(Get(k.path, ""), 401, "unauthorized");
    ExpectError(Get(k.path, "tsk_0000000000000000_nonsense"), 401, "unauthorized");
    EXPECT_EQ(Get(k.path, env_->viewer_)->status, k.viewer);
    EXPECT_EQ(Get(k.path, env_->analyst_)->status, k.analyst);
    EXPECT_EQ(Get(k.path, env_->admin_)->status, k.admin);
    if (k.viewer == 403) ExpectError(Get(k.path, env_->viewer_), 403, "forbidden");
    if (k.analyst == 403) ExpectError(Get(k.path, env_->analyst_), 403, "forbidden");
  }
  // The writes are the admin's: refused from the others before anything is read or written.
  for (const std::string& path : {std::string("/api/v1/collab/grants"),
                                  std::string("/api/v1/collab/grants/import"), grant + "/revoke"}) {
    SCOPED_TRACE(path);
    ExpectError(Post(path, "", "{}"), 401, "unauthorized");
    ExpectError(Post(path, env_->viewer_, "{}"), 403, "forbidden");
    ExpectError(Post(path, env_->analyst_, "{}"), 403, "forbidden");
  }
  EXPECT_EQ(Body(Get(grant, env_->admin_))["state"], "active");
}

TEST_P(CollabApiTest, PartyIsThisStoresPartyWithTheCallersRole) {
  const Json cli = Json::parse(Tessera({"party", "show", "--format", "json"}, env_->store_));
  auto r = Get("/api/v1/collab/party", env_->viewer_);
  ASSERT_EQ(r->status, 200) << r->body;
  Json j = Body(r);
  EXPECT_EQ(j["name"], "Frischmarkt");
  EXPECT_EQ(j["party_id"], env_->self_id_);
  EXPECT_EQ(j["created_at"], cli["created_at"]);
  EXPECT_EQ(j["role"], "viewer");
  EXPECT_EQ(j["can_sign_grants"], true);
  EXPECT_EQ(j["collaboration"]["parties"], 3);
  EXPECT_EQ(j["collaboration"]["listed"], true);
  EXPECT_EQ(j["collaboration"]["roles"], Json({"data_owner", "worker_host"}));
  EXPECT_EQ(Body(Get("/api/v1/collab/party", env_->analyst_))["role"], "analyst");
  EXPECT_EQ(Body(Get("/api/v1/collab/party", env_->admin_))["role"], "admin");
  // Without a collaboration file or the owner's key, the server says so.
  j = Body(Get(env_->bare_, "/api/v1/collab/party", env_->admin_));
  EXPECT_EQ(j["party_id"], env_->self_id_);
  EXPECT_EQ(j["can_sign_grants"], false);
  EXPECT_TRUE(j["collaboration"].is_null());
}

TEST_P(CollabApiTest, AStoreThatIsNoPartySaysWhatToRun) {
  for (const std::string path : {"/api/v1/collab/party", "/api/v1/collab/partners"}) {
    SCOPED_TRACE(path);
    const Json e = ExpectError(Get(env_->plain_, path, env_->plain_admin_), 404, "no_party");
    const std::string message = e.value("message", "");
    EXPECT_NE(message.find("tessera party init"), std::string::npos) << message;
    const std::string file = env_->plain_store_.substr(env_->plain_store_.find_last_of('/') + 1);
    EXPECT_EQ(message.find(file), std::string::npos) << message;
  }
  ExpectError(Post(env_->plain_, "/api/v1/collab/grants/import", env_->plain_admin_,
                   env_->issued_document_),
              404, "no_party");
}

TEST_P(CollabApiTest, PartnersHaveTheirGrantsBothWaysAndTheBudgetLeft) {
  auto r = Get("/api/v1/collab/partners", env_->viewer_);
  ASSERT_EQ(r->status, 200) << r->body;
  const Json j = Body(r);
  EXPECT_EQ(j["party"]["party_id"], env_->self_id_);
  ASSERT_EQ(j["parties"].size(), 3u);
  const Json& self = j["parties"][0];
  const Json& telco = j["parties"][1];
  const Json& brand = j["parties"][2];
  EXPECT_EQ(self["name"], "Frischmarkt");
  EXPECT_EQ(self["self"], true);
  EXPECT_TRUE(self["grants_issued"].empty());
  EXPECT_EQ(telco["name"], "Telco");
  EXPECT_EQ(telco["party_id"], env_->partner_id_);
  EXPECT_EQ(telco["self"], false);
  EXPECT_EQ(telco["endpoint"], "https://telco.example:8443");
  EXPECT_EQ(telco["roles"], Json({"data_owner"}));
  EXPECT_EQ(brand["roles"], Json({"analyst"}));
  EXPECT_TRUE(brand["grants_issued"].empty());
  EXPECT_TRUE(brand["grants_received"].empty());

  // Issued: what `tessera grant create` signed, and this month's budget after 0.5 spent.
  const Json* issued = nullptr;
  for (const Json& g : telco["grants_issued"]) {
    if (g["grant_id"] == env_->issued_id_) issued = &g;
  }
  ASSERT_NE(issued, nullptr) << telco.dump(2);
  EXPECT_EQ((*issued)["purpose"], "audience_counts");
  EXPECT_EQ((*issued)["output_kinds"], Json({"audience_count", "cell_counts"}));
  EXPECT_EQ((*issued)["allowed_fields"], Json({"age_band", "region"}));
  EXPECT_EQ((*issued)["k_min"], 50);
  EXPECT_EQ((*issued)["differential_privacy"]["epsilon_per_query"], "0.5");
  EXPECT_EQ((*issued)["differential_privacy"]["budget_per_period"], "3");
  EXPECT_EQ((*issued)["direction"], "issued");
  EXPECT_TRUE((*issued)["revoked"].is_null());
  EXPECT_EQ((*issued)["state"], "active");
  const Json& budget = (*issued)["budget"];
  EXPECT_EQ(budget["period"], collab::BudgetPeriodOf(std::time(nullptr)));
  EXPECT_EQ(budget["budget"], "3");
  EXPECT_EQ(budget["spent"], "0.5");
  EXPECT_EQ(budget["reserved"], "0");
  EXPECT_EQ(budget["remaining"], "2.5");
  // The expiry is the one the CLI signed.
  const Json document = Json::parse(env_->issued_document_);
  EXPECT_EQ((*issued)["expires"], document["expires"]);
  EXPECT_EQ((*issued)["signature"], document["signature"]);

  // Received from Telco: its overlap grant, whose budget Telco's ledger keeps.
  ASSERT_EQ(telco["grants_received"].size(), 1u);
  const Json& received = telco["grants_received"][0];
  EXPECT_EQ(received["grant_id"], env_->received_id_);
  EXPECT_EQ(received["grantor"], env_->partner_id_);
  EXPECT_EQ(received["purpose"], "overlap");
  EXPECT_EQ(received["allowed_fields"], Json({"tariff"}));
  EXPECT_EQ(received["k_min"], 100);
  EXPECT_FALSE(received.contains("differential_privacy"));
  EXPECT_TRUE(received["budget"].is_null());
  EXPECT_EQ(received["direction"], "received");

  // Without the collaboration file there are no partners to list.
  ExpectError(Get(env_->bare_, "/api/v1/collab/partners", env_->viewer_), 409, "no_collaboration");
}

TEST_P(CollabApiTest, GrantsAreWhatTheCliLists) {
  const auto cli = CliGrants();
  auto r = Get("/api/v1/collab/grants", env_->analyst_);
  ASSERT_EQ(r->status, 200) << r->body;
  const Json list = Body(r);
  ASSERT_EQ(list.size(), cli.size());
  for (Json g : list) {
    const std::string id = g["grant_id"];
    ASSERT_TRUE(cli.contains(id)) << id;
    EXPECT_TRUE(g["state"] == "active" || g["state"] == "revoked") << g.dump();
    g.erase("state");
    EXPECT_EQ(g, cli.at(id)) << id;
  }
  // One grant carries the document the partner imports: byte for byte what the CLI printed.
  const Json one = Body(Get("/api/v1/collab/grants/" + env_->issued_id_, env_->analyst_));
  EXPECT_EQ(one["document"], env_->issued_document_);
  EXPECT_EQ(one["grant_id"], env_->issued_id_);
  ExpectError(Get("/api/v1/collab/grants/g_0000000000000000", env_->analyst_), 404, "not_found");
  ExpectError(Get("/api/v1/collab/grants/not-a-grant", env_->analyst_), 404, "not_found");
}

TEST_P(CollabApiTest, AnAdminSignsAGrantThePartnerCanImport) {
  const Json g = CreateGrant();
  ASSERT_TRUE(g.is_object());
  EXPECT_EQ(g["grantor"], env_->self_id_);
  EXPECT_EQ(g["grantee"], env_->partner_id_);
  EXPECT_EQ(g["purpose"], "overlap");
  EXPECT_EQ(g["direction"], "issued");
  EXPECT_EQ(g["state"], "active");
  // The defaults of `tessera grant create`.
  EXPECT_EQ(g["k_min"], 100);
  EXPECT_EQ(g["recipients"], Json({env_->partner_id_}));
  EXPECT_EQ(g["worker_hosts"], Json({env_->self_id_}));
  EXPECT_EQ(g["attestation_modes"], Json({"simulated"}));
  EXPECT_FALSE(g.contains("differential_privacy"));
  EXPECT_EQ(g["expires"], FormatIsoDate(TodayUtc() + 30) + "T23:59:59Z");
  EXPECT_TRUE(CliGrants().contains(g["grant_id"]));
  // The partner verifies and keeps the document.
  const std::string file = (env_->dir_ / ("api_" + g["grant_id"].get<std::string>())).string();
  std::ofstream(file) << g["document"].get<std::string>();
  Tessera({"grant", "import", file, "--collaboration", env_->collaboration_, "--key",
           env_->partner_key_},
          env_->partner_store_);
  const Json kept = Json::parse(Tessera({"grant", "show", g["grant_id"]}, env_->partner_store_));
  EXPECT_EQ(kept["direction"], "received");

  // With noise, parties by id, and a date to end on.
  auto r = Post(
      "/api/v1/collab/grants", env_->admin_,
      Json{{"partner", env_->partner_id_},
           {"purpose", "audience_counts"},
           {"output_kinds", {"cell_counts"}},
           {"allowed_fields", {"age_band"}},
           {"k_min", 200},
           {"differential_privacy", {{"epsilon_per_query", "0.25"}, {"budget_per_period", "2"}}},
           {"predicates", {{"max_breakdown_attributes", 1}}},
           {"recipients", {"Telco", "Brand"}},
           {"worker_hosts", {"Telco"}},
           {"attestation_modes", {"simulated", "sgx-dcap"}},
           {"expires", FormatIsoDate(TodayUtc() + 10)}}
          .dump());
  ASSERT_EQ(r->status, 201) << r->body;
  const Json noisy = Body(r);
  EXPECT_EQ(r->get_header_value("Location"),
            "/api/v1/collab/grants/" + noisy["grant_id"].get<std::string>());
  EXPECT_EQ(noisy["differential_privacy"]["epsilon_per_query"], "0.25");
  EXPECT_EQ(noisy["predicates"]["max_breakdown_attributes"], 1);
  EXPECT_EQ(noisy["recipients"].size(), 2u);
  EXPECT_EQ(noisy["worker_hosts"], Json({env_->partner_id_}));
  EXPECT_EQ(noisy["expires"], FormatIsoDate(TodayUtc() + 10) + "T23:59:59Z");
  // It is listed under Telco with its whole budget.
  const Json partners = Body(Get("/api/v1/collab/partners", env_->viewer_));
  bool listed = false;
  for (const Json& g2 : partners["parties"][1]["grants_issued"]) {
    if (g2["grant_id"] != noisy["grant_id"]) continue;
    listed = true;
    EXPECT_EQ(g2["budget"]["remaining"], "2");
  }
  EXPECT_TRUE(listed);
}

TEST_P(CollabApiTest, BadGrantSpecsAreRefusedNamingTheMember) {
  const Json good = {
      {"partner", "Telco"}, {"purpose", "overlap"}, {"output_kinds", {"overlap_size"}}};
  auto with = [&](const std::string& member, const Json& value) {
    Json j = good;
    if (value.is_null()) {
      j.erase(member);
    } else {
      j[member] = value;
    }
    return j.dump();
  };
  struct Case {
    std::string body, parameter;
  };
  const size_t before = CliGrants().size();
  for (const Case& k : std::vector<Case>{
           {with("partner", nullptr), "partner"},
           {with("partner", "Nobody"), "partner"},
           {with("partner", "tp1:xyz"), "partner"},
           {with("partner", env_->self_id_), "grantee"},
           {with("purpose", "marketing"), "purpose"},
           {with("output_kinds", "overlap_size"), "output_kinds"},
           {with("output_kinds", Json::array()), "output_kinds"},
           {with("output_kinds", {"everything"}), "output_kinds"},
           {with("k_min", 1), "k_min"},
           {with("k_min", "100"), "k_min"},
           {with("differential_privacy",
                 {{"epsilon_per_query", "0.1234567"}, {"budget_per_period", "1"}}),
            "differential_privacy.epsilon_per_query"},
           {with("differential_privacy", {{"epsilon_per_query", 0.5}, {"budget_per_period", "1"}}),
            "differential_privacy.epsilon_per_query"},
           {with("differential_privacy", {{"epsilon_per_query", "2"}, {"budget_per_period", "1"}}),
            "differential_privacy.budget_per_period"},
           {with("predicates", {{"max_breakdown_attributes", 3}}),
            "predicates.max_breakdown_attributes"},
           {with("recipients", {"Somebody"}), "recipients"},
           {with("attestation_modes", {"none"}), "attestation_modes"},
           {with("expires", "2020-01-01"), "expires"},
           {with("expires", "tomorrow"), "expires"},
           {with("valid_for", "6 months"), "valid_for"},
           {with("colour", "blue"), "colour"},
           {"[1, 2]", "body"},
           {"not json", "body"},
       }) {
    SCOPED_TRACE(k.body);
    ExpectError(Post("/api/v1/collab/grants", env_->admin_, k.body), 400, "invalid_parameter",
                k.parameter);
  }
  Json both = Json::parse(with("expires", "2099-01-01"));
  both["valid_for"] = "6m";
  ExpectError(Post("/api/v1/collab/grants", env_->admin_, both.dump()), 400, "invalid_parameter",
              "valid_for");
  EXPECT_EQ(CliGrants().size(), before) << "a refused spec was kept";
  // Without the owner's key nothing can be signed.
  ExpectError(Post(env_->bare_, "/api/v1/collab/grants", env_->admin_, good.dump()), 409, "no_key");
}

TEST_P(CollabApiTest, RevokingMarksTheGrantOnceAndKeepsItListed) {
  const Json g = CreateGrant();
  const std::string path = "/api/v1/collab/grants/" + g["grant_id"].get<std::string>();
  auto r = Post(path + "/revoke", env_->admin_, R"({"reason": "Kampagne beendet"})");
  ASSERT_EQ(r->status, 200) << r->body;
  Json j = Body(r);
  EXPECT_EQ(j["changed"], true);
  EXPECT_EQ(j["grant"]["state"], "revoked");
  EXPECT_EQ(j["grant"]["revoked"]["reason"], "Kampagne beendet");
  // Again: nothing changes, the first reason stays.
  j = Body(Post(path + "/revoke", env_->admin_, R"({"reason": "again"})"));
  EXPECT_EQ(j["changed"], false);
  EXPECT_EQ(j["grant"]["revoked"]["reason"], "Kampagne beendet");
  EXPECT_FALSE(CliGrants().at(g["grant_id"])["revoked"].is_null());
  EXPECT_EQ(Body(Get(path, env_->analyst_))["state"], "revoked");
  const Json partners = Body(Get("/api/v1/collab/partners", env_->viewer_));
  bool listed = false;
  for (const Json& issued : partners["parties"][1]["grants_issued"]) {
    if (issued["grant_id"] == g["grant_id"]) {
      listed = true;
      EXPECT_EQ(issued["state"], "revoked");
    }
  }
  EXPECT_TRUE(listed);
  // A body is optional; a bad one is refused, as is an unknown grant.
  const Json other = CreateGrant();
  const std::string other_path = "/api/v1/collab/grants/" + other["grant_id"].get<std::string>();
  ExpectError(Post(other_path + "/revoke", env_->admin_, R"({"why": "x"})"), 400,
              "invalid_parameter", "why");
  ExpectError(Post(other_path + "/revoke", env_->admin_, R"({"reason": 5})"), 400,
              "invalid_parameter", "reason");
  ExpectError(
      Post(other_path + "/revoke", env_->admin_, Json{{"reason", std::string(201, 'x')}}.dump()),
      400, "invalid_parameter", "reason");
  ExpectError(Post(other_path + "/revoke", env_->admin_, "{\"reason\": \"a\\u0007b\"}"), 400,
              "invalid_parameter", "reason");
  EXPECT_EQ(Body(Get(other_path, env_->analyst_))["state"], "active");
  EXPECT_EQ(Post(other_path + "/revoke", env_->admin_, "")->status, 200);
  ExpectError(Post("/api/v1/collab/grants/g_0000000000000000/revoke", env_->admin_, "{}"), 404,
              "not_found");
}

TEST_P(CollabApiTest, ImportKeepsAPartnersGrantOnceAndRefusesForgeries) {
  const std::string file = (env_->dir_ / "import.json").string();
  Tessera({"grant", "create", "--partner", "Frischmarkt", "--collaboration", env_->collaboration_,
           "--purpose", "audience_counts", "--outputs", "cell_counts", "--fields",
           "age_band,tariff", "--valid-for", "12w", "--key", env_->partner_key_, "--out", file},
          env_->partner_store_);
  const std::string document = Trim(ReadFile(file));
  const std::string id = Json::parse(document)["grant_id"];
  auto r = Post("/api/v1/collab/grants/import", env_->admin_, document);
  ASSERT_EQ(r->status, 201) << r->body;
  EXPECT_EQ(Body(r)["direction"], "received");
  EXPECT_EQ(Body(r)["grantor"], env_->partner_id_);
  EXPECT_EQ(r->get_header_value("Location"), "/api/v1/collab/grants/" + id);
  EXPECT_EQ(Post("/api/v1/collab/grants/import", env_->admin_, document)->status, 200);
  EXPECT_TRUE(CliGrants().contains(id));

  // A changed field fails the signature.
  Json changed = Json::parse(document);
  changed["k_min"] = 2;
  ExpectError(Post("/api/v1/collab/grants/import", env_->admin_, changed.dump()), 400,
              "invalid_parameter");
  // One for another party (Brand) is not this party's to keep.
  const std::string to_brand = (env_->dir_ / "to_brand.json").string();
  Tessera({"grant", "create", "--partner", "Brand", "--collaboration", env_->collaboration_,
           "--purpose", "overlap", "--outputs", "overlap_size", "--key", env_->partner_key_,
           "--out", to_brand},
          env_->partner_store_);
  ExpectError(Post("/api/v1/collab/grants/import", env_->admin_, ReadFile(to_brand)), 400,
              "invalid_parameter");
  // This party's own grant is kept when it is created, never imported.
  ExpectError(Post("/api/v1/collab/grants/import", env_->admin_, env_->issued_document_), 400,
              "invalid_parameter");
  ExpectError(Post("/api/v1/collab/grants/import", env_->admin_, "{\"type\": 1}"), 400,
              "invalid_parameter");
  ExpectError(Post("/api/v1/collab/grants/import", env_->admin_, "nonsense"), 400,
              "invalid_parameter");
  ExpectError(
      Post("/api/v1/collab/grants/import", env_->admin_, std::string(70 * 1024, ' ') + document),
      413, "payload_too_large");
  // Whether a grantor is a data owner is the collaboration file's to say.
  ExpectError(Post(env_->bare_, "/api/v1/collab/grants/import", env_->admin_, document), 409,
              "no_collaboration");
}

TEST_P(CollabApiTest, TheAuditLogPagesAndVerifies) {
  auto r = Get("/api/v1/collab/audit?limit=2", env_->admin_);
  ASSERT_EQ(r->status, 200) << r->body;
  Json j = Body(r);
  ASSERT_EQ(j["entries"].size(), 2u);
  EXPECT_EQ(j["head"]["entries"], 3);
  EXPECT_EQ(j["head"]["hash"].get<std::string>().size(), 64u);
  EXPECT_EQ(j["next_after"], 2);
  const Json& first = j["entries"][0];
  EXPECT_EQ(first["sequence"], 1);
  EXPECT_EQ(first["party"], env_->partner_id_);
  EXPECT_EQ(first["grant_id"], env_->issued_id_);
  EXPECT_EQ(first["purpose"], "audience_counts");
  EXPECT_EQ(first["cells_returned"], 4);
  EXPECT_EQ(first["epsilon"], "0.5");
  EXPECT_EQ(first["attestation"], "simulated");
  EXPECT_EQ(first["outcome"], "ok");
  EXPECT_EQ(j["entries"][1]["reason"], "budget_exhausted");
  j = Body(Get("/api/v1/collab/audit?after=2", env_->admin_));
  ASSERT_EQ(j["entries"].size(), 1u);
  EXPECT_EQ(j["entries"][0]["sequence"], 3);
  EXPECT_EQ(j["entries"][0]["outcome"], "failed");
  EXPECT_TRUE(j["next_after"].is_null());
  EXPECT_EQ(j["head"]["hash"], j["entries"][0]["entry_hash"]);
  // The whole log as the CLI lists it.
  const Json cli = Json::parse(Tessera({"audit", "list", "--format", "json"}, env_->store_));
  EXPECT_EQ(Body(Get("/api/v1/collab/audit", env_->admin_))["entries"], cli);
  EXPECT_TRUE(Body(Get("/api/v1/collab/audit?after=3", env_->admin_))["entries"].empty());
  for (const std::string q : {"limit=0", "limit=1001", "limit=x", "after=-1", "after=1.5"}) {
    SCOPED_TRACE(q);
    ExpectError(Get("/api/v1/collab/audit?" + q, env_->admin_), 400, "invalid_parameter",
                q.substr(0, q.find('=')));
  }

  auto v = Get("/api/v1/collab/audit/verify", env_->admin_);
  ASSERT_EQ(v->status, 200) << v->body;
  j = Body(v);
  EXPECT_EQ(j["ok"], true);
  EXPECT_EQ(j["entries"], 3);
  EXPECT_EQ(j["head_hash"], Body(Get("/api/v1/collab/audit", env_->admin_))["head"]["hash"]);
}

// An entry changed behind the log's back is found, named, and answered as a result (200), not as
// an error; put back, the log verifies again.
TEST_P(CollabApiTest, VerifyFindsAChangedAuditEntry) {
  auto s = OpenStore(env_->store_, false);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  store::Database& db = (*s)->db();
  ASSERT_TRUE(
      db.Execute("UPDATE collab_audit_log SET cells_returned = cells_returned + 1 WHERE seq = 2")
          .ok());
  auto v = Get("/api/v1/collab/audit/verify", env_->admin_);
  ASSERT_TRUE(
      db.Execute("UPDATE collab_audit_log SET cells_returned = cells_returned - 1 WHERE seq = 2")
          .ok());
  ASSERT_EQ(v->status, 200) << v->body;
  const Json j = Body(v);
  EXPECT_EQ(j["ok"], false);
  EXPECT_EQ(j["problem"], "entry_changed");
  EXPECT_EQ(j["first_bad_sequence"], 2);
  EXPECT_EQ(Body(Get("/api/v1/collab/audit/verify", env_->admin_))["ok"], true);
}

TEST_P(CollabApiTest, MetricsFoldGrantIdsAndTheOpenApiListsTheRoutes) {
  Get("/api/v1/collab/grants/" + env_->received_id_, env_->analyst_);
  const std::string counted =
      "tessera_http_requests_total{route=\"/api/v1/collab/grants/{id}\",status=\"200\"}";
  auto m = Get("/metrics", env_->viewer_);
  for (int i = 0; i < 100 && m && m->body.find(counted) == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    m = Get("/metrics", env_->viewer_);
  }
  ASSERT_TRUE(m);
  EXPECT_NE(m->body.find(counted), std::string::npos) << m->body;
  EXPECT_EQ(m->body.find(env_->received_id_), std::string::npos);

  const Json doc = Body(Get("/api/v1/openapi.json", ""));
  for (const char* path :
       {"/api/v1/collab/party", "/api/v1/collab/partners", "/api/v1/collab/grants",
        "/api/v1/collab/grants/{id}", "/api/v1/collab/grants/{id}/revoke",
        "/api/v1/collab/grants/import", "/api/v1/collab/audit", "/api/v1/collab/audit/verify",
        "/api/v1/collab/overlap", "/api/v1/collab/count", "/api/v1/collab/activate"}) {
    EXPECT_TRUE(doc["paths"].contains(path)) << path;
  }
  EXPECT_TRUE(doc["paths"]["/api/v1/collab/grants"].contains("post"));
}

// `serve --collaboration` with a bad or missing file does not start, and says why.
TEST_P(CollabApiTest, ServeRefusesABadCollaborationFile) {
  const std::string bad = (env_->dir_ / "bad.toml").string();
  std::ofstream(bad) << "[[party]]\nname = \"X\"\nid = \"tp1:nothex\"\nendpoint = "
                        "\"https://x.example\"\nroles = [\"data_owner\"]\n";
  std::string out;
  const std::string serve = std::string("timeout 30 '") + TESSERA_BINARY +
                            "' serve --listen 127.0.0.1:0 --store '" + env_->store_ +
                            "' --collaboration ";
  EXPECT_NE(RunCommand(serve + "'" + bad + "'", &out), 0) << out;
  EXPECT_NE(out.find("bad.toml:3"), std::string::npos) << out;
  EXPECT_EQ(out.find("Listening"), std::string::npos) << out;
  EXPECT_NE(RunCommand(serve + "'" + (env_->dir_ / "missing.toml").string() + "'", &out), 0) << out;
  EXPECT_NE(out.find("missing.toml"), std::string::npos) << out;
}

}  // namespace
}  // namespace tessera::server
