// state.cpp: the lock and the applied record (see state.h).
#include "state.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "error.h"

namespace vpnpt {

namespace {

std::string netns_key() {
  struct stat st{};
  if (stat("/proc/self/ns/net", &st) != 0) return "default";
  return std::to_string(static_cast<unsigned long long>(st.st_ino));
}

std::string path_of(const std::string& dir, const char* what) { return dir + "/" + what + "-" + netns_key(); }

std::string octal(unsigned mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", mode & 07777);
  return buf;
}

// The run folder, made 0700 whatever the umask. One that exists already must
// be a real folder (not a symlink), ours, and writable by nobody else:
// whoever can write in it could plant the files apply trusts.
void ensure_run_dir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(dir).parent_path(), ec);
  if (mkdir(dir.c_str(), 0700) == 0) {
    if (chmod(dir.c_str(), 0700) != 0)
      throw Error(ErrorKind::Kernel, dir, std::string("cannot set mode 0700: ") + std::strerror(errno));
    return;
  }
  if (errno != EEXIST)
    throw Error(ErrorKind::Kernel, dir, std::string("cannot create: ") + std::strerror(errno),
                "vpnpt needs root to change the firewall");
  struct stat st{};
  if (lstat(dir.c_str(), &st) != 0)
    throw Error(ErrorKind::Kernel, dir, std::string("cannot stat: ") + std::strerror(errno));
  if (!S_ISDIR(st.st_mode))
    throw Error(ErrorKind::Kernel, dir, "not a folder (a symlink or a file is not trusted)",
                "remove it; vpnpt creates the folder itself");
  if (st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH)))
    throw Error(ErrorKind::Kernel, dir,
                "unsafe: mode " + octal(st.st_mode) + ", owner uid " + std::to_string(st.st_uid) +
                    " (it must belong to uid " + std::to_string(geteuid()) + " and be writable by it alone)",
                "chmod go-w " + dir + ", or remove it and let vpnpt create it");
}

// Open a state file without following a symlink, and only if it is a
// regular file (a FIFO or device planted there is refused, not waited on).
int open_state(const std::string& path, int flags) {
  int fd = open(path.c_str(), flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  struct stat st{};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    errno = EINVAL;
    return -1;
  }
  return fd;
}

}  // namespace

void replace_file(const std::string& path, const std::string& text) {
  std::string tmp = path + ".XXXXXX";
  int fd = mkstemp(tmp.data());
  if (fd < 0) throw Error(ErrorKind::Kernel, tmp, std::string("cannot create: ") + std::strerror(errno));
  bool ok = fchmod(fd, 0600) == 0;
  for (size_t done = 0; ok && done < text.size();) {
    ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) done += size_t(n);
  }
  ok = ok && fsync(fd) == 0;
  int e = ok ? 0 : errno;
  ok = close(fd) == 0 && ok;
  if (ok && rename(tmp.c_str(), path.c_str()) == 0) return;
  if (!e) e = errno;
  unlink(tmp.c_str());
  throw Error(ErrorKind::Kernel, path, std::string("cannot write: ") + std::strerror(e));
}

std::string keep_transaction(const std::string& run_dir, const std::string& text) {
  ensure_run_dir(run_dir);
  std::string path = path_of(run_dir, "transaction") + ".nft";
  replace_file(path, text);
  return path;
}

Lock::Lock(const std::string& run_dir) {
  ensure_run_dir(run_dir);
  std::string path = path_of(run_dir, "lock");
  fd_ = open_state(path, O_RDWR | O_CREAT);
  if (fd_ >= 0 && fchmod(fd_, 0600) != 0) {
    close(fd_);
    fd_ = -1;
  }
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

nlohmann::json applied_to_json(const AppliedRecord& rec) {
  nlohmann::json j = {{"config", rec.config_path},       {"digest", rec.digest},
                      {"listing_digest", rec.listing_digest}, {"esp_mode", rec.esp_mode},
                      {"esp_note", rec.esp_note}, {"lister", rec.lister}};
  if (rec.generation) j["generation"] = *rec.generation;
  if (rec.ike_since_ns) j["ike_since_ns"] = rec.ike_since_ns;
  if (rec.sessions_checked) j["sessions_checked"] = true;
  return j;
}

std::optional<AppliedRecord> applied_from_json(const nlohmann::json& j) {
  try {
    AppliedRecord rec{j.value("config", ""),   j.value("digest", ""),   j.value("listing_digest", ""),
                      j.value("esp_mode", ""), j.value("esp_note", ""), std::nullopt,
                      j.value("lister", "")};
    if (j.contains("generation") && j["generation"].is_number_unsigned())
      rec.generation = j["generation"].get<uint32_t>();
    if (j.contains("ike_since_ns") && j["ike_since_ns"].is_number_unsigned())
      rec.ike_since_ns = j["ike_since_ns"].get<uint64_t>();
    rec.sessions_checked = j.value("sessions_checked", false);
    return rec;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;  // a damaged record is as good as none: drift is "unknown"
  }
}

void save_applied(const std::string& run_dir, const AppliedRecord& rec) {
  ensure_run_dir(run_dir);
  replace_file(path_of(run_dir, "applied"), applied_to_json(rec).dump() + "\n");
}

namespace {

std::optional<std::string> read_state(const std::string& path) {
  int fd = open_state(path, O_RDONLY);
  if (fd < 0) return std::nullopt;
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) text.append(buf, size_t(n));
  close(fd);
  return text;
}

}  // namespace

std::optional<AppliedRecord> load_applied(const std::string& run_dir) {
  auto text = read_state(path_of(run_dir, "applied"));
  if (!text) return std::nullopt;
  try {
    return applied_from_json(nlohmann::json::parse(*text));
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

void save_pending(const std::string& run_dir, const std::string& text) {
  ensure_run_dir(run_dir);
  replace_file(path_of(run_dir, "pending"), text);
}

std::optional<std::string> load_pending(const std::string& run_dir) { return read_state(path_of(run_dir, "pending")); }

void forget_pending(const std::string& run_dir) {
  std::error_code ec;
  std::filesystem::remove(path_of(run_dir, "pending"), ec);
}

void forget_applied(const std::string& run_dir) {
  std::error_code ec;
  std::filesystem::remove(path_of(run_dir, "applied"), ec);
}

}  // namespace vpnpt
