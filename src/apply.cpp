// apply.cpp: check, show, apply and remove.
//
// apply is one libnftables transaction:
//
//   add table inet vpnpt        (so that the delete cannot fail)
//   delete table inet vpnpt
//   table inet vpnpt { ... }    (the rendered ruleset)
//
// The kernel commits all of it or none of it, so a failure at any point
// leaves the previous table byte for byte. Other tables are never named.
#include "apply.h"

#include <optional>
#include <ostream>
#include <sstream>

#include "confirm.h"
#include "diff.h"
#include "error.h"
#include "esp.h"
#include "heap.h"
#include "kernel.h"
#include "nft.h"
#include "ruleset.h"
#include "stale.h"
#include "state.h"
#include "table_digest.h"

#include <linux/netfilter/nf_tables.h>
#include <time.h>

namespace vpnpt {

namespace {

std::string table_ref() { return std::string(kTableFamily) + " " + kTableName; }

std::string transaction(const Ruleset& rs) {
  return "add table " + table_ref() + "\ndelete table " + table_ref() + "\n" + rs.text;
}

// Load (or dry-run) the transaction of `rs`. It is handed to libnftables in a
// private memfd, never through a shared file: `check -c draft.toml` beside a
// running apply cannot change what apply checks or commits. A transaction
// the kernel refuses is kept in the run folder, and the error names it.
void load(Nft& nft, const Options& opt, const Ruleset& rs, const std::string& what, bool dry_run) {
  const std::string text = transaction(rs);
  std::string err, source;
  if (nft.try_load(text, &err, &source, dry_run)) return;
  std::string kept;
  try {
    kept = keep_transaction(opt.run_dir, text);
  } catch (const Error&) {
    // Not being able to keep a copy must not hide the kernel's refusal.
  }
  if (!kept.empty())
    for (size_t pos = 0; (pos = err.find(source, pos)) != std::string::npos; pos += kept.size())
      err.replace(pos, source.size(), kept);
  while (!err.empty() && err.back() == '\n') err.pop_back();
  throw Error(ErrorKind::Kernel, what,
              "nftables refused the transaction; nothing was changed\n" + err +
                  (kept.empty() ? "" : "\n(the transaction is kept in " + kept + ")"));
}


// The config, checked against this machine; then the permission to act on it.
Config load_checked(const Options& opt) {
  Config cfg = load_config(opt.config_path, opt.strict_perms);
  check_host(cfg);
  require_net_admin();
  return cfg;
}

std::string describe(const Config& cfg, const EspDecision& esp) {
  std::string s;
  auto add = [&](const std::string& part) { s += (s.empty() ? "" : ", ") + part; };
  if (cfg.pptp) add("pptp");
  if (cfg.l2tp) add("l2tp");
  if (cfg.ipsec) add(std::string("ipsec (esp ") + esp_mode_name(esp.mode) + ")");
  if (!cfg.forwards.empty()) add(std::to_string(cfg.forwards.size()) + " forward(s)");
  if (s.empty()) s = "masquerade only";
  return s;
}

// -v: what apply and check found before acting.
void say_findings(const Options& opt, const std::vector<KernelPiece>& pieces, const Ruleset& rs,
                  const std::string& rules_dir, std::ostream& out) {
  if (!opt.verbose) return;
  out << "rules: " << rules_dir << " (digest " << rs.digest << ")\n";
  for (const auto& p : pieces)
    out << "kernel: " << p.name << " " << piece_state_name(p.state) << " (" << p.purpose << ")\n";
}

}  // namespace

void run_show(const Options& opt, std::ostream& out) {
  Config cfg = load_config(opt.config_path, opt.strict_perms);
  out << render_ruleset(cfg, find_rules_dir(opt.rules_dir)).text;
}

void run_check(const Options& opt, std::ostream& out) {
  prepare_heap_for(opt.config_path);
  Config cfg = load_checked(opt);
  std::string rules_dir = find_rules_dir(opt.rules_dir);
  Ruleset rs = render_ruleset(cfg, rules_dir);
  auto pieces = probe_kernel(cfg);
  say_findings(opt, pieces, rs, rules_dir, out);
  require_pieces(pieces);
  EspDecision esp = decide_esp(cfg, /*load=*/false);
  Nft nft;
  load(nft, opt, rs, "check", /*dry_run=*/true);
  out << cfg.path << ": ok: " << describe(cfg, esp) << "\n";
  if (!esp.note.empty()) out << "note: " << esp.note << "\n";
}

namespace {

uint64_t realtime_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

// After the commit: delete the conntrack entries of VPN flows that began
// before the rules (stale.h), and say how many. The table is in place by
// now, so a failure here is a warning, not an error of apply. Returns
// whether the check was made.
bool clear_stale_sessions(const Options& opt, const Config& cfg, uint64_t ike_since_ns, std::ostream& out) {
  try {
    StaleResult r = clear_stale(stale_scope(cfg, ike_since_ns));
    std::string kinds;
    for (const auto& [kind, n] : r.by_kind)
      kinds += std::string(kinds.empty() ? "" : ", ") + std::to_string(n) + " " + stale_kind_name(kind);
    out << "stale sessions: " << r.cleared.size() << " cleared" << (kinds.empty() ? "" : " (" + kinds + ")")
        << "\n";
    if (opt.verbose)
      for (const auto& s : r.cleared)
        out << "cleared: " << stale_kind_name(s.kind) << " " << describe_entry(s.entry) << " (" << s.why << ")\n";
    return true;
  } catch (const Error& e) {
    out << "warning: stale sessions not cleared: " << e.what() << "\n";
    return false;
  }
}

}  // namespace

namespace {

// Whether the rules `rs` have been loaded without a break since the apply on
// record, which looked for stale sessions: no commit at all since its own
// (generation `gen_now`), or exactly one commit of someone else's that left
// table inet vpnpt as that apply recorded it. A transaction is atomic, so
// packets saw these rules before it and after it. Two commits or more could
// have taken the table away and put it back between them.
bool rules_stood(const std::optional<AppliedRecord>& previous, const Ruleset& rs, std::optional<uint32_t> gen_now) {
  if (!previous || !previous->generation || !gen_now || previous->digest != rs.digest || !previous->sessions_checked)
    return false;
  if (*gen_now == *previous->generation) return true;
  if (*gen_now != *previous->generation + 1 || !is_netlink_digest(previous->listing_digest)) return false;
  auto table = table_digest();
  return table && table->digest == previous->listing_digest && ruleset_generation() == gen_now;
}

}  // namespace

void run_apply(const Options& opt, const ApplyOptions& how, std::ostream& out) {
  const bool dry_run = how.dry_run;
  prepare_heap_for(opt.config_path);
  Config cfg = load_checked(opt);
  std::string rules_dir = find_rules_dir(opt.rules_dir);
  Ruleset rs = render_ruleset(cfg, rules_dir);
  Lock lock(opt.run_dir);
  if (how.diff) print_plan(plan_apply(cfg, rs), out);
  Nft nft;
  if (dry_run) {
    auto pieces = probe_kernel(cfg);
    say_findings(opt, pieces, rs, rules_dir, out);
    require_pieces(pieces);
    EspDecision esp = decide_esp(cfg, /*load=*/false);
    load(nft, opt, rs, "apply --dry-run", /*dry_run=*/true);
    out << "dry run: the kernel accepts table " << table_ref() << " (" << describe(cfg, esp)
        << "); nothing was changed\n";
    if (!esp.note.empty()) out << "note: " << esp.note << "\n";
    return;
  }

  say_findings(opt, load_kernel_pieces(cfg), rs, rules_dir, out);
  // The commit is one nftables transaction: the kernel takes all of it or
  // none, so a refusal leaves the previous ruleset byte for byte and needs no
  // dry run first. The module's parameters are set before the commit and put
  // back if it fails. Only loading vpnpt_esp cannot be undone: when this
  // apply would load it, the kernel checks the transaction first.
  if (cfg.wants_mux() && !espmux::family_present()) load(nft, opt, rs, "apply", /*dry_run=*/true);
  EspDecision esp = decide_esp(cfg, /*load=*/true);
  EspSnapshot before = esp_snapshot();
  const auto previous = load_applied(opt.run_dir);
  // --confirm: the restore is armed before the commit, so that an SSH
  // session that dies from here on cannot leave the change unarmed.
  std::optional<Armed> armed;
  if (how.confirm) armed = confirm_arm(opt, how.confirm);
  // Was the ike timeout policy loaded already (by the apply on record)? Then
  // IKE flows since that apply have it; otherwise since this commit.
  const bool ike_loaded = table_has_object("ike", NFT_OBJECT_CT_TIMEOUT);
  const auto gen_before = ruleset_generation();
  const bool unbroken = !how.keep_sessions && rules_stood(previous, rs, gen_before);
  try {
    esp_configure(cfg, esp);
    load(nft, opt, rs, "apply", /*dry_run=*/false);
  } catch (...) {
    esp_restore(before);
    if (armed) confirm_disarm(opt, *armed);
    throw;
  }
  const auto gen_after = ruleset_generation();
  const uint64_t committed_ns = realtime_ns();
  esp_finish(esp);
  enable_conntrack_accounting();

  AppliedRecord rec{cfg.path, rs.digest, "", esp_mode_name(esp.mode), esp.note, std::nullopt, listing_producer()};
  const bool ike_now = stale_scope(cfg, 0).ike;
  if (ike_now)
    rec.ike_since_ns = ike_loaded && previous && previous->ike_since_ns ? previous->ike_since_ns : committed_ns;
  // The drift digest is of the table as the kernel holds it, read back
  // through raw netlink dumps (table_digest.h: a few ms at 10,000 forwards,
  // where libnftables' text listing took 0.2 s). Ours was the only commit
  // since gen_before: the table is exactly the transaction, and the same
  // text, loaded by the same kernel and libnftables, gives the same objects,
  // so the digest of an earlier apply of this very text is reused.
  const bool alone = gen_before && gen_after && *gen_after == *gen_before + 1;
  if (alone && previous && previous->generation && previous->digest == rs.digest &&
      is_netlink_digest(previous->listing_digest) && previous->lister == rec.lister) {
    rec.listing_digest = previous->listing_digest;
    rec.generation = gen_after;
  } else {
    if (auto table = table_digest()) rec.listing_digest = table->digest;
    // Reusable later only if nothing else committed before the listing.
    if (alone && ruleset_generation() == gen_after) rec.generation = gen_after;
  }
  // Stale sessions: flows that began while these rules were not in place.
  // When the same rules have been loaded without a break since an apply
  // that cleared them (rules_stood), there can be none, and the conntrack
  // table is not read.
  std::ostringstream stale_out;
  if (how.keep_sessions) {
    stale_out << "stale sessions: kept (--keep-sessions)\n";
  } else if (unbroken) {
    stale_out << "stale sessions: 0 cleared\n";
    if (opt.verbose) stale_out << "stale sessions: not looked for: the same rules were loaded without a break since the last apply cleared them\n";
    rec.sessions_checked = true;
  } else {
    rec.sessions_checked = clear_stale_sessions(opt, cfg, rec.ike_since_ns, stale_out);
  }
  save_applied(opt.run_dir, rec);
  out << "applied table " << table_ref() << " from " << cfg.path << " (" << describe(cfg, esp) << ")\n";
  if (!esp.note.empty()) out << "note: " << esp.note << "\n";
  if (armed)
    out << "confirm within " << how.confirm << " s with \"vpnpt confirm\", or the table and the vpnpt_esp module "
        << (armed->fresh ? "are restored as they were" : "are restored as before the first apply --confirm") << " ("
        << armed->by << ")\n";
  out << stale_out.str();
}

void run_remove(const Options& opt, std::ostream& out) {
  require_net_admin();
  Lock lock(opt.run_dir);
  Nft nft;
  const bool loaded = nft.list_table().has_value();
  if (loaded) nft.run("delete table " + table_ref() + "\n", "remove");
  forget_applied(opt.run_dir);
  // Also when the table is gone already (nft flush ruleset, a restart of
  // nftables.service): the module must stop multiplexing here all the same.
  esp_release();
  if (loaded)
    out << "removed table " << table_ref() << "\n";
  else
    out << "table " << table_ref() << " is not loaded; nothing to remove\n";
}

}  // namespace vpnpt
