#pragma once

// The JSON Lines implementation of RowSource. Internal to tessera_io: callers use
// RowSource::Open.

#include <memory>

#include "io/input_stream.h"
#include "tessera/io/row_source.h"

namespace tessera::io::internal {

// Creates a JSON Lines reader over `input`, whose window starts at the first byte of the file
// after any UTF-8 BOM. Peeks at the first non-blank line to learn the columns (its keys, in
// order). A line may be at most 16 * max_field_bytes long.
// Errors: kInvalidArgument (no non-blank line; the first line is not a JSON object),
// kDataLoss (the input could not be read).
StatusOr<std::unique_ptr<RowSource>> OpenJsonLinesSource(std::unique_ptr<InputBuffer> input,
                                                         size_t max_field_bytes);

}  // namespace tessera::io::internal
