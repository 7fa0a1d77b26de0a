#pragma once

// The writing end of a load: orders (from memory or from spilled partitions) into batches,
// less those the store has; each customer's store index given on its first written order;
// each dictionary entry written with the first batch that uses it; a customer's match tokens
// with the batch of its first written order, or with the last batch for a customer of the
// store whose tokens of a kind are missing; batches committed on the BatchWriter's thread.
// Internal to the ingest module; not thread-safe.

#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "ingest/batch_writer.h"
#include "ingest/customer_slots.h"
#include "ingest/flat_uuid_map.h"
#include "ingest/load_tables.h"
#include "ingest/match_tokens.h"
#include "ingest/memory_orders.h"
#include "ingest/stored_customers.h"
#include "tessera/common/money.h"
#include "tessera/ingest/loader.h"
#include "tessera/store/store.h"

namespace tessera::ingest::internal {

class OrderWriter {
 public:
  // How many rows ahead the writer prefetches table slots.
  static constexpr size_t kPrefetchRows = 16;

  OrderWriter(store::Store& store, const LoadOptions& options, LoadSummary& summary,
              Dictionaries& dicts, CustomerSlots& customers, MatchTokens& match_tokens)
      : store_(store),
        options_(options),
        summary_(summary),
        dicts_(dicts),
        customers_(customers),
        match_tokens_(match_tokens) {}

  // Reads what the store has: customers, the kinds of match tokens each has, dictionaries and
  // the SIVs of its orders. Errors: those of the store's scans.
  Status ReadStoreState() {
    TESSERA_RETURN_IF_ERROR(stored_.Read(store_, options_.match_tokens));
    next_customer_ = stored_.next;
    TESSERA_RETURN_IF_ERROR(
        store_.ScanDictionaries([&](store::DictKind kind, uint32_t id, const std::string& v) {
          dicts_.Restore(kind, id, v);
        }));
    if (options_.replace_stored_orders) {
      TESSERA_ASSIGN_OR_RETURN(auto versions, store_.OrderVersions());
      for (store::OrderVersion& v : versions) {
        std::string siv = v.token.substr(0, privacy::OrderTokenizer::kSivSize);
        versions_[std::move(siv)] = {v.versions, v.updated_at};
      }
    }
    return store_.ScanOrderFields(store::kOrderTokens, [&](const store::OrderColumns& chunk) {
      for (size_t i = 0; i < chunk.size(); ++i) {
        stored_orders_.Insert(chunk.token(i).substr(0, privacy::OrderTokenizer::kSivSize));
      }
      return OkStatus();
    });
  }

  // Starts the load in the store and the writing thread. Errors: those of Store::BeginLoad.
  Status Begin() {
    TESSERA_ASSIGN_OR_RETURN(summary_.load_id, store_.BeginLoad());
    writer_.emplace([this](const store::Batch& b) { return Commit(b); });
    batch_ = store::Batch();
    batch_.first_new_customer = next_customer_;
    return OkStatus();
  }

  // Appends `pending`'s orders to batches, less those the store has, writing each full batch.
  // `unique`: each token is in `pending` once (spilled partitions); otherwise each token is
  // remembered, and a repeat in this load counts as stored already.
  // Errors: those of the store's AppendBatch (from an earlier batch, too).
  Status Write(PendingOrders& pending, bool unique) {
    std::vector<PendingOrder>& orders = pending.orders;
    for (size_t i = 0; i < orders.size(); ++i) {
      if (i + kPrefetchRows < orders.size()) {
        const PendingOrder& ahead = orders[i + kPrefetchRows];
        stored_orders_.Prefetch(ahead.token);
        // The order's customer, at a random place in the slots (52 MB at 2.6M customers).
        customers_.PrefetchCustomer(ahead.customer_slot);
      }
      const PendingOrder& o = orders[i];
      const bool stored =
          unique ? stored_orders_.Contains(o.token) : !stored_orders_.Insert(o.token);
      if (options_.replace_stored_orders) {
        if (!AddVersion(o.token, stored)) {
          ++summary_.orders_already_stored;
          continue;
        }
      } else if (stored) {
        ++summary_.orders_already_stored;
        continue;
      }
      Append(o, pending);
      if (batch_.orders.size() >= options_.batch_orders) TESSERA_RETURN_IF_ERROR(Flush());
    }
    return OkStatus();
  }

