#include "tessera/common/parallel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace tessera {
namespace {

TEST(ParallelChunks, CoversEveryItemOnceInChunksOfTheGivenSize) {
  for (unsigned threads : {1u, 2u, 4u, 0u}) {
    for (size_t n : {size_t{0}, size_t{1}, size_t{7}, size_t{1000}, size_t{1001}}) {
      std::vector<std::atomic<int>> seen(n);
      std::mutex mutex;
      std::set<std::pair<size_t, size_t>> chunks;
      const Status s = ParallelChunks(
          n, 100,
          [&](size_t begin, size_t end) {
            for (size_t i = begin; i < end; ++i) seen[i]++;
            std::lock_guard lock(mutex);
            chunks.emplace(begin, end);
            return OkStatus();
          },
          threads);
      ASSERT_TRUE(s.ok()) << s.ToString();
      for (size_t i = 0; i < n; ++i) EXPECT_EQ(seen[i].load(), 1) << "item " << i << " n " << n;
      EXPECT_EQ(chunks.size(), (n + 99) / 100);
      size_t expected_begin = 0;
      for (const auto& [begin, end] : chunks) {
        EXPECT_EQ(begin, expected_begin);
        EXPECT_EQ(end, std::min(n, begin + 100));
        expected_begin = end;
      }
    }
  }
}

TEST(ParallelChunks, UsesMoreThanOneThreadWhenAskedTo) {
  std::mutex mutex;
  std::set<std::thread::id> ids;
  std::atomic<int> running = 0, overlapped = 0;
  ASSERT_TRUE(ParallelChunks(
                  64, 1,
                  [&](size_t, size_t) {
                    if (++running > 1) overlapped = 1;
                    std::this_thread::sleep_for(std::chrono::milliseconds(2));
                    --running;
                    std::lock_guard lock(mutex);
                    ids.insert(std::this_thread::get_id());
                    return OkStatus();
                  },
                  4)
                  .ok());
  EXPECT_GT(ids.size(), 1u);
  EXPECT_EQ(overlapped.load(), 1);
  EXPECT_TRUE(ids.count(std::this_thread::get_id()));  // the caller works too
}

// The error reported is the one an in-order loop hits first, whatever the threads' timing.
TEST(ParallelChunks, ReportsTheFailureOfTheLowestFailingChunk) {
  for (int round = 0; round < 20; ++round) {
    const Status s = ParallelChunks(
        10000, 10,
        [&](size_t begin, size_t) {
          if (begin == 5000 || begin == 7770 || begin == 9990) {
            // The later failures come first in time.
            if (begin == 5000) std::this_thread::sleep_for(std::chrono::milliseconds(1));
            return InvalidArgumentError("chunk {}", begin);
          }
          return OkStatus();
        },
        4);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.message(), "chunk 5000");
  }
  const Status one = ParallelChunks(
      5, 10, [](size_t, size_t) { return InternalError("only"); }, 4);
  EXPECT_EQ(one.message(), "only");
}

}  // namespace
}  // namespace tessera
