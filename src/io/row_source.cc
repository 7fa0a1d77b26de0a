#include "tessera/io/row_source.h"

#include <algorithm>
#include <cstring>
#include <string_view>

#include "io/csv_source.h"
#include "io/input_stream.h"
#include "io/jsonl_source.h"
#include "io/row_source_internal.h"
#include "io/text.h"

namespace tessera::io {
namespace internal {
namespace {

bool EndsWithIgnoreCase(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && EqualsIgnoreCase(s.substr(s.size() - suffix.size()), suffix);
}

bool HasJsonLinesName(std::string_view path) {
  if (EndsWithIgnoreCase(path, ".gz")) path.remove_suffix(3);
  return EndsWithIgnoreCase(path, ".jsonl") || EndsWithIgnoreCase(path, ".ndjson");
}

// Looks at the first non-blank byte of the first block. A file that starts with more than a
// block of blanks is taken for CSV, whose reader skips blank lines anyway.
bool StartsWithBrace(const InputBuffer& input) {
  const char* p = std::find_if(input.begin(), input.end(), [](char c) {
    return c != ' ' && c != '\t' && c != '\r' && c != '\n';
  });
  return p != input.end() && *p == '{';
}

}  // namespace

StatusOr<std::unique_ptr<RowSource>> OpenRowSource(const std::string& path,
                                                   const SourceOptions& options,
                                                   size_t block_size) {
  TESSERA_ASSIGN_OR_RETURN(std::unique_ptr<InputStream> stream, InputStream::Open(path));
  auto input = std::make_unique<InputBuffer>(std::move(stream), block_size);
  input->Fill();
  // Fill() only returns short at end of input, so a BOM is never split from its block.
  if (input->size() >= 3 && std::memcmp(input->begin(), "\xEF\xBB\xBF", 3) == 0) {
    input->Consume(3);
  }
  if (!input->status().ok()) return input->status();
  InputFormat format = options.format;
  if (format == InputFormat::kAuto) {
    format = (path != "-" && HasJsonLinesName(path)) || StartsWithBrace(*input)
                 ? InputFormat::kJsonLines
                 : InputFormat::kCsv;
  }
  if (format == InputFormat::kJsonLines) {
    return OpenJsonLinesSource(std::move(input), options.csv.max_field_bytes);
  }
  return OpenCsvSource(std::move(input), options.csv);
}

}  // namespace internal

StatusOr<std::unique_ptr<RowSource>> RowSource::Open(const std::string& path,
                                                     const SourceOptions& options) {
  return internal::OpenRowSource(path, options, internal::kDefaultBlockSize);
}

}  // namespace tessera::io
