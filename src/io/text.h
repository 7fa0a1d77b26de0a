#pragma once

// Small text helpers shared by the row readers.

#include <string>
#include <string_view>
#include <vector>

#include "tessera/common/text.h"

namespace tessera::io::internal {

using ::tessera::AsciiLower;
using ::tessera::EqualsIgnoreCase;
using ::tessera::TrimBlanks;

// "\"a\", \"b\"" for messages about column names (which are not personal data: they come
// from a header or a JSON key, or are chosen by the user).
inline std::string QuotedList(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) {
    if (!out.empty()) out += ", ";
    out += '"';
    out += name;
    out += '"';
  }
  return out;
}

}  // namespace tessera::io::internal
