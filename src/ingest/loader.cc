#include "tessera/ingest/loader.h"

#include <sys/resource.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <unordered_map>

#include "ingest/customer_slots.h"
#include "ingest/load_tables.h"
#include "ingest/match_tokens.h"
#include "ingest/memory_orders.h"
#include "ingest/order_writer.h"
#include "ingest/reject_log.h"
#include "ingest/row_pipeline.h"
#include "ingest/spilled_orders.h"
#include "tessera/collab/match_token.h"
#include "tessera/privacy/pseudonymizer.h"

namespace tessera::ingest {

namespace {

using internal::kNone;

// How far ahead the loader prefetches hash-table slots: enough rows to cover a memory access.
constexpr size_t kPrefetchRows = 16;
// Going through the temporary files is faster than one large hash table of raw order ids
// (measured at 10M orders: 26.5 s instead of 32.4 s, 0.5 GB instead of 4 GB), so only small
// loads stay in memory.
constexpr uint64_t kDefaultMemoryBudget = uint64_t{256} << 20;

privacy::PhoneDefaults PhoneDefaultsOf(const io::Mapping& mapping) {
  return privacy::PhoneDefaults{mapping.default_phone_country,
                                mapping.bare_phone_numbers_international};
}

// A load: rows read (row_pipeline.h), their customers given slots (customer_slots.h) and their
// e-mails and phones noted for match tokens (match_tokens.h), grouped into orders in memory
// (memory_orders.h) or, past the memory budget, through temporary files (spilled_orders.h),
// then written in batches (order_writer.h); rejects in reject_log.h.
class Loader {
 public:
  Loader(store::Store& store, const LoadOptions& options, privacy::Pseudonymizer pseudonymizer,
         collab::MatchTokenKey match_key, const privacy::OwnerKey& key,
         std::vector<std::string> files)
      : store_(store),
        options_(options),
        key_(key),
        budget_(options.memory_budget == 0 ? kDefaultMemoryBudget : options.memory_budget),
        rejects_(options, summary_),
        customers_(std::move(pseudonymizer), PhoneDefaultsOf(options.mapping)),
        match_tokens_(std::move(match_key), PhoneDefaultsOf(options.mapping)),
        writer_(store, options, summary_, dicts_, customers_, match_tokens_) {
    rejects_.SetFiles(std::move(files));
    summary_.mapping = options.mapping.name;
    summary_.mapping_detected = options.mapping_detected;
  }

  Status ReadStoreState() { return writer_.ReadStoreState(); }

