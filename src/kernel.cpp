// kernel.cpp: kernel pieces: probe with sysfs, modules.builtin and the
// kernel config; load with libkmod.
//
// libkmod is opened with dlopen(3) when a module must be looked up or
// loaded, not linked: linking it (and, through it, libcrypto, libzstd and
// liblzma) cost every vpnpt run ~9 ms of relocations at start, also the
// runs that never touch a module (status, a re-apply on a kernel with
// everything loaded).
#include "kernel.h"

#include <dlfcn.h>
#include <libkmod.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <sys/utsname.h>
#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "error.h"

namespace vpnpt {

namespace fs = std::filesystem;

namespace {

struct Known {
  const char* name;
  const char* config;
  const char* purpose;
};

const Known kPptp[] = {
    {"nf_conntrack_pptp", "CONFIG_NF_CONNTRACK_PPTP", "PPTP conntrack helper (GRE call tracking)"},
    {"nf_nat_pptp", "CONFIG_NF_NAT_PPTP", "PPTP NAT (call ID translation)"},
};

std::string release() {
  utsname u{};
  uname(&u);
  return u.release;
}

std::string read_gz(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) return {};
  std::string out;
  char buf[65536];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.append(buf, n);
  gzclose(f);
  return out;
}

// The running kernel's config, from /boot or /proc/config.gz; "" if neither.
const std::string& kernel_config() {
  static const std::string text = [] {
    std::ifstream in("/boot/config-" + release());
    if (in) {
      std::stringstream ss;
      ss << in.rdbuf();
      return ss.str();
    }
    return read_gz("/proc/config.gz");
  }();
  return text;
}

bool in_modules_builtin(const std::string& name) {
  std::ifstream in("/lib/modules/" + release() + "/modules.builtin");
  std::string line;
  while (std::getline(in, line)) {
    auto slash = line.rfind('/');
    std::string base = line.substr(slash == std::string::npos ? 0 : slash + 1);
    if (base == name + ".ko") return true;
  }
  return false;
}

// The libkmod functions vpnpt calls, resolved from libkmod.so.2 on first use.
struct Libkmod {
#define VPNPT_KMOD_FUNCS(X)                                                               \
  X(kmod_new) X(kmod_load_resources) X(kmod_unref) X(kmod_module_new_from_lookup)        \
  X(kmod_list_next) X(kmod_module_get_module) X(kmod_module_get_path) X(kmod_module_unref) \
  X(kmod_module_unref_list) X(kmod_module_probe_insert_module)
#define VPNPT_KMOD_MEMBER(f) decltype(&::f) f = nullptr;
  VPNPT_KMOD_FUNCS(VPNPT_KMOD_MEMBER)
#undef VPNPT_KMOD_MEMBER
  std::string error;  // why it could not be opened; "" when it was

