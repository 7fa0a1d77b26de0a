#include "tessera/ingest/people_loader.h"

#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "ingest/batch_writer.h"
#include "ingest/customer_slots.h"
#include "ingest/flat_string_map.h"
#include "ingest/match_tokens.h"
#include "ingest/reject_log.h"
#include "ingest/stored_customers.h"
#include "tessera/collab/match_token.h"
#include "tessera/common/text.h"
#include "tessera/io/people_reader.h"
#include "tessera/privacy/pseudonymizer.h"

namespace tessera::ingest {

namespace {

using internal::kNone;

privacy::PhoneDefaults PhoneDefaultsOf(const io::Mapping& mapping) {
  return privacy::PhoneDefaults{mapping.default_phone_country,
                                mapping.bare_phone_numbers_international};
}

// One attribute of a load: each person's value by load slot, as an id of AttributeValues.
struct LoadAttribute {
  std::string name;
  std::vector<uint32_t> by_slot;  // by customer slot: value id, 0 = none

  uint32_t Of(uint32_t slot) const { return slot < by_slot.size() ? by_slot[slot] : 0; }
  void Set(uint32_t slot, uint32_t id) {
    if (by_slot.size() <= slot) by_slot.resize(slot + 1, 0);
    by_slot[slot] = id;
  }
};

// The distinct values of all attributes of a load, each kept once (ids 1, 2, ...; 0 is none).
class AttributeValues {
 public:
  uint32_t Intern(uint32_t attribute, std::string_view value) {
    key_.assign(reinterpret_cast<const char*>(&attribute), sizeof(attribute));
    key_.append(value);
    const auto [id, view] = ids_.Insert(key_, static_cast<uint32_t>(text_.size()));
    if (id == text_.size()) text_.push_back(view.substr(sizeof(attribute)));
    return id;
  }
  std::string_view operator[](uint32_t id) const { return text_[id]; }

 private:
  internal::FlatStringMap ids_;             // attribute index bytes + value -> id
  std::vector<std::string_view> text_{""};  // by id: views into ids_'s keys
  std::string key_;
};

// A people load: rows read (io::PeopleReader), their customers given slots (customer_slots.h,
// the order loader's) and their e-mails and phones noted for match tokens (match_tokens.h), each
// person's attribute values kept by slot; then written in batches of people, each with its
// customers, tokens and attribute values (AttributeSink::write in Batch::commit_with).
class PeopleLoader {
 public:
  PeopleLoader(store::Store& store, const LoadOptions& options, const AttributeSink& sink,
               privacy::Pseudonymizer pseudonymizer, collab::MatchTokenKey match_key,
               std::vector<std::string> files)
      : store_(store),
        options_(options),
        sink_(sink),
        rejects_(options, &summary_.rows_rejected, &summary_.rejected_by_reason),
        customers_(std::move(pseudonymizer), PhoneDefaultsOf(options.mapping)),
        match_tokens_(std::move(match_key), PhoneDefaultsOf(options.mapping)) {
    rejects_.SetFiles(std::move(files));
  }

  Status ReadStoreState() { return stored_.Read(store_, options_.match_tokens); }

