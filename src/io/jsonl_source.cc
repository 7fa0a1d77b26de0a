#include "io/jsonl_source.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "io/text.h"

// Each line is parsed with nlohmann::json's SAX interface straight into the selected
// columns' values, without building a DOM. SAX hands over floating-point numbers together
// with their source text, which is what keeps "12.50" as "12.50" (an amount must not become
// 12.5 or 12.4999...); integers come as 64-bit values whose decimal form is their source text
// (JSON forbids leading zeros and '+'; only "-0" becomes "0").

namespace tessera::io::internal {
namespace {

using Json = nlohmann::json;

constexpr size_t kLineLimitFields = 16;
constexpr size_t kMaxFieldBytesCap = size_t{1} << 30;

// Turns the parser's message into one without input text: nlohmann appends "last read:
// '<token>'" (and quotes the number on overflow), which may be personal data.
std::string SafeParseErrorMessage(size_t position, const nlohmann::detail::exception& ex) {
  if (ex.id == 406) return fmt::format("invalid JSON: number overflow at column {}", position);
  std::string detail;
  if (ex.id == 101) {
    const std::string_view what = ex.what();
    const size_t column = what.find(", column ");
    const size_t colon = column == std::string_view::npos ? column : what.find(": ", column);
    if (colon != std::string_view::npos) {
      detail = what.substr(colon + 2, what.find("; last read:", colon) - (colon + 2));
    }
  }
  if (detail.empty()) return fmt::format("invalid JSON at column {}", position);
  return fmt::format("invalid JSON at column {}: {}", position, detail);
}

// Receives one line's SAX events and keeps the top-level scalar values of the selected keys.
// Also records the top-level keys in order (used once, for columns()).
class LineHandler {
 public:
  // Sets the wanted keys; matching is case-insensitive (ASCII letters).
  void SetSelection(const std::vector<std::string>& names) {
    names_ = names;
    values_.assign(names.size(), std::string());
    present_.assign(names.size(), false);
  }
  void set_record_keys(bool record) { record_keys_ = record; }

  // Clears the previous line's state.
  void Reset() {
    std::fill(present_.begin(), present_.end(), false);
    for (std::string& v : values_) v.clear();
    depth_ = 0;
    seen_top_ = false;
    not_object_ = false;
    nested_key_.clear();
    has_nested_ = false;
    error_.clear();
    keys_.clear();
  }

  // SAX interface.
  bool null() { return Scalar(nullptr, 0, false); }
  bool boolean(bool value) { return value ? Scalar("true", 4, true) : Scalar("false", 5, true); }
  bool number_integer(Json::number_integer_t value) { return Integer(value); }
  bool number_unsigned(Json::number_unsigned_t value) { return Integer(value); }
  bool number_float(Json::number_float_t, const std::string& text) {
    return Scalar(text.data(), text.size(), true);
  }
  bool string(std::string& value) { return Scalar(value.data(), value.size(), true); }
  bool binary(Json::binary_t&) { return Container(); }  // not produced by the JSON parser
  bool start_object(size_t) {
    if (depth_ == 0) {
      if (seen_top_) return true;  // strict parsing reports trailing content on its own
      seen_top_ = true;
      ++depth_;
      return true;
    }
    Container();
    ++depth_;
    return true;
  }
  bool end_object() {
    --depth_;
    return true;
  }
  bool start_array(size_t) {
    Container();
    ++depth_;
    return true;
  }
  bool end_array() {
    --depth_;
    return true;
  }
  bool key(std::string& name) {
    if (depth_ != 1) return true;
    if (record_keys_) keys_.push_back(name);
    current_key_ = name;
    return true;
  }
  bool parse_error(size_t position, const std::string&, const nlohmann::detail::exception& ex) {
    error_ = SafeParseErrorMessage(position, ex);
    return false;
  }

  const std::string& error() const { return error_; }
  bool not_object() const { return not_object_ || !seen_top_; }
  bool has_nested() const { return has_nested_; }
  const std::string& nested_key() const { return nested_key_; }
  const std::vector<std::string>& keys() const { return keys_; }
  const std::vector<std::string>& values() const { return values_; }
  const std::vector<bool>& present() const { return present_; }