  Libkmod() {
    void* h = dlopen("libkmod.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      const char* e = dlerror();
      error = e ? e : "dlopen(libkmod.so.2) failed";
      return;
    }
#define VPNPT_KMOD_RESOLVE(f)                                           \
    f = reinterpret_cast<decltype(&::f)>(dlsym(h, #f));                 \
    if (!f && error.empty()) error = "libkmod.so.2 has no symbol " #f;
    VPNPT_KMOD_FUNCS(VPNPT_KMOD_RESOLVE)
#undef VPNPT_KMOD_RESOLVE
  }
};

const Libkmod& libkmod() {
  static const Libkmod lib;
  return lib;
}

struct KmodCtx {
  const Libkmod& lib = libkmod();
  kmod_ctx* ctx = lib.error.empty() ? lib.kmod_new(nullptr, nullptr) : nullptr;
  KmodCtx() {
    if (ctx) lib.kmod_load_resources(ctx);
  }
  ~KmodCtx() {
    if (ctx) lib.kmod_unref(ctx);
  }
  // Calls fn(module) for each module `name` resolves to (aliases too);
  // false when it resolves to none.
  template <class Fn>
  bool for_each_module(const std::string& name, Fn fn) const {
    kmod_list* list = nullptr;
    if (!ctx || lib.kmod_module_new_from_lookup(ctx, name.c_str(), &list) < 0 || !list) return false;
    for (kmod_list* l = list; l; l = lib.kmod_list_next(list, l)) {
      kmod_module* m = lib.kmod_module_get_module(l);
      fn(m);
      lib.kmod_module_unref(m);
    }
    lib.kmod_module_unref_list(list);
    return true;
  }
};

bool kmod_findable(const std::string& name) {
  KmodCtx k;
  bool found = false;
  k.for_each_module(name, [&](kmod_module* m) { found = found || k.lib.kmod_module_get_path(m) != nullptr; });
  return found;
}

}  // namespace

const char* piece_state_name(PieceState s) {
  switch (s) {
    case PieceState::Loaded: return "loaded";
    case PieceState::Builtin: return "builtin";
    case PieceState::Available: return "available";
    case PieceState::Missing: return "missing";
    case PieceState::Unknown: return "unknown";
  }
  return "unknown";
}

PieceState module_state(const std::string& name, const std::string& config_symbol) {
  std::error_code ec;
  if (fs::exists("/sys/module/" + name + "/initstate", ec)) return PieceState::Loaded;
  if (fs::exists("/sys/module/" + name, ec)) return PieceState::Builtin;
  if (in_modules_builtin(name)) return PieceState::Builtin;
  const std::string& cfg = kernel_config();
  if (!config_symbol.empty() && cfg.find("\n" + config_symbol + "=y\n") != std::string::npos) return PieceState::Builtin;
  if (kmod_findable(name)) return PieceState::Available;
  if (!config_symbol.empty() && cfg.find("\n" + config_symbol + "=m\n") != std::string::npos) return PieceState::Missing;
  if (cfg.empty() && !fs::exists("/lib/modules/" + release(), ec)) return PieceState::Unknown;
  return PieceState::Missing;
}

std::vector<KernelPiece> probe_kernel(const Config& cfg) {
  std::vector<KernelPiece> out;
  std::error_code ec;
  out.push_back({"nf_conntrack", "connection tracking",
                 fs::exists("/proc/sys/net/netfilter/nf_conntrack_max", ec) ? PieceState::Loaded
                                                                           : module_state("nf_conntrack", "CONFIG_NF_CONNTRACK")});
  bool pptp = cfg.pptp;
  for (const auto& f : cfg.forwards) pptp = pptp || f.pptp_helper;
  if (pptp)
    for (const auto& k : kPptp) out.push_back({k.name, k.purpose, module_state(k.name, k.config)});
  return out;
}

void require_net_admin() {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  bool ok = syscall(SYS_capget, &hdr, data) == 0 &&
            (data[CAP_TO_INDEX(CAP_NET_ADMIN)].effective & CAP_TO_MASK(CAP_NET_ADMIN));
  if (!ok)
    throw Error(ErrorKind::Kernel, "permission", "this command needs CAP_NET_ADMIN (nftables, conntrack)",
                "run it as root");
}

void load_module(const std::string& name, const std::string& hint) {
  KmodCtx k;
  if (!k.lib.error.empty())
    throw Error(ErrorKind::Kernel, name, "cannot use libkmod to load it: " + k.lib.error,
                "install libkmod2 (Debian), or load the module with modprobe first");
  if (!k.ctx) throw Error(ErrorKind::Kernel, name, "cannot initialise libkmod", hint);
  int err = 0;
  bool found = k.for_each_module(name, [&](kmod_module* m) {
    int r = k.lib.kmod_module_probe_insert_module(m, KMOD_PROBE_APPLY_BLACKLIST, nullptr, nullptr, nullptr,
                                                  nullptr);
    if (r < 0 && !err) err = r;
  });
  if (!found) throw Error(ErrorKind::Kernel, name, "kernel module not found for kernel " + release(), hint);
  if (err == KMOD_PROBE_APPLY_BLACKLIST)
    throw Error(ErrorKind::Kernel, name, "kernel module is blacklisted", hint);
  if (err < 0)
    throw Error(ErrorKind::Kernel, name, std::string("cannot load kernel module: ") + std::strerror(-err), hint);
}

std::vector<KernelPiece> load_kernel_pieces(const Config& cfg) {
  auto pieces = probe_kernel(cfg);
  require_pieces(pieces);
  for (auto& p : pieces) {
    if (p.state == PieceState::Available) {
      load_module(p.name, "needed for " + p.purpose);
      p.state = PieceState::Loaded;
    }
    // Unknown (no modules tree, no kernel config) is left to the kernel: it
    // refuses, whole, a transaction with a ct helper object whose helper it
    // does not have.
  }
  return pieces;
}

void require_pieces(const std::vector<KernelPiece>& pieces) {
  for (const auto& p : pieces)
    if (p.state == PieceState::Missing)
      throw Error(ErrorKind::Kernel, p.name, "missing from this kernel (needed for " + p.purpose + ")",
                  "install a kernel with it, or turn off what needs it in the config");
}

void enable_conntrack_accounting() {
  for (const char* knob : {"nf_conntrack_timestamp", "nf_conntrack_acct"}) {
    std::ofstream out(std::string("/proc/sys/net/netfilter/") + knob);
    if (out) out << "1\n";
  }
}

}  // namespace vpnpt
