// nft.cpp: libnftables, one context, errors as vpnpt::Error.
#include "nft.h"

#include <nftables/libnftables.h>

#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <dlfcn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "error.h"
#include "ruleset.h"

namespace vpnpt {

Nft::Nft() : ctx_(nft_ctx_new(NFT_CTX_DEFAULT)) {
  if (!ctx_) throw Error(ErrorKind::Internal, "libnftables", "cannot create a context");
  nft_ctx_buffer_output(ctx_);
  nft_ctx_buffer_error(ctx_);
  // The text we load is our own: it must not pull in other files.
  nft_ctx_clear_include_paths(ctx_);
}

Nft::~Nft() { nft_ctx_free(ctx_); }

bool Nft::try_run(const std::string& commands, std::string* output, std::string* error, bool dry_run,
                  bool json) {
  nft_ctx_set_dry_run(ctx_, dry_run);
  unsigned flags = json ? NFT_CTX_OUTPUT_JSON : 0;
  nft_ctx_output_set_flags(ctx_, flags);
  int rc = nft_run_cmd_from_buffer(ctx_, commands.c_str());
  nft_ctx_set_dry_run(ctx_, false);
  if (output) *output = nft_ctx_get_output_buffer(ctx_);
  std::string err = nft_ctx_get_error_buffer(ctx_);
  if (error) *error = err;
  return rc == 0;
}

std::string Nft::run(const std::string& commands, const std::string& what, bool dry_run) {
  std::string out, err;
  if (!try_run(commands, &out, &err, dry_run)) {
    while (!err.empty() && err.back() == '\n') err.pop_back();
    throw Error(ErrorKind::Kernel, what, "nftables refused the transaction; nothing was changed\n" + err);
  }
  return out;
}

bool Nft::try_load(const std::string& text, std::string* error, std::string* source, bool dry_run) {
  int fd = memfd_create("vpnpt-transaction", MFD_CLOEXEC);
  if (fd < 0) throw Error(ErrorKind::Kernel, "memfd_create", std::strerror(errno));
  for (size_t done = 0; done < text.size();) {
    ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = errno;
      close(fd);
      throw Error(ErrorKind::Kernel, "memfd", std::string("cannot write the transaction: ") + std::strerror(e));
    }
    done += size_t(n);
  }
  std::string path = "/proc/self/fd/" + std::to_string(fd);
  nft_ctx_set_dry_run(ctx_, dry_run);
  nft_ctx_output_set_flags(ctx_, 0);
  int rc = nft_run_cmd_from_filename(ctx_, path.c_str());
  nft_ctx_set_dry_run(ctx_, false);
  close(fd);
  if (error) *error = nft_ctx_get_error_buffer(ctx_);
  if (source) *source = path;
  return rc == 0;
}

std::optional<std::string> Nft::list_table() {
  std::string out, err;
  nft_ctx_set_dry_run(ctx_, false);
  nft_ctx_output_set_flags(ctx_, NFT_CTX_OUTPUT_STATELESS);
  std::string cmd = std::string("list table ") + kTableFamily + " " + kTableName;
  int rc = nft_run_cmd_from_buffer(ctx_, cmd.c_str());
  out = nft_ctx_get_output_buffer(ctx_);
  err = nft_ctx_get_error_buffer(ctx_);
  nft_ctx_output_set_flags(ctx_, 0);
  if (rc != 0) {
    if (err.find("No such file or directory") != std::string::npos) return std::nullopt;
    throw Error(ErrorKind::Kernel, "nftables",
                "cannot list table " + std::string(kTableFamily) + " " + kTableName + ": " + err);
  }
  return out;
}

std::vector<std::tuple<std::string, uint64_t, uint64_t>> Nft::list_counters() {
  std::vector<std::tuple<std::string, uint64_t, uint64_t>> out;
  std::string text, err;
  if (!try_run(std::string("list counters table ") + kTableFamily + " " + kTableName, &text, &err, false, true))
    return out;
  try {
    const nlohmann::json doc = nlohmann::json::parse(text);  // kept alive for the loop
    for (const auto& item : doc.at("nftables"))
      if (item.contains("counter")) {
        const auto& c = item["counter"];
        out.emplace_back(c.value("name", "?"), c.value("packets", uint64_t(0)), c.value("bytes", uint64_t(0)));
      }
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorKind::Internal, "libnftables", std::string("unreadable JSON counters: ") + e.what());
  }
  return out;
}

