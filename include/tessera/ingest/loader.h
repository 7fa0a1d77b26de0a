#pragma once

// Ingest: order export files -> validated, pseudonymized, deduplicated orders in a store.
//
// Privacy: raw identifiers (customer numbers, e-mails, phones, order ids) exist only in this
// process's memory while a load runs: each distinct customer is pseudonymized once (HMAC to a
// UUID), each order id encrypted once (AES-SIV), each e-mail and phone turned into a match
// token once (k · H(kind ‖ id) on ristretto255); only pseudonyms and tokens reach the store.
// Rejected rows are reported by position and reason, never by value.

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "tessera/common/status.h"
#include "tessera/io/mapping.h"
#include "tessera/io/order_reader.h"
#include "tessera/privacy/owner_key.h"
#include "tessera/store/store.h"

namespace tessera::ingest {

struct LoadProgress {
  std::string file;
  uint64_t bytes_read = 0;   // of the current file
  uint64_t bytes_total = 0;  // size of the current file, 0 if unknown (stdin)
  uint64_t rows_read = 0;    // over all files
  uint64_t orders_written = 0;
  bool writing = false;  // false while reading files, true while committing batches
};

struct LoadOptions {
  io::Mapping mapping;
  // Orders per committed batch; each batch is one transaction, so an interrupted load leaves
  // whole batches only.
  size_t batch_orders = 250'000;
  // More rejected rows than this fails the load before anything is written.
  uint64_t max_rejects = UINT64_MAX;
  std::function<void(const LoadProgress&)> on_progress;  // called every 64k rows and per batch
  std::function<void(const io::Reject&)> on_reject;      // called for each rejected row
  // What rejects name each input file by (same order as the files; empty: the paths), e.g.
  // the client's name of an uploaded file kept under a temporary name.
  std::vector<std::string> file_labels;
  // The first this many rejected rows are kept in the store with the load (Store::LoadRejects).
  size_t stored_rejects = 10'000;
  // Memory for the orders a load gathers before it writes them, in bytes; 0: 256 MiB. A
  // larger input goes through temporary files in `temp_dir` (empty: $TMPDIR, else /tmp),
  // about 85 bytes per line, partitioned by order token, so memory stays flat at any size (and
  // the load is faster than with one large table of orders). The files hold order tokens,
  // never an identifier, and are unlinked from the start.
  uint64_t memory_budget = 0;
  std::string temp_dir;
  // Whether to store a match token (k · H(kind ‖ id), for private matching with partners) for
  // every e-mail and phone: a party of collaborations does (`tessera party init`); a store that
  // only serves its own segments need not pay for it (about 55 µs of CPU per distinct e-mail or
  // phone). Loading the same exports again later fills in the tokens of customers that lack them.
  bool match_tokens = false;
  // The mapping was picked by its `detect` columns (io::DetectPreset), not named by the user:
  // the summary says so.
  bool mapping_detected = false;
  // For orders that their source changes after they are stored (a shop's API: refunded,
  // cancelled, edited), not for exports: an order whose token the store has is stored again, as
  // its newer version, when its time in `order_versions` (the shop's update time) is later than
  // that of the version stored (store::OrderVersion); an older or equal one is skipped as stored
  // already. A version stored by a plain load (no time recorded) is always older. Scans show the
  // newest version only. Without it (the default) a stored order is always skipped, so that
  // loading a file again changes nothing.
  bool replace_stored_orders = false;
  // By order token (privacy::OrderTokenizer::Encrypt of the order id: no raw id), the shop's
  // update time of the order as the input has it, Unix seconds; an order without one: 0.
  std::unordered_map<std::string, int64_t> order_versions;
};

struct LoadSummary {
  std::string mapping;            // the preset or mapping file the files were read with
  bool mapping_detected = false;  // picked by the files' header (LoadOptions)
  uint64_t files = 0;
  uint64_t rows_read = 0;  // data rows seen (blank lines excluded)
  uint64_t rows_rejected = 0;
  std::map<std::string, uint64_t> rejected_by_reason;
  uint64_t rows_ignored = 0;           // rows whose status the mapping ignores
  uint64_t rows_without_customer = 0;  // stored as anonymous orders (no profile)
  uint64_t duplicate_rows = 0;         // byte-identical repeats of a row of the same order
  uint64_t conflicting_rows = 0;       // an order id repeated with other values (first kept)
  uint64_t orders_in_input = 0;
  uint64_t orders_already_stored = 0;  // skipped: the store has them from an earlier load
  uint64_t orders_stored = 0;          // newly written
  // Of those, newer versions of stored orders (LoadOptions::replace_stored_orders).
  uint64_t orders_replaced = 0;
  uint64_t purchases_stored = 0, credits_stored = 0, voids_stored = 0, anonymous_orders_stored = 0;
  // Orders without a return or cancellation status whose total is negative: stored as returns.
  uint64_t negative_purchases_as_returns = 0;
  uint64_t customers_in_input = 0;
  uint64_t customers_new = 0;
  // Match tokens handed to the store with the batches (one it holds already is not stored
  // twice), and e-mails and phones that do not decide the customer and do not normalize
  // (distinct values; their rows are kept, without a token for them).
  uint64_t match_tokens = 0;
  uint64_t match_identifiers_invalid = 0;
  uint64_t batches = 0;
  uint64_t spilled_bytes = 0;  // written to temporary files (LoadOptions::memory_budget)
  int64_t load_id = 0;
  double seconds = 0;
  // Where the time went: reading the store's existing tokens and pseudonyms; reading,
  // validating and pseudonymizing the files; encrypting order ids; writing batches, of which
  // computing match tokens (on all cores, while the previous batch commits).
  double seconds_store_state = 0, seconds_read = 0, seconds_encrypt = 0, seconds_write = 0;
  double seconds_match_tokens = 0;
  // The CPU time of the process (user + system, all threads) in the same phases: CPU seconds
  // over wall seconds is how many cores a phase kept busy.
  double cpu_store_state = 0, cpu_read = 0, cpu_encrypt = 0, cpu_write = 0;

  std::string ToJson() const;
  std::string ToText() const;  // the human summary the CLI prints
};

// Loads `files` ("-" = stdin) into `store` under `key`. The store is bound to the key on
// first use. All files are read and validated before the first batch is written, so a file
// that cannot be read at all (or too many rejects) leaves the store untouched.
// Errors: kFailedPrecondition (the store belongs to another key, or the key derives no match
// token key, probability ~2^-252), kUnavailable (another load is running), kInvalidArgument (a file
// cannot be mapped), kNotFound (missing file), kResourceExhausted (more than max_rejects rejected
// rows), store errors.
StatusOr<LoadSummary> LoadOrders(store::Store& store, const privacy::OwnerKey& key,
                                 const std::vector<std::string>& files, const LoadOptions& options);

}  // namespace tessera::ingest
