// config_test.cpp: every error path of parse_config, with the line it names.
#include <gtest/gtest.h>

#include "config.h"
#include "error.h"

using namespace vpnpt;

namespace {

const char* kBase = R"([wan]
interface = "eth0"
[lan]
interfaces = ["br0"]
subnets = ["192.168.1.0/24"]
)";

// Parse, expecting a config error whose message contains `want`.
std::string error_of(const std::string& text) {
  try {
    parse_config(text, "test.toml");
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error for:\n" << text;
  return {};
}

}  // namespace

TEST(Config, MinimalDefaults) {
  Config c = parse_config(kBase, "test.toml");
  EXPECT_EQ(c.wan_interface, "eth0");
  EXPECT_TRUE(c.masquerade);
  ASSERT_EQ(c.lan_interfaces.size(), 1u);
  ASSERT_EQ(c.lan_subnets.size(), 1u);
  EXPECT_EQ(c.lan_subnets[0].str(), "192.168.1.0/24");
  EXPECT_TRUE(c.pptp);
  EXPECT_TRUE(c.l2tp);
  EXPECT_TRUE(c.ipsec);
  EXPECT_EQ(c.esp, EspMode::Auto);
  EXPECT_EQ(c.ike_timeout, 600u);
  EXPECT_TRUE(c.forwards.empty());
}

TEST(Config, ShippedDefaultParses) {
  Config c = load_config(VPNPT_SOURCE_DIR "/etc/vpnpt.toml");
  EXPECT_EQ(c.wan_interface, "eth0");
  EXPECT_EQ(c.lan_interfaces, std::vector<std::string>{"br0"});
}

TEST(Config, FullConfig) {
  Config c = parse_config(std::string(kBase) + R"(
[pptp]
enabled = false
[l2tp]
enabled = true
[ipsec]
esp = "single"
ike_timeout = 900
[ipsec.mux]
idle_timeout = 120
keep_ike_port = true
[[forward]]
service = "wireguard"
port = 51821
to = "192.168.1.10"
[[forward]]
service = "pptp"
to = "192.168.1.11"
[[forward]]
protocol = "tcp"
port = 443
to = "192.168.1.12"
to_port = 8443
name = "openvpn tcp"
)",
                          "test.toml");
  EXPECT_FALSE(c.pptp);
  EXPECT_EQ(c.esp, EspMode::Single);
  EXPECT_EQ(c.ike_timeout, 900u);
  EXPECT_EQ(c.mux.idle_timeout, 120u);
  EXPECT_TRUE(c.mux.keep_ike_port);
  ASSERT_EQ(c.forwards.size(), 3u);
  EXPECT_EQ(c.forwards[0].ports[0].port, 51821);
  EXPECT_TRUE(c.forwards[1].pptp_helper);
  EXPECT_EQ(c.forwards[2].ports[0].to_port, 8443);
  EXPECT_EQ(c.forwards[2].name, "openvpn tcp");
  EXPECT_EQ(c.forwards[2].line, 24);  // the [[forward]] header
}

struct BadCase {
  const char* name;
  std::string text;
  const char* want;  // substring of the message, including file:line
};

class ConfigErrors : public ::testing::TestWithParam<BadCase> {};

TEST_P(ConfigErrors, NamesFileLineAndKey) {
  const BadCase& c = GetParam();
  std::string msg = error_of(c.text);
  EXPECT_NE(msg.find(c.want), std::string::npos) << "message: " << msg << "\nwanted: " << c.want;
}

const std::string B = kBase;  // 5 lines

