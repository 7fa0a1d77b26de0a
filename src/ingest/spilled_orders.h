#pragma once

// The spilled path of a load: once a load's orders outgrow LoadOptions::memory_budget, its
// rows go to temporary files partitioned by order token, as runs (the consecutive rows of an
// order), and each partition's runs are put together into orders when the load writes. The
// results are those of a load in memory; only the order in which orders (and new customers)
// are numbered differs. Internal to the ingest module; not thread-safe except where said.
//
// Privacy: the files hold order tokens, load-local customer slots, dictionary ids, amounts,
// times, line numbers and content hashes keyed per load (spill.h) — never an identifier.

#include <sodium.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ingest/load_tables.h"
#include "ingest/memory_orders.h"
#include "ingest/spill.h"
#include "tessera/io/order_reader.h"
#include "tessera/privacy/order_token.h"
#include "tessera/privacy/owner_key.h"

namespace tessera::ingest::internal {

// The spilled form of a run: consecutive rows of one order in the input (or an order held in
// memory until the load went over its budget), followed by its token and its items. Native
// layout: the files live only as long as the load.
struct SpillRun {
  int64_t ordered_at = 0;
  int64_t amount_micro = 0;
  uint64_t first_hash = 0;  // keyed (SpilledOrders::Keyed), like the items' hashes
  uint32_t customer_slot = kNone;
  uint32_t currency = 0, store = 0, region = 0, channel = 0;
  uint32_t items = 0;
  uint32_t file = 0;  // index into the load's files, for rejects
  uint16_t token_size = 0;
  uint8_t kind = 0;
  uint8_t line_level = 0;
};
struct SpillItem {
  int64_t quantity_milli = 0, amount_micro = 0;
  uint64_t hash = 0;
  uint64_t line = 0;  // in its file, for rejects
  uint32_t category = 0, sku = 0;
};

// How a line is rejected that the spilled path finds at odds with its order's first line only
// when it puts the runs together: by file, one reject per reason, its line set then.
struct LateRejects {
  io::Reject mixed_currency, other_customer, other_day;
};

class SpilledOrders {
 public:
  // One partition's orders, put together from its runs.
  struct Group {
    Status status;
    PendingOrders pending;
    uint64_t duplicate_rows = 0, conflicting_rows = 0;
    uint64_t late_rejects = 0;        // lines at odds with their order's first line
    std::vector<io::Reject> rejects;  // those lines, in input order
  };

  // Starts spilling to temporary files in `dir`: the orders gathered in memory so far (their
  // tokens encrypted here) become the first runs of their tokens, and `gathered` is emptied.
  // Errors: those of SpillPartitions::Create and Append; kInternal when libsodium fails.
  static StatusOr<std::unique_ptr<SpilledOrders>> Start(const std::string& dir,
                                                        const privacy::OwnerKey& key,
                                                        MemoryOrders& gathered);

  // A row of the order `key` from file number `file`: extends the current run when it is
  // another line of the same order in the same currency, else ends it and starts the next.
  // Duplicates, conflicting repeats and lines at odds with the order are sorted out when the runs
  // come together (ForEachGroup), as the first line of the order decides. Errors: those of
  // SpillPartitions::Append and privacy::OrderTokenizer.
  Status Add(const io::OrderLine& line, const std::string& key, uint32_t customer, bool line_level,
             uint32_t file, Dictionaries& dicts);

  // Ends the current run (runs do not span files). Errors: those of Add.
  Status EndRun();

  // Writes out what is buffered; the bytes written. Errors: those of SpillPartitions::Flush.
  StatusOr<uint64_t> Flush();

  // The lines at odds with their order's first line (another currency, customer or day),
  // counted; stops counting (and returns)
  // once the count is over `limit`. Errors: those of SpillPartitions::Read.
  StatusOr<uint64_t> CountLateRejects(uint64_t limit) const;

  // Puts each partition's runs together into orders, in the order of the input, and hands
  // them to `fn` partition by partition; partition p + 1 is read and grouped on another
  // thread while `fn` has p. Stops at the first error (of reading, or of `fn`).
  // `late_rejects`: by file, how such lines are rejected.
  Status ForEachGroup(const std::vector<LateRejects>& late_rejects,
                      const std::function<Status(Group&)>& fn);

 private:
  SpilledOrders(SpillPartitions partitions, privacy::OrderTokenizer tokenizer)
      : partitions_(std::move(partitions)), tokenizer_(std::move(tokenizer)) {}

  // A content hash under this load's random key: what the temporary files hold instead of
  // the plain hash of a row (which an attacker could test guesses of a row against).
  uint64_t Keyed(uint64_t hash) const {
    uint64_t out;
    crypto_shorthash(reinterpret_cast<unsigned char*>(&out),
                     reinterpret_cast<const unsigned char*>(&hash), sizeof hash, hash_key_);
    return out;
  }
  Status WriteRun(SpillRun run, std::string_view token, const std::vector<SpillItem>& items);
  // `late_rejects` null: counts the lines at odds with their order, nothing else.
  void GroupRuns(std::string_view data, const std::vector<LateRejects>* late_rejects,
                 Group* out) const;

  SpillPartitions partitions_;
  privacy::OrderTokenizer tokenizer_;
  unsigned char hash_key_[crypto_shorthash_KEYBYTES] = {};
  // The run being gathered.
  bool run_open_ = false;
  SpillRun run_;
  std::string run_key_;  // privacy: the current run's raw order key, in memory only
  std::string run_token_;
  std::vector<SpillItem> run_items_;
  std::string record_;
};

}  // namespace tessera::ingest::internal
