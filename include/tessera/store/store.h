#pragma once

// The system of record: pseudonymous orders in columnar chunks, the customer pseudonyms
// behind the dense customer indexes, dictionaries, load history and the fingerprint of the
// owner's key. One interface, two implementations: SQLite (embedded, the default) and
// PostgreSQL (the server deployment; docs/deployment.md).
//
// Privacy: a store never receives a raw identifier: customers arrive as UUID pseudonyms,
// orders as encrypted tokens. It records only the key's fingerprint, never the key.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tessera/common/status.h"
#include "tessera/io/order_reader.h"
#include "tessera/privacy/pseudonymizer.h"
#include "tessera/store/database.h"
#include "tessera/store/order_columns.h"

namespace tessera::store {

// What one committed batch adds: the customers first seen in it (their indexes continue
// the store's sequence), new dictionary entries (ids continue each dictionary), and orders.
struct Batch {
  uint32_t first_new_customer = 0;
  std::vector<privacy::Uuid> new_customers;
  struct DictEntry {
    DictKind kind;
    uint32_t id;
    std::string value;
  };
  std::vector<DictEntry> new_dict_entries;
  OrderColumns orders;
};

struct LoadRecord {
  int64_t load_id = 0;
  std::string started_at, finished_at;  // ISO 8601 UTC; finished_at empty if interrupted
  std::string summary_json;
};

struct StoreStats {
  uint64_t customers = 0;
  uint64_t orders = 0;
  uint64_t chunks = 0;
  uint64_t loads = 0;
  uint64_t snapshots = 0;
};

// A kept result of one recomputation: profiles scored and segmented over a window ending at
// an as-of date, and the per-segment statistics. Snapshots are immutable once saved.
struct SnapshotInfo {
  int64_t id = 0;                        // assigned by SaveSnapshot, increasing
  std::string created_at;                // ISO 8601 UTC, set by SaveSnapshot
  int64_t as_of_day = 0, start_day = 0;  // day numbers (civil_time.h)
  std::string window;                    // "24m", "90d"
  std::string currency;
  int currency_exponent = 2;
  int64_t last_load_id = 0;         // the newest load the snapshot includes
  uint64_t customers_in_store = 0;  // all customers, with or without purchases in the window
  uint64_t profile_count = 0;       // customers with purchases in the window
  std::string prediction_models;    // empty without predictions, else e.g. "bgnbd+gg"
  double prediction_horizon_months = 0;
};

// One segment's statistics, in rule order; names in both languages.
struct SnapshotSegment {
  std::string key, name_en, name_de;
  uint64_t uuid_count = 0, sum_order_count = 0;
  int64_t sum_clv_minor = 0, median_clv_minor = 0;
  double avg_order_count = 0, avg_clv = 0, avg_recency_days = 0, share_percent = 0;
  double avg_p_alive = 0, avg_predicted_clv = 0;
};

// One customer's profile in a snapshot; `segment` indexes the snapshot's segments.
struct SnapshotProfile {
  uint32_t customer = 0;
  uint16_t segment = 0;
  uint8_t r_score = 0, f_score = 0, m_score = 0;
  uint32_t order_count = 0;
  int64_t revenue_minor = 0;
  int32_t recency_days = 0, first_day = 0, last_day = 0;
  double p_alive = 0, expected_purchases = 0, predicted_clv = 0;  // NaN without predictions
};

// An HTTP API key as the store keeps it: never the key itself, only a salted hash of its
// secret part (server/api_keys.h makes and checks keys).
struct ApiKeyRecord {
  std::string id;                      // public part of the key, unique
  std::string role;                    // "viewer", "analyst" or "admin"
  std::string label;                   // free text from its creator
  std::string salt, hash;              // bytes
  bool allow_query_key = false;        // may be sent as ?key= (IMPORTDATA)
  std::string created_at, revoked_at;  // ISO 8601 UTC; revoked_at empty while valid
};

// A named audience (audience/): its expression over the audience index.
struct AudienceRecord {
  std::string name;
  std::string expression;
  std::string created_at, updated_at;  // ISO 8601 UTC
};

// One entry of an audience's history: what happened, with the expression and the size then.
struct AudienceEvent {
  std::string name;
  int64_t seq = 0;    // per name, increasing
  std::string at;     // ISO 8601 UTC
  std::string event;  // "saved", "updated", "exported", "deleted"
  std::string expression;
  uint64_t size = 0;
  int64_t snapshot_id = 0;  // the snapshot the audience index was built from
};

// An attribute attached to a customer from another source (`tessera audience attributes
// import`): a name and a value, e.g. ("loyalty_tier", "gold"). One value per customer and name.
struct CustomerAttribute {
  uint32_t customer = 0;
  std::string name, value;
};

// Not thread-safe: one Store per thread. Resource type: not copyable.
class Store {
 public:
  virtual ~Store() = default;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Opens the store at `location`, creating it when `create` is true: a file path for SQLite
  // ("sqlite:PATH" also works), or a PostgreSQL location ("postgresql://..." or
  // "postgres://..." URL, or a libpq "host=... dbname=..." string; the database must exist,
  // Tessera creates and migrates its tables). Errors: kNotFound (no store and !create; a
  // PostgreSQL database that does not exist), kInvalidArgument (unsupported URL scheme),
  // kFailedPrecondition (a store of a newer schema version), kDataLoss (not a Tessera
  // store), kUnavailable (locked, I/O, or the server cannot be reached; the message names
  // host and database, never a password).
  static StatusOr<std::unique_ptr<Store>> Open(const std::string& location, bool create);

