#include "tessera/store/loader.h"

#include <sys/stat.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <unordered_map>

#include "store/flat_string_map.h"
#include "tessera/common/money.h"
#include "tessera/common/text.h"
#include "tessera/privacy/order_token.h"
#include "tessera/privacy/pseudonymizer.h"

namespace tessera::store {
namespace {

using io::OrderKind;
using privacy::Uuid;

constexpr uint32_t kNone = 0xffffffffu;
// How far ahead the loader prefetches hash-table slots: enough rows to cover a memory access.
constexpr size_t kPrefetchRows = 16;

// An open-addressing set of 128-bit keys (the SIVs of stored order tokens). SIVs are
// uniformly random, so their first word is the hash.
class KeySet {
 public:
  void Reserve(size_t n) {
    size_t cap = 16;
    while (cap < n * 2) cap <<= 1;
    std::vector<Key> old = std::move(slots_);
    slots_.assign(cap, Key{});
    size_ = 0;
    for (const Key& k : old) {
      if (k.a != 0 || k.b != 0) Insert(k);
    }
  }
  // Returns false if the key was present.
  bool Insert(std::string_view siv) {
    Key k;
    std::memcpy(&k.a, siv.data(), 8);
    std::memcpy(&k.b, siv.data() + 8, 8);
    if (k.a == 0 && k.b == 0) k.b = 1;  // the empty marker; a zero SIV has probability 2^-128
    return Insert(k);
  }
  // Fetches the first slot of `siv` ahead of an Insert (see FlatStringMap::Prefetch).
  void Prefetch(std::string_view siv) const {
    if (slots_.empty()) return;
    uint64_t a;
    std::memcpy(&a, siv.data(), 8);
    __builtin_prefetch(&slots_[a & (slots_.size() - 1)]);
  }
  bool Contains(std::string_view siv) const {
    if (slots_.empty()) return false;
    Key k;
    std::memcpy(&k.a, siv.data(), 8);
    std::memcpy(&k.b, siv.data() + 8, 8);
    if (k.a == 0 && k.b == 0) k.b = 1;
    for (size_t i = k.a & (slots_.size() - 1);; i = (i + 1) & (slots_.size() - 1)) {
      if (slots_[i].a == k.a && slots_[i].b == k.b) return true;
      if (slots_[i].a == 0 && slots_[i].b == 0) return false;
    }
  }

 private:
  struct Key {
    uint64_t a = 0, b = 0;
  };
  bool Insert(const Key& k) {
    if ((size_ + 1) * 2 > slots_.size()) Reserve(size_ + 1);
    for (size_t i = k.a & (slots_.size() - 1);; i = (i + 1) & (slots_.size() - 1)) {
      if (slots_[i].a == k.a && slots_[i].b == k.b) return false;
      if (slots_[i].a == 0 && slots_[i].b == 0) {
        slots_[i] = k;
        ++size_;
        return true;
      }
    }
  }
  std::vector<Key> slots_;
  size_t size_ = 0;
};

using internal::FlatStringMap;

// Strings -> dense ids for one dictionary kind, continuing the store's ids.
struct Dictionary {
  FlatStringMap ids;
  std::vector<bool> written;  // by id: already in the store
  uint32_t next = 1;          // 0 means "none"
  std::string last_value;     // consecutive rows mostly repeat a value
  uint32_t last_id = 0;

  uint32_t Intern(std::string_view value) {
    if (value.empty()) return 0;
    if (last_id != 0 && value == last_value) return last_id;
    const uint32_t id = ids.Insert(value, next).first;
    if (id == next) ++next;
    last_value.assign(value);
    return last_id = id;
  }
};

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

struct LoadCustomer {
  Uuid uuid;
  uint32_t global = kNone;
};

// Rows read ahead by a parsing thread, in batches that own their bytes.
struct ParsedRow {
  io::OrderReader::Result result = io::OrderReader::Result::kEnd;
  io::OrderLine line;
  io::Reject reject;
  // The line's text fields, as offsets into the batch's arena (the reader's buffer moves on).
  std::array<uint32_t, 9> offset{}, length{};
};

struct RowBatch {
  std::vector<ParsedRow> rows;
  std::string arena;
  uint64_t bytes_read = 0;

