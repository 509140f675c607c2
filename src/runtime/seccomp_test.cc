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
  auto a = CachedSeccompFilter(profile, with);
  auto b = CachedSeccompFilter(profile, with);
  auto c = CachedSeccompFilter(profile, without);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->get(), b->get()) << "the same target shares one translation";
  EXPECT_NE(a->get(), c->get());
  EXPECT_EQ((*a)->section, nlohmann::json::parse(*TranslateSeccompProfile(profile, with)));
  EXPECT_EQ((*c)->section, nlohmann::json::parse(*TranslateSeccompProfile(profile, without)));
  EXPECT_FALSE((*a)->bpf.empty()) << "compiled once, with the translation";
  EXPECT_FALSE(CachedSeccompFilter("{not json", with).ok());
}

}  // namespace
}  // namespace berth
