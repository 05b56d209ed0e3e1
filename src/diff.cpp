// diff.cpp: the plan of an apply, and vpnpt diff (see diff.h).
#include "diff.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <ostream>
#include <sstream>

#include "error.h"
#include "esp.h"
#include "kernel.h"
#include "nft.h"

namespace vpnpt {

namespace {

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  size_t e = s.find_last_not_of(" \t");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

// One block of a listing: its lines (trimmed) and its elements.
struct Block {
  std::string kind, name;
  std::vector<std::string> lines;
  std::vector<std::string> elements;
};

// Split "a, b, c" at the commas outside quotes and braces.
void split_elements(const std::string& body, std::vector<std::string>& out) {
  std::string cur;
  int depth = 0;
  bool quoted = false;
  for (char c : body) {
    if (c == '"') quoted = !quoted;
    if (!quoted && c == '{') ++depth;
    if (!quoted && c == '}') --depth;
    if (!quoted && depth == 0 && c == ',') {
      if (!trim(cur).empty()) out.push_back(trim(cur));
      cur.clear();
      continue;
    }
    cur += c;
  }
  if (!trim(cur).empty()) out.push_back(trim(cur));
}

// "table inet vpnpt { ... }" → blocks in listing order, the table's own
// lines (but its comment) first.
std::vector<Block> parse_listing(const std::string& listing) {
  std::vector<Block> blocks{{"table", "", {}, {}}};
  std::istringstream in(listing);
  std::string line;
  Block* cur = nullptr;
  std::string elements;  // an "elements = { ..." being collected
  bool in_elements = false;
  while (std::getline(in, line)) {
    std::string t = trim(line);
    if (t.empty() || t.rfind("table ", 0) == 0) continue;
    if (!cur) {
      if (t == "}") continue;  // the table's end
      if (t.back() == '{') {
        // "chain NAME {", "set NAME {", "ct helper NAME {", "ct timeout NAME {"
        std::string head = trim(t.substr(0, t.size() - 1));
        size_t sp = head.rfind(' ');
        blocks.push_back({head.substr(0, sp), head.substr(sp + 1), {}, {}});
        cur = &blocks.back();
      } else if (t.rfind("comment ", 0) != 0) {
        blocks[0].lines.push_back(t);
      }
      continue;
    }
    if (in_elements || t.rfind("elements = {", 0) == 0) {
      elements += " " + (in_elements ? t : t.substr(std::strlen("elements = {")));
      in_elements = true;
      // The list ends at the brace that closes "elements = {".
      int depth = 1;
      bool quoted = false;
      size_t end = std::string::npos;
      for (size_t i = 0; i < elements.size() && end == std::string::npos; ++i) {
        char c = elements[i];
        if (c == '"') quoted = !quoted;
        if (!quoted && c == '{') ++depth;
        if (!quoted && c == '}' && --depth == 0) end = i;
      }
      if (end != std::string::npos) {
        split_elements(elements.substr(0, end), cur->elements);
        elements.clear();
        in_elements = false;
      }
      continue;
    }
    if (t == "}") {
      cur = nullptr;
      continue;
    }
    cur->lines.push_back(t);
  }
  return blocks;
}

// Lines of `a` not in `b`'s longest common subsequence, and the other way.
void diff_lines(const std::vector<std::string>& a, const std::vector<std::string>& b, std::vector<std::string>& removed,
                std::vector<std::string>& added) {
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<uint32_t>> l(n + 1, std::vector<uint32_t>(m + 1, 0));
  for (size_t i = n; i-- > 0;)
    for (size_t j = m; j-- > 0;) l[i][j] = a[i] == b[j] ? l[i + 1][j + 1] + 1 : std::max(l[i + 1][j], l[i][j + 1]);
  size_t i = 0, j = 0;
  while (i < n && j < m) {
    if (a[i] == b[j]) {
      ++i, ++j;
    } else if (l[i + 1][j] >= l[i][j + 1]) {
      removed.push_back(a[i++]);
    } else {
      added.push_back(b[j++]);
    }
  }
  while (i < n) removed.push_back(a[i++]);
  while (j < m) added.push_back(b[j++]);
}

// Elements as multisets: a map of 10,000 forwards is compared in n log n.
void diff_elements(std::vector<std::string> a, std::vector<std::string> b, std::vector<std::string>& removed,
                   std::vector<std::string>& added) {
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  std::vector<std::string> r, d;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(r));
  std::set_difference(b.begin(), b.end(), a.begin(), a.end(), std::back_inserter(d));
  for (auto& e : r) removed.push_back("element " + e);
  for (auto& e : d) added.push_back("element " + e);
}

std::string param_str(const espmux::Params& p, const std::string& name) {
  if (name == "enabled") return p.enabled ? "true" : "false";
  if (name == "keep_ike_port") return p.keep_ike_port ? "true" : "false";
  if (name == "wan") return p.wan_ifname;
  uint32_t v = name == "idle_timeout"      ? p.idle_timeout
               : name == "pending_timeout" ? p.pending_timeout
               : name == "drain_timeout"   ? p.drain_timeout
               : name == "max_per_host"    ? p.max_per_host
               : name == "max_per_peer"    ? p.max_per_peer
                                           : p.max_mappings;
  return std::to_string(v);
}

// Write all of `s` to fd (the child's report to its parent).
void write_all(int fd, const std::string& s) {
  for (size_t done = 0; done < s.size();) {
    ssize_t n = write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += size_t(n);
  }
}

}  // namespace

