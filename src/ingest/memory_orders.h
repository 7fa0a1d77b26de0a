#pragma once

// The in-memory path of a load: rows grouped into orders in one hash table of order keys,
// which is how a load starts, and all of it while its orders fit LoadOptions::memory_budget
// (a larger load moves them to spilled_orders.h). Internal to the ingest module; not
// thread-safe except EncryptTokens.
//
// Privacy: the order keys are raw order ids (or row hashes), in memory only; an order's
// token (AES-SIV of its key) is what leaves.

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "ingest/flat_string_map.h"
#include "ingest/load_tables.h"
#include "tessera/common/civil_time.h"
#include "tessera/io/order_reader.h"
#include "tessera/privacy/order_token.h"
#include "tessera/privacy/owner_key.h"

namespace tessera::ingest::internal {

struct PendingItem {
  uint32_t category = 0, sku = 0;
  int64_t quantity_milli = 0, amount_micro = 0;
  uint64_t hash = 0;
  uint32_t next = kNone;  // next item of the same order
};

struct PendingOrder {
  std::string token;
  uint32_t customer_slot = kNone;
  int64_t ordered_at = 0;
  uint8_t kind = 0;
  uint32_t currency = 0, store = 0, region = 0, channel = 0;
  int64_t amount_micro = 0;
  uint64_t first_hash = 0;
  uint32_t first_item = kNone, last_item = kNone;
};

// Orders and their lines (each order's lines a linked list in `items`), ready to be written.
struct PendingOrders {
  std::vector<PendingOrder> orders;
  std::vector<PendingItem> items;

  bool HasItem(const PendingOrder& o, uint64_t hash) const {
    for (uint32_t i = o.first_item; i != kNone; i = items[i].next) {
      if (items[i].hash == hash) return true;
    }
    return false;
  }
  // Appends a line to `o`, adding its amount to the order's.
  void AddItem(PendingOrder& o, const PendingItem& item) {
    const auto index = static_cast<uint32_t>(items.size());
    items.push_back(item);
    if (o.first_item == kNone)
      o.first_item = index;
    else
      items[o.last_item].next = index;
    o.last_item = index;
    o.amount_micro += item.amount_micro;
  }
};

class MemoryOrders {
 public:
  // What became of a row.
  enum class Added {
    kOrder,          // the first row of an order
    kLine,           // another line of an order
    kDuplicate,      // a repeat of a row of the order (or of an order-level row)
    kConflicting,    // an order-level row repeating an order id with other values
    kMixedCurrency,  // a line in another currency than its order's first (to reject)
    kOtherCustomer,  // a line of another customer than its order's first (to reject)
    kOtherDay,       // a line of another day than its order's first (to reject)
  };

  // Fetches the table slot of an order some rows ahead.
  void Prefetch(std::string_view key) const { index_.Prefetch(key); }

