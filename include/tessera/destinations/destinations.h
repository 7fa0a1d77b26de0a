#pragma once

// Destinations (reverse ETL): per saved audience or segment, the change of its members since
// the last delivery (who entered, who left), delivered idempotently to a webhook or dropped as
// CSV files, with a delivery log, retries with exponential backoff and a dead-letter state
// (docs/destinations.md).
//
// A run, per destination, holding its lease (DestinationStore::Claim), so that two runs at once
// (the schedule of `tessera serve` and a CLI run, on one store) never both deliver it: the one
// that cannot claim it skips it ("in progress elsewhere"). First the outstanding (pending or dead)
// delivery, if any, is retried with the same change set and the same idempotency keys; only when it
// is delivered is the change since the baseline computed for the newest snapshot and delivered. The
// baseline (the members last delivered) advances only when a delivery succeeds, so nothing is
// skipped and nothing is sent twice after a success. A change with no one entering or leaving is
// not sent. Below the owner's minimum export size, who entered is held back (it stays out of the
// baseline, so it is delivered once the set is large enough again); who left is delivered.
//
// Privacy: pseudonyms (UUIDs) only leave: no identifier is read or sent. Secrets are read from
// the environment or a file at delivery time and kept nowhere; errors name the destination and
// the reason, never the URL (it may carry a token), a secret or a member.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/common/status.h"
#include "tessera/destinations/destination_store.h"
#include "tessera/store/store.h"

namespace tessera::audience {
class AudienceIndex;
}

namespace tessera::destinations {

// What a destination follows. Errors of Parse: kInvalidArgument (neither "segment:<key>" nor
// "audience:<name>", or an empty name).
struct Follows {
  enum class Type { kSegment, kAudience };
  Type type = Type::kSegment;
  std::string name;
  static StatusOr<Follows> Parse(std::string_view text);
  std::string ToString() const;
};

// Checks a new destination: its name (1..64 of A-Z a-z 0-9 _ . -), what it follows, and the
// kind's settings (webhook: an http:// or https:// URL, exactly one of secret_env and
// secret_file, batch_size >= 1; csv: a dir). Errors: kInvalidArgument naming the rule.
Status ValidateDestination(const Destination& destination);
// Validates and adds it; what it follows must exist: a saved audience, or a segment of the
// newest snapshot (by key, or English or German name; any segment before the first snapshot).
// Errors: those of ValidateDestination, kNotFound (no such audience or segment; the message
// lists the segments), kAlreadyExists, the store's.
Status AddDestination(store::Store& store, const Destination& destination);

// How deliveries are retried. The waits are a function so that tests (and a scheduler) need
// not sleep for real.
struct DeliveryPolicy {
  uint32_t max_attempts = 5;  // per run; after them the delivery is dead (until the next run)
  std::chrono::milliseconds initial_backoff{1000};  // doubled after each failed attempt
  std::chrono::milliseconds max_backoff{60000};     // the cap, also of a Retry-After
  // The most one request may take, connecting, sending and reading the answer together (not
  // per read: a receiver trickling its answer is cut off); a timeout is retried.
  std::chrono::milliseconds timeout{10000};
  std::function<void(std::chrono::milliseconds)> sleep;  // default: this thread sleeps
  std::function<int64_t()> now;                          // unix seconds; default: the clock
  // True once the run should end (the server stopping): a wait before the next attempt ends
  // early and the delivery stays pending for the next run (kUnavailable). Default: never.
  std::function<bool()> stopped;
};

struct DeliverOptions {
  DeliveryPolicy policy;
  // The audience index of the newest snapshot, for destinations that follow an audience; null
  // (or one of another snapshot): built from the store when needed.
  const audience::AudienceIndex* index = nullptr;
};

// What one run did for one destination.
struct DestinationRun {
  std::string destination;
  std::vector<Delivery> deliveries;  // the deliveries tried in this run, as they ended
  bool unchanged = false;            // nothing outstanding and no one entered or left
  // Who entered but was held back: the set is below the minimum export size (status says so).
  uint64_t held_back = 0;
  // Set when another run held the destination's lease: this run skipped it ("in progress
  // elsewhere"; status OK, nothing tried).
  std::optional<LeaseHolder> elsewhere;
  Status status;               // OK, or why the destination could not be delivered
  std::string ToText() const;  // one line per delivery, for people
};

// Delivers the changes of the named destinations (all for an empty list) for the store's
// newest snapshot, one after another; a destination's failure does not stop the others (it is
// in its DestinationRun's status and the log; a run that held back who entered has
// kFailedPrecondition there, after delivering who left). Errors: kNotFound (an unknown name; no
// snapshot), the store's.
StatusOr<std::vector<DestinationRun>> DeliverAll(store::Store& store,
                                                 const std::vector<std::string>& names,
                                                 const DeliverOptions& options);
// Retries only the destination's outstanding delivery (pending or dead), if any; computes no
// new change. Errors: kNotFound (unknown destination), the store's.
StatusOr<DestinationRun> RetryOutstanding(store::Store& store, const std::string& name,
                                          const DeliverOptions& options);

// The members the destination follows at the newest snapshot, sorted, and that snapshot's id.
// Refused (kFailedPrecondition) when they are fewer than the owner's minimum export size
// (audience::MinExportSize). Errors: kNotFound (no snapshot, no such segment or audience),
// kInvalidArgument (an audience whose expression no longer parses), the store's.
struct Members {
  int64_t snapshot_id = 0;
  std::vector<privacy::Uuid> uuids;
};
StatusOr<Members> CurrentMembers(store::Store& store, const Follows& follows,
                                 const audience::AudienceIndex* index);

// Who entered (in `now`, not in `before`) and who left; both inputs sorted.
ChangeSet Diff(const std::vector<privacy::Uuid>& before, const std::vector<privacy::Uuid>& now);

// The webhook signature header's value: "t=<unix_time>,v1=<hex HMAC-SHA256 of
// "<unix_time>.<body>" under `secret`>".
std::string SignatureHeader(std::string_view secret, int64_t unix_time, std::string_view body);

// The log as a table for people, and as JSON (an array, newest first).
std::string LogToTable(const std::vector<Delivery>& log);
std::string LogToJson(const std::vector<Delivery>& log);
std::string DestinationsToTable(const std::vector<Destination>& destinations);

}  // namespace tessera::destinations