  Status ReadFile(const std::string& path) {
    io::Reject named;
    named.file = path;
    const std::string label = rejects_.Label(named).file;
    auto opened = io::PeopleReader::Open(path, options_.mapping);
    if (!opened.ok()) return internal::OpenInputError(opened.status(), label);
    std::unique_ptr<io::PeopleReader> reader = std::move(*opened);
    // The load's attribute of each of the file's attributes.
    std::vector<uint32_t> attribute;
    for (const std::string& name : reader->attribute_names()) {
      if (sink_.check_name) {
        TESSERA_RETURN_IF_ERROR(sink_.check_name(name).WithContext(label == "-" ? "stdin" : label));
      }
      attribute.push_back(AttributeOf(name));
    }
    ++summary_.files;
    struct stat st {};
    const uint64_t total = (path != "-" && ::stat(path.c_str(), &st) == 0) ? st.st_size : 0;
    io::PersonRow row;
    io::Reject reject;
    std::vector<uint32_t> ids(attribute.size());
    for (;;) {
      const auto result = reader->Next(&row, &reject);
      if (result == io::PeopleReader::Result::kEnd) break;
      ++summary_.rows_read;
      if (options_.on_progress && (summary_.rows_read & 0xffff) == 0) {
        options_.on_progress(
            LoadProgress{path, reader->bytes_read(), total, summary_.rows_read, 0, false});
      }
      if (result == io::PeopleReader::Result::kReadError) {
        // The input broke off: the rows read so far are only part of it, so nothing is written.
        return internal::DamagedInputError(rejects_.Label(reject).file, reject.reason);
      }
      if (result == io::PeopleReader::Result::kReject) {
        TESSERA_RETURN_IF_ERROR(rejects_.Add(reject));
        continue;
      }
      const size_t known = customers_.size();
      auto slot = customers_.Slot(row.customer_id, row.email, row.phone, rejects_,
                                  [&](io::Field field, const char* code, std::string reason) {
                                    return reader->MakeFieldReject(row.line, field, code,
                                                                   std::move(reason));
                                  });
      if (!slot.ok()) {
        if (slot.status().code() == StatusCode::kResourceExhausted) return slot.status();
        continue;
      }
      // A row has an identifier (the reader rejects one without), so it names a customer.
      // Its values first, all of them checked before any is kept: a row at odds with an
      // earlier row of the same person is rejected whole.
      bool conflict = false;
      for (size_t a = 0; a < attribute.size() && !conflict; ++a) {
        ids[a] = 0;
        if (row.attributes[a].empty()) continue;
        const LoadAttribute& at = attributes_[attribute[a]];
        const uint32_t earlier = at.Of(*slot);
        if (earlier != 0 && values_[earlier] != row.attributes[a]) {
          conflict = true;
          TESSERA_RETURN_IF_ERROR(rejects_.Add(reader->MakeAttributeReject(
              row.line, a, "conflicting_value",
              fmt::format("{}: an earlier row of the same person gives another value (the first "
                          "is kept)",
                          at.name))));
          break;
        }
        ids[a] = earlier != 0 ? earlier : values_.Intern(attribute[a], row.attributes[a]);
      }
      if (conflict) continue;
      for (size_t a = 0; a < attribute.size(); ++a) {
        if (ids[a] != 0) attributes_[attribute[a]].Set(*slot, ids[a]);
      }
      if (*slot < known) ++summary_.rows_repeating;
      if (options_.match_tokens) match_tokens_.Note(*slot, row.email, row.phone);
    }
    if (options_.on_progress) {
      options_.on_progress(
          LoadProgress{path, reader->bytes_read(), total, summary_.rows_read, 0, false});
    }
    return OkStatus();
  }

  // Gives each person its store index (a new one for a customer the store lacks) and writes
  // the people in batches, in the order first seen.
  Status Write() {
    summary_.people_in_input = customers_.size();
    for (const LoadAttribute& a : attributes_) summary_.attributes.push_back(a.name);
    TESSERA_ASSIGN_OR_RETURN(summary_.load_id, store_.BeginLoad());
    writer_.emplace([this](const store::Batch& b) { return Commit(b); });
    next_customer_ = stored_.next;
    StartBatch();
    Status status;
    const size_t per_batch = std::max<size_t>(1, options_.batch_orders);
    for (uint32_t slot = 0; slot < customers_.size() && status.ok(); ++slot) {
      internal::LoadCustomer& lc = customers_[slot];
      internal::KindSet kinds = internal::kMatchKinds;
      if (const uint32_t stored = stored_.index.Find(lc.uuid);
          stored != internal::FlatUuidMap::kMissing) {
        lc.global = stored;
        ++summary_.people_in_store;
        kinds &= static_cast<internal::KindSet>(~stored_.TokenKinds(stored));
      } else {
        lc.global = next_customer_++;
        batch_.new_customers.push_back(lc.uuid);
        ++summary_.people_new;
      }
      if (options_.match_tokens && kinds != 0) token_requests_.push_back({slot, lc.global, kinds});
      for (const LoadAttribute& a : attributes_) {
        if (const uint32_t id = a.Of(slot); id != 0) {
          batch_values_.push_back(ingest::PersonAttribute{lc.global, lc.uuid, a.name, values_[id]});
        }
      }
      if (++people_in_batch_ >= per_batch) status = Flush();
    }
    if (status.ok()) status = Flush();
    const Status committed = writer_->Finish();
    summary_.match_identifiers_invalid = match_tokens_.invalid();
    summary_.seconds_match_tokens = match_tokens_.seconds();
    for (const auto& changed : changed_) summary_.attribute_values_changed += *changed;
    TESSERA_RETURN_IF_ERROR(status);
    return committed;
  }

