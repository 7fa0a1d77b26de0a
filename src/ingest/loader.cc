#include "tessera/ingest/loader.h"

#include <signal.h>
#include <sodium.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <unordered_map>

#include "ingest/batch_writer.h"
#include "ingest/flat_string_map.h"
#include "ingest/flat_uuid_map.h"
#include "ingest/load_tables.h"
#include "ingest/row_pipeline.h"
#include "ingest/spill.h"
#include "tessera/common/money.h"
#include "tessera/common/text.h"
#include "tessera/privacy/order_token.h"
#include "tessera/privacy/pseudonymizer.h"

namespace tessera::ingest {

using store::Batch;
using store::DictKind;
using store::kAnonymousCustomer;
using store::kDictKindCount;
using store::kOrderTokens;
using store::OrderColumns;
using store::Store;

namespace {

using io::OrderKind;
using privacy::Uuid;

constexpr uint32_t kNone = 0xffffffffu;
// How far ahead the loader prefetches hash-table slots: enough rows to cover a memory access.
constexpr size_t kPrefetchRows = 16;
// A load over its memory budget spills to this many temporary files (by order token), each
// with a write buffer of this size; a partition of a 100M-order load is ~50 MB.
constexpr size_t kSpillPartitions = 256;
constexpr size_t kSpillBufferBytes = 128 << 10;
// Going through the temporary files is faster than one large hash table of raw order ids
// (measured at 10M orders: 26.5 s instead of 32.4 s, 0.5 GB instead of 4 GB), so only small
// loads stay in memory.
constexpr uint64_t kDefaultMemoryBudget = uint64_t{256} << 20;

using internal::BatchWriter;
using internal::Dictionary;
using internal::FlatStringMap;
using internal::KeySet;
using internal::ParsedRow;
using internal::RowBatch;
using internal::RowPipeline;

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

// The spilled form of a run: consecutive rows of one order in the input (or an order held in
// memory until the load went over its budget), followed by its token and its items. Native
// layout: the files live only as long as the load.
struct SpillRun {
  int64_t ordered_at = 0;
  int64_t amount_micro = 0;
  uint64_t first_hash = 0;  // keyed (Loader::Keyed), like the items' hashes
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

struct LoadCustomer {
  Uuid uuid;
  uint32_t global = kNone;
};

class Loader {
 public:
  Loader(Store& store, const LoadOptions& options, privacy::Pseudonymizer pseudonymizer,
         const privacy::OwnerKey& key)
      : store_(store), options_(options), pseudonymizer_(std::move(pseudonymizer)), key_(key) {
    budget_ = options.memory_budget == 0 ? kDefaultMemoryBudget : options.memory_budget;
  }

  Status ReadStoreState() {
    TESSERA_RETURN_IF_ERROR(store_.ScanCustomers([&](uint32_t idx, const Uuid& u) {
      stored_customers_.Insert(u, idx);
      next_customer_ = idx + 1;
    }));
    TESSERA_RETURN_IF_ERROR(
        store_.ScanDictionaries([&](DictKind kind, uint32_t id, const std::string& v) {
          Dictionary& d = dicts_[static_cast<size_t>(kind)];
          d.ids.Insert(v, id);
          d.next = std::max(d.next, id + 1);
          if (d.written.size() <= id) d.written.resize(id + 1, false);
          d.written[id] = true;
        }));
    return store_.ScanOrderFields(kOrderTokens, [&](const OrderColumns& chunk) {
      for (size_t i = 0; i < chunk.size(); ++i) {
        stored_orders_.Insert(chunk.token(i).substr(0, privacy::OrderTokenizer::kSivSize));
      }
      return OkStatus();
    });
  }

