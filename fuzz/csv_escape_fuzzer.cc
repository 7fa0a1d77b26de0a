// Every CSV that Tessera writes (segments, profiles, rejects, BI downloads, in either dialect)
// escapes its cells with CsvEscape or CsvTextCell (tessera/common/text.h). Any cells, written
// as one row under a header, must read back through Tessera's own CSV reader as exactly those
// cells (text cells: a formula's leading character kept behind one quote), whatever bytes
// they hold: separators, quotes, line breaks of any kind, a byte order mark.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "io/row_source_internal.h"
#include "tessera/common/text.h"
#include "tessera/io/row_source.h"

namespace {

bool StartsLikeFormula(std::string_view s) {
  return !s.empty() &&
         (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r');
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tessera;
  if (size < 1) return 0;
  // The first byte: the dialect, text cells or plain ones, the reader's block size.
  const uint8_t knobs = data[0];
  const CsvDialect dialect = (knobs & 1) ? kGermanCsv : kRfc4180Csv;
  const bool text_cells = (knobs & 2) != 0;
  static constexpr size_t kBlockSizes[] = {3, 8, 61, 1 << 16};
  const size_t block_size = kBlockSizes[(knobs >> 2) & 3];

  // The cells: the rest, split at NUL bytes; a last column "end" so that no row is blank.
  std::vector<std::string> cells;
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  for (size_t at = 0;;) {
    const size_t nul = rest.find('\0', at);
    cells.emplace_back(rest.substr(at, nul == std::string_view::npos ? nul : nul - at));
    if (nul == std::string_view::npos || cells.size() == 64) break;
    at = nul + 1;
  }
  cells.emplace_back("end");

  std::vector<std::string> names;
  std::vector<CsvColumn> columns;
  names.reserve(cells.size());
  for (size_t i = 0; i < cells.size(); ++i) names.push_back("c" + std::to_string(i));
  for (const auto& n : names) columns.push_back({n, n});
  std::string csv = CsvHeaderLine(columns, dialect);
  for (size_t i = 0; i < cells.size(); ++i) {
    if (i > 0) csv += dialect.separator;
    csv += text_cells ? CsvTextCell(cells[i], dialect) : CsvEscape(cells[i], dialect);
  }
  csv += "\r\n";

  const int fd = memfd_create("csv_escape_fuzzer", MFD_CLOEXEC);
  if (fd < 0) return 0;
  for (size_t written = 0; written < csv.size();) {
    const ssize_t n = write(fd, csv.data() + written, csv.size() - written);
    if (n <= 0) std::abort();
    written += static_cast<size_t>(n);
  }
  io::SourceOptions options;
  options.format = io::InputFormat::kCsv;
  options.csv.delimiter = dialect.separator;
  auto source =
      io::internal::OpenRowSource("/proc/self/fd/" + std::to_string(fd), options, block_size);
  if (!source.ok() || (*source)->columns() != names || !(*source)->Select(names).ok()) {
    std::abort();
  }
  io::Row row;
  io::RowError error;
  bool ok = false;
  if (!(*source)->Next(&row, &error, &ok)) std::abort();  // the row is there
  if (ok) {
    for (size_t i = 0; i < cells.size(); ++i) {
      const std::string expected =
          text_cells && StartsLikeFormula(cells[i]) ? "'" + cells[i] : cells[i];
      if (row.fields[i] != expected) std::abort();
    }
  } else if (error.code != "invalid_utf8") {
    std::abort();  // only bytes that are not UTF-8 may keep a written row from reading back
  }
  if ((*source)->Next(&row, &error, &ok)) std::abort();  // and it is the only row
  close(fd);
  return 0;
}