  Status ReadFile(const std::string& path) {
    auto opened = io::OrderReader::Open(path, options_.mapping);
    if (!opened.ok()) {
      io::Reject named;
      named.file = path;
      return internal::OpenInputError(opened.status(), rejects_.Label(named).file);
    }
    std::unique_ptr<io::OrderReader> reader = std::move(*opened);
    const auto file_index = static_cast<uint32_t>(summary_.files);
    // How a line of another currency than its order's is rejected, should a spilled load find
    // one when it puts the order's runs together.
    late_rejects_.push_back(internal::LateRejects{
        rejects_.Label(
            reader->MakeFieldReject(0, io::Field::kCurrency, "mixed_currency", kMixedCurrency)),
        rejects_.Label(
            reader->MakeFieldReject(0, CustomerField(*reader), "conflicting_line", kOtherCustomer)),
        rejects_.Label(
            reader->MakeFieldReject(0, io::Field::kOrderedAt, "conflicting_line", kOtherDay))});
    ++summary_.files;
    struct stat st {};
    const uint64_t total = (path != "-" && ::stat(path.c_str(), &st) == 0) ? st.st_size : 0;
    const bool line_level = reader->level() == io::RowLevel::kLine;
    const bool synthesize_ids = !reader->has_order_id();
    std::unordered_map<uint64_t, uint32_t> occurrences;  // content hash -> count, per file
    std::string key;
    // Parsing and validating rows (one thread) overlaps with grouping them into orders
    // (this thread); rows arrive in file order, so results do not depend on timing.
    internal::RowPipeline pipeline(*reader);
    const auto fail = [&pipeline](Status status) {
      pipeline.Stop();
      return status;
    };
    internal::RowBatch* batch = nullptr;
    size_t at = 0;
    for (;;) {
      if (batch == nullptr || at == batch->rows.size()) {
        batch = pipeline.Next();
        at = 0;
        if (batch == nullptr) break;
        if (!spilled_ && memory_.MemoryBytes() > budget_) {
          if (Status started = StartSpilling(); !started.ok()) return fail(std::move(started));
        }
        continue;
      }
      // The order index is probed once per order, at a random place: fetch the slot of an
      // order some rows ahead so that the probe does not wait for memory.
      // Likewise the customer's slot, probed once per order too (2.6M customers at size M).
      if (at + kPrefetchRows < batch->rows.size()) {
        const internal::ParsedRow& ahead = batch->rows[at + kPrefetchRows];
        if (ahead.result == io::OrderReader::Result::kLine) {
          const auto field = [&](size_t i) {
            return std::string_view(batch->arena.data() + ahead.offset[i], ahead.length[i]);
          };
          if (!synthesize_ids && !spilled_) memory_.Prefetch(field(0));
          customers_.Prefetch(field(1), field(2), field(9));
        }
      }
      internal::ParsedRow& parsed = batch->rows[at++];
      const auto result = parsed.result;
      io::OrderLine& line = parsed.line;
      if (result == io::OrderReader::Result::kLine) batch->Bind(&parsed);
      const bool adjustment = result == io::OrderReader::Result::kLine && line.order_adjustment;
      if (!adjustment) ++summary_.rows_read;
      if (options_.on_progress && (summary_.rows_read & 0xffff) == 0) {
        options_.on_progress(
            LoadProgress{path, batch->bytes_read, total, summary_.rows_read, 0, false});
      }
      if (result == io::OrderReader::Result::kSkip) {
        ++summary_.rows_ignored;
        continue;
      }
      if (result == io::OrderReader::Result::kReadError) {
        // The input broke off (a truncated gzip, a failing disk): the rows read so far are
        // only part of it, so nothing is written (loads write after reading everything).
        return fail(
            internal::DamagedInputError(rejects_.Label(parsed.reject).file, parsed.reject.reason));
      }
      if (result == io::OrderReader::Result::kReject) {
        if (Status limit = rejects_.Add(parsed.reject); !limit.ok()) return fail(std::move(limit));
        continue;
      }
      if (line.customer_id.empty() && line.email.empty() && line.phone.empty() && !adjustment) {
        ++summary_.rows_without_customer;
      }
      if (synthesize_ids) {
        key = fmt::format("row-{:016x}-{}", line.content_hash, occurrences[line.content_hash]++);
      } else {
        key.assign(line.order_id);
      }
      // Every row's customer identifier is validated; the first row of an order decides
      // the order's customer, time and kind.
      auto customer = customers_.Slot(line, *reader, rejects_);
      if (!customer.ok()) {
        if (customer.status().code() == StatusCode::kResourceExhausted) {
          return fail(customer.status());
        }
        continue;
      }
      if (options_.match_tokens && *customer != kNone) {
        match_tokens_.Note(*customer, line.email, line.phone);
      }
      Status added = spilled_ ? spilled_->Add(line, key, *customer, line_level, file_index, dicts_)
                              : AddInMemory(line, key, *customer, line_level, *reader);
      if (!added.ok()) return fail(std::move(added));
    }
    if (options_.on_progress) {
      options_.on_progress(
          LoadProgress{path, reader->bytes_read(), total, summary_.rows_read, 0, false});
    }
    return spilled_ ? spilled_->EndRun() : OkStatus();  // runs do not span files
  }

  // Encrypts the order ids of a load in memory (a spilled load did as it read).
  Status EncryptTokens() { return spilled_ ? OkStatus() : memory_.EncryptTokens(key_); }

  Status Write() {
    summary_.customers_in_input = customers_.size();
    const Status written = spilled_ ? WriteSpilled() : WriteInMemory();
    summary_.match_identifiers_invalid = match_tokens_.invalid();
    summary_.seconds_match_tokens = match_tokens_.seconds();
    return written;
  }

  Status Finish() {
    TESSERA_RETURN_IF_ERROR(store_.AddLoadRejects(summary_.load_id, rejects_.kept()));
    return store_.FinishLoad(summary_.load_id, summary_.ToJson());
  }
  LoadSummary& summary() { return summary_; }

 private:
  static constexpr const char* kMixedCurrency =
      "the currency differs from that of the order's first line";
  static constexpr const char* kOtherCustomer =
      "the customer differs from that of the order's first line";
  static constexpr const char* kOtherDay = "the date differs from that of the order's first line";

  // The column that names the customer in `reader`'s file: the customer number, else the
  // e-mail, else the phone (the order in which they decide).
  static io::Field CustomerField(const io::OrderReader& reader) {
    for (io::Field f : {io::Field::kCustomerId, io::Field::kEmail, io::Field::kPhone}) {
      if (reader.has_field(f)) return f;
    }
    return io::Field::kCustomerId;
  }

  Status AddInMemory(const io::OrderLine& line, const std::string& key, uint32_t customer,
                     bool line_level, const io::OrderReader& reader) {
    using Added = internal::MemoryOrders::Added;
    switch (memory_.Add(line, key, customer, line_level, dicts_)) {
      case Added::kOrder:
      case Added::kLine:
        return OkStatus();
      case Added::kDuplicate:
        ++summary_.duplicate_rows;
        return OkStatus();
      case Added::kConflicting:
        ++summary_.conflicting_rows;
        return OkStatus();
      case Added::kMixedCurrency:
        return rejects_.Add(reader.MakeFieldReject(line.line, io::Field::kCurrency,
                                                   "mixed_currency", kMixedCurrency));
      case Added::kOtherCustomer:
        return rejects_.Add(reader.MakeFieldReject(line.line, CustomerField(reader),
                                                   "conflicting_line", kOtherCustomer));
      case Added::kOtherDay:
        return rejects_.Add(reader.MakeFieldReject(line.line, io::Field::kOrderedAt,
                                                   "conflicting_line", kOtherDay));
    }
    return OkStatus();
  }

