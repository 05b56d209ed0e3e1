// template_test.cpp: the rules/ template language.
#include <gtest/gtest.h>

#include "error.h"
#include "template.h"

using namespace vpnpt;

TEST(Template, Substitutes) {
  EXPECT_EQ(render_template("a {{x}} b {{ y }}\n", {{"x", "1"}, {"y", "2"}}, "t"), "a 1 b 2\n");
}

TEST(Template, Conditions) {
  std::string t = "a\n{{#if on}}\nb\n{{#if !off}}\nc\n{{/if}}\n{{/if}}\n{{#if off}}\nd\n{{/if}}\ne\n";
  EXPECT_EQ(render_template(t, {{"on", "1"}, {"off", ""}}, "t"), "a\nb\nc\ne\n");
  EXPECT_EQ(render_template(t, {{"on", ""}, {"off", ""}}, "t"), "a\ne\n");
}

TEST(Template, ErrorsNameFileAndLine) {
  auto expect_error = [](const std::string& text, const std::string& want) {
    try {
      render_template(text, {{"x", "1"}}, "base.nft");
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Internal);
      EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
    }
  };
  expect_error("a\n{{y}}\n", "base.nft:2: unknown variable: y");
  expect_error("{{#if z}}\n{{/if}}\n", "base.nft:1: unknown variable in condition: z");
  expect_error("{{#if x}}\na\n", "base.nft:1: {{#if}} without {{/if}}");
  expect_error("{{/if}}\n", "base.nft:1: {{/if}} without {{#if}}");
  expect_error("a {{x\n", "base.nft:1: unclosed {{");
}