  Status ReadFile(const std::string& path) {
    TESSERA_ASSIGN_OR_RETURN(auto reader, io::OrderReader::Open(path, options_.mapping));
    file_index_ = static_cast<uint32_t>(summary_.files);
    // How a line of another currency than its order's is rejected, should a spilled load find
    // one when it puts the order's runs together.
    currency_rejects_.push_back(AddLabel(
        reader->MakeFieldReject(0, io::Field::kCurrency, "mixed_currency",
                                "the currency differs from that of the order's first line")));
    ++summary_.files;
    struct stat st {};
    const uint64_t total = (path != "-" && ::stat(path.c_str(), &st) == 0) ? st.st_size : 0;
    const bool line_level = reader->level() == io::RowLevel::kLine;
    const bool synthesize_ids = !reader->has_order_id();
    std::unordered_map<uint64_t, uint32_t> occurrences;  // content hash -> count, per file
    std::string key;
    // Parsing and validating rows (one thread) overlaps with grouping them into orders
    // (this thread); rows arrive in file order, so results do not depend on timing.
    RowPipeline pipeline(*reader);
    RowBatch* batch = nullptr;
    size_t at = 0;
    for (;;) {
      if (batch == nullptr || at == batch->rows.size()) {
        batch = pipeline.Next();
        at = 0;
        if (batch == nullptr) break;
        if (!spill_ && PendingBytes() > budget_) {
          const Status started = StartSpilling();
          if (!started.ok()) {
            pipeline.Stop();
            return started;
          }
        }
        continue;
      }
      // The order index is probed once per order, at a random place: fetch the slot of an
      // order some rows ahead so that the probe does not wait for memory.
      // Likewise the customer's slot, probed once per order too (2.6M customers at size M).
      if (at + kPrefetchRows < batch->rows.size()) {
        const ParsedRow& ahead = batch->rows[at + kPrefetchRows];
        if (ahead.result == io::OrderReader::Result::kLine) {
          const auto field = [&](size_t i) {
            return std::string_view(batch->arena.data() + ahead.offset[i], ahead.length[i]);
          };
          if (!synthesize_ids && !spill_) order_index_.Prefetch(field(0));
          if (ahead.length[1] != 0) {
            number_slots_.Prefetch(field(1));
          } else if (ahead.length[2] != 0) {
            email_slots_.Prefetch(field(2));
          }
        }
      }
      ParsedRow& parsed = batch->rows[at++];
      const auto result = parsed.result;
      io::OrderLine& line = parsed.line;
      const io::Reject& reject = parsed.reject;
      if (result == io::OrderReader::Result::kLine) batch->Bind(&parsed);
      ++summary_.rows_read;
      if (options_.on_progress && (summary_.rows_read & 0xffff) == 0) {
        options_.on_progress(
            LoadProgress{path, batch->bytes_read, total, summary_.rows_read, 0, false});
      }
      if (result == io::OrderReader::Result::kSkip) {
        ++summary_.rows_ignored;
        continue;
      }
      if (result == io::OrderReader::Result::kReject) {
        if (reject.reason_code == "read_error") {
          // The input broke off (a truncated gzip, a failing disk): the rows read so far are
          // only part of it, so nothing is written (loads write after reading everything).
          pipeline.Stop();
          return InvalidArgumentError(
              "{}: the input is damaged ({}); nothing was loaded: export or fetch the file "
              "again",
              AddLabel(reject).file, reject.reason);
        }
        const Status limit = AddReject(reject);
        if (!limit.ok()) {
          pipeline.Stop();
          return limit;
        }
        continue;
      }
      if (line.customer_id.empty() && line.email.empty()) ++summary_.rows_without_customer;
      if (synthesize_ids) {
        key = fmt::format("row-{:016x}-{}", line.content_hash, occurrences[line.content_hash]++);
      } else {
        key.assign(line.order_id);
      }
      // Every row's customer identifier is validated; the first row of an order decides
      // the order's customer, time and kind.
      auto customer = CustomerSlot(line, *reader);
      if (!customer.ok()) {
        if (customer.status().code() == StatusCode::kResourceExhausted) {
          pipeline.Stop();
          return customer.status();
        }
        continue;
      }
      if (spill_) {
        const Status spilled = SpillRow(line, key, *customer, line_level);
        if (!spilled.ok()) {
          pipeline.Stop();
          return spilled;
        }
        continue;
      }
      // Lines of one order usually follow each other: check the previous order first, else
      // find or add the order with one probe of the index.
      const auto next_index = static_cast<uint32_t>(orders_.size());
      uint32_t existing = kNone;
      std::string_view stored_key;
      if (last_order_ != kNone && key == last_key_) {
        existing = last_order_;
      } else {
        const auto [index, view] = order_index_.Insert(key, next_index);
        if (index != next_index) existing = index;
        stored_key = view;
      }
      if (existing != kNone) {
        last_order_ = existing;
        last_key_ = key;
        PendingOrder& o = orders_[existing];
        if (!line_level) {
          if (line.content_hash == o.first_hash)
            ++summary_.duplicate_rows;
          else
            ++summary_.conflicting_rows;
          continue;
        }
        if (IsDuplicateItem(o, line.content_hash)) {
          ++summary_.duplicate_rows;
          continue;
        }
        if (dicts_[static_cast<size_t>(DictKind::kCurrency)].Intern(line.currency) != o.currency) {
          const Status limit = AddReject(
              reader->MakeFieldReject(line.line, io::Field::kCurrency, "mixed_currency",
                                      "the currency differs from that of the order's first line"));
          if (!limit.ok()) {
            pipeline.Stop();
            return limit;
          }
          continue;
        }
        AddItem(o, line);
        continue;
      }
      order_keys_.push_back(stored_key);
      last_order_ = next_index;
      last_key_ = key;
      PendingOrder o;  // its token is encrypted later, in parallel (EncryptTokens)
      o.customer_slot = *customer;
      o.ordered_at = line.ordered_at;
      o.kind = static_cast<uint8_t>(line.kind);
      o.currency = Intern(DictKind::kCurrency, line.currency);
      o.store = Intern(DictKind::kStore, line.store);
      o.region = Intern(DictKind::kRegion, line.region);
      o.channel = Intern(DictKind::kChannel, line.channel);
      o.first_hash = line.content_hash;
      orders_.push_back(std::move(o));
      if (line_level) {
        AddItem(orders_.back(), line);
      } else {
        orders_.back().amount_micro = line.amount_micro;
      }
    }
    if (options_.on_progress) {
      options_.on_progress(
          LoadProgress{path, reader->bytes_read(), total, summary_.rows_read, 0, false});
    }
    return EndRun();  // runs do not span files
  }

