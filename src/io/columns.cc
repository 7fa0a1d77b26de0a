#include "tessera/io/columns.h"

#include <fmt/format.h>

#include <algorithm>

namespace tessera::io {
namespace {

// Why a cell looks like a value rather than a column name; nullptr when it does not.
const char* DataLike(const std::string& cell) {
  if (cell.find('@') != std::string::npos) return "an '@'";
  if (cell.size() > 64) return "over 64 bytes";
  const auto digits =
      std::count_if(cell.begin(), cell.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
  if (digits >= 2) return "digits";
  return nullptr;
}

}  // namespace

ColumnsDescription DescribeColumns(const std::vector<std::string>& columns, bool quoted) {
  ColumnsDescription d;
  if (columns.empty()) {
    d.text = "(none)";
    return d;
  }
  std::string reasons;
  size_t suspects = 0;
  for (size_t i = 0; i < columns.size(); ++i) {
    const char* why = DataLike(columns[i]);
    if (why == nullptr) continue;
    // A few positions say enough; a wide row would make the message a wall.
    if (++suspects <= 5) {
      reasons += fmt::format("{}column {}: {}", reasons.empty() ? "" : "; ", i + 1, why);
    }
  }
  if (suspects > 0) {
    d.looks_like_data = true;
    d.text = fmt::format(
        "{} column{} in a first row that looks like data, not a header ({}{}); its values are "
        "not shown",
        columns.size(), columns.size() == 1 ? "" : "s", reasons,
        suspects > 5 ? fmt::format("; {} more", suspects - 5) : "");
    return d;
  }
  for (const std::string& c : columns) {
    if (!d.text.empty()) d.text += ", ";
    d.text += quoted ? "\"" + c + "\"" : c;
  }
  return d;
}

}  // namespace tessera::io
