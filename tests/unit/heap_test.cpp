// heap_test.cpp: prepare_heap_for (heap.h) grows the heap at once for a
// large config, and leaves it alone for a small or missing one. Each case
// runs in a child process: the malloc settings are the process's.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "heap.h"

namespace fs = std::filesystem;

namespace {

std::string file_of(size_t size) {
  fs::path p = fs::path(::testing::TempDir()) / ("vpnpt-heap-" + std::to_string(getpid()) + "-" + std::to_string(size));
  std::ofstream(p) << std::string(size, '#');
  return p;
}

// How far the brk heap grows while `f` runs, then while 4 MiB are
// allocated in 64-byte blocks.
std::pair<size_t, size_t> growth(const std::string& path) {
  auto at = [] { return reinterpret_cast<uintptr_t>(sbrk(0)); };
  uintptr_t start = at();
  vpnpt::prepare_heap_for(path);
  uintptr_t prepared = at();
  std::vector<void*> blocks;
  for (int i = 0; i < 65536; ++i) blocks.push_back(std::malloc(64));
  uintptr_t used = at();
  for (void* b : blocks) std::free(b);
  return {prepared - start, used - prepared};
}

TEST(Heap, LargeConfigReservesTheHeapAtOnce) {
  const std::string big = file_of(256 * 1024);  // about 3,000 forwards
  EXPECT_EXIT(
      {
        const auto g = growth(big);
        // Reserved in one step; the allocations after it need no more.
        std::exit(g.first >= 256 * 1024 * vpnpt::kHeapPerConfigByte && g.second == 0 ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
  fs::remove(big);
}

TEST(Heap, SmallOrMissingConfigChangesNothing) {
  const std::string small = file_of(vpnpt::kHeapConfigMin - 1);
  for (const std::string& path : {small, small + ".missing", std::string("/dev/null")})
    EXPECT_EXIT(
        {
          const auto g = growth(path);
          std::exit(g.first == 0 && g.second > 0 ? 0 : 1);
        },
        ::testing::ExitedWithCode(0), "")
        << path;
  fs::remove(small);
}

}  // namespace