  // Writes the last batch, with the match tokens of customers of the store that have no new
  // order in this load but lack tokens of a kind (a store made before match tokens, an export
  // with a new phone column), and waits for every batch to be committed. After a failure
  // (`status`), waits for the writing thread and returns `status`.
  Status End(Status status) {
    if (status.ok()) {
      for (uint32_t slot = 0; options_.match_tokens && slot < customers_.size(); ++slot) {
        const LoadCustomer& lc = customers_[slot];
        if (lc.global != kNone) continue;  // its tokens went with its first order
        const uint32_t stored = stored_.index.Find(lc.uuid);
        if (stored == FlatUuidMap::kMissing) continue;  // no order written: not in the store
        const KindSet missing = kMatchKinds & ~stored_.TokenKinds(stored);
        if (missing != 0) token_requests_.push_back({slot, stored, missing});
      }
      status = Flush();
    }
    const Status committed = writer_->Finish();
    TESSERA_RETURN_IF_ERROR(status);
    return committed;
  }

 private:
  // Replace mode (LoadOptions::replace_stored_orders): whether the order of `token` is to be
  // written, a first version or one newer than the store's (`stored`: the store or this load
  // has the token), and if so its order_versions row, with the batch it goes in.
  bool AddVersion(const std::string& token, bool stored) {
    const auto given = options_.order_versions.find(token);
    const int64_t updated_at = given != options_.order_versions.end() ? given->second : 0;
    Version& v = versions_[token.substr(0, privacy::OrderTokenizer::kSivSize)];
    if (stored) {
      // A stored order without a row was stored by a plain load: a version of unknown time,
      // older than any the shop sends.
      if (v.versions > 0 && updated_at <= v.updated_at) return false;
      v.versions = v.versions > 0 ? v.versions + 1 : 2;
      ++summary_.orders_replaced;
    } else {
      v.versions = 1;
    }
    v.updated_at = updated_at;
    batch_.order_versions.push_back({token, v.versions, updated_at});
    return true;
  }

  void Append(const PendingOrder& o, const PendingOrders& pending) {
    using store::DictKind;
    store::OrderColumns& c = batch_.orders;
    c.token_bytes.append(o.token);
    c.token_offsets.push_back(static_cast<uint32_t>(c.token_bytes.size()));
    uint32_t customer = store::kAnonymousCustomer;
    if (o.customer_slot != kNone) {
      LoadCustomer& lc = customers_[o.customer_slot];
      if (lc.global == kNone) {
        if (const uint32_t stored = stored_.index.Find(lc.uuid); stored != FlatUuidMap::kMissing) {
          lc.global = stored;
        } else {
          lc.global = next_customer_++;
          batch_.new_customers.push_back(lc.uuid);
          ++summary_.customers_new;
        }
        // A new order: its e-mail or phone may be new too, whatever the store holds.
        if (options_.match_tokens)
          token_requests_.push_back({o.customer_slot, lc.global, kMatchKinds});
      }
      customer = lc.global;
    }
    c.customer.push_back(customer);
    c.ordered_at.push_back(o.ordered_at);
    if (exponents_.size() <= o.currency) exponents_.resize(o.currency + 1, -1);
    int& exponent = exponents_[o.currency];
    if (exponent < 0) exponent = CurrencyExponent(dicts_.Value(DictKind::kCurrency, o.currency));
    int64_t minor = MicroToMinor(o.amount_micro, exponent);
    uint8_t kind = o.kind;
    if (kind == static_cast<uint8_t>(io::OrderKind::kCredit) && minor > 0) minor = -minor;
    // A purchase whose total is negative is money going back: a return (docs/ingest.md).
    if (kind == static_cast<uint8_t>(io::OrderKind::kPurchase) && minor < 0) {
      kind = static_cast<uint8_t>(io::OrderKind::kCredit);
      ++summary_.negative_purchases_as_returns;
    }
    c.amount_minor.push_back(minor);
    c.kind.push_back(kind);
    c.currency.push_back(dicts_.Use(DictKind::kCurrency, o.currency, &batch_));
    c.store.push_back(dicts_.Use(DictKind::kStore, o.store, &batch_));
    c.region.push_back(dicts_.Use(DictKind::kRegion, o.region, &batch_));
    c.channel.push_back(dicts_.Use(DictKind::kChannel, o.channel, &batch_));
    for (uint32_t i = o.first_item; i != kNone; i = pending.items[i].next) {
      const PendingItem& item = pending.items[i];
      c.item_category.push_back(dicts_.Use(DictKind::kCategory, item.category, &batch_));
      c.item_sku.push_back(dicts_.Use(DictKind::kSku, item.sku, &batch_));
      c.item_quantity_milli.push_back(item.quantity_milli);
      c.item_amount_micro.push_back(item.amount_micro);
    }
    c.item_offsets.push_back(static_cast<uint32_t>(c.item_category.size()));
    ++summary_.orders_stored;
    if (customer == store::kAnonymousCustomer) ++summary_.anonymous_orders_stored;
    switch (static_cast<io::OrderKind>(kind)) {
      case io::OrderKind::kPurchase:
        ++summary_.purchases_stored;
        break;
      case io::OrderKind::kCredit:
        ++summary_.credits_stored;
        break;
      case io::OrderKind::kVoid:
        ++summary_.voids_stored;
        break;
    }
  }

