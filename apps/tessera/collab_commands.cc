// `tessera party init|show`, `tessera grant create|import|list|show|revoke`,
// `tessera audit list|verify` and `tessera collab overlap|count|activate`: a party's identity,
// what it allows its partners, the log of what was asked of it, and its queries with partners
// (docs/collaboration.md).

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli_common.h"
#include "tessera/audience/audiences.h"
#include "tessera/audience/index.h"
#include "tessera/collab/audit_log.h"
#include "tessera/collab/epsilon.h"
#include "tessera/collab/grant.h"
#include "tessera/collab/party.h"
#include "tessera/collab/session.h"
#include "tessera/common/civil_time.h"
#include "tessera/common/duration.h"
#include "tessera/server/node_client.h"

namespace tessera {
namespace {

using Json = nlohmann::ordered_json;

struct PartyArgs {
  StoreArgs store;
  std::string name;
  std::string format = "text";
};

struct GrantArgs {
  StoreArgs store;
  std::string format = "text";
  std::string partner, purpose, outputs, fields, recipients, worker_hosts;
  std::string attestation = "simulated";
  std::string epsilon, budget;
  int64_t k_min = collab::kDefaultKMin;
  std::string expires, valid_for = "90d";
  std::string output, file, collaboration, id, reason;
};

struct AuditArgs {
  StoreArgs store;
  std::string format = "text";
  int64_t after = 0;
  int64_t limit = 1000;
};

void Print(const std::string& text) { std::fwrite(text.data(), 1, text.size(), stdout); }

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

StatusOr<collab::PartyKey> PartyKeyOf(const StoreArgs& a) {
  TESSERA_ASSIGN_OR_RETURN(auto key, privacy::OwnerKey::Load(a.key));
  return collab::PartyKey::Derive(key);
}

Json ProfileJson(const collab::PartyProfile& p) {
  return Json{{"name", p.name}, {"party_id", p.id.ToString()}, {"created_at", p.created_at}};
}

Status RunPartyInit(const PartyArgs& a) {
  TESSERA_ASSIGN_OR_RETURN(auto owner_key, privacy::OwnerKey::Load(a.store.key));
  TESSERA_ASSIGN_OR_RETURN(auto key, collab::PartyKey::Derive(owner_key));
  TESSERA_ASSIGN_OR_RETURN(auto store, server::OpenStore(a.store.store, /*create=*/true));
  // The party speaks for the data this key pseudonymized: the store and the party share it.
  TESSERA_RETURN_IF_ERROR(store->BindKey(owner_key.Fingerprint()));
  TESSERA_ASSIGN_OR_RETURN(auto profile, collab::PartyStore(store->db()).Init(a.name, key));
  if (a.format == "json") {
    Print(ProfileJson(profile).dump(2) + "\n");
  } else {
    Print(fmt::format("{}\n", profile.id.ToString()));
    std::fprintf(stderr,
                 "Party '%s' is ready. Give partners this party id and your endpoint for their "
                 "collaboration file.\n",
                 profile.name.c_str());
  }
  return OkStatus();
}

Status RunPartyShow(const PartyArgs& a) {
  TESSERA_ASSIGN_OR_RETURN(auto store, server::OpenStore(a.store.store, false));
  TESSERA_ASSIGN_OR_RETURN(auto profile, collab::PartyStore(store->db()).Show());
  if (a.format == "json") {
    Print(ProfileJson(profile).dump(2) + "\n");
  } else {
    Print(fmt::format("name      {}\nparty id  {}\nsince     {}\n", profile.name,
                      profile.id.ToString(), profile.created_at));
  }
  return OkStatus();
}

// A party named by its id, or by its name in the collaboration file.
StatusOr<collab::PartyId> PartyNamed(const std::string& text,
                                     const std::optional<collab::Collaboration>& collaboration,
                                     const char* option) {
  if (text.rfind("tp1:", 0) == 0) return collab::PartyId::Parse(text);
  if (collaboration) {
    if (const auto* p = collaboration->FindByName(text)) return p->id;
  }
  return InvalidArgumentError(
      "{}: '{}' is neither a party id (tp1:...) nor a party of the collaboration file{}", option,
      text, collaboration ? "" : " (give --collaboration FILE to name parties)");
}

StatusOr<int64_t> Expiry(const GrantArgs& a, int64_t now) {
  if (!a.expires.empty()) {
    TESSERA_ASSIGN_OR_RETURN(const int64_t day, ParseIsoDate(a.expires));
    return (day + 1) * 86400 - 1;  // the end of that day, UTC
  }
  TESSERA_ASSIGN_OR_RETURN(const Duration d, Duration::Parse(a.valid_for));
  const int64_t today = DayOfTimestamp(now);
  const int64_t last = d.months() > 0 ? AddMonths(today, d.months()) : today + d.days();
  return (last + 1) * 86400 - 1;
}

Status RunGrantCreate(const GrantArgs& a) {
  std::optional<collab::Collaboration> collaboration;
  if (!a.collaboration.empty()) {
    TESSERA_ASSIGN_OR_RETURN(collaboration, collab::LoadCollaboration(a.collaboration));
  }
  TESSERA_ASSIGN_OR_RETURN(auto key, PartyKeyOf(a.store));
  TESSERA_ASSIGN_OR_RETURN(const collab::PartyId grantee,
                           PartyNamed(a.partner, collaboration, "--partner"));
  collab::GrantSpec spec{key.id(), grantee};
  TESSERA_ASSIGN_OR_RETURN(spec.purpose, collab::ParsePurpose(a.purpose));
  for (const auto& o : SplitList(a.outputs)) {
    TESSERA_ASSIGN_OR_RETURN(auto kind, collab::ParseOutputKind(o));
    spec.output_kinds.push_back(kind);
  }
  spec.allowed_fields = SplitList(a.fields);
  spec.k_min = a.k_min;
  if (!a.epsilon.empty() || !a.budget.empty()) {
    if (a.epsilon.empty() || a.budget.empty()) {
      return InvalidArgumentError("--epsilon and --budget go together");
    }
    collab::DpPolicy dp;
    TESSERA_ASSIGN_OR_RETURN(const uint64_t eps, collab::ParseEpsilon(a.epsilon));
    TESSERA_ASSIGN_OR_RETURN(const uint64_t budget, collab::ParseEpsilon(a.budget));
    dp.epsilon_per_query_micro = static_cast<int64_t>(eps);
    dp.budget_per_period_micro = static_cast<int64_t>(budget);
    spec.differential_privacy = dp;
  }
  for (const auto& r : SplitList(a.recipients.empty() ? a.partner : a.recipients)) {
    TESSERA_ASSIGN_OR_RETURN(auto id, PartyNamed(r, collaboration, "--recipients"));
    spec.recipients.push_back(id);
  }
  if (a.worker_hosts.empty()) {
    spec.worker_hosts.push_back(key.id());  // by default the worker runs here
  }
  for (const auto& h : SplitList(a.worker_hosts)) {
    TESSERA_ASSIGN_OR_RETURN(auto id, PartyNamed(h, collaboration, "--worker-hosts"));
    spec.worker_hosts.push_back(id);
  }
  for (const auto& m : SplitList(a.attestation)) {
    TESSERA_ASSIGN_OR_RETURN(auto mode, collab::ParseAttestationMode(m));
    spec.attestation_modes.push_back(mode);
  }
  const int64_t now = std::time(nullptr);
  spec.not_before = now;
  TESSERA_ASSIGN_OR_RETURN(spec.expires, Expiry(a, now));
  TESSERA_ASSIGN_OR_RETURN(auto store, server::OpenStore(a.store.store, false));
  TESSERA_ASSIGN_OR_RETURN(auto grant, collab::GrantStore(store->db()).Create(spec, key));
  const std::string document = collab::GrantToJson(grant);
  if (spec.purpose == collab::Purpose::kAudienceCounts && !spec.differential_privacy) {
    std::fprintf(stderr,
                 "Note: exact counts (no --epsilon): a partner that also controls the other side "
                 "can difference two queries to learn about one person; k_min does not prevent "
                 "it, noise does (docs/collaboration.md, \"Exact counts and differencing\").\n");
  }
  // Every place the worker may run must be able to host it, or the grant serves no query.
  for (const collab::PartyId& host : spec.worker_hosts) {
    const collab::CollaborationParty* p = collaboration ? collaboration->Find(host) : nullptr;
    if (host != spec.grantee && p != nullptr && !p->HasRole(collab::PartyRole::kWorkerHost)) {
      std::fprintf(stderr,
                   "Note: the join worker may run at %s, which is no worker_host in the "
                   "collaboration file: give it that role (and run its tessera serve), or name "
                   "other places with --worker-hosts (docs/collaboration.md, \"Where the worker "
                   "runs\").\n",
                   p->name.c_str());
    }
  }
  if (!a.output.empty()) {
    TESSERA_ASSIGN_OR_RETURN(auto out, Output::Open(a.output));
    std::fwrite(document.data(), 1, document.size(), out->file());
    std::fputc('\n', out->file());
    TESSERA_RETURN_IF_ERROR(out->Commit());
    std::fprintf(stderr, "Grant %s signed; send %s to the partner (tessera grant import)\n",
                 grant.id.c_str(), a.output.c_str());
  } else {
    Print(document + "\n");
  }
  return OkStatus();
}

Status RunGrantImport(const GrantArgs& a) {
  TESSERA_ASSIGN_OR_RETURN(auto collaboration, collab::LoadCollaboration(a.collaboration));
  std::ifstream in(a.file, std::ios::binary);
  if (!in) return InvalidArgumentError("{}: cannot read the grant", a.file);
  std::stringstream text;
  text << in.rdbuf();
  TESSERA_ASSIGN_OR_RETURN(auto key, PartyKeyOf(a.store));
  TESSERA_ASSIGN_OR_RETURN(auto store, server::OpenStore(a.store.store, false));
  TESSERA_ASSIGN_OR_RETURN(
      auto stored, collab::GrantStore(store->db()).Import(text.str(), collaboration, key.id()));
  std::fprintf(stderr, "Grant %s from %s verified and kept\n", stored.grant.id.c_str(),
               stored.grant.spec.grantor.ToString().c_str());
  return OkStatus();
}

Json StoredGrantJson(const collab::StoredGrant& g) {
  Json j = Json::parse(collab::GrantToJson(g.grant));
  j["direction"] = collab::GrantDirectionName(g.direction);
  j["stored_at"] = g.stored_at;
  j["revoked"] = g.revocation
                     ? Json{{"at", g.revocation->revoked_at}, {"reason", g.revocation->reason}}
                     : Json();
  return j;
}

Status RunGrantList(const GrantArgs& a) {
  TESSERA_ASSIGN_OR_RETURN(auto store, server::OpenStore(a.store.store, false));
  TESSERA_ASSIGN_OR_RETURN(auto grants, collab::GrantStore(store->db()).List());
  if (a.format == "json") {
    Json j = Json::array();
    for (const auto& g : grants) j.push_back(StoredGrantJson(g));
    Print(j.dump(2) + "\n");
    return OkStatus();
  }
  if (grants.empty()) {
    std::fprintf(stderr, "No grants yet (tessera grant create, tessera grant import)\n");
    return OkStatus();
  }
  Print(fmt::format("{:<20} {:<9} {:<22} {:<12} {}\n", "grant", "direction", "purpose", "expires",
                    "state"));
  for (const auto& g : grants) {
    Print(fmt::format(
        "{:<20} {:<9} {:<22} {:<12} {}\n", g.grant.id, collab::GrantDirectionName(g.direction),
        collab::PurposeName(g.grant.spec.purpose),
        FormatIsoDate(DayOfTimestamp(g.grant.spec.expires)), g.revocation ? "revoked" : "active"));
  }
  return OkStatus();
}

Status RunGrantShow(const GrantArgs& a) {
  TESSERA_ASSIGN_OR_RETURN(auto store, server::OpenStore(a.store.store, false));
  TESSERA_ASSIGN_OR_RETURN(auto g, collab::GrantStore(store->db()).Show(a.id));
  Print(StoredGrantJson(g).dump(2) + "\n");
  return OkStatus();
}

Status RunGrantRevoke(const GrantArgs& a) {
  TESSERA_ASSIGN_OR_RETURN(auto store, server::OpenStore(a.store.store, false));
  TESSERA_ASSIGN_OR_RETURN(const bool revoked,
                           collab::GrantStore(store->db()).Revoke(a.id, a.reason));
  std::fprintf(stderr, revoked ? "Grant %s revoked\n" : "Grant %s was revoked already\n",
               a.id.c_str());
  TESSERA_ASSIGN_OR_RETURN(auto stored, collab::GrantStore(store->db()).Show(a.id));
  if (stored.direction != collab::GrantDirection::kIssued) return OkStatus();
  // The grantee's node is told, so that its copy says revoked too; this party refuses the grant
  // whatever that copy says, so not reaching it is a note, not a failure.
  if (a.collaboration.empty()) {
    std::fprintf(stderr,
                 "Note: the partner's copy says valid until its node is told: give "
                 "--collaboration FILE (and --key) to tell it; this party refuses the grant "
                 "regardless.\n");
    return OkStatus();
  }
  TESSERA_ASSIGN_OR_RETURN(auto collaboration, collab::LoadCollaboration(a.collaboration));
  TESSERA_ASSIGN_OR_RETURN(auto key, privacy::OwnerKey::Load(a.store.key));
  TESSERA_ASSIGN_OR_RETURN(auto party_key, collab::PartyKey::Derive(key));
  server::HttpNodeTransport remote(party_key);
  auto told = collab::NotifyRevocation(store->db(), a.id, collaboration, remote);
  const collab::CollaborationParty* grantee = collaboration.Find(stored.grant.spec.grantee);
  const std::string name = grantee ? grantee->name : stored.grant.spec.grantee.ToString();
  if (told.ok()) {
    std::fprintf(stderr, "%s's node was told%s\n", name.c_str(), *told ? "" : " (it knew already)");
  } else {
    std::fprintf(stderr,
                 "Note: %s's node could not be told (%s); its copy says valid until it is: "
                 "run this again later. This party refuses the grant regardless.\n",
                 name.c_str(), std::string(told.status().message()).c_str());
  }
  return OkStatus();
}

Status RunAuditList(const AuditArgs& a) {
  TESSERA_ASSIGN_OR_RETURN(auto store, server::OpenStore(a.store.store, false));
  collab::AuditListOptions options;
  options.after_sequence = a.after;
  options.limit = a.limit;
  TESSERA_ASSIGN_OR_RETURN(auto entries, collab::AuditLog(store->db()).List(options));
  if (a.format == "json") {
    Json j = Json::array();
    for (const auto& e : entries) j.push_back(collab::AuditEntryJson(e));
    Print(j.dump(2) + "\n");
    return OkStatus();
  }
  if (entries.empty()) std::fprintf(stderr, "The audit log is empty\n");
  for (const auto& e : entries) {
    const collab::AuditRecord& r = e.record;
    Print(fmt::format(
        "{:>6}  {}  {}  {}  grant {}  cells {}  ε {}  {}  {}{}\n", e.sequence,
        FormatIsoTimestamp(r.time), r.party.substr(0, 12) + "…", r.purpose,
        r.grant_id.empty() ? "-" : r.grant_id, r.cells_returned,
        collab::FormatEpsilon(r.epsilon_micro), collab::AttestationModeName(r.attestation),
        collab::AuditOutcomeName(r.outcome), r.reason.empty() ? "" : " (" + r.reason + ")"));
  }
  return OkStatus();
}

// Exit 0 when the log is intact, 1 (with what is wrong) when it is not.
StatusOr<bool> RunAuditVerify(const AuditArgs& a) {
  TESSERA_ASSIGN_OR_RETURN(auto store, server::OpenStore(a.store.store, false));
  TESSERA_ASSIGN_OR_RETURN(auto v, collab::AuditLog(store->db()).Verify());
  if (a.format == "json") {
    Print(collab::AuditVerificationJson(v).dump(2) + "\n");
  } else if (v.ok()) {
    Print(fmt::format("audit log intact: {} entries\n", v.entries));
  } else {
    Print(fmt::format("audit log DAMAGED at entry {}: {}\n", v.first_bad_sequence, v.explanation));
  }
  return v.ok();
}

constexpr const char* kWorkerHostHelp =
    "Where the join worker runs: a party (name or id) with the role worker_host that the owners' "
    "grants accept, running tessera serve (default: here if the grants allow it, else the first "
    "worker host they all accept)";

struct QueryArgs {
  StoreArgs store;
  std::string format = "text";
  std::string collaboration, partner, owners, identifier = "email";
  std::string expression, partner_expression, breakdown, partner_breakdown, epsilon;
  int64_t k_min = 0;
  std::string worker, worker_wrapper, worker_host;
  std::string output;  // activate: the list
  std::string then;    // count: further counts on the kept match, one JSON object a line
};

std::string CellsTable(const Json& result) {
  std::string out;
  const auto& dims = result["dimensions"];
  for (const auto& d : dims) out += fmt::format("{:<24}", d.get<std::string>());
  out += fmt::format("{:>12}\n", "count");
  for (const auto& cell : result["cells"]) {
    for (const auto& l : cell["labels"]) out += fmt::format("{:<24}", l.get<std::string>());
    out += fmt::format("{:>12}\n", cell["count"].get<int64_t>());
  }
  return out;
}

// What every query of this party needs: its key and party, its store, the collaboration file,
// the grants it received, its own owner node and the requester's options.
struct QueryContext {
  std::shared_ptr<const privacy::OwnerKey> key;
  std::optional<collab::PartyKey> party_key;
  std::unique_ptr<store::Store> store;
  std::optional<collab::PartyProfile> profile;
  collab::Collaboration collaboration;
  std::vector<collab::StoredGrant> grants;
  std::unique_ptr<collab::OwnerNode> node;
  collab::RequesterOptions requester;
  std::optional<server::HttpNodeTransport> remote;
  std::optional<collab::LocalTransport> transport;
};

StatusOr<std::unique_ptr<QueryContext>> OpenQueryContext(const QueryArgs& a) {
  auto c = std::make_unique<QueryContext>();
  TESSERA_ASSIGN_OR_RETURN(auto owner_key, privacy::OwnerKey::Load(a.store.key));
  c->key = std::make_shared<const privacy::OwnerKey>(std::move(owner_key));
  TESSERA_ASSIGN_OR_RETURN(auto party_key, collab::PartyKey::Derive(*c->key));
  c->party_key.emplace(std::move(party_key));
  TESSERA_ASSIGN_OR_RETURN(c->store, server::OpenStore(a.store.store, /*create=*/false));
  TESSERA_RETURN_IF_ERROR(c->store->BindKey(c->key->Fingerprint()));
  TESSERA_ASSIGN_OR_RETURN(auto profile, collab::PartyStore(c->store->db()).Show());
  c->profile.emplace(std::move(profile));
  TESSERA_ASSIGN_OR_RETURN(c->collaboration, collab::LoadCollaboration(a.collaboration));
  if (c->collaboration.Find(c->profile->id) == nullptr) {
    return FailedPreconditionError("this party ({}) is not in {}", c->profile->id.ToString(),
                                   a.collaboration);
  }
  TESSERA_ASSIGN_OR_RETURN(c->grants, collab::GrantStore(c->store->db()).List());
  collab::OwnerNodeOptions node_options;
  const std::string location = a.store.store;
  node_options.open_store = [location] { return server::OpenStore(location, false); };
  node_options.index_path = audience::DefaultIndexPath(location, c->store->Describe());
  node_options.owner_key = c->key;
  node_options.collaboration = c->collaboration;
  TESSERA_ASSIGN_OR_RETURN(c->node, collab::OwnerNode::Create(std::move(node_options)));
  c->requester.owner_key = c->key;
  c->requester.collaboration = c->collaboration;
  c->requester.worker_binary = a.worker.empty() ? server::DefaultWorkerBinary() : a.worker;
  if (!a.worker_wrapper.empty()) c->requester.worker_args = {a.worker_wrapper};
  c->requester.worker_host = a.worker_host;
  c->remote.emplace(*c->party_key);
  c->transport.emplace(*c->party_key, std::vector<collab::OwnerNode*>{c->node.get()}, &*c->remote);
  return c;
}

std::string AttestationLine(const Json& result) {
  const std::string mode = result["attestation"].value("mode", std::string("?"));
  if (mode == "simulated") {
    return "attestation: simulated — the worker ran without an enclave; not attested\n";
  }
  return fmt::format("attestation: {}\n", mode);
}

// The query the arguments ask of the owners.
StatusOr<collab::QuerySpec> SpecOf(const QueryArgs& a, collab::QueryKind kind,
                                   const collab::PartyProfile& profile) {
  collab::QuerySpec spec;
  spec.kind = kind;
  if (a.partner.empty() == a.owners.empty()) {
    return InvalidArgumentError(
        "give either --partner NAME (this party and a partner) or --owners "
        "A,B (two other parties)");
  }
  if (!a.partner.empty()) {
    spec.owners = {profile.id.ToString(), a.partner};
  } else {
    const auto owners = SplitList(a.owners);
    if (owners.size() != 2) return InvalidArgumentError("--owners takes two parties: A,B");
    spec.owners = {owners[0], owners[1]};
  }
  spec.identifier = a.identifier == "phone" ? collab::MatchKind::kPhone : collab::MatchKind::kEmail;
  spec.queries[0] = {a.expression, SplitList(a.breakdown)};
  spec.queries[1] = {a.partner_expression, SplitList(a.partner_breakdown)};
  if (!a.epsilon.empty()) {
    auto eps = collab::ParseEpsilon(a.epsilon);
    if (!eps.ok()) return eps.status().WithContext("--epsilon");
    spec.epsilon_micro = *eps;
  }
  if (a.k_min > 0) spec.k_min = static_cast<uint64_t>(a.k_min);
  return spec;
}

// The further counts of --then FILE: one JSON object a line (blank lines and lines starting with
// # skipped), with the members expression, partner_expression, breakdown, partner_breakdown
// (lists of names), epsilon (text) and k_min, each as the option of the same name; the rest as
// the first count's. Errors: kInvalidArgument "FILE:LINE: reason".
StatusOr<std::vector<QueryArgs>> ReadFurtherCounts(const QueryArgs& first) {
  std::ifstream in(first.then);
  if (!in) return InvalidArgumentError("--then {}: cannot be read", first.then);
  std::vector<QueryArgs> out;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    const auto where = [&](std::string_view why) {
      return InvalidArgumentError("{}:{}: {}", first.then, number, why);
    };
    if (line.find_first_not_of(" \t\r") == std::string::npos || line[0] == '#') continue;
    const Json j = Json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return where("not a JSON object");
    QueryArgs a = first;
    a.expression = a.partner_expression = a.breakdown = a.partner_breakdown = a.epsilon = "";
    for (const auto& [k, v] : j.items()) {
      if (k == "expression" || k == "partner_expression" || k == "epsilon") {
        if (!v.is_string()) return where(fmt::format("{} is not text", k));
        (k == "expression" ? a.expression
         : k == "epsilon"  ? a.epsilon
                           : a.partner_expression) = v.get<std::string>();
      } else if (k == "breakdown" || k == "partner_breakdown") {
        std::string names;
        if (!v.is_array()) return where(fmt::format("{} is not a list of names", k));
        for (const Json& n : v) {
          if (!n.is_string()) return where(fmt::format("{} is not a list of names", k));
          names += (names.empty() ? "" : ",") + n.get<std::string>();
        }
        (k == "breakdown" ? a.breakdown : a.partner_breakdown) = names;
      } else if (k == "k_min") {
        if (!v.is_number_unsigned()) return where("k_min is not a whole number");
        a.k_min = v.get<int64_t>();
      } else {
        return where(fmt::format("unknown member '{}'", k));
      }
    }
    out.push_back(std::move(a));
  }
  if (in.bad()) return InvalidArgumentError("--then {}: read error", first.then);
  return out;
}

// The result as printed (JSON) or as the table with its footer (text).
Json ResultJson(const collab::QueryResult& result) {
  Json out = Json::parse(result.result_json);
  out["epsilon_spent"] = result.request.epsilon_micro
                             ? Json(collab::FormatEpsilon(*result.request.epsilon_micro))
                             : Json(nullptr);
  out["grants"] = result.grant_ids;
  out["bytes"] = {{"to_owners", result.bytes_to_owners},
                  {"from_owners", result.bytes_from_owners},
                  {"to_worker_host", result.bytes_to_worker_host}};
  out["seconds"] = {{"round1", result.seconds_round1},
                    {"round2", result.seconds_round2},
                    {"worker", result.seconds_worker}};
  return out;
}

std::string ResultText(const Json& out) {
  std::string text = CellsTable(out);
  text += fmt::format("{} cells under the minimum of {} withheld; noise: {}; ε spent: {}\n",
                      out["filtered_cells"].get<int64_t>(), out["k_min"].get<int64_t>(),
                      out["noise"].get<std::string>(),
                      out["epsilon_spent"].is_null() ? std::string("none")
                                                     : out["epsilon_spent"].get<std::string>());
  text += AttestationLine(out);
  return text;
}

Status RunCollabQuery(QueryArgs a, collab::QueryKind kind) {
  TESSERA_ASSIGN_OR_RETURN(auto context, OpenQueryContext(a));
  QueryContext& c = *context;
  const collab::PartyProfile& profile = *c.profile;
  TESSERA_ASSIGN_OR_RETURN(collab::QuerySpec spec, SpecOf(a, kind, profile));
  // Further counts on the same match: read and checked before anything is asked.
  std::vector<QueryArgs> further;
  std::vector<collab::QuerySpec> further_specs;
  if (!a.then.empty()) {
    TESSERA_ASSIGN_OR_RETURN(further, ReadFurtherCounts(a));
    for (const QueryArgs& f : further) {
      TESSERA_ASSIGN_OR_RETURN(collab::QuerySpec s, SpecOf(f, kind, profile));
      further_specs.push_back(std::move(s));
    }
    spec.keep = true;
  }
  const auto now = [] { return static_cast<int64_t>(std::time(nullptr)); };
  std::unique_ptr<collab::KeptMatch> kept;
  auto result = collab::RunQuery(spec, c.requester, c.grants, *c.transport, &kept);
  TESSERA_RETURN_IF_ERROR(collab::AuditQuery(c.store->db(), profile.id, spec, result, now()));
  if (!result.ok()) return result.status();
  std::vector<Json> outs = {ResultJson(*result)};
  Status failed;
  for (size_t i = 0; i < further_specs.size() && failed.ok(); ++i) {
    auto counted = kept->Count(further_specs[i], c.grants, *c.transport);
    TESSERA_RETURN_IF_ERROR(
        collab::AuditQuery(c.store->db(), profile.id, further_specs[i], counted, now()));
    if (!counted.ok()) {
      failed = counted.status().WithContext(fmt::format("{}: count {}", a.then, i + 1));
    } else {
      outs.push_back(ResultJson(*counted));
    }
  }
  if (kept) (void)kept->End(*c.transport);
  if (a.format == "json") {
    Print((a.then.empty() ? outs.front() : Json(outs)).dump(2) + "\n");
  } else {
    for (size_t i = 0; i < outs.size(); ++i) {
      if (!a.then.empty()) {
        Print(i == 0
                  ? std::string("The match (kept for the counts of ") + a.then + "):\n"
                  : fmt::format("\nCount {} of {} on the kept match:\n", i, further_specs.size()));
      }
      Print(ResultText(outs[i]));
    }
  }
  return failed;
}

// Exit 0 with the list written; 1 when it was withheld (fewer than k_min people: nothing is
// written, as `tessera audience export` writes nothing below the minimum export size).
StatusOr<bool> RunCollabActivate(const QueryArgs& a) {
  TESSERA_ASSIGN_OR_RETURN(auto context, OpenQueryContext(a));
  QueryContext& c = *context;
  collab::QuerySpec spec;
  spec.kind = collab::QueryKind::kActivation;
  spec.owners = {c.profile->id.ToString(), a.partner};
  spec.identifier = a.identifier == "phone" ? collab::MatchKind::kPhone : collab::MatchKind::kEmail;
  spec.queries[0].expression = a.expression;
  spec.queries[1].expression = a.partner_expression;
  // The list is an export of this party's pseudonyms: its minimum export size holds as well.
  TESSERA_ASSIGN_OR_RETURN(spec.k_min_floor, audience::MinExportSize(*c.store));
  auto result = collab::RunActivation(spec, c.requester, c.grants, *c.transport, *c.node);
  TESSERA_RETURN_IF_ERROR(collab::AuditQuery(c.store->db(), c.profile->id, spec,
                                             result.ok()
                                                 ? StatusOr<collab::QueryResult>(result->query)
                                                 : StatusOr<collab::QueryResult>(result.status()),
                                             static_cast<int64_t>(std::time(nullptr))));
  if (!result.ok()) return result.status();
  if (!result->withheld) {
    TESSERA_ASSIGN_OR_RETURN(auto out, Output::Open(a.output));
    const std::string csv = collab::ActivationListCsv(result->members);
    std::fwrite(csv.data(), 1, csv.size(), out->file());
    TESSERA_RETURN_IF_ERROR(out->Commit());
  }
  Json summary = Json::parse(result->query.result_json);
  summary["members"] = result->withheld ? 0 : result->members.size();
  summary["output"] = result->withheld ? Json(nullptr) : Json(a.output);
  summary["grants"] = result->query.grant_ids;
  if (a.format == "json") {
    // The list may be on stdout (-o -): the summary then goes to stderr, never into the list.
    const std::string text = summary.dump(2) + "\n";
    std::fwrite(text.data(), 1, text.size(), a.output == "-" ? stderr : stdout);
  } else if (result->withheld) {
    std::fprintf(stderr,
                 "Withheld: fewer than %llu people are in the joint audience; nothing was released "
                 "and %s was not written\n",
                 static_cast<unsigned long long>(result->query.request.k_min), a.output.c_str());
  } else {
    std::fprintf(stderr, "%zu of this party's customers written to %s (at least %llu)\n%s",
                 result->members.size(), a.output.c_str(),
                 static_cast<unsigned long long>(result->query.request.k_min),
                 AttestationLine(summary).c_str());
  }
  return !result->withheld;
}

void AddQueryCommands(CLI::App& app, int* rc) {
  static QueryArgs overlap_args, count_args;
  auto* collab_cmd = app.add_subcommand(
      "collab", "Queries with partners: overlap and joint audience counts, aggregates only");
  collab_cmd->require_subcommand(1);
  auto add_common = [](CLI::App* cmd, QueryArgs* a) {
    cmd->add_option("--collaboration", a->collaboration, "The collaboration file")->required();
    cmd->add_option("--partner", a->partner,
                    "The partner (name or id): this party and the partner are the owners");
    cmd->add_option("--owners", a->owners,
                    "Two other parties A,B as the owners (this party only asks)");
    cmd->add_option("--identifier", a->identifier, "Match by email or phone")
        ->check(CLI::IsMember({"email", "phone"}))
        ->capture_default_str();
    cmd->add_option("--worker", a->worker, "The tessera-worker binary (default: beside tessera)");
    cmd->add_option("--worker-wrapper", a->worker_wrapper,
                    "Run the worker through this sandbox wrapper, e.g. "
                    "scripts/tessera-worker-sandboxed (bubblewrap)");
    cmd->add_option("--worker-host", a->worker_host, kWorkerHostHelp);
    cmd->add_option("--format", a->format, "text or json")->check(CLI::IsMember({"text", "json"}));
    AddStoreOptions(cmd, &a->store, true);
  };
  auto* overlap = collab_cmd->add_subcommand(
      "overlap", "How many people both owners have (matched by private set intersection)");
  add_common(overlap, &overlap_args);
  overlap->footer(
      "Example: tessera collab overlap --partner Telco --collaboration collab.toml\n"
      "The partner's node must run `tessera serve --with-key --collaboration collab.toml`, and "
      "must have granted this party an overlap (`tessera grant create --purpose overlap`).");
  overlap->callback([rc] {
    const Status s = RunCollabQuery(overlap_args, collab::QueryKind::kOverlap);
    *rc = s.ok() ? 0 : Fail(s);
  });
  auto* count = collab_cmd->add_subcommand(
      "count", "A joint audience's size, broken down by up to two attributes");
  add_common(count, &count_args);
  count->add_option("--expression", count_args.expression,
                    "The audience on the first owner's data (this party's with --partner)");
  count->add_option("--partner-expression", count_args.partner_expression,
                    "The audience on the second owner's data");
  count->add_option("--breakdown", count_args.breakdown,
                    "The first owner's attributes to break down by (comma-separated)");
  count->add_option("--partner-breakdown", count_args.partner_breakdown,
                    "The second owner's attributes to break down by");
  count->add_option("--epsilon", count_args.epsilon,
                    "ε of this query (default: the grants' ε per query, if they ask for noise)");
  count->add_option("--k-min", count_args.k_min, "Smallest cell (at least the grants')");
  count->add_option("--then", count_args.then,
                    "Keep the match and run the counts of this file on it, one JSON object a "
                    "line ({\"expression\", \"partner_expression\", \"breakdown\": [...], "
                    "\"partner_breakdown\": [...], \"epsilon\", \"k_min\"}): each takes seconds "
                    "instead of a new match, and is judged and logged by the owners as a query");
  count->footer(
      "Example: tessera collab count --partner Telco --collaboration collab.toml \\\n"
      "           --expression 'segment = \"champions\"' --partner-breakdown age_band");
  count->callback([rc] {
    const Status s = RunCollabQuery(count_args, collab::QueryKind::kCounts);
    *rc = s.ok() ? 0 : Fail(s);
  });
  static QueryArgs activate_args;
  auto* activate = collab_cmd->add_subcommand(
      "activate",
      "The members of a joint audience among this party's own customers, as its pseudonyms");
  activate->add_option("--collaboration", activate_args.collaboration, "The collaboration file")
      ->required();
  activate->add_option("--partner", activate_args.partner, "The partner (name or id)")->required();
  activate->add_option("--identifier", activate_args.identifier, "Match by email or phone")
      ->check(CLI::IsMember({"email", "phone"}))
      ->capture_default_str();
  activate->add_option("--expression", activate_args.expression,
                       "The audience on this party's data");
  activate->add_option("--partner-expression", activate_args.partner_expression,
                       "The audience on the partner's data");
  activate
      ->add_option("-o,--output", activate_args.output,
                   "Write the list here: CSV with a uuid column, as `tessera audience export` "
                   "writes (- for stdout)")
      ->required();
  activate->add_option("--worker", activate_args.worker,
                       "The tessera-worker binary (default: beside tessera)");
  activate->add_option("--worker-wrapper", activate_args.worker_wrapper,
                       "Run the worker through this sandbox wrapper, e.g. "
                       "scripts/tessera-worker-sandboxed (bubblewrap)");
  activate->add_option("--worker-host", activate_args.worker_host, kWorkerHostHelp);
  activate->add_option("--format", activate_args.format, "text or json (the summary)")
      ->check(CLI::IsMember({"text", "json"}));
  AddStoreOptions(activate, &activate_args.store, true);
  activate->footer(
      "Example: tessera collab activate --partner Telco --collaboration collab.toml \\\n"
      "           --partner-expression 'tariff = \"Max\"' -o audience.csv\n"
      "Then, for Customer Match: tessera match --crm crm.csv --audience audience.csv --format "
      "google\n"
      "The partner must have granted this party activation (`tessera grant create --purpose "
      "activation --outputs activation_list`), without --epsilon. Fewer people than the grants' "
      "k_min (or this party's minimum export size) are withheld: nothing is written, exit 1.");
  activate->callback([rc] {
    const auto written = RunCollabActivate(activate_args);
    *rc = !written.ok() ? Fail(written.status()) : *written ? 0 : kExitError;
  });
}

}  // namespace

