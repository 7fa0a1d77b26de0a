#pragma once

// The order system of record: pseudonymous orders in columnar chunks, the customer
// pseudonyms behind the dense customer indexes, dictionaries, load history and the
// fingerprint of the owner's key. One interface, two implementations: SQLite (embedded, the
// default) and PostgreSQL (the server deployment; docs/deployment.md). Other modules keep
// their own tables in the same store through its core connection, db() (database.h).
//
// Privacy: a store never receives a raw identifier: customers arrive as UUID pseudonyms,
// orders as encrypted tokens, their e-mails and phones as match tokens. It records only the
// key's fingerprint, never the key.

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "tessera/common/status.h"
#include "tessera/io/order_reader.h"
#include "tessera/privacy/pseudonymizer.h"
#include "tessera/store/database.h"
#include "tessera/store/order_columns.h"

namespace tessera::store {

// A customer's identifier (e-mail or phone) in the keyed form that collaboration matches on:
// k · H(kind ‖ normalized identifier) on ristretto255, k derived from the owner key
// (collab/match_token.h), as its 32-byte encoding. Like a pseudonym it never leaves the owner.
inline constexpr size_t kMatchTokenSize = 32;
struct MatchToken {
  uint32_t customer = 0;  // the customer's index
  privacy::IdentifierKind kind = privacy::IdentifierKind::kEmail;
  std::array<uint8_t, kMatchTokenSize> token{};
};

// The versions of one order that a shop's API changes after it is stored (refunded, cancelled,
// edited): orders loaded with ingest::LoadOptions::replace_stored_orders append a newer
// version of a stored order instead of skipping it, and the store keeps, by order token, how
// many versions of it are stored and the shop's update time of the newest (table
// order_versions). Scans show the newest version only (Store::ScanOrderFields).
struct OrderVersion {
  std::string token;       // the order token, as the orders' token column holds it
  uint32_t versions = 1;   // how many versions of the order are stored, this batch's included
  int64_t updated_at = 0;  // the shop's update time of the newest version, Unix seconds
};

// What one committed batch adds: the customers first seen in it (their indexes continue
// the store's sequence), new dictionary entries (ids continue each dictionary), orders, and
// match tokens of customers of the store or of this batch (one the store has is skipped), and
// the order_versions rows of its orders that are versions (OrderVersion; each replaces the row
// of its token, so that writing a batch again writes the same rows).
// `commit_with`, when set, writes rows of another module's tables in the batch's transaction
// (the attributes of the people a batch adds: all or nothing with them): AppendBatch calls it
// after the customers, dictionary entries and match tokens are written; its error rolls the
// batch back. It must not begin a transaction nor migrate, and it must be repeatable: the
// PostgreSQL store runs it again when it retries the batch after a lost connection.
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
  std::vector<MatchToken> new_match_tokens;
  std::vector<OrderVersion> order_versions;
  std::function<Status(Database&)> commit_with;
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
  Status BindKey(const std::string& fingerprint);
  // The recorded fingerprint, or nullopt for a store not yet bound.
  StatusOr<std::optional<std::string>> KeyFingerprint();

  // The store core's connection, for the tables that other modules own (database.h).
  virtual Database& db() = 0;
  // The order system's own tables (module "store"), migrated by Open.
  static const Schema& OrderSchema();

  // Takes the store's writer lock for the life of the returned handle (one load at a time),
  // which must not outlive the store. Errors: kUnavailable when another process holds it.
  virtual StatusOr<WriterLock> LockForWriting() = 0;

