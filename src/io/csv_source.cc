#include "io/csv_source.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "io/text.h"
#include "io/utf8.h"
#include "tessera/io/columns.h"

// Parsing model. The InputBuffer's window always starts at the first byte of the row being
// read. Scan() walks that row and records where each field lies; when the row runs past the
// bytes read so far it returns kNeedMore, the caller reads more (the buffer keeps the row's
// bytes) and the row is scanned again from its start. Rows crossing a 1 MiB block boundary
// are rare, so rescanning costs less than keeping a resumable state machine in the hot loop,
// and keeping the row's bytes is also what lets an unterminated quote be resynchronised.
//
// Fields are views into the buffer. A quoted field that needs unescaping ("" inside it, or
// text after its closing quote) is rewritten in place when its row is returned: unescaping
// only shrinks text, and the row is consumed by then, so no scratch copy is needed.
//
// Leniency choices, as in most readers: a quote inside an unquoted field is a literal
// character (ab"c is read as ab"c); text after a closing quote is kept literally ("ab"c is
// read as abc); a quote opens a quoted field only as the field's first byte (RFC 4180: spaces
// around fields are data). A line break is LF; a CR directly before it is dropped; a CR
// elsewhere is data (inside quotes it is kept exactly).

namespace tessera::io::internal {
namespace {

// How far one row may grow, as a multiple of max_field_bytes: rows of a few wide fields fit,
// while a file without line breaks cannot make the buffer grow without bound.
constexpr size_t kRowLimitFields = 16;
constexpr size_t kMaxFieldBytesCap = size_t{1} << 30;

struct FieldSpan {
  size_t begin;  // offset from the row's first byte
  size_t size;
  // [begin, begin + size) is raw quoted text, opening quote included, still to be unescaped.
  bool raw_quoted;
};

enum class ScanOutcome {
  kEnd,           // no input left
  kBlank,         // a line of blanks (`bytes` long, its LF included)
  kRow,           // a row (`bytes` long, its LF included); fields_ holds its fields
  kNeedMore,      // the row continues past the bytes read so far
  kFieldTooLong,  // an unquoted field at `column` exceeds max_field_bytes
  kUnterminated,  // a quoted field at `column` has no closing quote within max_field_bytes
};

struct ScanResult {
  ScanOutcome outcome = ScanOutcome::kEnd;
  size_t bytes = 0;
  size_t newlines = 0;      // line breaks inside quoted fields of the row so far
  size_t skip_from = 0;     // kFieldTooLong: where to look for the end of the row's last line
  uint32_t column = 0;      // kFieldTooLong / kUnterminated: 1-based field position
  bool in_quotes = false;   // kNeedMore: the row stopped inside a quoted field
  bool past_limit = false;  // kUnterminated: the quote ran past max_field_bytes, not to the end
};

inline bool IsLineBlank(char c, char delimiter) {
  return (c == ' ' || c == '\t' || c == '\r') && c != delimiter;
}

// Picks the delimiter that occurs most often outside quotes in the first non-blank line
// within [p, p + n); ties go to the earlier of ',', ';', '\t', '|', and no candidate at all
// means ','. Sets *complete to whether that line ends within the n bytes.
char DetectDelimiter(const char* p, size_t n, bool* complete) {
  static constexpr char kCandidates[] = {',', ';', '\t', '|'};
  size_t counts[4] = {};
  *complete = false;
  bool in_quotes = false;
  bool seen_content = false;
  for (size_t i = 0; i < n; ++i) {
    const char c = p[i];
    if (c == '"') {
      in_quotes = !in_quotes;  // a doubled quote toggles twice, which is right
      seen_content = true;
      continue;
    }
    if (in_quotes) continue;
    if (c == '\n') {
      if (seen_content) {
        *complete = true;
        break;
      }
      std::fill(std::begin(counts), std::end(counts), 0);  // a blank line: start again
      continue;
    }
    for (int k = 0; k < 4; ++k) counts[k] += (c == kCandidates[k]);
    if (c != ' ' && c != '\t' && c != '\r') seen_content = true;
  }
  int best = 0;
  for (int k = 1; k < 4; ++k) {
    if (counts[k] > counts[best]) best = k;
  }
  return kCandidates[best];
}

// Unescapes the raw quoted field [p, p + size) in place; returns the resulting text.
std::string_view UnescapeInPlace(char* p, size_t size) {
  const char* in = p + 1;  // skip the opening quote
  const char* const end = p + size;
  char* out = p;
  bool in_quotes = true;
  while (in < end) {
    const char c = *in++;
    if (in_quotes && c == '"') {
      if (in < end && *in == '"') {
        *out++ = '"';
        ++in;
      } else {
        in_quotes = false;  // the closing quote; what follows is kept literally
      }
    } else {
      *out++ = c;
    }
  }
  return std::string_view(p, static_cast<size_t>(out - p));
}

class CsvSource final : public RowSource {
 public:
  CsvSource(std::unique_ptr<InputBuffer> input, const CsvOptions& options)
      : input_(std::move(input)),
        delimiter_(options.delimiter),
        whitespace_separated_(options.whitespace_separated),
        has_header_(options.has_header),
        max_field_bytes_(std::clamp<size_t>(options.max_field_bytes, 1, kMaxFieldBytesCap)),
        row_limit_(max_field_bytes_ * kRowLimitFields) {}

