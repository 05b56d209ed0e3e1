// template.h: the small text-template language of rules/*.nft.
//
//   {{name}}            replaced by the value of `name`
//   {{#if name}}        a line of its own: keep the lines up to the matching
//   {{#if !name}}       {{/if}} only when `name` is (not) set and non-empty
//   {{/if}}
//
// That is all: the templates stay readable nftables, and every decision that
// needs logic is made in C++ (ruleset.cpp), where it is tested.
#pragma once

#include <map>
#include <string>

namespace vpnpt {

using TemplateVars = std::map<std::string, std::string>;

// `name` is the template's file name, used in error messages. A template that
// names an unknown variable or has unbalanced blocks is an Error(Internal).
std::string render_template(const std::string& text, const TemplateVars& vars, const std::string& name);

}  // namespace vpnpt
