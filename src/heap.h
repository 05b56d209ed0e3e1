// heap.h: a heap laid out for one big, short run (apply and check of a
// large config).
#pragma once

#include <cstddef>
#include <string>

namespace vpnpt {

// Before parsing and loading the config at `config_path`: when it is large,
// reserve the heap that the run will need at once, ask for transparent huge
// pages on it and keep freed memory for reuse instead of handing it back. At
// 10,000 forwards apply touches about 30 MiB; page by page that is some 7,500
// page faults, which cost more CPU than the parse and the render together on
// a virtual machine. Best effort: nothing changes when the file is small or
// cannot be read, or the kernel has no transparent huge pages. The price: up
// to one huge page of resident memory more and, with THP defrag "madvise"
// on a fragmented machine, the kernel may compact memory for a huge page
// instead of handing out small ones (it falls back to them when it cannot).
void prepare_heap_for(const std::string& config_path);

// The size from which prepare_heap_for acts, and how much it reserves per
// byte of config (both for the tests).
constexpr size_t kHeapConfigMin = 32 * 1024;
constexpr size_t kHeapPerConfigByte = 48;

}  // namespace vpnpt