  // Encrypts every order id (the costliest step per order) on all cores: each thread has
  // its own tokenizer and a contiguous share of the orders.
  Status EncryptTokens() {
    const size_t n = orders_.size();
    const size_t threads = std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 8);
    const size_t per_thread = (n + threads - 1) / threads;
    std::vector<Status> results(threads);
    auto work = [&](size_t t) {
      auto tokenizer = privacy::OrderTokenizer::Create(key_);
      if (!tokenizer.ok()) {
        results[t] = tokenizer.status();
        return;
      }
      for (size_t i = t * per_thread; i < std::min(n, (t + 1) * per_thread); ++i) {
        auto token = tokenizer->Encrypt(order_keys_[i]);
        if (!token.ok()) {
          results[t] = token.status();
          return;
        }
        orders_[i].token = std::move(*token);
      }
    };
    std::vector<std::thread> pool;
    for (size_t t = 1; t < threads && t * per_thread < n; ++t) pool.emplace_back(work, t);
    work(0);
    for (auto& th : pool) th.join();
    for (const Status& st : results) TESSERA_RETURN_IF_ERROR(st);
    return OkStatus();
  }

  bool spilled() const { return spill_.has_value(); }

  Status Write() {
    summary_.customers_in_input = customers_.size();
    if (spill_) return WriteSpilled();
    summary_.orders_in_input = orders_.size();
    TESSERA_ASSIGN_OR_RETURN(summary_.load_id, store_.BeginLoad());
    BatchWriter writer([this](const Batch& b) { return Commit(b); });
    writer_ = &writer;
    Batch batch;
    batch.first_new_customer = next_customer_;
    Status st = WritePending(&batch);
    if (st.ok()) st = Flush(&batch);
    writer_ = nullptr;
    const Status committed = writer.Finish();
    TESSERA_RETURN_IF_ERROR(st);
    return committed;
  }

  // Spilling: a load whose orders outgrow LoadOptions::memory_budget writes them to
  // temporary files partitioned by order token, as runs (the consecutive rows of an order),
  // and puts each partition's runs together into orders when it writes (WriteSpilled). The
  // results are those of a load in memory; only the order in which orders (and new
  // customers) are numbered differs.
  Status StartSpilling() {
    std::string dir = options_.temp_dir;
    if (dir.empty()) {
      const char* tmp = std::getenv("TMPDIR");
      dir = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
    }
    TESSERA_ASSIGN_OR_RETURN(
        auto spill, internal::SpillPartitions::Create(dir, kSpillPartitions, kSpillBufferBytes));
    spill_.emplace(std::move(spill));
    TESSERA_ASSIGN_OR_RETURN(auto tokenizer, privacy::OrderTokenizer::Create(key_));
    tokenizer_.emplace(std::move(tokenizer));
    if (sodium_init() < 0) return InternalError("libsodium cannot initialize");
    randombytes_buf(hash_key_, sizeof hash_key_);
    // The orders gathered so far become the first runs of their tokens.
    TESSERA_RETURN_IF_ERROR(EncryptTokens());
    std::vector<SpillItem> items;
    for (const PendingOrder& o : orders_) {
      SpillRun run;
      run.ordered_at = o.ordered_at;
      run.amount_micro = o.amount_micro;
      run.first_hash = Keyed(o.first_hash);
      run.customer_slot = o.customer_slot;
      run.currency = o.currency;
      run.store = o.store;
      run.region = o.region;
      run.channel = o.channel;
      run.kind = o.kind;
      run.line_level = o.first_item != kNone;
      items.clear();
      for (uint32_t i = o.first_item; i != kNone; i = items_[i].next) {
        const PendingItem& item = items_[i];
        items.push_back(SpillItem{item.quantity_milli, item.amount_micro, Keyed(item.hash), 0,
                                  item.category, item.sku});
      }
      TESSERA_RETURN_IF_ERROR(WriteRun(run, o.token, items));
    }
    std::vector<PendingOrder>().swap(orders_);
    std::vector<PendingItem>().swap(items_);
    std::vector<std::string_view>().swap(order_keys_);
    order_index_.Clear();
    last_order_ = kNone;
    last_key_.clear();
    return OkStatus();
  }

