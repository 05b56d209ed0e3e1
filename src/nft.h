// nft.h: a thin owner of one libnftables context.
//
// libnftables' contract is plain: a non-zero return and the message in the
// error buffer. run() turns that into Error(Kernel) with the message; list_*()
// return parsed JSON. vpnpt never runs the nft binary.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

struct nft_ctx;

namespace vpnpt {

class Nft {
 public:
  Nft();
  ~Nft();
  Nft(const Nft&) = delete;
  Nft& operator=(const Nft&) = delete;

  // Run nftables commands as one transaction. With dry_run the kernel checks
  // the whole batch and it is then aborted. `what` names the operation in
  // errors ("apply"). Returns the output (for list commands).
  std::string run(const std::string& commands, const std::string& what, bool dry_run = false);

  // The same for a whole ruleset, loaded from a memfd that no other process
  // can write, so that what is checked and committed is `text` and nothing
  // else, and libnftables' errors still name line:column. Returns false with
  // the message in *error; `source` (the name errors use) in *source.
  bool try_load(const std::string& text, std::string* error, std::string* source, bool dry_run);

  // The same, but returns false with the message in *error instead of throwing.
  bool try_run(const std::string& commands, std::string* output, std::string* error, bool dry_run = false,
               bool json = false);

  // "list table inet vpnpt" as text without counter values (stateless), or
  // nullopt when the table does not exist.
  std::optional<std::string> list_table();

  // "list counters table inet vpnpt": name → (packets, bytes); empty when
  // the table does not exist.
  std::vector<std::tuple<std::string, uint64_t, uint64_t>> list_counters();

 private:
  nft_ctx* ctx_;
};

// The ruleset generation ID of this network namespace (NFT_MSG_GETGEN): the
// kernel adds one at every committed nftables transaction, of any table,
// and never on a dry run or an aborted one. nullopt if it cannot be read.
std::optional<uint32_t> ruleset_generation();

// Who turns a table into text: the kernel release and the libnftables file
// (inode and mtime). The same transaction listed by the same lister gives
// the same text, so apply may reuse a digest only when this is unchanged.
std::string listing_producer();

// A table listing without what the packet path changes (the elements of
// dynamic sets), so that it changes only when the table's definition does.
std::string canonical_listing(const std::string& listing);

// The comment line of a table listing ("" if none).
std::string listing_comment(const std::string& listing);

}  // namespace vpnpt