  Status StartSpilling() {
    std::string dir = options_.temp_dir;
    if (dir.empty()) {
      const char* tmp = std::getenv("TMPDIR");
      dir = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
    }
    TESSERA_ASSIGN_OR_RETURN(spilled_, internal::SpilledOrders::Start(dir, key_, memory_));
    return OkStatus();
  }

  Status WriteInMemory() {
    summary_.orders_in_input = memory_.pending().orders.size();
    TESSERA_RETURN_IF_ERROR(writer_.Begin());
    return writer_.End(writer_.Write(memory_.pending(), /*unique=*/false));
  }

  // Lines at odds with their order found only now (another currency, customer or day) count
  // towards max_rejects: when that limit is set, a first pass counts them, so that a load over
  // the limit still writes nothing.
  Status WriteSpilled() {
    TESSERA_ASSIGN_OR_RETURN(summary_.spilled_bytes, spilled_->Flush());
    if (options_.max_rejects != UINT64_MAX) {
      TESSERA_ASSIGN_OR_RETURN(
          const uint64_t mixed,
          spilled_->CountLateRejects(options_.max_rejects - summary_.rows_rejected));
      TESSERA_RETURN_IF_ERROR(rejects_.CheckLimit(summary_.rows_rejected + mixed));
    }
    TESSERA_RETURN_IF_ERROR(writer_.Begin());
    return writer_.End(
        spilled_->ForEachGroup(late_rejects_, [this](internal::SpilledOrders::Group& g) {
          summary_.duplicate_rows += g.duplicate_rows;
          summary_.conflicting_rows += g.conflicting_rows;
          for (const io::Reject& reject : g.rejects) {
            TESSERA_RETURN_IF_ERROR(rejects_.AddLabelled(reject));
          }
          summary_.orders_in_input += g.pending.orders.size();
          return writer_.Write(g.pending, /*unique=*/true);
        }));
  }

  store::Store& store_;
  const LoadOptions& options_;
  const privacy::OwnerKey& key_;
  const uint64_t budget_;
  LoadSummary summary_;
  internal::RejectLog rejects_;
  internal::Dictionaries dicts_;
  internal::CustomerSlots customers_;
  internal::MatchTokens match_tokens_;
  internal::OrderWriter writer_;
  internal::MemoryOrders memory_;
  std::unique_ptr<internal::SpilledOrders> spilled_;  // once over the memory budget
  std::vector<internal::LateRejects> late_rejects_;   // by file, line 0
};

}  // namespace

namespace {

// User and system CPU seconds of the process so far, all threads.
double ProcessCpuSeconds() {
  struct rusage usage {};
  if (::getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

}  // namespace

StatusOr<LoadSummary> LoadOrders(store::Store& store, const privacy::OwnerKey& key,
                                 const std::vector<std::string>& files,
                                 const LoadOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  TESSERA_ASSIGN_OR_RETURN(auto lock, store.LockForWriting());
  TESSERA_RETURN_IF_ERROR(store.BindKey(key.Fingerprint()));
  TESSERA_ASSIGN_OR_RETURN(auto pseudonymizer, privacy::Pseudonymizer::Create(key));
  TESSERA_ASSIGN_OR_RETURN(auto match_key, collab::MatchTokenKey::Create(key));
  auto loader = std::make_unique<Loader>(store, options, std::move(pseudonymizer),
                                         std::move(match_key), key, files);
  // Each phase's wall and CPU seconds.
  auto lap = [last = start, last_cpu = ProcessCpuSeconds()](double* wall, double* cpu) mutable {
    const auto now = std::chrono::steady_clock::now();
    const double now_cpu = ProcessCpuSeconds();
    *wall = std::chrono::duration<double>(now - last).count();
    *cpu = now_cpu - last_cpu;
    last = now;
    last_cpu = now_cpu;
  };
  LoadSummary& summary = loader->summary();
  TESSERA_RETURN_IF_ERROR(loader->ReadStoreState());
  lap(&summary.seconds_store_state, &summary.cpu_store_state);
  for (const auto& file : files) TESSERA_RETURN_IF_ERROR(loader->ReadFile(file));
  lap(&summary.seconds_read, &summary.cpu_read);
  TESSERA_RETURN_IF_ERROR(loader->EncryptTokens());
  lap(&summary.seconds_encrypt, &summary.cpu_encrypt);
  TESSERA_RETURN_IF_ERROR(loader->Write());
  lap(&summary.seconds_write, &summary.cpu_write);
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  TESSERA_RETURN_IF_ERROR(loader->Finish());
  return loader->summary();
}

}  // namespace tessera::ingest
