// confirm.cpp: confirm-or-revert (see confirm.h).
#include "confirm.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <ostream>
#include <thread>

#include <nlohmann/json.hpp>

#include "error.h"
#include "esp.h"
#include "nft.h"
#include "ruleset.h"
#include "state.h"
#include "table_digest.h"

namespace vpnpt {

namespace {

using nlohmann::json;

uint64_t now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return uint64_t(ts.tv_sec) * 1000 + uint64_t(ts.tv_nsec) / 1000000;
}

std::string new_token() {
  unsigned char b[8];
  if (getrandom(b, sizeof b, 0) != sizeof b)
    throw Error(ErrorKind::Kernel, "getrandom", std::strerror(errno));
  char hex[17];
  for (int i = 0; i < 8; ++i) std::snprintf(hex + 2 * i, 3, "%02x", b[i]);
  return hex;
}

std::string table_ref() { return std::string(kTableFamily) + " " + kTableName; }

json params_json(const espmux::Params& p) {
  return {{"idle_timeout", p.idle_timeout}, {"pending_timeout", p.pending_timeout},
          {"drain_timeout", p.drain_timeout}, {"max_per_host", p.max_per_host},
          {"max_per_peer", p.max_per_peer}, {"max_mappings", p.max_mappings},
          {"keep_ike_port", p.keep_ike_port}, {"enabled", p.enabled}, {"wan", p.wan_ifname}};
}

espmux::Params params_from(const json& j) {
  espmux::Params p;
  p.idle_timeout = j.at("idle_timeout");
  p.pending_timeout = j.at("pending_timeout");
  p.drain_timeout = j.at("drain_timeout");
  p.max_per_host = j.at("max_per_host");
  p.max_per_peer = j.at("max_per_peer");
  p.max_mappings = j.at("max_mappings");
  p.keep_ike_port = j.at("keep_ike_port");
  p.enabled = j.at("enabled");
  p.wan_ifname = j.at("wan");
  return p;
}

std::optional<json> pending(const Options& opt) {
  auto text = load_pending(opt.run_dir);
  if (!text) return std::nullopt;
  try {
    return json::parse(*text);
  } catch (const json::exception&) {
    throw Error(ErrorKind::Kernel, opt.run_dir, "the pending apply --confirm snapshot is damaged",
                "remove pending-* in the run folder; the table stays as it is");
  }
}

// What is loaded now: the table as libnftables lists it (with counter
// values, so that a restore is byte for byte), the module's parameters, and
// the applied record that describes the table.
json snapshot(const Options& opt) {
  json s;
  Nft nft;
  std::string out, err;
  if (nft.try_run("list table " + table_ref() + "\n", &out, &err))
    s["table"] = out;
  else if (err.find("No such file or directory") != std::string::npos)
    s["table"] = nullptr;
  else
    throw Error(ErrorKind::Kernel, "apply --confirm", "cannot list table " + table_ref() + ": " + err);
  s["esp"] = espmux::family_present() ? params_json(espmux::get_params()) : json();
  // The table's drift digest as it is now: whether the record describes it.
  auto td = table_digest();
  s["table_digest"] = td ? td->digest : "";
  auto rec = load_applied(opt.run_dir);
  s["applied"] = rec ? applied_to_json(*rec) : json();
  return s;
}

// Put the snapshot back: the table in one transaction, then the module's
// parameters and the record.
void restore(const Options& opt, const json& snap) {
  std::string text = "add table " + table_ref() + "\ndelete table " + table_ref() + "\n";
  if (snap.at("table").is_string()) text += snap["table"].get<std::string>();
  Nft nft;
  std::string err, source;
  if (!nft.try_load(text, &err, &source, /*dry_run=*/false))
    throw Error(ErrorKind::Kernel, "revert", "nftables refused the snapshot; the table is as apply left it\n" + err);
  if (espmux::family_present()) {
    if (snap.at("esp").is_object())
      espmux::set_params(params_from(snap["esp"]));
    else
      esp_release();  // the module was not loaded before: it stops multiplexing here
  }
  if (snap.at("applied").is_object()) {
    if (auto rec = applied_from_json(snap["applied"])) {
      // The table is back, but loaded from its listing: the kernel holds it
      // as libnftables parsed that text, which need not be the very objects
      // apply loaded (table_digest.h). If the record described the table
      // when the snapshot was taken, it describes the restored one: its
      // digest is read again. A table that had drifted stays drifted.
      if (!rec->listing_digest.empty() && snap.value("table_digest", "") == rec->listing_digest) {
        if (auto td = table_digest()) rec->listing_digest = td->digest;
      }
      rec->generation.reset();  // the restore was a commit of its own
      save_applied(opt.run_dir, *rec);
    }
  } else {
    forget_applied(opt.run_dir);
  }
}

bool systemd_here() {
  struct stat sys{}, mine{}, init{};
  return stat("/run/systemd/system", &sys) == 0 && S_ISDIR(sys.st_mode) && stat("/proc/self/ns/net", &mine) == 0 &&
         stat("/proc/1/ns/net", &init) == 0 && mine.st_ino == init.st_ino && access("/usr/bin/systemd-run", X_OK) == 0;
}

std::string self_exe() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) throw Error(ErrorKind::Kernel, "/proc/self/exe", std::strerror(errno));
  return std::string(buf, size_t(n));
}

