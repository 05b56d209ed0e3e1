// pair.cpp: the router-pair part of "vpnpt status" (see pair.h).
#include "pair.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>

namespace vpnpt {

namespace {

constexpr const char* kDefaultConfig = "/etc/conntrackd/conntrackd.conf";
constexpr const char* kDefaultSocket = "/var/run/conntrackd.ctl";
constexpr int kStatsRequest = 21;  // conntrackd's STATS request ("conntrackd -s")

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

std::vector<std::string> ipv4_addresses(const std::string& ifname) {
  std::vector<std::string> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* a = list; a; a = a->ifa_next) {
    if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET || ifname != a->ifa_name) continue;
    char buf[INET_ADDRSTRLEN];
    const auto* sin = reinterpret_cast<const sockaddr_in*>(a->ifa_addr);
    if (inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf)) out.emplace_back(buf);
  }
  freeifaddrs(list);
  return out;
}

// A conntrackd process in this network namespace: its pid and config file.
std::optional<std::pair<int, std::string>> find_conntrackd() {
  struct stat self{};
  if (stat("/proc/self/ns/net", &self) != 0) return std::nullopt;
  DIR* d = opendir("/proc");
  if (!d) return std::nullopt;
  std::optional<std::pair<int, std::string>> found;
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (*end || pid <= 0 || pid == getpid()) continue;
    const std::string dir = std::string("/proc/") + e->d_name;
    std::string comm = read_file(dir + "/comm");
    if (comm != "conntrackd\n") continue;
    struct stat ns{};
    if (stat((dir + "/ns/net").c_str(), &ns) != 0 || ns.st_ino != self.st_ino || ns.st_dev != self.st_dev)
      continue;
    const std::string cmd = read_file(dir + "/cmdline");
    std::vector<std::string> argv;
    for (size_t pos = 0; pos < cmd.size();) {
      const size_t nul = cmd.find('\0', pos);
      argv.push_back(cmd.substr(pos, nul == std::string::npos ? std::string::npos : nul - pos));
      if (nul == std::string::npos) break;
      pos = nul + 1;
    }
    std::string config = kDefaultConfig;
    bool daemon = true;  // "conntrackd -C x -s" and friends are clients of the daemon
    for (size_t i = 1; i < argv.size(); ++i) {
      if (argv[i] == "-C" && i + 1 < argv.size()) config = argv[++i];
      else if (argv[i].rfind("-C", 0) == 0 && argv[i].size() > 2) config = argv[i].substr(2);
      else if (argv[i] != "-d" && argv[i].size() == 2 && argv[i][0] == '-') daemon = false;
    }
    if (!daemon) continue;
    found = {static_cast<int>(pid), config};
    break;
  }
  closedir(d);
  return found;
}

// Send REQUEST on the UNIX socket PATH and read the answer to the end.
bool ask(const std::string& path, int request, std::string& answer, std::string& error) {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) {
    close(fd);
    error = "socket path too long: " + path;
    return false;
  }
  std::memcpy(sa.sun_path, path.c_str(), path.size());
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
      send(fd, &request, sizeof request, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof request)) {
    error = path + ": " + std::strerror(errno);
    close(fd);
    return false;
  }
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof buf, 0)) > 0) answer.append(buf, static_cast<size_t>(n));
  close(fd);
  return true;
}

}  // namespace

const char* PairStatus::role() const {
  if (wan_interface.empty()) return "unknown";
  return wan_addresses.empty() ? "standby" : "active";
}

std::string conntrackd_socket_path(const std::string& config_text) {
  // Comments out, then the Path inside the UNIX { } block.
  std::string text;
  std::istringstream in(config_text);
  for (std::string line; std::getline(in, line);) text += line.substr(0, line.find('#')) + "\n";
  static const std::regex re(R"(\bUNIX\s*\{[^}]*\bPath\s+(\S+))");
  std::smatch m;
  if (std::regex_search(text, m, re)) return m[1].str();
  return kDefaultSocket;
}

void parse_conntrackd_stats(const std::string& text, std::optional<uint64_t>& internal,
                            std::optional<uint64_t>& external) {
  static const std::regex re(R"(cache (internal|external):\s*\n\s*current active connections:\s*(\d+))");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator(); ++it) {
    const uint64_t n = std::stoull((*it)[2].str());
    ((*it)[1] == "internal" ? internal : external) = n;
  }
}

PairStatus pair_status(const std::string& wan_interface) {
  PairStatus p;
  p.wan_interface = wan_interface;
  if (!wan_interface.empty()) p.wan_addresses = ipv4_addresses(wan_interface);
  const auto proc = find_conntrackd();
  if (!proc) return p;
  p.conntrackd = true;
  p.pid = proc->first;
  p.config = proc->second;
  const std::string conf = read_file(p.config);
  if (conf.empty()) {
    p.error = "cannot read " + p.config;
    return p;
  }
  p.socket = conntrackd_socket_path(conf);
  std::string answer;
  if (ask(p.socket, kStatsRequest, answer, p.error)) {
    parse_conntrackd_stats(answer, p.internal, p.external);
    p.answered = p.internal.has_value() || p.external.has_value();
    if (!p.answered) p.error = "no statistics in its answer";
  }
  return p;
}

nlohmann::json pair_json(const PairStatus& p) {
  using nlohmann::json;
  json j;
  j["role"] = p.role();
  j["wan_addresses"] = p.wan_addresses;
  json c = nullptr;
  if (p.conntrackd) {
    c = json::object();
    c["pid"] = p.pid ? json(*p.pid) : json(nullptr);
    c["config"] = p.config;
    if (!p.socket.empty()) c["socket"] = p.socket;
    c["answered"] = p.answered;
    c["internal"] = p.internal ? json(*p.internal) : json(nullptr);
    c["external"] = p.external ? json(*p.external) : json(nullptr);
    if (!p.error.empty()) c["error"] = p.error;
  }
  j["conntrackd"] = c;
  return j;
}

std::string pair_text(const PairStatus& p) {
  if (!p.conntrackd) return "";
  std::ostringstream o;
  o << "pair: " << p.role();
  if (!p.wan_addresses.empty()) {
    o << " (holds";
    for (const auto& a : p.wan_addresses) o << " " << a;
    o << " on " << p.wan_interface << ")";
  } else if (!p.wan_interface.empty()) {
    o << " (no IPv4 address on " << p.wan_interface << ")";
  }
  o << "; sync: conntrackd running (pid " << *p.pid << ", " << p.config << ")";
  if (p.answered)
    o << ", " << p.internal.value_or(0) << " internal, " << p.external.value_or(0) << " external entries";
  else
    o << ", not answering: " << p.error;
  o << "\n";
  return o.str();
}

}  // namespace vpnpt
