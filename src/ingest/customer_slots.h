#pragma once

// The customers of a load: each distinct identifier pseudonymized once, on first sight, and
// given a load-local slot; two spellings of one customer ("17850.0" and "17850", "A@x.de " and
// "a@x.de", "030 123456" and "+4930123456") share a slot through their pseudonym. Internal to the
// ingest module; not thread-safe.
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
  CustomerSlots(privacy::Pseudonymizer pseudonymizer, privacy::PhoneDefaults phone)
      : pseudonymizer_(std::move(pseudonymizer)), phone_(std::move(phone)) {}

  // Fetches the slot of a row some rows ahead so that Slot() does not wait for memory.
  void Prefetch(std::string_view customer_id, std::string_view email,
                std::string_view phone) const {
    if (!customer_id.empty()) {
      slots_[0].Prefetch(customer_id);
    } else if (!email.empty()) {
      slots_[1].Prefetch(email);
    } else if (!phone.empty()) {
      slots_[2].Prefetch(phone);
    }
  }

  // The slot of the row's customer, kNone for an anonymous row. The customer number decides;
  // without one the e-mail, without both the phone (docs/ingest.md). Errors: kInvalidArgument
  // after recording a reject for an identifier that does not normalize; those of
  // RejectLog::Add.
  StatusOr<uint32_t> Slot(const io::OrderLine& line, const io::OrderReader& reader,
                          RejectLog& rejects) {
    return Slot(line.customer_id, line.email, line.phone, rejects,
                [&](io::Field field, const char* code, std::string reason) {
                  return reader.MakeFieldReject(line.line, field, code, std::move(reason));
                });
  }

  // The same for a row of any kind (a person of a people file): `make_reject(field, code,
  // reason)` makes the io::Reject of an identifier that does not normalize.
  template <typename MakeReject>
  StatusOr<uint32_t> Slot(std::string_view customer_id, std::string_view email,
                          std::string_view phone, RejectLog& rejects,
                          const MakeReject& make_reject) {
    privacy::IdentifierKind kind = privacy::IdentifierKind::kCustomerNumber;
    std::string_view raw = customer_id;
    if (raw.empty()) {
      kind = privacy::IdentifierKind::kEmail;
      raw = email;
    }
    if (raw.empty()) {
      kind = privacy::IdentifierKind::kPhone;
      raw = phone;
    }
    if (raw.empty()) return kNone;
    if (last_slot_ != kNone && kind == last_kind_ && raw == last_raw_) return last_slot_;
    FlatStringMap& cache = slots_[static_cast<size_t>(kind)];
    if (const uint32_t slot = cache.Find(raw); slot != FlatStringMap::kMissing) {
      return Remember(raw, kind, slot);
    }
    auto normalized = privacy::NormalizeIdentifier(kind, raw, phone_);
    if (!normalized.ok()) {
      static constexpr struct {
        io::Field field;
        const char* code;
      } kRejects[] = {{io::Field::kCustomerId, "bad_customer_id"},
                      {io::Field::kEmail, "bad_email"},
                      {io::Field::kPhone, "bad_phone"}};
      const auto& r = kRejects[static_cast<size_t>(kind)];
      TESSERA_RETURN_IF_ERROR(
          rejects.Add(make_reject(r.field, r.code, normalized.status().message())));
      return InvalidArgumentError("rejected");
    }
    const privacy::Uuid uuid = pseudonymizer_.Pseudonym(kind, *normalized);
    const auto [slot, inserted] =
        slot_by_uuid_.Insert(uuid, static_cast<uint32_t>(customers_.size()));
    if (inserted) customers_.push_back(LoadCustomer{uuid, kNone});
    cache.Insert(raw, slot);
    return Remember(raw, kind, slot);
  }

  size_t size() const { return customers_.size(); }
  LoadCustomer& operator[](uint32_t slot) { return customers_[slot]; }
  void PrefetchCustomer(uint32_t slot) const {
    if (slot != kNone) __builtin_prefetch(&customers_[slot]);
  }

 private:
  uint32_t Remember(std::string_view raw, privacy::IdentifierKind kind, uint32_t slot) {
    last_raw_.assign(raw);
    last_kind_ = kind;
    return last_slot_ = slot;
  }

  privacy::Pseudonymizer pseudonymizer_;
  const privacy::PhoneDefaults phone_;
  FlatStringMap slots_[3];  // by IdentifierKind: raw identifier -> slot
  FlatUuidMap slot_by_uuid_;
  std::vector<LoadCustomer> customers_;  // by slot
  // Consecutive rows mostly name the same customer.
  std::string last_raw_;
  uint32_t last_slot_ = kNone;
  privacy::IdentifierKind last_kind_ = privacy::IdentifierKind::kCustomerNumber;
};

}  // namespace tessera::ingest::internal