  // Ties the store to a key: the first call records `fingerprint`; later calls with another
  // fingerprint fail with kFailedPrecondition and a message naming both fingerprints.
  virtual Status BindKey(const std::string& fingerprint) = 0;
  // The recorded fingerprint, or nullopt for a store not yet bound.
  virtual StatusOr<std::optional<std::string>> KeyFingerprint() = 0;

  // The store core's connection, for the tables that other modules own (database.h).
  virtual Database& db() = 0;

  // Takes the store's writer lock for the life of the returned handle (one load at a time),
  // which must not outlive the store. Errors: kUnavailable when another process holds it.
  virtual StatusOr<WriterLock> LockForWriting() = 0;

  // Calls `fn(index, uuid)` for every customer, in index order.
  virtual Status ScanCustomers(const std::function<void(uint32_t, const privacy::Uuid&)>& fn) = 0;
  virtual StatusOr<uint32_t> CustomerCount() = 0;
  // Calls `fn(kind, id, value)` for every dictionary entry.
  virtual Status ScanDictionaries(
      const std::function<void(DictKind, uint32_t, const std::string&)>& fn) = 0;
  // Calls `fn(chunk)` for every order chunk, in load order. Stops at the first error.
  Status ScanOrders(const std::function<Status(const OrderColumns&)>& fn) {
    return ScanOrderFields(kOrderAll, fn);
  }
  // The same, but only the column groups in `fields` (OrderFields; the core always) are sure
  // to be filled in; a store may leave the others empty, so a scan reads only what it asks
  // for. The chunk passed to `fn` is valid during the call only.
  virtual Status ScanOrderFields(uint32_t fields,
                                 const std::function<Status(const OrderColumns&)>& fn) = 0;

  // Starts a load record; returns its id.
  virtual StatusOr<int64_t> BeginLoad() = 0;
  // Commits one batch atomically (all or nothing, even if the process is killed). The
  // PostgreSQL store retries transient failures (lost connection, server restart) itself and
  // never writes a batch twice; kUnavailable when they persist.
  virtual Status AppendBatch(int64_t load_id, const Batch& batch) = 0;
  virtual Status FinishLoad(int64_t load_id, const std::string& summary_json) = 0;
  virtual StatusOr<std::vector<LoadRecord>> Loads() = 0;
  // The rejected rows of a load (file, line, column and reason; never a value), kept with
  // the load for later review. LoadRejects: in the order added; kNotFound for an unknown load.
  virtual Status AddLoadRejects(int64_t load_id, const std::vector<io::Reject>& rejects) = 0;
  virtual StatusOr<std::vector<io::Reject>> LoadRejects(int64_t load_id) = 0;

