#pragma once

// UTF-8 validation for fields, with a fast path for ASCII (most order data).

#include <string_view>

namespace tessera::io::internal {

// True if `text` is well-formed UTF-8: no overlong forms, no surrogates, nothing above
// U+10FFFF, no truncated sequences.
bool IsValidUtf8(std::string_view text);

}  // namespace tessera::io::internal