  // Memory the orders gathered so far hold: themselves, their lines, their tokens (to come)
  // and their keys in the order index.
  size_t PendingBytes() const {
    return orders_.capacity() * sizeof(PendingOrder) + items_.capacity() * sizeof(PendingItem) +
           order_keys_.capacity() * sizeof(std::string_view) + order_index_.MemoryBytes() +
           orders_.size() * 48;
  }

  // A content hash under this load's random key: what the temporary files hold instead of
  // the plain hash of a row (which an attacker could test guesses of a row against).
  uint64_t Keyed(uint64_t hash) const {
    uint64_t out;
    crypto_shorthash(reinterpret_cast<unsigned char*>(&out),
                     reinterpret_cast<const unsigned char*>(&hash), sizeof hash, hash_key_);
    return out;
  }

  // A row of a spilling load: extends the current run when it is another line of the same
  // order in the same currency, else ends it and starts the next. Duplicates, conflicting
  // repeats and other currencies are sorted out when the runs come together (GroupRuns), as
  // the first line of the order decides.
  Status SpillRow(const io::OrderLine& line, const std::string& key, uint32_t customer,
                  bool line_level) {
    const bool same_order = run_open_ && key == run_key_;
    const uint32_t currency = Intern(DictKind::kCurrency, line.currency);
    const SpillItem item{line.quantity_milli,
                         line.amount_micro,
                         Keyed(line.content_hash),
                         line.line,
                         Intern(DictKind::kCategory, line.category),
                         Intern(DictKind::kSku, line.sku)};
    if (same_order && line_level && run_.line_level && currency == run_.currency) {
      run_items_.push_back(item);
      return OkStatus();
    }
    TESSERA_RETURN_IF_ERROR(EndRun());
    if (!same_order) {
      TESSERA_ASSIGN_OR_RETURN(run_token_, tokenizer_->Encrypt(key));
      run_key_.assign(key);
    }
    run_ = SpillRun();
    run_.ordered_at = line.ordered_at;
    run_.amount_micro = line.amount_micro;
    run_.first_hash = item.hash;
    run_.customer_slot = customer;
    run_.currency = currency;
    run_.store = Intern(DictKind::kStore, line.store);
    run_.region = Intern(DictKind::kRegion, line.region);
    run_.channel = Intern(DictKind::kChannel, line.channel);
    run_.file = file_index_;
    run_.kind = static_cast<uint8_t>(line.kind);
    run_.line_level = line_level;
    run_items_.clear();
    if (line_level) run_items_.push_back(item);
    run_open_ = true;
    return OkStatus();
  }

  Status EndRun() {
    if (!run_open_) return OkStatus();
    run_open_ = false;
    return WriteRun(run_, run_token_, run_items_);
  }

  Status WriteRun(SpillRun run, std::string_view token, const std::vector<SpillItem>& items) {
    run.items = static_cast<uint32_t>(items.size());
    run.token_size = static_cast<uint16_t>(token.size());
    record_.clear();
    record_.append(reinterpret_cast<const char*>(&run), sizeof run);
    record_.append(token);
    record_.append(reinterpret_cast<const char*>(items.data()), items.size() * sizeof(SpillItem));
    uint64_t siv;
    std::memcpy(&siv, token.data(), sizeof siv);
    return spill_->Append(siv % spill_->size(), record_);
  }

