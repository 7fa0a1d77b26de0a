#pragma once

// The destinations module's own tables: the destinations (what each follows and where it
// delivers), the member set last delivered to each (its baseline), and the delivery log with
// each undelivered delivery's change set. Written once against the store core
// (store/database.h), on both backends.
//
// Privacy: members are pseudonyms (UUID text); a destination's configuration names the
// environment variable or file that holds its secret, never the secret. No identifier and no
// secret reaches these tables.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/common/status.h"
#include "tessera/privacy/pseudonymizer.h"
#include "tessera/store/store.h"

namespace tessera::destinations {

enum class DestinationKind { kWebhook, kCsv };
std::string_view KindName(DestinationKind kind);  // "webhook", "csv"
// Errors: kInvalidArgument unless "webhook" or "csv".
StatusOr<DestinationKind> ParseKind(std::string_view text);

struct Destination {
  std::string name;  // 1..64 of [A-Za-z0-9_.-] (it names files of the csv kind)
  DestinationKind kind = DestinationKind::kWebhook;
  std::string follows;  // "segment:<key>" or "audience:<saved audience name>"
  // webhook: the URL (http or https) and where the secret is: the NAME of an environment
  // variable or the PATH of a file (exactly one); at most batch_size pseudonyms per request.
  std::string url, secret_env, secret_file;
  uint32_t batch_size = 1000;
  std::string dir;         // csv: the folder the files are written to
  std::string created_at;  // ISO 8601 UTC, set by Add
};

enum class DeliveryStatus { kPending, kDelivered, kDead };
std::string_view StatusName(DeliveryStatus status);  // "pending", "delivered", "dead"

// One entry of the delivery log: the change of one destination's members at one snapshot.
struct Delivery {
  int64_t id = 0;  // increasing across the store
  std::string destination;
  std::string key;  // random, 32 hex digits: the idempotency key (X-Tessera-Delivery)
  int64_t snapshot_id = 0;
  uint64_t entered = 0, left = 0;
  uint32_t batches = 1, batches_done = 0;  // webhook requests, and how many were accepted
  uint32_t attempts = 0;                   // all attempts, across runs
  DeliveryStatus status = DeliveryStatus::kPending;
  std::string last_error;                            // never an identifier or a secret
  std::string created_at, updated_at, delivered_at;  // ISO 8601 UTC ("" when not yet)
};

// A run's hold on one destination (its lease): while it runs, no other run — another thread or
// process on the same store — delivers to the destination, retries its delivery or computes
// its next change. It ends when released, or `duration` after it was taken or last renewed
// (a killed run's), by the database's clock; every write of the run renews it.
struct Lease {
  std::string destination;
  std::string holder;  // unique per run (NewLeaseHolder)
  std::chrono::milliseconds duration{0};
};
// "<host>:<pid>:<8 random hex digits>": names a run in "in progress elsewhere" reports.
std::string NewLeaseHolder();
// Who holds a destination's lease, and for how much longer.
struct LeaseHolder {
  std::string holder;
  int64_t remaining_ms = 0;
};

// A delivery's change set, each list in byte order of the pseudonyms' text.
struct ChangeSet {
  std::vector<privacy::Uuid> entered, left;
};

// The destination tables of one store, brought up to date on first use. Borrows the store;
// not thread-safe (one per thread, as stores are).
class DestinationStore {
 public:
  explicit DestinationStore(store::Store& store) : db_(store.db()) {}

  // Errors: kAlreadyExists (the name is taken), the store's.
  Status Add(const Destination& destination);
  // By name (byte order).
  StatusOr<std::vector<Destination>> List();
  // Errors: kNotFound.
  StatusOr<Destination> Get(const std::string& name);
  // Removes the destination, its baseline and its log. False for an unknown name.
  StatusOr<bool> Remove(const std::string& name);

  // Takes the destination's lease (a conditional update, so of two runs claiming at once one
  // wins) unless another holder's runs: nullopt once held (renewed when `lease.holder` held
  // it already), else that holder. Errors: kNotFound (no such destination), the store's.
  StatusOr<std::optional<LeaseHolder>> Claim(const Lease& lease);
  // Extends the lease by its duration from now. Errors: kFailedPrecondition when this holder
  // no longer holds it (it ran out and another run claimed it, or the destination was
  // removed), the store's.
  Status Renew(const Lease& lease);
  // Gives the lease up; nothing when this holder no longer holds it.
  Status Release(const Lease& lease);

  // The members last delivered (empty before the first delivery), sorted.
  StatusOr<std::vector<privacy::Uuid>> Baseline(const std::string& name);

  // The writes of a run take the lease the run holds on the destination and renew it in their
  // transaction; they fail with Renew's kFailedPrecondition, writing nothing, once it is lost.
  //
  // Logs a new pending delivery of `lease.destination` with its change set; returns it.
  // Errors: kFailedPrecondition (the lease is lost; the destination has an undelivered
  // delivery), the store's.
  StatusOr<Delivery> CreateDelivery(const Lease& lease, int64_t snapshot_id,
                                    const ChangeSet& change, uint32_t batches);
  // The change set of an undelivered delivery (kNotFound once delivered: it is dropped then).
  StatusOr<ChangeSet> Change(int64_t delivery_id);
  // The destination's undelivered (pending or dead) delivery, if any (there is at most one).
  StatusOr<std::optional<Delivery>> Outstanding(const std::string& name);
  // Records attempts (the new total), the batches accepted so far, the status (pending or
  // dead) and the last error.
  Status RecordAttempt(const Lease& lease, int64_t delivery_id, uint32_t attempts,
                       uint32_t batches_done, DeliveryStatus status, const std::string& error);
  // Marks the delivery delivered and, in the same transaction, advances the destination's
  // baseline by its change set (entered added, left removed) and drops the change set.
  Status MarkDelivered(const Lease& lease, int64_t delivery_id, uint32_t attempts);
  // Newest first; all destinations for an empty name; at most `limit`.
  StatusOr<std::vector<Delivery>> Log(const std::string& name, uint64_t limit = 100);

  // The tables this class owns, with their migrations.
  static const store::Schema& Schema();

 private:
  Status RenewHeld(const Lease& lease);  // Renew, inside a transaction
  StatusOr<std::optional<Delivery>> OneDelivery(std::string_view where,
                                                std::initializer_list<store::SqlValue> params);
  store::Database& db_;
};

}  // namespace tessera::destinations
