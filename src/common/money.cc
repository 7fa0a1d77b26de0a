#include "tessera/common/money.h"

#include <fmt/format.h>

namespace tessera {

int CurrencyExponent(std::string_view code) {
  static constexpr std::string_view kZero[] = {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY",
                                               "KMF", "KRW", "PYG", "RWF", "UGX", "UYI",
                                               "VND", "VUV", "XAF", "XOF", "XPF"};
  static constexpr std::string_view kThree[] = {"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"};
  for (auto c : kZero) {
    if (c == code) return 0;
  }
  for (auto c : kThree) {
    if (c == code) return 3;
  }
  return 2;
}

bool IsCurrencyCode(std::string_view code) {
  if (code.size() != 3) return false;
  for (char c : code) {
    if (c < 'A' || c > 'Z') return false;
  }
  return true;
}

int64_t MicroToMinor(int64_t micro, int exponent) {
  int64_t div = 1;
  for (int i = exponent; i < 6; ++i) div *= 10;
  const int64_t q = micro / div, r = micro % div;
  if (2 * (r < 0 ? -r : r) >= div) return micro < 0 ? q - 1 : q + 1;
  return q;
}

std::string FormatMinor(int64_t minor, int exponent) {
  if (exponent == 0) return std::to_string(minor);
  int64_t div = 1;
  for (int i = 0; i < exponent; ++i) div *= 10;
  const bool negative = minor < 0;
  const uint64_t abs = negative ? 0 - static_cast<uint64_t>(minor) : static_cast<uint64_t>(minor);
  return fmt::format("{}{}.{:0{}d}", negative ? "-" : "", abs / div, abs % div, exponent);
}

}  // namespace tessera
