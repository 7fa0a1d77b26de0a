// libFuzzer target for the CSV and JSON Lines readers: every input is read whole as CSV and as
// JSON Lines, with options and a read size taken from its first byte, so that tiny blocks make
// rows cross buffer refills. Checks the reader's invariants besides not crashing.

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "io/row_source_internal.h"
#include "tessera/io/row_source.h"

namespace {

using tessera::io::InputFormat;
using tessera::io::Row;
using tessera::io::RowError;
using tessera::io::RowSource;
using tessera::io::SourceOptions;

void ReadAll(const std::string& path, const SourceOptions& options, size_t block_size) {
  auto source = tessera::io::internal::OpenRowSource(path, options, block_size);
  if (!source.ok()) return;
  std::vector<std::string> names = (*source)->columns();
  // Select in reverse plus one name twice, to exercise repeated unescaping.
  std::reverse(names.begin(), names.end());
  if (!names.empty()) names.push_back(names.front());
  if (!(*source)->Select(names).ok()) std::abort();
  Row row;
  RowError error;
  bool ok = false;
  uint64_t last_line = 0;
  while ((*source)->Next(&row, &error, &ok)) {
    const uint64_t line = ok ? row.line : error.line;
    if (line == 0 || line < last_line) std::abort();  // lines only move forward
    last_line = line;
    if (ok) {
      if (row.fields.size() != names.size() || row.present.size() != names.size()) std::abort();
      for (std::string_view field : row.fields) {
        // Touch every byte so ASan sees a view that outlived its buffer.
        char sum = 0;
        for (char c : field) sum = static_cast<char>(sum ^ c);
        volatile char sink = sum;
        (void)sink;
      }
    } else if (error.reason.empty()) {
      std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t knobs = data[0];
  const int fd = memfd_create("row_source_fuzzer", MFD_CLOEXEC);
  if (fd < 0) return 0;
  size_t written = 0;
  while (written < size - 1) {
    const ssize_t n = write(fd, data + 1 + written, size - 1 - written);
    if (n <= 0) break;
    written += static_cast<size_t>(n);
  }
  const std::string path = "/proc/self/fd/" + std::to_string(fd);

  static constexpr char kDelimiters[] = {0, ',', ';', '\t'};
  static constexpr size_t kBlockSizes[] = {4, 7, 64, 1 << 20};
  SourceOptions options;
  options.csv.delimiter = kDelimiters[knobs & 3];
  options.csv.whitespace_separated = (knobs & 4) != 0;
  options.csv.has_header = (knobs & 8) == 0;
  options.csv.max_field_bytes = (knobs & 16) ? 8 : 1 << 20;
  const size_t block_size = kBlockSizes[(knobs >> 5) & 3];

  options.format = InputFormat::kCsv;
  ReadAll(path, options, block_size);
  options.format = InputFormat::kJsonLines;
  ReadAll(path, options, block_size);
  close(fd);
  return 0;
}
