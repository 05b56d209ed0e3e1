// template.cpp: see template.h for the language.
#include "template.h"

#include <sstream>
#include <vector>

#include "error.h"

namespace vpnpt {

namespace {

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return {};
  size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

[[noreturn]] void bad(const std::string& name, int line, const std::string& problem) {
  throw Error(ErrorKind::Internal, name + ":" + std::to_string(line), problem,
              "the rule templates are damaged; reinstall vpnpt or fix --rules-dir");
}

}  // namespace

std::string render_template(const std::string& text, const TemplateVars& vars, const std::string& name) {
  std::istringstream in(text);
  std::string line, out;
  std::vector<bool> keep{true};  // a stack: are we emitting at this depth?
  std::vector<int> opened;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    std::string t = trim(line);
    if (t.rfind("{{#if ", 0) == 0 && t.size() > 8 && t.compare(t.size() - 2, 2, "}}") == 0) {
      std::string cond = trim(t.substr(6, t.size() - 8));
      bool negate = !cond.empty() && cond[0] == '!';
      if (negate) cond = trim(cond.substr(1));
      auto it = vars.find(cond);
      if (it == vars.end()) bad(name, lineno, "unknown variable in condition: " + cond);
      bool set = !it->second.empty();
      keep.push_back(keep.back() && (set != negate));
      opened.push_back(lineno);
      continue;
    }
    if (t == "{{/if}}") {
      if (opened.empty()) bad(name, lineno, "{{/if}} without {{#if}}");
      keep.pop_back();
      opened.pop_back();
      continue;
    }
    if (!keep.back()) continue;
    std::string done;
    size_t pos = 0;
    while (true) {
      size_t open = line.find("{{", pos);
      if (open == std::string::npos) break;
      size_t close = line.find("}}", open);
      if (close == std::string::npos) bad(name, lineno, "unclosed {{");
      std::string var = trim(line.substr(open + 2, close - open - 2));
      auto it = vars.find(var);
      if (it == vars.end()) bad(name, lineno, "unknown variable: " + var);
      done += line.substr(pos, open - pos) + it->second;
      pos = close + 2;
    }
    done += line.substr(pos);
    out += done + "\n";
  }
  if (!opened.empty()) bad(name, opened.back(), "{{#if}} without {{/if}}");
  return out;
}

}  // namespace vpnpt