  // Puts each partition's runs together into orders (as ReadFile does with rows) and writes
  // them. Mixed-currency lines found only now count towards max_rejects: when that limit is
  // set and the input has more than one currency, a first pass counts them, so that a load
  // over the limit still writes nothing.
  Status WriteSpilled() {
    TESSERA_RETURN_IF_ERROR(spill_->Flush());
    summary_.spilled_bytes = spill_->bytes_written();
    std::string data;
    if (options_.max_rejects != UINT64_MAX &&
        dicts_[static_cast<size_t>(DictKind::kCurrency)].next > 2) {
      uint64_t rejects = summary_.rows_rejected;
      for (size_t p = 0; p < spill_->size(); ++p) {
        TESSERA_RETURN_IF_ERROR(spill_->Read(p, &data));
        Group counted;
        GroupRuns(data, /*count_only=*/true, &counted);
        rejects += counted.mixed_currency;
        if (rejects > options_.max_rejects) {
          return ResourceExhaustedError(
              "more than {} rows rejected (the --max-rejects limit); nothing was stored",
              options_.max_rejects);
        }
      }
    }
    TESSERA_ASSIGN_OR_RETURN(summary_.load_id, store_.BeginLoad());
    BatchWriter writer([this](const Batch& b) { return Commit(b); });
    writer_ = &writer;
    Batch batch;
    batch.first_new_customer = next_customer_;
    // Partition p + 1 is read and grouped on another thread while this one writes p.
    auto group = [this](size_t p) {
      Group g;
      std::string bytes;
      if (const Status read = spill_->Read(p, &bytes); !read.ok()) {
        g.status = read;
      } else {
        GroupRuns(bytes, /*count_only=*/false, &g);
      }
      return g;
    };
    std::future<Group> next = std::async(std::launch::async, group, 0);
    Status st;
    for (size_t p = 0; p < spill_->size() && st.ok(); ++p) {
      Group g = next.get();
      if (p + 1 < spill_->size()) next = std::async(std::launch::async, group, p + 1);
      st = g.status;
      if (st.ok()) st = spill_->Clear(p);
      summary_.duplicate_rows += g.duplicate_rows;
      summary_.conflicting_rows += g.conflicting_rows;
      for (const io::Reject& reject : g.rejects) {
        if (st.ok()) st = RecordReject(reject);
      }
      orders_.swap(g.orders);
      items_.swap(g.items);
      summary_.orders_in_input += orders_.size();
      if (st.ok()) st = WritePending(&batch);
    }
    if (next.valid()) next.wait();
    if (st.ok()) st = Flush(&batch);
    writer_ = nullptr;
    const Status committed = writer.Finish();
    TESSERA_RETURN_IF_ERROR(st);
    return committed;
  }

  // One partition's orders, put together from its runs.
  struct Group {
    Status status;
    std::vector<PendingOrder> orders;
    std::vector<PendingItem> items;
    uint64_t duplicate_rows = 0, conflicting_rows = 0, mixed_currency = 0;
    std::vector<io::Reject> rejects;  // the mixed-currency lines, in input order
  };
  // Puts one partition's runs together into orders, in the order of the input; reads only
  // what the reading phase left (currency_rejects_), so it can run beside the writing.
  // `count_only`: counts the mixed-currency lines, nothing else.
  void GroupRuns(std::string_view data, bool count_only, Group* out) const {
    std::vector<PendingOrder>& orders = out->orders;
    std::vector<PendingItem>& items = out->items;
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
      for (uint32_t i = 0; i < run.items; ++i) {
        SpillItem it;
        std::memcpy(&it, run_items + i * sizeof(SpillItem), sizeof it);
        if (IsDuplicateItem(items, o, it.hash)) {
          if (!count_only) ++out->duplicate_rows;
        } else if (run.currency != o.currency) {
          ++out->mixed_currency;
          if (!count_only) {
            out->rejects.push_back(currency_rejects_[run.file]);
            out->rejects.back().line = it.line;
          }
        } else {
          AppendItem(&items, o,
                     PendingItem{it.category, it.sku, it.quantity_milli, it.amount_micro, it.hash});
        }
      }
    }
  }

  // Appends the orders in orders_ to `batch`, less those the store has, writing each full
  // batch.
  Status WritePending(Batch* batch) {
    for (size_t i = 0; i < orders_.size(); ++i) {
      if (i + kPrefetchRows < orders_.size()) {
        const PendingOrder& ahead = orders_[i + kPrefetchRows];
        stored_orders_.Prefetch(ahead.token);
        // The order's customer, at a random place in customers_ (52 MB at 2.6M customers).
        if (ahead.customer_slot != kNone) __builtin_prefetch(&customers_[ahead.customer_slot]);
      }
      PendingOrder& o = orders_[i];
      // A spilled load has each token once here (GroupRuns put its runs together) and need
      // not remember it; otherwise Insert() is false for a token already stored (by an
      // earlier load) or seen in this one.
      if (spill_ ? stored_orders_.Contains(o.token) : !stored_orders_.Insert(o.token)) {
        ++summary_.orders_already_stored;
        continue;
      }
      AppendOrder(o, batch);
      if (batch->orders.size() >= options_.batch_orders) TESSERA_RETURN_IF_ERROR(Flush(batch));
    }
    return OkStatus();
  }