  // Keeps a snapshot atomically (all or nothing); returns its id. `profiles` in customer
  // order. Errors: kInvalidArgument (a profile names no segment or no customer), I/O.
  virtual StatusOr<int64_t> SaveSnapshot(const SnapshotInfo& info,
                                         const std::vector<SnapshotSegment>& segments,
                                         const std::vector<SnapshotProfile>& profiles) = 0;
  // Every snapshot, oldest first.
  virtual StatusOr<std::vector<SnapshotInfo>> Snapshots() = 0;
  // Errors: kNotFound for an unknown id.
  virtual StatusOr<std::vector<SnapshotSegment>> SnapshotSegments(int64_t id) = 0;
  // Calls `fn` for every profile of the snapshot, in customer order. kNotFound: unknown id.
  virtual Status ScanSnapshotProfiles(int64_t id,
                                      const std::function<void(const SnapshotProfile&)>& fn) = 0;
  // Deletes all but the newest `keep` snapshots; returns how many were deleted.
  virtual StatusOr<uint64_t> PruneSnapshots(uint64_t keep) = 0;

  // API keys. AddApiKey errors: kAlreadyExists for a duplicate id. RevokeApiKey returns
  // false for an unknown or already revoked id.
  virtual Status AddApiKey(const ApiKeyRecord& key) = 0;
  virtual StatusOr<std::vector<ApiKeyRecord>> ApiKeys() = 0;
  virtual StatusOr<bool> RevokeApiKey(const std::string& id) = 0;

  // Named audiences. SaveAudience creates (replace = false; kAlreadyExists when the name is
  // taken) or updates (replace = true; kNotFound when there is none) an audience and records
  // the event with `size` in its history, atomically. DeleteAudience returns false for an
  // unknown name and records "deleted". RecordAudienceEvent appends to the history of an
  // existing audience (kNotFound otherwise). History outlives deletion.
  virtual Status SaveAudience(const AudienceRecord& audience, bool replace, uint64_t size,
                              int64_t snapshot_id) = 0;
  virtual StatusOr<std::vector<AudienceRecord>> Audiences() = 0;  // by name
  virtual StatusOr<bool> DeleteAudience(const std::string& name) = 0;
  virtual Status RecordAudienceEvent(const std::string& name, const std::string& event,
                                     uint64_t size, int64_t snapshot_id) = 0;
  // Oldest first; empty for a name never saved.
  virtual StatusOr<std::vector<AudienceEvent>> AudienceHistory(const std::string& name) = 0;

  // Settings of the data owner (e.g. "audience.min_export_size"); nullopt when unset.
  virtual Status SetSetting(const std::string& key, const std::string& value) = 0;
  virtual StatusOr<std::optional<std::string>> Setting(const std::string& key) = 0;

  // Attributes from other sources: set (replacing a customer's earlier value of the same
  // name) atomically; the setting "attributes.generation" counts the imports. Errors:
  // kInvalidArgument for an unknown customer index.
  virtual Status PutCustomerAttributes(const std::vector<CustomerAttribute>& attributes) = 0;
  virtual Status ScanCustomerAttributes(
      const std::function<void(const CustomerAttribute&)>& fn) = 0;

  // PostgreSQL only: creates `role` (or updates it when it exists) with SELECT on the
  // documented read-only BI views (schema tessera_bi, docs/bi.md) and no other rights; it can
  // log in when `password` is not empty. Errors: kFailedPrecondition on SQLite,
  // kInvalidArgument for a bad name, kInternal when the connecting user may not create roles.
  virtual Status CreateReadOnlyRole(const std::string& role, const std::string& password) = 0;

  virtual StatusOr<StoreStats> Stats() = 0;
  virtual std::string Describe() const = 0;  // e.g. "SQLite store /path/store.db"

 protected:
  Store() = default;
};

// The documented default: $TESSERA_STORE, else $XDG_DATA_HOME/tessera/store.db, else
// ~/.local/share/tessera/store.db.
std::string DefaultStoreLocation();

}  // namespace tessera::store
