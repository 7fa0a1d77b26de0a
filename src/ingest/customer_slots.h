#pragma once

// The customers of a load: each distinct identifier pseudonymized once, on first sight, and
// given a load-local slot; two spellings of one customer ("17850.0" and "17850", "A@x.de " and
// "a@x.de") share a slot through their pseudonym. Internal to the ingest module; not
// thread-safe.
//
// Privacy: the maps are keyed by raw identifiers and live in memory for the duration of the
// load only; nothing here is written anywhere.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ingest/flat_string_map.h"
#include "ingest/flat_uuid_map.h"
#include "ingest/load_tables.h"
#include "ingest/reject_log.h"
#include "tessera/io/order_reader.h"
#include "tessera/privacy/pseudonymizer.h"

namespace tessera::ingest::internal {

struct LoadCustomer {
  privacy::Uuid uuid;
  uint32_t global = kNone;  // the store's index, once an order of the customer is written
};

class CustomerSlots {
 public:
  explicit CustomerSlots(privacy::Pseudonymizer pseudonymizer)
      : pseudonymizer_(std::move(pseudonymizer)) {}

  // Fetches the slot of a row some rows ahead so that Slot() does not wait for memory.
  void Prefetch(std::string_view customer_id, std::string_view email) const {
    if (!customer_id.empty()) {
      number_slots_.Prefetch(customer_id);
    } else if (!email.empty()) {
      email_slots_.Prefetch(email);
    }
  }

  // The slot of the row's customer (its customer number, else its e-mail), kNone for an
  // anonymous row. Errors: kInvalidArgument after recording a reject for an identifier that
  // does not normalize; those of RejectLog::Add.
  StatusOr<uint32_t> Slot(const io::OrderLine& line, const io::OrderReader& reader,
                          RejectLog& rejects) {
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
    if (last_slot_ != kNone && is_email == last_is_email_ && raw == last_raw_) return last_slot_;
    auto& cache = is_email ? email_slots_ : number_slots_;
    if (const uint32_t slot = cache.Find(raw); slot != FlatStringMap::kMissing) {
      return Remember(raw, is_email, slot);
    }
    auto normalized = privacy::NormalizeIdentifier(kind, raw);
    if (!normalized.ok()) {
      TESSERA_RETURN_IF_ERROR(rejects.Add(
          reader.MakeFieldReject(line.line, field, is_email ? "bad_email" : "bad_customer_id",
                                 normalized.status().message())));
      return InvalidArgumentError("rejected");
    }
    const privacy::Uuid uuid = pseudonymizer_.Pseudonym(kind, *normalized);
    const auto [slot, inserted] =
        slot_by_uuid_.Insert(uuid, static_cast<uint32_t>(customers_.size()));
    if (inserted) customers_.push_back(LoadCustomer{uuid, kNone});
    cache.Insert(raw, slot);
    return Remember(raw, is_email, slot);
  }

  size_t size() const { return customers_.size(); }
  LoadCustomer& operator[](uint32_t slot) { return customers_[slot]; }
  void PrefetchCustomer(uint32_t slot) const {
    if (slot != kNone) __builtin_prefetch(&customers_[slot]);
  }

 private:
  uint32_t Remember(std::string_view raw, bool is_email, uint32_t slot) {
    last_raw_.assign(raw);
    last_is_email_ = is_email;
    return last_slot_ = slot;
  }

  privacy::Pseudonymizer pseudonymizer_;
  FlatStringMap number_slots_, email_slots_;  // raw identifier -> slot
  FlatUuidMap slot_by_uuid_;
  std::vector<LoadCustomer> customers_;  // by slot
  // Consecutive rows mostly name the same customer.
  std::string last_raw_;
  uint32_t last_slot_ = kNone;
  bool last_is_email_ = false;
};

}  // namespace tessera::ingest::internal
