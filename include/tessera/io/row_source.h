#pragma once

// Reading tabular order exports: CSV (RFC 4180 and its common variants) and JSON Lines,
// from a file, a gzip file or stdin. A RowSource yields rows as fields in the order of the
// columns the caller selected, so the mapping layer never cares which format it reads.
//
// Privacy: fields may hold personal data. A RowSource keeps them only in its own buffer
// until the next call to Next(); errors it reports carry positions and reasons, never a
// field's value.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/common/status.h"

namespace tessera::io {

enum class InputFormat { kAuto, kCsv, kJsonLines };

struct CsvOptions {
  // 0 = detect from the header line (',', ';', '\t' or '|', whichever splits it into most
  // fields consistently).
  char delimiter = 0;
  // Fields separated by runs of spaces/tabs, leading and trailing blanks ignored, no quoting
  // (the CDNOW layout). Overrides `delimiter`.
  bool whitespace_separated = false;
  // When false, columns are named "1", "2", ... by position.
  bool has_header = true;
  // A field (or quoted field spanning lines) longer than this rejects its row.
  size_t max_field_bytes = 1 << 20;
};

struct SourceOptions {
  InputFormat format = InputFormat::kAuto;  // kAuto: ".jsonl"/".ndjson" (also before ".gz") or a
                                            // first non-blank byte '{' means JSON Lines
  CsvOptions csv;
};

// Why a row could not be read. The row is skipped; reading continues with the next one.
struct RowError {
  uint64_t line = 0;        // 1-based physical line where the row starts
  uint32_t column = 0;      // 1-based column position in the file (CSV), 0 when unknown
  std::string column_name;  // header name (CSV) or JSON key, empty when unknown
  std::string reason;       // e.g. "unterminated quoted field", never the field's value
  // A short stable key for summaries: "unterminated_quote", "wrong_field_count",
  // "field_too_long", "row_too_long", "invalid_utf8", "invalid_json", "nested_value",
  // "not_an_object", kReadError.
  std::string code = "malformed_row";
};

// The code of a RowError that ends the input early: it could not be read to its end (a
// truncated gzip file, a failing disk), so the rows read are only part of it.
inline constexpr std::string_view kReadError = "read_error";

struct Row {
  uint64_t line = 0;  // 1-based physical line where the row starts
  // One entry per selected column: the field's bytes with quotes removed and "" unescaped.
  // An absent JSON key or null gives an empty field and present[i] == false.
  std::vector<std::string_view> fields;
  std::vector<bool> present;
};

class RowSource {
 public:
  virtual ~RowSource() = default;
  RowSource(const RowSource&) = delete;
  RowSource& operator=(const RowSource&) = delete;

  // Opens `path` ("-" = stdin). gzip input is detected by its magic bytes, not its name.
  // Reads the header (CSV) or peeks at the first object (JSON Lines).
  // Errors: kNotFound / kPermissionDenied (cannot open), kInvalidArgument (empty file: no
  // header; not valid UTF-8 header; first JSON line not an object), kDataLoss (the input
  // cannot be read: corrupt gzip data, I/O error).
  static StatusOr<std::unique_ptr<RowSource>> Open(const std::string& path,
                                                   const SourceOptions& options);

  // Column names found: the CSV header (BOM and surrounding blanks removed), "1".."N" without a
  // header, or the keys of the first JSON object in order.
  virtual const std::vector<std::string>& columns() const = 0;

  // Chooses which columns Next() returns, by name, matched case-insensitively.
  // Errors: kInvalidArgument naming the missing column(s) and listing the columns found (CSV);
  // JSON Lines accepts any key name, since later objects may have keys the first lacks.
  virtual Status Select(const std::vector<std::string>& names) = 0;

  // 1-based position of the selected column `i` in the file (CSV), 0 for JSON Lines.
  virtual uint32_t ColumnPosition(size_t i) const = 0;

  // Reads the next row. Returns false at the end of input. A row that cannot be read
  // (unterminated quote, wrong field count, field too long, invalid UTF-8 in a selected
  // field, invalid JSON, a JSON value that is an object or array) is reported through
  // `*error` with `*ok = false` and skipped; the caller calls Next() again.
  // The returned views stay valid until the next call.
  virtual bool Next(Row* row, RowError* error, bool* ok) = 0;

  // The field delimiter in use, configured or detected: ',', ';', '\t' or '|'; ' ' for
  // whitespace-separated files; 0 for JSON Lines. Picks the decimal mark when a mapping
  // leaves it open (';' files write decimal commas).
  virtual char delimiter() const { return ','; }

  // Bytes consumed from the underlying file so far (compressed bytes for gzip), for progress.
  // Counts whole blocks as they are read (up to 1 MiB ahead of the rows returned). When the
  // input is a pipe (stdin), whose offset cannot be queried, counts uncompressed bytes.
  virtual uint64_t bytes_read() const = 0;

 protected:
  RowSource() = default;
};

}  // namespace tessera::io