  Status Finish() {
    TESSERA_RETURN_IF_ERROR(store_.AddLoadRejects(summary_.load_id, rejects_.kept()));
    return store_.FinishLoad(summary_.load_id, summary_.ToJson());
  }

  PeopleLoadSummary& summary() { return summary_; }

 private:
  uint32_t AttributeOf(const std::string& name) {
    for (uint32_t i = 0; i < attributes_.size(); ++i) {
      if (attributes_[i].name == name) return i;
    }
    attributes_.emplace_back();
    attributes_.back().name = name;
    return static_cast<uint32_t>(attributes_.size() - 1);
  }

  void StartBatch() {
    batch_ = store::Batch();
    batch_.first_new_customer = next_customer_;
    people_in_batch_ = 0;
  }

  // Hands the batch, with its tokens and values, to the writing thread (which commits it while
  // this one gathers the next) and starts the next one.
  Status Flush() {
    if (!token_requests_.empty()) {
      // Computed here, on all cores, while the writing thread commits the previous batch.
      TESSERA_RETURN_IF_ERROR(match_tokens_.Append(token_requests_, &batch_));
      token_requests_.clear();
      summary_.match_tokens += batch_.new_match_tokens.size();
    }
    summary_.attribute_values += batch_values_.size();
    if (!sink_.write) batch_values_.clear();
    if (batch_.new_customers.empty() && batch_.new_match_tokens.empty() && batch_values_.empty()) {
      StartBatch();
      return OkStatus();
    }
    if (!batch_values_.empty()) {
      // Written by the writing thread, read here after BatchWriter::Finish; set (not added to)
      // by each run, so a retried batch counts once.
      changed_.push_back(std::make_unique<uint64_t>(0));
      batch_.commit_with = [this, values = std::move(batch_values_),
                            changed = changed_.back().get()](store::Database& db) -> Status {
        TESSERA_ASSIGN_OR_RETURN(*changed, sink_.write(db, values));
        return OkStatus();
      };
      batch_values_ = {};
    }
    const uint64_t people = people_in_batch_;
    TESSERA_RETURN_IF_ERROR(writer_->Submit(std::move(batch_)));
    written_ += people;
    if (options_.on_progress) {
      options_.on_progress(LoadProgress{"", 0, 0, summary_.rows_read, written_, true});
    }
    StartBatch();
    return OkStatus();
  }

  // On the writing thread: touches only the store and summary_.batches, which the gathering
  // thread reads only after BatchWriter::Finish.
  Status Commit(const store::Batch& batch) {
    // Test-only fault injection, as for orders (order_writer.h): TESSERA_TEST_KILL_AFTER_BATCHES=N
    // kills the process once N batches are committed, as a crash would
    // (tests/e2e/subscribers.sh).
    static const int64_t kill_after = [] {
      const char* v = std::getenv("TESSERA_TEST_KILL_AFTER_BATCHES");
      return v != nullptr && *v != '\0' ? std::atoll(v) : int64_t{-1};
    }();
    if (kill_after >= 0 && static_cast<int64_t>(summary_.batches) == kill_after) {
      ::raise(SIGKILL);
    }
    TESSERA_RETURN_IF_ERROR(store_.AppendBatch(summary_.load_id, batch));
    ++summary_.batches;
    return OkStatus();
  }