  Status Finish() {
    TESSERA_RETURN_IF_ERROR(store_.AddLoadRejects(summary_.load_id, kept_rejects_));
    return store_.FinishLoad(summary_.load_id, summary_.ToJson());
  }
  LoadSummary& summary() { return summary_; }
  void SetFiles(std::vector<std::string> files) { files_ = std::move(files); }

 private:
  // The reject as LoadOptions::file_labels name its file.
  io::Reject AddLabel(io::Reject reject) const {
    if (!options_.file_labels.empty()) {
      for (size_t i = 0; i < files_.size() && i < options_.file_labels.size(); ++i) {
        if (files_[i] == reject.file) {
          reject.file = options_.file_labels[i];
          break;
        }
      }
    }
    return reject;
  }

  Status AddReject(const io::Reject& original) {
    if (options_.file_labels.empty()) return RecordReject(original);
    return RecordReject(AddLabel(original));
  }

  Status RecordReject(const io::Reject& labelled) {
    const io::Reject* reject = &labelled;
    ++summary_.rows_rejected;
    ++summary_.rejected_by_reason[reject->reason_code];
    if (kept_rejects_.size() < options_.stored_rejects) kept_rejects_.push_back(*reject);
    if (options_.on_reject) options_.on_reject(*reject);
    if (summary_.rows_rejected > options_.max_rejects) {
      return ResourceExhaustedError(
          "more than {} rows rejected (the --max-rejects limit); nothing was stored",
          options_.max_rejects);
    }
    return OkStatus();
  }

  uint32_t Intern(DictKind kind, std::string_view value) {
    return dicts_[static_cast<size_t>(kind)].Intern(value);
  }

  bool IsDuplicateItem(const PendingOrder& o, uint64_t hash) const {
    return IsDuplicateItem(items_, o, hash);
  }
  static bool IsDuplicateItem(const std::vector<PendingItem>& items, const PendingOrder& o,
                              uint64_t hash) {
    for (uint32_t i = o.first_item; i != kNone; i = items[i].next) {
      if (items[i].hash == hash) return true;
    }
    return false;
  }

  void AddItem(PendingOrder& o, const io::OrderLine& line) {
    AppendItem(
        o, PendingItem{Intern(DictKind::kCategory, line.category), Intern(DictKind::kSku, line.sku),
                       line.quantity_milli, line.amount_micro, line.content_hash});
  }

  void AppendItem(PendingOrder& o, const PendingItem& item) { AppendItem(&items_, o, item); }
  static void AppendItem(std::vector<PendingItem>* items, PendingOrder& o,
                         const PendingItem& item) {
    const auto index = static_cast<uint32_t>(items->size());
    items->push_back(item);
    if (o.first_item == kNone)
      o.first_item = index;
    else
      (*items)[o.last_item].next = index;
    o.last_item = index;
    o.amount_micro += item.amount_micro;
  }

  // The load-local slot of the row's customer (pseudonymized on first sight), kNone for an
  // anonymous row, or an error status after recording a reject.
  StatusOr<uint32_t> CustomerSlot(const io::OrderLine& line, const io::OrderReader& reader) {
    privacy::IdentifierKind kind = privacy::IdentifierKind::kCustomerNumber;
    std::string_view raw = line.customer_id;
    io::Field field = io::Field::kCustomerId;
    if (raw.empty()) {
      kind = privacy::IdentifierKind::kEmail;
      raw = line.email;
      field = io::Field::kEmail;
    }
    if (raw.empty()) return kNone;
    const bool is_email = kind == privacy::IdentifierKind::kEmail;
    if (last_customer_slot_ != kNone && is_email == last_customer_is_email_ &&
        raw == last_raw_customer_) {
      return last_customer_slot_;
    }
    auto& cache = is_email ? email_slots_ : number_slots_;
    if (const uint32_t slot = cache.Find(raw); slot != FlatStringMap::kMissing) {
      last_raw_customer_.assign(raw);
      last_customer_is_email_ = is_email;
      return last_customer_slot_ = slot;
    }
    auto normalized = privacy::NormalizeIdentifier(kind, raw);
    if (!normalized.ok()) {
      TESSERA_RETURN_IF_ERROR(AddReject(reader.MakeFieldReject(
          line.line, field,
          kind == privacy::IdentifierKind::kEmail ? "bad_email" : "bad_customer_id",
          normalized.status().message())));
      return InvalidArgumentError("rejected");
    }
    const Uuid uuid = pseudonymizer_.Pseudonym(kind, *normalized);
    // Two raw spellings of one customer ("17850.0", "17850") share a slot via the UUID.
    const auto [slot, inserted] =
        slot_by_uuid_.Insert(uuid, static_cast<uint32_t>(customers_.size()));
    if (inserted) customers_.push_back(LoadCustomer{uuid, kNone});
    cache.Insert(raw, slot);
    last_raw_customer_.assign(raw);
    last_customer_is_email_ = is_email;
    return last_customer_slot_ = slot;
  }

