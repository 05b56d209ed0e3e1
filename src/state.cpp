// state.cpp: the lock and the applied record (see state.h).
#include "state.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "error.h"

namespace vpnpt {

namespace {

std::string netns_key() {
  struct stat st{};
  if (stat("/proc/self/ns/net", &st) != 0) return "default";
  return std::to_string(static_cast<unsigned long long>(st.st_ino));
}

std::string path_of(const char* what) { return run_dir() + "/" + what + "-" + netns_key(); }

void ensure_run_dir() {
  std::error_code ec;
  std::filesystem::create_directories(run_dir(), ec);
  if (ec)
    throw Error(ErrorKind::Kernel, run_dir(), "cannot create: " + ec.message(),
                "vpnpt needs root to change the firewall");
}

}  // namespace

std::string run_dir() {
  const char* env = std::getenv("VPNPT_RUN_DIR");
  return env && *env ? env : "/run/vpnpt";
}

std::string keep_transaction(const std::string& text) {
  ensure_run_dir();
  std::string path = path_of("transaction") + ".nft";
  std::string tmp = path + ".XXXXXX";
  int fd = mkstemp(tmp.data());
  if (fd < 0) throw Error(ErrorKind::Kernel, tmp, std::string("cannot create: ") + std::strerror(errno));
  bool ok = write(fd, text.data(), text.size()) == ssize_t(text.size());
  ok = close(fd) == 0 && ok;
  if (!ok || rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    unlink(tmp.c_str());
    throw Error(ErrorKind::Kernel, path, std::string("cannot write: ") + std::strerror(e));
  }
  return path;
}

Lock::Lock() {
  ensure_run_dir();
  std::string path = path_of("lock");
  fd_ = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) throw Error(ErrorKind::Kernel, path, std::string("cannot open lock: ") + std::strerror(errno));
  if (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {};
    ssize_t n = pread(fd_, buf, sizeof buf - 1, 0);
    std::string pid = n > 0 ? std::string(buf, n) : "?";
    while (!pid.empty() && (pid.back() == '\n')) pid.pop_back();
    close(fd_);
    fd_ = -1;
    throw Error(ErrorKind::Locked, path, "held by another vpnpt (pid " + pid + ")",
                "wait for it to finish, then try again");
  }
  std::string pid = std::to_string(getpid()) + "\n";
  if (ftruncate(fd_, 0) == 0) (void)!pwrite(fd_, pid.data(), pid.size(), 0);
}

Lock::~Lock() {
  if (fd_ >= 0) close(fd_);  // releases the flock
}

void save_applied(const AppliedRecord& rec) {
  ensure_run_dir();
  nlohmann::json j = {{"config", rec.config_path},       {"digest", rec.digest},
                      {"listing_digest", rec.listing_digest}, {"esp_mode", rec.esp_mode},
                      {"esp_note", rec.esp_note}};
  std::string path = path_of("applied");
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << j.dump() << "\n";
    if (!out) throw Error(ErrorKind::Kernel, tmp, "cannot write");
  }
  std::filesystem::rename(tmp, path);
}

std::optional<AppliedRecord> load_applied() {
  std::ifstream in(path_of("applied"));
  if (!in) return std::nullopt;
  try {
    nlohmann::json j = nlohmann::json::parse(in);
    return AppliedRecord{j.value("config", ""), j.value("digest", ""), j.value("listing_digest", ""),
                         j.value("esp_mode", ""), j.value("esp_note", "")};
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;  // a damaged record is as good as none: drift is "unknown"
  }
}

void forget_applied() {
  std::error_code ec;
  std::filesystem::remove(path_of("applied"), ec);
}

}  // namespace vpnpt
