#include "api/keys.h"

#include <gtest/gtest.h>

#include <string>

namespace berth {
namespace {

std::string Hex(const KeyDigest& d) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : d) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xf]);
  }
  return out;
}

KeySet Keys() {
  KeySet keys;
  keys.master = "master-key-0123456789";
  keys.host["default"] = "host-key-0123456789";
  keys.functions["jobs"]["ci"] = "function-key-0123456789";
  keys.functions["other"]["x"] = "other-function-key-0123";
  return keys;
}

TEST(KeyDigestTest, IsSha256) {
  EXPECT_EQ(Hex(DigestOfKey("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(KeySetTest, CheckGrantsWhatEachKindOfKeyGives) {
  KeySet keys = Keys();
  EXPECT_EQ(keys.Check("jobs", "master-key-0123456789"), KeyAccess::kMaster);
  EXPECT_EQ(keys.Check("jobs", "host-key-0123456789"), KeyAccess::kFunction);
  EXPECT_EQ(keys.Check("other", "host-key-0123456789"), KeyAccess::kFunction);
  EXPECT_EQ(keys.Check("jobs", "function-key-0123456789"), KeyAccess::kFunction);
  EXPECT_EQ(keys.Check("other", "function-key-0123456789"), KeyAccess::kNone);
  EXPECT_EQ(keys.Check("jobs", "other-function-key-0123"), KeyAccess::kNone);
  EXPECT_EQ(keys.Check("jobs", "host-key-012345678"), KeyAccess::kNone) << "a prefix";
  EXPECT_EQ(keys.Check("jobs", "host-key-0123456789x"), KeyAccess::kNone) << "longer";
  EXPECT_EQ(keys.Check("jobs", ""), KeyAccess::kNone);
}

// The digests of stored keys are remembered between checks: a replaced or deleted key must stop
// working all the same, and the memo must not grow with every replacement.
TEST(KeySetTest, AReplacedOrDeletedKeyStopsWorkingAndTheMemoStaysSmall) {
  KeySet keys = Keys();
  std::string previous = "function-key-0123456789";
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(keys.Check("jobs", previous), KeyAccess::kFunction);
    std::string next = "function-key-renewed-" + std::to_string(i);
    ASSERT_TRUE(keys.Put("jobs", "ci", next).ok());
    EXPECT_EQ(keys.Check("jobs", previous), KeyAccess::kNone) << "replaced key, round " << i;
    EXPECT_EQ(keys.Check("jobs", next), KeyAccess::kFunction);
    previous = next;
  }
  EXPECT_LE(keys.digests.size(), 20u) << "memo of 4 stored keys";
  ASSERT_TRUE(keys.Delete("jobs", "ci").ok());
  EXPECT_EQ(keys.Check("jobs", previous), KeyAccess::kNone) << "deleted key";
  keys.master = "master-key-replaced-0123";  // the daemon's stores assign members directly too
  EXPECT_EQ(keys.Check("jobs", "master-key-0123456789"), KeyAccess::kNone);
  EXPECT_EQ(keys.Check("jobs", "master-key-replaced-0123"), KeyAccess::kMaster);
}

}  // namespace
}  // namespace berth