  // Calls `fn(index, uuid)` for every customer, in index order.
  virtual Status ScanCustomers(const std::function<void(uint32_t, const privacy::Uuid&)>& fn) = 0;
  virtual StatusOr<uint32_t> CustomerCount() = 0;
  // Every customer's pseudonym, by index (ScanCustomers into a vector).
  StatusOr<std::vector<privacy::Uuid>> CustomerPseudonyms();
  // What another module needs to write rows that name customers: how many there are, and on
  // PostgreSQL, which keeps each such row's pseudonym beside the index (the distribution
  // column under Citus), the pseudonyms by index (empty on SQLite).
  struct CustomerRefs {
    uint32_t count = 0;
    std::vector<privacy::Uuid> pseudonyms;
  };
  StatusOr<CustomerRefs> CustomersForRows();
  // Calls `fn(kind, id, value)` for every dictionary entry.
  virtual Status ScanDictionaries(
      const std::function<void(DictKind, uint32_t, const std::string&)>& fn) = 0;
  // Calls `fn(chunk)` for every order chunk, in load order. Stops at the first error. Of an
  // order stored in several versions (OrderVersion), only the newest is passed: the chunks of
  // the older ones come without it (a chunk of only superseded orders does not come at all).
  Status ScanOrders(const std::function<Status(const OrderColumns&)>& fn) {
    return ScanOrderFields(kOrderAll, fn);
  }
  // The same, but only the column groups in `fields` (OrderFields; the core always) are sure
  // to be filled in; a store may leave the others empty, so a scan reads only what it asks
  // for. The chunk passed to `fn` is valid during the call only. A store without superseded
  // versions is scanned as it is; one with them reads the tokens too, to leave them out.
  Status ScanOrderFields(uint32_t fields, const std::function<Status(const OrderColumns&)>& fn);

  // The order_versions rows (OrderVersion), for a load that replaces stored orders.
  // Errors: those of Database::Query.
  StatusOr<std::vector<OrderVersion>> OrderVersions();

  // Calls `fn(customer_idx, kind, token)` for every match token (AppendBatch stores them), by
  // customer index. Errors: those of Database::Query; kDataLoss for a row whose token is not
  // 32 bytes or whose kind is unknown.
  Status ScanMatchTokens(const std::function<void(uint32_t, privacy::IdentifierKind,
                                                  std::span<const uint8_t, kMatchTokenSize>)>& fn);
  // Calls `fn(customer_idx, kind)` once for each customer and kind the store holds a match token
  // of. Errors: as ScanMatchTokens.
  Status ScanMatchTokenKinds(const std::function<void(uint32_t, privacy::IdentifierKind)>& fn);

  // Starts a load record; returns its id.
  StatusOr<int64_t> BeginLoad();
  // Commits one batch atomically (all or nothing, even if the process is killed). The
  // PostgreSQL store retries transient failures (lost connection, server restart) itself and
  // never writes a batch twice; kUnavailable when they persist.
  virtual Status AppendBatch(int64_t load_id, const Batch& batch) = 0;
  Status FinishLoad(int64_t load_id, const std::string& summary_json);
  StatusOr<std::vector<LoadRecord>> Loads();
  // The rejected rows of a load (file, line, column and reason; never a value), kept with
  // the load for later review. LoadRejects: in the order added; kNotFound for an unknown load.
  Status AddLoadRejects(int64_t load_id, const std::vector<io::Reject>& rejects);
  StatusOr<std::vector<io::Reject>> LoadRejects(int64_t load_id);

  // Counts of the store; `orders` counts each order once, however many versions it has.
  StatusOr<StoreStats> Stats();
  virtual std::string Describe() const = 0;  // e.g. "SQLite store /path/store.db"

 protected:
  Store() = default;

  // The backend's scan of every stored order chunk, superseded versions included, in load
  // order, in one read snapshot: `begin` runs first in that snapshot (it may query db()) and
  // returns the column groups to read; then `fn` is called as for ScanOrderFields.
  virtual Status ScanOrderChunks(const std::function<StatusOr<uint32_t>()>& begin,
                                 const std::function<Status(const OrderColumns&)>& fn) = 0;
  // The backend's counts, every stored version of an order counted.
  virtual StatusOr<StoreStats> TableStats() = 0;
};

// The documented default: $TESSERA_STORE, else $XDG_DATA_HOME/tessera/store.db, else
// ~/.local/share/tessera/store.db.
std::string DefaultStoreLocation();

}  // namespace tessera::store
