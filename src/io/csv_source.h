#pragma once

// The CSV implementation of RowSource. Internal to tessera_io: callers use RowSource::Open.

#include <memory>

#include "io/input_stream.h"
#include "tessera/io/row_source.h"

namespace tessera::io::internal {

// Creates a CSV reader over `input`, whose window starts at the first byte of the file after
// any UTF-8 BOM. Detects the delimiter when options.delimiter is 0, then reads the header
// (or, without a header, peeks at the first row to count the columns).
// Errors: kInvalidArgument (no row at all; a header that is not valid UTF-8, has an
// unterminated quote or a field longer than options.max_field_bytes; a delimiter that is a
// quote or a line break), kDataLoss (the input could not be read).
StatusOr<std::unique_ptr<RowSource>> OpenCsvSource(std::unique_ptr<InputBuffer> input,
                                                   const CsvOptions& options);

}  // namespace tessera::io::internal
