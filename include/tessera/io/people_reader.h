#pragma once

// Turns the rows of a file of people (a mobile operator's subscribers, a CRM extract: no
// orders) into identifiers and attribute values through a column mapping, and validates every
// row. A row that fails becomes a Reject (file, line, column, reason), never an exception and
// never a message that repeats the value.
//
// Privacy: PersonRow holds raw identifiers (customer number, e-mail, phone) as views into the
// reader's buffer, valid until the next call; callers pseudonymize them at once. Attribute
// values are what gets stored: a value that looks like an e-mail address or an international
// phone number is rejected, so that an identifier never reaches the store through an attribute.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/common/status.h"
#include "tessera/io/mapping.h"
#include "tessera/io/order_reader.h"
#include "tessera/io/row_source.h"

namespace tessera::io {

// Longest attribute value, in bytes (the same limit as `tessera audience attributes import`).
inline constexpr size_t kMaxAttributeValueBytes = 200;

struct PersonRow {
  uint64_t line = 0;             // physical line of the row in its file
  std::string_view customer_id;  // raw, possibly empty
  std::string_view email;        // raw, possibly empty
  std::string_view phone;        // raw, possibly empty; at least one of the three is not
  // By attribute (PeopleReader::attribute_names()): the value with surrounding blanks trimmed;
  // empty when the row gives none.
  std::vector<std::string_view> attributes;
};

// Not thread-safe. Resource type: not copyable.
class PeopleReader {
 public:
  // Opens `path` and resolves `mapping` against its columns (ResolvePeopleMapping).
  // Errors: those of RowSource::Open and ResolvePeopleMapping.
  static StatusOr<std::unique_ptr<PeopleReader>> Open(const std::string& path,
                                                      const Mapping& mapping);
  PeopleReader(const PeopleReader&) = delete;
  PeopleReader& operator=(const PeopleReader&) = delete;

  enum class Result { kPerson, kReject, kReadError, kEnd };
  // Reads the next row: kPerson fills *row, kReject fills *reject (reason codes
  // "missing_identifier", "bad_attribute", "identifier_in_attribute" and those of RowSource),
  // kEnd ends the file. kReadError (with *reject saying why) means the file broke off before
  // its end: what was read is only part of it.
  Result Next(PersonRow* row, Reject* reject);

  // Attribute names, in the order of PersonRow::attributes.
  const std::vector<std::string>& attribute_names() const { return resolved_.attribute_names; }
  bool has_identifier(Field f) const;

  // A reject for an identifier field (Field::kCustomerId, kEmail, kPhone) or for attribute
  // `attribute` of the row at `line` (for checks made after reading).
  Reject MakeFieldReject(uint64_t line, Field field, std::string reason_code,
                         std::string reason) const;
  Reject MakeAttributeReject(uint64_t line, size_t attribute, std::string reason_code,
                             std::string reason) const;

  uint64_t bytes_read() const { return source_->bytes_read(); }
  const std::string& path() const { return path_; }

 private:
  PeopleReader(std::string path, std::unique_ptr<RowSource> source, ResolvedPeopleMapping resolved);
  Reject MakeReject(uint64_t line, int selected, std::string reason_code, std::string reason) const;

  std::string path_;
  std::unique_ptr<RowSource> source_;
  ResolvedPeopleMapping resolved_;
  Row row_;
};

// Why `value` may not be stored as an attribute, or nullptr: longer than
// kMaxAttributeValueBytes, a control character, or what looks like an identifier (an e-mail
// address, an international phone number). `reason_code` is set to "bad_attribute" or
// "identifier_in_attribute".
const char* AttributeValueProblem(std::string_view value, const char** reason_code);

}  // namespace tessera::io