  Status ReadHeader();

  const std::vector<std::string>& columns() const override { return columns_; }
  Status Select(const std::vector<std::string>& names) override;
  uint32_t ColumnPosition(size_t i) const override { return selected_[i] + 1; }
  bool Next(Row* row, RowError* error, bool* ok) override;
  char delimiter() const override { return whitespace_separated_ ? ' ' : delimiter_; }
  uint64_t bytes_read() const override { return input_->bytes_consumed(); }

 private:
  ScanResult Scan();
  ScanResult ScanDelimited(const char* base, size_t size, bool eof);
  ScanResult ScanWhitespaceSeparated(const char* base, size_t size, bool eof);

  // Skips the rest of a rejected row: everything through the first LF at or after offset
  // `from` of the window; `newlines` line breaks of the row lie before `from`.
  void SkipRejectedRow(size_t from, size_t newlines);

  bool EmitRow(const ScanResult& scan, Row* row, RowError* error, bool* ok);

  std::string ColumnName(uint32_t position) const {
    return position >= 1 && position <= columns_.size() ? columns_[position - 1] : std::string();
  }

  std::unique_ptr<InputBuffer> input_;
  char delimiter_;
  const bool whitespace_separated_;
  const bool has_header_;
  const size_t max_field_bytes_;
  const size_t row_limit_;

