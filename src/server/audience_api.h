#pragma once

// The audience routes of `tessera serve` (/api/v1/audiences/..., docs/audiences.md "API"):
// schema, categories, count, overlap, saved audiences and their export, answered from an
// audience index held in memory.
//
// The index is loaded (or built, and written to `index_path` as the CLI does) on first use by
// a keeper thread of its own, never on an event loop. The keeper then checks once a second
// whether the store changed (newest snapshot, newest load and whether it finished, attached
// attributes; the whole IndexStamp once a minute) and swaps in a rebuilt index; requests keep
// answering from the previous one meanwhile. StoreChanged() brings it up to date at once after
// a write through the API.
//
// Privacy: counts and overlaps are aggregates; exports carry pseudonyms only, for saved
// audiences of at least the owner's minimum size. No pseudonym reaches an error message.
//
// Internal to the server module.

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "tessera/audience/audience_store.h"
#include "tessera/audience/index.h"
#include "tessera/common/status.h"
#include "tessera/server/api_keys.h"
#include "tessera/store/store.h"

namespace tessera::server::internal {

// Thread-safety: the handlers run on any number of threads at once; AddRoutes before serving.
class AudienceApi {
 public:
  struct Hooks {
    // Checks the request's key for `role`; on failure fills the response and returns false.
    std::function<bool(const httplib::Request&, httplib::Response&, Role)> authorize;
    // The calling thread's own store connection (stores are not thread-safe).
    std::function<StatusOr<store::Store*>()> store;
  };

  AudienceApi(std::string index_path, size_t max_json_bytes, Hooks hooks);
  ~AudienceApi();  // stops the keeper thread
  AudienceApi(const AudienceApi&) = delete;
  AudienceApi& operator=(const AudienceApi&) = delete;

  // Registers the routes; before any catch-all route.
  void AddRoutes(httplib::Server& http);

  // After an ingest or a new snapshot through the API: when an index is held (or wanted),
  // rebuilds it now on the calling (worker) thread, so the client's next count sees the write.
  void StoreChanged();

  using IndexPtr = std::shared_ptr<const audience::AudienceIndex>;

 private:
  // The index to answer from; starts the keeper on first use and waits for its first build
  // (at most kFirstBuildWait). Errors: kFailedPrecondition without a snapshot, kUnavailable
  // while the first build takes longer, the store's.
  StatusOr<IndexPtr> Index();
  void Keep();  // the keeper thread
  // What changes in the store when the index must be rebuilt; cheap to read once a second.
  StatusOr<std::string> ChangeKey(store::Store& store);
  // Loads or builds the index for `store`'s current state and swaps it in; unless `force`, not
  // when the held index was made at the current ChangeKey.
  void Rebuild(store::Store& store, bool force);

  // The handlers.
  void Schema(const httplib::Request& req, httplib::Response& res);
  void Categories(const httplib::Request& req, httplib::Response& res);
  void Count(const httplib::Request& req, httplib::Response& res);
  void Overlap(const httplib::Request& req, httplib::Response& res);
  void List(const httplib::Request& req, httplib::Response& res);
  void Create(const httplib::Request& req, httplib::Response& res);
  void Show(const httplib::Request& req, httplib::Response& res, const std::string& name);
  void Update(const httplib::Request& req, httplib::Response& res, const std::string& name);
  void Delete(const httplib::Request& req, httplib::Response& res, const std::string& name);
  void Export(const httplib::Request& req, httplib::Response& res, const std::string& name);
  // Index() for a handler; false (the error response sent) when there is none.
  bool AwaitIndex(httplib::Response& res, IndexPtr* index);
  // The index, the calling thread's store and the saved audience `name`; false (the error
  // response sent, 404 for an unknown name) when one is missing.
  struct Saved {
    IndexPtr index;
    store::Store* store = nullptr;
    audience::AudienceRecord record;
  };
  bool OpenSaved(httplib::Response& res, const std::string& name, Saved* out);

  const std::string index_path_;
  const size_t max_json_bytes_;
  const Hooks hooks_;

  std::mutex mu_;
  std::condition_variable changed_;
  IndexPtr index_;         // GUARDED_BY(mu_)
  Status error_;           // GUARDED_BY(mu_): why there is no index, after a failed build
  bool started_ = false;   // GUARDED_BY(mu_): the keeper runs
  bool stopping_ = false;  // GUARDED_BY(mu_)
  std::string built_key_;  // GUARDED_BY(mu_): ChangeKey when index_ (or error_) was made
  std::chrono::steady_clock::time_point built_at_;  // GUARDED_BY(mu_)
  std::mutex build_mu_;                             // one load or build at a time
  std::thread keeper_;
};

}  // namespace tessera::server::internal
