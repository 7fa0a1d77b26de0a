#pragma once

// Ingest of people: files of identifiers plus attribute columns (a mobile operator's
// subscribers, a CRM extract; no orders) -> pseudonymous customers, their match tokens, and
// attribute values, which the module that keeps attributes (audience) writes in the same
// transactions through an AttributeSink. A person is a customer like one of the orders: the
// same customer number, e-mail or phone gives the same pseudonym and the same store index, so a
// person of a people file who also placed orders is one customer.
//
// Privacy: raw identifiers exist only in this process's memory while a load runs: each distinct
// customer is pseudonymized once, each e-mail and phone turned into a match token once (a party's
// store), exactly as for orders (the loader's own code does it). Only pseudonyms, tokens and
// attribute values reach the store; a value that looks like an e-mail or phone number is
// rejected (io/people_reader.h). Rejected rows are reported by position and reason, never by
// value.

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/common/status.h"
#include "tessera/ingest/loader.h"
#include "tessera/privacy/owner_key.h"
#include "tessera/store/store.h"

namespace tessera::ingest {

// One attribute value of a person, borrowed for the duration of an AttributeSink::write call.
struct PersonAttribute {
  uint32_t customer = 0;    // the store index
  privacy::Uuid pseudonym;  // the customer's
  std::string_view name, value;
};

// What a people load hands to the module that keeps attributes.
struct AttributeSink {
  // Called for every attribute name when a file is opened, before any row is read; an error
  // refuses the load (nothing is written). Unset: every name IsAttributeName accepts.
  std::function<Status(std::string_view name)> check_name;
  // Writes one batch's values inside the batch's transaction (store::Batch::commit_with) and
  // returns how many were new or changed. Called on the load's writing thread, possibly twice
  // for one batch (the PostgreSQL store retries a batch after a lost connection). Each customer
  // and name comes at most once per call. Unset: the values are counted, not written.
  std::function<StatusOr<uint64_t>(store::Database&, std::span<const PersonAttribute>)> write;
};

struct PeopleLoadSummary {
  uint64_t files = 0;
  uint64_t rows_read = 0;  // data rows seen (blank lines excluded)
  uint64_t rows_rejected = 0;
  std::map<std::string, uint64_t> rejected_by_reason;
  uint64_t rows_repeating = 0;   // rows of a person an earlier row of the load named (merged)
  uint64_t people_in_input = 0;  // distinct customers
  uint64_t people_new = 0;       // customers the store did not hold (they have no orders)
  uint64_t people_in_store = 0;  // customers the store held (from orders or an earlier load)
  std::vector<std::string> attributes;    // attribute names, in the order first seen
  uint64_t attribute_values = 0;          // values given: people x attributes with a value
  uint64_t attribute_values_changed = 0;  // of these, new to the store or replacing another
  // Match tokens handed to the store (a party's), and e-mails and phones that do not decide
  // the customer and do not normalize (distinct values; their rows are kept).
  uint64_t match_tokens = 0;
  uint64_t match_identifiers_invalid = 0;
  uint64_t batches = 0;
  int64_t load_id = 0;
  double seconds = 0, seconds_match_tokens = 0;

  std::string ToJson() const;  // with "kind": "people", beside the order loads' summaries
  std::string ToText() const;  // the human summary the CLI prints
};

// Loads `files` ("-" = stdin) of people into `store` under `key`, through options.mapping's
// identifier columns and [attributes] (io::ResolvePeopleMapping). All files are read and
// validated before anything is written; then people are written in batches of
// options.batch_orders, each one transaction with the customers first seen in it, the match
// tokens of its people (options.match_tokens: all kinds for a new customer, the kinds it lacks
// for one of the store) and its people's attribute values (sink.write). A person named by
// several rows is merged; a row that gives an attribute another value than an earlier row of the
// same person is rejected ("conflicting_value", the first is kept). An empty cell gives no
// value: a stored one stays. Loading the same files again changes nothing; a changed value
// replaces the stored one. options.memory_budget and temp_dir do not apply: people are held in
// memory (as an order load's customers are, plus 4 bytes per person and attribute and each
// distinct value once). options.on_progress reports the people
// written in LoadProgress::orders_written.
// Errors: as LoadOrders (kFailedPrecondition, kUnavailable, kInvalidArgument for a file that
// cannot be mapped or a name check_name refuses, kNotFound, kResourceExhausted), store errors
// and those of sink.write.
StatusOr<PeopleLoadSummary> LoadPeople(store::Store& store, const privacy::OwnerKey& key,
                                       const std::vector<std::string>& files,
                                       const LoadOptions& options, const AttributeSink& sink);

}  // namespace tessera::ingest
