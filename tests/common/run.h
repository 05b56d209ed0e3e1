// tests/common/run.h: run a shell command, capture what it prints. The one
// popen helper of the C++ tests (unit, netns).
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace vpnpt_test {

struct Result {
  int status;       // exit status; -1 when it did not exit (a signal)
  std::string out;  // stdout and stderr together
};

inline Result run(const std::string& cmd) {
  Result r{-1, {}};
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

}  // namespace vpnpt_test