void AddCollabCommands(CLI::App& app, int* rc) {
  static PartyArgs init_args, show_args;
  auto* party = app.add_subcommand("party", "This installation as a party of collaborations");
  party->require_subcommand(1);
  auto* init = party->add_subcommand(
      "init", "Name this party; its signing key derives from the owner key; prints its party id");
  init->add_option("--name", init_args.name, "The party's name, e.g. 'Frischmarkt GmbH'")
      ->required();
  AddStoreOptions(init, &init_args.store, true);
  init->add_option("--format", init_args.format, "text or json")
      ->check(CLI::IsMember({"text", "json"}));
  init->callback([rc] {
    const Status s = RunPartyInit(init_args);
    *rc = s.ok() ? 0 : Fail(s);
  });
  auto* show = party->add_subcommand("show", "This party's name and party id");
  AddStoreOptions(show, &show_args.store, false);
  show->add_option("--format", show_args.format, "text or json")
      ->check(CLI::IsMember({"text", "json"}));
  show->callback([rc] {
    const Status s = RunPartyShow(show_args);
    *rc = s.ok() ? 0 : Fail(s);
  });

  static GrantArgs create_args, import_args, list_args, show_grant_args, revoke_args;
  auto* grant = app.add_subcommand(
      "grant", "What this party allows each partner, signed; grants received from partners");
  grant->require_subcommand(1);
  auto* create = grant->add_subcommand("create", "Sign a grant for a partner and keep it");
  create->add_option("--partner", create_args.partner, "The partner's party id or name")
      ->required();
  create
      ->add_option("--purpose", create_args.purpose,
                   "overlap, audience_counts, activation or campaign_measurement")
      ->required();
  create
      ->add_option("--outputs", create_args.outputs,
                   "What may leave, comma-separated: overlap_size, audience_count, "
                   "cell_counts, activation_list")
      ->required();
  create->add_option("--fields", create_args.fields,
                     "Attributes the partner may use, comma-separated (none for an overlap)");
  create->add_option("--k-min", create_args.k_min, "Smallest cell released")->capture_default_str();
  create->add_option("--epsilon", create_args.epsilon,
                     "Differential privacy: ε per query (e.g. 0.5); with --budget");
  create->add_option("--budget", create_args.budget, "ε per calendar month (e.g. 3)");
  create->add_option("--recipients", create_args.recipients,
                     "Who may receive results (party ids or names; default: the partner)");
  create->add_option("--worker-hosts", create_args.worker_hosts,
                     "Where the join worker may run (party ids or names; default: here, which "
                     "then needs the role worker_host and a running tessera serve)");
  create
      ->add_option("--attestation", create_args.attestation,
                   "Accepted attestation modes: simulated, sgx-dcap (comma-separated)")
      ->capture_default_str();
  create->add_option("--expires", create_args.expires, "Last day of validity, YYYY-MM-DD");
  create->add_option("--valid-for", create_args.valid_for, "Validity from today: 90d, 12w, 6m")
      ->capture_default_str();
  create->add_option("--collaboration", create_args.collaboration,
                     "The collaboration file, to name parties by name");
  create->add_option("--out", create_args.output, "Write the signed grant here (default stdout)");
  AddStoreOptions(create, &create_args.store, true);
  create->callback([rc] {
    const Status s = RunGrantCreate(create_args);
    *rc = s.ok() ? 0 : Fail(s);
  });
  auto* import = grant->add_subcommand("import", "Verify a partner's grant and keep it");
  import->add_option("file", import_args.file, "The signed grant (JSON)")->required();
  import
      ->add_option("--collaboration", import_args.collaboration,
                   "The collaboration file naming the grantor")
      ->required();
  AddStoreOptions(import, &import_args.store, true);
  import->callback([rc] {
    const Status s = RunGrantImport(import_args);
  *rc = s.ok() ? 0 : Fail(s);
});
auto* list = grant->add_subcommand("list", "Every grant, issued and received, revoked too");
AddStoreOptions(list, &list_args.store, false);
list->add_option("--format", list_args.format, "text or json")
    ->check(CLI::IsMember({"text", "json"}));
list->callback([rc] {
  const Status s = RunGrantList(list_args);
  *rc = s.ok() ? 0 : Fail(s);
});
auto* show_grant = grant->add_subcommand("show", "One grant as JSON");
show_grant->add_option("id", show_grant_args.id, "The grant's id (g_...)")->required();
AddStoreOptions(show_grant, &show_grant_args.store, false);
show_grant->callback([rc] {
  const Status s = RunGrantShow(show_grant_args);
  *rc = s.ok() ? 0 : Fail(s);
});
auto* revoke = grant->add_subcommand("revoke", "Revoke a grant; it stays listed as revoked");
revoke->add_option("id", revoke_args.id, "The grant's id (g_...)")->required();
revoke->add_option("--reason", revoke_args.reason, "Why (kept with the revocation)");
revoke->add_option("--collaboration", revoke_args.collaboration,
                   "The collaboration file: tell the grantee's node (signed with --key)");
AddStoreOptions(revoke, &revoke_args.store, true);
revoke->callback([rc] {
  const Status s = RunGrantRevoke(revoke_args);
  *rc = s.ok() ? 0 : Fail(s);
});

static AuditArgs audit_list_args, audit_verify_args;
auto* audit = app.add_subcommand(
    "audit", "The hash-chained log of every collaboration request and run (no pseudonyms)");
audit->require_subcommand(1);
auto* alist = audit->add_subcommand("list", "Entries in order");
alist->add_option("--after", audit_list_args.after, "Only entries after this sequence number");
alist->add_option("--limit", audit_list_args.limit, "At most this many entries")
    ->capture_default_str();
alist->add_option("--format", audit_list_args.format, "text or json")
    ->check(CLI::IsMember({"text", "json"}));
AddStoreOptions(alist, &audit_list_args.store, false);
alist->callback([rc] {
  const Status s = RunAuditList(audit_list_args);
  *rc = s.ok() ? 0 : Fail(s);
});
auto* verify = audit->add_subcommand(
    "verify", "Check every link of the chain: exit 1 if an entry was changed, removed or moved");
verify->add_option("--format", audit_verify_args.format, "text or json")
    ->check(CLI::IsMember({"text", "json"}));
AddStoreOptions(verify, &audit_verify_args.store, false);
verify->callback([rc] {
  const auto ok = RunAuditVerify(audit_verify_args);
  *rc = !ok.ok() ? Fail(ok.status()) : *ok ? 0 : kExitError;
});

AddQueryCommands(app, rc);
}  // namespace tessera

}  // namespace tessera
