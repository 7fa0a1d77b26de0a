#pragma once

// The audience module's own tables: named audiences with their history, the data owner's
// settings, and attributes attached to customers from other sources. Written once against the
// store core (store/database.h), on both backends.
//
// Privacy: attributes are attached to pseudonymous customers (dense indexes, and on
// PostgreSQL their pseudonyms); no identifier reaches these tables.

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/common/status.h"
#include "tessera/store/store.h"

namespace tessera::audience {

// A named audience: its expression over the audience index.
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

// An attribute value to set on a customer, borrowed (AudienceStore::SetAttributesInTransaction).
struct AttributeValue {
  uint32_t customer = 0;
  privacy::Uuid pseudonym;  // the customer's: PostgreSQL keeps it beside the index
  std::string_view name, value;
};

// The audience tables of one store, brought up to date on first use. Borrows the store; not
// thread-safe (one per thread, as stores are).
class AudienceStore {
 public:
  explicit AudienceStore(store::Store& store) : store_(store), db_(store.db()) {}

  // Creates (replace = false; kAlreadyExists when the name is taken) or updates (replace =
  // true; kNotFound when there is none) an audience and records the event with `size` in its
  // history, atomically.
  Status Save(const AudienceRecord& audience, bool replace, uint64_t size, int64_t snapshot_id);
  // By name (byte order).
  StatusOr<std::vector<AudienceRecord>> List();
  // False for an unknown name; records "deleted". History outlives deletion.
  StatusOr<bool> Delete(const std::string& name);
  // Appends to the history of an existing audience (kNotFound otherwise).
  Status RecordEvent(const std::string& name, const std::string& event, uint64_t size,
                     int64_t snapshot_id);
  // Oldest first; empty for a name never saved.
  StatusOr<std::vector<AudienceEvent>> History(const std::string& name);

  // Settings of the data owner (e.g. "audience.min_export_size"); nullopt when unset.
  Status SetSetting(const std::string& key, const std::string& value);
  StatusOr<std::optional<std::string>> Setting(const std::string& key);

  // Sets attributes (replacing a customer's earlier value of the same name) atomically; the
  // setting "attributes.generation" counts the imports. Errors: kInvalidArgument for an
  // unknown customer index (nothing is written).
  Status PutAttributes(const std::vector<CustomerAttribute>& attributes);
  // The same inside the caller's transaction (store::Batch::commit_with, which writes a batch's
  // new customers in it too; Migrate() first, outside): replaces a customer's earlier value of
  // the same name, and returns how many values were new or changed; only then is
  // "attributes.generation" counted up. Each customer and name at most once in `values`.
  // Errors: those of the store core.
  StatusOr<uint64_t> SetAttributesInTransaction(std::span<const AttributeValue> values);
  // Brings the tables up to date (outside any transaction). Errors: Database::Migrate's.
  Status Migrate();

  // By name, value, customer.
  Status ScanAttributes(const std::function<void(const CustomerAttribute&)>& fn);

  // The tables this class owns, with their migrations.
  static const store::Schema& Schema();

 private:
  Status AppendEvent(const std::string& name, const std::string& event,
                     const std::string& expression, uint64_t size, int64_t snapshot_id);
  // Counts "attributes.generation" up (what the audience index's stamp reads).
  Status CountAttributeGeneration();
  // " COLLATE \"C\"" on PostgreSQL: text in byte order, as SQLite sorts it.
  const char* ByteOrder() const;

  store::Store& store_;
  store::Database& db_;
};

}  // namespace tessera::audience