std::vector<BlockDiff> diff_listings(const std::string& loaded, const std::string& candidate) {
  auto a = parse_listing(canonical_listing(loaded));
  auto b = parse_listing(canonical_listing(candidate));
  auto key = [](const Block& x) { return x.kind + " " + x.name; };
  std::map<std::string, const Block*> old_by_key, new_by_key;
  for (const auto& x : a) old_by_key[key(x)] = &x;
  for (const auto& x : b) new_by_key[key(x)] = &x;
  static const Block none;
  std::vector<BlockDiff> out;
  auto one = [&](const Block& kind_of, const Block& o, const Block& n) {
    BlockDiff d{kind_of.kind, kind_of.name, {}, {}};
    diff_lines(o.lines, n.lines, d.removed, d.added);
    diff_elements(o.elements, n.elements, d.removed, d.added);
    if (!d.removed.empty() || !d.added.empty()) out.push_back(std::move(d));
  };
  // In the candidate's order, then what only the loaded table has.
  for (const auto& n : b) {
    auto it = old_by_key.find(key(n));
    one(n, it == old_by_key.end() ? none : *it->second, n);
  }
  for (const auto& o : a)
    if (!new_by_key.count(key(o))) one(o, o, none);
  return out;
}

std::string list_candidate(const Ruleset& rs) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw Error(ErrorKind::Kernel, "diff", std::string("pipe: ") + std::strerror(errno));
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    throw Error(ErrorKind::Kernel, "diff", std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    close(fds[0]);
    std::string report;
    try {
      if (unshare(CLONE_NEWNET) != 0) {
        report = std::string("E") + "cannot make a scratch network namespace: " + std::strerror(errno);
      } else {
        Nft nft;
        std::string err, source;
        if (!nft.try_load(rs.text, &err, &source, /*dry_run=*/false))
          report = "Enftables refused the candidate ruleset:\n" + err;
        else
          report = "L" + nft.list_table().value_or("");
      }
    } catch (const std::exception& e) {
      report = std::string("E") + e.what();
    }
    write_all(fds[1], report);
    _exit(0);
  }
  close(fds[1]);
  std::string text;
  char buf[65536];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    text.append(buf, size_t(n));
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  if (text.empty() || text[0] != 'L') {
    std::string why = text.empty() ? "the scratch namespace's lister died" : text.substr(1);
    while (!why.empty() && why.back() == '\n') why.pop_back();
    throw Error(ErrorKind::Kernel, "diff", why);
  }
  return text.substr(1);
}

Plan plan_apply(const Config& cfg, const Ruleset& rs) {
  Plan plan;
  Nft nft;
  auto loaded = nft.list_table();
  plan.table_loaded = loaded.has_value();
  plan.blocks = diff_listings(loaded.value_or(""), list_candidate(rs));
  for (const auto& p : probe_kernel(cfg))
    if (p.state == PieceState::Available) plan.modules.push_back(p.name);
  EspDecision esp = decide_esp(cfg, /*load=*/false);
  if (esp.mode == EspMode::Mux && !espmux::family_present()) plan.modules.push_back("vpnpt_esp");
  if (auto target = esp_target(cfg, esp)) {
    std::optional<espmux::Params> now;
    if (espmux::family_present()) now = espmux::get_params();
    for (const char* name : {"enabled", "wan", "idle_timeout", "pending_timeout", "drain_timeout", "max_per_host",
                             "max_per_peer", "max_mappings", "keep_ike_port"}) {
      std::string to = param_str(*target, name), from = now ? param_str(*now, name) : "";
      if (from != to) plan.esp.push_back({name, from, to});
    }
  }
  return plan;
}

void print_plan(const Plan& plan, std::ostream& out) {
  if (plan.empty()) {
    out << "no changes: table " << kTableFamily << " " << kTableName
        << " and the vpnpt_esp module are as the config gives them\n";
    return;
  }
  if (!plan.table_loaded) out << "table " << kTableFamily << " " << kTableName << " is not loaded: all of it is new\n";
  for (const auto& b : plan.blocks) {
    out << (b.kind == "table" ? "table " + std::string(kTableFamily) + " " + kTableName : b.kind + " " + b.name)
        << ":\n";
    for (const auto& l : b.removed) out << "  - " << l << "\n";
    for (const auto& l : b.added) out << "  + " << l << "\n";
  }
  for (const auto& m : plan.modules) out << "kernel: load module " << m << "\n";
  for (const auto& p : plan.esp)
    out << "vpnpt_esp: " << p.name << " " << (p.from.empty() ? "(not loaded)" : p.from) << " -> " << p.to << "\n";
}

nlohmann::json plan_json(const Plan& plan) {
  nlohmann::json j;
  j["changes"] = !plan.empty();
  j["table_loaded"] = plan.table_loaded;
  j["blocks"] = nlohmann::json::array();
  for (const auto& b : plan.blocks)
    j["blocks"].push_back({{"kind", b.kind}, {"name", b.name}, {"removed", b.removed}, {"added", b.added}});
  j["modules"] = plan.modules;
  j["esp"] = nlohmann::json::array();
  for (const auto& p : plan.esp)
    j["esp"].push_back({{"param", p.name}, {"from", p.from.empty() ? nlohmann::json() : nlohmann::json(p.from)},
                        {"to", p.to}});
  return j;
}

int run_diff(const Options& opt, bool json, std::ostream& out) {
  Config cfg = load_config(opt.config_path, opt.strict_perms);
  check_host(cfg);
  require_net_admin();
  Ruleset rs = render_ruleset(cfg, find_rules_dir(opt.rules_dir));
  Plan plan = plan_apply(cfg, rs);
  if (json)
    out << plan_json(plan).dump(2) << "\n";
  else
    print_plan(plan, out);
  return plan.empty() ? 0 : kExitPending;
}

}  // namespace vpnpt