 private:
  bool Scalar(const char* text, size_t size, bool present) {
    if (depth_ == 0) {
      not_object_ = true;
      return true;
    }
    if (depth_ != 1) return true;
    // A key may match several selected names (the caller selected it twice).
    for (size_t i = 0; i < names_.size(); ++i) {
      if (!EqualsIgnoreCase(names_[i], current_key_)) continue;
      // A later duplicate key wins, as in nlohmann's DOM.
      values_[i].assign(text == nullptr ? "" : text, size);
      present_[i] = present;
    }
    return true;
  }
  bool Integer(auto value) {
    char digits[24];
    const auto result = std::to_chars(digits, digits + sizeof(digits), value);
    return Scalar(digits, static_cast<size_t>(result.ptr - digits), true);
  }
  // An object or array: at the top it is the line itself (an array is not a row); as the
  // value of a selected key it is a nested value, which rejects the row. Nested values of
  // keys nobody selected are ignored, so exports carrying e.g. an "items" array stay usable.
  bool Container() {
    if (depth_ == 0) {
      not_object_ = true;
    } else if (depth_ == 1 && !has_nested_ && IsSelected(current_key_)) {
      has_nested_ = true;
      nested_key_ = current_key_;
    }
    return true;
  }
  bool IsSelected(std::string_view key) const {
    return std::any_of(names_.begin(), names_.end(),
                       [&](const std::string& n) { return EqualsIgnoreCase(n, key); });
  }

  std::vector<std::string> names_;
  std::vector<std::string> values_;
  std::vector<bool> present_;
  bool record_keys_ = false;
  std::vector<std::string> keys_;
  std::string current_key_;
  int depth_ = 0;
  bool seen_top_ = false;
  bool not_object_ = false;
  bool has_nested_ = false;
  std::string nested_key_;
  std::string error_;
};

bool IsBlankText(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return c == ' ' || c == '\t' || c == '\r'; });
}

class JsonLinesSource final : public RowSource {
 public:
  JsonLinesSource(std::unique_ptr<InputBuffer> input, size_t max_field_bytes)
      : input_(std::move(input)),
        line_limit_(std::clamp<size_t>(max_field_bytes, 1, kMaxFieldBytesCap) * kLineLimitFields) {}

  Status ReadColumns();

  const std::vector<std::string>& columns() const override { return columns_; }
  Status Select(const std::vector<std::string>& names) override {
    handler_.SetSelection(names);
    return OkStatus();
  }
  uint32_t ColumnPosition(size_t) const override { return 0; }
  bool Next(Row* row, RowError* error, bool* ok) override;
  char delimiter() const override { return 0; }
  uint64_t bytes_read() const override { return input_->bytes_consumed(); }

 private:
  enum class LineOutcome { kLine, kEnd, kTooLong };
  // Finds the next line in the window without consuming it: [begin(), begin() + *size) is its
  // text without the line break, *consumed its length with the line break.
  LineOutcome FindLine(size_t* size, size_t* consumed);

  std::unique_ptr<InputBuffer> input_;
  const size_t line_limit_;
  std::vector<std::string> columns_;
  LineHandler handler_;
  uint64_t line_ = 1;  // physical line of the window's first byte
  bool done_ = false;
};

JsonLinesSource::LineOutcome JsonLinesSource::FindLine(size_t* size, size_t* consumed) {
  size_t searched = 0;  // bytes already known to hold no LF
  for (;;) {
    const size_t available = input_->size();
    const void* newline = searched < available
                              ? std::memchr(input_->begin() + searched, '\n', available - searched)
                              : nullptr;
    if (newline != nullptr) {
      *size = static_cast<size_t>(static_cast<const char*>(newline) - input_->begin());
      *consumed = *size + 1;
      break;
    }
    if (input_->eof()) {
      if (available == 0) return LineOutcome::kEnd;
      *size = *consumed = available;
      break;
    }
    if (available >= line_limit_) return LineOutcome::kTooLong;
    searched = available;
    input_->Fill();
  }
  if (*size > line_limit_) return LineOutcome::kTooLong;
  if (*size > 0 && input_->begin()[*size - 1] == '\r') --*size;
  return LineOutcome::kLine;
}

