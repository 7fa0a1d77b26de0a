// The upload path of `tessera serve` (POST /api/v1/ingest, src/server/loads_routes.cc) and of
// `tessera ingest -` : a body arriving in pieces of any size is staged to a private file and
// loaded into the store. Any bytes, cut anywhere, with any preset, must give a load summary or
// an error, never a crash; and the store changes by exactly what the summary says it stored —
// a failed load leaves it as it was (nothing half-written).
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include "tessera/ingest/loader.h"
#include "tessera/ingest/staged_file.h"
#include "tessera/io/mapping.h"
#include "tessera/privacy/owner_key.h"
#include "tessera/store/store.h"

namespace {

using namespace tessera;

// One store for the whole run: uploads accumulate as a server's do (orders already stored are
// skipped by later loads, which is a path to exercise too).
store::Store& TheStore() {
  static std::unique_ptr<store::Store> store = [] {
    const std::string dir = std::filesystem::temp_directory_path() /
                            ("tessera-upload-fuzzer-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    static const std::string remove_at_exit = dir;
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(remove_at_exit, ec);
    });
    auto s = store::Store::Open(dir + "/store.db", /*create=*/true);
    if (!s.ok()) std::abort();
    return std::move(*s);
  }();
  return *store;
}

const privacy::OwnerKey& TheKey() {
  static const privacy::OwnerKey key = [] {
    uint8_t bytes[privacy::OwnerKey::kSize];
    for (size_t i = 0; i < sizeof bytes; ++i) bytes[i] = static_cast<uint8_t>(i * 7 + 1);
    return privacy::OwnerKey::FromBytes(bytes);
  }();
  return key;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  // First byte: the preset (bits 0-2), whether the load spills to temporary files (bit 3) and
  // the orders per batch (bits 4-7); second: the size of the pieces the body arrives in.
  static constexpr const char* kPresets[] = {"generic", "online-retail", "cdnow",     "subscribers",
                                             "shopify", "woocommerce",   "shopware6", "magento2"};
  const uint8_t knobs = data[0];
  const size_t piece = 1 + data[1] % 61;
  const std::string_view body(reinterpret_cast<const char*>(data + 2), size - 2);

  auto mapping = io::LoadMapping(kPresets[knobs & 7]);
  if (!mapping.ok()) std::abort();
  auto staged = ingest::StagedFile::Create("", /*max_bytes=*/1 << 20);
  if (!staged.ok()) std::abort();
  for (size_t at = 0; at < body.size(); at += piece) {
    if (!staged->Append(body.substr(at, piece)).ok()) std::abort();
  }
  if (Status finished = staged->Finish(); !finished.ok()) {
    if (!body.empty()) std::abort();  // only an empty body may be refused here
    return 0;
  }

  store::Store& store = TheStore();
  auto before = store.Stats();
  if (!before.ok()) std::abort();
  ingest::LoadOptions options;
  options.mapping = std::move(*mapping);
  options.batch_orders = 1 + (knobs >> 4);   // many small batches
  if (knobs & 8) options.memory_budget = 1;  // every order through the spill files
  uint64_t rejects = 0;
  options.on_reject = [&](const io::Reject& r) {
    ++rejects;
    if (r.reason.empty() || r.line == 0) std::abort();  // every reject says where and why
  };
  auto summary = staged->Load(store, TheKey(), "upload.csv", std::move(options));
  auto after = store.Stats();
  if (!after.ok()) std::abort();
  if (!summary.ok()) {
    if (after->orders != before->orders || after->customers != before->customers) std::abort();
    return 0;
  }
  if (summary->rows_rejected != rejects) std::abort();
  if (after->orders != before->orders + summary->orders_stored) std::abort();
  if (summary->orders_stored > summary->orders_in_input) std::abort();
  return 0;
}
