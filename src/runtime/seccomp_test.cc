// The seccomp translation cache: the start path reuses one translation per capability set.
#include "runtime/seccomp.h"

#include <gtest/gtest.h>

namespace berth {
namespace {

TEST(SeccompCacheTest, CachedTranslationEqualsAFreshOneAndIsShared) {
  const std::string profile = R"({
    "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
    "syscalls": [
      {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
      {"names": ["chroot"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_CHROOT"]}}
    ]})";
  SeccompTarget with{.caps = {"CAP_SYS_CHROOT"}};
  SeccompTarget without{};
  auto a = CachedSeccompProfile(profile, with);
  auto b = CachedSeccompProfile(profile, with);
  auto c = CachedSeccompProfile(profile, without);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->get(), b->get()) << "the same target shares one translation";
  EXPECT_NE(a->get(), c->get());
  EXPECT_EQ(**a, nlohmann::json::parse(*TranslateSeccompProfile(profile, with)));
  EXPECT_EQ(**c, nlohmann::json::parse(*TranslateSeccompProfile(profile, without)));
  EXPECT_FALSE(CachedSeccompProfile("{not json", with).ok());
}

}  // namespace
}  // namespace berth