  void AppendOrder(const PendingOrder& o, Batch* batch) {
    OrderColumns& c = batch->orders;
    c.token_bytes.append(o.token);
    c.token_offsets.push_back(static_cast<uint32_t>(c.token_bytes.size()));
    uint32_t customer = kAnonymousCustomer;
    if (o.customer_slot != kNone) {
      LoadCustomer& lc = customers_[o.customer_slot];
      if (lc.global == kNone) {
        if (const uint32_t stored = stored_customers_.Find(lc.uuid);
            stored != internal::FlatUuidMap::kMissing) {
          lc.global = stored;
        } else {
          lc.global = next_customer_++;
          batch->new_customers.push_back(lc.uuid);
          ++summary_.customers_new;
        }
      }
      customer = lc.global;
    }
    c.customer.push_back(customer);
    c.ordered_at.push_back(o.ordered_at);
    if (exponents_.size() <= o.currency) exponents_.resize(o.currency + 1, -1);
    int& exponent = exponents_[o.currency];
    if (exponent < 0) exponent = CurrencyExponent(DictValue(DictKind::kCurrency, o.currency));
    int64_t minor = MicroToMinor(o.amount_micro, exponent);
    if (o.kind == static_cast<uint8_t>(OrderKind::kCredit) && minor > 0) minor = -minor;
    c.amount_minor.push_back(minor);
    c.kind.push_back(o.kind);
    c.currency.push_back(UseDict(DictKind::kCurrency, o.currency, batch));
    c.store.push_back(UseDict(DictKind::kStore, o.store, batch));
    c.region.push_back(UseDict(DictKind::kRegion, o.region, batch));
    c.channel.push_back(UseDict(DictKind::kChannel, o.channel, batch));
    for (uint32_t i = o.first_item; i != kNone; i = items_[i].next) {
      const PendingItem& item = items_[i];
      c.item_category.push_back(UseDict(DictKind::kCategory, item.category, batch));
      c.item_sku.push_back(UseDict(DictKind::kSku, item.sku, batch));
      c.item_quantity_milli.push_back(item.quantity_milli);
      c.item_amount_micro.push_back(item.amount_micro);
    }
    c.item_offsets.push_back(static_cast<uint32_t>(c.item_category.size()));
    ++summary_.orders_stored;
    if (customer == kAnonymousCustomer) ++summary_.anonymous_orders_stored;
    switch (static_cast<OrderKind>(o.kind)) {
      case OrderKind::kPurchase:
        ++summary_.purchases_stored;
        break;
      case OrderKind::kCredit:
        ++summary_.credits_stored;
        break;
      case OrderKind::kVoid:
        ++summary_.voids_stored;
        break;
    }
  }

  const std::string& DictValue(DictKind kind, uint32_t id) {
    Dictionary& d = dicts_[static_cast<size_t>(kind)];
    if (values_[static_cast<size_t>(kind)].size() < d.next) {
      auto& values = values_[static_cast<size_t>(kind)];
      values.assign(d.next, std::string());
      d.ids.ForEach([&](std::string_view v, uint32_t i) { values[i] = std::string(v); });
    }
    return values_[static_cast<size_t>(kind)][id];
  }

  // Makes sure a dictionary entry used by an order in `batch` is written with it.
  uint32_t UseDict(DictKind kind, uint32_t id, Batch* batch) {
    if (id == 0) return 0;
    Dictionary& d = dicts_[static_cast<size_t>(kind)];
    if (d.written.size() <= id) d.written.resize(d.next, false);
    if (!d.written[id]) {
      d.written[id] = true;
      batch->new_dict_entries.push_back(Batch::DictEntry{kind, id, DictValue(kind, id)});
    }
    return id;
  }