// Run argv and wait; true on exit status 0. Output goes to /dev/null.
bool run_quietly(const std::vector<std::string>& args) {
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    int null = open("/dev/null", O_RDWR);
    dup2(null, 0), dup2(null, 1), dup2(null, 2);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
  return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

// A process that outlives the SSH session: its own session (setsid), not a
// child of ours (double fork: init adopts it), SIGHUP ignored, no terminal.
// It re-executes this binary as "revert --wait". Returns its pid.
pid_t spawn_detached(const std::vector<std::string>& args) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw Error(ErrorKind::Kernel, "pipe", std::strerror(errno));
  pid_t child = fork();
  if (child < 0) throw Error(ErrorKind::Kernel, "fork", std::strerror(errno));
  if (child == 0) {
    close(fds[0]);
    setsid();
    signal(SIGHUP, SIG_IGN);
    pid_t grandchild = fork();
    if (grandchild != 0) _exit(grandchild < 0 ? 1 : 0);
    pid_t me = getpid();
    (void)!write(fds[1], &me, sizeof me);  // closed by exec (O_CLOEXEC)
    int null = open("/dev/null", O_RDWR);
    dup2(null, 0), dup2(null, 1), dup2(null, 2);
    if (chdir("/") != 0) _exit(1);
    // Every other descriptor is O_CLOEXEC (the lock's too: it must not be
    // held by the waiter).
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(fds[1]);
  int st = 0;
  while (waitpid(child, &st, 0) < 0 && errno == EINTR) {}
  pid_t pid = 0;
  ssize_t n;
  while ((n = read(fds[0], &pid, sizeof pid)) < 0 && errno == EINTR) {}
  close(fds[0]);
  if (n != sizeof pid) throw Error(ErrorKind::Kernel, "apply --confirm", "could not start the reverting process");
  return pid;
}

}  // namespace

Armed confirm_arm(const Options& opt, unsigned seconds) {
  Armed armed;
  json p;
  if (auto old = pending(opt)) {
    p = *old;  // keep the state from before the first apply --confirm
    armed.fresh = false;
  } else {
    p["snapshot"] = snapshot(opt);
  }
  const std::string token = armed.token = new_token();
  p["token"] = token;
  p["deadline_ms"] = now_ms() + uint64_t(seconds) * 1000;
  save_pending(opt.run_dir, p.dump() + "\n");

  const std::string exe = self_exe();
  if (systemd_here()) {
    std::string unit = "vpnpt-revert-" + token;
    if (run_quietly({"/usr/bin/systemd-run", "--quiet", "--unit=" + unit, "--on-active=" + std::to_string(seconds),
                     "--timer-property=AccuracySec=100ms", exe, "--run-dir", opt.run_dir, "revert", "--token",
                     token})) {
      armed.by = "systemd timer " + unit + ".timer";
      return armed;
    }
  }
  pid_t pid = spawn_detached({exe, "--run-dir", opt.run_dir, "revert", "--wait", "--token", token});
  armed.by = "detached process, pid " + std::to_string(pid);
  return armed;
}

void confirm_disarm(const Options& opt, const Armed& armed) {
  if (!armed.fresh) return;
  try {
    auto p = pending(opt);
    if (!p || p->value("token", "") != armed.token) return;
    forget_pending(opt.run_dir);
  } catch (const Error&) {
  }
}

void run_confirm(const Options& opt, std::ostream& out) {
  Lock lock(opt.run_dir);
  auto p = pending(opt);
  if (!p)
    throw Error(ErrorKind::Kernel, "confirm", "no apply --confirm is waiting",
                "it was confirmed already, or its time ran out and the previous table was restored");
  if (now_ms() >= p->value("deadline_ms", uint64_t(0)))
    throw Error(ErrorKind::Kernel, "confirm", "too late: the deadline has passed and the revert is under way",
                "run vpnpt apply again once it is done");
  forget_pending(opt.run_dir);
  out << "confirmed: table " << table_ref() << " stays as applied\n";
}

void run_revert(const Options& opt, const std::string& token, bool wait, std::ostream& out) {
  // The detached process: wait for the deadline, giving up as soon as the
  // snapshot is gone or re-armed (confirmed, or a newer apply --confirm).
  auto mine = [&](const std::optional<json>& p) { return p && (token.empty() || p->value("token", "") == token); };
  if (wait) {
    for (;;) {
      auto p = pending(opt);
      if (!mine(p)) return;
      if (now_ms() >= p->value("deadline_ms", uint64_t(0))) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  // The lock: an apply or confirm under way finishes first.
  std::optional<Lock> lock;
  for (int i = 0; !lock; ++i) {
    try {
      lock.emplace(opt.run_dir);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::Locked || !wait || i > 600) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  auto p = pending(opt);
  if (!mine(p)) {
    if (token.empty()) throw Error(ErrorKind::Kernel, "revert", "no apply --confirm is waiting");
    return;  // confirmed meanwhile
  }
  restore(opt, p->at("snapshot"));
  forget_pending(opt.run_dir);
  out << "reverted: table " << table_ref() << " and the vpnpt_esp module are as before apply --confirm\n";
}

}  // namespace vpnpt
