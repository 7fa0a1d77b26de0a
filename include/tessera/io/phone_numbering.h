#pragma once

// What normalizing phone numbers to E.164 needs to know of a country's numbering plan: its
// calling code and its national trunk prefix (dialled before a national number and not part
// of it, such as Germany's 0; Italy has none: the 0 of its fixed-line numbers is part of the
// number). Only the common countries listed in docs/ingest.md are known by name; any other
// country is given by its calling code. Thread-safe: pure functions over a constant table.

#include <string>
#include <string_view>

#include "tessera/common/status.h"

namespace tessera::io {

struct PhoneCountry {
  std::string calling_code;  // 1 to 3 digits, "49"
  std::string trunk_prefix;  // "0", "8" (Russia), "06" (Hungary), "1" (US, CA); "" for none
  friend bool operator==(const PhoneCountry&, const PhoneCountry&) = default;
};

// A country named by its ISO 3166 alpha-2 code ("DE", any case) from the table, or by its
// calling code ("49" or "+49": 1 to 3 digits, not starting with 0). A calling code in the
// table gets that country's trunk prefix; any other has none.
// Errors: kInvalidArgument for a code not in the table or text that is neither (the message
// names the text: it is configuration, not personal data).
StatusOr<PhoneCountry> FindPhoneCountry(std::string_view country);

// For `digits`, an international number without its '+' (calling code first): the trunk prefix
// of the country whose calling code begins it, when that country is in the table, and the
// length of that calling code. Empty (and 0) when no country of the table matches. Calling
// codes are a prefix code, so at most one matches.
struct CallingCodeMatch {
  std::string_view trunk_prefix;
  size_t code_length = 0;
};
CallingCodeMatch MatchCallingCode(std::string_view digits);

}  // namespace tessera::io