  // Hands `batch` to the writer's thread (which commits it while this one gathers the next)
  // and starts the next batch.
  Status Flush(Batch* batch) {
    if (batch->orders.size() == 0 && batch->new_customers.empty()) return OkStatus();
    TESSERA_RETURN_IF_ERROR(writer_->Submit(std::move(*batch)));
    if (options_.on_progress) {
      options_.on_progress(LoadProgress{"", 0, 0, summary_.rows_read, written_.load(), true});
    }
    *batch = Batch();
    batch->first_new_customer = next_customer_;
    return OkStatus();
  }

  // On the writer's thread: touches only the store and the two counters below, which the
  // gathering thread reads only after BatchWriter::Finish (written_ atomically for progress).
  Status Commit(const Batch& batch) {
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

  Store& store_;
  const LoadOptions& options_;
  privacy::Pseudonymizer pseudonymizer_;
  LoadSummary summary_;
  std::vector<std::string> files_;        // as given, to label rejects (LoadOptions::file_labels)
  std::vector<io::Reject> kept_rejects_;  // the first LoadOptions::stored_rejects

  internal::FlatUuidMap stored_customers_;
  uint32_t next_customer_ = 0;
  KeySet stored_orders_;
  Dictionary dicts_[kDictKindCount];
  std::vector<std::string> values_[kDictKindCount];

  // Privacy: raw identifiers as keys, in memory for the duration of the load only.
  FlatStringMap number_slots_, email_slots_;
  FlatStringMap order_index_;
  std::vector<std::string_view> order_keys_;  // by order: its key, stored in order_index_
  std::string last_key_;
  uint32_t last_order_ = kNone;
  std::string last_raw_customer_;
  uint32_t last_customer_slot_ = kNone;
  bool last_customer_is_email_ = false;
  internal::FlatUuidMap slot_by_uuid_;
  std::vector<LoadCustomer> customers_;
  std::vector<PendingOrder> orders_;
  std::vector<PendingItem> items_;
  std::atomic<uint64_t> written_ = 0;
  BatchWriter* writer_ = nullptr;  // while writing
  std::vector<int> exponents_;     // by currency id: decimals of the minor unit, -1 = not yet known

  // Spilling (StartSpilling).
  const privacy::OwnerKey& key_;
  size_t budget_ = SIZE_MAX;
  uint32_t file_index_ = 0;
  std::vector<io::Reject> currency_rejects_;  // by file: a mixed_currency reject, line 0
  std::optional<internal::SpillPartitions> spill_;
  std::optional<privacy::OrderTokenizer> tokenizer_;
  unsigned char hash_key_[crypto_shorthash_KEYBYTES] = {};
  bool run_open_ = false;
  SpillRun run_;
  std::string run_key_;  // privacy: the current run's raw order key, in memory only
  std::string run_token_;
  std::vector<SpillItem> run_items_;
  std::string record_;
};

}  // namespace

StatusOr<LoadSummary> LoadOrders(Store& store, const privacy::OwnerKey& key,
                                 const std::vector<std::string>& files,
                                 const LoadOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  TESSERA_ASSIGN_OR_RETURN(auto lock, store.LockForWriting());
  TESSERA_RETURN_IF_ERROR(store.BindKey(key.Fingerprint()));
  TESSERA_ASSIGN_OR_RETURN(auto pseudonymizer, privacy::Pseudonymizer::Create(key));
  auto loader = std::make_unique<Loader>(store, options, std::move(pseudonymizer), key);
  auto lap = [last = start]() mutable {
    const auto now = std::chrono::steady_clock::now();
    const double seconds = std::chrono::duration<double>(now - last).count();
    last = now;
    return seconds;
  };
  LoadSummary& summary = loader->summary();
  loader->SetFiles(files);
  TESSERA_RETURN_IF_ERROR(loader->ReadStoreState());
  summary.seconds_store_state = lap();
  for (const auto& file : files) TESSERA_RETURN_IF_ERROR(loader->ReadFile(file));
  summary.seconds_read = lap();
  TESSERA_RETURN_IF_ERROR(loader->EncryptTokens());
  summary.seconds_encrypt = lap();
  TESSERA_RETURN_IF_ERROR(loader->Write());
  summary.seconds_write = lap();
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  TESSERA_RETURN_IF_ERROR(loader->Finish());
  return loader->summary();
}

}  // namespace tessera::ingest
