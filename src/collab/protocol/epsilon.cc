#include "tessera/collab/epsilon.h"

namespace tessera::collab {

StatusOr<uint64_t> ParseEpsilon(std::string_view text) {
  const auto bad = [] {
    return InvalidArgumentError(
        "ε must be a decimal number such as 0.5, with at most 6 decimals, up to 10^9");
  };
  const auto digits = [](std::string_view s) {
    if (s.empty()) return false;
    for (char c : s) {
      if (c < '0' || c > '9') return false;
    }
    return true;
  };
  const size_t dot = text.find('.');
  std::string_view whole = text.substr(0, dot);
  const std::string_view fraction = dot == std::string_view::npos ? "" : text.substr(dot + 1);
  if (!digits(whole) || (dot != std::string_view::npos && !digits(fraction)) ||
      fraction.size() > 6) {
    return bad();
  }
  while (whole.size() > 1 && whole.front() == '0') whole.remove_prefix(1);
  if (whole.size() > 10) return bad();  // above 10^9 for certain; keeps the sum in 64 bits
  uint64_t micro = 0;
  for (char c : whole) micro = micro * 10 + static_cast<uint64_t>(c - '0');
  micro *= kMicroEpsilonPerEpsilon;
  uint64_t scale = kMicroEpsilonPerEpsilon / 10;
  for (char c : fraction) {
    micro += static_cast<uint64_t>(c - '0') * scale;
    scale /= 10;
  }
  if (micro > kMaxMicroEpsilon) return bad();
  return micro;
}

std::string FormatEpsilon(uint64_t micro_epsilon) {
  const uint64_t whole = micro_epsilon / kMicroEpsilonPerEpsilon;
  uint64_t fraction = micro_epsilon % kMicroEpsilonPerEpsilon;
  if (fraction == 0) return std::to_string(whole);
  int width = 6;
  while (fraction % 10 == 0) {
    fraction /= 10;
    --width;
  }
  return fmt::format("{}.{:0{}}", whole, fraction, width);
}

}  // namespace tessera::collab
