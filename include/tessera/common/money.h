#pragma once

// Money is exact: integer minor units of one currency (cents, pence), never floating point,
// until an average is formatted for output.

#include <cstdint>
#include <string>
#include <string_view>

namespace tessera {

// Decimal places of an ISO 4217 currency's minor unit: 0 for JPY, KRW, ...; 3 for BHD, KWD,
// ...; 2 for the rest.
int CurrencyExponent(std::string_view code);

// True for three upper-case ASCII letters.
bool IsCurrencyCode(std::string_view code);

// Rounds a value in 10^-6 units to 10^-exponent units, half away from zero.
int64_t MicroToMinor(int64_t micro, int exponent);

// "1234.50" for 123450 minor units with exponent 2; "-0.05"; "1234" with exponent 0.
std::string FormatMinor(int64_t minor, int exponent);

}  // namespace tessera
