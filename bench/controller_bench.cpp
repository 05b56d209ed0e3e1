// controller_bench.cpp: the controller's pure work per apply, in user space:
// parse_config (TOML → Config, with every check) and render_ruleset (Config →
// the nftables text, templates read from rules/), for configs with 1, 100 and
// 4,000 LAN subnets and as many [[forward]]s (one UDP port each).
//
// Counters: the rendered text's size, and the number of rules in it: LAN
// subnets go into the interval set @lan_nets and forwards into the map
// @fwd_ports, so the rule count must not grow with the items.
#include <benchmark/benchmark.h>

#include <sstream>
#include <string>

#include "config.h"
#include "ruleset.h"

namespace {

const std::string kRulesDir = VPNPT_SOURCE_DIR "/rules";

// n LAN subnets (10.a.b.0/24, disjoint) and n forwards (udp 20000+i to a LAN
// server 10.a.b.10), the shape of a large site.  n <= 45535 (distinct ports).
std::string config_text(int n, bool subnets = true, bool forwards = true) {
  std::ostringstream t;
  t << "[wan]\ninterface = \"eth0\"\n[lan]\ninterfaces = [\"br0\"]\nsubnets = [\n";
  for (int i = 0; subnets && i < n; i++) t << "  \"10." << (i >> 8) << "." << (i & 255) << ".0/24\",\n";
  t << "]\n";
  for (int i = 0; forwards && i < n; i++)
    t << "[[forward]]\nprotocol = \"udp\"\nport = " << 20000 + i << "\nto = \"10." << (i >> 8) << "."
      << (i & 255) << ".10\"\n";
  return t.str();
}

// Rules: lines inside a chain block that are not its type/policy line, a
// comment or a brace.
int count_rules(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  bool in_chain = false;
  int rules = 0;
  while (std::getline(in, line)) {
    size_t b = line.find_first_not_of(" \t");
    if (b == std::string::npos) continue;
    std::string l = line.substr(b);
    if (l.rfind("chain ", 0) == 0) {
      in_chain = true;
      continue;
    }
    if (!in_chain) continue;
    if (l[0] == '}') {
      in_chain = false;
      continue;
    }
    if (l[0] == '#' || l.rfind("type ", 0) == 0) continue;
    rules++;
  }
  return rules;
}

// Arg 2: 0 both, 1 subnets only, 2 forwards only (which part grows faster).
void BM_ParseConfig(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const int only = static_cast<int>(state.range(1));
  const std::string text = config_text(n, only != 2, only != 1);
  for (auto _ : state) {
    vpnpt::Config cfg = vpnpt::parse_config(text, "bench.toml");
    benchmark::DoNotOptimize(cfg);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(text.size()));
  state.counters["items"] = n;
  state.counters["toml_bytes"] = static_cast<double>(text.size());
  state.SetLabel(only == 1 ? "subnets only" : only == 2 ? "forwards only" : "subnets + forwards");
}

void BM_RenderRuleset(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const vpnpt::Config cfg = vpnpt::parse_config(config_text(n), "bench.toml");
  if (static_cast<int>(cfg.lan_subnets.size()) != n || static_cast<int>(cfg.forwards.size()) != n) {
    state.SkipWithError("config did not parse to n subnets and n forwards");
    return;
  }
  vpnpt::Ruleset r;
  for (auto _ : state) {
    r = vpnpt::render_ruleset(cfg, kRulesDir);
    benchmark::DoNotOptimize(r);
  }
  state.counters["items"] = n;
  state.counters["text_bytes"] = static_cast<double>(r.text.size());
  state.counters["rules"] = count_rules(r.text);
}

// parse + render: what `vpnpt show` does before printing.
void BM_ParseAndRender(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const std::string text = config_text(n);
  size_t bytes = 0;
  for (auto _ : state) {
    vpnpt::Ruleset r = vpnpt::render_ruleset(vpnpt::parse_config(text, "bench.toml"), kRulesDir);
    bytes = r.text.size();
    benchmark::DoNotOptimize(r);
  }
  state.counters["items"] = n;
  state.counters["text_bytes"] = static_cast<double>(bytes);
}

BENCHMARK(BM_ParseConfig)
    ->Args({1, 0})->Args({100, 0})->Args({4000, 0})
    ->Args({1000, 1})->Args({4000, 1})->Args({1000, 2})->Args({4000, 2})
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_RenderRuleset)->Arg(1)->Arg(100)->Arg(4000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ParseAndRender)->Arg(1)->Arg(100)->Arg(4000)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