  // Adds a row of the order `key`; its first row decides the order's customer, time and kind.
  Added Add(const io::OrderLine& line, const std::string& key, uint32_t customer, bool line_level,
            Dictionaries& dicts) {
    // Lines of one order usually follow each other: check the previous order first, else
    // find or add the order with one probe of the index.
    const auto next_index = static_cast<uint32_t>(pending_.orders.size());
    uint32_t existing = kNone;
    std::string_view stored_key;
    if (last_order_ != kNone && key == last_key_) {
      existing = last_order_;
    } else {
      const auto [index, view] = index_.Insert(key, next_index);
      if (index != next_index) existing = index;
      stored_key = view;
    }
    if (existing != kNone) {
      last_order_ = existing;
      last_key_ = key;
      PendingOrder& o = pending_.orders[existing];
      if (!line_level)
        return line.content_hash == o.first_hash ? Added::kDuplicate : Added::kConflicting;
      if (pending_.HasItem(o, line.content_hash)) return Added::kDuplicate;
      if (customer != o.customer_slot) return Added::kOtherCustomer;
      if (DayOfTimestamp(line.ordered_at) != DayOfTimestamp(o.ordered_at)) return Added::kOtherDay;
      if (dicts.Intern(store::DictKind::kCurrency, line.currency) != o.currency) {
        return Added::kMixedCurrency;
      }
      AddItem(o, line, dicts);
      return Added::kLine;
    }
    keys_.push_back(stored_key);
    last_order_ = next_index;
    last_key_ = key;
    PendingOrder o;  // its token is encrypted later, in parallel (EncryptTokens)
    o.customer_slot = customer;
    o.ordered_at = line.ordered_at;
    o.kind = static_cast<uint8_t>(line.kind);
    o.currency = dicts.Intern(store::DictKind::kCurrency, line.currency);
    o.store = dicts.Intern(store::DictKind::kStore, line.store);
    o.region = dicts.Intern(store::DictKind::kRegion, line.region);
    o.channel = dicts.Intern(store::DictKind::kChannel, line.channel);
    o.first_hash = line.content_hash;
    pending_.orders.push_back(std::move(o));
    if (line_level) {
      AddItem(pending_.orders.back(), line, dicts);
    } else {
      pending_.orders.back().amount_micro = line.amount_micro;
    }
    return Added::kOrder;
  }

  // Encrypts every order's key into its token (the costliest step per order) on all cores:
  // each thread has its own tokenizer and a contiguous share of the orders.
  // Errors: those of privacy::OrderTokenizer.
  Status EncryptTokens(const privacy::OwnerKey& key) {
    std::vector<PendingOrder>& orders = pending_.orders;
    const size_t n = orders.size();
    const size_t threads = std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 8);
    const size_t per_thread = (n + threads - 1) / threads;
    std::vector<Status> results(threads);
    auto work = [&](size_t t) {
      auto tokenizer = privacy::OrderTokenizer::Create(key);
      if (!tokenizer.ok()) {
        results[t] = tokenizer.status();
        return;
      }
      for (size_t i = t * per_thread; i < std::min(n, (t + 1) * per_thread); ++i) {
        auto token = tokenizer->Encrypt(keys_[i]);
        if (!token.ok()) {
          results[t] = token.status();
          return;
        }
        orders[i].token = std::move(*token);
      }
    };
    std::vector<std::thread> pool;
    for (size_t t = 1; t < threads && t * per_thread < n; ++t) pool.emplace_back(work, t);
    work(0);
    for (auto& th : pool) th.join();
    for (const Status& st : results) TESSERA_RETURN_IF_ERROR(st);
    return OkStatus();
  }

  // Memory the orders gathered so far hold: themselves, their lines, their tokens (to come)
  // and their keys in the index.
  size_t MemoryBytes() const {
    return pending_.orders.capacity() * sizeof(PendingOrder) +
           pending_.items.capacity() * sizeof(PendingItem) +
           keys_.capacity() * sizeof(std::string_view) + index_.MemoryBytes() +
           pending_.orders.size() * 48;
  }

  PendingOrders& pending() { return pending_; }

  // Frees everything (after the orders moved to spilled_orders.h).
  void Release() {
    std::vector<PendingOrder>().swap(pending_.orders);
    std::vector<PendingItem>().swap(pending_.items);
    std::vector<std::string_view>().swap(keys_);
    index_.Clear();
    last_order_ = kNone;
    last_key_.clear();
  }

 private:
  void AddItem(PendingOrder& o, const io::OrderLine& line, Dictionaries& dicts) {
    pending_.AddItem(o, PendingItem{dicts.Intern(store::DictKind::kCategory, line.category),
                                    dicts.Intern(store::DictKind::kSku, line.sku),
                                    line.quantity_milli, line.amount_micro, line.content_hash});
  }

  PendingOrders pending_;
  FlatStringMap index_;                 // order key -> index in pending_.orders
  std::vector<std::string_view> keys_;  // by order: its key, stored in index_
  std::string last_key_;
  uint32_t last_order_ = kNone;
};

}  // namespace tessera::ingest::internal
