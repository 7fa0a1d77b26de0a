#pragma once

// The collaboration routes that run queries (docs/collaboration.md, "Between nodes"):
//   POST /api/v1/collab/node/round1, /round2, /grant_revoked — from other parties' nodes,
//        authenticated by their party signatures (node_auth.h), not by API keys: this node's part
//        as a data owner, and a grantor's notice that it revoked a grant to this party;
//   POST /api/v1/collab/node/worker_start, /worker_run — the same, for a party with the role
//        worker_host: a join worker for another party's query (worker_host.h);
//   POST /api/v1/collab/overlap, /count       — analysts: run a query as the requester, with this
//        party as one owner and a partner as the other, the join worker started here; a count
//        with "keep": true keeps its match (answering its id), one with "match": ID counts on a
//        kept match in seconds (session.h KeptMatch);
//   DELETE /api/v1/collab/matches/{id}         — analysts: end a kept match;
//   POST /api/v1/collab/activate              — analysts: the same for an activation, answering
//        the members of the joint audience among this party's own customers (pseudonyms, JSON or
//        CSV) when they are at least k_min and this party's minimum export size.
// Available when `tessera serve` runs on a party's store with its key (--with-key) and a
// collaboration file (--collaboration); otherwise they answer 404 saying what is missing.
//
// Internal to the server module.

#include <httplib.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "server/http_common.h"
#include "tessera/collab/session.h"
#include "tessera/collab/worker_host.h"
#include "tessera/server/api_keys.h"
#include "tessera/store/store.h"

namespace tessera::server::internal {

class CollabNodeApi {
 public:
  struct Options {
    std::string store_location;
    std::string key_path;            // empty: no owner key, no node
    std::string collaboration_path;  // empty: no collaboration
    std::string worker_binary;       // empty: DefaultWorkerBinary()
    std::string index_path;
    uint64_t max_body_bytes = uint64_t{4} << 30;
    size_t max_json_bytes = 1 << 20;
  };
  struct Hooks {
    std::function<bool(const httplib::Request&, httplib::Response&, Role)> authorize;
    std::function<StatusOr<store::Store*>()> store;  // the calling thread's connection
  };

  // Errors: a collaboration file that does not parse; an owner key that does not load.
  static StatusOr<std::unique_ptr<CollabNodeApi>> Create(const Options& options, Hooks hooks);
  ~CollabNodeApi();

  void AddRoutes(httplib::Server& http);
  // Tells the grantee of a grant this party revoked (collab::NotifyRevocation). Errors: those,
  // and kFailedPrecondition when this node takes no part in collaborations (why).
  StatusOr<bool> NotifyRevocation(store::Database& db, std::string_view grant_id);
  // Whether a request streams a body larger than the JSON limit (node rounds).
  static bool StreamsBody(std::string_view method, std::string_view path);

 private:
  CollabNodeApi() = default;
  void Node(const httplib::Request& req, httplib::Response& res,
            const httplib::ContentReader& reader);
  void Query(const httplib::Request& req, httplib::Response& res, collab::QueryKind kind);
  void Activate(const httplib::Request& req, httplib::Response& res);
  void EndMatch(const httplib::Request& req, httplib::Response& res);
  // The query a request's JSON body asks for, with this party as the first owner, and where
  // its worker should run (empty: where the grants allow, here first).
  // A count's "match" (a kept match's id) goes to *match when given.
  std::optional<HttpError> SpecOf(const httplib::Request& req, collab::QueryKind kind,
                                  collab::QuerySpec* spec, std::string* worker_host,
                                  std::string* match = nullptr) const;
  // How this node runs a query as the requester (its key, collaboration file and worker).
  collab::RequesterOptions RequesterOptions() const;
  // A match kept for counts: one count at a time on it.
  struct Kept {
    std::mutex mu;
    std::unique_ptr<collab::KeptMatch> match;  // none once ended
  };
  // The kept match of that id (hex), none when unknown; forgets and ends expired ones first.
  std::shared_ptr<Kept> FindMatch(const std::string& id);
  // Why this node cannot take part, or empty.
  std::string Unavailable() const;

  Options options_;
  Hooks hooks_;
  std::shared_ptr<const privacy::OwnerKey> owner_key_;
  std::optional<collab::Collaboration> collaboration_;
  std::optional<collab::PartyKey> party_key_;
  std::unique_ptr<collab::OwnerNode> node_;
  std::unique_ptr<collab::WorkerHostNode> host_;  // refuses unless this party is a worker_host
  std::string why_not_;
  std::mutex matches_mu_;
  std::map<std::string, std::shared_ptr<Kept>> matches_;  // by id; guarded by matches_mu_
};

}  // namespace tessera::server::internal
