#pragma once

// Test and fuzzing hooks behind RowSource::Open. Internal to tessera_io.

#include <memory>
#include <string>

#include "tessera/io/row_source.h"

namespace tessera::io::internal {

// RowSource::Open with a chosen read size: tiny blocks make every row cross a block boundary,
// which is how tests and the fuzzer exercise the buffer-refill paths. Same errors as Open.
StatusOr<std::unique_ptr<RowSource>> OpenRowSource(const std::string& path,
                                                   const SourceOptions& options, size_t block_size);

}  // namespace tessera::io::internal
