#pragma once

// Work split over the machine's cores, for loops whose items cost the same and share nothing
// (blinding points, computing match tokens).

#include <cstddef>
#include <functional>

#include "tessera/common/status.h"

namespace tessera {

// Calls work(begin, end) over [0, n) in consecutive chunks of at most `chunk` items (the last
// may be shorter), on up to `threads` threads (0: one per core), the calling thread among them.
// Chunks are handed out in order as threads become free, so uneven chunks even out; a single
// chunk stays on the calling thread (starting a thread costs more than it would save).
// Returns OK, or the failure of the chunk with the lowest begin among those that failed: once a
// chunk fails no further chunk starts, chunks already running finish, and every chunk before
// the failed one has run — so the error is the same as a loop in order would report.
Status ParallelChunks(size_t n, size_t chunk, const std::function<Status(size_t, size_t)>& work,
                      unsigned threads = 0);

}  // namespace tessera