  static std::array<std::string_view*, 9> Fields(io::OrderLine* l) {
    return {&l->order_id, &l->customer_id, &l->email,  &l->currency, &l->category,
            &l->sku,      &l->store,       &l->region, &l->channel};
  }
  // Copies the text fields of a kLine row into the arena.
  void Keep(ParsedRow* row) {
    const auto fields = Fields(&row->line);
    for (size_t i = 0; i < fields.size(); ++i) {
      row->offset[i] = static_cast<uint32_t>(arena.size());
      row->length[i] = static_cast<uint32_t>(fields[i]->size());
      arena.append(*fields[i]);
    }
  }
  // Points a kLine row's views at the arena (valid while the batch lives).
  void Bind(ParsedRow* row) const {
    const auto fields = Fields(&row->line);
    for (size_t i = 0; i < fields.size(); ++i) {
      *fields[i] = std::string_view(arena.data() + row->offset[i], row->length[i]);
    }
  }
};

// Runs OrderReader::Next on its own thread and hands over batches of rows through a small
// bounded queue. Next() returns batches in file order and nullptr at the end; the previous
// batch stays valid until the following call.
class RowPipeline {
 public:
  static constexpr size_t kBatchRows = 4096;
  static constexpr size_t kQueueBatches = 8;

  explicit RowPipeline(io::OrderReader& reader) : reader_(reader) {
    thread_ = std::thread([this] { Produce(); });
  }
  ~RowPipeline() {
    Stop();
    thread_.join();
  }
  RowPipeline(const RowPipeline&) = delete;
  RowPipeline& operator=(const RowPipeline&) = delete;

  RowBatch* Next() {
    std::unique_lock lock(mutex_);
    if (current_) free_.push_back(std::move(current_));
    changed_.notify_all();
    changed_.wait(lock, [&] { return !ready_.empty() || done_; });
    if (ready_.empty()) return nullptr;
    current_ = std::move(ready_.front());
    ready_.erase(ready_.begin());
    changed_.notify_all();
    return current_.get();
  }

  void Stop() {
    std::lock_guard lock(mutex_);
    stop_ = true;
    changed_.notify_all();
  }

 private:
  void Produce() {
    for (;;) {
      std::unique_ptr<RowBatch> batch;
      {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return stop_ || ready_.size() < kQueueBatches; });
        if (stop_) break;
        if (!free_.empty()) {
          batch = std::move(free_.back());
          free_.pop_back();
        }
      }
      if (!batch) batch = std::make_unique<RowBatch>();
      batch->rows.resize(kBatchRows);
      batch->arena.clear();
      size_t n = 0;
      bool end = false;
      while (n < kBatchRows) {
        ParsedRow& row = batch->rows[n];
        row.result = reader_.Next(&row.line, &row.reject);
        if (row.result == io::OrderReader::Result::kEnd) {
          end = true;
          break;
        }
        if (row.result == io::OrderReader::Result::kLine) batch->Keep(&row);
        ++n;
      }
      batch->rows.resize(n);
      batch->bytes_read = reader_.bytes_read();
      std::lock_guard lock(mutex_);
      if (n > 0) ready_.push_back(std::move(batch));
      if (end) break;
      changed_.notify_all();
    }
    std::lock_guard lock(mutex_);
    done_ = true;
    changed_.notify_all();
  }

  io::OrderReader& reader_;
  std::thread thread_;
  std::mutex mutex_;  // guards everything below
  std::condition_variable changed_;
  std::vector<std::unique_ptr<RowBatch>> ready_, free_;
  std::unique_ptr<RowBatch> current_;
  bool stop_ = false, done_ = false;
};

class Loader {
 public:
  Loader(Store& store, const LoadOptions& options, privacy::Pseudonymizer pseudonymizer)
      : store_(store), options_(options), pseudonymizer_(std::move(pseudonymizer)) {}

