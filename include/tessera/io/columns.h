#pragma once

// How an error message may show the columns of an input's first row.

#include <string>
#include <vector>

namespace tessera::io {

struct ColumnsDescription {
  std::string text;              // for "columns found: <text>"
  bool looks_like_data = false;  // the first row looks like a data row, not a header
};

// The column names for a message, or, when the row they came from looks like data, only how
// many there are and which kind of value makes each suspect look like data.
//
// Privacy: a file without a header row has a data row where its names should be (order ids,
// customer numbers, e-mails, names such as "Jane Doe"). A name alone cannot tell "Jane Doe"
// from "Customer name", but a row of data can be told from a header by its other cells: when
// any cell holds two digits or more, an '@' or over 64 bytes, no cell of the row is shown.
ColumnsDescription DescribeColumns(const std::vector<std::string>& columns, bool quoted = false);

}  // namespace tessera::io
