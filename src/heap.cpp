// heap.cpp: see heap.h.
#include "heap.h"

#include <malloc.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>

namespace vpnpt {

void prepare_heap_for(const std::string& config_path) {
  struct stat st{};
  if (stat(config_path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || size_t(st.st_size) < kHeapConfigMin) return;
  constexpr size_t kHuge = 2u << 20, kMax = 256u << 20;
  size_t want = size_t(st.st_size) * kHeapPerConfigByte;
  if (want > kMax || want / kHeapPerConfigByte != size_t(st.st_size)) want = kMax;
  // Blocks up to 32 MiB (glibc's most) from the brk heap: above 128 KiB
  // glibc maps them apart and unmaps them on free, so that the next one
  // faults in again. Nothing given back before exit.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, int(kMax));
  // The next growth of the heap takes `want` more at once.
  mallopt(M_TOP_PAD, int(want));
  auto before = reinterpret_cast<uintptr_t>(sbrk(0));
  void* block = std::malloc(kHuge);  // more than the heap has left at start-up: it grows
  if (block) *static_cast<volatile char*>(block) = 0;  // (or the compiler drops the pair)
  auto after = reinterpret_cast<uintptr_t>(sbrk(0));
  std::free(block);  // back to the top of the heap, where the next allocations come from
  mallopt(M_TOP_PAD, 128 << 10);  // glibc's default
  if (after > before) {
    // Whole huge pages inside the new part of the heap: a page fault there
    // maps 2 MiB at once (THP "always" or "madvise"; ignored otherwise).
    uintptr_t from = (before + kHuge - 1) & ~uintptr_t(kHuge - 1), to = after & ~uintptr_t(kHuge - 1);
    if (to > from) madvise(reinterpret_cast<void*>(from), to - from, MADV_HUGEPAGE);
  }
}

}  // namespace vpnpt