  Status ReadStoreState() {
    TESSERA_RETURN_IF_ERROR(store_.ScanCustomers([&](uint32_t idx, const Uuid& u) {
      stored_customers_.emplace(u, idx);
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
        continue;
      }
      // The order index is probed once per order, at a random place: fetch the slot of an
      // order some rows ahead so that the probe does not wait for memory.
      if (!synthesize_ids && at + kPrefetchRows < batch->rows.size()) {
        const ParsedRow& ahead = batch->rows[at + kPrefetchRows];
        if (ahead.result == io::OrderReader::Result::kLine) {
          order_index_.Prefetch(
              std::string_view(batch->arena.data() + ahead.offset[0], ahead.length[0]));
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
    return OkStatus();
  }

  // Encrypts every order id (the costliest step per order) on all cores: each thread has
  // its own tokenizer and a contiguous share of the orders.
  Status EncryptTokens(const privacy::OwnerKey& key) {
    const size_t n = orders_.size();
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

  Status Write() {
    summary_.orders_in_input = orders_.size();
    summary_.customers_in_input = customers_.size();
    TESSERA_ASSIGN_OR_RETURN(summary_.load_id, store_.BeginLoad());
    Batch batch;
    batch.first_new_customer = next_customer_;
    for (size_t i = 0; i < orders_.size(); ++i) {
      if (i + kPrefetchRows < orders_.size())
        stored_orders_.Prefetch(orders_[i + kPrefetchRows].token);
      PendingOrder& o = orders_[i];
      // Insert() is false for a token already stored (by an earlier load).
      if (!stored_orders_.Insert(o.token)) {
        ++summary_.orders_already_stored;
        continue;
      }
      AppendOrder(o, &batch);
      if (batch.orders.size() >= options_.batch_orders) TESSERA_RETURN_IF_ERROR(Flush(&batch));
    }
    TESSERA_RETURN_IF_ERROR(Flush(&batch));
    return OkStatus();
  }

  Status Finish() {
    TESSERA_RETURN_IF_ERROR(store_.AddLoadRejects(summary_.load_id, kept_rejects_));
    return store_.FinishLoad(summary_.load_id, summary_.ToJson());
  }
  LoadSummary& summary() { return summary_; }
  void SetFiles(std::vector<std::string> files) { files_ = std::move(files); }

 private:
  Status AddReject(const io::Reject& original) {
    io::Reject relabelled;
    const io::Reject* reject = &original;
    if (!options_.file_labels.empty()) {
      for (size_t i = 0; i < files_.size() && i < options_.file_labels.size(); ++i) {
        if (files_[i] == original.file) {
          relabelled = original;
          relabelled.file = options_.file_labels[i];
          reject = &relabelled;
          break;
        }
      }
    }
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
    for (uint32_t i = o.first_item; i != kNone; i = items_[i].next) {
      if (items_[i].hash == hash) return true;
    }
    return false;
  }

  void AddItem(PendingOrder& o, const io::OrderLine& line) {
    PendingItem item;
    item.category = Intern(DictKind::kCategory, line.category);
    item.sku = Intern(DictKind::kSku, line.sku);
    item.quantity_milli = line.quantity_milli;
    item.amount_micro = line.amount_micro;
    item.hash = line.content_hash;
    const auto index = static_cast<uint32_t>(items_.size());
    items_.push_back(item);
    if (o.first_item == kNone)
      o.first_item = index;
    else
      items_[o.last_item].next = index;
    o.last_item = index;
    o.amount_micro += line.amount_micro;
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
    auto [uit, inserted] =
        slot_by_uuid_.try_emplace(uuid, static_cast<uint32_t>(customers_.size()));
    if (inserted) customers_.push_back(LoadCustomer{uuid, kNone});
    cache.Insert(raw, uit->second);
    last_raw_customer_.assign(raw);
    last_customer_is_email_ = is_email;
    return last_customer_slot_ = uit->second;
  }

  void AppendOrder(const PendingOrder& o, Batch* batch) {
    OrderColumns& c = batch->orders;
    c.token_bytes.append(o.token);
    c.token_offsets.push_back(static_cast<uint32_t>(c.token_bytes.size()));
    uint32_t customer = kAnonymousCustomer;
    if (o.customer_slot != kNone) {
      LoadCustomer& lc = customers_[o.customer_slot];
      if (lc.global == kNone) {
        if (auto it = stored_customers_.find(lc.uuid); it != stored_customers_.end()) {
          lc.global = it->second;
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

  Status Flush(Batch* batch) {
    if (batch->orders.size() == 0 && batch->new_customers.empty()) return OkStatus();
    TESSERA_RETURN_IF_ERROR(store_.AppendBatch(summary_.load_id, *batch));
    ++summary_.batches;
    written_ += batch->orders.size();
    if (options_.on_progress) {
      options_.on_progress(LoadProgress{"", 0, 0, summary_.rows_read, written_, true});
    }
    *batch = Batch();
    batch->first_new_customer = next_customer_;
    return OkStatus();
  }

  Store& store_;
  const LoadOptions& options_;
  privacy::Pseudonymizer pseudonymizer_;
  LoadSummary summary_;
  std::vector<std::string> files_;        // as given, to label rejects (LoadOptions::file_labels)
  std::vector<io::Reject> kept_rejects_;  // the first LoadOptions::stored_rejects

  std::unordered_map<Uuid, uint32_t, privacy::UuidHash> stored_customers_;
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
  std::unordered_map<Uuid, uint32_t, privacy::UuidHash> slot_by_uuid_;
  std::vector<LoadCustomer> customers_;
  std::vector<PendingOrder> orders_;
  std::vector<PendingItem> items_;
  uint64_t written_ = 0;
  std::vector<int> exponents_;  // by currency id: decimals of the minor unit, -1 = not yet known
};

}  // namespace

std::string LoadSummary::ToJson() const {
  nlohmann::ordered_json j;
  j["files"] = files;
  j["rows_read"] = rows_read;
  j["rows_rejected"] = rows_rejected;
  j["rejected_by_reason"] = rejected_by_reason;
  j["rows_ignored"] = rows_ignored;
  j["rows_without_customer"] = rows_without_customer;
  j["duplicate_rows"] = duplicate_rows;
  j["conflicting_rows"] = conflicting_rows;
  j["orders_in_input"] = orders_in_input;
  j["orders_already_stored"] = orders_already_stored;
  j["orders_stored"] = orders_stored;
  j["purchases_stored"] = purchases_stored;
  j["credits_stored"] = credits_stored;
  j["voids_stored"] = voids_stored;
  j["anonymous_orders_stored"] = anonymous_orders_stored;
  j["customers_in_input"] = customers_in_input;
  j["customers_new"] = customers_new;
  j["batches"] = batches;
  j["load_id"] = load_id;
  j["seconds"] = seconds;
  j["seconds_by_phase"] = {{"store_state", seconds_store_state},
                           {"read", seconds_read},
                           {"encrypt", seconds_encrypt},
                           {"write", seconds_write}};
  return j.dump();
}

std::string LoadSummary::ToText() const {
  std::string out;
  auto line = [&](std::string_view label, uint64_t value, std::string_view note = "") {
    out += fmt::format("  {:<28}{:>14}{}{}\n", label, WithThousands(value),
                       note.empty() ? "" : "  ", note);
  };
  line("files", files);
  line("rows read", rows_read);
  line("rows rejected", rows_rejected);
  for (const auto& [reason, n] : rejected_by_reason) line(fmt::format("  {}", reason), n);
  if (rows_ignored > 0) line("rows ignored (status)", rows_ignored);
  line("rows without customer id", rows_without_customer,
       "(stored as anonymous orders, no profile)");
  line("duplicate rows skipped", duplicate_rows);
  if (conflicting_rows > 0)
    line("conflicting repeats skipped", conflicting_rows,
         "(same order id, other values; first kept)");
  line("orders in input", orders_in_input);
  line("orders already stored", orders_already_stored, "(skipped)");
  line("orders stored", orders_stored,
       fmt::format("({} purchases, {} cancellations/returns, {} voided)", purchases_stored,
                   credits_stored, voids_stored));
  line("customers in input", customers_in_input);
  line("new customers", customers_new);
  out += fmt::format("  {:<28}{:>14.1f}\n", "seconds", seconds);
  return out;
}

StatusOr<LoadSummary> LoadOrders(Store& store, const privacy::OwnerKey& key,
                                 const std::vector<std::string>& files,
                                 const LoadOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  TESSERA_ASSIGN_OR_RETURN(auto lock, store.LockForWriting());
  TESSERA_RETURN_IF_ERROR(store.BindKey(key.Fingerprint()));
  TESSERA_ASSIGN_OR_RETURN(auto pseudonymizer, privacy::Pseudonymizer::Create(key));
  auto loader = std::make_unique<Loader>(store, options, std::move(pseudonymizer));
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
  TESSERA_RETURN_IF_ERROR(loader->EncryptTokens(key));
  summary.seconds_encrypt = lap();
  TESSERA_RETURN_IF_ERROR(loader->Write());
  summary.seconds_write = lap();
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  TESSERA_RETURN_IF_ERROR(loader->Finish());
  return loader->summary();
}

}  // namespace tessera::store
