// main.cpp: parse the command line and dispatch; nothing else.
#include <CLI/CLI.hpp>

#include <iostream>

#include "apply.h"
#include "confirm.h"
#include "diff.h"
#include "doctor.h"
#include "error.h"
#include "mux_transfer.h"
#include "status.h"
#include "version.h"

namespace {

int report(const vpnpt::Error& e) {
  std::cerr << "vpnpt: error: " << e.what() << "\n";
  if (!e.hint().empty()) std::cerr << "hint: " << e.hint() << "\n";
  return vpnpt::exit_code(e.kind());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"vpnpt: VPN passthrough for Linux routers (PPTP, L2TP, IPsec) through nftables", "vpnpt"};
  app.set_version_flag("--version", std::string("vpnpt ") + VPNPT_VERSION);
  app.require_subcommand(1);
  app.fallthrough();
  app.footer(
      "Exit status: 0 ok, 1 internal error, 2 usage error, 3 config error,\n"
      "4 kernel or runtime error, 5 another vpnpt holds the lock,\n"
      "6 the config file is writable by others or not owned by root,\n"
      "7 doctor found something in the way of passthrough,\n"
      "8 (diff) there are changes to apply,\n"
      "9 (mux import) the module refused a mapping, or the kernel its conntrack\n"
      "entry; nothing of the file remains.\n"
      "See vpnpt(8) and vpnpt.toml(5).");

  vpnpt::Options opt;
  opt.config_path = VPNPT_CONFIG_PATH;
  app.add_option("-c,--config", opt.config_path, "Configuration file")->capture_default_str();
  app.add_option("--rules-dir", opt.rules_dir, "Folder of the rule templates (default: the installed ones)");
  app.add_option("--run-dir", opt.run_dir, "Folder of the lock and the applied record")->capture_default_str();
  bool lax = false;
  app.add_flag("--no-strict-perms", lax,
               "Accept a config file that is group- or world-writable or owned by another user");
  app.add_flag("-v,--verbose", opt.verbose, "Say more");

  auto* check = app.add_subcommand("check", "Validate the config and probe the kernel with a dry run; change nothing");
  auto* show = app.add_subcommand("show", "Print the ruleset that apply would load");
  auto* apply = app.add_subcommand("apply", "Replace table inet vpnpt with the config's ruleset, atomically");
  vpnpt::ApplyOptions how;
  apply->add_flag("-n,--dry-run", how.dry_run, "Have the kernel check the transaction, then abort it");
  apply->add_flag("--keep-sessions", how.keep_sessions,
                  "Keep the VPN sessions that began before the rules (default: clear them; see vpnpt(8))");
  apply->add_flag("--diff", how.diff, "Print what it changes first (as vpnpt diff)");
  apply->add_option("--confirm", how.confirm,
                    "Restore the previous table and ESP module parameters after SECONDS unless vpnpt confirm comes")
      ->option_text("SECONDS")
      ->check(CLI::Range(1u, 86400u))
      ->excludes("--dry-run");
  auto* confirm = app.add_subcommand("confirm", "Keep what the pending apply --confirm loaded");
  auto* revert = app.add_subcommand("revert", "Restore now what the pending apply --confirm replaced");
  std::string revert_token;
  bool revert_wait = false;
  revert->add_option("--token", revert_token, "Only the apply --confirm with this token")->group("");
  revert->add_flag("--wait", revert_wait, "Wait for its deadline (the detached process)")->group("");
  auto* diff = app.add_subcommand("diff", "Print what apply would change in table inet vpnpt and the ESP module; change nothing");
  bool diff_json = false;
  diff->add_flag("-j,--json", diff_json, "Print JSON (schema in vpnpt(8))");
  auto* status = app.add_subcommand("status", "Show the table, drift, kernel support, counters and live VPN sessions");
  vpnpt::StatusView view;
  status->add_flag("-j,--json", view.json, "Print JSON (schema in vpnpt(8))");
  status->add_flag("-a,--all", view.all, "List every session, also when there are thousands");
  auto* remove = app.add_subcommand("remove", "Delete table inet vpnpt and nothing else");
  auto* doctor = app.add_subcommand("doctor",
                                    "Find what else keeps VPNs from crossing: other tables, helpers, flowtables, "
                                    "PMTU ICMP, kernel, sysctl, live sessions (exit 7 if anything)");
  bool doctor_json = false;
  doctor->add_flag("-j,--json", doctor_json, "Print JSON (schema in vpnpt(8))");
  auto* mux = app.add_subcommand("mux", "Hand the vpnpt_esp module's mappings to the other router of a pair");
  mux->require_subcommand(1);
  auto* mux_export = mux->add_subcommand("export", "Print the module's bound ESP and IKE mappings as JSON (or to FILE, mode 0600)");
  std::string mux_out;
  mux_export->add_option("-o,--output", mux_out, "Write the document to FILE atomically, mode 0600")->option_text("FILE");
  auto* mux_import = mux->add_subcommand("import", "Add the mappings of an export, and their ESP conntrack entries, to this router; all or none (exit 9)");
  std::string mux_in;
  mux_import->add_option("file", mux_in, "The document vpnpt mux export wrote")->required()->option_text("FILE");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return vpnpt::exit_code(vpnpt::ErrorKind::Usage);
  }

  opt.strict_perms = !lax;
  int rc = 0;
  try {
    if (*check) vpnpt::run_check(opt, std::cout);
    else if (*show) vpnpt::run_show(opt, std::cout);
    else if (*apply) vpnpt::run_apply(opt, how, std::cout);
    else if (*status) vpnpt::run_status(opt, view, std::cout);
    else if (*remove) vpnpt::run_remove(opt, std::cout);
    else if (*doctor) rc = vpnpt::run_doctor(opt, doctor_json, std::cout);
    else if (*diff) rc = vpnpt::run_diff(opt, diff_json, std::cout);
    else if (*confirm) vpnpt::run_confirm(opt, std::cout);
    else if (*revert) vpnpt::run_revert(opt, revert_token, revert_wait, std::cout);
    else if (*mux_export) vpnpt::muxxfer::run_export(opt, mux_out, std::cout, std::cerr);
    else if (*mux_import) vpnpt::muxxfer::run_import(opt, mux_in, std::cout);
  } catch (const vpnpt::Error& e) {
    return report(e);
  } catch (const std::exception& e) {
    std::cerr << "vpnpt: error: internal: " << e.what() << "\n";
    return vpnpt::exit_code(vpnpt::ErrorKind::Internal);
  }
  return rc;
}