  // Hands the batch to the writing thread (which commits it while this one gathers the next)
  // and starts the next batch.
  Status Flush() {
    if (!token_requests_.empty()) {
      // Computed here, on all cores, while the writing thread commits the previous batch.
      TESSERA_RETURN_IF_ERROR(match_tokens_.Append(token_requests_, &batch_));
      token_requests_.clear();
      summary_.match_tokens += batch_.new_match_tokens.size();
    }
    if (batch_.orders.size() == 0 && batch_.new_customers.empty() &&
        batch_.new_match_tokens.empty()) {
      return OkStatus();
    }
    TESSERA_RETURN_IF_ERROR(writer_->Submit(std::move(batch_)));
    if (options_.on_progress) {
      options_.on_progress(LoadProgress{"", 0, 0, summary_.rows_read, written_.load(), true});
    }
    batch_ = store::Batch();
    batch_.first_new_customer = next_customer_;
    return OkStatus();
  }

  // On the writing thread: touches only the store, summary_.batches and written_, which the
  // gathering thread reads only after BatchWriter::Finish (written_ atomically, for progress).
  Status Commit(const store::Batch& batch) {
    // Test-only fault injection, for the interrupted-load tests (tests/e2e/interrupted_load.sh,
    // postgres.sh): TESSERA_TEST_KILL_AFTER_BATCHES=N kills the process with SIGKILL, as a
    // crash would, once N batches are committed (0: before the first), so that each kill
    // lands at a known point instead of wherever a timer happens to.
    static const int64_t kill_after = [] {
      const char* v = std::getenv("TESSERA_TEST_KILL_AFTER_BATCHES");
      return v != nullptr && *v != '\0' ? std::atoll(v) : int64_t{-1};
    }();
    if (kill_after >= 0 && static_cast<int64_t>(summary_.batches) == kill_after) {
      ::raise(SIGKILL);
    }
    TESSERA_RETURN_IF_ERROR(store_.AppendBatch(summary_.load_id, batch));
    ++summary_.batches;
    written_ += batch.orders.size();
    return OkStatus();
  }

  store::Store& store_;
  const LoadOptions& options_;
  LoadSummary& summary_;
  Dictionaries& dicts_;
  CustomerSlots& customers_;
  MatchTokens& match_tokens_;
  StoredCustomers stored_;
  uint32_t next_customer_ = 0;
  KeySet stored_orders_;
  // Replace mode: the order_versions rows, by SIV (updated as this load adds versions).
  struct Version {
    uint32_t versions = 0;  // 0: no row
    int64_t updated_at = 0;
  };
  std::unordered_map<std::string, Version> versions_;
  std::vector<int> exponents_;  // by currency id: decimals of the minor unit, -1 = not yet known
  std::optional<BatchWriter> writer_;  // from Begin
  store::Batch batch_;
  std::vector<MatchTokens::Request> token_requests_;  // customers whose tokens go with batch_
  std::atomic<uint64_t> written_ = 0;
};

}  // namespace tessera::ingest::internal
