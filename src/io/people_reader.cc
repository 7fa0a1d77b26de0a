#include "tessera/io/people_reader.h"

#include <fmt/format.h>

#include "tessera/common/text.h"

namespace tessera::io {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// An e-mail address: one '@' with something before it and a dot after it, no blanks.
bool LooksLikeEmail(std::string_view v) {
  const size_t at = v.find('@');
  if (at == std::string_view::npos || at == 0 || v.find('@', at + 1) != std::string_view::npos) {
    return false;
  }
  if (v.find(' ') != std::string_view::npos) return false;
  const size_t dot = v.find('.', at + 1);
  return dot != std::string_view::npos && dot > at + 1 && dot + 1 < v.size();
}

// An international phone number: '+' or "00", then 8 to 15 digits in all with only the
// separators a phone number is written with. National numbers ("030 1234567") are not
// caught: they cannot be told from other digits.
bool LooksLikePhone(std::string_view v) {
  size_t i = 0;
  if (v.starts_with('+')) {
    i = 1;
  } else if (v.starts_with("00")) {
    i = 2;
  } else {
    return false;
  }
  size_t digits = 0;
  for (; i < v.size(); ++i) {
    const char c = v[i];
    if (IsDigit(c)) {
      ++digits;
    } else if (c != ' ' && c != '-' && c != '.' && c != '/' && c != '(' && c != ')') {
      return false;
    }
  }
  return digits >= 8 && digits <= 15;
}

}  // namespace

const char* AttributeValueProblem(std::string_view value, const char** reason_code) {
  *reason_code = "bad_attribute";
  if (value.size() > kMaxAttributeValueBytes) return "the value is longer than 200 bytes";
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return "the value holds a control character";
  }
  *reason_code = "identifier_in_attribute";
  if (LooksLikeEmail(value)) {
    return "the value looks like an e-mail address; identifiers are pseudonymized, never "
           "stored as attributes (map the column as email)";
  }
  if (LooksLikePhone(value)) {
    return "the value looks like a phone number; identifiers are pseudonymized, never stored "
           "as attributes (map the column as phone)";
  }
  *reason_code = nullptr;
  return nullptr;
}

PeopleReader::PeopleReader(std::string path, std::unique_ptr<RowSource> source,
                           ResolvedPeopleMapping resolved)
    : path_(std::move(path)), source_(std::move(source)), resolved_(std::move(resolved)) {}

StatusOr<std::unique_ptr<PeopleReader>> PeopleReader::Open(const std::string& path,
                                                           const Mapping& mapping) {
  TESSERA_ASSIGN_OR_RETURN(std::unique_ptr<RowSource> source,
                           RowSource::Open(path, mapping.source));
  auto mapped = ResolvePeopleMapping(mapping, source->columns());
  if (!mapped.ok()) return mapped.status().WithContext(path == "-" ? "stdin" : path);
  TESSERA_RETURN_IF_ERROR(source->Select(mapped->selected).WithContext(path));
  return std::unique_ptr<PeopleReader>(
      new PeopleReader(path, std::move(source), *std::move(mapped)));
}

bool PeopleReader::has_identifier(Field f) const {
  const int k = f == Field::kCustomerId ? 0 : f == Field::kEmail ? 1 : f == Field::kPhone ? 2 : -1;
  return k >= 0 && resolved_.identifier[static_cast<size_t>(k)] >= 0;
}

Reject PeopleReader::MakeReject(uint64_t line, int selected, std::string reason_code,
                                std::string reason) const {
  Reject r;
  r.file = path_;
  r.line = line;
  if (selected >= 0) {
    r.column = source_->ColumnPosition(static_cast<size_t>(selected));
    r.column_name = resolved_.selected[static_cast<size_t>(selected)];
  }
  r.reason_code = std::move(reason_code);
  r.reason = std::move(reason);
  return r;
}

Reject PeopleReader::MakeFieldReject(uint64_t line, Field field, std::string reason_code,
                                     std::string reason) const {
  const int k = field == Field::kCustomerId ? 0
                : field == Field::kEmail    ? 1
                : field == Field::kPhone    ? 2
                                            : -1;
  return MakeReject(line, k >= 0 ? resolved_.identifier[static_cast<size_t>(k)] : -1,
                    std::move(reason_code), std::move(reason));
}

Reject PeopleReader::MakeAttributeReject(uint64_t line, size_t attribute, std::string reason_code,
                                         std::string reason) const {
  return MakeReject(line, resolved_.attribute_index[attribute], std::move(reason_code),
                    std::move(reason));
}

PeopleReader::Result PeopleReader::Next(PersonRow* out, Reject* reject) {
  RowError error;
  bool ok = true;
  if (!source_->Next(&row_, &error, &ok)) return Result::kEnd;
  if (!ok) {
    *reject = RejectOfRowError(path_, error);
    return error.code == kReadError ? Result::kReadError : Result::kReject;
  }
  PersonRow& p = *out;
  p.line = row_.line;
  const auto field = [&](int selected) {
    return selected < 0 ? std::string_view()
                        : TrimWhitespace(row_.fields[static_cast<size_t>(selected)]);
  };
  p.customer_id = field(resolved_.identifier[0]);
  p.email = field(resolved_.identifier[1]);
  p.phone = field(resolved_.identifier[2]);
  if (p.customer_id.empty() && p.email.empty() && p.phone.empty()) {
    *reject = MakeReject(row_.line, -1, "missing_identifier",
                         "the row has no customer_id, email or phone");
    return Result::kReject;
  }
  p.attributes.resize(resolved_.attribute_names.size());
  for (size_t a = 0; a < p.attributes.size(); ++a) {
    const std::string_view v = field(resolved_.attribute_index[a]);
    const char* code = nullptr;
    if (const char* problem = AttributeValueProblem(v, &code); problem != nullptr) {
      *reject = MakeAttributeReject(row_.line, a, code,
                                    fmt::format("{}: {}", resolved_.attribute_names[a], problem));
      return Result::kReject;
    }
    p.attributes[a] = v;
  }
  return Result::kPerson;
}

}  // namespace tessera::io