  store::Store& store_;
  const LoadOptions& options_;
  const AttributeSink& sink_;
  PeopleLoadSummary summary_;
  internal::RejectLog rejects_;
  internal::CustomerSlots customers_;
  internal::MatchTokens match_tokens_;
  internal::StoredCustomers stored_;
  std::vector<LoadAttribute> attributes_;
  AttributeValues values_;
  // Writing.
  std::optional<internal::BatchWriter> writer_;
  store::Batch batch_;
  uint32_t next_customer_ = 0;
  size_t people_in_batch_ = 0;
  uint64_t written_ = 0;
  std::vector<internal::MatchTokens::Request> token_requests_;  // the people of batch_
  std::vector<ingest::PersonAttribute> batch_values_;           // the people of batch_
  std::vector<std::unique_ptr<uint64_t>> changed_;              // by batch with values
};

}  // namespace

StatusOr<PeopleLoadSummary> LoadPeople(store::Store& store, const privacy::OwnerKey& key,
                                       const std::vector<std::string>& files,
                                       const LoadOptions& options, const AttributeSink& sink) {
  const auto start = std::chrono::steady_clock::now();
  TESSERA_ASSIGN_OR_RETURN(auto lock, store.LockForWriting());
  TESSERA_RETURN_IF_ERROR(store.BindKey(key.Fingerprint()));
  TESSERA_ASSIGN_OR_RETURN(auto pseudonymizer, privacy::Pseudonymizer::Create(key));
  TESSERA_ASSIGN_OR_RETURN(auto match_key, collab::MatchTokenKey::Create(key));
  auto loader = std::make_unique<PeopleLoader>(store, options, sink, std::move(pseudonymizer),
                                               std::move(match_key), files);
  TESSERA_RETURN_IF_ERROR(loader->ReadStoreState());
  for (const auto& file : files) TESSERA_RETURN_IF_ERROR(loader->ReadFile(file));
  TESSERA_RETURN_IF_ERROR(loader->Write());
  PeopleLoadSummary& summary = loader->summary();
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  TESSERA_RETURN_IF_ERROR(loader->Finish());
  return loader->summary();
}

std::string PeopleLoadSummary::ToJson() const {
  nlohmann::ordered_json j;
  j["kind"] = "people";
  j["files"] = files;
  j["rows_read"] = rows_read;
  j["rows_rejected"] = rows_rejected;
  j["rejected_by_reason"] = rejected_by_reason;
  j["rows_repeating"] = rows_repeating;
  j["people_in_input"] = people_in_input;
  j["people_new"] = people_new;
  j["people_in_store"] = people_in_store;
  j["attributes"] = attributes;
  j["attribute_values"] = attribute_values;
  j["attribute_values_changed"] = attribute_values_changed;
  j["match_tokens"] = match_tokens;
  j["match_identifiers_invalid"] = match_identifiers_invalid;
  j["batches"] = batches;
  j["load_id"] = load_id;
  j["seconds"] = seconds;
  j["seconds_by_phase"] = {{"match_tokens", seconds_match_tokens}};
  return j.dump();
}

std::string PeopleLoadSummary::ToText() const {
  std::string out;
  auto line = [&](std::string_view label, uint64_t value, std::string_view note = "") {
    out += fmt::format("  {:<28}{:>14}{}{}\n", label, WithThousands(value),
                       note.empty() ? "" : "  ", note);
  };
  line("files", files);
  line("rows read", rows_read);
  line("rows rejected", rows_rejected);
  for (const auto& [reason, n] : rejected_by_reason) line(fmt::format("  {}", reason), n);
  if (rows_repeating > 0) line("rows repeating a person", rows_repeating, "(merged)");
  line("people in input", people_in_input);
  line("new customers", people_new, "(no orders)");
  line("customers already stored", people_in_store);
  std::string names;
  for (const auto& a : attributes) names += (names.empty() ? "" : ", ") + a;
  out += fmt::format("  {:<28}{:>14}  {}\n", "attributes", WithThousands(attributes.size()),
                     names.empty() ? "(none)" : "(" + names + ")");
  line("attribute values", attribute_values);
  line("values new or changed", attribute_values_changed, "(the rest were stored already)");
  if (match_tokens > 0) line("match tokens", match_tokens, "(e-mails and phones, keyed)");
  if (match_identifiers_invalid > 0) {
    line("e-mails/phones left out", match_identifiers_invalid,
         "(do not normalize; not the customer's id; rows kept)");
  }
  out += fmt::format("  {:<28}{:>14.1f}\n", "seconds", seconds);
  return out;
}

}  // namespace tessera::ingest
