// ike_test.cpp: the IKE header parser (kmod/ike.c).
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "harness.h"

namespace {

std::vector<uint8_t> hdr(uint64_t ispi, uint64_t rspi, uint8_t ver, uint8_t exch, uint8_t flags,
                         uint32_t msgid, uint32_t len = 28) {
  std::vector<uint8_t> b(28);
  for (int i = 0; i < 8; i++) {
    b[i] = ispi >> (56 - 8 * i);
    b[8 + i] = rspi >> (56 - 8 * i);
  }
  b[16] = 33;  // next payload: anything
  b[17] = ver;
  b[18] = exch;
  b[19] = flags;
  for (int i = 0; i < 4; i++) {
    b[20 + i] = msgid >> (24 - 8 * i);
    b[24 + i] = len >> (24 - 8 * i);
  }
  return b;
}

TEST(IkeParse, V2AuthRequest) {
  auto b = hdr(0x0102030405060708ULL, 0x1112131415161718ULL, 0x20, 35, 0x08, 1, 300);
  struct ike_info i;
  ASSERT_EQ(ike_parse(b.data(), b.size(), &i), 0);
  EXPECT_EQ(i.version, 2);
  EXPECT_EQ(i.ispi, 0x0102030405060708ULL);  // all 64 bits
  EXPECT_EQ(i.rspi, 0x1112131415161718ULL);
  EXPECT_EQ(i.msgid, 1u);
  EXPECT_TRUE(i.child);
  EXPECT_FALSE(i.response);
}

TEST(IkeParse, V2CreateChildResponse) {
  auto b = hdr(1, 2, 0x20, 36, 0x20, 7);
  struct ike_info i;
  ASSERT_EQ(ike_parse(b.data(), b.size(), &i), 0);
  EXPECT_TRUE(i.child);
  EXPECT_TRUE(i.response);
}

TEST(IkeParse, V2SaInitIsNotChild) {
  auto b = hdr(1, 0, 0x20, 34, 0x08, 0);
  struct ike_info i;
  ASSERT_EQ(ike_parse(b.data(), b.size(), &i), 0);
  EXPECT_FALSE(i.child);
}

TEST(IkeParse, V1QuickMode) {
  auto b = hdr(0xaa, 0xbb, 0x10, 32, 0x01, 0xdeadbeef);
  struct ike_info i;
  ASSERT_EQ(ike_parse(b.data(), b.size(), &i), 0);
  EXPECT_EQ(i.version, 1);
  EXPECT_TRUE(i.child);
  EXPECT_EQ(i.msgid, 0xdeadbeefu);
}

TEST(IkeParse, RejectsGarbage) {
  struct ike_info i;
  auto b = hdr(1, 2, 0x20, 35, 0, 1);
  EXPECT_EQ(ike_parse(b.data(), 27, &i), -EINVAL) << "short";
  auto z = hdr(0, 2, 0x20, 35, 0, 1);
  EXPECT_EQ(ike_parse(z.data(), z.size(), &i), -EINVAL) << "zero initiator SPI";
  auto v = hdr(1, 2, 0x30, 35, 0, 1);
  EXPECT_EQ(ike_parse(v.data(), v.size(), &i), -EINVAL) << "version 3";
  auto r = hdr(1, 2, 0x20, 20, 0, 1);
  EXPECT_EQ(ike_parse(r.data(), r.size(), &i), -EINVAL) << "reserved IKEv2 exchange";
  auto n = hdr(1, 0, 0x20, 35, 0, 1);
  EXPECT_EQ(ike_parse(n.data(), n.size(), &i), -EINVAL) << "IKE_AUTH without responder SPI";
  auto l = hdr(1, 2, 0x20, 35, 0, 1, 12);
  EXPECT_EQ(ike_parse(l.data(), l.size(), &i), -EINVAL) << "length below header";
  auto q = hdr(1, 2, 0x10, 32, 0, 0);
  EXPECT_EQ(ike_parse(q.data(), q.size(), &i), -EINVAL) << "Quick Mode with message ID 0";
}

TEST(IkeParse, NattMarker) {
  std::vector<uint8_t> b(4 + 28, 0);
  EXPECT_TRUE(ike_natt_is_ike(b.data(), b.size()));
  b[2] = 1;  // an ESP SPI, not the non-ESP marker
  EXPECT_FALSE(ike_natt_is_ike(b.data(), b.size()));
  EXPECT_FALSE(ike_natt_is_ike(b.data(), 1)) << "NAT-T keepalive";
}

}  // namespace
