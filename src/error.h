// error.h: the one error type vpnpt throws, and the exit status each kind maps to.
//
// A message reads "subject: problem", optionally followed by a hint line that
// says what to do about it (the mold/bpftrace convention). main() catches
// vpnpt::Error, prints "vpnpt: error: <subject>: <problem>" and exits with
// exit_code(kind). The codes are documented in vpnpt(8); keep them stable.
#pragma once

#include <stdexcept>
#include <string>

namespace vpnpt {

enum class ErrorKind {
  Internal = 1,  // a bug or an unexpected failure
  Usage = 2,     // bad command line
  Config = 3,    // the configuration file is wrong; nothing was changed
  Kernel = 4,    // the kernel refused or lacks something; nothing was changed
  Locked = 5,    // another vpnpt holds the lock
  Unsafe = 6,    // the config file can be changed by someone else; nothing was changed
  Findings = 7,  // never thrown: vpnpt doctor's status when it found something in the way
  // 8: never thrown: vpnpt diff's status when there are changes to apply
  Refused = 9,   // vpnpt mux import: the module refused a mapping; what the run added was removed
};

inline int exit_code(ErrorKind k) { return static_cast<int>(k); }

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string subject, std::string problem, std::string hint = {})
      : std::runtime_error(subject.empty() ? problem : subject + ": " + problem),
        kind_(kind), subject_(std::move(subject)), problem_(std::move(problem)),
        hint_(std::move(hint)) {}

  ErrorKind kind() const { return kind_; }
  const std::string& subject() const { return subject_; }
  const std::string& problem() const { return problem_; }
  const std::string& hint() const { return hint_; }

 private:
  ErrorKind kind_;
  std::string subject_;
  std::string problem_;
  std::string hint_;
};

}  // namespace vpnpt
