#include "tessera/io/phone_numbering.h"

#include <algorithm>

namespace tessera::io {
namespace {

struct Country {
  std::string_view iso, calling_code, trunk_prefix;
};

// Calling codes from ITU-T E.164 (Annex to ITU Operational Bulletin); trunk prefixes from the
// national numbering plans. Countries without a trunk prefix have closed numbering plans (the
// whole number is always dialled); in Italy and San Marino the leading 0 of fixed lines is part
// of the number, so it is kept. Lithuania (trunk prefix changed in 2025) and Brazil (a carrier
// code after the trunk prefix) are left out on purpose: give their calling code.
constexpr Country kCountries[] = {
    {"AT", "43", "0"},  {"AU", "61", "0"},  {"BE", "32", "0"},  {"BG", "359", "0"},
    {"CA", "1", "1"},   {"CH", "41", "0"},  {"CN", "86", "0"},  {"CY", "357", ""},
    {"CZ", "420", ""},  {"DE", "49", "0"},  {"DK", "45", ""},   {"EE", "372", ""},
    {"ES", "34", ""},   {"FI", "358", "0"}, {"FR", "33", "0"},  {"GB", "44", "0"},
    {"GR", "30", ""},   {"HR", "385", "0"}, {"HU", "36", "06"}, {"IE", "353", "0"},
    {"IL", "972", "0"}, {"IN", "91", "0"},  {"IS", "354", ""},  {"IT", "39", ""},
    {"JP", "81", "0"},  {"KZ", "7", "8"},   {"LI", "423", ""},  {"LU", "352", ""},
    {"LV", "371", ""},  {"MC", "377", ""},  {"MT", "356", ""},  {"MX", "52", ""},
    {"NL", "31", "0"},  {"NO", "47", ""},   {"NZ", "64", "0"},  {"PL", "48", ""},
    {"PT", "351", ""},  {"RO", "40", "0"},  {"RS", "381", "0"}, {"RU", "7", "8"},
    {"SE", "46", "0"},  {"SI", "386", "0"}, {"SK", "421", "0"}, {"SM", "378", ""},
    {"TR", "90", "0"},  {"UA", "380", "0"}, {"US", "1", "1"},   {"ZA", "27", "0"},
};

bool AllDigits(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

StatusOr<PhoneCountry> FindPhoneCountry(std::string_view country) {
  if (country.size() == 2 && !AllDigits(country)) {
    std::string iso(country);
    for (char& c : iso) {
      if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    }
    for (const Country& c : kCountries) {
      if (c.iso == iso)
        return PhoneCountry{std::string(c.calling_code), std::string(c.trunk_prefix)};
    }
    return InvalidArgumentError(
        "'{}' is not a country Tessera knows for phone numbers; give its calling code instead "
        "(\"49\" for Germany)",
        country);
  }
  std::string_view code = country;
  if (code.starts_with('+')) code.remove_prefix(1);
  if (code.empty() || code.size() > 3 || !AllDigits(code) || code[0] == '0') {
    return InvalidArgumentError(
        "'{}' is neither an ISO country code (\"DE\") nor a calling code (\"49\")", country);
  }
  for (const Country& c : kCountries) {
    if (c.calling_code == code) return PhoneCountry{std::string(code), std::string(c.trunk_prefix)};
  }
  return PhoneCountry{std::string(code), ""};
}

CallingCodeMatch MatchCallingCode(std::string_view digits) {
  for (const Country& c : kCountries) {
    if (digits.starts_with(c.calling_code)) return {c.trunk_prefix, c.calling_code.size()};
  }
  return {};
}

}  // namespace tessera::io
