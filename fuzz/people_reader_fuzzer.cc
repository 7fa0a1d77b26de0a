// libFuzzer target for files of people (`tessera ingest --kind people`): every input is read
// whole through the people preset (every column but the identifiers an attribute) and through
// the subscribers preset, as CSV and as JSON Lines. Checks the reader's invariants besides not
// crashing: a row has an identifier, one value per attribute, each value storable.

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tessera/io/mapping.h"
#include "tessera/io/people_reader.h"

namespace {

void ReadAll(const std::string& path, const tessera::io::Mapping& mapping) {
  auto reader = tessera::io::PeopleReader::Open(path, mapping);
  if (!reader.ok()) return;
  const size_t attributes = (*reader)->attribute_names().size();
  for (const std::string& name : (*reader)->attribute_names()) {
    if (!tessera::io::IsAttributeName(name)) std::abort();
  }
  tessera::io::PersonRow row;
  tessera::io::Reject reject;
  uint64_t last_line = 0;
  for (;;) {
    const auto result = (*reader)->Next(&row, &reject);
    if (result == tessera::io::PeopleReader::Result::kEnd) break;
    if (result != tessera::io::PeopleReader::Result::kPerson) {
      if (reject.reason.empty() || reject.reason_code.empty()) std::abort();
      continue;
    }
    if (row.line == 0 || row.line < last_line) std::abort();
    last_line = row.line;
    if (row.customer_id.empty() && row.email.empty() && row.phone.empty()) std::abort();
    if (row.attributes.size() != attributes) std::abort();
    for (std::string_view v : row.attributes) {
      const char* code = nullptr;
      if (tessera::io::AttributeValueProblem(v, &code) != nullptr) std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto people = tessera::io::LoadMapping("people");
  static const auto subscribers = tessera::io::LoadMapping("subscribers");
  if (!people.ok() || !subscribers.ok()) std::abort();
  const int fd = memfd_create("people_reader_fuzzer", MFD_CLOEXEC);
  if (fd < 0) return 0;
  size_t written = 0;
  while (written < size) {
    const ssize_t n = write(fd, data + written, size - written);
    if (n <= 0) break;
    written += static_cast<size_t>(n);
  }
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  for (const auto* preset : {&*people, &*subscribers}) {
    for (auto format : {tessera::io::InputFormat::kCsv, tessera::io::InputFormat::kJsonLines}) {
      tessera::io::Mapping m = *preset;
      m.source.format = format;
      ReadAll(path, m);
    }
  }
  close(fd);
  return 0;
}