INSTANTIATE_TEST_SUITE_P(
    All, ConfigErrors,
    ::testing::Values(
        BadCase{"syntax", "[wan\ninterface = 1\n", "test.toml:1: "},
        BadCase{"unknown_top", B + "\n[pptpp]\nenabled = true\n", "test.toml:7: pptpp: unknown key"},
        BadCase{"unknown_wan_key", "[wan]\ninterface = \"eth0\"\nmasq = true\n[lan]\ninterfaces=[\"br0\"]\n",
                "test.toml:3: wan.masq: unknown key"},
        BadCase{"unknown_nested", B + "[ipsec]\n[ipsec.mux]\nidle = 5\n", "test.toml:8: ipsec.mux.idle: unknown key"},
        BadCase{"missing_wan", "[lan]\ninterfaces = [\"br0\"]\n", "test.toml: wan: missing section [wan]"},
        BadCase{"missing_wan_iface", "[wan]\nmasquerade = true\n[lan]\ninterfaces = [\"br0\"]\n",
                "test.toml:1: wan.interface: missing"},
        BadCase{"wan_type", "[wan]\ninterface = 5\n[lan]\ninterfaces = [\"br0\"]\n",
                "test.toml:2: wan.interface: expected a string"},
        BadCase{"wan_bad_name", "[wan]\ninterface = \"e\\\";x\"\n[lan]\ninterfaces = [\"br0\"]\n",
                "test.toml:2: wan.interface: invalid character"},
        BadCase{"wan_long_name", "[wan]\ninterface = \"abcdefghijklmnop\"\n[lan]\ninterfaces = [\"br0\"]\n",
                "test.toml:2: wan.interface: interface name longer than 15"},
        BadCase{"masq_type", "[wan]\ninterface = \"eth0\"\nmasquerade = \"yes\"\n[lan]\ninterfaces = [\"br0\"]\n",
                "test.toml:3: wan.masquerade: expected true or false"},
        BadCase{"missing_lan", "[wan]\ninterface = \"eth0\"\n", "test.toml: lan: missing section [lan]"},
        BadCase{"empty_lan", "[wan]\ninterface = \"eth0\"\n[lan]\ninterfaces = []\n",
                "test.toml:3: lan: names no interfaces and no subnets"},
        BadCase{"lan_not_array", "[wan]\ninterface = \"eth0\"\n[lan]\ninterfaces = \"br0\"\n",
                "test.toml:4: lan.interfaces: expected an array of strings"},
        BadCase{"lan_elem_type", "[wan]\ninterface = \"eth0\"\n[lan]\ninterfaces = [\"br0\", 7]\n",
                "test.toml:4: lan.interfaces[1]: expected a string"},
        BadCase{"lan_is_wan", "[wan]\ninterface = \"eth0\"\n[lan]\ninterfaces = [\"eth0\"]\n",
                "test.toml:4: lan.interfaces[0]: \"eth0\" is also the WAN interface"},
        BadCase{"lan_twice", "[wan]\ninterface = \"eth0\"\n[lan]\ninterfaces = [\"br0\", \"br0\"]\n",
                "test.toml:4: lan.interfaces[1]: \"br0\" is listed twice"},
        BadCase{"lan_wildcard", "[wan]\ninterface = \"eth0\"\n[lan]\ninterfaces = [\"br*\"]\n",
                "test.toml:4: lan.interfaces[0]: wildcards are not supported"},
        BadCase{"subnet_bad", "[wan]\ninterface = \"eth0\"\n[lan]\nsubnets = [\"192.168.1/24\"]\n",
                "test.toml:4: lan.subnets[0]: not an IPv4 subnet"},
        BadCase{"subnet_len", "[wan]\ninterface = \"eth0\"\n[lan]\nsubnets = [\"10.0.0.0/33\"]\n",
                "test.toml:4: lan.subnets[0]: bad prefix length"},
        BadCase{"subnet_host_bits", "[wan]\ninterface = \"eth0\"\n[lan]\nsubnets = [\"192.168.1.5/24\"]\n",
                "test.toml:4: lan.subnets[0]: \"192.168.1.5/24\" has host bits set"},
        BadCase{"subnet_overlap", "[wan]\ninterface = \"eth0\"\n[lan]\nsubnets = [\"10.0.0.0/8\",\n \"10.1.0.0/16\"]\n",
                "test.toml:5: lan.subnets[1]: \"10.1.0.0/16\" overlaps 10.0.0.0/8"},
        BadCase{"switch_type", B + "[pptp]\nenabled = 1\n", "test.toml:7: pptp.enabled: expected true or false"},
        BadCase{"switch_unknown", B + "[l2tp]\nenable = true\n", "test.toml:7: l2tp.enable: unknown key"},
        BadCase{"section_not_table", "pptp = true\n" + B, "test.toml:1: pptp: expected a table"},
        BadCase{"esp_mode", B + "[ipsec]\nesp = \"fast\"\n", "test.toml:7: ipsec.esp: unknown mode \"fast\""},
        BadCase{"ike_timeout_range", B + "[ipsec]\nike_timeout = 5\n", "test.toml:7: ipsec.ike_timeout: out of range"},
        BadCase{"ike_timeout_type", B + "[ipsec]\nike_timeout = \"600\"\n",
                "test.toml:7: ipsec.ike_timeout: expected an integer"},
        BadCase{"mux_not_table", B + "[ipsec]\nmux = 1\n", "test.toml:7: ipsec.mux: expected a table"},
        BadCase{"mux_range", B + "[ipsec.mux]\nmax_per_host = 0\n", "test.toml:7: ipsec.mux.max_per_host: out of range"},
        BadCase{"mux_range_top", B + "[ipsec.mux]\nmax_mappings = 1048577\n",
                "test.toml:7: ipsec.mux.max_mappings: out of range"},
        BadCase{"mux_idle_below_pending", B + "[ipsec.mux]\npending_timeout = 30\nidle_timeout = 20\n",
                "test.toml:8: ipsec.mux.idle_timeout: idle_timeout (20 s) is below pending_timeout (30 s)"},
        BadCase{"fwd_not_tables", "forward = 1\n" + B, "test.toml:1: forward: expected [[forward]] tables"},
        BadCase{"fwd_unknown_key", B + "[[forward]]\nservice = \"pptp\"\nto = \"192.168.1.2\"\nport_to = 1\n",
                "test.toml:9: forward[0].port_to: unknown key"},
        BadCase{"fwd_no_service", B + "[[forward]]\nto = \"192.168.1.2\"\n", "test.toml:6: forward[0].service: missing"},
        BadCase{"fwd_both", B + "[[forward]]\nservice = \"pptp\"\nprotocol = \"tcp\"\nto = \"192.168.1.2\"\n",
                "test.toml:8: forward[0].protocol: give either service or protocol"},
        BadCase{"fwd_unknown_service", B + "[[forward]]\nservice = \"ssh\"\nto = \"192.168.1.2\"\n",
                "test.toml:7: forward[0].service: unknown service \"ssh\""},
        BadCase{"fwd_fixed_port", B + "[[forward]]\nservice = \"ipsec\"\nport = 501\nto = \"192.168.1.2\"\n",
                "test.toml:8: forward[0].port: the ipsec preset has fixed ports"},
        BadCase{"fwd_pptp_to_port", B + "[[forward]]\nservice = \"pptp\"\nto_port = 1724\nto = \"192.168.1.2\"\n",
                "test.toml:8: forward[0].to_port: the pptp preset cannot change ports"},
        BadCase{"fwd_unknown_proto", B + "[[forward]]\nprotocol = \"sctp\"\nport = 1\nto = \"192.168.1.2\"\n",
                "test.toml:7: forward[0].protocol: unknown protocol \"sctp\""},
        BadCase{"fwd_missing_port", B + "[[forward]]\nprotocol = \"udp\"\nto = \"192.168.1.2\"\n",
                "test.toml:6: forward[0].port: missing"},
        BadCase{"fwd_esp_port", B + "[[forward]]\nprotocol = \"esp\"\nport = 50\nto = \"192.168.1.2\"\n",
                "test.toml:8: forward[0].port: esp has no ports"},
        BadCase{"fwd_port_range", B + "[[forward]]\nprotocol = \"udp\"\nport = 70000\nto = \"192.168.1.2\"\n",
                "test.toml:8: forward[0].port: out of range"},
        BadCase{"fwd_missing_to", B + "[[forward]]\nservice = \"l2tp\"\n", "test.toml:6: forward[0].to: missing"},
        BadCase{"fwd_bad_to", B + "[[forward]]\nservice = \"l2tp\"\nto = \"fe80::1\"\n",
                "test.toml:8: forward[0].to: not an IPv4 address"},
        BadCase{"fwd_loopback_to", B + "[[forward]]\nservice = \"l2tp\"\nto = \"127.0.0.1\"\n",
                "test.toml:8: forward[0].to: not a host address"},
        BadCase{"fwd_bad_name", B + "[[forward]]\nservice = \"l2tp\"\nto = \"192.168.1.2\"\nname = \"a\\\"b\"\n",
                "test.toml:9: forward[0].name: invalid character"},
        BadCase{"fwd_duplicate",
                B + "[[forward]]\nservice = \"ipsec\"\nto = \"192.168.1.2\"\n\n[[forward]]\nprotocol = \"udp\"\nport = 4500\nto = "
                    "\"192.168.1.3\"\n",
                "test.toml:10: forward[1]: udp port 4500 is already forwarded by the [[forward]] at line 6"},
        BadCase{"fwd_duplicate_esp",
                B + "[[forward]]\nservice = \"ipsec\"\nto = \"192.168.1.2\"\n[[forward]]\nprotocol = \"esp\"\nto = "
                    "\"192.168.1.3\"\n",
                "test.toml:9: forward[1]: esp is already forwarded by the [[forward]] at line 6"}),
    [](const ::testing::TestParamInfo<BadCase>& i) { return i.param.name; });

