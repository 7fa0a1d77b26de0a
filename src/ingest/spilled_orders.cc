#include "ingest/spilled_orders.h"

#include <cstring>
#include <future>

#include "tessera/common/civil_time.h"

namespace tessera::ingest::internal {

using store::DictKind;

namespace {

// A load over its memory budget spills to this many temporary files (by order token), each
// with a write buffer of this size; a partition of a 100M-order load is ~50 MB.
constexpr size_t kSpillPartitions = 256;
constexpr size_t kSpillBufferBytes = 128 << 10;

}  // namespace

StatusOr<std::unique_ptr<SpilledOrders>> SpilledOrders::Start(const std::string& dir,
                                                              const privacy::OwnerKey& key,
                                                              MemoryOrders& gathered) {
  TESSERA_ASSIGN_OR_RETURN(auto partitions,
                           SpillPartitions::Create(dir, kSpillPartitions, kSpillBufferBytes));
  TESSERA_ASSIGN_OR_RETURN(auto tokenizer, privacy::OrderTokenizer::Create(key));
  if (sodium_init() < 0) return InternalError("libsodium cannot initialize");
  std::unique_ptr<SpilledOrders> spilled(
      new SpilledOrders(std::move(partitions), std::move(tokenizer)));
  randombytes_buf(spilled->hash_key_, sizeof spilled->hash_key_);
  // The orders gathered so far become the first runs of their tokens.
  TESSERA_RETURN_IF_ERROR(gathered.EncryptTokens(key));
  const PendingOrders& pending = gathered.pending();
  std::vector<SpillItem> items;
  for (const PendingOrder& o : pending.orders) {
    SpillRun run;
    run.ordered_at = o.ordered_at;
    run.amount_micro = o.amount_micro;
    run.first_hash = spilled->Keyed(o.first_hash);
    run.customer_slot = o.customer_slot;
    run.currency = o.currency;
    run.store = o.store;
    run.region = o.region;
    run.channel = o.channel;
    run.kind = o.kind;
    run.line_level = o.first_item != kNone;
    items.clear();
    for (uint32_t i = o.first_item; i != kNone; i = pending.items[i].next) {
      const PendingItem& item = pending.items[i];
      items.push_back(SpillItem{item.quantity_milli, item.amount_micro, spilled->Keyed(item.hash),
                                0, item.category, item.sku});
    }
    TESSERA_RETURN_IF_ERROR(spilled->WriteRun(run, o.token, items));
  }
  gathered.Release();
  return spilled;
}

Status SpilledOrders::Add(const io::OrderLine& line, const std::string& key, uint32_t customer,
                          bool line_level, uint32_t file, Dictionaries& dicts) {
  const bool same_order = run_open_ && key == run_key_;
  const uint32_t currency = dicts.Intern(DictKind::kCurrency, line.currency);
  const SpillItem item{line.quantity_milli,
                       line.amount_micro,
                       Keyed(line.content_hash),
                       line.line,
                       dicts.Intern(DictKind::kCategory, line.category),
                       dicts.Intern(DictKind::kSku, line.sku)};
  if (same_order && line_level && run_.line_level && currency == run_.currency &&
      customer == run_.customer_slot &&
      DayOfTimestamp(line.ordered_at) == DayOfTimestamp(run_.ordered_at)) {
    run_items_.push_back(item);
    return OkStatus();
  }
  TESSERA_RETURN_IF_ERROR(EndRun());
  if (!same_order) {
    TESSERA_ASSIGN_OR_RETURN(run_token_, tokenizer_.Encrypt(key));
    run_key_.assign(key);
  }
  run_ = SpillRun();
  run_.ordered_at = line.ordered_at;
  run_.amount_micro = line.amount_micro;
  run_.first_hash = item.hash;
  run_.customer_slot = customer;
  run_.currency = currency;
  run_.store = dicts.Intern(DictKind::kStore, line.store);
  run_.region = dicts.Intern(DictKind::kRegion, line.region);
  run_.channel = dicts.Intern(DictKind::kChannel, line.channel);
  run_.file = file;
  run_.kind = static_cast<uint8_t>(line.kind);
  run_.line_level = line_level;
  run_items_.clear();
  if (line_level) run_items_.push_back(item);
  run_open_ = true;
  return OkStatus();
}

Status SpilledOrders::EndRun() {
  if (!run_open_) return OkStatus();
  run_open_ = false;
  return WriteRun(run_, run_token_, run_items_);
}

StatusOr<uint64_t> SpilledOrders::Flush() {
  TESSERA_RETURN_IF_ERROR(partitions_.Flush());
  return partitions_.bytes_written();
}

Status SpilledOrders::WriteRun(SpillRun run, std::string_view token,
                               const std::vector<SpillItem>& items) {
  run.items = static_cast<uint32_t>(items.size());
  run.token_size = static_cast<uint16_t>(token.size());
  record_.clear();
  record_.append(reinterpret_cast<const char*>(&run), sizeof run);
  record_.append(token);
  record_.append(reinterpret_cast<const char*>(items.data()), items.size() * sizeof(SpillItem));
  uint64_t siv;
  std::memcpy(&siv, token.data(), sizeof siv);
  return partitions_.Append(siv % partitions_.size(), record_);
}

StatusOr<uint64_t> SpilledOrders::CountLateRejects(uint64_t limit) const {
  uint64_t count = 0;
  std::string data;
  for (size_t p = 0; p < partitions_.size() && count <= limit; ++p) {
    TESSERA_RETURN_IF_ERROR(partitions_.Read(p, &data));
    Group counted;
    GroupRuns(data, nullptr, &counted);
    count += counted.late_rejects;
  }
  return count;
}

Status SpilledOrders::ForEachGroup(const std::vector<LateRejects>& late_rejects,
                                   const std::function<Status(Group&)>& fn) {
  auto group = [this, &late_rejects](size_t p) {
    Group g;
    std::string bytes;
    if (const Status read = partitions_.Read(p, &bytes); !read.ok()) {
      g.status = read;
    } else {
      GroupRuns(bytes, &late_rejects, &g);
    }
    return g;
  };
  std::future<Group> next = std::async(std::launch::async, group, 0);
  Status st;
  for (size_t p = 0; p < partitions_.size() && st.ok(); ++p) {
    Group g = next.get();
    if (p + 1 < partitions_.size()) next = std::async(std::launch::async, group, p + 1);
    st = g.status;
    if (st.ok()) st = partitions_.Clear(p);
    if (st.ok()) st = fn(g);
  }
  if (next.valid()) next.wait();
  return st;
}

// Reads only the runs and `late_rejects`, so that it can run beside the writing.
void SpilledOrders::GroupRuns(std::string_view data, const std::vector<LateRejects>* late_rejects,
                              Group* out) const {
  const bool count_only = late_rejects == nullptr;
  PendingOrders& pending = out->pending;
  std::vector<PendingOrder>& orders = pending.orders;
  FlatStringMap index;
  size_t at = 0;
  while (at < data.size()) {
    SpillRun run;
    std::memcpy(&run, data.data() + at, sizeof run);
    at += sizeof run;
    const std::string_view token = data.substr(at, run.token_size);
    at += run.token_size;
    const char* run_items = data.data() + at;
    at += run.items * sizeof(SpillItem);
    const auto next_index = static_cast<uint32_t>(orders.size());
    const uint32_t existing = index.Insert(token, next_index).first;
    if (existing == next_index) {
      PendingOrder o;
      o.token.assign(token);
      o.customer_slot = run.customer_slot;
      o.ordered_at = run.ordered_at;
      o.kind = run.kind;
      o.currency = run.currency;
      o.store = run.store;
      o.region = run.region;
      o.channel = run.channel;
      o.first_hash = run.first_hash;
      if (!run.line_level) o.amount_micro = run.amount_micro;
      orders.push_back(std::move(o));
    } else if (!run.line_level) {
      if (!count_only) {
        ++(run.first_hash == orders[existing].first_hash ? out->duplicate_rows
                                                         : out->conflicting_rows);
      }
      continue;
    }
    PendingOrder& o = orders[existing];
    // As the in-memory path decides (MemoryOrders::Add): the order's first line rules.
    const io::Reject LateRejects::*late = nullptr;
    if (run.customer_slot != o.customer_slot) {
      late = &LateRejects::other_customer;
    } else if (DayOfTimestamp(run.ordered_at) != DayOfTimestamp(o.ordered_at)) {
      late = &LateRejects::other_day;
    } else if (run.currency != o.currency) {
      late = &LateRejects::mixed_currency;
    }
    for (uint32_t i = 0; i < run.items; ++i) {
      SpillItem it;
      std::memcpy(&it, run_items + i * sizeof(SpillItem), sizeof it);
      if (pending.HasItem(o, it.hash)) {
        if (!count_only) ++out->duplicate_rows;
      } else if (late != nullptr) {
        ++out->late_rejects;
        if (!count_only) {
          out->rejects.push_back((*late_rejects)[run.file].*late);
          out->rejects.back().line = it.line;
        }
      } else {
        pending.AddItem(
            o, PendingItem{it.category, it.sku, it.quantity_milli, it.amount_micro, it.hash});
      }
    }
  }
}

}  // namespace tessera::ingest::internal
