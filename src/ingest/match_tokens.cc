#include "ingest/match_tokens.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>

namespace tessera::ingest::internal {
namespace {

// The stored kind byte is the byte the token hashes (collab::MatchKind).
static_assert(static_cast<uint8_t>(collab::MatchKind::kEmail) ==
              privacy::IdentifierKindByte(privacy::IdentifierKind::kEmail));
static_assert(static_cast<uint8_t>(collab::MatchKind::kPhone) ==
              privacy::IdentifierKindByte(privacy::IdentifierKind::kPhone));

// Identifiers a thread takes at a time: ~4 ms of work, so that threads finish together.
constexpr size_t kChunk = 64;

}  // namespace

void MatchTokens::Note(uint32_t slot, std::string_view email, std::string_view phone) {
  if (slot == last_slot_ && email == last_email_ && phone == last_phone_) return;
  last_slot_ = slot;
  last_email_.assign(email);
  last_phone_.assign(phone);
  if (first_link_.size() <= slot) first_link_.resize(slot + 1, kNone);
  if (!email.empty()) Attach(slot, Identify(privacy::IdentifierKind::kEmail, email));
  if (!phone.empty()) Attach(slot, Identify(privacy::IdentifierKind::kPhone, phone));
}

uint32_t MatchTokens::Identify(privacy::IdentifierKind kind, std::string_view raw) {
  FlatStringMap& by_raw = kind == privacy::IdentifierKind::kEmail ? raw_email_ : raw_phone_;
  if (const uint32_t known = by_raw.Find(raw); known != FlatStringMap::kMissing) return known;
  auto normalized = privacy::NormalizeIdentifier(kind, raw, phone_);
  uint32_t id = kInvalid;
  if (normalized.ok()) {
    // Keyed by kind and value: two spellings of one identifier share it, two kinds never do.
    normalized->insert(normalized->begin(), static_cast<char>(privacy::IdentifierKindByte(kind)));
    const auto [stored, key] =
        normalized_.Insert(*normalized, static_cast<uint32_t>(identifiers_.size()));
    if (stored == identifiers_.size()) {
      identifiers_.push_back(Identifier{key.substr(1), kind});
      tokens_.emplace_back();
      computed_flag_.push_back(0);
    }
    id = stored;
    std::fill(normalized->begin(), normalized->end(), '\0');
  } else if (normalized.status().code() != StatusCode::kNotFound) {
    ++invalid_;  // counted once per distinct raw value and load
  }
  by_raw.Insert(raw, id);
  return id;
}

void MatchTokens::Attach(uint32_t slot, uint32_t identifier) {
  if (identifier == kInvalid) return;
  for (uint32_t l = first_link_[slot]; l != kNone; l = links_[l].next) {
    if (links_[l].identifier == identifier) return;
  }
  links_.push_back(Link{identifier, first_link_[slot]});
  first_link_[slot] = static_cast<uint32_t>(links_.size() - 1);
}

Status MatchTokens::Append(std::span<const Request> requests, store::Batch* batch) {
  std::vector<uint32_t> missing;
  for (const Request& r : requests) {
    if (r.slot >= first_link_.size()) continue;
    for (uint32_t l = first_link_[r.slot]; l != kNone; l = links_[l].next) {
      const uint32_t id = links_[l].identifier;
      if (computed_flag_[id] == 0 && (r.kinds & KindBit(identifiers_[id].kind))) {
        computed_flag_[id] = 2;  // asked for: listed once
        missing.push_back(id);
      }
    }
  }
  if (!missing.empty()) TESSERA_RETURN_IF_ERROR(Compute(missing));
  for (const Request& r : requests) {
    if (r.slot >= first_link_.size()) continue;
    for (uint32_t l = first_link_[r.slot]; l != kNone; l = links_[l].next) {
      const Identifier& id = identifiers_[links_[l].identifier];
      if (r.kinds & KindBit(id.kind)) {
        batch->new_match_tokens.push_back(
            store::MatchToken{r.customer, id.kind, tokens_[links_[l].identifier]});
      }
    }
  }
  return OkStatus();
}

// A token costs a hash to the group and a scalar multiplication (~60 µs): many are computed on
// all cores, a few on this thread.
Status MatchTokens::Compute(std::span<const uint32_t> identifiers) {
  const auto start = std::chrono::steady_clock::now();
  std::atomic<size_t> next = 0;
  std::mutex failure_mutex;
  Status failure;  // guarded by failure_mutex
  const auto work = [&] {
    for (;;) {
      const size_t begin = next.fetch_add(kChunk);
      if (begin >= identifiers.size()) return;
      const size_t end = std::min(identifiers.size(), begin + kChunk);
      for (size_t i = begin; i < end; ++i) {
        const uint32_t id = identifiers[i];
        const Identifier& identifier = identifiers_[id];
        auto token =
            key_.Token(static_cast<collab::MatchKind>(privacy::IdentifierKindByte(identifier.kind)),
                       identifier.normalized);
        if (!token.ok()) {
          std::lock_guard lock(failure_mutex);
          if (failure.ok()) failure = token.status();
          continue;
        }
        std::memcpy(tokens_[id].data(), token->bytes().data(), store::kMatchTokenSize);
      }
    }
  };
  const size_t threads = std::min<size_t>(std::max(1u, std::thread::hardware_concurrency()),
                                          (identifiers.size() + kChunk - 1) / kChunk);
  std::vector<std::thread> helpers;
  for (size_t t = 1; t < threads; ++t) helpers.emplace_back(work);
  work();
  for (std::thread& t : helpers) t.join();
  TESSERA_RETURN_IF_ERROR(failure);
  for (uint32_t id : identifiers) computed_flag_[id] = 1;
  computed_ += identifiers.size();
  seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return OkStatus();
}

}  // namespace tessera::ingest::internal