std::optional<uint32_t> ruleset_generation() {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (fd < 0) return std::nullopt;
  struct {
    nlmsghdr nh;
    nfgenmsg nf;
  } req{};
  req.nh.nlmsg_len = sizeof req;
  req.nh.nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN;
  req.nh.nlmsg_flags = NLM_F_REQUEST;
  req.nh.nlmsg_seq = 1;
  req.nf.nfgen_family = AF_UNSPEC;
  req.nf.version = NFNETLINK_V0;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  std::optional<uint32_t> id;
  alignas(nlmsghdr) char buf[512];
  if (sendto(fd, &req, sizeof req, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) == ssize_t(sizeof req)) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    auto* nh = reinterpret_cast<nlmsghdr*>(buf);
    if (n > 0 && NLMSG_OK(nh, size_t(n)) && nh->nlmsg_type == ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWGEN)) {
      size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(nfgenmsg));
      while (off + NLA_HDRLEN <= nh->nlmsg_len) {
        auto* a = reinterpret_cast<nlattr*>(buf + off);
        if (a->nla_len < NLA_HDRLEN || off + a->nla_len > nh->nlmsg_len) break;
        if ((a->nla_type & NLA_TYPE_MASK) == NFTA_GEN_ID && a->nla_len >= NLA_HDRLEN + 4) {
          uint32_t be;
          std::memcpy(&be, buf + off + NLA_HDRLEN, 4);
          id = ntohl(be);
        }
        off += NLA_ALIGN(a->nla_len);
      }
    }
  }
  close(fd);
  return id;
}

std::string listing_producer() {
  std::string id;
  utsname u{};
  if (uname(&u) == 0) id = u.release;
  Dl_info info{};
  struct stat st{};
  if (dladdr(reinterpret_cast<void*>(&nft_ctx_new), &info) && info.dli_fname && stat(info.dli_fname, &st) == 0)
    id += std::string(" ") + info.dli_fname + ":" + std::to_string(st.st_ino) + ":" + std::to_string(st.st_mtime);
  return id;
}

namespace {

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  return b == std::string::npos ? std::string() : s.substr(b);
}

}  // namespace

std::string canonical_listing(const std::string& listing) {
  // Blocks are one per line-opening "set|map NAME {" up to its "}". Inside a
  // dynamic one, drop the "elements = { ... }" lines.
  std::istringstream in(listing);
  std::vector<std::string> block;
  std::string line, out;
  bool in_set = false, dynamic = false, in_elements = false;
  auto flush = [&] {
    for (const auto& l : block) out += l + "\n";
    block.clear();
  };
  while (std::getline(in, line)) {
    std::string t = trim(line);
    if (!in_set) {
      if ((t.rfind("set ", 0) == 0 || t.rfind("map ", 0) == 0) && t.back() == '{') {
        in_set = true;
        dynamic = false;
        block.push_back(line);
      } else {
        out += line + "\n";
      }
      continue;
    }
    if (in_elements) {
      if (t.find('}') != std::string::npos) in_elements = false;
      block.push_back("\x01" + line);  // marked: dropped if the set is dynamic
      continue;
    }
    if (t.rfind("flags ", 0) == 0 && t.find("dynamic") != std::string::npos) dynamic = true;
    if (t.rfind("elements = {", 0) == 0) {
      in_elements = t.find('}') == std::string::npos;
      block.push_back("\x01" + line);
      continue;
    }
    block.push_back(line);
    if (t == "}") {
      std::vector<std::string> kept;
      for (auto& l : block)
        if (l[0] != '\x01') kept.push_back(l);
        else if (!dynamic) kept.push_back(l.substr(1));
      block = kept;
      flush();
      in_set = false;
    }
  }
  flush();
  return out;
}

std::string listing_comment(const std::string& listing) {
  std::istringstream in(listing);
  std::string line;
  while (std::getline(in, line)) {
    std::string t = trim(line);
    if (t.rfind("comment \"", 0) == 0) {
      auto end = t.rfind('"');
      return end > 9 ? t.substr(9, end - 9) : std::string();
    }
    if (t.rfind("counter ", 0) == 0 || t.rfind("chain ", 0) == 0) break;  // past the table's own lines
  }
  return {};
}

}  // namespace vpnpt