Status JsonLinesSource::ReadColumns() {
  uint64_t line = line_;
  for (;;) {
    size_t size = 0, consumed = 0;
    const LineOutcome outcome = FindLine(&size, &consumed);
    if (outcome == LineOutcome::kEnd) {
      if (!input_->status().ok()) return input_->status();
      return InvalidArgumentError("{}: empty file: no JSON object", input_->name());
    }
    if (outcome == LineOutcome::kTooLong) {
      return InvalidArgumentError("{}: line {}: longer than {} bytes", input_->name(), line,
                                  line_limit_);
    }
    const std::string_view text(input_->begin(), size);
    if (IsBlankText(text)) {
      input_->Consume(consumed);
      ++line;
      continue;
    }
    handler_.Reset();
    handler_.set_record_keys(true);
    Json::sax_parse(text.begin(), text.end(), &handler_);
    handler_.set_record_keys(false);
    if (!handler_.error().empty() || handler_.not_object()) {
      return InvalidArgumentError("{}: line {}: the first line is not a JSON object{}",
                                  input_->name(), line,
                                  handler_.error().empty() ? "" : " (" + handler_.error() + ")");
    }
    // Keys repeated in the first object are listed once.
    for (const std::string& key : handler_.keys()) {
      if (std::find(columns_.begin(), columns_.end(), key) == columns_.end()) {
        columns_.push_back(key);
      }
    }
    handler_.SetSelection(columns_);
    // The first object stays in the window for Next(); the blank lines before it are gone.
    line_ = line;
    return OkStatus();
  }
}

bool JsonLinesSource::Next(Row* row, RowError* error, bool* ok) {
  while (!done_) {
    size_t size = 0, consumed = 0;
    const LineOutcome outcome = FindLine(&size, &consumed);
    if (outcome == LineOutcome::kEnd) {
      done_ = true;
      if (!input_->status().ok()) {
        *error = RowError{line_, 0, {}, input_->status().message()};
        error->code = kReadError;
        *ok = false;
        return true;
      }
      return false;
    }
    const uint64_t line = line_++;
    if (outcome == LineOutcome::kTooLong) {
      *error = RowError{line, 0, {}, fmt::format("line longer than {} bytes", line_limit_)};
      error->code = "row_too_long";
      *ok = false;
      input_->SkipPastNewline(0);
      return true;
    }
    const std::string_view text(input_->begin(), size);
    // The handler copies what it keeps, so the line can be consumed before it is parsed.
    input_->Consume(consumed);
    if (IsBlankText(text)) continue;
    handler_.Reset();
    Json::sax_parse(text.begin(), text.end(), &handler_);
    *ok = false;
    if (!handler_.error().empty()) {
      *error = RowError{line, 0, {}, handler_.error()};
      error->code = "invalid_json";
      return true;
    }
    if (handler_.not_object()) {
      *error = RowError{line, 0, {}, "line is not a JSON object"};
      error->code = "not_an_object";
      return true;
    }
    if (handler_.has_nested()) {
      *error = RowError{line, 0, handler_.nested_key(),
                        fmt::format("nested value in key {} not supported", handler_.nested_key())};
      error->code = "nested_value";
      return true;
    }
    const std::vector<std::string>& values = handler_.values();
    row->line = line;
    row->fields.resize(values.size());
    for (size_t i = 0; i < values.size(); ++i) row->fields[i] = values[i];
    row->present = handler_.present();
    *ok = true;
    return true;
  }
  return false;
}

}  // namespace

StatusOr<std::unique_ptr<RowSource>> OpenJsonLinesSource(std::unique_ptr<InputBuffer> input,
                                                         size_t max_field_bytes) {
  auto source = std::make_unique<JsonLinesSource>(std::move(input), max_field_bytes);
  TESSERA_RETURN_IF_ERROR(source->ReadColumns());
  return std::unique_ptr<RowSource>(std::move(source));
}

}  // namespace tessera::io::internal