TEST(Config, MissingFileIsConfigError) {
  try {
    load_config("/nonexistent/vpnpt.toml");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/vpnpt.toml: cannot read"), std::string::npos) << e.what();
  }
}

TEST(Config, HintsSayWhatToDo) {
  try {
    parse_config("[wan]\ninterface = \"eth0\"\n[lan]\nsubnets = [\"192.168.1.5/24\"]\n", "t.toml");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.hint(), "did you mean 192.168.1.0/24?");
  }
}

// Overlap is checked against every earlier subnet, nested either way, and
// the message names the first one listed (the check is a sorted map).
TEST(Config, SubnetOverlapNamesTheFirstListed) {
  auto fails_with = [](const std::string& nets) -> std::string {
    try {
      parse_config("[wan]\ninterface = \"eth0\"\n[lan]\nsubnets = [" + nets + "]\n", "t.toml");
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_EQ(fails_with(R"("10.0.2.0/24", "10.0.1.0/24", "10.0.0.0/16")"),
            "t.toml:4: lan.subnets[2]: \"10.0.0.0/16\" overlaps 10.0.2.0/24");
  EXPECT_EQ(fails_with(R"("10.0.0.0/16", "10.1.0.0/16", "10.0.255.255/32")"),
            "t.toml:4: lan.subnets[2]: \"10.0.255.255/32\" overlaps 10.0.0.0/16");
  EXPECT_EQ(fails_with(R"("0.0.0.0/0", "255.255.255.255/32")"),
            "t.toml:4: lan.subnets[1]: \"255.255.255.255/32\" overlaps 0.0.0.0/0");
  EXPECT_EQ(fails_with(R"("10.0.0.0/24", "10.0.1.0/24", "255.255.255.255/32", "10.0.0.255/32")"),
            "t.toml:4: lan.subnets[3]: \"10.0.0.255/32\" overlaps 10.0.0.0/24");
  EXPECT_EQ(fails_with(R"("10.0.0.0/24", "10.0.1.0/24")"), "");
}