  std::vector<std::string> columns_;
  std::vector<uint32_t> selected_;  // 0-based file positions, in the caller's order
  std::vector<FieldSpan> fields_;   // the fields of the row being scanned; reused
  uint64_t line_ = 1;               // physical line of the window's first byte
  bool done_ = false;
};

ScanResult CsvSource::Scan() {
  return whitespace_separated_
             ? ScanWhitespaceSeparated(input_->begin(), input_->size(), input_->eof())
             : ScanDelimited(input_->begin(), input_->size(), input_->eof());
}

ScanResult CsvSource::ScanDelimited(const char* base, size_t size, bool eof) {
  ScanResult r;
  fields_.clear();
  const char* const end = base + size;
  const char delimiter = delimiter_;
  if (size == 0) {
    r.outcome = eof ? ScanOutcome::kEnd : ScanOutcome::kNeedMore;
    return r;
  }
  {
    const char* q = base;
    while (q < end && IsLineBlank(*q, delimiter)) ++q;
    if (q == end && !eof) {
      r.outcome = ScanOutcome::kNeedMore;
      return r;
    }
    if (q == end || *q == '\n') {
      r.outcome = ScanOutcome::kBlank;
      r.bytes = q == end ? size : static_cast<size_t>(q + 1 - base);
      return r;
    }
  }

  const char* p = base;
  for (;;) {
    const uint32_t column = static_cast<uint32_t>(fields_.size() + 1);
    const char* c;  // the byte that ends the field: delimiter, LF, or end
    if (p < end && *p == '"') {
      const char* const content = p + 1;
      bool raw = false;
      c = content;
      for (;;) {
        const char* q = c < end ? static_cast<const char*>(std::memchr(c, '"', end - c)) : nullptr;
        if (static_cast<size_t>((q != nullptr ? q : end) - content) > max_field_bytes_) {
          r.outcome = ScanOutcome::kUnterminated;
          r.column = column;
          r.past_limit = true;
          return r;
        }
        if (q == nullptr || (q + 1 == end && !eof)) {
          // Out of bytes inside the quotes (or right after a quote that may be doubled).
          r.outcome = q == nullptr && eof ? ScanOutcome::kUnterminated : ScanOutcome::kNeedMore;
          r.column = column;
          r.in_quotes = true;
          return r;
        }
        if (q + 1 < end && q[1] == '"') {
          raw = true;
          c = q + 2;
          continue;
        }
        c = q + 1;
        break;
      }
      const char* const close = c - 1;
      r.newlines += static_cast<size_t>(std::count(content, close, '\n'));
      const char* const tail = c;
      while (c < end && *c != delimiter && *c != '\n') ++c;
      if (c == end && !eof) {
        r.outcome = ScanOutcome::kNeedMore;
        return r;
      }
      const char* tail_end = c;
      if (tail_end > tail && tail_end[-1] == '\r' && (c == end || *c == '\n')) --tail_end;
      if (tail_end > tail) raw = true;
      if (raw) {
        fields_.push_back({static_cast<size_t>(p - base), static_cast<size_t>(tail_end - p), true});
      } else {
        fields_.push_back(
            {static_cast<size_t>(content - base), static_cast<size_t>(close - content), false});
      }
    } else {
      c = p;
      // The hot loop: plain bytes up to the delimiter or the end of the line.
      while (c < end && *c != delimiter && *c != '\n') ++c;
      if (static_cast<size_t>(c - p) > max_field_bytes_ + 1) {  // + 1: a CR before the LF
        r.outcome = ScanOutcome::kFieldTooLong;
        r.column = column;
        r.skip_from = static_cast<size_t>(c - base);
        return r;
      }
      if (c == end && !eof) {
        r.outcome = ScanOutcome::kNeedMore;
        return r;
      }
      const char* field_end = c;
      if (field_end > p && field_end[-1] == '\r' && (c == end || *c == '\n')) --field_end;
      if (static_cast<size_t>(field_end - p) > max_field_bytes_) {
        r.outcome = ScanOutcome::kFieldTooLong;
        r.column = column;
        r.skip_from = static_cast<size_t>(c - base);
        return r;
      }
      fields_.push_back({static_cast<size_t>(p - base), static_cast<size_t>(field_end - p), false});
    }
    if (c == end) {
      r.outcome = ScanOutcome::kRow;
      r.bytes = size;
      return r;
    }
    if (*c == delimiter) {
      p = c + 1;
      continue;
    }
    r.outcome = ScanOutcome::kRow;
    r.bytes = static_cast<size_t>(c + 1 - base);
    return r;
  }
}

ScanResult CsvSource::ScanWhitespaceSeparated(const char* base, size_t size, bool eof) {
  ScanResult r;
  fields_.clear();
  const char* const end = base + size;
  if (size == 0) {
    r.outcome = eof ? ScanOutcome::kEnd : ScanOutcome::kNeedMore;
    return r;
  }
  const char* p = base;
  for (;;) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r')) ++p;
    if (p == end && !eof) {
      r.outcome = ScanOutcome::kNeedMore;
      return r;
    }
    if (p == end || *p == '\n') {
      r.outcome = fields_.empty() ? ScanOutcome::kBlank : ScanOutcome::kRow;
      r.bytes = p == end ? size : static_cast<size_t>(p + 1 - base);
      return r;
    }
    const char* c = p;
    while (c < end && *c != ' ' && *c != '\t' && *c != '\r' && *c != '\n') ++c;
    if (static_cast<size_t>(c - p) > max_field_bytes_) {
      r.outcome = ScanOutcome::kFieldTooLong;
      r.column = static_cast<uint32_t>(fields_.size() + 1);
      r.skip_from = static_cast<size_t>(c - base);
      return r;
    }
    if (c == end && !eof) {
      r.outcome = ScanOutcome::kNeedMore;
      return r;
    }
    fields_.push_back({static_cast<size_t>(p - base), static_cast<size_t>(c - p), false});
    p = c;
  }
}

Status CsvSource::ReadHeader() {
  if (!whitespace_separated_ && (delimiter_ == '"' || delimiter_ == '\n' || delimiter_ == '\r')) {
    return InvalidArgumentError("{}: a quote or line break cannot be the CSV delimiter",
                                input_->name());
  }
  if (input_->size() == 0) input_->Fill();
  if (!whitespace_separated_ && delimiter_ == 0) {
    // Read until the first non-blank line is complete (or as long as a row may be).
    bool complete = false;
    for (;;) {
      delimiter_ = DetectDelimiter(input_->begin(), input_->size(), &complete);
      if (complete || input_->eof() || input_->size() >= row_limit_) break;
      input_->Fill();
    }
  }
  // Excel's "CSV (Macintosh)" ends lines with CR alone: read as RFC 4180, the whole file
  // would be one header row and no data, so such a file is refused, saying how to convert it.
  {
    const char* b = input_->begin();
    const size_t n = input_->size();
    const auto* cr = static_cast<const char*>(std::memchr(b, '\r', n));
    if (cr != nullptr && std::memchr(b, '\n', static_cast<size_t>(cr - b)) == nullptr &&
        cr + 1 < b + n && cr[1] != '\n') {
      return InvalidArgumentError(
          "{}: line 1: lines end with CR alone (as Excel's \"CSV (Macintosh)\" writes them); "
          "save the file as \"CSV UTF-8\" or convert it, e.g. tr '\\r' '\\n' < FILE > NEW.csv",
          input_->name());
    }
  }
  ScanResult scan;
  for (;;) {
    scan = Scan();
    if (scan.outcome == ScanOutcome::kRow) break;
    switch (scan.outcome) {
      case ScanOutcome::kEnd:
        if (!input_->status().ok()) return input_->status();
        return InvalidArgumentError("{}: empty file: no header", input_->name());
      case ScanOutcome::kBlank:
        input_->Consume(scan.bytes);
        ++line_;
        continue;
      case ScanOutcome::kNeedMore:
        if (input_->size() >= row_limit_) {
          return InvalidArgumentError("{}: line {}: first row longer than {} bytes", input_->name(),
                                      line_, row_limit_);
        }
        input_->Fill();
        continue;
      case ScanOutcome::kFieldTooLong:
        return InvalidArgumentError("{}: line {}: field {} of the first row longer than {} bytes",
                                    input_->name(), line_, scan.column, max_field_bytes_);
      case ScanOutcome::kUnterminated:
        return InvalidArgumentError("{}: line {}: unterminated quoted field {} in the first row",
                                    input_->name(), line_, scan.column);
      case ScanOutcome::kRow:
        break;
    }
  }
  columns_.reserve(fields_.size());
  if (has_header_) {
    std::string name;
    for (size_t i = 0; i < fields_.size(); ++i) {
      const FieldSpan& f = fields_[i];
      name.assign(input_->begin() + f.begin, f.size);
      if (f.raw_quoted) name.resize(UnescapeInPlace(name.data(), name.size()).size());
      if (!IsValidUtf8(name)) {
        return InvalidArgumentError("{}: line {}: header is not valid UTF-8 (column {})",
                                    input_->name(), line_, i + 1);
      }
      columns_.emplace_back(TrimBlanks(name));
    }
    input_->Consume(scan.bytes);
    line_ += 1 + scan.newlines;
  } else {
    // The first row is data: leave it in the window for Next().
    for (size_t i = 0; i < fields_.size(); ++i) columns_.push_back(std::to_string(i + 1));
  }
  selected_.resize(columns_.size());
  for (size_t i = 0; i < columns_.size(); ++i) selected_[i] = static_cast<uint32_t>(i);
  return OkStatus();
}

Status CsvSource::Select(const std::vector<std::string>& names) {
  std::vector<uint32_t> selected;
  std::vector<std::string> missing;
  selected.reserve(names.size());
  for (const std::string& name : names) {
    const std::string_view wanted = TrimBlanks(name);
    auto it = std::find_if(columns_.begin(), columns_.end(),
                           [&](const std::string& c) { return EqualsIgnoreCase(c, wanted); });
    if (it == columns_.end()) {
      missing.push_back(name);
    } else {
      selected.push_back(static_cast<uint32_t>(it - columns_.begin()));
    }
  }
  if (!missing.empty()) {
    return InvalidArgumentError(
        "{}: column{} {} not found; columns found: {}", input_->name(),
        missing.size() > 1 ? "s" : "", QuotedList(missing),
        // Without a header the columns are positions, not cells.
        has_header_ ? DescribeColumns(columns_, /*quoted=*/true).text : QuotedList(columns_));
  }
  selected_ = std::move(selected);
  return OkStatus();
}

void CsvSource::SkipRejectedRow(size_t from, size_t newlines) {
  input_->SkipPastNewline(from);
  line_ += newlines + 1;
}

bool CsvSource::Next(Row* row, RowError* error, bool* ok) {
  while (!done_) {
    const ScanResult scan = Scan();
    switch (scan.outcome) {
      case ScanOutcome::kEnd:
        done_ = true;
        if (!input_->status().ok()) {
          // The input broke off (e.g. a truncated gzip file): say so once, then end.
          *error = RowError{line_, 0, {}, input_->status().message()};
          error->code = kReadError;
          *ok = false;
          return true;
        }
        return false;
      case ScanOutcome::kBlank:
        input_->Consume(scan.bytes);
        ++line_;
        continue;
      case ScanOutcome::kNeedMore:
        if (input_->size() >= row_limit_) {
          *error = RowError{line_, 0, {}, fmt::format("row longer than {} bytes", row_limit_)};
          error->code = "row_too_long";
          *ok = false;
          // Inside quotes we cannot know where the row ends: resynchronise like an
          // unterminated quote. Otherwise the row ends with the current line.
          if (scan.in_quotes) {
            SkipRejectedRow(0, 0);
          } else {
            SkipRejectedRow(input_->size(), scan.newlines);
          }
          return true;
        }
        input_->Fill();
        continue;
      case ScanOutcome::kFieldTooLong:
        *error = RowError{line_, scan.column, ColumnName(scan.column),
                          fmt::format("field longer than {} bytes", max_field_bytes_)};
        error->code = "field_too_long";
        *ok = false;
        SkipRejectedRow(scan.skip_from, scan.newlines);
        return true;
      case ScanOutcome::kUnterminated:
        *error = RowError{line_, scan.column, ColumnName(scan.column),
                          !scan.past_limit
                              ? std::string("unterminated quoted field")
                              : fmt::format("unterminated quoted field (no closing quote within "
                                            "{} bytes)",
                                            max_field_bytes_)};
        error->code = "unterminated_quote";
        *ok = false;
        // Resynchronise: the quote was probably a stray one, so the rows on the following
        // lines are read as rows rather than lost inside one huge bogus field.
        SkipRejectedRow(0, 0);
        return true;
      case ScanOutcome::kRow:
        return EmitRow(scan, row, error, ok);
    }
  }
  return false;
}

bool CsvSource::EmitRow(const ScanResult& scan, Row* row, RowError* error, bool* ok) {
  const uint64_t row_line = line_;
  char* const base = input_->mutable_begin();
  // The bytes stay where they are until the next Fill(), i.e. the next call to Next().
  input_->Consume(scan.bytes);
  line_ += 1 + scan.newlines;
  *ok = false;
  if (fields_.size() != columns_.size()) {
    const uint32_t position = static_cast<uint32_t>(std::min(fields_.size(), columns_.size()) + 1);
    *error = RowError{row_line, position, ColumnName(position),
                      fmt::format("expected {} fields, found {}", columns_.size(), fields_.size())};
    error->code = "wrong_field_count";
    return true;
  }
  const size_t n = selected_.size();
  row->line = row_line;
  row->fields.resize(n);
  row->present.assign(n, true);
  for (size_t i = 0; i < n; ++i) {
    FieldSpan& f = fields_[selected_[i]];
    if (f.raw_quoted) {
      // Rewrite once, even when the caller selected this column twice.
      const std::string_view text = UnescapeInPlace(base + f.begin, f.size);
      f.size = text.size();
      f.raw_quoted = false;
    }
    const std::string_view value(base + f.begin, f.size);
    if (!IsValidUtf8(value)) {
      *error = RowError{row_line, selected_[i] + 1, columns_[selected_[i]], "invalid UTF-8"};
      error->code = "invalid_utf8";
      return true;
    }
    row->fields[i] = value;
  }
  *ok = true;
  return true;
}

}  // namespace

StatusOr<std::unique_ptr<RowSource>> OpenCsvSource(std::unique_ptr<InputBuffer> input,
                                                   const CsvOptions& options) {
  auto source = std::make_unique<CsvSource>(std::move(input), options);
  TESSERA_RETURN_IF_ERROR(source->ReadHeader());
  return std::unique_ptr<RowSource>(std::move(source));
}

}  // namespace tessera::io::internal
